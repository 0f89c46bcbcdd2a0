"""Fixed cost of each step of the README job, and the README job against a trivial cwltool run.

For every `panosc-cwl` step of ``cwl/workflows/powder-xrd.cwl`` (integrate, reduce, plot, report)
this times, each in a fresh process and on ONE frame so the science is negligible:

* ``bare``: a short Python script doing the same library calls (h5py read, pyFAI ``integrate1d``,
  numpy mean, pyFAI calibrant + matplotlib, papermill + nbconvert), imports included;
* ``cli``: the ``panosc-cwl`` command the CWL tool runs;
* ``cwl``: the CWL tool itself under cwltool (cwltool's own start-up included).

fixed = cli - bare (what panosc-cwl adds to the step), and cwl - trivial - bare (what the step
costs under cwltool above a trivial one-command tool and the bare calls). Then the README job
exactly as the README runs it: ``panosc-cwl powder simulate --calibrant CeO2 --frames 20 -o
data/ceo2``, the repository's ``jobs/powder-xrd-ceo2.yml`` (copied beside that ``data/``), and
``panosc-cwl run cwl/workflows/powder-xrd.cwl jobs/powder-xrd-ceo2.yml --outdir out/...`` into a
new output folder each time (no ``--overwrite``; provenance, catalogue and run state as a new user
gets them: a catalogue of its own per venv, created by the first run), each run right after a
trivial cwltool tool run, so every README run has its own yardstick taken under the same load.
Figures are the minimum of ``--repeat`` runs (the machine may be shared); every README run is
listed in run order (the first one created the catalogue).

Run ``python benchmarks/step_overhead.py`` (the venv of the running Python), or
``--venv /other/.venv`` to measure another checkout's installed code. ``--venv A --venv B``
measures both **interleaved** (A, B, A, B...: the same load for both, "before" and "after"), and
checks that their README-job outputs are the same data (``compare_outputs.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TRIVIAL_CWL = """cwlVersion: v1.2
class: CommandLineTool
baseCommand: [echo, hello]
inputs: []
outputs: []
"""

BARE_INTEGRATE = """
import sys, h5py, pyFAI
frames, poni, out = sys.argv[1:4]
ai = pyFAI.load(poni)
with h5py.File(frames, "r") as f:
    img = f["/entry/data/data"][0]
res = ai.integrate1d(img, 2000, unit="2th_deg", method=("bbox", "csr", "cython"), dummy=-1, delta_dummy=0.5,
                     error_model="poisson")
with h5py.File(out, "w") as f:
    f["radial"], f["I"], f["I_errors"] = res.radial, res.intensity[None], res.sigma[None]
"""

BARE_REDUCE = """
import sys, h5py, numpy as np
src, out = sys.argv[1:3]
with h5py.File(src, "r") as f:
    g = f["entry/integrated"]
    I, E, r = g["I"][()], g["I_errors"][()], g["radial_axis"][()]
with h5py.File(out, "w") as f:
    f["mean"], f["sum"] = I.mean(axis=0), I.sum(axis=0)
    f["mean_errors"] = np.sqrt((E ** 2).sum(axis=0)) / len(I)
    f["frame_total"] = (I * np.abs(np.gradient(r))).sum(axis=1)
"""

BARE_PLOT = """
import sys, h5py, numpy as np
import pyFAI.calibrant
from matplotlib.figure import Figure
from matplotlib.backends.backend_agg import FigureCanvasAgg
src, out = sys.argv[1:3]
with h5py.File(src, "r") as f:
    r, I = f["entry/mean/two_theta"][()], f["entry/mean/I"][()]
    t = f["entry/frame_total/total"][()]
    wl = float(f["entry/instrument/monochromator/wavelength"][()]) * 1e-10
cal = pyFAI.calibrant.get_calibrant("CeO2")
cal.wavelength = wl
pos = np.degrees(cal.get_2th())
fig = Figure(figsize=(9, 6.5), layout="constrained")
FigureCanvasAgg(fig)
ax, ax2 = fig.subplots(2, 1, height_ratios=[3, 1])
ax.plot(r, I, lw=0.8, color="k")
for p in pos[(pos >= r.min()) & (pos <= r.max())]:
    ax.axvline(p, color="tab:red", lw=0.7, ls="--")
