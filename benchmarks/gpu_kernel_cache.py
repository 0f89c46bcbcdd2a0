"""How much of a GPU step's time goes to compiling kernels that a step's new $HOME throws away.

cwltool and Toil run every step with a new, empty HOME. cupy (nabu's CUDA back end) keeps the
kernels it compiles in ~/.cupy/kernel_cache, pyopencl (pyFAI, PyNX) in ~/.cache/pyopencl, the
NVIDIA driver its JIT results in ~/.nv/ComputeCache. Each GPU step below runs as a step would:
twice "cold" (a new HOME each time, as under cwltool today), then twice with those three caches in
one shared folder (CUPY_CACHE_DIR, XDG_CACHE_HOME, CUDA_CACHE_PATH): the first run fills it, the
second reads it. Same outputs are checked (CoR, PyNX error, integrated pattern).

    python benchmarks/gpu_kernel_cache.py [--frames 20]     # on a GPU machine (after gpu_check.sh --wheels)
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

import numpy as np


def step(cmd: list[str], home: Path, cache: Path | None, cwd: Path, **env: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run one command the way a CWL step runs: its own empty HOME, optionally the shared caches."""
    home.mkdir(parents=True)
    e = dict(os.environ, HOME=str(home), MPLBACKEND="Agg", **env)
    for var in ("CUPY_CACHE_DIR", "XDG_CACHE_HOME", "CUDA_CACHE_PATH"):
        e.pop(var, None)
    if cache is not None:
        e.update(CUPY_CACHE_DIR=str(cache / "cupy"), XDG_CACHE_HOME=str(cache / "xdg"),
                 CUDA_CACHE_PATH=str(cache / "nv"))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=e, cwd=cwd)
    secs = time.perf_counter() - t0
    if p.returncode:
        said = [ln.strip() for ln in (p.stdout + p.stderr).splitlines() if ln.strip()] or ["no output"]
        raise SystemExit(f"{' '.join(cmd[:4])}... failed (exit {p.returncode}): {said[-1][:200]}")
    return secs, p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20)
    args = ap.parse_args()
    pcwl = [sys.executable, "-m", "panosc_cwl"]
    root = Path(tempfile.mkdtemp(prefix="gpu-cache-"))
    data = root / "data"
    try:
        subprocess.run(pcwl + ["powder", "simulate", "--calibrant", "CeO2", "--frames", str(args.frames),
                               "-o", str(data / "ceo2")], check=True, capture_output=True)
        subprocess.run(pcwl + ["tomo", "simulate", "-o", str(data / "tomo")], check=True, capture_output=True)
        subprocess.run(pcwl + ["tomo", "config", "--dataset", str(data / "tomo/tomo.nx"), "--cor-method",
                               "sliding-window", "--phase", "none", "--location", str(data / "tomo"),
                               "-o", str(data / "tomo/nabu.conf")], check=True, capture_output=True)
        subprocess.run(pcwl + ["cdi", "simulate", "--shape", "128", "128", "--photons", "1e9", "--seed", "0",
                               "-o", str(data / "obj2d.cxi")], check=True, capture_output=True)

        def pyfai(out: Path) -> list[str]:
            return pcwl + ["powder", "integrate1d", "--quiet", "--method", "opencl", "--frames",
                           str(data / "ceo2/ceo2.h5"), "--dataset", "/entry/data/data", "--poni",
                           str(data / "ceo2/ceo2.poni"), "--npt", "2000", "--output", str(out / "i.nxs")]

        def nabu(out: Path) -> list[str]:
            return pcwl + ["tomo", "reconstruct", str(data / "tomo/nabu.conf"), "--backend", "nabu",
                           "-o", str(out / "rec.h5")]

        def pynx(out: Path) -> list[str]:
            return ["pynx-cdi-id01", "--data", str(data / "obj2d.cxi"), "--roi", "0", "128", "0", "128",
                    "--nb_raar", "1000", "--nb_er", "300", "--nb_run", "1", "--nb_run_keep", "1",
                    "--support_threshold", "0.3", "--output_format", "cxi", "--save", "final"]

        def result(name: str, out: Path, p: subprocess.CompletedProcess) -> str:
            """The step's science, to check that the cache changes nothing but time."""
            if name.startswith("pyFAI"):
                import h5py

                with h5py.File(out / "i.nxs", "r") as h5:
                    return f"sum I {float(np.nansum(h5['entry/integrated/I'][()])):.7g}"
            if name.startswith("nabu"):
                s = subprocess.run(pcwl + ["tomo", "score", str(out / "rec.h5"), "--truth",
                                           str(data / "tomo/tomo_truth.json")], capture_output=True, text=True)
                sc = json.loads(s.stdout)
                return f"CoR {sc['cor']:.2f}, r {np.mean(sc['pearson_r']):.4f}"
            recs = sorted(out.glob("*_LLK*.cxi"))
            e = subprocess.run(pcwl + ["cdi", "error", str(recs[0]), "--truth", str(data / "obj2d.cxi")],
                               capture_output=True, text=True)
            return f"error {json.loads(e.stdout)['error']:.4f}" if e.returncode == 0 else "error ?"

        cases = [(f"pyFAI integrate1d OpenCL, {args.frames} frames", pyfai, {}),
                 ("nabu FBP (cupy), 16 slices 256^2", nabu, {}),
                 ("PyNX CDI 2D 128^2 OpenCL, 1 run", pynx, {"PYNX_PU": "opencl"})]
        rows = []
        for name, cmd, env in cases:
            times, checks = [], []
            shared = root / f"cache-{len(rows)}"
            for i, cache in enumerate((None, None, shared, shared)):
                out = root / f"run-{len(rows)}-{i}"
                out.mkdir()
                secs, p = step(cmd(out), out / "home", cache, out, **env)
                times.append(secs)
                checks.append(result(name, out, p))
                print(f"{name}: run {i + 1} ({'shared cache' if cache else 'new HOME'}) {secs:.2f} s, {checks[-1]}",
                      flush=True)
            cold, warm = float(np.mean(times[:2])), times[3]
            rows.append((name, times, cold, warm, checks))
        print("\n| GPU step (own new HOME, as under cwltool) | cold 1 | cold 2 | shared: fills | shared: reads "
              "| warm / cold | results of the 4 runs |\n|---|---|---|---|---|---|---|")
        for name, t, cold, warm, checks in rows:
            print(f"| {name} | {t[0]:.2f} s | {t[1]:.2f} s | {t[2]:.2f} s | {t[3]:.2f} s | {warm / cold:.2f} "
                  f"| {' / '.join(checks)} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
