"""The watcher (``panosc-cwl watch``): latency from "run complete" to "submitted", and its idle CPU.

1. Idle: 10 000 existing run folders (``raw/rNNNNN/`` with a ``RUN_COMPLETE`` marker) that the
   catalogue (SQLite) already lists as processed. The watcher polls them for ``--idle-seconds`` at
   the rules' poll interval; we report its CPU time per wall second (goal < 2 % of one core) and
   the time of one poll, with and without the parent folder's mtime check (``FolderScanner``
   skips listing a folder whose mtime has not changed).
2. Latency: while the watcher polls every ``--poll`` s, new run folders appear at random moments
   and get their marker; for each we take the time from writing the marker to (a) the claim (the
   watcher has claimed the dataset in the catalogue and started its run process) and (b) the
   run's state file saying ``submitted`` (``panosc_cwl.api.submit`` returned in the run process).
   Goal: (b) < 2 x the poll interval. The workflow is a one-``echo`` CWL tool under cwltool, so
   the runs themselves cost little.

Usage: ``.venv/bin/python benchmarks/watch_latency.py [--folders 10000] [--poll 2] [--new 6]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"

TOOL = """cwlVersion: v1.2
class: CommandLineTool
label: Echo
doc: Writes the dataset's name into a file; the smallest tool worth running.
inputs:
  name: {type: string, label: Name, doc: Dataset name.}
baseCommand: echo
arguments: [$(inputs.name)]
stdout: name.txt
outputs:
  out: {type: stdout, label: Name file, doc: The file echo wrote.}
"""


def write_rules(work: Path, poll: float) -> Path:
    (work / "echo.cwl").write_text(TOOL)
    (work / "template.yml").write_text('name: "{name}"\n')
    rules = work / "rules.yaml"
    rules.write_text(f"""poll_seconds: {poll}
rules:
  bench:
    root: {work / 'beamtime'}
    match: raw/r*/
    marker: RUN_COMPLETE
    workflow: echo.cwl
    job: template.yml
    runner: cwltool
    max_in_flight: 8
    max_attempts: 1
    provenance: false
