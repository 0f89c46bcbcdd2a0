"""The run catalogue (panosc_cwl.catalogue, panosc-cwl runs), each test on SQLite and on the project's
PostgreSQL (.ci/pg-up): real databases, real concurrent processes, real cwltool runs.

* opening an empty database creates the schema through the shipped Alembic migrations (at head);
* dataset claims are exactly-once: processes racing for the same datasets each get disjoint ones;
  a failed dataset is retried up to ``max_attempts``, then stays failed;
* ``panosc-cwl runs list`` finds real runs (``panosc-cwl run``, the Python API) by workflow, status,
  date and input SHA-1; ``runs show`` / ``runs outputs`` give what the runs really read and wrote;
* a run whose process is SIGKILLed is shown 'lost' (on its own host only), not 'running' for ever;
  a catalogue of schema 0001 is migrated keeping its runs;
* the catalogue unreachable during a run (PostgreSQL stopped with pg_ctl; an SQLite path that cannot
  be created): the run succeeds, the user is told once, the record arrives once the catalogue is back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
from sqlalchemy import inspect

import panosc_cwl
from panosc_cwl.simulate import PowderSimulation, simulate_powder

from panosc_cwl.catalogue import (CatalogueUnavailable, DatasetClaim, current_revision, head_revision,
                                  open_catalogue)
from panosc_cwl.catalogue import db
from panosc_cwl.exceptions import InputError

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOOL1D = ROOT / "cwl/tools/pyfai-integrate1d.cwl"
TOOL2D = ROOT / "cwl/tools/pyfai-integrate2d.cwl"

RACER = r"""
import json, sys, time
from pathlib import Path
url, folder, owner, n = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
(folder / f"ready-{owner}").touch()
while not (folder / "go").exists():
    time.sleep(0.002)
from panosc_cwl.catalogue import open_catalogue
cat = open_catalogue(url)  # the first opener creates the schema; the others must not trip over it
got = []
for i in range(n):
    claim = cat.claim_dataset("race", f"raw/r{i:04d}", "wf-sha1", max_attempts=3, owner=owner)
    if claim is not None:
        assert claim.attempt == 1 and claim.status == "claimed"
        got.append(claim.dataset_key)
