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
import shutil
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

EDAM = "http://edamontology.org/"

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
  npt: int
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
      npt: npt
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


def bare_sbatch(cmds: list[list[str]], work: Path, env: dict, stop_at: float | None = None,
                progress=None) -> dict:
    """Submit every command as its own sbatch job; wait until SLURM reports all of them done.

    Returns wall (s, submit of the first to the last one done), done (jobs COMPLETED) and the
    timeline [(s, done)]. At ``stop_at`` (epoch seconds) the jobs left are cancelled and
    ``complete`` is False: the wall is then the time until the stop.
    """
    import shlex

    t0 = time.perf_counter()
    ids = [subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "-D", str(work), "-c", "1", "--mem", "2048",
                           "-J", "scale_bare", "--wrap", shlex.join(c)], capture_output=True, text=True, env=env,
                          check=True).stdout.strip().split(";")[0] for c in cmds]
    submit_s = time.perf_counter() - t0
    timeline, last = [], -1.0
    complete = True
    while True:
        states = _states(ids, env)
        done = sum(s == "COMPLETED" for s in states.values())
        now = time.perf_counter() - t0
        if now - last >= 10:
            timeline.append((round(now, 1), done))
            last = now
            if progress:
                progress(timeline)
        if len(states) == len(ids) and all(s in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT") for s in states.values()):
            break
        if stop_at and time.time() > stop_at:
            subprocess.run(["scancel", *[i for i, s in states.items() if s in ("PENDING", "RUNNING")]], env=env,
                           capture_output=True)
            complete = False
            break
        time.sleep(1.0)
    wall = time.perf_counter() - t0
    timeline.append((round(wall, 1), done))
    bad = [i for i, s in states.items() if s not in ("COMPLETED", "PENDING", "RUNNING", "CANCELLED")]
    if bad:
        raise SystemExit(f"{len(bad)} bare sbatch jobs failed (e.g. {bad[:3]})")
    return {"wall": wall, "done": done, "complete": complete, "submit_s": submit_s, "timeline": timeline}


def _toil_jobs(work: Path, env: dict) -> dict[str, str]:
    """SLURM state of the Toil batch jobs of this run (their stdout goes under ``work``)."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, env=env).stdout
    found = {}
    for line in out.splitlines():
        rec = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if rec.get("JobName", "").startswith("toil_job_") and str(work) in rec.get("StdOut", ""):
            found[rec["JobId"]] = rec["JobState"]
    return found


def toil_slurm(workflow: Path, job: dict, work: Path, env: dict, name: str, stop_at: float | None = None,
               progress=None, extra: list[str] | None = None) -> dict:
    """Run ``workflow`` with Toil on SLURM (panosc-cwl's command, ci-local profile), timeline of its batch jobs."""
    import signal

    jf = work / f"{name}.json"
    jf.write_text(json.dumps(job))
    wd = work / f"wd-{name}"
    wd.mkdir()
    req = RunRequest(workflow=workflow, job=jf, outdir=work / f"out-{name}", runner="toil", batch_system="slurm",
                     job_store=str(work / f"js-{name}"), extra_args=["--workDir", str(wd), *(extra or [])])
    req.profile = get_profile("ci-local", user=None)
    cmd = build_command(req)
    t0 = time.perf_counter()
    log = open(work / f"{name}.log", "w")
    p = subprocess.Popen(cmd.argv, stdout=log, stderr=subprocess.STDOUT, text=True, env={**env, **cmd.env}, cwd=work,
                         start_new_session=True)
    timeline, last, complete = [], -1.0, True
    while p.poll() is None:
        now = time.perf_counter() - t0
        if now - last >= 10:
            states = _toil_jobs(wd, env)
            timeline.append((round(now, 1), sum(s == "COMPLETED" for s in states.values()), len(states)))
            last = now
            if progress:
                progress(timeline)
        if stop_at and time.time() > stop_at:
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
            left = [i for i, s in _toil_jobs(wd, env).items() if s in ("PENDING", "RUNNING")]
            if left:
                subprocess.run(["scancel", *left], env=env, capture_output=True)
            complete = False
            break
        time.sleep(1.0)
    wall = time.perf_counter() - t0
    log.close()
    states = _toil_jobs(wd, env)
    timeline.append((round(wall, 1), sum(s == "COMPLETED" for s in states.values()), len(states)))
    if complete and p.returncode:
        raise SystemExit(f"toil {name} failed ({p.returncode}):\n{(work / f'{name}.log').read_text()[-3000:]}")
    return {"wall": wall, "complete": complete, "timeline": timeline, "batch_jobs": len(states),
            "argv": cmd.argv, "env": cmd.env, "outdir": str(req.outdir)}


def print_model(fixed: float, per_frame: float) -> None:
    print(f"\ncost model (panosc_cwl.chunks): job = {fixed:.2f} s fixed + {per_frame * 1000:.1f} ms x frames")
    print(f"{'frames':>8}{'nodes':>7}{'cores':>7}{'chunk':>7}{'chunks':>8}{'waves':>7}{'wall s':>9}{'overhead':>10}"
          f"{'  (chunk 1: wall s)':>20}")
    for frames, nodes, cores in ((1000, 1, 2), (10000, 4, 32), (100000, 10, 64), (1000000, 50, 64)):
        plan = suggest_chunks(frames, nodes, cores, fixed_s=fixed, per_frame_s=per_frame)
        naive = predict(frames, 1, nodes * cores, fixed, per_frame)
        print(f"{frames:8d}{nodes:7d}{cores:7d}{plan.chunk:7d}{plan.n_chunks:8d}{plan.waves:7d}"
              f"{plan.predicted_wall_s:9.0f}{plan.overhead_fraction:10.1%}{naive.predicted_wall_s:20.0f}")
    cores = 32
    nodes = (1, 4, 16, 64)
    print(f"\nrecommended chunk (frames per job) / predicted wall s, {cores} jobs per node:")
    print(f"{'frames':>9}" + "".join(f"{f'{n} node' + ('s' if n > 1 else ''):>16}" for n in nodes))
    for frames in (1000, 10000, 100000, 1000000, 10000000):
        cells = []
        for n in nodes:
            plan = suggest_chunks(frames, n, cores, fixed_s=fixed, per_frame_s=per_frame)
            cells.append(f"{plan.chunk} / {plan.predicted_wall_s:.0f}")
        print(f"{frames:9d}" + "".join(f"{c:>16}" for c in cells))


def check_calibration(outdir: Path, n_darks: int) -> dict:
    """Every module's constants against the simulation's truth (the tolerances of tests/test_detector.py)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_detector import check_constants

    from panosc_cwl.detector import read_constants, read_truth

    outputs = json.loads((outdir / "cwl.output.json").read_text()) if (outdir / "cwl.output.json").is_file() else None
    consts = sorted(outdir.glob("**/*constants*.nxs")) if outputs is None else [Path(f["path"]) for f in outputs["constants"]]
    truths = sorted(outdir.glob("**/*truth*.h5")) if outputs is None else [Path(f["path"]) for f in outputs["truth"]]
    if len(consts) != len(truths) or not consts:
        raise SystemExit(f"calibration: {len(consts)} constants files for {len(truths)} truth files")
    for c, t in zip(consts, truths):
        k = read_constants(c)
        check_constants(k.offset, k.noise, k.bad_pixels, read_truth(t), n_darks)
    return {"modules_checked": len(consts)}


def _stop_epoch(hhmm: str | None) -> float | None:
    """HH:MM (UTC, today or tomorrow) as epoch seconds."""
    if not hhmm:
        return None
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    h, m = (int(x) for x in hhmm.split(":"))
    t = now.replace(hour=h, minute=m, second=0, microsecond=0)
    if t < now - dt.timedelta(hours=12):
        t += dt.timedelta(days=1)
    return t.timestamp()


def _projection(r: dict, n: int) -> float:
    """Wall time for all n jobs from the steady completion rate of a stopped run (first done to last)."""
    tl = [x for x in r["timeline"] if x[1] > 0]
    if r["complete"] or len(tl) < 2 or tl[-1][1] == tl[0][1]:
        return r["wall"]
    (ta, da), (tb, db) = (tl[0][0], tl[0][1]), (tl[-1][0], tl[-1][1])
    return ta + (n - da) * (tb - ta) / (db - da)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="scatter width = number of chunks (default 1000)")
    ap.add_argument("--bare-n", type=int, help="number of bare sbatch jobs (default: --n)")
    ap.add_argument("--chunk", type=int, default=1, help="frames per chunk (default 1)")
    ap.add_argument("--stack", type=int, default=20, help="frames in the simulated stack the chunks cycle over")
    ap.add_argument("--order", choices=["bare-first", "toil-first"], default="bare-first")
    ap.add_argument("--stop-at", metavar="HH:MM", help="UTC time at which a way still running is stopped; its "
                    "wall time for all N is then projected from its steady completion rate (labelled so)")
    ap.add_argument("--toil-args", default="", help="extra toil-cwl-runner options for the scatter (one string)")
    ap.add_argument("--calib-modules", type=int, default=16, help="detector modules of the calibration run (0: skip)")
    ap.add_argument("--calib-trains", type=int, default=100, help="dark trains per module of the calibration run")
    ap.add_argument("--calib-shape", default="512x128", help="pixels per module, ROWSxCOLS (AGIPD: 512x128)")
    ap.add_argument("--calib-only", action="store_true", help="only the calibration workflow")
    ap.add_argument("--local-only", action="store_true", help="only the chunk command alone (start, per frame)")
    ap.add_argument("--reps", type=int, default=2, help="repeats of the lone command, the fastest kept (default 2)")
    ap.add_argument("--skip-toil", action="store_true", help="only the local and bare sbatch measurements")
    ap.add_argument("--json", help="also write the figures here (rewritten as the run goes)")
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
    stop_at = _stop_epoch(args.stop_at)
    bare_n = args.bare_n or args.n
    res: dict = {"n": args.n, "bare_n": bare_n, "chunk": args.chunk, "slots": cpus, "order": args.order,
                 "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "toil_args": args.toil_args}

    def save(**kw) -> None:
        res.update(kw)
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1))

    with tempfile.TemporaryDirectory(prefix="scatter-scale-", dir=os.environ.get("SCALE_TMP")) as tmp:
        work = Path(tmp)
        if args.calib_modules:
            rows, cols = (int(x) for x in args.calib_shape.split("x"))
            calib_job = {"modules": args.calib_modules, "n_darks": args.calib_trains, "module_shape": [rows, cols]}
        if not args.calib_only:
            subprocess.run([str(BIN / "panosc-cwl"), "powder", "simulate", "--calibrant", "CeO2", "--frames",
                            str(args.stack), "-o", str(work / "data")], env=env, check=True, capture_output=True)
            stack, poni = work / "data/ceo2.h5", work / "data/ceo2.poni"
            # 1. the command alone: its start and its cost per frame
            t1s, tfs = [], []
            for i in range(args.reps):  # interleaved, so that a change of load hits both
                t1s.append(timed(chunk_cmd(stack, poni, "0:1", work / f"l1-{i}.nxs"), env, work))
                tfs.append(timed(chunk_cmd(stack, poni, f"0:{args.stack}", work / f"lf-{i}.nxs"), env, work))
            t1, tf = min(t1s), min(tfs)
            per_frame = (tf - t1) / (args.stack - 1)
            save(local_1=t1, local_stack=tf, per_frame_s=per_frame, step_start_s=t1 - per_frame,
                 load_before=os.getloadavg()[0], stack=args.stack)
            if args.local_only:
                print(f"chunk command alone (best of {args.reps}, load average {os.getloadavg()[0]:.1f}): 1 frame "
                      f"{t1:.2f} s, {args.stack} frames {tf:.2f} s -> start {t1 - per_frame:.2f} s, "
                      f"{per_frame * 1000:.1f} ms/frame")
                return 0

            def ranges(n: int) -> list[str]:
                r = [f"{(i * args.chunk) % args.stack}:{(i * args.chunk) % args.stack + args.chunk}" for i in range(n)]
                return [x if int(x.split(":")[1]) <= args.stack else f"0:{args.chunk}" for x in r]

            def run_bare() -> None:
                (work / "bare").mkdir()
                r = bare_sbatch([chunk_cmd(stack, poni, x, work / "bare" / f"c{i}.nxs")
                                 for i, x in enumerate(ranges(bare_n))], work, env, stop_at,
                                progress=lambda tl: save(bare_timeline=tl))
                outs = len(list((work / "bare").glob("*.nxs")))
                shutil.rmtree(work / "bare")
                save(bare=r, bare_outputs=outs, load_after_bare=os.getloadavg()[0])

            def run_toil() -> None:
                wf = work / "scatter.cwl"
                wf.write_text(SCATTER.format(tool=ROOT / "cwl/tools/pyfai-integrate1d-chunk.cwl"))
                job = {"frames": [{"class": "File", "path": str(stack), "format": EDAM + "format_3590"}],
                       "dataset": "/entry/data/data", "npt": 2000,  # unit: the tool's default 2th_deg
                       "poni": {"class": "File", "path": str(poni), "format": EDAM + "format_2330"},
                       "frame_ranges": ranges(args.n)}
                r = toil_slurm(wf, job, work, env, f"scatter-{args.n}", stop_at,
                               progress=lambda tl: save(toil_timeline=tl), extra=args.toil_args.split())
                out = Path(r["outdir"])
                r["outputs"] = sum(f.is_file() for f in out.rglob("*")) if out.is_dir() else 0  # chunk.nxs, chunk.nxs_2, ...
                for d in work.glob(f"*-scatter-{args.n}"):
                    shutil.rmtree(d, ignore_errors=True)
                save(toil=r, load_after_toil=os.getloadavg()[0])

            ways = [run_bare] + ([] if args.skip_toil else [run_toil])
            for way in (ways if args.order == "bare-first" else ways[::-1]):
                if stop_at and time.time() > stop_at:
                    break
                way()
        # 4. calibration workflow
        if args.calib_modules and not args.skip_toil and not (stop_at and time.time() > stop_at):
            r = toil_slurm(ROOT / "cwl/workflows/detector-calibration-simulated.cwl", calib_job, work, env,
                           f"calib-{args.calib_modules}")
            if r["complete"]:
                r.update(check_calibration(Path(r["outdir"]), args.calib_trains))
            save(calib=r, calib_job=calib_job)

    if args.calib_only:
        c = res["calib"]
        print(f"calibration workflow {calib_job} (Toil on SLURM): {c['wall']:.1f} s = "
              f"{c['wall'] / args.calib_modules:.1f} s per module, {c['batch_jobs']} batch jobs, "
              f"{c.get('modules_checked', 0)} modules' constants match the truth")
        return 0
    slots = cpus
    t1, tf, per_frame = res["local_1"], res["local_stack"], res["per_frame_s"]
    print(f"SLURM: {slots} CPUs (job slots); N = {args.n} chunks of {args.chunk} frame(s); load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"chunk command alone: 1 frame {t1:.2f} s, {args.stack} frames {tf:.2f} s -> start {res['step_start_s']:.2f} s, "
          f"{per_frame * 1000:.1f} ms/frame")
    print(f"\n{'way':<24}{'N':>6}{'done':>6}{'wall s':>9}{'wall(N) s':>11}{'per job s':>11}{'fixed s/job':>13}"
          f"{'vs bare':>9}")
    fixed = None
    rows = []
    for key, label, n in (("bare", "bare sbatch jobs", bare_n), ("toil", "Toil on SLURM scatter", args.n)):
        if key not in res:
            continue
        r = res[key]
        done = r["timeline"][-1][1]
        full = _projection(r, n) * (args.n / n)  # scaled to N jobs
        fx = full * slots / args.n - args.chunk * per_frame
        rows.append((key, label, n, done, r["wall"], full, fx, r["complete"] and n == args.n))
        res[f"{key}_wall_n"] = full
        res[f"fixed_s_{key}"] = fx
        fixed = fx
    base = res.get("bare_wall_n")
    for key, label, n, done, wall, full, fx, measured in rows:
        tag = "" if measured else " (projected)"
        ratio = f"{full / base:9.2f}" if base else ""
        print(f"{label:<24}{n:6d}{done:6d}{wall:9.1f}{full:11.1f}{full / args.n:11.2f}{fx:13.2f}{ratio}{tag}")
    res["fixed_s"] = fixed
    if "calib" in res:
        c = res["calib"]
        print(f"\ncalibration workflow, {args.calib_modules} modules x {args.calib_trains} trains "
              f"({args.calib_shape} pixels, Toil on SLURM): {c['wall']:.1f} s = {c['wall'] / args.calib_modules:.1f} s "
              f"per module; constants of {c.get('modules_checked', 0)} modules match the truth")
    print_model(fixed, per_frame)
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
