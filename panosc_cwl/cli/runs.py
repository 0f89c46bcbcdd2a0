"""``runs list|show|outputs``: the run catalogue (:mod:`panosc_cwl.runs`)."""

from __future__ import annotations

import argparse
import json
import os
from datetime import datetime
from pathlib import Path

EPILOG = """example:
  panosc-cwl runs list --workflow powder-xrd --status failed --since 7d
  panosc-cwl runs list --input-sha1 3f786850e387550fdab836ed7e6dc881de23001b --json
  panosc-cwl runs show 20261203T140512-a1b2c3
  panosc-cwl runs outputs 20261203T140512-a1b2c3 | sha1sum -c   # outputs still as recorded?

The catalogue is $PANOSC_CWL_CATALOGUE (a path: SQLite; or postgresql+psycopg://user@host/db),
else ~/.local/share/panosc-cwl/catalogue.sqlite; --catalogue overrides both."""


def _local(t: datetime | None) -> str:
    return t.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _duration(run) -> str:
    if run.started is None:
        return "-"
    end = run.ended or datetime.now(run.started.tzinfo)
    return f"{(end - run.started).total_seconds():.1f} s"


def cmd_runs_list(args) -> int:
    from ..runs import query

    runs = query(workflow=args.workflow, status=args.status, since=args.since, input_sha1=args.input_sha1,
                 catalogue=args.catalogue, limit=args.limit)
    if args.json:
        print(json.dumps([r.to_json() for r in runs], indent=1))
        return 0
    if not runs:
        print("no runs match")
        return 0
    rows = [(r.id, r.status, _local(r.submitted), _duration(r), r.runner or "-", Path(r.workflow_path).name,
             (r.error or "") if r.status in ("failed", "lost") else f"{len(r.outputs)} outputs") for r in runs]
    head = ("ID", "STATUS", "SUBMITTED", "TIME", "RUNNER", "WORKFLOW", "OUTPUTS / ERROR")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    for row in (head, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row[:-1], widths)) + "  " + str(row[-1]))
    return 0


def cmd_runs_show(args) -> int:
    from ..runs import get

    r = get(args.id, catalogue=args.catalogue)
    if args.json:
        print(json.dumps(r.to_json(), indent=1))
        return 0
    print(f"run {r.id}: {r.status}" + (f" ({r.error})" if r.error and r.status != "success" else ""))
    print(f"  workflow:   {r.workflow_path}  (sha1 {r.workflow_sha1 or '?'})")
    print(f"  job:        {r.job_path or '-'}")
    print(f"  user@host:  {r.user}@{r.host}")
    print(f"  runner:     {r.runner} ({r.batch_system})" + (f", profile {r.profile}" if r.profile else ""))
    print(f"  outdir:     {r.outdir}")
    print(f"  log:        {r.log}")
    print(f"  provenance: {r.provenance or '-'}")
    print("  history:    " + ", ".join(f"{c['status']} {_local(c['at'])}" for c in r.status_changes))
    if r.inputs:
        print("  inputs:")
        for i in r.inputs:
            print(f"    {i['name']}: {i['path']}  sha1 {i['sha1'] or '-'}")
    if r.steps:
        print("  steps:")
        for s in r.steps:
            took = f"{(s['end'] - s['start']).total_seconds():.1f} s" if s["start"] and s["end"] else "-"
            job = f"  batch job {s['batch_job_id']}" if s["batch_job_id"] else ""
            print(f"    {s['name']}: {s['status']} ({took}){job}")
    if r.outputs:
        print("  outputs:")
        for o in r.outputs:
            print(f"    {o['name']}: {o['path']}  sha1 {o['sha1'] or '-'}")
    return 0


def cmd_runs_outputs(args) -> int:
    from ..runs import get

    r = get(args.id, catalogue=args.catalogue)
    if args.json:
        print(json.dumps(r.to_json()["outputs"], indent=1))
        return 0
    for o in r.outputs:  # the format of sha1sum: `| sha1sum -c` checks them
        print(f"{o['sha1'] or '-' * 40}  {o['path']}")
    return 0


def add_catalogue_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalogue", metavar="URL", default=os.environ.get("PANOSC_CWL_CATALOGUE"),
                   help="run catalogue: SQLite path or database URL (default $PANOSC_CWL_CATALOGUE, "
                        "else ~/.local/share/panosc-cwl/catalogue.sqlite)")


def add_parsers(sub) -> None:
    p = sub.add_parser("runs", help="find recorded runs in the run catalogue (list, show, outputs)",
                       description="Every run (panosc-cwl run, the Python API, the watcher) is recorded in the "
                                   "run catalogue; these commands query it.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    rsub = p.add_subparsers(dest="runs_command", required=True, parser_class=type(p))

    ls = rsub.add_parser("list", help="runs matching all filters given, newest first", epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    ls.add_argument("--workflow", metavar="W",
                    help="a CWL file (same path or same content), part of its path, or its SHA-1 prefix")
    ls.add_argument("--status", metavar="S", help="queued, running, success, failed, cancelled or lost (its process was killed)")
    ls.add_argument("--since", metavar="DATE", help="submitted since DATE (2026-11-30, 2026-11-30T14:00) or an age (12h, 7d)")
    ls.add_argument("--input-sha1", metavar="H", help="runs that read a file with this SHA-1 (or prefix)")
    ls.add_argument("--limit", type=int, help="at most this many runs")
    ls.add_argument("--json", action="store_true", help="JSON (all fields) instead of a table")
    add_catalogue_option(ls)
    ls.set_defaults(func=cmd_runs_list)

    show = rsub.add_parser("show", help="one run: history, inputs and steps with checksums and batch job ids",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("id", help="run id (or a unique start of it)")
    show.add_argument("--json", action="store_true")
    add_catalogue_option(show)
    show.set_defaults(func=cmd_runs_show)

    out = rsub.add_parser("outputs", help="a run's output files with SHA-1 (sha1sum format)", epilog=EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    out.add_argument("id", help="run id (or a unique start of it)")
    out.add_argument("--json", action="store_true")
    add_catalogue_option(out)
    out.set_defaults(func=cmd_runs_outputs)
