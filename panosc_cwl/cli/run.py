"""``run``, ``validate``, ``profiles``: workflows through the run API (:mod:`panosc_cwl.api`)."""

from __future__ import annotations

import re
import time

from .common import _err, _print_issues, command

_PROGRESS = re.compile(r"\[(step|workflow|job) ([^\]]+)\] (start|completed \w+)|Issued job|Job ended|completed")


class RunPrinter:
    """Prints a run's pipeline events on stderr, as ``panosc-cwl run`` always has."""

    def __init__(self, verbose: bool):
        self.verbose = verbose
        self.t0 = time.monotonic()

    def __call__(self, kind: str, value) -> None:
        if kind == "located":
            _err(f"{value[0]} -> {value[1]}")
        elif kind == "issue":
            _err(value.one_line())
        elif kind == "note":
            _err(value)
        elif kind == "command":
            _err(f"$ {value.shell()}")
            self.t0 = time.monotonic()
        elif kind == "line":
            self.line(value)
        elif kind == "finished":
            _err(f"finished in {value[0]:.1f} s; log: {value[1]}")
        elif kind == "provenance":
            chain = (f"; NXprocess chain written into {', '.join(e.path.name for e in value.nexus)}"
                     if value.nexus else "")  # a run without NeXus outputs has only the bundle
            _err(f"provenance: {value.bundle} ({value.seconds:.1f} s){chain}")

    def line(self, line: str) -> None:
        if self.verbose:
            _err(line)
            return
        m = _PROGRESS.search(line)
        if m and m.group(1):
            _err(f"  [{time.monotonic() - self.t0:6.1f} s] {m.group(1)} {m.group(2)}: {m.group(3)}")


def cmd_run(args) -> int:
    from ..api import run_workflow

    prov = False if args.no_provenance else (args.provenance or True)
    run = run_workflow(args.workflow, args.job, runner=args.runner, profile=args.profile, outdir=args.outdir,
                       provenance=prov, overwrite=args.overwrite, reference_above=args.reference_above,
                       on_event=RunPrinter(args.verbose), batch_system=args.batch_system,
                       retry_count=args.retry_count, restart=args.restart, job_store=args.job_store,
                       catalogue=args.catalogue, allow_unknown=args.allow_unknown,
                       extra_args=getattr(args, "runner_args", None) or [])
    if run.status == "cancelled":  # by Run.cancel() in another process (a notebook following this run)
        raise KeyboardInterrupt(run.error)
    for path in run.output_files():
        print(path)
    return 0

def cmd_validate(args) -> int:
    from ..validate import validate_job

    roots = None
    if args.profile:
        from ..profiles import get_profile

        profile = get_profile(args.profile)
        roots = profile.roots() if profile.allowed_roots else None
    report = validate_job(args.workflow, args.job, allowed_roots=roots, allow_unknown=args.allow_unknown)
    _print_issues(report)
    if not report.ok:
        return 2
    print(f"{args.job}: valid for {args.workflow}" + (f" ({len(report.warnings)} warnings)" if report.warnings else ""))
    from ..gpu import plan

    for line in plan(args.workflow, batch_system="slurm" if args.profile else "single_machine").notes():
        print(line)
    return 0


# ---------------------------------------------------------------- profiles
def cmd_profiles(args) -> int:
    import shlex

    from ..profiles import get_profile, load_profiles, user_file

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



def add_run_parser(sub) -> None:
    p = command(sub, "run", "run a CWL workflow or tool with cwltool or Toil",
                ["panosc-cwl powder simulate --calibrant CeO2 --frames 20 -o data/ceo2 --overwrite",
                 "panosc-cwl run cwl/workflows/powder-xrd.cwl jobs/powder-xrd-ceo2.yml --outdir out/powder-xrd",
                 "panosc-cwl run cwl/workflows/euxfel-agipd.cwl jobs/euxfel-agipd.yml --outdir out/euxfel -- --parallel"],
                description="Run a CWL workflow or tool with cwltool or Toil. Options after `--` go to the "
                            "runner unchanged, e.g. `panosc-cwl run WF JOB -- --parallel` (cwltool) or "
                            "`-- --maxCores 2` (Toil); the printed command shows them.")
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
    p.add_argument("--allow-unknown", action="store_true",
                   help="run a job that names inputs the workflow does not have (the runner drops them)")
    p.add_argument("--provenance", metavar="DIR", help="research-object bundle folder (default OUTDIR/provenance)")
    p.add_argument("--no-provenance", action="store_true", help="no bundle, no NXprocess chain in the outputs")
    p.add_argument("--reference-above", default="100M", metavar="SIZE",
                   help="data larger than this are referenced (location + checksum), not copied into the bundle")
    from .runs import add_catalogue_option

    add_catalogue_option(p)
    p.set_defaults(func=cmd_run)



def add_validate_parser(sub) -> None:
    p = command(sub, "validate", "check a job against a CWL tool/workflow before submitting it",
                "panosc-cwl validate cwl/workflows/powder-xrd.cwl jobs/powder-xrd-ceo2.yml")
    p.add_argument("workflow", help="CWL workflow or tool")
    p.add_argument("job", help="job file (YAML/JSON inputs)")
    p.add_argument("--profile", help="facility profile whose allowed_roots file inputs must lie under")
    p.add_argument("--allow-unknown", action="store_true", help="an input name the workflow lacks is a warning, not an error")
    p.set_defaults(func=cmd_validate)



def add_profiles_parser(sub) -> None:
    p = command(sub, "profiles", "list the facility profiles for `run --profile` (packaged + user file)",
                ["panosc-cwl profiles", "panosc-cwl profiles desy-maxwell"])
    p.add_argument("name", nargs="?", help="show this profile's Toil options and environment")
    p.set_defaults(func=cmd_profiles)

