"""Facility data locators: FACILITY/v1/pPROPOSAL/rRUN -> folder, through an overridable facility table."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from panosc_cwl import locators
from panosc_cwl.exceptions import InputError

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A European XFEL-like tree under tmp_path, and a user facility table pointing EuXFEL at it."""
    root = tmp_path / "exp"
    run = root / "SPB/202501/p002222/raw/r0013"
    run.mkdir(parents=True)
    (root / "SPB/202501/p002222/proc/r0013").mkdir(parents=True)
    (root / "MID/202502/p003333/raw").mkdir(parents=True)
    table = tmp_path / "facilities.yaml"
    table.write_text(f"facilities:\n  EuXFEL:\n    root: {root}\n")
    monkeypatch.setenv(locators.ENV_VAR, str(table))
    return {"root": root, "run": run, "table": table, "tmp": tmp_path}


def test_packaged_table_is_the_facility_layout(monkeypatch, tmp_path):
    monkeypatch.setenv(locators.ENV_VAR, str(tmp_path / "none.yaml"))
    with pytest.raises(InputError, match="does not exist"):
        locators.facility_table()
    monkeypatch.delenv(locators.ENV_VAR)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user file
    fac = locators.facility_table()["EuXFEL"]
    assert fac["root"] == "/gpfs/exfel/exp"
    assert fac["proposal"].format(root=fac["root"], proposal=2222) == "/gpfs/exfel/exp/*/*/p002222"


@pytest.mark.parametrize("text", ["EuXFEL/v1/p2222/r0013", "facility:EuXFEL/v1/p2222/r13", "EuXFEL/v1/p2222/r0013/raw"])
def test_resolves(site, text):
    assert locators.resolve(text) == site["run"]


def test_kind_and_user_override_merge(site):
    assert locators.resolve("EuXFEL/v1/p2222/r0013/proc") == site["root"] / "SPB/202501/p002222/proc/r0013"
    # the user file only set `root`; templates and kinds still come from the packaged table
    assert locators.facility_table()["EuXFEL"]["kinds"] == ["raw", "proc"]


@pytest.mark.parametrize("text, message", [
    ("XFEL/v1/p2222/r0013", "unknown facility 'XFEL'"),
    ("EuXFEL/p2222/r0013", "is not a data locator"),
    ("EuXFEL/v2/p2222/r0013", "version v2 is not supported"),
    ("EuXFEL/v1/p9999/r0013", "proposal 9999 not found"),
    ("EuXFEL/v1/p2222/r0014", "run 14 not found in proposal 2222"),
    ("EuXFEL/v1/p3333/r0001", "run 1 not found"),
    ("EuXFEL/v1/p2222/r0013/calib", "unknown data kind 'calib'"),
])
def test_bad_locators(site, text, message):
    with pytest.raises(InputError, match=message) as err:
        locators.resolve(text)
    assert "\n" not in err.value.one_line() and err.value.field == "locator"


def test_ambiguous_proposal(site):
    (site["root"] / "FXE/202401/p002222").mkdir(parents=True)
    with pytest.raises(InputError, match="matches 2 folders"):
        locators.resolve("EuXFEL/v1/p2222/r0013")


def test_cli_locate(site):
    env = {**os.environ, locators.ENV_VAR: str(site["table"])}
    ok = subprocess.run([str(BIN / "panosc-cwl"), "locate", "EuXFEL/v1/p2222/r0013"], capture_output=True, text=True,
                        env=env)
    assert ok.returncode == 0 and ok.stdout.strip() == str(site["run"])
    bad = subprocess.run([str(BIN / "panosc-cwl"), "locate", "EuXFEL/v1/p2222/r0099"], capture_output=True,
                         text=True, env=env)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("panosc-cwl: error: locator: ")


def test_resolved_job_runs_with_stock_cwltool(site):
    """`locate --job` writes a job stock cwltool runs: locator -> file:// URI, relative paths -> absolute."""
    from panosc_cwl.euxfel import make_mock_run

    run = site["root"] / "SPB/202501/p002222/raw/r0238"
    make_mock_run(run)
    jobdir = site["tmp"] / "jobs"
    jobdir.mkdir()
    (site["tmp"] / "agipd.geom").write_text("dummy")
    job = jobdir / "job.yml"
    job.write_text("run: {class: Directory, location: 'facility:EuXFEL/v1/p2222/r0238'}\n"
                   "geometry: {class: File, path: ../agipd.geom}\n")
    env = {**os.environ, locators.ENV_VAR: str(site["table"]), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    out = site["tmp"] / "resolved.yml"
    proc = subprocess.run([str(BIN / "panosc-cwl"), "locate", "--job", str(job), "-o", str(out)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = YAML(typ="safe").load(out.read_text())
    assert doc["run"]["location"] == run.resolve().as_uri()
    assert doc["geometry"]["location"] == (site["tmp"] / "agipd.geom").resolve().as_uri()
    del doc["geometry"]  # the validate tool takes only the run
    with open(out, "w") as fh:
        YAML().dump(doc, fh)
    tool = ROOT / "cwl/tools/euxfel-validate.cwl"
    proc = subprocess.run([str(BIN / "cwltool"), "--outdir", str(site["tmp"] / "o"), str(tool), str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "No problems found" in (site["tmp"] / "o/validation.txt").read_text()


def test_panosc_cwl_run_resolves_locators(site):
    """`panosc-cwl run` resolves the job before the runner sees it and keeps the resolved job in the outdir."""
    from panosc_cwl.euxfel import make_mock_run

    run = site["root"] / "SPB/202501/p002222/raw/r0238"
    make_mock_run(run)
    job = site["tmp"] / "job.yml"
    job.write_text("run: {class: Directory, location: 'facility:EuXFEL/v1/p2222/r0238'}\n")
    env = {**os.environ, locators.ENV_VAR: str(site["table"]), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    out = site["tmp"] / "out"
    proc = subprocess.run([str(BIN / "panosc-cwl"), "run", str(ROOT / "cwl/tools/euxfel-validate.cwl"), str(job),
                           "--outdir", str(out), "--no-provenance"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"facility:EuXFEL/v1/p2222/r0238 -> {run}" in proc.stderr
    assert (out / "job.resolved.yml").is_file()
    assert "No problems found" in (out / "validation.txt").read_text()
    # a bad locator stops `run` with one line, before any runner starts
    job.write_text("run: {class: Directory, location: 'facility:EuXFEL/v1/p2222/r0999'}\n")
    proc = subprocess.run([str(BIN / "panosc-cwl"), "run", str(ROOT / "cwl/tools/euxfel-validate.cwl"), str(job),
                           "--outdir", str(site["tmp"] / "out2"), "--no-provenance"], capture_output=True, text=True,
                          env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "panosc-cwl: error: locator: EuXFEL/v1/p2222/r0999: run 999 not found in proposal 2222 "
        f"({site['root'] / 'SPB/202501/p002222/raw/r0999'})"]


def test_shipped_locator_job():
    doc = locators.read_job(ROOT / "jobs/euxfel-agipd-locator.yml")
    assert locators.job_has_locators(doc)
    assert locators.parse(doc["run"]["location"]) == locators.Locator("EuXFEL", 2222, 238)
