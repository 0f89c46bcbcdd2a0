"""``locate``, ``euxfel``, ``xrf``, ``sas``: facility data (issue 8)."""

from __future__ import annotations

from pathlib import Path

from .common import OneLineParser, _err

# ---------------------------------------------------------------- locate (facility data locators)
def cmd_locate(args) -> int:
    from ..exceptions import InputError
    from ..locators import resolve, write_resolved_job

    if args.job:
        if not args.output:
            raise InputError("--job needs -o/--output for the resolved job", field="output")
        for loc, path in write_resolved_job(args.job, args.output, overwrite=args.overwrite).items():
            _err(f"{loc} -> {path}")
        print(args.output)
        return 0
    if not args.locator:
        raise InputError("give a LOCATOR (e.g. EuXFEL/v1/p2222/r0013) or --job", field="locator")
    for loc in args.locator:
        print(resolve(loc))
    return 0


# ---------------------------------------------------------------- euxfel (AGIPD runs)
def cmd_euxfel(args) -> int:
    import json

    from .. import euxfel

    if args.action == "mock":
        out = Path(args.outdir)
        mock = euxfel.MockRun(rings_deg=tuple(args.rings), signal_frames=args.signal_frames,
                              dark_frames=args.dark_frames, distance=args.distance * 1e-3,
                              wavelength=args.wavelength * 1e-10, seed=args.seed)
        run_dir = Path(args.run_dir) if args.run_dir else out / "raw" / "r0238"
        out.mkdir(parents=True, exist_ok=True)
        euxfel.make_mock_run(run_dir, mock, geometry_out=out / "agipd.geom", overwrite=args.overwrite)
        print(f"run:      {run_dir}")
        print(f"geometry: {out / 'agipd.geom'}")
        print(f"signal frames {mock.signal_selection}, dark frames {mock.dark_selection}, rings {list(mock.rings_deg)} deg")
    elif args.action == "dark":
        consts = euxfel.dark_constants(args.cxi, args.run, args.frames)
        print(euxfel.write_constants(consts, args.output, overwrite=args.overwrite))
        _err(f"dark: {len(consts['frames'])} frames, median offset {float(consts['offset'].mean()):.1f} ADU, "
             f"{int(consts['bad_pixels'].sum())} bad pixels")
    elif args.action == "correct":
        print(euxfel.correct(args.cxi, args.run, args.constants, args.frames, args.output, overwrite=args.overwrite))
    elif args.action == "split":
        res = euxfel.split_modules(args.cxi, args.run, args.dark_frames, args.frames, args.outdir,
                                   overwrite=args.overwrite)
        print(json.dumps({"darks": [str(p) for p in res.darks], "data": [str(p) for p in res.data]}, indent=1))
    elif args.action == "stack-modules":
        print(euxfel.stack_modules(args.corrected, args.output, overwrite=args.overwrite))
    elif args.action == "assemble":
        geom = euxfel.load_geometry(args.geometry, args.quad_positions)
        path, shape = euxfel.assemble(args.corrected, geom, args.output, overwrite=args.overwrite)
        print(path)
    elif args.action == "geometry":
        geom = euxfel.load_geometry(args.geometry, args.quad_positions)
        res = euxfel.export_geometry(geom, args.outdir, args.distance * 1e-3, args.wavelength * 1e-10,
                                     name=args.name, overwrite=args.overwrite)
        print(json.dumps({"poni": str(res.poni), "crystfel": str(res.crystfel),
                          "pyfai_detector": str(res.pyfai_detector), "assembled_shape": res.assembled_shape,
                          "centre_yx": res.centre}, indent=1))
    return 0


# ---------------------------------------------------------------- xrf (PyMca)
def cmd_xrf(args) -> int:
    import json

    from .. import xrf

    if args.action == "mock":
        res = xrf.make_map(args.outdir, (args.rows, args.cols), seed=args.seed, overwrite=args.overwrite)
        print(f"map:       {res.map_file} ({xrf.MAP_DATASET})")
        print(f"config:    {res.config}")
        print(f"reference: {res.reference}")
    elif args.action == "fit-spectrum":
        print(json.dumps(xrf.fit_spectrum(xrf.read_spectrum(args.spectrum), args.config), indent=1))
    elif args.action == "fit-map":
        import shlex

        out, cmd, _log = xrf.fit_map(args.map, args.dataset, args.config, args.output, weight=args.weight,
                                     refit=args.refit, overwrite=args.overwrite)
        _err("$ " + shlex.join(cmd))
        print(out)
    elif args.action == "summary":
        print(json.dumps(xrf.summarise(args.result), indent=1))
    return 0


