"""How to cut a frame stack into scattered integration jobs: a cost model and the chunk size it recommends.

Each scattered job (``cwl/tools/pyfai-integrate1d-chunk.cwl``, one ``frame_range``) costs a fixed
part, paid once per job whatever its size, plus a part per frame:

    job seconds = fixed_s + frames_in_chunk * per_frame_s

``fixed_s`` is the scheduler and Toil's per-job cost (submission, worker start, staging) plus the
step's own start (Python, pyFAI import, geometry tables); ``per_frame_s`` is pyFAI's integration of
one frame with its read. The defaults were measured on this project's 2-core node (see benchmarks/README.md);
``benchmarks/scatter_scale.py`` measures both on your cluster: pass its figures.

With ``slots`` jobs running at once, ``n`` chunks run in ``ceil(n / slots)`` waves, so the run takes
about ``waves * (fixed_s + chunk * per_frame_s)``: the wall time is shortest with one chunk per slot
(one wave). More, smaller chunks only add fixed costs, except that a chunk should not run longer
than ``max_chunk_s`` (a SLURM time limit, the work lost when a node fails) and should be long
enough that the fixed part is at most ``max_overhead`` (default half) of the job's CPU time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .exceptions import InputError

#: seconds (of a job slot) per job outside the frames, measured by benchmarks/scatter_scale.py on this project's
#: 2-core single-node SLURM: a 1000-way Toil scatter of 1-frame chunks, wall x slots / jobs - 1 frame
#: (2026-12-03, 603 of 1000 jobs done in 2065 s under load 2-6, the rest projected; benchmarks/README.md)
DEFAULT_FIXED_S = 6.6
#: seconds per Pilatus-1M frame, 2000 bins, bbox CSR, with its read: the chunk command on 1 vs 100 frames
#: (same script, --local-only, load 1.2)
DEFAULT_PER_FRAME_S = 0.028


@dataclass(frozen=True)
class ChunkPlan:
    """A recommended split of ``frames`` frames into ``n_chunks`` jobs of at most ``chunk`` frames."""

    frames: int
    slots: int
    chunk: int
    n_chunks: int
    waves: int
    predicted_wall_s: float  # makespan on ``slots`` job slots
    predicted_cpu_s: float  # CPU-seconds charged, fixed parts included
    overhead_fraction: float  # share of the CPU-seconds that is fixed cost
    fixed_s: float
    per_frame_s: float

    def frame_ranges(self) -> list[str]:
        """The ``START:STOP`` strings for the scatter workflow's ``frame_ranges`` input."""
        return [f"{a}:{min(a + self.chunk, self.frames)}" for a in range(0, self.frames, self.chunk)]

    def as_dict(self) -> dict:
        return asdict(self)


def predict(frames: int, chunk: int, slots: int, fixed_s: float = DEFAULT_FIXED_S,
            per_frame_s: float = DEFAULT_PER_FRAME_S) -> ChunkPlan:
    """The cost model's wall time and CPU time for a given chunk size."""
    if frames < 1 or chunk < 1 or slots < 1:
        raise InputError(f"frames, chunk and slots must be >= 1 (got {frames}, {chunk}, {slots})", field="chunk")
    n = math.ceil(frames / chunk)
    waves = math.ceil(n / slots)
    wall = waves * (fixed_s + chunk * per_frame_s)
    cpu = n * fixed_s + frames * per_frame_s
    return ChunkPlan(frames, slots, chunk, n, waves, wall, cpu, n * fixed_s / cpu, fixed_s, per_frame_s)


def suggest_chunks(frames: int, nodes: int, cores_per_node: int = 1, *, fixed_s: float = DEFAULT_FIXED_S,
                   per_frame_s: float = DEFAULT_PER_FRAME_S, max_chunk_s: float = 600.0,
                   max_overhead: float = 0.5) -> ChunkPlan:
    """The chunk size for ``frames`` frames on ``nodes`` nodes running ``cores_per_node`` jobs each.

    One wave (a chunk per slot) when the chunks stay under ``max_chunk_s``; otherwise the smallest
    number of waves that keeps them under it. The chunk is never made so small that the fixed cost
    exceeds ``max_overhead`` of a job's time (default: half; fewer, longer jobs then, or a wide
    cluster spends more CPU-seconds starting jobs than integrating).
    """
    if nodes < 1 or cores_per_node < 1:
        raise InputError(f"nodes and cores per node must be >= 1 (got {nodes}, {cores_per_node})", field="nodes")
    if frames < 1:
        raise InputError(f"frames must be >= 1 (got {frames})", field="frames")
    if fixed_s < 0 or per_frame_s <= 0:
        raise InputError("the cost model needs fixed_s >= 0 and per_frame_s > 0", field="per_frame_s")
    slots = nodes * cores_per_node
    longest = max(1, int(max_chunk_s / per_frame_s))  # frames a chunk may hold within max_chunk_s
    shortest = max(1, math.ceil(fixed_s * (1 - max_overhead) / (max_overhead * per_frame_s)))
    chunk = math.ceil(frames / slots)  # one wave
    if chunk > longest:
        waves = math.ceil(chunk / longest)
        chunk = math.ceil(frames / (slots * waves))
    chunk = min(max(chunk, min(shortest, longest)), frames)
    # as many jobs, evenly filled: 1000 frames in chunks of 725 would be 725 + 275 frames; 500 + 500 ends sooner
    even = math.ceil(frames / math.ceil(frames / chunk))
    if even < min(shortest, longest, frames):  # evening out went under the shortest chunk: one job fewer
        even = math.ceil(frames / max(1, frames // chunk))
    if even <= longest:
        chunk = even
    return predict(frames, chunk, slots, fixed_s, per_frame_s)
