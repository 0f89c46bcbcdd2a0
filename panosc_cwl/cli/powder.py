"""``powder simulate|integrate1d|integrate2d|reduce|merge|chunks|plot`` (pyFAI) and ``detector simulate``."""

from __future__ import annotations

import argparse

from .common import OneLineParser, Progress, command, deprecated_alias, group

# ---------------------------------------------------------------- simulate
def cmd_simulate_powder(args) -> int:
    from ..simulate import PowderSimulation, simulate_powder

    sim = PowderSimulation(
        calibrant=args.calibrant, detector=args.detector, n_frames=args.frames,
        wavelength=args.wavelength * 1e-10, distance=args.distance * 1e-3, imax=args.imax,
        background=args.background, resolution_deg=args.resolution, seed=args.seed, name=args.name or "",
        rot1=args.tilt_deg * 3.141592653589793 / 180,
    )
    res = simulate_powder(args.outdir, sim, edf_frames=args.edf, tiff_frames=args.tiff, overwrite=args.overwrite)
    print(f"frames:   {res.stack} ({res.dataset}, {sim.n_frames} frames)")
    print(f"geometry: {res.poni}")
    for p in res.edf + res.tiff:
        print(f"frame:    {p}")
    return 0


# ---------------------------------------------------------------- integrate
def _integration_args(p: argparse.ArgumentParser, two_d: bool) -> None:
    from ..units import ERROR_MODELS, UNITS

    p.add_argument("--frames", nargs="+", required=True,
                   help="HDF5 stack(s), NXmx master file, Bliss scan file (VDS), or EDF/TIFF frames")
    p.add_argument("--dataset", help="dataset path of the frames inside HDF5 files (default: found from the "
                   "NXmx /entry/data links, the NXdata signal or the Bliss detector)")
    p.add_argument("--poni", help="pyFAI PONI geometry file (default: from --config, or an NXmx master's metadata)")
    p.add_argument("--config", help="pyFAI-integrate JSON configuration (geometry, mask, dark, flat, method, "
                   "unit, npt...); explicit options override it")
    p.add_argument("--npt", type=int, help="number of radial bins (default 1000)")
    if two_d:
        p.add_argument("--npt-azim", type=int, help="number of azimuthal bins (default 360)")
    p.add_argument("--unit", help=f"radial unit: {', '.join(UNITS)} (default 2th_deg)")
    p.add_argument("--mask", help="mask image (non-zero = masked)")
    p.add_argument("--dark", help="dark-current image, subtracted")
    p.add_argument("--flat", help="flat-field image, divided")
    p.add_argument("--polarization", type=float, help="polarization factor in [-1, 1] (0.99 at synchrotrons)")
    p.add_argument("--error-model", choices=ERROR_MODELS, help="uncertainty model (default poisson)")
    p.add_argument("--method", choices=["csr", "histogram", "full-csr", "opencl"],
                   help="pyFAI method: csr (default, bbox splitting), histogram, full-csr, opencl (GPU)")
    p.add_argument("-o", "--output", required=True, help="output NeXus file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--frame-range", metavar="START:STOP",
                   help="integrate only frames START..STOP-1 of all inputs (0-based; one chunk of a scatter)")
    nx = p.add_argument_group("NXazint metadata (default: from the frames' NeXus file, else 'unknown')")
    nx.add_argument("--instrument", help="instrument (beamline) name")
    nx.add_argument("--source-name", help="source (facility) name, e.g. ESRF")
    nx.add_argument("--source-type", help="NXsource type, e.g. 'Synchrotron X-ray Source', 'Rotating Anode X-ray'")
    nx.add_argument("--probe", help="x-ray, neutron or electron")
    nx.add_argument("--sample", help="sample name")


def _frame_range(args):
    from ..integrate import parse_frame_range

    text = getattr(args, "frame_range", None)
    return parse_frame_range(text) if text else None