print(json.dumps(got))
"""


def test_open_empty_database_creates_schema_at_head(catalogue_url):
    with open_catalogue(catalogue_url) as cat:
        assert current_revision(cat.engine) == head_revision() == "0002" == db.HEAD
        tables = set(inspect(cat.engine).get_table_names())
        assert {"alembic_version", "runs", "run_inputs", "run_outputs", "run_steps", "run_status_changes",
                "datasets"} <= tables
        uniques = inspect(cat.engine).get_unique_constraints("datasets")
        assert any(set(u["column_names"]) == {"rule", "dataset_key", "workflow_sha1"} for u in uniques)
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        from panosc_cwl.catalogue.models import Base

        with cat.engine.connect() as conn:  # the migrations make exactly the schema the models describe
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    with open_catalogue(catalogue_url) as cat:  # a second open changes nothing
        assert current_revision(cat.engine) == "0002"


def test_catalogue_of_an_older_version_is_migrated_keeping_its_runs(catalogue_url):
    from alembic import command
    from sqlalchemy import text

    from panosc_cwl.catalogue import catalogue_url as to_url
    from panosc_cwl.catalogue import make_engine
    from panosc_cwl.catalogue.db import _alembic_config

    engine = make_engine(to_url(catalogue_url))
    with engine.begin() as conn:  # a catalogue written by the first release (schema 0001), with one run
        command.upgrade(_alembic_config(conn), "0001")
        conn.execute(text("INSERT INTO runs (id, workflow_path, status, submitted, revision) "
                          "VALUES ('old-run', '/wf.cwl', 'running', '2026-12-01 10:00:00', 3)"))
    engine.dispose()
    with open_catalogue(catalogue_url) as cat:
        assert current_revision(cat.engine) == "0002"
        assert {"owner_pid", "owner_start"} <= {c["name"] for c in inspect(cat.engine).get_columns("runs")}
        from panosc_cwl.runs import get

        old = get("old-run", catalogue=cat)  # no process recorded: nothing to judge it by, it stays as it was
        assert old.status == "running" and old.owner_pid is None and old.workflow_path == "/wf.cwl"


def test_concurrent_processes_claim_each_dataset_once(catalogue_url, tmp_path):
    n_proc, n_data = 4, 20
    procs = [subprocess.Popen([sys.executable, "-c", RACER, catalogue_url, str(tmp_path), f"p{k}", str(n_data)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(n_proc)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < n_proc and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()  # all start together, on a database without tables yet
    claimed: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        claimed += json.loads(out)
    assert sorted(claimed) == [f"raw/r{i:04d}" for i in range(n_data)]  # each exactly once
    with open_catalogue(catalogue_url) as cat:
        rows = cat.datasets("race")
        assert len(rows) == n_data and {r.status for r in rows} == {"claimed"}
        assert cat.in_flight("race") == n_data


def test_failed_dataset_retried_up_to_max_attempts(catalogue_url):
    with open_catalogue(catalogue_url) as cat:
        key = "raw/r0007"
        first = cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w1")
        assert isinstance(first, DatasetClaim) and first.attempt == 1 and first.run_id is None
        assert cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w2") is None  # in flight
        cat.dataset_submitted("powder", key, "aaa", "run-1")
        assert cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w2") is None
        assert [c.run_id for c in cat.unfinished_claims("powder")] == ["run-1"]
        cat.dataset_finished("powder", key, "aaa", "failed", "frames: not an HDF5 file")
        assert cat.in_flight("powder") == 0 and cat.unfinished_claims("powder") == []

        second = cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w2")
        assert second is not None and second.attempt == 2 and second.owner == "w2" and second.reason is None
        assert cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w1") is None
        cat.dataset_submitted("powder", key, "aaa", "run-2")
        cat.dataset_finished("powder", key, "aaa", "failed", "frames: not an HDF5 file")
        assert cat.claim_dataset("powder", key, "aaa", max_attempts=2, owner="w1") is None  # attempts spent
        [row] = cat.datasets("powder", "failed")
        assert row.attempt == 2 and row.reason == "frames: not an HDF5 file" and row.run_id == "run-2"

        # a new workflow version is a new dataset claim; a success is never claimed again
        again = cat.claim_dataset("powder", key, "bbb", max_attempts=2, owner="w1")
        assert again is not None and again.attempt == 1
        cat.dataset_submitted("powder", key, "bbb", "run-3")
        cat.dataset_finished("powder", key, "bbb", "succeeded")
        assert cat.claim_dataset("powder", key, "bbb", max_attempts=5, owner="w1") is None
        assert [r.workflow_sha1 for r in cat.datasets("powder")] == ["aaa", "bbb"]
        assert [r.status for r in cat.datasets(status="succeeded")] == ["succeeded"]

        with pytest.raises(InputError, match="status"):
            cat.dataset_finished("powder", key, "bbb", "done")
        with pytest.raises(InputError, match="never claimed"):
            cat.dataset_submitted("powder", "raw/unknown", "bbb", "run-4")


def test_late_word_of_an_older_attempt_changes_nothing(catalogue_url):
    """Attempt 1's process is slow: the dataset is failed (by a watcher) and claimed again; attempt 1's
    late 'submitted' and 'succeeded' must not overwrite attempt 2's state."""
    with open_catalogue(catalogue_url) as cat:
        key = "raw/r0003"
        first = cat.claim_dataset("powder", key, "aaa", max_attempts=3, owner="w1")
        assert cat.dataset_submitted("powder", key, "aaa", "run-1", attempt=first.attempt) is True
        assert cat.dataset_finished("powder", key, "aaa", "failed", "lost", attempt=first.attempt) is True
        second = cat.claim_dataset("powder", key, "aaa", max_attempts=3, owner="w2")
        assert second.attempt == 2
        assert cat.dataset_submitted("powder", key, "aaa", "run-2", attempt=2) is True

        assert cat.dataset_finished("powder", key, "aaa", "succeeded", attempt=1) is False  # too late
        assert cat.dataset_submitted("powder", key, "aaa", "run-1", attempt=1) is False
        [row] = cat.datasets("powder")
        assert (row.status, row.attempt, row.run_id, row.owner) == ("submitted", 2, "run-2", "w2")
        assert cat.in_flight("powder") == 1

        assert cat.dataset_finished("powder", key, "aaa", "failed", "frames: truncated", attempt=2) is True
        [row] = cat.datasets("powder")
        assert (row.status, row.attempt, row.reason) == ("failed", 2, "frames: truncated")
        with pytest.raises(InputError, match="never claimed"):  # a guard does not hide a wrong dataset
            cat.dataset_finished("powder", "raw/unknown", "aaa", "failed", attempt=1)


