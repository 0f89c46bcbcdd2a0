"""Pre-flight validation: the bad-input corpus through the real CLI, positions, speed, allowed roots.

Every folder of ``tests/bad_inputs/`` is one case: its files are copied to a temporary folder next
to a ``data/`` folder of fixtures (real HDF5 files, a PONI file, corrupt and truncated HDF5...)
made here, ``args.txt`` (default ``validate {workflow} job.yml``) is run with ``panosc-cwl`` in
the case folder, and every line of ``expected.txt`` must be a line of stderr (a line ending in
``...`` is a prefix). Exit status must be 2 and stderr must hold no traceback.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from panosc_cwl.validate import outside_roots, planned_outputs, validate_job

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "bad_inputs"
WORKFLOW = ROOT / "cwl" / "workflows" / "powder-xrd.cwl"
TOOLS = ROOT / "cwl" / "tools"
CLI = [str(Path(sys.executable).parent / "panosc-cwl")]
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir() and (p / "expected.txt").exists())

PONI = """poni_version: 2.1
Detector: Pilatus100k
Detector_config: {"pixel1": 0.000172, "pixel2": 0.000172, "orientation": 3}
Distance: 0.1
Poni1: 0.01677
Poni2: 0.041882
Rot1: 0.0
Rot2: 0.0
Rot3: 0
Wavelength: 1e-10
"""


def make_fixture_data(folder: Path) -> Path:
    """Small real and broken input files the corpus jobs point at (``../data/...``)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with h5py.File(folder / "frames.h5", "w") as h5:
        h5["entry/data/data"] = rng.poisson(50, (3, 16, 16)).astype("uint32")
        h5["entry/data/spectrum"] = np.arange(100.0)
        h5["entry/data/labels"] = np.array([[b"a", b"b"], [b"c", b"d"]])
        h5.create_group("entry/instrument")
    with h5py.File(folder / "other.h5", "w") as h5:
        h5["entry/data/data"] = np.zeros((2, 8, 8), "float32")
    good = (folder / "frames.h5").read_bytes()
    (folder / "truncated.h5").write_bytes(good[:1500])
    (folder / "corrupt.h5").write_bytes(b"this is not HDF5 at all\n" * 20)
    (folder / "empty.h5").write_bytes(b"")
    (folder / "geometry.poni").write_text(PONI)
    (folder / "adir").mkdir(exist_ok=True)
    shutil.copy(folder / "frames.h5", folder / "bad name $(touch x).h5")
    locked = folder / "locked.h5"
    shutil.copy(folder / "frames.h5", locked)
    locked.chmod(0)
    return folder


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("bad_inputs")
    make_fixture_data(base / "data")
    for name in CASES:
        shutil.copytree(CORPUS / name, base / name)
    return base


def run_cli(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_corpus_is_large_enough():
    assert len(CASES) >= 40, CASES


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case: str, corpus_dir: Path):
    folder = corpus_dir / case
    if (folder / "needs-non-root").exists() and os.geteuid() == 0:
        pytest.skip("root reads any file: an unreadable file cannot be made")
    args_file = folder / "args.txt"
    args_text = args_file.read_text().strip() if args_file.exists() else "validate {workflow} job.yml"
    args = [a.format(workflow=WORKFLOW, tools=TOOLS) for a in shlex.split(args_text)]
    proc = run_cli(args, folder)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    for want in (folder / "expected.txt").read_text(encoding="utf-8").splitlines():
        if not want.strip():
            continue
        if want.endswith("..."):
            assert any(line.startswith(want[:-3]) for line in lines), f"{want!r} not in\n{proc.stderr}"
        else:
            assert want in lines, f"{want!r} not in\n{proc.stderr}"


# ------------------------------------------------------------------ library behaviour
@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_fixture_data(tmp_path_factory.mktemp("vdata") / "data")


def _job(folder: Path, text: str) -> Path:
    job = folder / "job.yml"
    job.write_text(text)
    return job


def test_valid_job_has_no_issues(data: Path, tmp_path: Path):
    job = _job(tmp_path, f"""frames:
  - {{class: File, path: {data}/frames.h5}}
dataset: /entry/data/data
poni: {{class: File, location: {(data / 'geometry.poni').as_uri()}}}
npt: 500
unit: q_nm^-1
calibrant: CeO2
""")
    report = validate_job(WORKFLOW, job)
    assert report.ok and not report.warnings, [i.one_line() for i in report.issues]
    # no format stated: the content's, a note (panosc-cwl run writes it into the job the runner gets)
    assert [(i.field, i.line, i.message) for i in report.notes] == [
        ("frames", 2, "no format stated: HDF5, from the content of the File"),
        ("poni", 4, "no format stated: Textual format, from the content of the File")]
    stated = _job(tmp_path, job.read_text().replace("frames.h5}", "frames.h5, format: 'http://edamontology.org/format_3590'}")
                  .replace(".poni}", ".poni, format: 'edam:format_2330'}")
                  .replace("npt: 500", "npt: 500\n$namespaces: {edam: 'http://edamontology.org/'}"))
    report = validate_job(WORKFLOW, stated)
    assert report.ok and not report.issues, [i.one_line() for i in report.issues]


