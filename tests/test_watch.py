"""Automatic processing (issue 15): ``panosc-cwl watch`` / ``trigger`` on a test "beamline".

Real parts only: the beamline writes run folders with the project's own simulator
(:func:`panosc_cwl.simulate.simulate_powder`, a small Pilatus100k, two frames), the watcher is the
real ``panosc-cwl watch`` process (killed with SIGKILL and restarted), runs go through Toil on the
project's SLURM (main test) or cwltool (tests about the claim logic only), and the catalogue is a
real SQLite file or the project's PostgreSQL server.

The count the issue asks for: the beamline writes 10 runs; one never gets its ``RUN_COMPLETE``
marker, so 9 are complete; of those, one has a corrupt master file. The watcher submits exactly
those 9 complete runs, once each: 8 succeed, the corrupt one is recorded as failed with a
one-line reason. The incomplete one is never submitted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOOL = ROOT / "cwl/tools/pyfai-integrate1d.cwl"
NPT = 400
MARKER = "RUN_COMPLETE"

TEMPLATE = """\
# the watcher fills {master}, {name}, {root} for every dataset
frames:
  - {class: File, path: "{master}"}
dataset: /entry/data/data
poni: {class: File, path: "{root}/calib/ceo2.poni"}
npt: %d
unit: 2th_deg
output_name: "{name}.nxs"
""" % NPT


# ---------------------------------------------------------------- the test beamline
@pytest.fixture(scope="session")
def measurement(tmp_path_factory):
    """One simulated CeO2 measurement (Pilatus100k, 2 frames) that the beamline writes as each run."""
    from panosc_cwl.simulate import PowderSimulation, simulate_powder

    out = tmp_path_factory.mktemp("watch-sim")
    return simulate_powder(out, PowderSimulation(detector="Pilatus100k", n_frames=2, seed=3), edf_frames=0,
                           tiff_frames=0)


def write_run(folder: Path, sim, *, kind: str = "good", slow: float = 0.0) -> None:
    """Write one run as a DAQ does: the master file (in chunks when ``slow``), then the marker.

    kind: ``good``; ``incomplete`` (no marker, ever); ``corrupt`` (the master file is garbage
    after its first kilobyte, as a crashed writer leaves it).
    """
    folder.mkdir(parents=True)
    data = sim.stack.read_bytes()
    if kind == "corrupt":
        data = data[:1024] + os.urandom(4096)
    master = folder / f"{folder.name}_master.h5"
    with open(master, "wb") as fh:
        chunks = 4 if slow else 1
        step = -(-len(data) // chunks)
        for i in range(chunks):
            fh.write(data[i * step:(i + 1) * step])
            fh.flush()
            if slow:
                time.sleep(slow / chunks)
    if kind != "incomplete":
        (folder / MARKER).write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))


class Beamline(threading.Thread):
    """Writes runs r0001... one after another into ``root/raw``; ``plan`` is a list of (kind, slow s)."""

    def __init__(self, root: Path, sim, plan: list[tuple[str, float]], gap: float = 0.5):
        super().__init__(daemon=True)
        self.root, self.sim, self.plan, self.gap = root, sim, plan, gap
        self.written: dict[str, str] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for i, (kind, slow) in enumerate(self.plan, 1):
                folder = self.root / "raw" / f"r{i:04d}"
                write_run(folder, self.sim, kind=kind, slow=slow)
                self.written[str(folder)] = kind
                time.sleep(self.gap)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def make_beamtime(base: Path, sim, *, runner: str, max_in_flight: int, max_attempts: int, poll: float = 0.5,
                  extra: str = "") -> Path:
    """A beamtime folder (calib/ceo2.poni, raw/), a job template and a rules file; returns the rules file."""
    root = base / "beamtime"
    (root / "raw").mkdir(parents=True)
    (root / "calib").mkdir()
    shutil.copy(sim.poni, root / "calib" / "ceo2.poni")
    (base / "template.yml").write_text(TEMPLATE)
    how = "profile: ci-local" if runner == "toil" else "runner: cwltool"
    rules = base / "rules.yaml"
    rules.write_text(f"""\