# ---------------------------------------------------------------- sas (sasmodels)
def cmd_sas(args) -> int:
    import json

    from .. import sas

    pars = sas.parse_parameters(args.par or [])
    if args.action == "simulate":
        print(sas.simulate_curve(args.output, args.model, pars, qmin=args.qmin, qmax=args.qmax,
                                 npoints=args.points, noise=args.noise, seed=args.seed, overwrite=args.overwrite))
    elif args.action == "fit":
        free = [f for f in (args.fit or "").split(",") if f]
        res = sas.fit_curve(args.curve, args.model, pars, free)
        sas.write_fit(res, args.output, args.curve_output, overwrite=args.overwrite)
        print(json.dumps(res.as_dict(), indent=1))
    return 0



def add_parsers(sub) -> None:
    """Parsers of locate / euxfel / xrf / sas (issue 8)."""
    p = sub.add_parser("locate", help="resolve facility data locators (EuXFEL/v1/p2222/r0013) to folders")
    p.add_argument("locator", nargs="*", help="FACILITY/v1/pPROPOSAL/rRUN[/KIND], optionally prefixed facility:")
    p.add_argument("--job", help="resolve every locator of this CWL job file instead")
    p.add_argument("-o", "--output", help="where --job writes the resolved job (YAML)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_locate)

    eux = sub.add_parser("euxfel", help="European XFEL AGIPD-1M runs: mock, dark, correct, assemble, geometry")
    esub = eux.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    p = esub.add_parser("mock", help="extra-data mock SPB run with powder rings (train 0) and darks (train 1)")
    p.add_argument("-o", "--outdir", default=".", help="folder for raw/r0238 and agipd.geom")
    p.add_argument("--run-dir", help="run folder (default OUTDIR/raw/r0238)")
    p.add_argument("--rings", type=float, nargs="+", default=[8.0, 11.5, 14.0], help="ring angles 2θ (deg)")
    p.add_argument("--signal-frames", type=int, default=4)
    p.add_argument("--dark-frames", type=int, default=8)
    p.add_argument("--distance", type=float, default=250.0, help="sample-detector distance (mm)")
    p.add_argument("--wavelength", type=float, default=1.3, help="wavelength (angstrom)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing agipd.geom")
    for name, hlp in (("dark", "offset/noise/bad-pixel constants from dark frames of a virtual CXI file"),
                      ("correct", "offset-correct frames of a virtual CXI file")):
        p = esub.add_parser(name, help=hlp)
        p.add_argument("--cxi", required=True, help="virtual CXI file (extra-data-make-virtual-cxi)")
        p.add_argument("--run", help="run folder holding the module files the CXI file points to")
        p.add_argument("--frames", required=True, help="frame selection A:B or i,j,k")
        if name == "correct":
            p.add_argument("--constants", required=True, help="constants file from 'euxfel dark'")
        p.add_argument("-o", "--output", required=True)
        p.add_argument("--overwrite", action="store_true")
    p = esub.add_parser("split", help="one dark and one data file per module (input of detector-calibration.cwl)")
    p.add_argument("--cxi", required=True, help="virtual CXI file (extra-data-make-virtual-cxi)")
    p.add_argument("--run", help="run folder holding the module files the CXI file points to")
    p.add_argument("--dark-frames", required=True, help="dark frame selection A:B or i,j,k")
    p.add_argument("--frames", required=True, help="data frame selection A:B or i,j,k")
    p.add_argument("-o", "--outdir", default=".", help="folder for darks_mMM.h5 and data_mMM.h5")
    p.add_argument("--overwrite", action="store_true")
    p = esub.add_parser("stack-modules", help="16 corrected module files -> (frames, 16, 512, 128) for 'assemble'")
    p.add_argument("--corrected", required=True, nargs="+", help="corrected module files (any order)")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--overwrite", action="store_true")
    for name, hlp in (("assemble", "module stacks -> assembled 2D images (extra-geom)"),
                      ("geometry", "export the geometry: PONI of assembled images, CrystFEL .geom, pyFAI NXdetector")):
        p = esub.add_parser(name, help=hlp)
        p.add_argument("--geometry", help="CrystFEL .geom file of the AGIPD-1M")
        p.add_argument("--quad-positions", help="instead: quadrant positions 'x,y x,y x,y x,y' (pixels)")
        if name == "assemble":
            p.add_argument("--corrected", required=True, help="output of 'euxfel correct'")
            p.add_argument("-o", "--output", required=True)
        else:
            p.add_argument("--distance", type=float, required=True, help="sample-detector distance (mm)")
            p.add_argument("--wavelength", type=float, required=True, help="wavelength (angstrom)")
            p.add_argument("--name", default="agipd", help="base name of the files")
            p.add_argument("-o", "--outdir", default=".")
        p.add_argument("--overwrite", action="store_true")
    eux.set_defaults(func=cmd_euxfel)

    xrf = sub.add_parser("xrf", help="X-ray fluorescence with PyMca5: test map, single-spectrum fit, map summary")
    xsub = xrf.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    p = xsub.add_parser("mock", help="noisy map from PyMca's Steel.spe + its config with SNIP background")
    p.add_argument("-o", "--outdir", default=".")
    p.add_argument("--rows", type=int, default=20)
    p.add_argument("--cols", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p = xsub.add_parser("fit-spectrum", help="full PyMca fit of one spectrum (peak-group areas as JSON)")
    p.add_argument("spectrum", help="SPEC/.spe/.mca file")
    p.add_argument("--config", required=True, help="PyMca fit configuration (.cfg)")
    p = xsub.add_parser("fit-map", help="fit every pixel of a map with PyMca's headless FastXRFLinearFit")
    p.add_argument("map", help="HDF5 map (rows, columns, channels)")
    p.add_argument("--dataset", default="/entry/data/data", help="dataset of the map inside the file")
    p.add_argument("--config", required=True, help="PyMca fit configuration (.cfg)")
    p.add_argument("--weight", type=int, default=1, choices=[0, 1, 2], help="0 none, 1 counts (default), 2 per pixel")
    p.add_argument("--refit", type=int, default=0, choices=[0, 1], help="1: refit without negative groups")
    p.add_argument("-o", "--output", required=True, help="HDF5 result")
    p.add_argument("--overwrite", action="store_true")
    p = xsub.add_parser("summary", help="total fitted area per peak group of a FastXRFLinearFit result")
    p.add_argument("result", help="HDF5 output of FastXRFLinearFit")
    xrf.set_defaults(func=cmd_xrf)

    sas = sub.add_parser("sas", help="small-angle scattering with sasmodels: simulate or fit a 1D curve")
    ssub = sas.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    for name in ("simulate", "fit"):
        p = ssub.add_parser(name, help="noisy model curve" if name == "simulate" else "fit a model to a curve")
        if name == "fit":
            p.add_argument("curve", help="q I dI table (q in 1/angstrom)")
            p.add_argument("--fit", required=True, help="comma-separated parameters to fit, e.g. radius,scale,background")
            p.add_argument("--curve-output", help="also write q, I, I_fit here")
        else:
            p.add_argument("--qmin", type=float, default=1e-3)
            p.add_argument("--qmax", type=float, default=0.3)
            p.add_argument("--points", type=int, default=200)
            p.add_argument("--noise", type=float, default=0.03, help="relative noise (and dI)")
            p.add_argument("--seed", type=int, default=0)
        p.add_argument("--model", default="sphere", help="sasmodels model name")
        p.add_argument("--par", action="append", help="NAME=VALUE (start value when fitting); repeatable")
        p.add_argument("-o", "--output", required=True)
        p.add_argument("--overwrite", action="store_true")
    sas.set_defaults(func=cmd_sas)


