"""The chunk size panosc-cwl recommends follows its cost model (job = fixed + frames x per frame), whatever
the measured constants are; the CLI prints it and the frame ranges cover every frame once."""

import os
import subprocess
import sys
from pathlib import Path

from panosc_cwl.chunks import DEFAULT_FIXED_S, DEFAULT_PER_FRAME_S, predict, suggest_chunks

BIN = Path(sys.executable).parent


def _covers(ranges: list[str], frames: int) -> bool:
    seen = [i for r in ranges for i in range(*(int(x) for x in r.split(":")))]
    return seen == list(range(frames))


def test_chunk_grows_with_fixed_cost_and_shrinks_with_slots():
    frames = 20000
    chunks = [suggest_chunks(frames, 4, 32, fixed_s=f, per_frame_s=0.03).chunk for f in (0.5, 2, 8, 32)]
    assert chunks == sorted(chunks) and chunks[-1] > chunks[0]  # a dearer job start: fewer, longer jobs
    slots = [suggest_chunks(frames, n, 32, fixed_s=2, per_frame_s=0.03).chunk for n in (1, 4, 16)]
    assert slots == sorted(slots, reverse=True)  # more nodes: smaller chunks, as long as they pay off


def test_recommended_chunks_beat_one_frame_per_job_and_respect_the_limits():
    for frames, nodes, cores in ((1000, 1, 2), (10000, 4, 32), (100000, 10, 64), (10**6, 50, 64)):
        plan = suggest_chunks(frames, nodes, cores)
        assert _covers(plan.frame_ranges(), frames) and len(plan.frame_ranges()) == plan.n_chunks
        sizes = [int(b) - int(a) for a, b in (r.split(":") for r in plan.frame_ranges())]
        assert max(sizes) - min(sizes) <= plan.n_chunks  # evenly filled, no short straggler chunk
        assert plan.chunk * DEFAULT_PER_FRAME_S <= 600  # max_chunk_s
        naive = predict(frames, 1, nodes * cores)
        assert plan.predicted_cpu_s < naive.predicted_cpu_s
        assert plan.predicted_wall_s <= naive.predicted_wall_s
        if frames * DEFAULT_PER_FRAME_S >= DEFAULT_FIXED_S:  # enough work to pay one job start
            assert plan.overhead_fraction <= 0.5 + 1e-9


def test_chunks_command_prints_the_plan_and_refuses_bad_counts():
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run([str(BIN / "panosc-cwl"), "powder", "chunks", "--frames", "3000", "--nodes", "1",
                          "--cores-per-node", "2", "--fixed-s", "3", "--per-frame-s", "0.03", "--ranges"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    plan = suggest_chunks(3000, 1, 2, fixed_s=3, per_frame_s=0.03)
    assert f"chunk:     {plan.chunk} frames ({plan.n_chunks} jobs" in out.stdout
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("frame_ranges: "))
    assert _covers([r.strip(' "') for r in line[len("frame_ranges: ["):-1].split(",")], 3000)
    bad = subprocess.run([str(BIN / "panosc-cwl"), "powder", "chunks", "--frames", "0"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert bad.returncode != 0 and "frames must be >= 1" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