poll_seconds: {poll}
rules:
  xrd:
    root: {root}
    match: raw/r*/
    marker: {MARKER}
    quiet_seconds: 1
    master: "*_master.h5"
    workflow: {TOOL}
    job: template.yml
    {how}
    max_in_flight: {max_in_flight}
    max_attempts: {max_attempts}
    outputs_beside_data: true
    provenance: false
{extra}""")
    return rules


@pytest.fixture
def watch_env(tmp_path):
    """Environment of the watcher processes: their own run store and (SQLite) catalogue."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PANOSC_CWL_RUNS": str(tmp_path / "runs"), "PANOSC_CWL_CATALOGUE": str(tmp_path / "catalogue.sqlite")}
    return env


def start_watcher(rules: Path, env: dict, log: Path, *extra: str) -> subprocess.Popen:
    fh = open(log, "ab")
    try:
        return subprocess.Popen([str(BIN / "panosc-cwl"), "watch", str(rules), *extra], env=env, cwd=rules.parent,
                                stdout=fh, stderr=subprocess.STDOUT)
    finally:
        fh.close()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def ledger(url: str, rule: str = "xrd") -> dict[str, object]:
    from panosc_cwl.catalogue import open_catalogue

    with open_catalogue(url) as cat:
        return {d.dataset_key: d for d in cat.datasets(rule=rule)}


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5, on_fail=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    detail = on_fail() if on_fail else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{detail}")


def runs_of(runs: Path, dataset: str) -> list[dict]:
    """Every run in the run store writing into this dataset's folder (however it was started)."""
    found = []
    for state in sorted(runs.glob("*.json")):
        st = json.loads(state.read_text())
        if "outdir" in st and Path(st["outdir"]).is_relative_to(Path(dataset)):  # not the <id>.job.json files
            found.append(st)
    return found


def records_of(cat) -> dict:
    return {d.dataset_key: d for d in cat.datasets(rule="xrd")}


def check_pattern(nxs: Path) -> None:
    """The science: both frames integrated, and the CeO2 reflections on this detector where they belong."""
    from panosc_cwl.powder import expected_positions, peak_offsets

    with h5py.File(nxs) as h5:
        intensity = h5["entry/integrated/I"][()]
        radial = h5["entry/integrated/radial_axis"][()]
    assert intensity.shape == (2, NPT)
    positions, offsets = peak_offsets(radial, intensity.mean(axis=0), expected_positions("CeO2", 1e-10, "2th_deg"))
    assert len(positions) >= 2 and np.nanmax(np.abs(offsets)) <= 2, (positions, offsets)


