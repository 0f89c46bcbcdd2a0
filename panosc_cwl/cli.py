"""The ``panosc-cwl`` command line: argument parsing only; the work is done by the library modules.

Every user error ends as one line on stderr (``panosc-cwl: error: ...``), exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from . import __version__
from .exceptions import PanoscError

PROG = "panosc-cwl"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the argument, not a usage dump."""

    def error(self, message: str):  # noqa: D401 - argparse API
        sub = self.prog[len(PROG):].strip()
        where = f"{sub}: " if sub else ""
        sys.stderr.write(f"{PROG}: error: {where}{' '.join(message.split())}\n")
        sys.exit(2)


def _err(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


class Progress:
    """Frame-count progress on stderr, at most every ``interval`` seconds, with the rate."""

    def __init__(self, label: str, interval: float = 2.0):
        self.label, self.interval = label, interval
        self.start = self.last = self.after_first = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done == 1:  # the first frame pays for opening the files and building pyFAI's look-up tables
            self.after_first = now
        if done == total or now - self.last >= self.interval:
            self.last = now
            if done == 1 and total > 1:
                _err(f"{self.label}: 1/{total} frames (first frame {now - self.start:.1f} s: opening, look-up tables)")
                return
            if done > 1 and now > self.after_first:
                rate = (done - 1) / (now - self.after_first)
            else:
                rate = done / max(now - self.start, 1e-9)
            _err(f"{self.label}: {done}/{total} frames ({rate:.3g} frames/s)")


# ---------------------------------------------------------------- simulate
def cmd_simulate_powder(args) -> int:
    from .simulate import PowderSimulation, simulate_powder

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
    from .units import ERROR_MODELS, UNITS

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


def _frame_range(args):
    from .integrate import parse_frame_range

    text = getattr(args, "frame_range", None)
    return parse_frame_range(text) if text else None


def cmd_integrate(args, dims: int) -> int:
    from .integrate import METHODS, IntegrationSettings, check_unit, integrate_stack, write_integrated
    from .iorw import check_can_write

    if args.unit is not None:
        check_unit(args.unit)
    check_can_write(args.output, args.overwrite)
    fields: dict = {}
    geometry, mask, dark, flat = args.poni, args.mask, args.dark, args.flat
    if args.config:  # pyFAI-integrate's JSON first, explicit options over it
        from .pyfai_config import load_config

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
    out = write_integrated(res, args.output, overwrite=args.overwrite)
    print(out)
    return 0


# ---------------------------------------------------------------- reduce / plot
def cmd_reduce(args) -> int:
    from .iorw import check_can_write
    from .powder import read_pattern, reduce_stack, write_reduced

    check_can_write(args.output, args.overwrite)
    pat = read_pattern(args.input)
    write_reduced(pat, reduce_stack(pat), args.output, overwrite=args.overwrite)
    print(args.output)
    return 0


def cmd_plot(args) -> int:
    from .iorw import check_can_write
    from .powder import plot_pattern

    check_can_write(args.output, args.overwrite)
    plot_pattern(args.input, args.output, calibrant=args.calibrant, overwrite=args.overwrite, title=args.title)
    print(args.output)
    return 0


# ---------------------------------------------------------------- run
_PROGRESS = re.compile(r"\[(step|workflow|job) ([^\]]+)\] (start|completed \w+)|Issued job|Job ended|completed")


def cmd_run(args) -> int:
    from .runners import RunRequest, build_command, output_files, run

    outdir = Path(args.outdir).resolve()
    if args.job:  # facility data locators (facility:EuXFEL/v1/p2222/r0013) -> a resolved job in outdir
        from .locators import resolve_for_run

        job, located = resolve_for_run(args.job, outdir)
        for loc, path in located.items():
            _err(f"{loc} -> {path}")
        args.job = str(job)
    profile = None
    if getattr(args, "profile", None):
        from .profiles import get_profile

        profile = get_profile(args.profile)
    from .exceptions import InputError

    runner = args.runner or ("toil" if profile else "cwltool")
    if profile and runner != "toil":
        raise InputError(f"profile '{profile.name}' configures Toil; use --runner toil", field="profile")
    batch_system = args.batch_system or (profile.batch_system if profile else "single_machine")
    req = RunRequest(workflow=Path(args.workflow), job=Path(args.job) if args.job else None, outdir=outdir,
                     runner=runner, batch_system=batch_system, retry_count=args.retry_count,
                     restart=args.restart, job_store=args.job_store)
    req.profile = profile
    from .provenance import parse_size

    reference_above = parse_size(args.reference_above)
    _preflight(args, profile, args.outdir)
    prov_bundle = None
    if not args.no_provenance and runner == "toil" and args.restart:
        _err("note: no provenance for a Toil --restart (toil-cwl-runner 9.6 fails with --restart --provenance)")
    elif not args.no_provenance:
        from .provenance_run import prepare

        prov_bundle = prepare(req, args.provenance)
    cmd = build_command(req)
    _err(f"$ {cmd.shell()}")
    t0 = time.monotonic()

    def show(line: str) -> None:
        if args.verbose:
            _err(line)
            return
        m = _PROGRESS.search(line)
        if m and m.group(1):
            _err(f"  [{time.monotonic() - t0:6.1f} s] {m.group(1)} {m.group(2)}: {m.group(3)}")

    result = run(req, on_line=show, command=cmd)
    _err(f"finished in {time.monotonic() - t0:.1f} s; log: {result.log_path}")
    if prov_bundle is not None:
        from .provenance_run import record

        rec = record(req, result, reference_above)
        _err(f"provenance: {rec.bundle} ({rec.seconds:.1f} s); NXprocess chain written into "
             f"{', '.join(e.path.name for e in rec.nexus) or 'no NeXus output'}")
    for path in output_files(result.outputs):
        print(path)
    return 0


# ---------------------------------------------------------------- provenance
def cmd_provenance(args) -> int:
    import json

    from . import provenance as pv

    if args.action == "show":
        src = Path(args.source)
        if src.is_dir():
            rec = pv.load_run(src)
            chain = None
        else:
            from .provenance_nexus import read_nexus

            nx = read_nexus(src)
            rec, chain = nx.run(), nx.groups
        if args.json:
            out = rec.to_json()
            if chain is not None:
                out["nxprocess"] = chain
            print(json.dumps(out, indent=1, default=str))
            return 0
        print("\n".join(pv.summary_lines(rec)))
        for g in chain or []:
            print(f"NXprocess {g['group']}: #{g['sequence_index']} {g.get('program')} | {g.get('version')} | {g.get('date')}")
        return 0
    if args.action == "verify":
        rep = pv.verify_bundle(args.bundle, check_external=args.external)
        for prob in rep.problems:
            _err(f"{PROG}: verify: {prob}")
        ext = f"; {len(rep.external)} file(s) referenced, not copied" if rep.external else ""
        print(f"{rep.bundle}: {'valid' if rep.ok else 'INVALID'} ({rep.files_checked} checksums{ext})")
        return 0 if rep.ok else 1
    if args.action == "to-nexus":
        from .provenance_nexus import to_nexus

        for e in to_nexus(args.bundle, args.files):
            print(f"{e.path}: {len(e.groups)} NXprocess group(s), +{e.bytes_added} bytes")
        return 0
    if args.action == "rerun":
        from .provenance_nexus import rerun

        rep = rerun(args.file, workdir=args.workdir, runner=args.runner)
        if args.json:
            print(json.dumps({"outdir": str(rep.outdir), "ok": rep.ok, "comparisons": rep.comparisons}, indent=1))
        else:
            for c in rep.comparisons:
                state = {True: "same", False: "DIFFERENT", None: "not compared"}[c["equal"]]
                print(f"{c['output']}: {state} ({c.get('checksum') or ''} {c.get('got', c.get('detail', ''))})")
            print(f"re-run outputs in {rep.outdir}")
        return 0 if rep.ok else 1
    if args.action == "to-rocrate":
        from .provenance_rocrate import to_rocrate

        out = args.output or str(Path(args.bundle).resolve()) + "-rocrate"
        print(to_rocrate(args.bundle, out))
        return 0
    return 2


# ---------------------------------------------------------------- locate (facility data locators)
def cmd_locate(args) -> int:
    from .exceptions import InputError
    from .locators import resolve, write_resolved_job

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

    from . import euxfel

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

    from . import xrf

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

    from . import sas

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


# ---------------------------------------------------------------- validate
def _print_issues(report) -> None:
    for issue in report.warnings + report.errors:
        _err(issue.one_line())


def _preflight(args, profile, outdir) -> None:
    """`run` validates the job (and refuses to overwrite outputs) before anything is submitted."""
    from .validate import ValidationError, preflight

    roots = profile.roots() if profile is not None and getattr(profile, "allowed_roots", None) else None
    try:
        report = preflight(args.workflow, args.job, outdir=outdir, overwrite=getattr(args, "overwrite", False),
                           allowed_roots=roots)
    except ValidationError as exc:
        _print_issues(exc.report)
        raise
    _print_issues(report)


def cmd_validate(args) -> int:
    from .validate import validate_job

    roots = None
    if args.profile:
        from .profiles import get_profile

        profile = get_profile(args.profile)
        roots = profile.roots() if profile.allowed_roots else None
    report = validate_job(args.workflow, args.job, allowed_roots=roots)
    _print_issues(report)
    if not report.ok:
        return 2
    print(f"{args.job}: valid for {args.workflow}" + (f" ({len(report.warnings)} warnings)" if report.warnings else ""))
    return 0


# ---------------------------------------------------------------- merge
def cmd_merge(args) -> int:
    from .iorw import check_can_write
    from .merge import merge_chunks

    check_can_write(args.output, args.overwrite)
    print(merge_chunks(args.chunks, args.output, overwrite=args.overwrite))
    return 0


# ---------------------------------------------------------------- profiles
def cmd_profiles(args) -> int:
    import shlex

    from .profiles import get_profile, load_profiles, user_file

    if args.name:
        prof = get_profile(args.name)
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in prof.toil_env().items())
        print(f"{prof.name}: {prof.description}")
        print(f"  source:        {prof.source}")
        print(f"  batch system:  {prof.batch_system}")
        print(f"  toil options:  {shlex.join(prof.toil_args()) or '(none)'}")
        print(f"  environment:   {env or '(none)'}")
        print(f"  job store in:  {prof.job_store or '(a new temporary folder)'}")
        print(f"  retry count:   {prof.retry_count if prof.retry_count is not None else '(Toil default)'}")
        print(f"  allowed roots: {', '.join(prof.allowed_roots) or '(any)'}")
        return 0
    profiles = load_profiles()
    width = max(len(n) for n in profiles)
    for prof in profiles.values():
        where = prof.partition or "default partition"
        gpu = f", GPU: {prof.gpu_partition}" if prof.gpu_partition else ""
        print(f"{prof.name:<{width}}  {prof.batch_system}: {where}{gpu}, {prof.time_limit or 'no time limit'}, "
              f"{prof.memory or 'default memory'}  - {prof.description}")
    user = user_file()
    _err(f"user profiles: {user if user else 'none (~/.config/panosc-cwl/profiles.yaml or $PANOSC_CWL_PROFILES)'}")
    return 0