ax2.plot(t, "o-")
fig.savefig(out, dpi=110, format="png")
"""

BARE_REPORT = """
import sys, papermill, nbformat
from nbconvert import HTMLExporter
nb, reduced, out = sys.argv[1:4]
ex = papermill.execute_notebook(nb, out + ".ipynb", parameters={"reduced": reduced, "calibrant": "CeO2",
                                "window_bins": 3, "output": "peaks.csv"}, progress_bar=False, log_output=False)
body, _ = HTMLExporter().from_notebook_node(ex)
open(out + ".html", "w").write(body)
"""


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall


def once(cmd: list[str], cwd: Path, env: dict | None = None, clean=None) -> float:
    if clean:
        clean()
    return timed(cmd, cwd, env)


class Venv:
    """One checkout's installed code, and every time measured for it."""

    def __init__(self, path: str, work: Path, label: str):
        self.path = Path(path).resolve()
        self.label = label
        bin_ = self.path / "bin"
        self.py, self.pcwl, self.cwltool = str(bin_ / "python"), str(bin_ / "panosc-cwl"), str(bin_ / "cwltool")
        self.env = dict(os.environ, PATH=f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}")
        self.env.pop("PYTHONPATH", None)
        self.work = work / label
        self.work.mkdir(parents=True)
        # a catalogue and runs folder of its own, as a new user has (created by the first run): the
        # account's shared catalogue may be migrated by another checkout, and must not get our runs
        self.env.update(PANOSC_CWL_CATALOGUE=str(self.work / "catalogue.sqlite"), PANOSC_CWL_RUNS=str(self.work / "runs"))
        self.times: dict[str, list[float]] = {}
        self.loads: list[float] = []

    def add(self, key: str, value: float) -> None:
        self.times.setdefault(key, []).append(value)

    def best(self, key: str) -> float:
        return min(self.times[key])