# ---------------------------------------------------------------- rules files: mistakes are one line
@pytest.mark.parametrize("body, where, message", [
    ("rules:\n  xrd:\n    match: raw/r*/\n    marker: DONE\n    workflow: {wf}\n    job: t.yml\n    max_in_flight: 0\n",
     ":7", "xrd.max_in_flight: must be an integer >= 1"),
    ("rules:\n  xrd:\n    match: raw/r*/\n    workflow: {wf}\n    job: t.yml\n",
     ":2", "xrd.marker: give marker and/or quiet_seconds"),
    ("rules:\n  xrd:\n    match: raw/r*/\n    marker: DONE\n    workflow: {wf}\n    job: t.yml\n    profil: x\n",
     ":7", "xrd.profil: unknown field (did you mean profile?)"),
    ("rules:\n  xrd:\n    match: raw/r*/\n    marker: DONE\n    workflow: nope.cwl\n    job: t.yml\n",
     ":5", "xrd.workflow:"),
    ("rules:\n  xrd:\n    match: raw/r*/\n    marker: DONE\n    workflow: {wf}\n    job: t.yml\n    profile: mars\n",
     ":7", "xrd.profile: unknown profile 'mars'"),
    ("rules:\n  xrd: [\n", ":3", "not valid YAML"),
])
def test_rules_errors_are_one_line_with_file_line_and_field(tmp_path, body, where, message):
    (tmp_path / "t.yml").write_text("frames: []\n")
    rules = tmp_path / "rules.yaml"
    rules.write_text(body.format(wf=TOOL))
    proc = subprocess.run([str(BIN / "panosc-cwl"), "watch", str(rules), "--status"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"rules.yaml{where}" in lines[0] and message in lines[0], lines[0]


def test_template_placeholders_and_outdirs(tmp_path, measurement):
    from panosc_cwl.watch import fill_job, load_rules, outdir_for, run_id_for

    rules = load_rules(make_beamtime(tmp_path, measurement, runner="cwltool", max_in_flight=1, max_attempts=2))
    rule = rules.rule("xrd")
    dataset = rule.root / "raw" / "r0042"
    write_run(dataset, measurement)
    job = fill_job(rule, dataset)
    assert job["frames"] == [{"class": "File", "location": (dataset / "r0042_master.h5").as_uri()}]
    assert job["poni"]["location"] == (rule.root / "calib/ceo2.poni").as_uri()
    assert job["output_name"] == "r0042.nxs" and job["npt"] == NPT
    assert outdir_for(rule, dataset, 1) == dataset / "processed" / "xrd"
    assert outdir_for(rule, dataset, 2) == dataset / "processed" / "xrd.attempt2"
    # the run id names the attempt and is the same wherever it is computed
    ids = {run_id_for("xrd", str(dataset), "ab" * 20, a) for a in (1, 1, 2)}
    assert len(ids) == 2 and all("r0042" in i for i in ids)
    # no master file -> one line naming the rule's field
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match=r"no master file matching '\*_master.h5'") as err:
        fill_job(rule, tmp_path / "empty")
    assert err.value.field == "xrd.master"


def test_submit_with_a_taken_run_id_starts_nothing(tmp_path, monkeypatch):
    from panosc_cwl.api import RunExists, submit

    monkeypatch.setenv("PANOSC_CWL_RUNS", str(tmp_path / "runs"))
    job = tmp_path / "job.yml"
    job.write_text("message: hi\n")
    echo = tmp_path / "echo.cwl"
    echo.write_text("cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: echo\ninputs:\n  message:\n"
                    "    type: string\n    inputBinding: {position: 1}\noutputs: []\n")
    run = submit(echo, job, outdir=tmp_path / "a", provenance=False, preflight=False, run_id="fixed-id-1")
    with pytest.raises(RunExists):
        submit(echo, job, outdir=tmp_path / "b", provenance=False, preflight=False, run_id="fixed-id-1")
    run.wait(120)
    assert run.id == "fixed-id-1" and run.status == "success"
    assert not (tmp_path / "b").exists()  # the refused submission wrote nothing


def test_scanner_lists_each_parent_once_until_it_changes(tmp_path):
    from panosc_cwl.watch import FolderScanner

    raw = tmp_path / "raw"
    for i in range(5):
        (raw / f"r{i:04d}").mkdir(parents=True)
    (raw / "notes").mkdir()
    (raw / "r9999.txt").write_text("a file, not a run folder")
    old = time.time() - 60
    os.utime(raw, (old, old))
    scanner = FolderScanner(tmp_path, "raw/r*/")
    assert [Path(p).name for p in scanner.scan()] == [f"r{i:04d}" for i in range(5)]
    assert str(raw) in scanner._cache  # settled: the listing is kept
    (raw / "r0005").mkdir()  # a new run folder changes the parent's mtime: listed again
    assert Path(scanner.scan()[-1]).name == "r0005"


def test_unreachable_catalogue_is_one_line(tmp_path, measurement, watch_env):
    rules = make_beamtime(tmp_path, measurement, runner="cwltool", max_in_flight=1, max_attempts=1)
    proc = subprocess.run([str(BIN / "panosc-cwl"), "watch", str(rules), "--catalogue",
                           "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=3"], env=watch_env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot be reached" in proc.stderr and "Traceback" not in proc.stderr


def test_restart_after_crash_between_claim_submit_and_record(tmp_path, measurement, monkeypatch):
    """What a watcher killed at the worst moments leaves: r0001 claimed, its run never started;
    r0002 claimed and its run done (it started it), the end never recorded. A new watcher starts
    r0001 once and records r0002 from the run store, without running it again."""
    from panosc_cwl.catalogue import open_catalogue
    from panosc_cwl.watch import Watcher, load_rules, run_id_for, workflow_sha1

    monkeypatch.setenv("PANOSC_CWL_RUNS", str(tmp_path / "runs"))
    url = str(tmp_path / "catalogue.sqlite")
    rules = load_rules(make_beamtime(tmp_path, measurement, runner="cwltool", max_in_flight=2, max_attempts=2))
    rule = rules.rule("xrd")
    keys = []
    for name in ("r0001", "r0002"):
        write_run(rule.root / "raw" / name, measurement)
        keys.append(str(rule.root / "raw" / name))
    sha1 = workflow_sha1(rule.workflow)
    cat = open_catalogue(url)
    for key in keys:
        assert cat.claim_dataset("xrd", key, sha1, max_attempts=2, owner="crashed watcher").attempt == 1
    from panosc_cwl.watch import _spec

    spec = _spec(rule, sha1, keys[1], 1, url)
    code = ("import json, sys; from panosc_cwl.api import run_workflow; s = json.load(open(sys.argv[1])); "
            "run_workflow(s['workflow'], s['job'], runner='cwltool', outdir=s['outdir'], provenance=False, "
            "run_id=s['run_id'], catalogue=s['catalogue'])")
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "spec.json")], check=True, timeout=300,
                   env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    assert {d.status for d in cat.datasets(rule="xrd")} == {"claimed"}
    watcher = Watcher(rules, catalogue_url=url)
    watcher.relaunch_grace = 0.0
    events = watcher.start()
    assert sorted(e.kind for e in events) == ["adopted", "adopted"]
    end = time.monotonic() + 240
    while time.monotonic() < end and watcher.in_flight():
        events += watcher.poll()
        time.sleep(0.3)
    kinds = {(e.kind, Path(e.dataset).name) for e in events}
    assert records_of(cat)[keys[0]].run_id == run_id_for("xrd", keys[0], sha1, 1)  # its run process recorded it
    assert ("relaunched", "r0001") in kinds and ("relaunched", "r0002") not in kinds, kinds
    records = records_of(cat)
    for key in keys:
        assert records[key].status == "succeeded" and records[key].attempt == 1, records[key]
        assert len(runs_of(tmp_path / "runs", key)) == 1  # r0002 was not run again
        check_pattern(Path(key) / "processed" / "xrd" / f"{Path(key).name}.nxs")


