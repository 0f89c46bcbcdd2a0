#!/usr/bin/env python
"""Scale: an N-way scatter of the integration chunk tool through Toil on SLURM vs N bare sbatch jobs.

In one run, on the project's SLURM (reads .slurm/env; profile ci-local):

1. the chunk command alone, here: ``panosc-cwl powder integrate1d --frame-range`` on 1 frame and on F
   frames, giving the step's own start (s) and the per-frame cost (s/frame);
2. N bare ``sbatch`` jobs of that same command (chunk i = frame range of ``--chunk`` frames of a
   ``--stack``-frame stack, wrapping round), submitted at once, waited for with ``scontrol``;
3. the same N chunks as a CWL scatter of ``cwl/tools/pyfai-integrate1d-chunk.cwl`` run by Toil on
   SLURM (``panosc-cwl``'s Toil command with the ci-local profile);
4. optionally the simulated detector-calibration workflow (``--calib-modules`` x ``--calib-trains``
   darks, Toil on SLURM): wall time and per module.

From these it fits the cost model of :mod:`panosc_cwl.chunks` (fixed seconds per job, seconds per
frame) and prints the chunk size it recommends for a few frame and node counts.

    . .slurm/env && .venv/bin/python benchmarks/scatter_scale.py            # N = 1000 (long: ~1 h on 2 CPUs)
    . .slurm/env && .venv/bin/python benchmarks/scatter_scale.py --n 50 --calib-modules 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from scatter_overhead import _states, slurm_env  # noqa: E402

from panosc_cwl.chunks import predict, suggest_chunks  # noqa: E402
from panosc_cwl.profiles import get_profile  # noqa: E402
from panosc_cwl.runners import RunRequest, build_command  # noqa: E402

SCATTER = """cwlVersion: v1.2
class: Workflow
label: N-way scatter of the integration chunk tool (benchmark)
requirements:
  ScatterFeatureRequirement: {{}}
inputs:
  frames: File[]
  dataset: string
  poni: File
  frame_ranges: string[]
outputs:
  integrated:
    type: File[]
    outputSource: integrate/integrated
steps:
  integrate:
    run: {tool}
    scatter: frame_range
    in:
      frame_range: frame_ranges
      frames: frames
      dataset: dataset
      poni: poni
    out: [integrated]