# ---------------------------------------------------------------- notebooks (papermill)
def cmd_notebook_tool(args) -> int:
    from .exceptions import InputError
    from .notebook import check_tools, default_tool_path, write_tool

    if args.check:
        results = check_tools(args.root)
        stale = [r for r in results if r.problem]
        for r in stale:
            _err(f"stale: {r.tool}: {r.problem} (regenerate: panosc-cwl notebook-tool {r.notebook} -o {r.tool})")
        if stale:
            _err(f"{PROG}: error: notebook-tool: {len(stale)} of {len(results)} generated tools out of sync")
            return 1
        print(f"{len(results)} generated tools in sync with their notebooks")
        return 0
    if not args.notebook:
        raise InputError("give a notebook, or --check", field="notebook")
    out = Path(args.output) if args.output else default_tool_path(args.notebook, args.root)
    print(write_tool(args.notebook, out, overwrite=args.overwrite))
    return 0


def cmd_notebook_run(args) -> int:
    from .notebook import NotebookCellError, load_parameters_file, run_notebook

    params = load_parameters_file(args.parameters) if args.parameters else {}
    try:
        res = run_notebook(args.notebook, params, args.output, report=args.report)
    except NotebookCellError as exc:
        bar = "-" * 72
        _err(f"{bar}\nnotebook {args.notebook}: cell {exc.cell_index + 1} failed:\n{bar}")
        _err(exc.source.rstrip())
        _err(bar)
        _err(exc.traceback.rstrip() or f"{exc.ename}: {exc.evalue}")
        _err(bar)
        raise
    _err(f"notebook {args.notebook} ran in {res.seconds:.1f} s")
    print(res.executed)
    if res.report:
        print(res.report)
    return 0