def setup(v: Venv, frames: int) -> dict:
    """Data, jobs and scripts of one venv's measurements; the step commands."""
    work, pcwl, py, env = v.work, v.pcwl, v.py, v.env
    # the pre-issue-18 command names (hidden aliases now): --venv may point at an older checkout
    subprocess.run([pcwl, "simulate", "powder", "--calibrant", "CeO2", "--frames", str(frames),
                    "-o", "data/ceo2", "--overwrite"], cwd=work, env=env, check=True, capture_output=True)
    (work / "jobs").mkdir()
    shutil.copy(REPO / "jobs" / "powder-xrd-ceo2.yml", work / "jobs" / "powder-xrd-ceo2.yml")
    subprocess.run([pcwl, "simulate", "powder", "--calibrant", "CeO2", "--frames", "1",
                    "-o", str(work / "data" / "one")], env=env, check=True, capture_output=True)
    one_h5, one_poni = work / "data/one/ceo2.h5", work / "data/one/ceo2.poni"
    (work / "trivial.cwl").write_text(TRIVIAL_CWL)
    for name, text in (("integrate", BARE_INTEGRATE), ("reduce", BARE_REDUCE), ("plot", BARE_PLOT),
                       ("report", BARE_REPORT)):
        (work / f"bare_{name}.py").write_text(text)
    notebook = str(REPO / "notebooks" / "powder-report.ipynb")
    # inputs of the later steps: the tool's own outputs on the 1-frame stack
    subprocess.run([pcwl, "integrate1d", "--quiet", "--frames", str(one_h5), "--dataset", "/entry/data/data",
                    "--poni", str(one_poni), "--npt", "2000", "--unit", "2th_deg", "--output",
                    str(work / "one-integrated.nxs")], env=env, check=True, capture_output=True)
    subprocess.run([pcwl, "reduce", str(work / "one-integrated.nxs"), "--output", str(work / "one-reduced.nxs")],
                   env=env, check=True, capture_output=True)
    params = work / "parameters.yaml"
    params.write_text(json.dumps({"reduced": {"class": "File", "path": str(work / "one-reduced.nxs")},
                                  "calibrant": "CeO2", "window_bins": 3, "output": "peaks.csv"}))
    (work / "scratch").mkdir()
    steps = {
        "integrate": (
            [py, str(work / "bare_integrate.py"), str(one_h5), str(one_poni), "bare.h5"],
            [pcwl, "integrate1d", "--quiet", "--frames", str(one_h5), "--dataset", "/entry/data/data", "--poni",
             str(one_poni), "--npt", "2000", "--unit", "2th_deg", "--output", "integrated.nxs"],
            "pyfai-integrate1d.cwl",
            {"frames": [{"class": "File", "path": str(one_h5), "format": "http://edamontology.org/format_3590"}],
             "dataset": "/entry/data/data",
             "poni": {"class": "File", "path": str(one_poni), "format": "http://edamontology.org/format_2330"},
             "npt": 2000, "unit": "2th_deg"}),
        "reduce": (
            [py, str(work / "bare_reduce.py"), str(work / "one-integrated.nxs"), "bare.h5"],
            [pcwl, "reduce", str(work / "one-integrated.nxs"), "--output", "reduced.nxs"],
            "powder-reduce.cwl",
            {"integrated": {"class": "File", "path": str(work / "one-integrated.nxs"),
                            "format": "http://edamontology.org/format_3590"}}),
        "plot": (
            [py, str(work / "bare_plot.py"), str(work / "one-reduced.nxs"), "bare.png"],
            [pcwl, "plot", str(work / "one-reduced.nxs"), "--calibrant", "CeO2", "--output", "pattern.png"],
            "powder-plot.cwl",
            {"reduced": {"class": "File", "path": str(work / "one-reduced.nxs"),
                         "format": "http://edamontology.org/format_3590"}, "calibrant": "CeO2"}),
        "report": (
            [py, str(work / "bare_report.py"), notebook, str(work / "one-reduced.nxs"), "bare"],
            [pcwl, "notebook-run", notebook, "--parameters", str(params), "--output", "r.ipynb",
             "--report", "r.html"],
            "nb-powder-report.cwl",
            {"reduced": {"class": "File", "path": str(work / "one-reduced.nxs"),
                         "format": "http://edamontology.org/format_3590"}, "calibrant": "CeO2"}),
    }
    for name, (_, _, _, job) in steps.items():
        (work / f"job-{name}.json").write_text(json.dumps(job))
    return steps


def one_round(v: Venv, steps: dict, index: int, with_steps: bool) -> None:
    """One measurement of everything for ``v`` (the caller alternates venvs between rounds)."""
    work, env = v.work, v.env
    scratch = work / "scratch"
    nbenv = dict(env, JUPYTER_RUNTIME_DIR=str(work / "rt"), PYDEVD_DISABLE_FILE_VALIDATION="1")

    def clear():
        for p in scratch.iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()

    trivial = [v.cwltool, "--quiet", "--outdir", str(scratch / "o"), str(work / "trivial.cwl")]
    v.loads.append(os.getloadavg()[0])
    if with_steps:
        v.add("trivial", once(trivial, work, env, clear))
        for name, (bare, cli, tool, _) in steps.items():
            e = nbenv if name == "report" else env
            v.add(f"{name}_bare", once(bare, scratch, e, clear))
            v.add(f"{name}_cli", once(cli, scratch, e, clear))
            v.add(f"{name}_cwl", once([v.cwltool, "--quiet", "--outdir", str(scratch / "o"),
                                       str(REPO / "cwl" / "tools" / tool), str(work / f"job-{name}.json")],
                                      scratch, e, clear))
            if name in ("plot", "report"):  # the same without the calibrant cache (first run on a machine)
                v.add(f"{name}_cli_nocache", once(cli, scratch, dict(e, PANOSC_CWL_CACHE="off"), clear))
    # the README job, right after its own yardstick (same load), into a new output folder
    v.add("readme_trivial", once(trivial, work, env, clear))
    v.add("readme_job", timed([v.pcwl, "run", str(REPO / "cwl/workflows/powder-xrd.cwl"), "jobs/powder-xrd-ceo2.yml",
                               "--outdir", f"out/powder-xrd-{index}"], work, env))
    v.loads.append(os.getloadavg()[0])


