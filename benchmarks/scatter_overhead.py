#!/usr/bin/env python
"""Per-job overhead of a wide scatter: Toil on SLURM vs Toil single_machine vs cwltool --parallel.

A workflow scatters a trivial step (`true`) N ways (default 64). Each runner runs it twice, with
N items and with 1 item, so its fixed start-up cost cancels out:

    per-job overhead = (wall(N) - wall(1)) / (N - 1)

The reference is SLURM itself: N bare ``sbatch --wrap true`` jobs submitted at once and waited for
(``scontrol show job``, polled every 50 ms), plus the round trip of one such job. "Above sbatch"
is Toil-on-SLURM's per-job overhead minus the bare jobs' per-job time. All in one run, on the
project's SLURM (.ci/slurm-up; reads .slurm/env) with the ci-local profile.

    .ci/slurm-up && .venv/bin/python benchmarks/scatter_overhead.py [--n 64]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from panosc_cwl.profiles import get_profile  # noqa: E402
from panosc_cwl.runners import RunRequest, build_command  # noqa: E402

WORKFLOW = """cwlVersion: v1.2
class: Workflow
label: N-way scatter of a trivial step (benchmark)
requirements:
  ScatterFeatureRequirement: {}
inputs:
  items: int[]
outputs: []
steps:
  nothing:
    run:
      class: CommandLineTool
      baseCommand: "true"
      inputs:
        item: {type: int, inputBinding: {position: 1}}
      outputs: []
    scatter: item
    in: {item: items}
    out: []
"""


def slurm_env() -> dict[str, str]:
    env = dict(os.environ)
    env_file = ROOT / ".slurm/env"
    if "SLURM_CONF" not in env and env_file.is_file():
        words = shlex.split(env_file.read_text(), comments=True)
        for w in words:
            if w.startswith("SLURM_CONF="):
                env["SLURM_CONF"] = w.split("=", 1)[1]
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def _states(ids: list[str], env: dict) -> dict[str, str]:
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, env=env).stdout
    found = {}
    for line in out.splitlines():
        rec = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if rec.get("JobId") in ids:
            found[rec["JobId"]] = rec["JobState"]
    return found


def bare_sbatch(n: int, workdir: Path, env: dict) -> float:
    """Seconds from submitting ``n`` ``sbatch --wrap true`` jobs until SLURM reports all COMPLETED."""
    t0 = time.perf_counter()
    ids = [subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "-D", str(workdir), "--wrap", "true"],
                          capture_output=True, text=True, env=env, check=True).stdout.strip().split(";")[0]
           for _ in range(n)]
    while True:
        states = _states(ids, env)
        if len(states) == n and all(s in ("COMPLETED", "FAILED", "CANCELLED") for s in states.values()):
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    bad = [i for i, s in states.items() if s != "COMPLETED"]
    if bad:
        raise SystemExit(f"bare sbatch jobs failed: {bad}")
    return wall


def run_workflow(kind: str, n: int, workdir: Path, env: dict) -> float:
    job = workdir / f"items-{n}.json"
    job.write_text(json.dumps({"items": list(range(n))}))
    wf = workdir / "scatter.cwl"
    out = workdir / f"out-{kind}-{n}"
    if kind == "cwltool --parallel":
        argv = [str(BIN / "cwltool"), "--parallel", "--quiet", "--outdir", str(out), str(wf), str(job)]
        extra_env = {}
    else:
        batch = "slurm" if kind == "toil slurm" else "single_machine"
        req = RunRequest(workflow=wf, job=job, outdir=out, runner="toil", batch_system=batch,
                         job_store=str(workdir / f"js-{batch}-{n}"))
        if batch == "slurm":
            req.profile = get_profile("ci-local", user=None)
        cmd = build_command(req)
        argv, extra_env = cmd.argv, cmd.env
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env={**env, **extra_env}, cwd=workdir)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="scatter width (default 64)")
    ap.add_argument("--round-trips", type=int, default=5, help="single sbatch round trips to time")
    args = ap.parse_args()
    env = slurm_env()
    if subprocess.run(["sinfo", "-h"], env=env, capture_output=True, timeout=20).returncode != 0:
        raise SystemExit("SLURM is not up: run .ci/slurm-up first")
    node = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %c CPUs %m MiB"], env=env, capture_output=True,
                          text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="scatter-bench-") as tmp:
        work = Path(tmp)
        (work / "scatter.cwl").write_text(WORKFLOW)
        one = [bare_sbatch(1, work, env) for _ in range(args.round_trips)]
        rt = statistics.median(one)
        bare_n = bare_sbatch(args.n, work, env)
        rows = []
        for kind in ("toil slurm", "toil single_machine", "cwltool --parallel"):
            w1 = run_workflow(kind, 1, work, env)
            wn = run_workflow(kind, args.n, work, env)
            rows.append((kind, w1, wn, (wn - w1) / (args.n - 1)))
    per_bare = bare_n / args.n
    print(f"node: {node}; scatter width N = {args.n}; trivial step `true`")
    print(f"bare sbatch --wrap true: round trip {rt:.2f} s (median of {len(one)}); "
          f"{args.n} at once: {bare_n:.1f} s = {per_bare:.2f} s/job")
    print()
    print(f"{'runner':<22}{'wall(1) s':>11}{'wall(N) s':>11}{'per job s':>11}{'above sbatch s':>16}")
    for kind, w1, wn, per in rows:
        above = f"{per - per_bare:16.2f}" if kind == "toil slurm" else f"{'-':>16}"
        print(f"{kind:<22}{w1:11.1f}{wn:11.1f}{per:11.2f}{above}")
    print("\nper job = (wall(N) - wall(1)) / (N - 1); above sbatch = toil slurm per job - bare sbatch s/job")
    return 0


if __name__ == "__main__":
    sys.exit(main())
