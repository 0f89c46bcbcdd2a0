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
        self.start = self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - self.last >= self.interval:
            self.last = now
            rate = done / max(now - self.start, 1e-9)
            _err(f"{self.label}: {done}/{total} frames ({rate:.0f} frames/s)")


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
    from .integrate import ERROR_MODELS, UNITS

    p.add_argument("--frames", nargs="+", required=True, help="HDF5 stack(s) or EDF/TIFF frames")
    p.add_argument("--dataset", help="dataset path of the frames inside HDF5 files, e.g. /entry/data/data")
    p.add_argument("--poni", required=True, help="pyFAI PONI geometry file")
    p.add_argument("--npt", type=int, default=1000, help="number of radial bins (default 1000)")
    if two_d:
        p.add_argument("--npt-azim", type=int, default=360, help="number of azimuthal bins (default 360)")
    p.add_argument("--unit", default="2th_deg", help=f"radial unit: {', '.join(UNITS)}")
    p.add_argument("--mask", help="mask image (non-zero = masked)")
    p.add_argument("--dark", help="dark-current image, subtracted")
    p.add_argument("--flat", help="flat-field image, divided")
    p.add_argument("--polarization", type=float, help="polarization factor in [-1, 1] (0.99 at synchrotrons)")
    p.add_argument("--error-model", default="poisson", choices=ERROR_MODELS, help="uncertainty model")
    p.add_argument("--method", default="csr", choices=["csr", "histogram", "full-csr", "opencl"],
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

    check_unit(args.unit)
    check_can_write(args.output, args.overwrite)
    settings = IntegrationSettings(npt=args.npt, unit=args.unit, npt_azim=getattr(args, "npt_azim", 360),
                                   polarization_factor=args.polarization, error_model=args.error_model,
                                   method=METHODS[args.method])
    res = integrate_stack(args.frames, args.poni, settings, dataset=args.dataset, mask=args.mask,
                          dark=args.dark, flat=args.flat, dims=dims, frame_range=_frame_range(args),
                          progress=None if args.quiet else Progress(f"integrate{dims}d"))
    out = write_integrated(res, args.output, args.poni, overwrite=args.overwrite)
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
    _preflight(args, profile, outdir)
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
    for path in output_files(result.outputs):
        print(path)
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
    p.set_defaults(func=cmd_run)

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
    return parser


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
