"""Fixed cost of each step of the README job, and the README job against a trivial cwltool run.

For every `panosc-cwl` step of ``cwl/workflows/powder-xrd.cwl`` (integrate, reduce, plot, report)
this times, each in a fresh process and on ONE frame so the science is negligible:

* ``bare``: a short Python script doing the same library calls (h5py read, pyFAI ``integrate1d``,
  numpy mean, pyFAI calibrant + matplotlib, papermill + nbconvert), imports included;
* ``cli``: the ``panosc-cwl`` command the CWL tool runs;
* ``cwl``: the CWL tool itself under cwltool (cwltool's own start-up included).

fixed = cli - bare (what panosc-cwl adds to the step), and cwl - trivial - bare (what the step
costs under cwltool above a trivial one-command tool and the bare calls). Then the README job
(20 frames, ``panosc-cwl run cwl/workflows/powder-xrd.cwl``, provenance on, as the README runs it)
against the trivial cwltool tool run, in the same run. Every figure is the minimum of ``--repeat``
runs (the machine may be shared).

Run ``python benchmarks/step_overhead.py`` (the venv of the running Python), or
``--venv /other/.venv`` to measure another checkout's installed code (e.g. main's, for "before").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def best(n: int, cmd: list[str], cwd: Path, env: dict | None = None, clean=None) -> float:
    times = []
    for _ in range(n):
        if clean:
            clean()
        times.append(timed(cmd, cwd, env))
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--venv", default=str(Path(sys.executable).parents[1]),
                    help="virtual environment whose panosc-cwl/cwltool/python are measured (default: this one)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the minimum is reported")
    ap.add_argument("--frames", type=int, default=20, help="frames of the README job (default 20, as the README)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (outputs of the README job)")
    args = ap.parse_args()

    venv = Path(args.venv).resolve()
    bin_ = venv / "bin"
    py, pcwl, cwltool = str(bin_ / "python"), str(bin_ / "panosc-cwl"), str(bin_ / "cwltool")
    env = dict(os.environ, PATH=f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("PYTHONPATH", None)
    work = Path(tempfile.mkdtemp(prefix="step-overhead-"))
    n = args.repeat
    res: dict[str, float] = {}
    try:
        # the pre-issue-18 command names (hidden aliases now): --venv may point at an older checkout
        subprocess.run([pcwl, "simulate", "powder", "--calibrant", "CeO2", "--frames", str(args.frames),
                        "-o", str(work / "data" / "stack")], env=env, check=True, capture_output=True)
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
        nbenv = dict(env, JUPYTER_RUNTIME_DIR=str(work / "rt"), PYDEVD_DISABLE_FILE_VALIDATION="1")
        scratch = work / "scratch"
        scratch.mkdir()

        def clear():
            for p in scratch.iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()

        steps = {
            "integrate": (
                [py, str(work / "bare_integrate.py"), str(one_h5), str(one_poni), "bare.h5"],
                [pcwl, "integrate1d", "--quiet", "--frames", str(one_h5), "--dataset", "/entry/data/data", "--poni",
                 str(one_poni), "--npt", "2000", "--unit", "2th_deg", "--output", "integrated.nxs"],
                "pyfai-integrate1d.cwl",
                {"frames": [{"class": "File", "path": str(one_h5), "format": "http://edamontology.org/format_3590"}], "dataset": "/entry/data/data",
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
        res["trivial"] = best(n, [cwltool, "--quiet", "--outdir", str(scratch / "o"), str(work / "trivial.cwl")],
                              work, env, clear)
        rows = []
        for name, (bare, cli, tool, job) in steps.items():
            e = nbenv if name == "report" else env
            jobfile = work / f"job-{name}.json"
            jobfile.write_text(json.dumps(job))
            b = best(n, bare, scratch, e, clear)
            c = best(n, cli, scratch, e, clear)
            w = best(n, [cwltool, "--quiet", "--outdir", str(scratch / "o"), str(REPO / "cwl" / "tools" / tool),
                         str(jobfile)], scratch, e, clear)
            cold = None
            if name in ("plot", "report"):  # the same without the calibrant cache (first run on a machine)
                cold = best(n, cli, scratch, dict(e, PANOSC_CWL_CACHE="off"), clear)
            res.update({f"{name}_bare": b, f"{name}_cli": c, f"{name}_cwl": w})
            if cold is not None:
                res[f"{name}_cli_nocache"] = cold
            rows.append((name, b, c, cold, w))

        job = work / "powder-xrd.yml"
        job.write_text(json.dumps({
            "frames": [{"class": "File", "path": str(work / "data/stack/ceo2.h5")}], "dataset": "/entry/data/data",
            "poni": {"class": "File", "path": str(work / "data/stack/ceo2.poni")}, "npt": 2000, "unit": "2th_deg",
            "calibrant": "CeO2"}))
        res["readme_job"] = best(n, [pcwl, "run", str(REPO / "cwl/workflows/powder-xrd.cwl"), str(job), "--outdir",
                                     str(work / "out"), "--overwrite"], work, env)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder kept: {work}", file=sys.stderr)

    load = os.getloadavg()[0]
    print(f"venv: {venv}; {os.cpu_count()} CPUs, load average {load:.1f}; minimum of {n} runs each; 1 frame per step")
    print(f"trivial one-command cwltool tool: {res['trivial']:.2f} s\n")
    print(f"{'step':<10} {'bare s':>7} {'cli s':>7} {'fixed s':>8} {'cli, no cache s':>16} {'cwl tool s':>11} "
          f"{'cwl - trivial - bare s':>23}")
    for name, b, c, cold, w in rows:
        cold_s = f"{cold:16.2f}" if cold is not None else f"{'-':>16}"
        print(f"{name:<10} {b:7.2f} {c:7.2f} {c - b:8.2f} {cold_s} {w:11.2f} {w - res['trivial'] - b:23.2f}")
    print(f"\nREADME job ({args.frames} frames, panosc-cwl run, provenance on): {res['readme_job']:.2f} s = "
          f"{res['readme_job'] / res['trivial']:.1f} x the trivial cwltool run (goal <= 5 x)")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(res, venv=str(venv), load=load, repeat=n), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