def cmd_simulate_darks(args) -> int:
    from .detector import DetectorSimulation, simulate_detector

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
    from . import facility_formats as ff
    from .simulate import PowderSimulation

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


def _add_facility_format_parsers(sim) -> None:
    """``simulate eiger|bliss|edf-series``: powder frames in the files a beamline's software writes."""
    helps = {"eiger": "DECTRIS Eiger NXmx series: NAME_master.h5 + external-linked NAME_data_00000N.h5",
             "bliss": "ESRF Bliss scan: NAME_0001.h5 with a virtual dataset over LImA chunk files in scan0001/",
             "edf-series": "LImA EDF series: multi-frame DET_000N.edf files"}
    for kind, hlp in helps.items():
        p = sim.add_parser(kind, help=hlp)
        p.add_argument("--calibrant", default="CeO2", help="pyFAI calibrant name (default CeO2)")
        p.add_argument("--detector", help="pyFAI detector name (default Eiger4M, Eiger1M, Pilatus1M)")
        p.add_argument("--frames", type=int, default=3, help="number of frames (default 3)")
        if kind == "edf-series":
            p.add_argument("--frames-per-file", type=int, default=2, help="frames in each EDF file (default 2)")
        else:
            p.add_argument("--files", type=int, default=3 if kind == "eiger" else 4,
                           help="data files (Eiger) or LImA chunk files (Bliss); default 3 / 4")
            p.add_argument("--compression", default="bslz4" if kind == "eiger" else "gzip",
                           choices=["bslz4", "lz4", "zstd", "blosc", "gzip", "none"],
                           help="frame compression (hdf5plugin filters; Eiger default bslz4)")
        p.add_argument("--dtype", default="uint32", choices=["uint16", "uint32"],
                       help="stored pixel type; gaps and dead pixels hold its maximum")
        p.add_argument("--wavelength", type=float, default=1.0, help="wavelength in angstrom (default 1.0)")
        p.add_argument("--distance", type=float, default=100.0, help="sample-detector distance in mm (default 100)")
        p.add_argument("--seed", type=int, default=0, help="random seed of the Poisson noise")
        p.add_argument("--name", help="base name of the files (default: calibrant name)")
        p.add_argument("-o", "--outdir", default=".", help="output folder")
        p.add_argument("--overwrite", action="store_true", help="replace existing files")
        p.set_defaults(func=cmd_simulate_facility)