def cmd_integrate(args, dims: int) -> int:
    from ..integrate import METHODS, IntegrationSettings, check_unit, integrate_stack, write_integrated
    from ..iorw import check_can_write

    if args.unit is not None:
        check_unit(args.unit)
    check_can_write(args.output, args.overwrite)
    fields: dict = {}
    geometry, mask, dark, flat = args.poni, args.mask, args.dark, args.flat
    if args.config:  # pyFAI-integrate's JSON first, explicit options over it
        from ..pyfai_config import load_config

        cfg = load_config(args.config)
        fields.update(cfg.settings)
        geometry = geometry or cfg.integrator
        mask, dark, flat = mask or cfg.mask, dark or cfg.dark, flat or cfg.flat
    explicit = {"npt": args.npt, "unit": args.unit, "npt_azim": getattr(args, "npt_azim", None),
                "polarization_factor": args.polarization, "error_model": args.error_model,
                "method": METHODS[args.method] if args.method else None}
    fields.update({k: v for k, v in explicit.items() if v is not None})
    settings = IntegrationSettings(**fields)
    res = integrate_stack(args.frames, geometry, settings, dataset=args.dataset, mask=mask,
                          dark=dark, flat=flat, dims=dims, frame_range=_frame_range(args),
                          progress=None if args.quiet else Progress(f"integrate{dims}d"))
    from ..nxazint import Facility

    facility = Facility.from_frames(res.sources, instrument=args.instrument, source_name=args.source_name,
                                    source_type=args.source_type, probe=args.probe, sample=args.sample)
    out = write_integrated(res, args.output, overwrite=args.overwrite, facility=facility)
    print(out)
    return 0


# ---------------------------------------------------------------- reduce / plot
def cmd_reduce(args) -> int:
    from ..iorw import check_can_write
    from ..powder import read_pattern, reduce_stack, write_reduced

    check_can_write(args.output, args.overwrite)
    pat = read_pattern(args.input)
    write_reduced(pat, reduce_stack(pat), args.output, overwrite=args.overwrite)
    print(args.output)
    return 0


def cmd_plot(args) -> int:
    from ..iorw import check_can_write
    from ..powder import plot_pattern

    check_can_write(args.output, args.overwrite)
    plot_pattern(args.input, args.output, calibrant=args.calibrant, overwrite=args.overwrite, title=args.title)
    print(args.output)
    return 0


# ---------------------------------------------------------------- chunks
def cmd_chunks(args) -> int:
    from ..chunks import suggest_chunks

    plan = suggest_chunks(args.frames, args.nodes, args.cores_per_node, fixed_s=args.fixed_s,
                          per_frame_s=args.per_frame_s, max_chunk_s=args.max_chunk_s, max_overhead=args.max_overhead)
    print(f"chunk:     {plan.chunk} frames ({plan.n_chunks} jobs on {plan.slots} slots, {plan.waves} wave(s))")
    print(f"predicted: {plan.predicted_wall_s:.0f} s wall, {plan.predicted_cpu_s:.0f} CPU-s, "
          f"{plan.overhead_fraction:.0%} of it fixed cost (job = {plan.fixed_s:g} s + {plan.per_frame_s:g} s x frames)")
    if args.ranges:
        print("frame_ranges: [" + ", ".join(f'"{r}"' for r in plan.frame_ranges()) + "]")
    return 0


def _chunks_args(p) -> None:
    from ..chunks import DEFAULT_FIXED_S, DEFAULT_PER_FRAME_S

    p.add_argument("--frames", type=int, required=True, help="frames to integrate")
    p.add_argument("--nodes", type=int, default=1, help="SLURM nodes (default 1)")
    p.add_argument("--cores-per-node", type=int, default=1, help="jobs running at once per node (default 1)")
    p.add_argument("--fixed-s", type=float, default=DEFAULT_FIXED_S,
                   help=f"seconds per job outside the frames (default {DEFAULT_FIXED_S:g}, measured here: "
                   "benchmarks/scatter_scale.py)")
    p.add_argument("--per-frame-s", type=float, default=DEFAULT_PER_FRAME_S,
                   help=f"seconds per frame (default {DEFAULT_PER_FRAME_S:g})")
    p.add_argument("--max-chunk-s", type=float, default=600.0, help="longest job in seconds (default 600)")
    p.add_argument("--max-overhead", type=float, default=0.5,
                   help="largest share of a job's time the fixed cost may take (default 0.5)")
    p.add_argument("--ranges", action="store_true", help="also print the frame_ranges list for powder-xrd-scatter.cwl")


# ---------------------------------------------------------------- merge
def cmd_merge(args) -> int:
    from ..iorw import check_can_write
    from ..merge import merge_chunks

    check_can_write(args.output, args.overwrite)
    print(merge_chunks(args.chunks, args.output, overwrite=args.overwrite))
    return 0