# ---------------------------------------------------------------- the beamline on SLURM, with a SIGKILL
@pytest.mark.slurm
@pytest.mark.toil
@pytest.mark.xdist_group("slurm")
def test_beamline_on_slurm_exactly_once_across_sigkill(tmp_path, measurement, watch_env, slurm_env):
    env = {**watch_env, "SLURM_CONF": slurm_env["SLURM_CONF"]}
    rules = make_beamtime(tmp_path, measurement, runner="toil", max_in_flight=3, max_attempts=1)
    root = tmp_path / "beamtime"
    plan = [("good", 0), ("good", 2.0), ("incomplete", 0), ("good", 0), ("corrupt", 0), ("good", 1.5),
            ("good", 0), ("good", 0), ("good", 2.0), ("good", 0)]
    beamline = Beamline(root, measurement, plan, gap=0.7)
    log = tmp_path / "watch.log"
    url = watch_env["PANOSC_CWL_CATALOGUE"]
    watcher = start_watcher(rules, env, log)
    beamline.start()
    try:
        # SIGKILL once some runs are claimed (in flight) and others are still to come
        # (the watcher makes the catalogue: two processes creating one SQLite catalogue at once can collide)
        wait_for(lambda: "watching" in log.read_text(), 60, "the watcher to start", on_fail=log.read_text)
        wait_for(lambda: len(ledger(url)) >= 3, 300, "3 claims", on_fail=log.read_text)
        watcher.send_signal(signal.SIGKILL)
        watcher.wait(10)
        killed_with = {k: d.status for k, d in ledger(url).items()}
        time.sleep(1.0)
        watcher = start_watcher(rules, env, log)
        beamline.join(60)
        assert beamline.error is None and len(beamline.written) == 10
        done = lambda: len(ledger(url)) == 9 and all(d.status in ("succeeded", "failed") for d in ledger(url).values())
        wait_for(done, 600, "9 datasets finished", interval=1.0, on_fail=log.read_text)  # a shared SLURM may be busy
        time.sleep(2 * 0.5 + 0.5)  # two more polls: nothing else may be submitted
    finally:
        stop(watcher)
    assert any(s in ("claimed", "submitted") for s in killed_with.values()), killed_with  # killed in the middle
    records = ledger(url)
    runs = tmp_path / "runs"
    kinds = beamline.written
    incomplete = [k for k, v in kinds.items() if v == "incomplete"]
    assert set(records) == set(kinds) - set(incomplete)  # the 9 complete ones, not the incomplete one
    assert not runs_of(runs, incomplete[0])
    for key, kind in kinds.items():
        if kind == "incomplete":
            continue
        rec, its_runs = records[key], runs_of(runs, key)
        assert rec.attempt == 1 and len(its_runs) == 1, (key, rec, [r["id"] for r in its_runs])  # once each
        assert rec.run_id == its_runs[0]["id"]
        if kind == "corrupt":
            assert rec.status == "failed" and its_runs[0]["status"] == "failed"
            assert rec.reason and "\n" not in rec.reason and len(rec.reason) < 500, rec.reason
            continue
        assert rec.status == "succeeded", (key, rec.reason)
        st = its_runs[0]
        assert st["runner"] == "toil" and st["batch_system"] == "slurm"
        jobs = [s["batch_job_id"] for s in st["steps"] if s.get("batch_job_id")]
        assert jobs, st["steps"]
        out = subprocess.run(["scontrol", "-o", "show", "job", jobs[-1]], env=slurm_env, capture_output=True,
                             text=True, timeout=30).stdout
        assert "JobState=COMPLETED" in out, out
        check_pattern(Path(key) / "processed" / "xrd" / f"{Path(key).name}.nxs")  # beside the data
    # back-pressure: at most 3 in flight, the others waited and went in the order they completed
    order = [Path(d.dataset_key).name for d in sorted(records.values(), key=lambda d: d.claimed_at)]
    assert order == sorted(order), order
    spans = [(d.claimed_at, d.updated_at) for d in records.values()]  # claimed -> finished
    assert max(sum(a <= t < b for a, b in spans) for t, _ in spans) <= 3
    text = log.read_text()
    assert "adopted" in text  # the restarted watcher took over the claims the killed one left
    assert "Traceback" not in text, text[-3000:]