""")
    return rules


def make_existing(work: Path, n: int, url: str) -> None:
    """``n`` run folders with their marker, all recorded as succeeded in the catalogue (one transaction)."""
    from panosc_cwl.catalogue import open_catalogue
    from panosc_cwl.catalogue.models import DatasetRecord
    from panosc_cwl.catalogue import utcnow
    from panosc_cwl.watch import load_rules, workflow_sha1

    raw = work / "beamtime" / "raw"
    raw.mkdir(parents=True)
    keys = []
    for i in range(n):
        d = raw / f"r{i:05d}"
        d.mkdir()
        (d / "RUN_COMPLETE").write_text("")
        keys.append(str(d))
    old = time.time() - 3600
    os.utime(raw, (old, old))
    rule = load_rules(work / "rules.yaml").rule("bench")
    sha1 = workflow_sha1(rule.workflow)
    now = utcnow()
    with open_catalogue(url) as cat, cat.session() as s:
        s.add_all([DatasetRecord(rule="bench", dataset_key=k, workflow_sha1=sha1, status="succeeded", attempts=1,
                                 owner="benchmark", claimed_at=now, updated_at=now) for k in keys])


def idle(work: Path, url: str, seconds: float, poll: float) -> dict:
    from panosc_cwl.watch import Watcher, load_rules

    watcher = Watcher(load_rules(work / "rules.yaml"), catalogue_url=url)
    t0, c0 = time.perf_counter(), time.process_time()
    watcher.start()
    watcher.poll()  # the first poll lists the 10 000 folders once
    startup = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
    polls, t_end = [], time.monotonic() + seconds
    w0, c0 = time.perf_counter(), time.process_time()
    while time.monotonic() < t_end:
        p0 = time.perf_counter()
        events = watcher.poll()
        polls.append(time.perf_counter() - p0)
        assert not events, events  # nothing new: the watcher must not claim a processed folder
        time.sleep(max(0.0, poll - (time.perf_counter() - p0)))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    # the same polls without the parent-folder mtime check: every poll lists the 10 000 entries
    rs = next(iter(watcher.state.values()))
    relist = []
    for _ in range(5):
        rs.scanner._cache.clear()
        p0 = time.perf_counter()
        watcher.poll()
        relist.append(time.perf_counter() - p0)
    return {"startup": startup, "cpu_pct": 100 * cpu / wall, "polls": len(polls),
            "poll_ms": 1000 * statistics.median(polls), "relist_ms": 1000 * statistics.median(relist)}


def latency(work: Path, url: str, poll: float, n_new: int) -> dict:
    from panosc_cwl.api import runs_dir
    from panosc_cwl.watch import Watcher, load_rules, run_id_for

    watcher = Watcher(load_rules(work / "rules.yaml"), catalogue_url=url)
    claimed: dict[str, float] = {}
    stop = threading.Event()

    def on_event(ev):
        if ev.kind == "claimed":
            claimed[ev.dataset] = ev.time

    thread = threading.Thread(target=watcher.run, args=(on_event,), kwargs={"stop": stop}, daemon=True)
    thread.start()
    time.sleep(2 * poll)
    rng = random.Random(1)
    marked: dict[str, float] = {}
    raw = work / "beamtime" / "raw"
    for i in range(n_new):
        d = raw / f"r9{i:04d}"
        d.mkdir()
        (d / "data.bin").write_bytes(os.urandom(1024))
        time.sleep(rng.uniform(0.3, 1.5) * poll)  # random phase against the poll
        marked[str(d)] = time.time()
        (d / "RUN_COMPLETE").write_text("")
    end = time.monotonic() + 120
    rs = next(iter(watcher.state.values()))
    submitted: dict[str, float] = {}
    while time.monotonic() < end and len(submitted) < n_new:
        for key in marked:
            if key in claimed and key not in submitted:
                state = runs_dir() / f"{run_id_for('bench', key, rs.sha1, 1)}.json"
                if state.is_file():
                    submitted[key] = json.loads(state.read_text())["submitted"]
        time.sleep(0.05)
    stop.set()
    thread.join(30)
    # let the echo runs end before the folder goes
    end = time.monotonic() + 120
    while time.monotonic() < end and watcher.cat.in_flight("bench"):
        time.sleep(0.5)
    to_claim = [claimed[k] - t for k, t in marked.items() if k in claimed]
    to_submit = [submitted[k] - t for k, t in marked.items() if k in submitted]
    return {"n": n_new, "claimed": len(to_claim), "submitted": len(to_submit), "to_claim": to_claim,
            "to_submit": to_submit}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folders", type=int, default=10_000)
    ap.add_argument("--poll", type=float, default=2.0, help="poll interval for the latency part (s)")
    ap.add_argument("--idle-poll", type=float, default=10.0, help="poll interval for the idle part (s, the default)")
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--new", type=int, default=6, help="new run folders in the latency part")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="watch-bench-") as tmp:
        work = Path(tmp)
        os.environ["PANOSC_CWL_RUNS"] = str(work / "runs")
        url = str(work / "catalogue.sqlite")
        write_rules(work, args.idle_poll)
        t0 = time.perf_counter()
        make_existing(work, args.folders, url)
        print(f"set-up: {args.folders} run folders + catalogue records in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        res = idle(work, url, args.idle_seconds, args.idle_poll)
        write_rules(work, args.poll)
        lat = latency(work, url, args.poll, args.new)
    load = os.getloadavg()[0]
    print(f"\nload average at the end: {load:.1f} (2 cores)\n")
    print(f"| idle watcher over {args.folders} processed run folders | value | goal |")
    print("|---|---:|---|")
    print(f"| start-up (catalogue read + first listing), wall / CPU | {res['startup']['wall']:.2f} s / "
          f"{res['startup']['cpu']:.2f} s | |")
    print(f"| CPU while idle, poll every {args.idle_poll:g} s ({res['polls']} polls) | **{res['cpu_pct']:.3f} %** of one core"
          f" | < 2 % |")
    print(f"| one idle poll (parent folder unchanged: one stat) | {res['poll_ms']:.3f} ms | |")
    print(f"| one poll listing all {args.folders} entries (mtime check off) | {res['relist_ms']:.1f} ms | |")
    print(f"| CPU if every poll listed them, at {args.idle_poll:g} s | "
          f"{100 * res['relist_ms'] / 1000 / args.idle_poll:.2f} % | < 2 % |")
    print()
    print(f"| marker written -> ... (poll {args.poll:g} s, {lat['n']} new runs) | median s | max s | goal |")
    print("|---|---:|---:|---|")
    for name, key in (("claimed, run process started", "to_claim"), ("`submitted` (run state written)", "to_submit")):
        vals = lat[key]
        if vals:
            print(f"| {name} ({len(vals)}/{lat['n']}) | {statistics.median(vals):.2f} | {max(vals):.2f} | "
                  f"< {2 * args.poll:g} s |")
        else:
            print(f"| {name} | none | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
