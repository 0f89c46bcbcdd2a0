"""``watch`` and ``trigger``: automatic processing of new data (:mod:`panosc_cwl.watch`)."""

from __future__ import annotations

import argparse
import os
import time

from .common import _err

WATCH_EXAMPLE = """example:
  panosc-cwl watch jobs/watch-powder.yaml            # poll until Ctrl-C
  panosc-cwl watch jobs/watch-powder.yaml --status   # what was processed, what failed
  panosc-cwl trigger powder /gpfs/current/p2222/raw/r0013 --rules jobs/watch-powder.yaml

rules file (paths relative to it):
  poll_seconds: 10
  rules:
    powder:
      root: /gpfs/current/p2222            # where 'match' starts
      match: raw/r*/                       # new dataset folders
      marker: RUN_COMPLETE                 # and/or quiet_seconds: 60
      master: "*_master.h5"                # {master} in the job template
      workflow: cwl/workflows/powder-xrd.cwl
      job: jobs/templates/powder.yml
      profile: desy-maxwell
      max_in_flight: 4
      max_attempts: 2
      outputs_beside_data: true            # <dataset>/processed/powder/

The catalogue is --catalogue, else the rules file's 'catalogue:', else $PANOSC_CWL_CATALOGUE,
else the default SQLite file; watchers sharing a catalogue also share $PANOSC_CWL_RUNS."""


def _print_event(ev) -> None:
    stamp = time.strftime("%H:%M:%S", time.localtime(ev.time))
    _err(f"[{stamp}] {ev.one_line()}")


def cmd_watch(args) -> int:
    from ..watch import Watcher, load_rules, status

    rules = load_rules(args.rules)
    if args.status:
        rows = status(rules, catalogue_url=args.catalogue)
        for r in rows:
            attempt = f"{r.attempt}" if r.attempt is not None else "-"
            print(f"{r.rule}\t{r.status}\t{attempt}\t{r.dataset}\t{r.run_id or '-'}\t{r.reason or ''}".rstrip())
        counts = {}
        for r in rows:
            counts[r.status] = counts.get(r.status, 0) + 1
        _err(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no dataset recorded yet")
        return 0
    if args.poll is not None:
        from dataclasses import replace

        rules = replace(rules, poll_seconds=args.poll)
    watcher = Watcher(rules, catalogue_url=args.catalogue)
    names = ", ".join(f"{r.name} ({r.root}/{r.match})" for r in rules.rules.values())
    _err(f"watching {names} every {rules.poll_seconds:g} s; Ctrl-C stops watching (runs go on)")
    watcher.run(_print_event, max_seconds=args.for_seconds)
    return 0


def cmd_trigger(args) -> int:
    from ..api import runs_dir
    from ..watch import load_rules, trigger

    if not args.rules:
        _err("panosc-cwl: error: trigger: --rules: give the rules file (or set $PANOSC_CWL_RULES)")
        return 2
    rules = load_rules(args.rules)
    ev = trigger(rules, args.rule, args.path, catalogue_url=args.catalogue, wait_slot=args.wait_slot)
    if ev.kind != "claimed":
        _err(ev.one_line())
        return 0
    state = runs_dir() / f"{ev.run_id}.json"
    end = time.monotonic() + 60
    while not state.is_file() and time.monotonic() < end:
        time.sleep(0.1)
    _err(ev.one_line())
    print(ev.run_id)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("watch", help="start workflows by themselves for new, complete data folders (rules file)",
                       epilog=WATCH_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rules", help="rules file (YAML): which folders start which workflow")
    p.add_argument("--status", action="store_true", help="list the datasets processed, in flight and failed; exit")
    p.add_argument("--catalogue", help="catalogue URL or SQLite path (default: rules file, $PANOSC_CWL_CATALOGUE)")
    p.add_argument("--poll", type=float, help="poll interval in seconds (default: the rules file's poll_seconds)")
    p.add_argument("--for", dest="for_seconds", type=float, metavar="SECONDS",
                   help="stop watching after this many seconds (runs go on)")
    p.set_defaults(func=cmd_watch)

    t = sub.add_parser("trigger", help="a scan ended: process this dataset folder now with RULE (once)",
                       epilog="example:\n  panosc-cwl trigger powder /data/p2222/raw/r0013 --rules jobs/watch-powder.yaml",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("rule", help="rule name in the rules file")
    t.add_argument("path", help="the dataset folder")
    t.add_argument("--rules", default=os.environ.get("PANOSC_CWL_RULES"), help="rules file (default $PANOSC_CWL_RULES)")
    t.add_argument("--catalogue", help="catalogue URL or SQLite path (default: rules file, $PANOSC_CWL_CATALOGUE)")
    t.add_argument("--wait-slot", type=float, metavar="SECONDS",
                   help="give up if the rule has no free slot (max_in_flight) within this time (default: wait)")
    t.set_defaults(func=cmd_trigger)
