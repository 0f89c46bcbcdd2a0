"""Every workflow in cwl/workflows/ runs with its example job exactly as the job file's comment says.

The comment lines of each ``jobs/*.yml`` are its documentation: the data-making commands
("Make the data first: ...") and the ``panosc-cwl run cwl/workflows/W.cwl jobs/J.yml ...`` line.
Here they are parsed and executed verbatim (with bash, in a copy of ``jobs/`` beside links to
``cwl/`` and ``notebooks/``, as a user's clone), on this machine: no GPU and no stand-in
``nvidia-smi`` on PATH. Then each run's science is checked with the same assertions the
technique's own tests use. A workflow without a documented example job fails the collection test.

These are the only runs of the full example jobs; the technique tests run smaller jobs.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from science import check_powder_outputs

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted(p.stem for p in (ROOT / "cwl/workflows").glob("*.cwl"))

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("examples")]

_PREFIX = re.compile(r"^(?:Make the data first:|then:)\s*")
_COMMAND = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:panosc-cwl|mkdir|printf)\b")
_RUN = re.compile(r"panosc-cwl run (cwl/workflows/(\S+)\.cwl) (jobs/(\S+)\.yml)\b")


def documented_commands(job: Path) -> list[str]:
    """The shell commands in a job file's leading comment block, in order (continuations joined)."""
    commands: list[str] = []
    pending = ""
    for line in job.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = _PREFIX.sub("", line[1:].strip())
        if pending:
            text, pending = pending + " " + text, ""
        if text.endswith("\\"):
            pending = text[:-1].rstrip()
            continue
        if _COMMAND.match(text):
            commands.append(text)
    return commands


def examples() -> dict[str, tuple[str, list[str]]]:
    """workflow stem -> (job stem, commands up to and including its run line), one job per workflow."""
    found: dict[str, list[tuple[str, list[str]]]] = {}
    for job in sorted((ROOT / "jobs").glob("*.yml")):
        cmds = documented_commands(job)
        for i, cmd in enumerate(cmds):
            m = _RUN.search(cmd)
            if m and m.group(4) == job.stem:  # the job's own run line (not one it needs run first)
                found.setdefault(m.group(2), []).append((job.stem, cmds[: i + 1]))
    return {wf: max(cands, key=lambda c: difflib.SequenceMatcher(None, wf, c[0]).ratio())
            for wf, cands in found.items()}


EXAMPLES = examples()


def test_every_workflow_has_a_documented_example_job():
    assert sorted(EXAMPLES) == WORKFLOWS, f"no `panosc-cwl run` line in a job comment for {set(WORKFLOWS) - set(EXAMPLES)}"
    for wf, (job, cmds) in EXAMPLES.items():
        assert not any("cwltool" in c or "toil-cwl-runner" in c for c in cmds), (job, cmds)
        assert "--outdir out/" in cmds[-1], cmds[-1]


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> dict:
    """A user's working copy: jobs/ copied, cwl/ and notebooks/ linked, data/ and out/ made by the commands."""
    root = tmp_path_factory.mktemp("clone")
    shutil.copytree(ROOT / "jobs", root / "jobs")
    for name in ("cwl", "notebooks"):
        (root / name).symlink_to(ROOT / name)
    path = [str(BIN)] + [p for p in os.environ.get("PATH", "").split(os.pathsep)
                         if p and not (Path(p) / "nvidia-smi").exists()]
    env = {**os.environ, "PATH": os.pathsep.join(path), "MPLBACKEND": "Agg", "PANOSC_CWL_RUNS": str(root / "runs")}
    assert shutil.which("nvidia-smi", path=env["PATH"]) is None
    return {"root": root, "env": env, "done": set()}


def _run(clone: dict, commands: list[str]) -> subprocess.CompletedProcess:
    """The preparation commands (once per clone) and the run line, each as the comment writes it."""
    proc = None
    for cmd in commands:
        if cmd in clone["done"]:
            continue
        proc = subprocess.run(["bash", "-c", cmd], cwd=clone["root"], env=clone["env"], capture_output=True,
                              text=True, timeout=1200)
        assert proc.returncode == 0, f"$ {cmd}\n{proc.stderr[-4000:]}"
        clone["done"].add(cmd)
    assert proc is not None
    return proc