def test_unreachable_server_is_one_clear_error(tmp_path):
    with pytest.raises(CatalogueUnavailable, match="cannot be reached"):
        open_catalogue("postgresql+psycopg://nobody@127.0.0.1:1/none")


# ------------------------------------------------------------------ what a workflow version is
INCLUDING_TOOL = """cwlVersion: v1.2
class: CommandLineTool
label: script
doc: Runs a script it includes.
requirements:
  InitialWorkDirRequirement:
    listing:
      - entryname: script.sh
        entry:
          $include: script.sh
baseCommand: [sh, script.sh]
inputs: []
outputs: []
"""


def test_workflow_sha1_covers_the_tools_it_runs(tmp_path):
    """The recorded workflow checksum (and the watcher's run ids made from it) changes when a tool a
    step runs changes, even only its doc, or a script a tool includes; not when an unused file does."""
    import shutil

    from ruamel.yaml import YAML

    from panosc_cwl.catalogue.recorder import cwl_source_files
    from panosc_cwl.watch import run_id_for, workflow_sha1

    shutil.copytree(ROOT / "cwl", tmp_path / "cwl")
    wf = tmp_path / "cwl/workflows/powder-xrd.cwl"
    tool = tmp_path / "cwl/tools/pyfai-integrate1d.cwl"
    before = workflow_sha1(wf)
    assert before == workflow_sha1(ROOT / "cwl/workflows/powder-xrd.cwl")  # a copy of the tree: same version
    assert str(tool) in cwl_source_files(wf) and str(wf) in cwl_source_files(wf)
    run_id = run_id_for("xrd", "/data/r0001", before, 1)

    (tmp_path / "cwl/tools/pyfai-integrate2d.cwl").write_text("not used by powder-xrd\n")
    assert workflow_sha1(wf) == before
    yaml = YAML()  # round trip: only the doc changes
    doc = yaml.load(tool)
    doc["doc"] = doc["doc"] + " Edited."
    yaml.dump(doc, tool)
    after = workflow_sha1(wf)
    assert after != before and run_id_for("xrd", "/data/r0001", after, 1) != run_id
    assert after == workflow_sha1(wf)  # stable

    (tmp_path / "inc").mkdir()
    script, inc_tool = tmp_path / "inc/script.sh", tmp_path / "inc/tool.cwl"
    script.write_text("echo one\n")
    inc_tool.write_text(INCLUDING_TOOL)
    first = workflow_sha1(inc_tool)
    assert cwl_source_files(inc_tool) == [str(script), str(inc_tool)]
    script.write_text("echo two\n")
    assert workflow_sha1(inc_tool) != first


# ------------------------------------------------------------------ real runs, found again
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return simulate_powder(tmp_path_factory.mktemp("catalogue-data"),
                           PowderSimulation(calibrant="CeO2", detector="Pilatus100k", n_frames=2, seed=5),
                           edf_frames=0, tiff_frames=0)


