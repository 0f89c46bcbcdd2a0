"""``cdi``, ``tomo``: coherent imaging and tomography (issue 7)."""

from __future__ import annotations

from pathlib import Path

from .common import OneLineParser, _err, command

def cmd_cdi(args) -> int:
    import json

    from .. import cdi

    if args.action == "simulate":
        sim = cdi.simulate_cdi(args.shape, photons=args.photons, size=args.size, max_phase=args.max_phase,
                               seed=args.seed)
        print(cdi.write_cxi(args.output, sim, overwrite=args.overwrite))
        return 0
    if args.action == "reconstruct-cohere":
        import tempfile

        settings = cdi.CdiSettings(nb_raar=args.nb_raar, nb_hio=args.nb_hio, nb_er=args.nb_er, nb_run=args.nb_run,
                                   nb_run_keep=args.nb_run_keep, support_threshold=args.support_threshold,
                                   roi=args.roi, seed=args.seed)
        settings.check()
        if args.output_format not in cdi.OUTPUT_FORMATS:
            raise cdi.InputError(f"choose {', '.join(cdi.OUTPUT_FORMATS)}", field="output_format")
        outdir = Path(args.outdir)
        if not outdir.is_dir():
            raise cdi.InputError(f"output folder does not exist: {outdir}", field="outdir")
        intensity = cdi.read_intensity(args.data)
        with tempfile.TemporaryDirectory(prefix="cohere-") as work:
            results = cdi.reconstruct_cohere(intensity, settings, work)
        stem = Path(args.data).stem
        for rank, res in enumerate(results, 1):
            name = f"{stem}-cohere_rank{rank:02d}_Run{res.run:04d}.{args.output_format}"
            path = cdi.write_reconstruction(outdir / name, res, settings, str(args.data), args.output_format,
                                            overwrite=args.overwrite)
            _err(f"run {res.run}: metric {res.metric:.5g}, {res.seconds:.1f} s")
            print(path)
        return 0
    if args.action == "plot":
        err = cdi.plot_reconstruction(args.input, args.output, truth_path=args.truth, overwrite=args.overwrite)
        if err is not None:
            _err(f"error vs truth: {err.error:.4f}{' (twin)' if err.twin else ''}")
        print(args.output)
        return 0
    if args.action == "error":
        err = cdi.cdi_error(cdi.read_reconstruction(args.input, "input"), cdi.read_truth(args.truth))
        print(json.dumps(err.as_dict()))
        return 0
    raise AssertionError(args.action)


def cmd_tomo(args) -> int:
    import json

    from .. import tomo

    if args.action == "simulate":
        sim = tomo.TomoSimulation(size=args.size, n_slices=args.slices, n_angles=args.angles,
                                  angular_range=args.angular_range, cor_offset=args.cor_offset, seed=args.seed,
                                  flat_counts=args.flat_counts)
        files = tomo.simulate_tomo(args.outdir, sim, name=args.name, overwrite=args.overwrite)
        print(f"nxtomo:  {files.nx}")
        print(f"truth:   {files.truth}")
        print(f"phantom: {files.phantom}")
        return 0
    if args.action == "config":
        opts = tomo.NabuOptions(cor_method=args.cor_method, cor_value=args.cor_value, phase=args.phase,
                                delta_beta=args.delta_beta, output_format=args.output_format,
                                start_z=args.start_z, end_z=args.end_z)
        print(tomo.make_nabu_config(args.dataset, args.output, opts, location=args.location,
                                    overwrite=args.overwrite))
        return 0
    if args.action == "reconstruct":
        config = args.config
        if args.dataset:  # a runner staged the dataset elsewhere: point a copy of the config at it
            import configparser

            cp = configparser.ConfigParser(interpolation=None)
            cp.optionxform = str
            cp.read(tomo.require_file(config, "config"))
            if not cp.has_section("dataset"):
                cp.add_section("dataset")
            cp["dataset"]["location"] = str(tomo.require_file(args.dataset, "dataset").resolve())
            config = Path(args.output).with_suffix(".nabu.conf")
            with open(config, "w") as fh:
                cp.write(fh)
        res = tomo.reconstruct(config, args.output, backend=args.backend, overwrite=args.overwrite)
        _err(f"{res.backend}: centre of rotation {res.cor:.3f} px, {res.seconds:.1f} s")
        print(res.path)
        return 0
    if args.action == "score":
        print(json.dumps(tomo.score_reconstruction(args.input, args.truth).as_dict()))
        return 0
    if args.action == "plot":
        print(tomo.plot_slice(args.input, args.output, truth_path=args.truth, overwrite=args.overwrite))
        return 0
    raise AssertionError(args.action)


