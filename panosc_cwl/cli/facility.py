"""``locate``, ``euxfel``, ``xrf``, ``sas``: facility data (issue 8)."""

from __future__ import annotations

from pathlib import Path

from .common import OneLineParser, _err, command, deprecated_alias, group

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

    if args.action in ("simulate", "mock"):
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

    if args.action in ("simulate", "mock"):
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
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)  # as the other simulate commands do
        print(sas.simulate_curve(args.output, args.model, pars, qmin=args.qmin, qmax=args.qmax,
                                 npoints=args.points, noise=args.noise, seed=args.seed, overwrite=args.overwrite))
    elif args.action == "fit":
        free = [f for f in (args.fit or "").split(",") if f]
        res = sas.fit_curve(args.curve, args.model, pars, free)
        sas.write_fit(res, args.output, args.curve_output, overwrite=args.overwrite)
        print(json.dumps(res.as_dict(), indent=1))
    return 0



def _euxfel_simulate_args(p) -> None:
    p.add_argument("-o", "--outdir", default=".", help="folder for raw/r0238 and agipd.geom")
    p.add_argument("--run-dir", help="run folder (default OUTDIR/raw/r0238)")
    p.add_argument("--rings", type=float, nargs="+", default=[8.0, 11.5, 14.0], help="ring angles 2θ (deg)")
    p.add_argument("--signal-frames", type=int, default=4, help="frames with powder rings (train 0; default 4)")
    p.add_argument("--dark-frames", type=int, default=8, help="dark frames (train 1; default 8)")
    p.add_argument("--distance", type=float, default=250.0, help="sample-detector distance (mm)")
    p.add_argument("--wavelength", type=float, default=1.3, help="wavelength (angstrom)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--overwrite", action="store_true", help="replace an existing agipd.geom")


def _xrf_simulate_args(p) -> None:
    p.add_argument("-o", "--outdir", default=".", help="output folder")
    p.add_argument("--rows", type=int, default=20, help="map rows (default 20)")
    p.add_argument("--cols", type=int, default=20, help="map columns (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")


CXI = "data/euxfel/detector_virt.cxi"
RUN = "data/euxfel/raw/r0238"


def _group_with_simulate(sub, name: str, title: str, examples: list[str], simulate_help: str,
                         simulate_example: str, simulate_args, func):
    """A command group whose first command is ``simulate`` (with its old spelling ``mock`` kept as a
    hidden, deprecated alias): euxfel and xrf are built alike."""
    gsub = group(sub, name, title, examples)
    simulate_args(command(gsub, "simulate", simulate_help, simulate_example))
    deprecated_alias(gsub, "mock", f"{name} mock", f"{name} simulate", simulate_args, func)
    return gsub


def _run_all_with(gsub, func) -> None:
    """Every command of the group runs ``func`` (it dispatches on the command name); the deprecated
    alias keeps its own warning wrapper."""
    for name, parser in gsub.choices.items():
        if name != "mock":
            parser.set_defaults(func=func)