def report(v: Venv, frames: int, n: int, with_steps: bool) -> dict:
    t = v.times
    print(f"venv: {v.path}; {os.cpu_count()} CPUs, load average {min(v.loads):.1f}-{max(v.loads):.1f} "
          f"during its runs; minimum of {n} runs each; 1 frame per step")
    if with_steps:
        triv = v.best("trivial")
        print(f"trivial one-command cwltool tool: {triv:.2f} s\n")
        print(f"{'step':<10} {'bare s':>7} {'cli s':>7} {'fixed s':>8} {'cli, no cache s':>16} {'cwl tool s':>11} "
              f"{'cwl - trivial - bare s':>23}")
        for name in ("integrate", "reduce", "plot", "report"):
            b, c, w = v.best(f"{name}_bare"), v.best(f"{name}_cli"), v.best(f"{name}_cwl")
            cold = f"{v.best(name + '_cli_nocache'):16.2f}" if f"{name}_cli_nocache" in t else f"{'-':>16}"
            print(f"{name:<10} {b:7.2f} {c:7.2f} {c - b:8.2f} {cold} {w:11.2f} {w - triv - b:23.2f}")
        print()
    runs, triv = t["readme_job"], t["readme_trivial"]
    pairs = sorted(r / y for r, y in zip(runs, triv))
    ratio = min(runs) / min(triv)
    print(f"README job ({frames} frames, as the README runs it, provenance on): min {min(runs):.2f} s "
          f"(in run order: {', '.join(f'{r:.2f}' for r in runs)})")
    print(f"  trivial cwltool run just before each: {', '.join(f'{r:.2f}' for r in triv)} s")
    print(f"  ratio min/min: {ratio:.1f} x; per run (job / its own trivial run): "
          f"{', '.join(f'{p:.1f}' for p in pairs)} x, median {statistics.median(pairs):.1f} x (goal <= 5 x)\n")
    return dict({k: min(x) for k, x in t.items()}, all=t, venv=str(v.path), loads=v.loads, ratio=ratio,
                ratio_median=statistics.median(pairs))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--venv", action="append",
                    help="virtual environment whose panosc-cwl/cwltool/python are measured (default: this one); "
                         "give it twice (before, after) to measure both interleaved")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the minimum is reported")
    ap.add_argument("--frames", type=int, default=20, help="frames of the README job (default 20, as the README)")
    ap.add_argument("--readme-only", action="store_true", help="only the README job and its trivial yardstick")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (outputs of the README job)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="step-overhead-"))
    paths = args.venv or [str(Path(sys.executable).parents[1])]
    venvs = [Venv(p, work, f"v{i}") for i, p in enumerate(paths)]
    n, with_steps = args.repeat, not args.readme_only
    results = []
    try:
        steps = {v.label: setup(v, args.frames) for v in venvs}
        for i in range(n):
            for v in venvs if i % 2 == 0 else venvs[::-1]:  # A B, B A, ...: neither always goes first
                one_round(v, steps[v.label], i, with_steps)
        for v in venvs:
            results.append(report(v, args.frames, n, with_steps))
        if len(venvs) == 2:
            a, b = results
            print(f"README job, {venvs[1].path} against {venvs[0].path}: min {b['readme_job']:.2f} s vs "
                  f"{a['readme_job']:.2f} s ({b['readme_job'] / a['readme_job']:.2f} x); to the trivial run (min of "
                  f"both, {min(a['readme_trivial'], b['readme_trivial']):.2f} s): "
                  f"{b['readme_job'] / min(a['readme_trivial'], b['readme_trivial']):.1f} x vs "
                  f"{a['readme_job'] / min(a['readme_trivial'], b['readme_trivial']):.1f} x")
            last = n - 1
            cmp = subprocess.run([sys.executable, str(REPO / "benchmarks" / "compare_outputs.py"),
                                  str(venvs[0].work / f"out/powder-xrd-{last}"),
                                  str(venvs[1].work / f"out/powder-xrd-{last}")], capture_output=True, text=True)
            print(f"outputs of the last README runs (compare_outputs.py): "
                  f"{'same data' if cmp.returncode == 0 else 'DIFFERENT'}\n{cmp.stdout.strip()}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder kept: {work}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