EXAMPLES = {'cdi': ['panosc-cwl cdi simulate --shape 96 96 -o obj.cxi',
    'panosc-cwl run cwl/workflows/cdi.cwl jobs/cdi-2d.yml --outdir out/cdi'],
    'cdi simulate': 'panosc-cwl cdi simulate --shape 128 128 --photons 1e9 -o obj.cxi',
    'cdi reconstruct-cohere': ('panosc-cwl cdi reconstruct-cohere --data obj.cxi --nb-hio 600 --nb-er 200 '
                               '--seed 1 --outdir .'),
    'cdi plot': 'panosc-cwl cdi plot obj-cohere_rank01_Run0001.cxi --truth obj.cxi -o cdi.png',
    'cdi error': 'panosc-cwl cdi error obj-cohere_rank01_Run0001.cxi --truth obj.cxi',
    'tomo': ['panosc-cwl tomo simulate -o scan',
    'panosc-cwl run cwl/workflows/tomo.cwl jobs/tomo.yml --outdir out/tomo'],
    'tomo simulate': 'panosc-cwl tomo simulate --size 256 --angles 360 -o scan',
    'tomo config': 'panosc-cwl tomo config --dataset scan/tomo.nx -o nabu.conf',
    'tomo reconstruct': 'panosc-cwl tomo reconstruct nabu.conf -o rec.h5',
    'tomo score': 'panosc-cwl tomo score rec.h5 --truth scan/tomo_truth.json',
    'tomo plot': 'panosc-cwl tomo plot rec.h5 --truth scan/tomo_truth.json -o slice.png'}