def cmd_simulate_darks(args) -> int:
    from ..detector import DetectorSimulation, simulate_detector

    sim = DetectorSimulation(n_modules=args.modules, module_shape=tuple(args.module_shape), n_darks=args.darks,
                             n_frames=args.frames, hot_fraction=args.hot_fraction,
                             dead_fraction=args.dead_fraction, seed=args.seed)
    res = simulate_detector(args.outdir, sim, overwrite=args.overwrite)
    for kind in ("darks", "data", "truth"):
        for path in getattr(res, kind):
            print(f"{kind + ':':<7}{path}")
    return 0




# ---------------------------------------------------------------- simulate eiger / bliss / edf-series
def cmd_simulate_facility(args) -> int:
    from .. import facility_formats as ff
    from ..simulate import PowderSimulation

    sim = PowderSimulation(calibrant=args.calibrant, detector=args.detector or ff.DEFAULT_DETECTORS[args.kind],
                           n_frames=args.frames, wavelength=args.wavelength * 1e-10, distance=args.distance * 1e-3,
                           seed=args.seed, name=args.name or "")
    if args.kind == "eiger":
        res = ff.write_eiger(args.outdir, sim, n_files=args.files, compression=args.compression,
                             dtype=args.dtype, overwrite=args.overwrite)
    elif args.kind == "bliss":
        res = ff.write_bliss(args.outdir, sim, n_chunks=args.files, compression=args.compression,
                             dtype=args.dtype, overwrite=args.overwrite)
    else:
        res = ff.write_edf_series(args.outdir, sim, frames_per_file=args.frames_per_file, dtype=args.dtype,
                                  overwrite=args.overwrite)
    for f in res.files:
        print(f"file:     {f}")
    print(f"geometry: {res.poni}")
    print(f"job:      {res.job}")
    return 0


FACILITY_FORMATS = {
    "eiger": "DECTRIS Eiger NXmx series: NAME_master.h5 + external-linked NAME_data_00000N.h5",
    "bliss": "ESRF Bliss scan: NAME_0001.h5 with a virtual dataset over LImA chunk files in scan0001/",
    "edf-series": "LImA EDF series: multi-frame DET_000N.edf files"}
STACK_ONLY = ("tilt_deg", "imax", "background", "resolution", "edf", "tiff")
FORMAT_ONLY = ("files", "compression", "frames_per_file", "dtype")


def _stack_args(p: argparse.ArgumentParser, defaults: bool = True) -> None:
    """Options of the HDF5-stack simulation; ``defaults=False`` leaves them None (``powder simulate``
    fills them per --format and refuses the ones that do not apply)."""
    d = (lambda v: v) if defaults else (lambda v: None)
    p.add_argument("--tilt-deg", type=float, default=d(0.0), help="detector rotation rot1 in degrees (stack)")
    p.add_argument("--imax", type=float, default=d(2000.0), help="peak height of the rings in counts (stack)")
    p.add_argument("--background", type=float, default=d(20.0), help="flat background in counts (stack)")
    p.add_argument("--resolution", type=float, default=d(0.03), help="ring width (2θ, degrees; stack)")
    p.add_argument("--edf", type=int, default=d(1), help="also write this many frames as EDF (stack; default 1)")
    p.add_argument("--tiff", type=int, default=d(1), help="also write this many frames as TIFF (stack; default 1)")


def _format_args(p: argparse.ArgumentParser, kind: str | None) -> None:
    """Options of the facility-format writers (``kind`` None: all of them, without defaults)."""
    if kind in (None, "edf-series"):
        p.add_argument("--frames-per-file", type=int, default=2 if kind else None,
                       help="frames in each EDF file (edf-series; default 2)")
    if kind in (None, "eiger", "bliss"):
        p.add_argument("--files", type=int, default={"eiger": 3, "bliss": 4}.get(kind),
                       help="data files (eiger) or LImA chunk files (bliss); default 3 / 4")
        p.add_argument("--compression", default={"eiger": "bslz4", "bliss": "gzip"}.get(kind),
                       choices=["bslz4", "lz4", "zstd", "blosc", "gzip", "none"],
                       help="frame compression, hdf5plugin filters (eiger default bslz4, bliss gzip)")
    p.add_argument("--dtype", default="uint32" if kind else None, choices=["uint16", "uint32"],
                   help="stored pixel type; gaps and dead pixels hold its maximum (default uint32)")


