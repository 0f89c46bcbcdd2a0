#!/usr/bin/env python
"""Throughput of 1D integration: bare pyFAI API vs our CLI vs the CWL tool under cwltool, in one run.

The same simulated 1-Mpixel Pilatus frames (HDF5 stack, gzip level 1 as our simulator writes them)
are integrated (a) with the bare pyFAI API in this process (h5py read + ai.integrate1d per frame),
(b) through `cwl/tools/pyfai-integrate1d.cwl` under cwltool, and (c) with `panosc-cwl powder integrate1d`
alone (to split cwltool's overhead from the tool's). Prints frames/s and the time ratio (b)/(a).

    .venv/bin/python benchmarks/integrate_throughput.py --frames 50 200 500
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EDAM = "http://edamontology.org/"  # cwltool requires the format of every File here
sys.path.insert(0, str(ROOT))

from panosc_cwl.simulate import PowderSimulation, simulate_frames  # noqa: E402


def make_stacks(workdir: Path, counts: list[int], distinct: int = 25):
    sim = PowderSimulation(n_frames=distinct, seed=11)
    frames, ai, _ = simulate_frames(sim)
    poni = workdir / "bench.poni"
    ai.write(str(poni))
    stacks = {}
    for n in counts:
        path = workdir / f"stack_{n}.h5"
        with h5py.File(path, "w") as h5:
            ds = h5.create_dataset("entry/data/data", shape=(n,) + frames.shape[1:], dtype=frames.dtype,
                                   chunks=(1,) + frames.shape[1:], compression="gzip", compression_opts=1)
            for i in range(n):
                ds[i] = frames[i % distinct]
        stacks[n] = path
    return poni, stacks


def bare_pyfai(stack: Path, poni: Path, npt: int) -> float:
    import pyFAI

    t0 = time.perf_counter()
    ai = pyFAI.load(str(poni))
    out = []
    with h5py.File(stack, "r") as h5:
        ds = h5["entry/data/data"]
        for i in range(ds.shape[0]):
            res = ai.integrate1d(ds[i], npt, unit="2th_deg", method=("bbox", "csr", "cython"), dummy=-1,
                                 delta_dummy=0.5, error_model="poisson")
            out.append(res.intensity)
    np.asarray(out)
    return time.perf_counter() - t0


def timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--npt", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, help="keep data here (default: a temporary folder)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-int-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print(f"simulating stacks of {args.frames} frames (Pilatus 1M, 1043x981) ...", file=sys.stderr)
        poni, stacks = make_stacks(work, args.frames)
        rows = []
        for n, stack in stacks.items():
            a = bare_pyfai(stack, poni, args.npt)
            out_c = work / f"cli_{n}.nxs"
            c = timed([str(BIN / "panosc-cwl"), "powder", "integrate1d", "-q", "--frames", str(stack), "--dataset",
                       "/entry/data/data", "--poni", str(poni), "--npt", str(args.npt), "-o", str(out_c)], work)
            job = work / f"job_{n}.yml"
            job.write_text(f"frames: [{{class: File, path: {stack}, format: '{EDAM}format_3590'}}]\ndataset: /entry/data/data\n"
                           f"poni: {{class: File, path: {poni}, format: '{EDAM}format_2330'}}\nnpt: {args.npt}\n")
            outdir = work / f"cwl_{n}"
            b = timed([str(BIN / "cwltool"), "--quiet", "--outdir", str(outdir),
                       str(ROOT / "cwl/tools/pyfai-integrate1d.cwl"), str(job)], work)
            rows.append((n, a, c, b))
            print(f"  {n} frames done", file=sys.stderr)

    print(f"\n1D integration, {args.npt} bins, Pilatus 1M frames, {os.cpu_count()} CPUs\n")
    print("| frames | bare pyFAI (s) | bare frames/s | panosc-cwl CLI (s) | CWL tool under cwltool (s) "
          "| tool frames/s | ratio tool/bare |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, a, c, b in rows:
        print(f"| {n} | {a:.2f} | {n / a:.1f} | {c:.2f} | {b:.2f} | {n / b:.1f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