def add_parsers(sub) -> None:
    """Parsers of cdi / tomo (issue 7)."""
    from ..units import CDI_OUTPUT_FORMATS as CDI_FORMATS
    from ..units import COR_METHODS, PHASE_METHODS
    from ..units import TOMO_BACKENDS as BACKENDS
    from ..units import TOMO_OUTPUT_FORMATS as OUTPUT_FORMATS

    cdi = command(sub, "cdi", example=EXAMPLES["cdi"],
                  help="coherent diffraction imaging: simulate, reconstruct (cohere-core), plot")
    csub = cdi.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    p = command(csub, "simulate", example=EXAMPLES["cdi simulate"],
                help="|FFT|^2 + Poisson noise of a known complex object, as CXI")
    p.add_argument("--shape", type=int, nargs="+", default=[128, 128], help="2 or 3 sizes (default 128 128)")
    p.add_argument("--photons", type=float, default=1e9, help="total photons in the pattern (default 1e9)")
    p.add_argument("--size", type=float, default=0.3, help="object diameter / array size (default 0.3)")
    p.add_argument("--max-phase", type=float, default=1.0, help="phase range of the object, radians")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help="CXI file to write")
    p.add_argument("--overwrite", action="store_true")
    p = command(csub, "reconstruct-cohere", example=EXAMPLES["cdi reconstruct-cohere"],
                help="phase retrieval with cohere-core (PyNX's option names)")
    p.add_argument("--data", required=True, help="CXI/HDF5 (detector_1/data) or .npy intensity, centred")
    p.add_argument("--roi", type=int, nargs="+", help="start/end per axis, as pynx-cdi-id01 --roi")
    p.add_argument("--support-threshold", type=float, default=0.2, help="shrink-wrap threshold (0-1)")
    p.add_argument("--nb-raar", type=int, default=0, help="RAAR iterations (default 0)")
    p.add_argument("--nb-hio", type=int, default=600, help="HIO iterations (default 600)")
    p.add_argument("--nb-er", type=int, default=200, help="ER iterations (default 200)")
    p.add_argument("--nb-run", type=int, default=1, help="independent runs from random starts")
    p.add_argument("--nb-run-keep", type=int, default=1, help="best runs written (by cohere's error metric)")
    p.add_argument("--output-format", default="cxi", help=f"{', '.join(CDI_FORMATS)}")
    p.add_argument("--seed", type=int, help="random seed of the starting guesses")
    p.add_argument("--outdir", default=".", help="folder for the results")
    p.add_argument("--overwrite", action="store_true")
    p = command(csub, "plot", example=EXAMPLES["cdi plot"],
                help="PNG of amplitude and phase (aligned to the truth if given)")
    p.add_argument("input", help="reconstruction (.cxi or .npz, PyNX or ours)")
    p.add_argument("--truth", help="simulated CXI file holding the true object")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--overwrite", action="store_true")
    p = command(csub, "error", example=EXAMPLES["cdi error"],
                help="normalised complex error vs the truth (shift, twin, phase removed), JSON")
    p.add_argument("input", help="reconstruction (.cxi or .npz)")
    p.add_argument("--truth", required=True, help="simulated CXI file")
    cdi.set_defaults(func=cmd_cdi)

    tom = command(sub, "tomo", example=EXAMPLES["tomo"],
                  help="tomography: simulate NXtomo, nabu config, reconstruct, score, plot")
    tsub = tom.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    p = command(tsub, "simulate", example=EXAMPLES["tomo simulate"],
                help="Shepp-Logan scan with darks, flats, Poisson noise, as NXtomo")
    p.add_argument("--size", type=int, default=256, help="detector width in pixels (default 256)")
    p.add_argument("--slices", type=int, default=16, help="detector rows (default 16)")
    p.add_argument("--angles", type=int, default=360, help="number of projections (default 360)")
    p.add_argument("--angular-range", type=float, default=360.0, help="180 or 360 degrees")
    p.add_argument("--cor-offset", type=float, default=5.0, help="axis position minus detector centre, px")
    p.add_argument("--flat-counts", type=float, default=20000.0, help="counts per pixel of the beam")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="tomo", help="base name of the files")
    p.add_argument("-o", "--outdir", default=".")
    p.add_argument("--overwrite", action="store_true")
    p = command(tsub, "config", example=EXAMPLES["tomo config"],
                help="nabu-config's template with our options filled in")
    p.add_argument("--dataset", required=True, help="NXtomo file")
    p.add_argument("--cor-method", default="sliding-window", help=f"{', '.join(COR_METHODS)}")
    p.add_argument("--cor-value", type=float, help="a known axis position (px) instead of a method")
    p.add_argument("--phase", default="none", help=f"{', '.join(PHASE_METHODS)}")
    p.add_argument("--delta-beta", type=float, default=100.0, help="Paganin/CTF delta/beta")
    p.add_argument("--output-format", default="hdf5", help=f"{', '.join(OUTPUT_FORMATS)}")
    p.add_argument("--start-z", type=int, default=0)
    p.add_argument("--end-z", type=int, default=-1)
    p.add_argument("--location", default=".", help="output folder written into the config")
    p.add_argument("-o", "--output", required=True, help="nabu config file to write")
    p.add_argument("--overwrite", action="store_true")
    p = command(tsub, "reconstruct", example=EXAMPLES["tomo reconstruct"],
                help="nabu CONFIG on a GPU/OpenCL node, else nabu + CPU back-projection")
    p.add_argument("config", help="nabu configuration file")
    p.add_argument("--dataset", help="NXtomo file to use instead of the config's [dataset] location")
    p.add_argument("--backend", default="auto", help=f"{', '.join(BACKENDS)}")
    p.add_argument("-o", "--output", required=True, help="HDF5 volume to write")
    p.add_argument("--overwrite", action="store_true")
    p = command(tsub, "score", example=EXAMPLES["tomo score"],
                help="centre-of-rotation error and Pearson r vs the phantom, JSON")
    p.add_argument("input")
    p.add_argument("--truth", required=True, help="truth JSON written by tomo simulate")
    p = command(tsub, "plot", example=EXAMPLES["tomo plot"],
                help="PNG of the middle slice (beside the phantom if --truth)")
    p.add_argument("input")
    p.add_argument("--truth")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--overwrite", action="store_true")
    tom.set_defaults(func=cmd_tomo)