"""


def chunk_cmd(stack: Path, poni: Path, rng: str, output: Path) -> list[str]:
    return [str(BIN / "panosc-cwl"), "powder", "integrate1d", "--quiet", "--frames", str(stack), "--dataset", "/entry/data/data",
            "--poni", str(poni), "--npt", "2000", "--unit", "2th_deg", "--frame-range", rng, "--output", str(output)]


def timed(cmd: list[str], env: dict, cwd: Path) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    if p.returncode:
        raise SystemExit(f"failed: {' '.join(cmd[:4])}...\n{p.stderr[-3000:]}")
    return time.perf_counter() - t0


def bare_sbatch(cmds: list[list[str]], work: Path, env: dict) -> float:
    """Seconds from submitting every command as its own sbatch job until SLURM reports all COMPLETED."""
    import shlex

    t0 = time.perf_counter()
    ids = [subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "-D", str(work), "-c", "1", "--mem", "2048",
                           "--wrap", shlex.join(c)], capture_output=True, text=True, env=env, check=True
                          ).stdout.strip().split(";")[0] for c in cmds]
    while True:
        states = _states(ids, env)
        if len(states) == len(ids) and all(s in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") for s in states.values()):
            break
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    bad = [i for i, s in states.items() if s != "COMPLETED"]
    if bad:
        raise SystemExit(f"{len(bad)} bare sbatch jobs failed (e.g. {bad[:3]})")
    return wall


def toil_slurm(workflow: Path, job: dict, work: Path, env: dict, name: str) -> float:
    jf = work / f"{name}.json"
    jf.write_text(json.dumps(job))
    req = RunRequest(workflow=workflow, job=jf, outdir=work / f"out-{name}", runner="toil", batch_system="slurm",
                     job_store=str(work / f"js-{name}"))
    req.profile = get_profile("ci-local", user=None)
    cmd = build_command(req)
    t0 = time.perf_counter()
    p = subprocess.run(cmd.argv, capture_output=True, text=True, env={**env, **cmd.env}, cwd=work)
    if p.returncode:
        raise SystemExit(f"toil {name} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return time.perf_counter() - t0


def print_model(fixed: float, per_frame: float) -> None:
    print(f"\ncost model (panosc_cwl.chunks): job = {fixed:.2f} s fixed + {per_frame * 1000:.1f} ms x frames")
    print(f"{'frames':>8}{'nodes':>7}{'cores':>7}{'chunk':>7}{'chunks':>8}{'waves':>7}{'wall s':>9}{'overhead':>10}"
          f"{'  (chunk 1: wall s)':>20}")
    for frames, nodes, cores in ((1000, 1, 2), (10000, 4, 32), (100000, 10, 64), (1000000, 50, 64)):
        plan = suggest_chunks(frames, nodes, cores, fixed_s=fixed, per_frame_s=per_frame)
        naive = predict(frames, 1, nodes * cores, fixed, per_frame)
        print(f"{frames:8d}{nodes:7d}{cores:7d}{plan.chunk:7d}{plan.n_chunks:8d}{plan.waves:7d}"
              f"{plan.predicted_wall_s:9.0f}{plan.overhead_fraction:10.1%}{naive.predicted_wall_s:20.0f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="scatter width = number of chunks (default 1000)")
    ap.add_argument("--chunk", type=int, default=1, help="frames per chunk (default 1)")
    ap.add_argument("--stack", type=int, default=20, help="frames in the simulated stack the chunks cycle over")
    ap.add_argument("--calib-modules", type=int, default=16, help="detector modules of the calibration run (0: skip)")
    ap.add_argument("--calib-trains", type=int, default=100, help="dark trains per module of the calibration run")
    ap.add_argument("--skip-toil", action="store_true", help="only the local and bare sbatch measurements")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--model", metavar="JSON", help="only print the cost model and chunk table of an earlier --json")
    args = ap.parse_args()
    if args.model:
        saved = json.loads(Path(args.model).read_text())
        print_model(saved["fixed_s"], saved["per_frame_s"])
        return 0
    env = slurm_env()
    if subprocess.run(["sinfo", "-h"], env=env, capture_output=True, timeout=20).returncode != 0:
        raise SystemExit("SLURM is not up (. .slurm/env, or .ci/slurm-up)")
    cpus = int(subprocess.run(["sinfo", "-h", "-o", "%C"], env=env, capture_output=True, text=True
                              ).stdout.strip().split("/")[-1] or 1)
    res: dict = {"n": args.n, "chunk": args.chunk, "slots": cpus}
    with tempfile.TemporaryDirectory(prefix="scatter-scale-", dir=os.environ.get("SCALE_TMP")) as tmp:
        work = Path(tmp)
        subprocess.run([str(BIN / "panosc-cwl"), "powder", "simulate", "--calibrant", "CeO2", "--frames",
                        str(args.stack), "-o", str(work / "data")], env=env, check=True, capture_output=True)
        stack, poni = work / "data/ceo2.h5", work / "data/ceo2.poni"
        # 1. the command alone: its start and its cost per frame
        t1 = min(timed(chunk_cmd(stack, poni, "0:1", work / f"l1-{i}.nxs"), env, work) for i in range(2))
        tf = min(timed(chunk_cmd(stack, poni, f"0:{args.stack}", work / f"lf-{i}.nxs"), env, work) for i in range(2))
        per_frame = (tf - t1) / (args.stack - 1)
        start = t1 - per_frame
        res.update(local_1=t1, local_stack=tf, per_frame_s=per_frame, step_start_s=start)
        ranges = [f"{(i * args.chunk) % args.stack}:{(i * args.chunk) % args.stack + args.chunk}" for i in range(args.n)]
        ranges = [r if int(r.split(":")[1]) <= args.stack else f"0:{args.chunk}" for r in ranges]
        # 2. N bare sbatch jobs
        (work / "bare").mkdir()
        res["bare_sbatch"] = bare_sbatch([chunk_cmd(stack, poni, r, work / "bare" / f"c{i}.nxs")
                                          for i, r in enumerate(ranges)], work, env)
        # 3. the same chunks as a Toil scatter on SLURM
        if not args.skip_toil:
            wf = work / "scatter.cwl"
            wf.write_text(SCATTER.format(tool=ROOT / "cwl/tools/pyfai-integrate1d-chunk.cwl"))
            job = {"frames": [{"class": "File", "path": str(stack)}], "dataset": "/entry/data/data",
                   "poni": {"class": "File", "path": str(poni)}, "frame_ranges": ranges}
            res["toil_slurm"] = toil_slurm(wf, job, work, env, f"scatter-{args.n}")
        # 4. calibration workflow
        if args.calib_modules and not args.skip_toil:
            res["calib"] = toil_slurm(ROOT / "cwl/workflows/detector-calibration-simulated.cwl",
                                      {"modules": args.calib_modules, "n_darks": args.calib_trains}, work, env,
                                      f"calib-{args.calib_modules}")

    n, slots = args.n, cpus
    # per job (fixed) seconds, from the makespan of n jobs on `slots` slots: wall ~ n/slots * (fixed + chunk*per_frame)
    fixed_bare = res["bare_sbatch"] * slots / n - args.chunk * per_frame
    print(f"SLURM: {slots} CPUs (job slots); N = {n} chunks of {args.chunk} frame(s); load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"chunk command alone: 1 frame {t1:.2f} s, {args.stack} frames {tf:.2f} s -> start {start:.2f} s, "
          f"{per_frame * 1000:.1f} ms/frame")
    print(f"\n{'way':<28}{'wall s':>9}{'per job s':>11}{'fixed s/job':>13}{'vs bare':>9}")
    print(f"{'N bare sbatch jobs':<28}{res['bare_sbatch']:9.1f}{res['bare_sbatch'] / n:11.2f}{fixed_bare:13.2f}"
          f"{1.0:9.2f}")
    fixed = fixed_bare
    if "toil_slurm" in res:
        fixed = res["toil_slurm"] * slots / n - args.chunk * per_frame
        print(f"{'Toil on SLURM scatter':<28}{res['toil_slurm']:9.1f}{res['toil_slurm'] / n:11.2f}{fixed:13.2f}"
              f"{res['toil_slurm'] / res['bare_sbatch']:9.2f}")
    res.update(fixed_s_bare=fixed_bare, fixed_s=fixed)
    if "calib" in res:
        print(f"\ncalibration workflow, {args.calib_modules} modules x {args.calib_trains} trains (Toil on SLURM): "
              f"{res['calib']:.1f} s = {res['calib'] / args.calib_modules:.1f} s per module")
    print_model(fixed, per_frame)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
