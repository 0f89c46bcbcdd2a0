"""How long `panosc-cwl validate` takes: one typical job (fresh process, imports included) and 100 jobs
in one process (the loaded workflow is cached). Goals: < 1 s and < 10 s.

Run: .venv/bin/python benchmarks/validate_speed.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "cwl" / "workflows" / "powder-xrd.cwl"
CLI = str(Path(sys.executable).parent / "panosc-cwl")


def make_jobs(folder: Path, n: int) -> list[Path]:
    """``n`` jobs, each with its own 20-frame HDF5 stack (1043 x 981 uint32, chunked) and PONI file."""
    jobs = []
    for i in range(n):
        d = folder / f"scan{i:03d}"
        d.mkdir()
        with h5py.File(d / "frames.h5", "w") as h5:
            h5.create_dataset("entry/data/data", shape=(20, 1043, 981), dtype="uint32", chunks=(1, 1043, 981),
                              data=np.zeros((20, 1043, 981), "uint32") if i == 0 else None)
        (d / "geometry.poni").write_text("poni_version: 2.1\nDetector: Pilatus1M\nDistance: 0.1\n"
                                         "Poni1: 0.08\nPoni2: 0.08\nRot1: 0\nRot2: 0\nRot3: 0\nWavelength: 1e-10\n")
        job = folder / f"job{i:03d}.yml"
        job.write_text(f"frames: [{{class: File, path: {d.name}/frames.h5}}]\ndataset: /entry/data/data\n"
                       f"poni: {{class: File, path: {d.name}/geometry.poni}}\nnpt: 2000\nunit: 2th_deg\n"
                       "calibrant: CeO2\n")
        jobs.append(job)
    return jobs


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        jobs = make_jobs(Path(tmp), 100)
        single = []
        for _ in range(5):
            t0 = time.perf_counter()
            proc = subprocess.run([CLI, "validate", str(WORKFLOW), str(jobs[0])], capture_output=True, text=True)
            single.append(time.perf_counter() - t0)
            assert proc.returncode == 0, proc.stderr
        code = ("import sys, time; t0 = time.perf_counter()\n"
                "from panosc_cwl.validate import validate_job\n"
                "bad = [j for j in sys.argv[2:] if not validate_job(sys.argv[1], j).ok]\n"
                "print(time.perf_counter() - t0, len(bad))")
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code, str(WORKFLOW), *map(str, jobs)], capture_output=True,
                             text=True, check=True).stdout.split()
        hundred_wall = time.perf_counter() - t0
        assert out[1] == "0", out
    print(f"one job, fresh `panosc-cwl validate` process: median {statistics.median(single):.2f} s "
          f"(min {min(single):.2f}, max {max(single):.2f}, 5 runs)  goal < 1 s")
    print(f"100 jobs in one process: {float(out[0]):.2f} s in Python ({hundred_wall:.2f} s with interpreter "
          f"start)  goal < 10 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
