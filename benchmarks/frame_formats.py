#!/usr/bin/env python
"""Reading Eiger frames as DECTRIS writes them (bitshuffle-LZ4, NXmx external links) vs our gzip stack,
and the integration tool vs bare pyFAI on the same series, in one run.

(1) read throughput: every frame read (and decompressed) with h5py, frames/s, for the Eiger series
    (master file, ``/entry/data/data_00000N`` links, bitshuffle-LZ4 via hdf5plugin), the same frames
    as one gzip-1 stack (what ``panosc-cwl powder simulate`` writes) and uncompressed; file sizes.
(2) integration of the Eiger series, 1000 bins, bbox/CSR/cython, Poisson errors: bare pyFAI (h5py
    read through the links + ``ai.integrate1d`` with the NXmx pixel mask), ``panosc-cwl powder integrate1d``
    on the master file, and ``cwl/tools/pyfai-integrate1d.cwl`` under cwltool (everything included).

    .venv/bin/python benchmarks/frame_formats.py --frames 24 --detector Eiger4M
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
sys.path.insert(0, str(ROOT))

from panosc_cwl.facility_formats import _flagged, write_eiger  # noqa: E402
from panosc_cwl.frames import register_filters  # noqa: E402
from panosc_cwl.simulate import PowderSimulation  # noqa: E402

NPT = 1000


def repeat_series(d, n: int, n_files: int) -> None:
    """Grow the generated series to ``n`` frames (the simulated frames repeated), same layout and filter."""
    import hdf5plugin

    stored = _flagged(d.frames, "uint32")
    bounds = np.linspace(0, n, n_files + 1).round().astype(int)
    for i, path in enumerate(d.files[1:]):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        with h5py.File(path, "w") as h5:
            h5.create_group("entry").attrs["NX_class"] = "NXentry"
            g = h5.create_group("entry/data")
            g.attrs["NX_class"] = "NXdata"
            ds = g.create_dataset("data", shape=(hi - lo,) + stored.shape[1:], dtype=stored.dtype,
                                  chunks=(1,) + stored.shape[1:], **hdf5plugin.Bitshuffle(cname="lz4"))
            for j in range(hi - lo):
                ds[j] = stored[(lo + j) % len(stored)]
            ds.attrs["image_nr_low"], ds.attrs["image_nr_high"] = lo + 1, hi


def write_stack(path: Path, frames: np.ndarray, n: int, **comp) -> None:
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset("entry/data/data", shape=(n,) + frames.shape[1:], dtype=frames.dtype,
                               chunks=(1,) + frames.shape[1:], **comp)
        for i in range(n):
            ds[i] = frames[i % len(frames)]


def read_all(path: Path, names: list[str]) -> float:
    t0 = time.perf_counter()
    with h5py.File(path, "r") as h5:
        for name in names:
            ds = h5[name]
            for i in range(ds.shape[0]):
                ds[i]
    return time.perf_counter() - t0


def bare_pyfai(master: Path, poni: Path) -> float:
    import pyFAI

    t0 = time.perf_counter()
    ai = pyFAI.load(str(poni))
    with h5py.File(master, "r") as h5:
        mask = h5["entry/instrument/detector/detectorSpecific/pixel_mask"][()] != 0
        for name in sorted(n for n in h5["entry/data"] if n.startswith("data_")):
            ds = h5["entry/data"][name]
            for i in range(ds.shape[0]):
                ai.integrate1d(ds[i], NPT, unit="2th_deg", method=("bbox", "csr", "cython"), mask=mask,
                               error_model="poisson")
    return time.perf_counter() - t0


def timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--files", type=int, default=3)
    ap.add_argument("--detector", default="Eiger4M")
    args = ap.parse_args()
    register_filters()
    with tempfile.TemporaryDirectory(prefix="bench-frames-") as tmpd:
        work = Path(tmpd)
        d = write_eiger(work / "eiger", PowderSimulation(detector=args.detector, n_frames=min(4, args.frames),
                                                          seed=2, name="bench"),
                        n_files=min(args.files, min(4, args.frames)))
        repeat_series(d, args.frames, args.files) if args.frames > len(d.frames) else None
        with h5py.File(d.main) as h5:
            names = sorted("/entry/data/" + n for n in h5["entry/data"])
        write_stack(work / "gzip.h5", d.frames, args.frames, compression="gzip", compression_opts=1)
        write_stack(work / "raw.h5", d.frames, args.frames)
        size = {"bslz4": sum(p.stat().st_size for p in work.glob("eiger/*_data_*.h5")),
                "gzip": (work / "gzip.h5").stat().st_size, "none": (work / "raw.h5").stat().st_size}
        print(f"{args.detector} {d.frames.shape[1]}x{d.frames.shape[2]}, {args.frames} frames, "
              f"{len(names)} data files; load average {os.getloadavg()[0]:.1f}")
        print("| layout | MB on disk | read s | frames/s |\n|---|---:|---:|---:|")
        for label, path, ds_names in (("Eiger NXmx series, bitshuffle-LZ4", d.main, names),
                                      ("one stack, gzip level 1", work / "gzip.h5", ["/entry/data/data"]),
                                      ("one stack, uncompressed", work / "raw.h5", ["/entry/data/data"])):
            read_all(path, ds_names)  # warm the page cache: compare decoding, not the disk
            dt = min(read_all(path, ds_names) for _ in range(2))
            key = "bslz4" if "LZ4" in label else "gzip" if "gzip" in label else "none"
            print(f"| {label} | {size[key] / 1e6:.1f} | {dt:.2f} | {args.frames / dt:.1f} |")
        bare = bare_pyfai(d.main, d.poni)
        cli = timed([str(BIN / "panosc-cwl"), "powder", "integrate1d", "--frames", str(d.main), "--poni", str(d.poni),
                     "--npt", str(NPT), "-o", str(work / "cli.nxs"), "-q"], work)
        job = work / "job.yml"
        job.write_text(d.job.read_text() + f"poni: {{class: File, path: {d.poni}, format: 'http://edamontology.org/format_2330'}}\nnpt: {NPT}\n")
        job.write_text(job.read_text().replace("path: bench_", f"path: {d.main.parent}/bench_"))
        tool = timed([str(BIN / "cwltool"), "--outdir", str(work / "out"), str(ROOT / "cwl/tools/pyfai-integrate1d.cwl"),
                      str(job)], work)
        print("\n| route | s | frames/s | ratio to bare |\n|---|---:|---:|---:|")
        for label, dt in (("bare pyFAI (h5py through the links, pixel mask)", bare),
                          ("panosc-cwl powder integrate1d MASTER", cli), ("CWL tool under cwltool", tool)):
            print(f"| {label} | {dt:.2f} | {args.frames / dt:.1f} | {dt / bare:.2f} |")


if __name__ == "__main__":
    main()
