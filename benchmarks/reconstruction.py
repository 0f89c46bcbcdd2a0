#!/usr/bin/env python
"""CPU time per reconstruction: the CWL tools under cwltool vs the bare library calls, in one run.

Cases (all on the CPU, simulated data with known truth, error against it reported beside the time):

* CDI 2D 128^2 - PyNX: ``cwl/tools/pynx-cdi.cwl`` (``pynx-cdi-id01``, PYNX_PU=cpu) vs PyNX's Python
  API (the same 1000 HIO + 300 ER chain with shrink-wrap), 4 runs each; cohere-core:
  ``cwl/tools/cohere-cdi.cwl`` vs ``cohere_core`` API (600 HIO + 200 ER), 4 runs each.
* CDI 3D 64^3 - the same, one run each.
* Tomography 256^2 x 16 slices, 360 projections - ``cwl/tools/nabu-reconstruct.cwl`` vs the bare
  calls (nabu ``ProcessConfig`` for darks/flats and the axis + scikit-image ``iradon``).

CPU time is user+system of this process (bare calls) or of the child processes (tools: cwltool and
everything it starts). The GPU-hinted tools need cwltool's nvidia-smi check to pass: a stand-in
``nvidia-smi`` (reporting one GPU) is put on PATH for them, the work itself runs on the CPU.

    .venv/bin/python benchmarks/reconstruction.py [--skip-3d]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from panosc_cwl import cdi, tomo  # noqa: E402

NVIDIA_SMI = """#!/bin/sh
echo '<?xml version="1.0" ?><nvidia_smi_log><cuda_version>12.0</cuda_version>\
<attached_gpus>1</attached_gpus></nvidia_smi_log>'
"""


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_tool(tool: str, job: dict, work: Path, env: dict) -> tuple[dict, float, float]:
    work.mkdir(parents=True, exist_ok=True)
    from panosc_cwl.validate import with_formats

    (work / "job.json").write_text(json.dumps(with_formats(ROOT / tool, job)))  # EDAM formats cwltool requires
    c0, w0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run([str(BIN / "cwltool"), "--enable-ext", "--outdir", str(work / "out"),
                           str(ROOT / tool), str(work / "job.json")], capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - w0, _children_cpu() - c0
    if proc.returncode != 0:
        raise SystemExit(f"{tool} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout), cpu, wall


def timed(fn):
    c0, w0 = _self_cpu(), time.perf_counter()
    out = fn()
    return out, _self_cpu() - c0, time.perf_counter() - w0


def pynx_api(intensity: np.ndarray, nb_run: int, nb_hio: int = 1000, nb_er: int = 300) -> np.ndarray:
    """PyNX's operators directly: auto-correlation support, HIO then ER with shrink-wrap; best LLK kept."""
    os.environ["PYNX_PU"] = "cpu"
    import contextlib
    import io

    from pynx.cdi import CDI, ER, HIO, AutoCorrelationSupport, InitObjRandom, ScaleObj, SupportUpdate

    best, best_llk = None, np.inf
    for _ in range(nb_run):
        with contextlib.redirect_stdout(io.StringIO()):
            c = CDI(np.fft.fftshift(intensity))
            c = AutoCorrelationSupport(threshold=0.1) * c
            c = InitObjRandom(src="support", amin=0, amax=1, phirange=0.5) * c
            c = ScaleObj() * c
            sup = SupportUpdate(threshold_relative=0.3, smooth_width=(2, 0.5, nb_hio), force_shrink=False)
            c = (sup * HIO(beta=0.9, calc_llk=20) ** 20) ** (nb_hio // 20) * c
            c = (sup * ER(calc_llk=20) ** 20) ** (nb_er // 20) * c
            llk = c.get_llk()[0]
        if llk < best_llk:
            best, best_llk = np.fft.fftshift(c.get_obj()), llk
    return best


def cdi_cases(shape: tuple[int, ...], nb_run: int, work: Path, env: dict, have_pynx: bool) -> list[tuple]:
    sim = cdi.simulate_cdi(shape, photons=1e9 if len(shape) == 2 else 1e10, seed=0)
    data = cdi.write_cxi(work / f"cdi{len(shape)}d.cxi", sim)
    label = "x".join(map(str, shape))
    roi = [v for n in shape for v in (0, n)]
    rows = []
    if have_pynx:
        out, cpu, wall = run_tool("cwl/tools/pynx-cdi.cwl", {"data": {"class": "File", "path": str(data)}, "roi": roi,
                                  "nb_run": nb_run, "processing_unit": "cpu"}, work / f"pynx{label}", env)
        if not out["reconstructions"]:
            raise SystemExit("PyNX kept no run:\n" + Path(out["log"]["path"]).read_text()[-3000:])
        err = cdi.cdi_error(cdi.read_reconstruction(out["reconstructions"][0]["path"]), sim.obj).error
        rows.append((f"CDI {label}", f"PyNX tool (cwltool, {nb_run} runs)", cpu, wall, f"error {err:.4f}"))
        obj, cpu, wall = timed(lambda: pynx_api(sim.intensity, nb_run))
        err = cdi.cdi_error(obj, sim.obj).error
        rows.append((f"CDI {label}", f"PyNX API ({nb_run} runs)", cpu, wall, f"error {err:.4f}"))
    out, cpu, wall = run_tool("cwl/tools/cohere-cdi.cwl", {"data": {"class": "File", "path": str(data)},
                              "nb_run": nb_run, "seed": 0}, work / f"cohere{label}", env)
    err = cdi.cdi_error(cdi.read_reconstruction(out["best"]["path"]), sim.obj).error
    rows.append((f"CDI {label}", f"cohere tool (cwltool, {nb_run} runs)", cpu, wall, f"error {err:.4f}"))
    settings = cdi.CdiSettings(nb_raar=0, nb_hio=600, nb_er=200, nb_run=nb_run, support_threshold=0.2, seed=0)
    res, cpu, wall = timed(lambda: cdi.reconstruct_cohere(sim.intensity, settings, work / f"cohere-api{label}"))
    rows.append((f"CDI {label}", f"cohere API ({nb_run} runs)", cpu, wall,
                 f"error {cdi.cdi_error(res[0].obj, sim.obj).error:.4f}"))
    return rows


def tomo_cases(work: Path, env: dict) -> list[tuple]:
    sim = tomo.TomoSimulation(size=256, n_slices=16, n_angles=360, seed=0)
    files = tomo.simulate_tomo(work / "tomo", sim)
    conf = tomo.make_nabu_config(files.nx, work / "tomo" / "nabu.conf", tomo.NabuOptions())
    rows = []
    out, cpu, wall = run_tool("cwl/tools/nabu-reconstruct.cwl", {"config": {"class": "File", "path": str(conf)},
                              "dataset": {"class": "File", "path": str(files.nx)}}, work / "nabu-tool", env)
    s = tomo.score_reconstruction(out["volume"]["path"], files.truth)
    rows.append(("tomo 256^2 x 16", "nabu-reconstruct tool (cwltool)", cpu, wall,
                 f"CoR err {s.cor_error:+.3f} px, r {min(s.pearson_r):.3f}"))
    res, cpu, wall = timed(lambda: tomo.reconstruct_cpu(conf, work / "tomo" / "bare.h5"))
    s = tomo.score_reconstruction(res.path, files.truth)
    rows.append(("tomo 256^2 x 16", "bare calls (nabu ProcessConfig + iradon)", cpu, wall,
                 f"CoR err {s.cor_error:+.3f} px, r {min(s.pearson_r):.3f}"))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-3d", action="store_true", help="leave out the 64^3 CDI case")
    args = ap.parse_args()
    have_pynx = (BIN / "pynx-cdi-id01").exists() or shutil.which("pynx-cdi-id01") is not None
    with tempfile.TemporaryDirectory(prefix="bench-recon-") as tmpd:
        work = Path(tmpd)
        fake = work / "fake-gpu"
        fake.mkdir()
        (fake / "nvidia-smi").write_text(NVIDIA_SMI)
        (fake / "nvidia-smi").chmod(0o755)
        env = {**os.environ, "PATH": f"{fake}{os.pathsep}{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               "MPLBACKEND": "Agg"}
        rows = cdi_cases((128, 128), 4, work, env, have_pynx)
        if not args.skip_3d:
            rows += cdi_cases((64, 64, 64), 1, work, env, have_pynx)
        rows += tomo_cases(work, env)
    print(f"{'case':<16} {'how':<44} {'CPU s':>7} {'wall s':>7}  result")
    for case, how, cpu, wall, result in rows:
        print(f"{case:<16} {how:<44} {cpu:7.1f} {wall:7.1f}  {result}")
    if not have_pynx:
        print("PyNX not installed (.ci/install-pynx): its rows are missing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
