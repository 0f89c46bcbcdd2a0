"""What does running a notebook as a CWL step cost on top of running it with papermill?

One run, same notebook, same parameters, interleaved repeats (median reported):

1. bare ``papermill IN OUT -f params.yaml`` (its CLI, interpreter start included);
2. ``panosc-cwl notebook-run`` - what the generated tool executes: papermill + the nbconvert HTML report;
3. ``cwltool`` on the generated tool (``panosc-cwl notebook-tool``), i.e. a workflow step;
4. optionally (``--toil``) ``toil-cwl-runner --batchSystem single_machine`` on the same tool.

The notebook is a small parameterised one (a few parameters, numpy, a short computation writing a
file) unless ``--notebook`` names another (it must run with its own defaults plus ``--set`` values).
Usage: ``.venv/bin/python benchmarks/notebook_overhead.py [--repeats 5] [--toil]``
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

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from panosc_cwl.notebook import write_tool

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

PARAMS = "n = 1000  # points\nscale = 2.0  # factor\nlabel = 'bench'  # name\noutput = 'result.txt'  # file written\n"
BODY = ("import numpy as np\nx = np.linspace(0, scale, n)\nvalue = float(np.trapz(x ** 2, x)) if hasattr(np, 'trapz') "
        "else float(np.trapezoid(x ** 2, x))\nopen(output, 'w').write(f'{label} {value:.6f}\\n')\nprint(value)")


def make_notebook(folder: Path) -> Path:
    nb = new_notebook(cells=[new_markdown_cell("# Benchmark notebook\nIntegrates x² and writes the result."),
                             new_code_cell(PARAMS, metadata={"tags": ["parameters"]}), new_code_cell(BODY)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                "panosc_cwl": {"outputs": {"result": {"glob": "$(inputs.output)"}}}})
    path = folder / "notebooks" / "bench.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


def timed(argv: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--toil", action="store_true", help="also time toil-cwl-runner (about 10 s per run)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp:
        base = Path(tmp)
        nb = make_notebook(base)
        (base / "cwl" / "tools").mkdir(parents=True)
        tool = write_tool(nb, base / "cwl" / "tools" / "nb-bench.cwl")
        params = base / "params.yaml"
        params.write_text("n: 5000\nscale: 3.0\nlabel: run\n")
        cases = {
            "papermill (bare CLI)": lambda d: [str(BIN / "papermill"), "--no-progress-bar", str(nb), "out.ipynb",
                                               "-f", str(params)],
            "panosc-cwl notebook-run (papermill + HTML)": lambda d: [
                str(BIN / "panosc-cwl"), "notebook-run", str(nb), "--parameters", str(params),
                "--output", "out.ipynb", "--report", "out.html"],
            "cwltool, generated tool": lambda d: [str(BIN / "cwltool"), "--quiet", "--outdir", "out", str(tool),
                                                  str(params)],
        }
        if args.toil:
            cases["toil-cwl-runner single_machine"] = lambda d: [
                str(BIN / "toil-cwl-runner"), "--batchSystem", "single_machine", "--jobStore", str(d / "js"),
                "--outdir", "out", "--logLevel", "ERROR", str(tool), str(params)]
        times: dict[str, list[float]] = {k: [] for k in cases}
        timed(cases["papermill (bare CLI)"](base), base)  # warm caches (kernel spec, matplotlib, .pyc)
        for i in range(args.repeats):
            for name, argv in cases.items():
                run_dir = base / f"run-{i}-{len(times[name])}-{abs(hash(name))}"
                run_dir.mkdir()
                times[name].append(timed(argv(run_dir), run_dir))
    bare = statistics.median(times["papermill (bare CLI)"])
    print(f"notebook step overhead, {args.repeats} repeats (median, min, max in seconds); load average "
          f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    print("| how | median | min | max | overhead vs bare papermill |")
    print("|---|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.2f} | {min(ts):.2f} | {max(ts):.2f} | {med - bare:+.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