def _common_simulation_args(p: argparse.ArgumentParser, detector_default, frames_default) -> None:
    p.add_argument("--calibrant", default="CeO2", help="pyFAI calibrant name (CeO2, LaB6, Si, ...)")
    p.add_argument("--detector", default=detector_default,
                   help="pyFAI detector name (default Pilatus1M; eiger Eiger4M, bliss Eiger1M, edf-series Pilatus1M)")
    p.add_argument("--frames", type=int, default=frames_default, help="number of frames (default 10; formats 3)")
    p.add_argument("--wavelength", type=float, default=1.0, help="wavelength in angstrom (default 1.0)")
    p.add_argument("--distance", type=float, default=100.0, help="sample-detector distance in mm (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the Poisson noise")
    p.add_argument("--name", help="base name of the files (default: calibrant name)")
    p.add_argument("-o", "--outdir", default=".", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")


def _legacy_powder_args(p) -> None:
    _common_simulation_args(p, "Pilatus1M", 10)
    _stack_args(p)


def _legacy_format_args(kind):
    def build(p):
        _common_simulation_args(p, None, 3)
        _format_args(p, kind)
        p.set_defaults(kind=kind)
    return build


def cmd_powder_simulate(args) -> int:
    """``powder simulate --format``: one command, the options of the chosen format."""
    from ..exceptions import InputError

    fmt = args.format
    applies = {"stack": STACK_ONLY, "eiger": ("files", "compression", "dtype"),
               "bliss": ("files", "compression", "dtype"), "edf-series": ("frames_per_file", "dtype")}[fmt]
    wrong = [n for n in STACK_ONLY + FORMAT_ONLY if getattr(args, n) is not None and n not in applies]
    if wrong:
        raise InputError(f"--{wrong[0].replace('_', '-')} does not apply to --format {fmt}", field="format")
    if fmt == "stack":
        defaults = {"detector": "Pilatus1M", "frames": 10, "tilt_deg": 0.0, "imax": 2000.0, "background": 20.0,
                    "resolution": 0.03, "edf": 1, "tiff": 1}
    else:
        defaults = {"frames": 3, "files": 3 if fmt == "eiger" else 4, "dtype": "uint32", "frames_per_file": 2,
                    "compression": "bslz4" if fmt == "eiger" else "gzip"}
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    if fmt == "stack":
        return cmd_simulate_powder(args)
    args.kind = fmt
    return cmd_simulate_facility(args)


def _integrate_parser(p, dims: int) -> None:
    _integration_args(p, two_d=dims == 2)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _reduce_args(p) -> None:
    p.add_argument("input", help="NeXus file from powder integrate1d")
    p.add_argument("-o", "--output", required=True, help="output NeXus file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def _plot_args(p) -> None:
    p.add_argument("input", help="NeXus file from powder reduce")
    p.add_argument("-o", "--output", required=True, help="output PNG")
    p.add_argument("--calibrant", help="mark this calibrant's reflections")
    p.add_argument("--title", help="plot title (default: the file name)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def _merge_args(p) -> None:
    p.add_argument("chunks", nargs="+", help="NeXus files from powder integrate1d/2d --frame-range")
    p.add_argument("-o", "--output", required=True, help="output NeXus file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def _darks_args(p) -> None:
    p.add_argument("--modules", type=int, default=4, help="number of detector modules (default 4)")
    p.add_argument("--module-shape", type=int, nargs=2, default=[64, 64], metavar=("NY", "NX"),
                   help="pixels per module (default 64 64)")
    p.add_argument("--darks", type=int, default=50, help="dark frames per module (default 50)")
    p.add_argument("--frames", type=int, default=20, help="data frames per module (default 20)")
    p.add_argument("--hot-fraction", type=float, default=0.005, help="fraction of hot pixels")
    p.add_argument("--dead-fraction", type=float, default=0.005, help="fraction of dead pixels")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("-o", "--outdir", default=".", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")


def add_parsers(sub) -> None:
    """``powder simulate|integrate1d|integrate2d|reduce|merge|plot`` and ``detector simulate``."""
    pw = group(sub, "powder", "powder diffraction with pyFAI: simulate, integrate1d/2d, reduce, merge, chunks, plot",
               ["panosc-cwl powder simulate --calibrant CeO2 --frames 4 -o data/ceo2",
                "panosc-cwl powder integrate1d --frames data/ceo2/ceo2.h5 --poni data/ceo2/ceo2.poni -o ceo2.nxs"])
    p = command(pw, "simulate", "powder frames of a pyFAI calibrant, as our HDF5 stack or as a beamline writes them",
                ["panosc-cwl powder simulate --calibrant LaB6 --frames 4 -o data/lab6",
                 "panosc-cwl powder simulate --format eiger --frames 3 --files 3 -o data/eiger"],
                description="Powder-diffraction frames of a pyFAI calibrant (rings, background, Poisson noise, "
                "detector gaps).\n\n--format stack (default): HDF5 stack NAME.h5, PONI, EDF/TIFF frames, truth JSON.\n"
                + "".join(f"--format {k}: {v}\n" for k, v in FACILITY_FORMATS.items())
                + "The facility formats also write NAME_job.yml, a CWL job naming the linked files.")
    p.add_argument("--format", default="stack", choices=["stack", *FACILITY_FORMATS],
                   help="stack (default), eiger, bliss or edf-series")
    _common_simulation_args(p, None, None)
    _stack_args(p, defaults=False)
    _format_args(p, None)
    p.set_defaults(func=cmd_powder_simulate)

    for dims in (1, 2):
        p = command(pw, f"integrate{dims}d", f"pyFAI {'1D pattern' if dims == 1 else '2D cake'} of every frame",
                    f"panosc-cwl powder integrate{dims}d --frames data/ceo2/ceo2.h5 --poni data/ceo2/ceo2.poni "
                    f"-o {'ceo2' if dims == 1 else 'cake'}.nxs")
        _integrate_parser(p, dims)
        p.set_defaults(func=lambda a, d=dims: cmd_integrate(a, d))
    p = command(pw, "reduce", "mean/sum pattern and per-frame totals of an integrated stack",
                "panosc-cwl powder reduce ceo2.nxs -o ceo2-reduced.nxs")
    _reduce_args(p)
    p.set_defaults(func=cmd_reduce)
    p = command(pw, "merge", "join integrated chunks (integrate1d/2d --frame-range) into one stack file",
                ["panosc-cwl powder integrate1d --frames data/ceo2/ceo2.h5 --poni data/ceo2/ceo2.poni "
                 "--frame-range 0:2 -o part0.nxs",
                 "panosc-cwl powder integrate1d --frames data/ceo2/ceo2.h5 --poni data/ceo2/ceo2.poni "
                 "--frame-range 2:4 -o part1.nxs",
                 "panosc-cwl powder merge part0.nxs part1.nxs -o merged.nxs"])
    _merge_args(p)
    p.set_defaults(func=cmd_merge)
    p = command(pw, "chunks", "frames per scattered job for a frame count and node count (cost model)",
                ["panosc-cwl powder chunks --frames 100000 --nodes 10 --cores-per-node 64",
                 "panosc-cwl powder chunks --frames 2000 --nodes 1 --cores-per-node 2 --fixed-s 1 --ranges"])
    _chunks_args(p)
    p.set_defaults(func=cmd_chunks)
    p = command(pw, "plot", "PNG of a reduced pattern with calibrant reflections marked",
                "panosc-cwl powder plot ceo2-reduced.nxs --calibrant CeO2 -o ceo2.png")
    _plot_args(p)
    p.set_defaults(func=cmd_plot)

    det = group(sub, "detector", "multi-module detector calibration data: simulate",
                "panosc-cwl detector simulate --modules 4 -o data/detector")
    p = command(det, "simulate", "dark and data runs of a multi-module detector (pedestal, noise, bad pixels)",
                "panosc-cwl detector simulate --modules 4 --darks 50 --frames 20 -o data/detector")
    _darks_args(p)
    p.set_defaults(func=cmd_simulate_darks)

    # ---- the names before the command tree was regrouped by technique (issue 18): hidden, still working
    old_sim = sub.add_parser("simulate").add_subparsers(dest="kind", required=True, parser_class=OneLineParser)
    deprecated_alias(old_sim, "powder", "simulate powder", "powder simulate", _legacy_powder_args, cmd_simulate_powder)
    deprecated_alias(old_sim, "darks", "simulate darks", "detector simulate", _darks_args, cmd_simulate_darks)
    for kind in FACILITY_FORMATS:
        deprecated_alias(old_sim, kind, f"simulate {kind}", f"powder simulate --format {kind}",
                         _legacy_format_args(kind), cmd_simulate_facility)
    for dims in (1, 2):
        deprecated_alias(sub, f"integrate{dims}d", f"integrate{dims}d", f"powder integrate{dims}d",
                         lambda p, d=dims: _integrate_parser(p, d), lambda a, d=dims: cmd_integrate(a, d))
    deprecated_alias(sub, "reduce", "reduce", "powder reduce", _reduce_args, cmd_reduce)
    deprecated_alias(sub, "plot", "plot", "powder plot", _plot_args, cmd_plot)
    deprecated_alias(sub, "merge", "merge", "powder merge", _merge_args, cmd_merge)