def _outdir(clone: dict, run_line: str) -> Path:
    words = shlex.split(run_line)
    return clone["root"] / words[words.index("--outdir") + 1]


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_workflow_example_runs_as_documented(clone, workflow):
    if workflow not in EXAMPLES:
        pytest.fail(f"{workflow}: no documented example job")
    job, commands = EXAMPLES[workflow]
    proc = _run(clone, commands)
    out = _outdir(clone, commands[-1])
    assert "Could not satisfy" not in proc.stderr
    outputs = [Path(p) for p in proc.stdout.split()]
    assert outputs and all(p.is_file() for p in outputs), proc.stdout
    assert (out / "provenance/metadata/provenance/primary.cwlprov.json").is_file()
    CHECKS[workflow](clone, out, proc)


# ------------------------------------------------------------------ the science, per workflow
def _check_tomo(clone, out: Path, proc) -> None:
    from panosc_cwl.tomo import CPU_PROGRAM, read_program

    assert "no GPU here: step reconstruct runs on its CPU path" in proc.stderr.splitlines()
    score = json.loads((out / "score.json").read_text())
    assert abs(score["cor"] - score["true_cor"]) <= 0.1 and min(score["pearson_r"]) >= 0.9, score
    assert 0.9 < score["mean_mu_ratio"] < 1.1
    assert read_program(out / "reconstruction.h5") == CPU_PROGRAM  # the code path that really ran
    assert (out / "slice.png").read_bytes()[:4] == b"\x89PNG"


def _check_cdi(clone, out: Path, proc) -> None:
    from panosc_cwl.cdi import read_reconstruction

    err = json.loads(next(out.glob("*error*.json")).read_text())
    assert err["error"] < 0.05, err
    rec = next(p for p in out.iterdir() if p.suffix in (".cxi", ".npz") and "rank" in p.name)
    assert read_reconstruction(rec).shape == (128, 128)


def _check_powder(clone, out: Path, proc) -> None:
    check_powder_outputs(out, 20)


def _check_powder_scatter(clone, out: Path, proc) -> None:
    _check_powder(clone, out, proc)
    with h5py.File(out / "integrated.nxs") as h5:
        assert list(h5["entry/integrated/frame_index"][()]) == list(range(20))  # chunks merged in order


def _check_calibration(out: Path, truth_dir: Path) -> None:
    from panosc_cwl.detector import read_constants, read_truth
    from test_detector import N_DARKS, check_constants

    for m in range(4):
        truth = read_truth(truth_dir / f"truth_m{m:02d}.h5")
        consts = read_constants(out / f"darks_m{m:02d}-constants.nxs")
        assert consts.module == m and consts.offset.shape == (64, 64)
        check_constants(consts.offset, consts.noise, consts.bad_pixels, truth, N_DARKS)
        with h5py.File(out / f"data_m{m:02d}-corrected.h5") as h5:
            corrected = h5["entry/data/data"][()]
        good = consts.bad_pixels == 0
        assert abs(np.mean(corrected.mean(axis=0)[good] - truth.signal[good])) < 1.0
        html = (out / f"darks_m{m:02d}-calibration.html").read_text()
        assert "data:image/png;base64" in html and "hot (offset too high)" in html


def _check_detector(clone, out: Path, proc) -> None:
    _check_calibration(out, clone["root"] / "data/detector")


def _check_detector_simulated(clone, out: Path, proc) -> None:
    _check_calibration(out, out)


def _check_euxfel(clone, out: Path, proc) -> None:
    from dataclasses import fields

    from panosc_cwl.euxfel import MockRun

    from test_euxfel import _check_outputs, check_virtual_cxi_and_stack

    raw = clone["root"] / "data/euxfel/raw"
    truth = json.loads(next(raw.glob("*-truth.json")).read_text())
    mock = MockRun(**{f.name: truth[f.name] for f in fields(MockRun) if f.name in truth})
    _check_outputs(out, {"truth": mock, "geometry": clone["root"] / "data/euxfel/agipd.geom", "run": raw / "r0238"})
    # the stack-modules example job on the workflow's corrected modules, its last documented line
    # (the line before it runs this same workflow into data/euxfel/modules: linked here instead)
    (clone["root"] / "data/euxfel/modules").symlink_to(out)
    stack_run = documented_commands(clone["root"] / "jobs/agipd-stack-modules-r0238.yml")[-1]
    assert "agipd-stack-modules.cwl" in stack_run, stack_run
    _run(clone, [stack_run])
    check_virtual_cxi_and_stack(out, raw / "r0238", _outdir(clone, stack_run) / "corrected.h5")


CHECKS = {
    "tomo": _check_tomo,
    "cdi": _check_cdi,
    "powder-xrd": _check_powder,
    "powder-xrd-scatter": _check_powder_scatter,
    "detector-calibration": _check_detector,
    "detector-calibration-simulated": _check_detector_simulated,
    "euxfel-agipd": _check_euxfel,
}
