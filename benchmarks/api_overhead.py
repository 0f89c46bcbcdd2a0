"""What does the run API cost? ``submit`` return time, and a whole run through the API vs the bare runner.

One run, interleaved repeats, medians:

1. ``submit(...)`` return time (the run goes on in a background thread): goal < 0.3 s;
2. the bare runner: ``cwltool --outdir OUT TOOL JOB`` as a subprocess (what the API starts);
3. ``run_workflow(TOOL, JOB, provenance=False, preflight=False)``: the same runner command through the
   API (thread, state file, log streaming, step parsing), to compare with 2: goal < 0.1 s per run;
4. ``run_workflow(TOOL, JOB, provenance=False)``: 3 plus pre-flight validation of the job.

The tool is a trivial CWL tool (one ``echo``), so the runner's own time is small and the difference
is the API's. Usage: ``.venv/bin/python benchmarks/api_overhead.py [--repeats 7]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"

TOOL = """cwlVersion: v1.2
class: CommandLineTool
label: Echo
doc: Writes a greeting into a file; the smallest tool worth running.
inputs:
  name: {type: string, label: Name, doc: Who to greet.}
baseCommand: echo
arguments: [hello, $(inputs.name)]
stdout: greeting.txt
outputs:
  greeting: {type: stdout, label: Greeting, doc: The file echo wrote.}
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    import panosc_cwl

    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        work = Path(tmp)
        os.environ["PANOSC_CWL_RUNS"] = str(work / "runs")
        tool = work / "echo.cwl"
        tool.write_text(TOOL)
        job = work / "job.yml"
        job.write_text("name: world\n")
        cwltool = str(BIN / "cwltool")
        times: dict[str, list[float]] = {"submit return": [], "bare cwltool": [], "run_workflow": [],
                                         "run_workflow + pre-flight": []}
        outside: list[float] = []  # run_workflow wall time minus its runner process's wall time
        panosc_cwl.run_workflow(tool, job, outdir=work / "warm", provenance=False)  # imports, caches
        for i in range(args.repeats):
            t0 = time.perf_counter()
            run = panosc_cwl.submit(tool, job, outdir=work / f"s{i}", provenance=False, preflight=False)
            times["submit return"].append(time.perf_counter() - t0)
            run.wait()
            t0 = time.perf_counter()
            subprocess.run([cwltool, "--outdir", str(work / f"b{i}"), str(tool), str(job)], check=True,
                           capture_output=True)
            times["bare cwltool"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run = panosc_cwl.run_workflow(tool, job, outdir=work / f"a{i}", provenance=False, preflight=False)
            times["run_workflow"].append(time.perf_counter() - t0)
            outside.append(times["run_workflow"][-1] - run._state["runner_seconds"])
            assert (work / f"a{i}" / "greeting.txt").read_text() == "hello world\n"
            t0 = time.perf_counter()
            panosc_cwl.run_workflow(tool, job, outdir=work / f"p{i}", provenance=False)
            times["run_workflow + pre-flight"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    bare = med["bare cwltool"]
    print(f"| case | median (s) | min (s) | max (s) | vs bare cwltool |  ({args.repeats} repeats)")
    print("|---|---:|---:|---:|---:|")
    for k, v in times.items():
        rel = "" if k == "submit return" else f"{med[k] / bare:.3f} ({med[k] - bare:+.3f} s)"
        print(f"| {k} | {med[k]:.3f} | {min(v):.3f} | {max(v):.3f} | {rel} |")
    over = med["run_workflow"] - bare
    print(f"\nsubmit returns in {med['submit return'] * 1000:.1f} ms (goal < 300 ms); API overhead "
          f"{over * 1000:+.0f} ms per run vs bare cwltool (goal < 100 ms); time run_workflow spends outside "
          f"its runner process: median {statistics.median(outside) * 1000:.0f} ms (max {max(outside) * 1000:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