def add_parsers(sub) -> None:
    """Parsers of locate / euxfel / xrf / sas (issue 8)."""
    p = command(sub, "locate", "resolve facility data locators (EuXFEL/v1/p2222/r0013) to folders",
                ["panosc-cwl locate EuXFEL/v1/p2222/r0238",
                 "panosc-cwl locate --job jobs/euxfel-agipd-locator.yml -o resolved.yml"])
    p.add_argument("locator", nargs="*", help="FACILITY/v1/pPROPOSAL/rRUN[/KIND], optionally prefixed facility:")
    p.add_argument("--job", help="resolve every locator of this CWL job file instead")
    p.add_argument("-o", "--output", help="where --job writes the resolved job (YAML)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing resolved job")
    p.set_defaults(func=cmd_locate)

    esub = _group_with_simulate(
        sub, "euxfel", "European XFEL AGIPD-1M runs: simulate, dark, correct, split, stack-modules, assemble, geometry",
        ["panosc-cwl euxfel simulate -o data/euxfel",
         "panosc-cwl run cwl/workflows/euxfel-agipd.cwl jobs/euxfel-agipd.yml --outdir out/euxfel"],
        "extra-data mock SPB run with powder rings (train 0) and darks (train 1)",
        "panosc-cwl euxfel simulate -o data/euxfel --rings 8 11.5 14", _euxfel_simulate_args, cmd_euxfel)
    examples = {"dark": f"panosc-cwl euxfel dark --cxi {CXI} --run {RUN} --frames 64:72 -o constants.h5",
                "correct": f"panosc-cwl euxfel correct --cxi {CXI} --run {RUN} --frames 0:4 "
                           "--constants constants.h5 -o corrected.h5"}
    for name, hlp in (("dark", "offset/noise/bad-pixel constants from dark frames of a virtual CXI file"),
                      ("correct", "offset-correct frames of a virtual CXI file")):
        p = command(esub, name, hlp, ["extra-data-make-virtual-cxi data/euxfel/raw/r0238 -o " + CXI, examples[name]])
        p.add_argument("--cxi", required=True, help="virtual CXI file (extra-data-make-virtual-cxi)")
        p.add_argument("--run", help="run folder holding the module files the CXI file points to")
        p.add_argument("--frames", required=True, help="frame selection A:B or i,j,k")
        if name == "correct":
            p.add_argument("--constants", required=True, help="constants file from 'euxfel dark'")
        p.add_argument("-o", "--output", required=True, help="HDF5 file to write")
        p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p = command(esub, "split", "one dark and one data file per module (input of detector-calibration.cwl)",
                f"panosc-cwl euxfel split --cxi {CXI} --run {RUN} --dark-frames 64:72 --frames 0:4 -o modules")
    p.add_argument("--cxi", required=True, help="virtual CXI file (extra-data-make-virtual-cxi)")
    p.add_argument("--run", help="run folder holding the module files the CXI file points to")
    p.add_argument("--dark-frames", required=True, help="dark frame selection A:B or i,j,k")
    p.add_argument("--frames", required=True, help="data frame selection A:B or i,j,k")
    p.add_argument("-o", "--outdir", default=".", help="folder for darks_mMM.h5 and data_mMM.h5")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p = command(esub, "stack-modules", "16 corrected module files -> (frames, 16, 512, 128) for 'assemble'",
                "panosc-cwl euxfel stack-modules --corrected corrected_m*.h5 -o corrected.h5")
    p.add_argument("--corrected", required=True, nargs="+", help="corrected module files (any order)")
    p.add_argument("-o", "--output", required=True, help="HDF5 file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    examples = {"assemble": "panosc-cwl euxfel assemble --geometry data/euxfel/agipd.geom --corrected corrected.h5 "
                            "-o assembled.h5",
                "geometry": "panosc-cwl euxfel geometry --geometry data/euxfel/agipd.geom --distance 250 "
                            "--wavelength 1.3 -o geometry"}
    for name, hlp in (("assemble", "module stacks -> assembled 2D images (extra-geom)"),
                      ("geometry", "export the geometry: PONI of assembled images, CrystFEL .geom, pyFAI NXdetector")):
        p = command(esub, name, hlp, examples[name])
        p.add_argument("--geometry", help="CrystFEL .geom file of the AGIPD-1M")
        p.add_argument("--quad-positions", help="instead: quadrant positions 'x,y x,y x,y x,y' (pixels)")
        if name == "assemble":
            p.add_argument("--corrected", required=True, help="output of 'euxfel correct'")
            p.add_argument("-o", "--output", required=True, help="HDF5 file to write")
        else:
            p.add_argument("--distance", type=float, required=True, help="sample-detector distance (mm)")
            p.add_argument("--wavelength", type=float, required=True, help="wavelength (angstrom)")
            p.add_argument("--name", default="agipd", help="base name of the files")
            p.add_argument("-o", "--outdir", default=".", help="output folder")
        p.add_argument("--overwrite", action="store_true", help="replace existing files")
    _run_all_with(esub, cmd_euxfel)

    xsub = _group_with_simulate(
        sub, "xrf", "X-ray fluorescence with PyMca5: simulate a map, fit a spectrum or a map, summary",
        ["panosc-cwl xrf simulate -o data/xrf",
         "panosc-cwl run cwl/tools/pymca-xrf-fit.cwl jobs/pymca-xrf-steel.yml --outdir out/xrf"],
        "noisy map from PyMca's Steel.spe + its config with SNIP background",
        "panosc-cwl xrf simulate --rows 20 --cols 20 -o data/xrf", _xrf_simulate_args, cmd_xrf)
    p = command(xsub, "fit-spectrum", "full PyMca fit of one spectrum (peak-group areas as JSON)",
                "panosc-cwl xrf fit-spectrum data/xrf/steel.spe --config data/xrf/steel-snip.cfg")
    p.add_argument("spectrum", help="SPEC/.spe/.mca file")
    p.add_argument("--config", required=True, help="PyMca fit configuration (.cfg)")
    p = command(xsub, "fit-map", "fit every pixel of a map with PyMca's headless FastXRFLinearFit",
                "panosc-cwl xrf fit-map data/xrf/steel-map.h5 --config data/xrf/steel-snip.cfg -o xrf-fit.h5")
    p.add_argument("map", help="HDF5 map (rows, columns, channels)")
    p.add_argument("--dataset", default="/entry/data/data", help="dataset of the map inside the file")
    p.add_argument("--config", required=True, help="PyMca fit configuration (.cfg)")
    p.add_argument("--weight", type=int, default=1, choices=[0, 1, 2], help="0 none, 1 counts (default), 2 per pixel")
    p.add_argument("--refit", type=int, default=0, choices=[0, 1], help="1: refit without negative groups")
    p.add_argument("-o", "--output", required=True, help="HDF5 result")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p = command(xsub, "summary", "total fitted area per peak group of a FastXRFLinearFit result",
                "panosc-cwl xrf summary xrf-fit.h5")
    p.add_argument("result", help="HDF5 output of FastXRFLinearFit")
    _run_all_with(xsub, cmd_xrf)

    ssub = group(sub, "sas", "small-angle scattering with sasmodels: simulate or fit a 1D curve",
                 ["panosc-cwl sas simulate --model sphere --par radius=60 -o data/sas/sphere.dat",
                  "panosc-cwl sas fit data/sas/sphere.dat --model sphere --par radius=50 --fit radius,scale,background "
                  "-o sas-fit.json"])
    examples = {"simulate": "panosc-cwl sas simulate --model sphere --par radius=60 --par scale=0.01 "
                            "--par background=0.001 --par sld=4 --par sld_solvent=1 -o data/sas/sphere.dat",
                "fit": "panosc-cwl sas fit data/sas/sphere.dat --model sphere --par radius=50 --par sld=4 "
                       "--par sld_solvent=1 --fit radius,scale,background -o sas-fit.json --curve-output sas-fit.dat"}
    for name in ("simulate", "fit"):
        p = command(ssub, name, "noisy model curve" if name == "simulate" else "fit a model to a curve",
                    examples[name])
        if name == "fit":
            p.add_argument("curve", help="q I dI table (q in 1/angstrom)")
            p.add_argument("--fit", required=True, help="comma-separated parameters to fit, e.g. radius,scale,background")
            p.add_argument("--curve-output", help="also write q, I, I_fit here")
        else:
            p.add_argument("--qmin", type=float, default=1e-3, help="smallest q (1/angstrom)")
            p.add_argument("--qmax", type=float, default=0.3, help="largest q (1/angstrom)")
            p.add_argument("--points", type=int, default=200, help="number of q points")
            p.add_argument("--noise", type=float, default=0.03, help="relative noise (and dI)")
            p.add_argument("--seed", type=int, default=0, help="random seed")
        p.add_argument("--model", default="sphere", help="sasmodels model name")
        p.add_argument("--par", action="append", help="NAME=VALUE (start value when fitting); repeatable")
        p.add_argument("-o", "--output", required=True, help="file to write")
        p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
        p.set_defaults(func=cmd_sas)