def test_all_errors_at_once_with_positions(data: Path, tmp_path: Path):
    """Every problem is reported in one pass, each at the line and column of the offending value."""
    job = _job(tmp_path, f"""# a comment line
frames:
  - {{class: File, path: {data}/frames.h5}}
  - {{class: File, path: {data}/missing.h5}}
dataset: /entry/data/nope
poni: {{class: File, path: {data}/geometry.poni}}
npt: 3
unit: Q_NM^-1
""")
    report = validate_job(WORKFLOW, job, job_label="job.yml")
    got = {(i.line, i.column, i.field) for i in report.errors}
    assert got == {(4, 25, "frames[1]"), (5, 10, "dataset"), (7, 6, "npt"), (8, 7, "unit")}, \
        [i.one_line() for i in report.errors]
    unit = next(i for i in report.errors if i.field == "unit")
    assert "did you mean 'q_nm^-1'" in unit.message


def test_workflow_input_takes_tool_range(data: Path, tmp_path: Path):
    """The workflow's npt declares no range itself; the tool input it feeds does (s:minValue)."""
    job = _job(tmp_path, f"frames: [{{class: File, path: {data}/frames.h5}}]\ndataset: /entry/data/data\n"
                         f"poni: {{class: File, path: {data}/geometry.poni}}\nnpt: 200000\n")
    for process in (WORKFLOW, TOOLS / "pyfai-integrate1d.cwl"):
        errors = validate_job(process, job).errors
        assert [e.message for e in errors] == ["200000 is above the maximum 100000"], process


def test_allowed_roots(data: Path, tmp_path: Path):
    job = _job(tmp_path, f"frames: [{{class: File, path: {data}/frames.h5}}]\ndataset: /entry/data/data\n"
                         f"poni: {{class: File, path: {data}/geometry.poni}}\n")
    assert validate_job(WORKFLOW, job, allowed_roots=[data]).ok
    assert validate_job(WORKFLOW, job, allowed_roots=[data.parent]).ok
    report = validate_job(WORKFLOW, job, allowed_roots=[tmp_path / "elsewhere"])
    assert {e.field for e in report.errors} == {"frames[0]", "poni"}
    assert all("outside the allowed roots" in e.message for e in report.errors)
    # a symlink inside the root pointing outside does not get through
    inside = tmp_path / "root"
    inside.mkdir()
    (inside / "link.h5").symlink_to(data / "frames.h5")
    assert outside_roots([inside / "link.h5"], [inside]) == [inside / "link.h5"]
    assert outside_roots([data / "frames.h5", data / ".." / "data" / "other.h5"], [data]) == []


def test_profile_allowed_roots_via_cli(data: Path, tmp_path: Path):
    """A facility profile's allowed_roots (profiles.py) is enforced by `validate --profile`."""
    pytest.importorskip("panosc_cwl.profiles")
    from panosc_cwl.profiles import Profile

    if "allowed_roots" not in Profile.__dataclass_fields__:
        pytest.skip("profiles have no allowed_roots")
    cfg = tmp_path / "profiles.yaml"
    cfg.write_text(f"profiles:\n  strict:\n    partition: debug\n    allowed_roots: [{tmp_path / 'beamline'}]\n")
    job = _job(tmp_path, f"frames: [{{class: File, path: {data}/frames.h5}}]\ndataset: /entry/data/data\n"
                         f"poni: {{class: File, path: {data}/geometry.poni}}\n")
    env_file = {"PANOSC_CWL_PROFILES": str(cfg)}
    proc = subprocess.run(CLI + ["validate", "--profile", "strict", str(WORKFLOW), str(job)], capture_output=True,
                          text=True, env=dict(os.environ, **env_file), timeout=60)
    if "unknown profile" in proc.stderr:
        pytest.skip(f"user profile file not picked up from PANOSC_CWL_PROFILES: {proc.stderr.strip()}")
    assert proc.returncode == 2, proc.stderr
    assert "outside the allowed roots" in proc.stderr and "Traceback" not in proc.stderr


def test_planned_outputs_follow_job_values(data: Path):
    assert {"integrated.nxs", "pattern.png", "reduced.nxs"} <= set(planned_outputs(WORKFLOW, {}))
    assert planned_outputs(TOOLS / "pyfai-integrate1d.cwl", {"output_name": "run7.nxs"}) == ["run7.nxs"]


def test_validate_is_fast(data: Path, tmp_path: Path):
    """Goal: < 1 s for a typical job, in a fresh process (imports included)."""
    job = _job(tmp_path, f"frames: [{{class: File, path: {data}/frames.h5}}]\ndataset: /entry/data/data\n"
                         f"poni: {{class: File, path: {data}/geometry.poni}}\nnpt: 1000\n")
    run_cli(["validate", str(WORKFLOW), str(job)], tmp_path)  # warm the file cache
    t0 = time.perf_counter()
    proc = run_cli(["validate", str(WORKFLOW), str(job)], tmp_path)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 3.0, elapsed  # 1 s goal on a quiet machine; slack for a loaded 2-core CI runner