# ---------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Facility analysis codes as CWL tools and workflows.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    sim = sub.add_parser("simulate", help="write simulated detector data").add_subparsers(
        dest="kind", required=True, parser_class=OneLineParser)
    p = sim.add_parser("powder", help="powder-diffraction frames of a pyFAI calibrant")
    p.add_argument("--calibrant", default="CeO2", help="pyFAI calibrant name (CeO2, LaB6, Si, ...)")
    p.add_argument("--detector", default="Pilatus1M", help="pyFAI detector name (Pilatus1M, Eiger1M, ...)")
    p.add_argument("--frames", type=int, default=10, help="number of frames in the HDF5 stack")
    p.add_argument("--wavelength", type=float, default=1.0, help="wavelength in angstrom (default 1.0)")
    p.add_argument("--distance", type=float, default=100.0, help="sample-detector distance in mm (default 100)")
    p.add_argument("--tilt-deg", type=float, default=0.0, help="detector rotation rot1 in degrees")
    p.add_argument("--imax", type=float, default=2000.0, help="peak height of the rings in counts")
    p.add_argument("--background", type=float, default=20.0, help="flat background in counts")
    p.add_argument("--resolution", type=float, default=0.03, help="ring width (2θ, degrees)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the Poisson noise")
    p.add_argument("--name", help="base name of the files (default: calibrant name)")
    p.add_argument("--edf", type=int, default=1, help="also write this many frames as EDF")
    p.add_argument("--tiff", type=int, default=1, help="also write this many frames as TIFF")
    p.add_argument("-o", "--outdir", default=".", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.set_defaults(func=cmd_simulate_powder)

    p = sim.add_parser("darks", help="dark and data runs of a multi-module detector (pedestal, noise, bad pixels)")
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
    p.set_defaults(func=cmd_simulate_darks)

    _add_facility_format_parsers(sim)

    for dims in (1, 2):
        p = sub.add_parser(f"integrate{dims}d", help=f"pyFAI {'1D pattern' if dims == 1 else '2D cake'} of every frame")
        _integration_args(p, two_d=dims == 2)
        p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
        p.set_defaults(func=lambda a, d=dims: cmd_integrate(a, d))

    p = sub.add_parser("reduce", help="mean/sum pattern and per-frame totals of an integrated stack")
    p.add_argument("input", help="NeXus file from integrate1d")
    p.add_argument("-o", "--output", required=True, help="output NeXus file")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_reduce)

    p = sub.add_parser("plot", help="PNG of a reduced pattern with calibrant reflections marked")
    p.add_argument("input", help="NeXus file from reduce")
    p.add_argument("-o", "--output", required=True, help="output PNG")
    p.add_argument("--calibrant", help="mark this calibrant's reflections")
    p.add_argument("--title")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("run", help="run a CWL workflow or tool with cwltool or Toil")
    p.add_argument("workflow", help="CWL workflow or tool")
    p.add_argument("job", nargs="?", help="job file (YAML/JSON inputs)")
    p.add_argument("--runner", help="cwltool (default; toil with --profile) or toil")
    p.add_argument("--batch-system", help="Toil batch system: single_machine (default) or slurm (default with --profile)")
    p.add_argument("--profile", help="facility profile for Toil (partition, time, memory...): see `panosc-cwl profiles`")
    p.add_argument("--outdir", default="out", help="where outputs go (default ./out)")
    p.add_argument("--retry-count", type=int, help="Toil: retries of a failed step")
    p.add_argument("--restart", action="store_true", help="Toil: resume the run kept in --job-store")
    p.add_argument("--job-store", help="Toil job store (default: a new temporary folder)")
    p.add_argument("-v", "--verbose", action="store_true", help="show the runner's whole log")
    p.add_argument("--overwrite", action="store_true", help="let the run replace files already in --outdir")
    p.add_argument("--provenance", metavar="DIR", help="research-object bundle folder (default OUTDIR/provenance)")
    p.add_argument("--no-provenance", action="store_true", help="no bundle, no NXprocess chain in the outputs")
    p.add_argument("--reference-above", default="100M", metavar="SIZE",
                   help="data larger than this are referenced (location + checksum), not copied into the bundle")
    p.set_defaults(func=cmd_run)

    prv = sub.add_parser("provenance", help="research-object bundles and NXprocess provenance: show, verify, "
                         "to-nexus, rerun, to-rocrate").add_subparsers(dest="action", required=True,
                                                                      parser_class=OneLineParser)
    p = prv.add_parser("show", help="who, when, which workflow, steps with tool versions, data with checksums")
    p.add_argument("source", help="bundle folder or NeXus file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_provenance)
    p = prv.add_parser("verify", help="check a bundle's BagIt checksums; names every file that fails")
    p.add_argument("bundle")
    p.add_argument("--external", action="store_true", help="also re-hash data referenced outside the bundle")
    p.set_defaults(func=cmd_provenance)
    p = prv.add_parser("to-nexus", help="write one NXprocess per workflow step into NeXus files (atomically)")
    p.add_argument("bundle")
    p.add_argument("files", nargs="+", help="NeXus/HDF5 files")
    p.set_defaults(func=cmd_provenance)
    p = prv.add_parser("rerun", help="re-run the workflow recorded in a NeXus file and compare output checksums")
    p.add_argument("file", help="NeXus file with an NXprocess chain")
    p.add_argument("--workdir", help="where to re-run (default: a new temporary folder)")
    p.add_argument("--runner", help="override the recorded runner (cwltool, toil)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_provenance)
    p = prv.add_parser("to-rocrate", help="Workflow Run RO-Crate of a bundle (rocrate library)")
    p.add_argument("bundle")
    p.add_argument("-o", "--output", help="crate folder or .zip (default BUNDLE-rocrate)")
    p.set_defaults(func=cmd_provenance)

    p = sub.add_parser("validate", help="check a job against a CWL tool/workflow before submitting it")
    p.add_argument("workflow", help="CWL workflow or tool")
    p.add_argument("job", help="job file (YAML/JSON inputs)")
    p.add_argument("--profile", help="facility profile whose allowed_roots file inputs must lie under")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("merge", help="join integrated chunks (integrate1d/2d --frame-range) into one stack file")
    p.add_argument("chunks", nargs="+", help="NeXus files from integrate1d/2d --frame-range")
    p.add_argument("-o", "--output", required=True, help="output NeXus file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("profiles", help="list the facility profiles for `run --profile` (packaged + user file)")
    p.add_argument("name", nargs="?", help="show this profile's Toil options and environment")
    p.set_defaults(func=cmd_profiles)

    p = sub.add_parser("notebook-tool", help="generate the CWL tool of a parameterised notebook (papermill)")
    p.add_argument("notebook", nargs="?", help="the .ipynb file")
    p.add_argument("-o", "--output", help="CWL file to write (default: cwl/tools/nb-NAME.cwl under --root)")
    p.add_argument("--check", action="store_true",
                   help="verify every generated tool in cwl/tools is in sync with its notebook")
    p.add_argument("--root", default=".", help="project folder holding cwl/tools (default .)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file that is not a generated tool")
    p.set_defaults(func=cmd_notebook_tool)

    p = sub.add_parser("notebook-run", help="run a notebook with papermill and render its HTML report")
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument("--parameters", help="YAML/JSON file of parameters (CWL File objects become paths)")
    p.add_argument("--output", required=True, help="executed notebook to write")
    p.add_argument("--report", help="HTML report to write (nbconvert)")
    p.set_defaults(func=cmd_notebook_run)
    _add_facility_parsers(sub)
    _add_imaging_parsers(sub)
    return parser


def _add_facility_parsers(sub) -> None:
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


# ---------------------------------------------------------------- coherent imaging and tomography (issue 7)
def cmd_cdi(args) -> int:
    import json

    from . import cdi

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

    from . import tomo

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


def _add_imaging_parsers(sub) -> None:
    """Parsers of cdi / tomo (issue 7)."""
    from .units import CDI_OUTPUT_FORMATS as CDI_FORMATS
    from .units import COR_METHODS, PHASE_METHODS
    from .units import TOMO_BACKENDS as BACKENDS
    from .units import TOMO_OUTPUT_FORMATS as OUTPUT_FORMATS

    cdi = sub.add_parser("cdi", help="coherent diffraction imaging: simulate, reconstruct (cohere-core), plot")
    csub = cdi.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    p = csub.add_parser("simulate", help="|FFT|^2 + Poisson noise of a known complex object, as CXI")
    p.add_argument("--shape", type=int, nargs="+", default=[128, 128], help="2 or 3 sizes (default 128 128)")
    p.add_argument("--photons", type=float, default=1e9, help="total photons in the pattern (default 1e9)")
    p.add_argument("--size", type=float, default=0.3, help="object diameter / array size (default 0.3)")
    p.add_argument("--max-phase", type=float, default=1.0, help="phase range of the object, radians")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help="CXI file to write")
    p.add_argument("--overwrite", action="store_true")
    p = csub.add_parser("reconstruct-cohere", help="phase retrieval with cohere-core (PyNX's option names)")
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
    p = csub.add_parser("plot", help="PNG of amplitude and phase (aligned to the truth if given)")
    p.add_argument("input", help="reconstruction (.cxi or .npz, PyNX or ours)")
    p.add_argument("--truth", help="simulated CXI file holding the true object")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--overwrite", action="store_true")
    p = csub.add_parser("error", help="normalised complex error vs the truth (shift, twin, phase removed), JSON")
    p.add_argument("input", help="reconstruction (.cxi or .npz)")
    p.add_argument("--truth", required=True, help="simulated CXI file")
    cdi.set_defaults(func=cmd_cdi)

    tom = sub.add_parser("tomo", help="tomography: simulate NXtomo, nabu config, reconstruct, score, plot")
    tsub = tom.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    p = tsub.add_parser("simulate", help="Shepp-Logan scan with darks, flats, Poisson noise, as NXtomo")
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
    p = tsub.add_parser("config", help="nabu-config's template with our options filled in")
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
    p = tsub.add_parser("reconstruct", help="nabu CONFIG on a GPU/OpenCL node, else nabu + CPU back-projection")
    p.add_argument("config", help="nabu configuration file")
    p.add_argument("--dataset", help="NXtomo file to use instead of the config's [dataset] location")
    p.add_argument("--backend", default="auto", help=f"{', '.join(BACKENDS)}")
    p.add_argument("-o", "--output", required=True, help="HDF5 volume to write")
    p.add_argument("--overwrite", action="store_true")
    p = tsub.add_parser("score", help="centre-of-rotation error and Pearson r vs the phantom, JSON")
    p.add_argument("input")
    p.add_argument("--truth", required=True, help="truth JSON written by tomo simulate")
    p = tsub.add_parser("plot", help="PNG of the middle slice (beside the phantom if --truth)")
    p.add_argument("input")
    p.add_argument("--truth")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--overwrite", action="store_true")
    tom.set_defaults(func=cmd_tomo)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except PanoscError as exc:
        _err(f"{PROG}: error: {exc.one_line()}")
        return exc.exit_code
    except KeyboardInterrupt:
        _err(f"{PROG}: interrupted")
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