def _cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    return subprocess.run([str(BIN / "panosc-cwl"), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """The real ``panosc-cwl`` command line, in this process (a subprocess per query would cost seconds)."""
    from panosc_cwl.cli import main

    capsys.readouterr()
    try:
        rc = main(list(args))
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def _sha1(path: Path) -> str:
    import hashlib

    return hashlib.sha1(path.read_bytes()).hexdigest()


def _tool_sha1(tool: Path) -> str:
    """The recorded SHA-1 of a tool that runs nothing else: its one file, by name and content."""
    import hashlib

    return hashlib.sha1(f"{tool.name}\0{_sha1(tool)}\n".encode()).hexdigest()


def _ids(res: subprocess.CompletedProcess) -> list[str]:
    assert res.returncode == 0, res.stderr
    return [r["id"] for r in json.loads(res.stdout)]


def test_runs_list_finds_real_runs(catalogue_url, small, tmp_path, capsys):
    import shutil

    other_poni = tmp_path / "other.poni"  # a second input file, with its own checksum
    shutil.copy(small.poni, other_poni)
    with open(other_poni, "a") as fh:
        fh.write("# copied for the catalogue test\n")
    good_job = tmp_path / "good.yml"
    good_job.write_text(f"frames:\n  - {{class: File, path: {small.stack}}}\ndataset: {small.dataset}\n"
                        f"poni: {{class: File, path: {small.poni}}}\nnpt: 200\n")
    bad_job = tmp_path / "bad.yml"  # refused by the pre-flight check: recorded as failed, nothing submitted
    bad_job.write_text(f"frames:\n  - {{class: File, path: {small.stack}}}\ndataset: {small.dataset}\n"
                       f"poni: {{class: File, path: {other_poni}}}\nnpt: many\n")

    # 1: the CLI, a real cwltool run
    res = _cli("run", str(TOOL1D), str(good_job), "--outdir", str(tmp_path / "good"), "--catalogue", catalogue_url)
    assert res.returncode == 0, res.stderr
    time.sleep(1.1)
    between = time.strftime("%Y-%m-%dT%H:%M:%S")  # local time, as a user types it
    time.sleep(1.1)
    # 2: the CLI, refused by pre-flight; 3: the Python API, another workflow, also refused
    res = _cli("run", str(TOOL1D), str(bad_job), "--outdir", str(tmp_path / "bad"), "--catalogue", catalogue_url)
    assert res.returncode == 2 and "npt" in res.stderr
    api_run = panosc_cwl.submit(TOOL2D, {"frames": [small.stack], "poni": other_poni, "npt": "lots"},
                                outdir=tmp_path / "api", catalogue=catalogue_url)
    with pytest.raises(panosc_cwl.exceptions.PanoscError):
        api_run.wait(timeout=120)

    every = _ids(_cli("runs", "list", "--json", "--catalogue", catalogue_url))
    assert len(every) == 3 and every[0] == api_run.id  # newest first
    good_id, bad_id = every[2], every[1]

    def listed(*filters: str) -> list[str]:
        rc, out, err = _main(capsys, "runs", "list", "--json", "--catalogue", catalogue_url, *filters)
        assert rc == 0, err
        return [r["id"] for r in json.loads(out)]

    assert listed("--status", "success") == [good_id]
    assert listed("--status", "failed") == [api_run.id, bad_id]
    assert listed("--workflow", str(TOOL1D)) == [bad_id, good_id]  # a CWL file: same path or content
    assert listed("--workflow", "integrate2d") == [api_run.id]  # part of the path
    assert listed("--workflow", _tool_sha1(TOOL2D)[:10]) == [api_run.id]  # start of its SHA-1
    assert listed("--since", between) == [api_run.id, bad_id]
    assert listed("--since", "1h") == every and listed("--since", "2099-01-01") == []
    assert listed("--input-sha1", _sha1(small.stack)) == every  # all three read the frames
    assert listed("--input-sha1", _sha1(other_poni)) == [api_run.id, bad_id]
    assert listed("--input-sha1", _sha1(small.poni)[:12], "--status", "success") == [good_id]
    assert listed("--workflow", "integrate2d", "--status", "success") == []
    # the environment variable names the catalogue too
    assert _ids(_cli("runs", "list", "--json", env={"PANOSC_CWL_CATALOGUE": catalogue_url})) == every

    # the table, and one-line errors
    rc, out, _ = _main(capsys, "runs", "list", "--status", "failed", "--catalogue", catalogue_url)
    assert rc == 0 and bad_id in out and good_id not in out and "nothing was submitted" in out
    rc, _, err = _main(capsys, "runs", "list", "--since", "last tuesday", "--catalogue", catalogue_url)
    assert rc == 2 and err.count("\n") == 1 and "since" in err
    rc, _, err = _main(capsys, "runs", "show", "no-such-run", "--catalogue", catalogue_url)
    assert rc == 2 and "no run with id no-such-run" in err and err.count("\n") == 1

    # what the good run read and wrote, as recorded
    rec = json.loads(_main(capsys, "runs", "show", good_id, "--json", "--catalogue", catalogue_url)[1])
    assert rec["status"] == "success" and rec["runner"] == "cwltool" and rec["workflow_sha1"] == _tool_sha1(TOOL1D)
    assert [c["status"] for c in rec["status_changes"]] == ["queued", "running", "success"]
    # the job the runner got: the user's file, or its copy with the Files' EDAM formats filled in
    from panosc_cwl.api import runs_dir

    assert rec["job_path"] in (str(good_job), str(runs_dir() / f"{good_id}.job.yml"))
    assert rec["job"]["npt"] == 200
    assert {(i["name"], i["path"], i["sha1"]) for i in rec["inputs"]} == {
        ("frames", str(small.stack), _sha1(small.stack)), ("poni", str(small.poni), _sha1(small.poni))}
    assert [s["name"] for s in rec["steps"]] == ["pyfai-integrate1d"] and rec["steps"][0]["status"] == "success"
    out = tmp_path / "good" / "integrated.nxs"
    assert rec["log"] == str(tmp_path / "good" / "runner.log") and Path(rec["log"]).is_file()
    assert rec["provenance"] == str(tmp_path / "good" / "provenance") and Path(rec["provenance"]).is_dir()
    listing = _main(capsys, "runs", "outputs", good_id[:17], "--catalogue", catalogue_url)[1]  # unique prefix
    assert listing == f"{_sha1(out)}  {out}\n"  # the file as it is now (NXprocess chain written)
    check = subprocess.run(["sha1sum", "-c"], input=listing, capture_output=True, text=True)
    assert check.returncode == 0 and ": OK" in check.stdout
    with h5py.File(out) as h5:
        assert h5["entry/integrated/I"].shape == (2, 200)
    failed = json.loads(_main(capsys, "runs", "show", bad_id, "--json", "--catalogue", catalogue_url)[1])
    assert "nothing was submitted" in failed["error"] and failed["outputs"] == [] and failed["status_changes"][-1]["status"] == "failed"

    # from Python
    from panosc_cwl.runs import query

    assert [r.id for r in query(status="failed", input_sha1=_sha1(other_poni), catalogue=catalogue_url)] == [
        api_run.id, bad_id]
    assert [r.id for r in query(workflow=TOOL1D, since=between, catalogue=catalogue_url)] == [bad_id]


# ------------------------------------------------------------------ a run whose process was killed
SLEEPER = """cwlVersion: v1.2
class: CommandLineTool
label: sleep
doc: Sleeps a minute, long enough to be killed.
baseCommand: [sleep, "60"]
inputs: []
outputs: []
"""

SUBMITTER = r"""
import sys
import panosc_cwl
run = panosc_cwl.submit(sys.argv[1], None, outdir=sys.argv[2], catalogue=sys.argv[3], provenance=False)
print(run.id, flush=True)
run.wait()
"""


def test_killed_run_is_lost_on_its_host_only(catalogue_url, tmp_path, capsys):
    """A real run whose process is SIGKILLed: ``runs list``/``show`` and query/get say 'lost', not
    'running' for ever; a live run and another host's run are left as recorded."""
    import signal
    import socket

    from panosc_cwl.api import _proc_start
    from panosc_cwl.runs import get, query

    wf = tmp_path / "sleep.cwl"
    wf.write_text(SLEEPER)
    env = {**os.environ, "PANOSC_CWL_RUNS": str(tmp_path / "runs"), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen([sys.executable, "-c", SUBMITTER, str(wf), str(tmp_path / "out"), catalogue_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    state: dict = {}
    try:
        run_id = proc.stdout.readline().strip()
        assert run_id, proc.stderr.read()
        running = _wait_for(lambda: [r for r in query(catalogue=catalogue_url) if r.status == "running"], 120,
                            "the run recorded as running")
        assert [r.id for r in running] == [run_id] and running[0].owner_pid == proc.pid
        assert running[0].host == socket.gethostname() and running[0].owner_start == _proc_start(proc.pid)
        assert get(run_id, catalogue=catalogue_url).status == "running"  # alive: left alone
        state = json.loads((tmp_path / "runs" / f"{run_id}.json").read_text())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        if state.get("pgid"):  # the runner (cwltool running sleep) has its own process group
            try:
                os.killpg(state["pgid"], signal.SIGKILL)
            except ProcessLookupError:
                pass

    # a run recorded as running by another host, with a pid that is dead here: not ours to judge
    with open_catalogue(catalogue_url) as cat:
        now = time.time()
        elsewhere = {"id": "elsewhere-run", "revision": 1, "host": "beamline-node-7.example", "owner_pid": proc.pid,
                     "owner_start": "1", "workflow_path": str(wf), "status": "running", "submitted": now - 5,
                     "started": now - 4, "status_changes": [{"status": "running", "at": now - 4}]}
        cat.record_run(elsewhere)
        # and one of this host whose process lives (this test's own)
        cat.record_run({**elsewhere, "id": "alive-run", "host": socket.gethostname(), "owner_pid": os.getpid(),
                        "owner_start": _proc_start(os.getpid())})

    lost = get(run_id, catalogue=catalogue_url)
    assert lost.status == "lost" and lost.ended is not None, lost
    assert f"pid {proc.pid}" in lost.error and socket.gethostname() in lost.error
    assert [c["status"] for c in lost.status_changes][-2:] == ["running", "lost"]
    assert [r.id for r in query(status="lost", catalogue=catalogue_url)] == [run_id]
    assert sorted(r.id for r in query(status="running", catalogue=catalogue_url)) == ["alive-run", "elsewhere-run"]

    rc, out, err = _main(capsys, "runs", "list", "--status", "lost", "--catalogue", catalogue_url)
    assert rc == 0 and run_id in out and "lost" in out and f"pid {proc.pid}" in out, out + err
    rc, out, err = _main(capsys, "runs", "show", run_id, "--catalogue", catalogue_url)
    assert rc == 0 and out.startswith(f"run {run_id}: lost (lost: its process (pid {proc.pid}"), out + err

    # a record the run itself wrote (late, from the outbox: same revision) still wins over the verdict
    with open_catalogue(catalogue_url) as cat:
        from panosc_cwl.catalogue.records import read_run
        from panosc_cwl.catalogue.models import RunRecord

        with cat.session() as s:
            rec = read_run(s.get(RunRecord, run_id))
        cat.record_run({**rec, "status": "success", "ended": time.time(), "error": None,
                        "status_changes": rec["status_changes"][:-1] + [{"status": "success", "at": time.time()}]})
    assert get(run_id, catalogue=catalogue_url).status == "success"


def test_read_only_catalogue_is_still_queried(tmp_path, monkeypatch):
    """Marking a run lost needs to write; a catalogue the user may only read is listed all the same
    (and opening it by an SQLite URI creates nothing: once a ``file:`` folder appeared in the cwd)."""
    import socket

    from panosc_cwl.runs import query

    path = tmp_path / "catalogue.sqlite"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with open_catalogue(path) as cat:
        cat.record_run({"id": "dead-run", "revision": 1, "host": socket.gethostname(), "owner_pid": int(dead.stdout),
                        "owner_start": "1", "workflow_path": "/wf.cwl", "status": "running", "submitted": time.time()})
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert [(r.id, r.status) for r in query(catalogue=read_only)] == [("dead-run", "running")]
    assert list(cwd.iterdir()) == []
    assert [(r.id, r.status) for r in query(catalogue=path)] == [("dead-run", "lost")]


# ------------------------------------------------------------------ catalogue unreachable during a run
@pytest.fixture
def own_postgres(postgres_url):
    """A PostgreSQL server of this test's own (.ci/pg-up in a folder under .pg/), so stopping it
    disturbs no other test; yields (url, start, stop)."""
    import secrets
    import shutil

    folder = ROOT / ".pg" / f"outage-{secrets.token_hex(3)}"
    env = {**os.environ, "PANOSC_PG_DIR": str(folder)}
    env.pop("PANOSC_PG_PORT", None)

    def up() -> None:
        res = subprocess.run([str(ROOT / ".ci/pg-up")], env=env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr

    def down() -> None:
        subprocess.run([str(ROOT / ".ci/pg-down")], env=env, capture_output=True, text=True, timeout=120)

    up()
    try:
        yield (folder / "url").read_text().strip(), up, down
    finally:
        down()
        datadir = folder / "datadir"  # pg-up's cluster may lie in /var/tmp (see .ci/pg-up)
        if datadir.is_file() and Path(datadir.read_text().strip()).parent != folder:
            shutil.rmtree(Path(datadir.read_text().strip()).parent, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_catalogue_unreachable_during_a_run(backend, small, tmp_path, request):
    from panosc_cwl.catalogue import outbox
    from panosc_cwl.runs import get, query

    job = tmp_path / "job.yml"
    job.write_text(f"frames:\n  - {{class: File, path: {small.stack}}}\ndataset: {small.dataset}\n"
                   f"poni: {{class: File, path: {small.poni}}}\nnpt: 100\n")
    if backend == "postgresql":
        url, up, down = request.getfixturevalue("own_postgres")
    else:  # an SQLite file whose folder cannot be made (a file is in the way) until the test removes it
        (tmp_path / "blocked").write_text("not a folder")
        url = str(tmp_path / "blocked" / "catalogue.sqlite")
    proc = subprocess.Popen([str(BIN / "panosc-cwl"), "run", str(TOOL1D), str(job), "--outdir", str(tmp_path / "out"),
                             "--no-provenance", "--catalogue", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    try:
        if backend == "postgresql":  # the run is recorded as running, then the server goes away
            running = _wait_for(lambda: [r for r in query(catalogue=url) if r.status == "running"], 120,
                                "the run recorded as running")
            assert proc.poll() is None, "the run ended before the server could be stopped"
            down()
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err  # the run itself succeeded
    result = tmp_path / "out" / "integrated.nxs"
    assert out.strip() == str(result) and result.is_file()
    warnings = [line for line in err.splitlines() if "catalogue" in line and "cannot be reached" in line]
    assert len(warnings) == 1, err  # told once, however many records were queued
    assert "queued in" in warnings[0] and "written when the catalogue is next reachable" in warnings[0]
    assert outbox.pending(url) >= 1

    # the catalogue comes back: the next open writes the queued record
    if backend == "postgresql":
        up()
    else:
        (tmp_path / "blocked").unlink()
    with open_catalogue(url) as cat:
        rec = get(query(catalogue=cat)[0].id, catalogue=cat)
        assert outbox.pending(url) == 0
    assert rec.status == "success" and [c["status"] for c in rec.status_changes] == ["queued", "running", "success"]
    assert rec.outputs == [{"name": "integrated", "path": str(result), "sha1": _sha1(result),
                            "size": result.stat().st_size}]
    assert {i["sha1"] for i in rec.inputs} == {_sha1(small.stack), _sha1(small.poni)}
    if backend == "postgresql":
        assert running[0].id == rec.id
