"""GPU requests of CWL steps: made only where a GPU can be had, so every example also runs on a laptop.

Why not a ``cwltool:CUDARequirement`` hint in the tool files: cwltool 3.3 (``job.py`` ``_setup``)
checks that hint with ``nvidia-smi -q -x`` exactly as if it were a requirement, and raises
"Could not satisfy CUDARequirement" on a machine without a GPU, even for ``cudaDeviceCountMin: 0``;
Toil turns it into an accelerator request that its single_machine batch system refuses on such a
machine. There is no switch for either. So the GPU-capable tools (which all have a CPU path) carry
no GPU hint; their request lives in one stock cwltool overrides file, ``cwl/gpu-overrides.yml``,
that stock ``cwltool``/``toil-cwl-runner`` read with ``--overrides`` (its keys, ``../tools/X.cwl#id``,
resolve the same from ``cwl/workflows/*.cwl`` and ``cwl/tools/*.cwl``). ``panosc-cwl run`` adds
``--overrides`` where a GPU can be had (a local GPU that nvidia-smi reports, or a batch system such
as SLURM, which then gets ``--gres=gpu:1``), and otherwise says once which steps run their CPU path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlparse

OVERRIDES_NAME = "gpu-overrides.yml"
CUDA = "http://commonwl.org/cwltool#CUDARequirement"


@dataclass
class GpuPlan:
    """What a run does about GPUs: which steps could use one, whether one is requested, and why."""

    steps: list[str] = field(default_factory=list)  # steps (or the tool) listed in the overrides file
    hard: list[str] = field(default_factory=list)  # steps whose own file carries a CUDARequirement
    gpus: int = 0  # GPUs nvidia-smi reports here
    cuda: str = ""  # CUDA version nvidia-smi reports ("" without nvidia-smi)
    overrides: Path | None = None  # the overrides file to give the runner (None: no GPU request)
    batch: bool = False  # a batch system places the jobs (the GPU is on a compute node)

    def notes(self) -> list[str]:
        """One line each: what happens to the GPU-capable steps of this run (empty: none)."""
        out = []
        if self.steps:
            names = ", ".join(self.steps)
            what = f"step{'s' if len(self.steps) > 1 else ''} {names}"
            if self.batch and self.overrides:
                verb = "ask" if len(self.steps) > 1 else "asks"
                out.append(f"GPU: {what} {verb} the batch system for a GPU ({self.overrides.name})")
            elif self.overrides:
                out.append(f"GPU: {self.gpus} here (CUDA {self.cuda}): {what} may use it")
            else:
                verb = "run on their" if len(self.steps) > 1 else "runs on its"
                out.append(f"no GPU here: {what} {verb} CPU path")
        if self.hard and not self.gpus and not self.batch:
            out.append(f"no GPU here: step{'s' if len(self.hard) > 1 else ''} {', '.join(self.hard)} "
                       "require a GPU (CUDARequirement in the CWL file) and will be refused by the runner")
        return out


def local_gpus() -> tuple[str, int]:
    """(CUDA version, GPU count) exactly as cwltool's own check sees them (``nvidia-smi -q -x``)."""
    from cwltool.cuda import cuda_version_and_device_count

    return cuda_version_and_device_count()


def overrides_file(process: str | os.PathLike) -> Path | None:
    """The ``gpu-overrides.yml`` of the CWL tree ``process`` belongs to (``cwl/``), if any."""
    p = Path(process).resolve()
    for folder in (p.parent, p.parent.parent):
        f = folder / OVERRIDES_NAME
        if f.is_file():
            return f
    return None


def _targets(overrides: Path, main: Path) -> set[str]:
    """The files (``file:`` paths, no fragment) the overrides name, resolved as cwltool does: from ``main``."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(overrides.read_text(encoding="utf-8")) or {}
    entries = data.get("cwltool:overrides") or data.get("http://commonwl.org/cwltool#overrides") or {}
    base = main.as_uri()
    return {urlparse(urljoin(base, str(key))).path for key in entries}


def _has_cuda(doc) -> bool:
    for group in (getattr(doc, "requirements", None) or [], getattr(doc, "hints", None) or []):
        for req in group:
            cls = req.get("class") if isinstance(req, dict) else getattr(req, "class_", None)
            if cls and str(cls).endswith("CUDARequirement"):
                return True
    return False


def plan(process: str | os.PathLike, *, batch_system: str = "single_machine") -> GpuPlan:
    """Which steps of ``process`` could use a GPU, and whether this run asks for one (see module doc)."""
    from .provenance._util import short_id
    from .validate import load_process

    main = Path(process).resolve()
    doc = load_process(main).doc
    ov = overrides_file(main)
    targets = _targets(ov, main) if ov else set()
    result = GpuPlan(batch=batch_system != "single_machine")
    if getattr(doc, "class_", "") == "Workflow":
        for step in doc.steps or []:
            name = short_id(step.id)
            run = step.run if isinstance(step.run, str) else getattr(step.run, "id", "") or ""
            path = urlparse(run).path
            if path in targets:
                result.steps.append(name)
            else:
                tool = step.run if not isinstance(step.run, str) else None
                if tool is None and path and Path(path).is_file():
                    try:
                        tool = load_process(path).doc
                    except Exception:  # noqa: BLE001 - a broken step file is reported by validation
                        tool = None
                if tool is not None and _has_cuda(tool):
                    result.hard.append(name)
    elif str(main) in targets:
        result.steps.append(short_id(doc.id) if getattr(doc, "id", None) else main.stem)
    elif _has_cuda(doc):
        result.hard.append(main.stem)
    if not (result.steps or result.hard):
        return result
    result.cuda, result.gpus = local_gpus()
    if result.steps and (result.batch or result.gpus > 0):
        result.overrides = ov
    return result