# ---------------------------------------------------------------- retries, status, trigger (cwltool)
def test_retry_then_left_failed_and_listed_and_trigger_once(tmp_path, measurement, watch_env):
    rules = make_beamtime(tmp_path, measurement, runner="cwltool", max_in_flight=2, max_attempts=2)
    root = tmp_path / "beamtime"
    write_run(root / "raw" / "r0001", measurement, kind="corrupt")
    write_run(root / "raw" / "r0002", measurement)
    cli = [str(BIN / "panosc-cwl")]
    # a control system triggers r0002 twice: one run
    first = subprocess.run(cli + ["trigger", "xrd", str(root / "raw/r0002"), "--rules", str(rules)], env=watch_env,
                           capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    run_id = first.stdout.strip()
    assert run_id.startswith("watch-xrd-r0002-") and run_id.endswith("-a1")
    again = subprocess.run(cli + ["trigger", "xrd", str(root / "raw/r0002"), "--rules", str(rules)], env=watch_env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout == "" and "skipped" in again.stderr, again.stderr
    # the watcher: r0001 (corrupt) fails twice, then is left failed; r0002 is not run again
    log = tmp_path / "watch.log"
    url = watch_env["PANOSC_CWL_CATALOGUE"]
    watcher = start_watcher(rules, watch_env, log)
    try:
        def settled():
            recs = ledger(url)
            return len(recs) == 2 and all(d.status in ("succeeded", "failed") for d in recs.values()) and \
                recs[str(root / "raw/r0001")].attempt == 2 and "left failed" in log.read_text()
        wait_for(settled, 240, "the retry and the triggered run", on_fail=log.read_text)
    finally:
        stop(watcher)
    recs = ledger(url)
    bad, good = recs[str(root / "raw/r0001")], recs[str(root / "raw/r0002")]
    assert good.status == "succeeded" and good.attempt == 1 and good.run_id == run_id
    assert bad.status == "failed" and bad.attempt == 2 and bad.reason and "\n" not in bad.reason
    assert "r0001_master.h5" in bad.reason, bad.reason  # the reason names the bad file
    assert len(runs_of(tmp_path / "runs", str(root / "raw/r0001"))) == 2  # first try and one retry
    assert len(runs_of(tmp_path / "runs", str(root / "raw/r0002"))) == 1
    check_pattern(root / "raw/r0002/processed/xrd/r0002.nxs")
    status = subprocess.run(cli + ["watch", str(rules), "--status"], env=watch_env, capture_output=True, text=True,
                            timeout=60)
    assert status.returncode == 0
    first_line = status.stdout.splitlines()[0].split("\t")
    assert first_line[:4] == ["xrd", "failed", "2", str(root / "raw/r0001")] and first_line[5] == bad.reason
    assert "1 failed, 1 succeeded" in status.stderr


# ---------------------------------------------------------------- two watchers, one PostgreSQL catalogue
@pytest.mark.parametrize("catalogue_url", ["postgresql"], indirect=True)
def test_two_watchers_on_one_postgresql_catalogue(tmp_path, measurement, watch_env, catalogue_url):
    env = {**watch_env, "PANOSC_CWL_CATALOGUE": catalogue_url}
    rules = make_beamtime(tmp_path, measurement, runner="cwltool", max_in_flight=4, max_attempts=1, poll=0.3)
    root = tmp_path / "beamtime"
    names = [f"r{i:04d}" for i in range(1, 4)]
    for name in names:
        write_run(root / "raw" / name, measurement)
    old = time.time() - 10
    for name in names:
        for f in (root / "raw" / name).iterdir():
            os.utime(f, (old, old))
    logs = [tmp_path / "watch-a.log", tmp_path / "watch-b.log"]
    assert ledger(catalogue_url) == {}  # the facility's catalogue exists (schema made) before its watchers start
    watchers = [start_watcher(rules, env, log) for log in logs]
    try:
        done = lambda: len(ledger(catalogue_url)) == 3 and all(d.status == "succeeded"
                                                                for d in ledger(catalogue_url).values())
        wait_for(done, 240, "3 datasets succeeded", on_fail=lambda: logs[0].read_text() + logs[1].read_text())
    finally:
        for w in watchers:
            stop(w)
    texts = [log.read_text() for log in logs]
    claimed = [t.count("xrd: claimed ") for t in texts]
    assert sum(claimed) == 3, texts  # each dataset claimed by exactly one of the two watchers
    for name in names:
        key = str(root / "raw" / name)
        assert ledger(catalogue_url)[key].attempt == 1
        assert len(runs_of(tmp_path / "runs", key)) == 1, name
        check_pattern(root / "raw" / name / "processed" / "xrd" / f"{name}.nxs")


def test_shipped_rules_and_template_fit_the_powder_workflow(tmp_path, measurement):
    """jobs/watch-powder.yaml and jobs/templates/powder.yml: the filled job passes pre-flight validation."""
    from dataclasses import replace

    from ruamel.yaml import YAML

    from panosc_cwl.validate import validate_job
    from panosc_cwl.watch import fill_job, load_rules

    rules = load_rules(ROOT / "jobs/watch-powder.yaml")
    rule = rules.rule("powder")
    assert rule.workflow == ROOT / "cwl/workflows/powder-xrd.cwl" and rule.outputs_beside_data
    rule = replace(rule, root=tmp_path)  # the example's beamtime folder, made here
    (tmp_path / "calib").mkdir()
    shutil.copy(measurement.poni, tmp_path / "calib" / "ceo2.poni")
    write_run(tmp_path / "raw" / "r0013", measurement)
    job = tmp_path / "job.yml"
    with open(job, "w") as fh:
        YAML(typ="safe").dump(fill_job(rule, tmp_path / "raw" / "r0013"), fh)
    report = validate_job(rule.workflow, job)
    assert report.ok, [i.one_line() for i in report.errors]
