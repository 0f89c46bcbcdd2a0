"""Nothing lost under faults, no shell: real cwltool/Toil runs of the powder workflow.

* ``panosc-cwl run`` refuses to overwrite outputs already in --outdir (unless --overwrite);
* SIGTERM / Ctrl-C stop the runner *and* its running tool at once, nothing lands in --outdir,
  inputs stay byte-identical;
* a Toil run killed with SIGKILL (leader, workers and tools: the whole session, like a node
  crash) resumes with ``--restart --job-store``, gives the same data as an uninterrupted run and
  records a complete provenance bundle (every step, also those that ran before the kill);
* ``--retry-count`` makes Toil re-run a failing step;
* hostile strings and file names (``; rm -rf``, ``$(...)``, backticks, newlines) reach the tools
  as plain arguments: nothing is executed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from panosc_cwl.runners import RunRequest, run

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "cwl" / "workflows" / "powder-xrd.cwl"
TOOL1D = ROOT / "cwl" / "tools" / "pyfai-integrate1d.cwl"
BIN = Path(sys.executable).parent
ENV = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
CLI = [str(BIN / "panosc-cwl")]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def simulate(folder: Path, detector: str, frames: int) -> Path:
    subprocess.run(CLI + ["powder", "simulate", "--detector", detector, "--frames", str(frames), "--edf", "0",
                          "--tiff", "0", "-o", str(folder)], check=True, capture_output=True, env=ENV)
    return folder


def write_job(path: Path, data: Path, npt: int = 500) -> Path:
    path.write_text(f"frames: [{{class: File, path: {data / 'ceo2.h5'}}}]\ndataset: /entry/data/data\n"
                    f"poni: {{class: File, path: {data / 'ceo2.poni'}}}\nnpt: {npt}\ncalibrant: CeO2\n")
    return path


def session_alive(sid: int) -> list[str]:
    """Command lines of the processes still in session ``sid`` (the test started it with setsid)."""
    alive = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                alive.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError, IndexError):
            continue
    return alive


def wait_gone(sid: int, timeout: float) -> list[str]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = session_alive(sid)
        if not left:
            return []
        time.sleep(0.2)
    return session_alive(sid)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return simulate(tmp_path_factory.mktemp("small") / "ceo2", "Pilatus100k", 4)


def nexus_data(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a NeXus file except times and provenance (which differ between runs)."""
    out = {}
    with h5py.File(path, "r") as h5:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "iuf" and "process" not in name \
                    and "time" not in name and "/cwl_step_" not in name:  # our NXprocess chain
                out[name] = obj[()]
        h5.visititems(visit)
    return out


# ------------------------------------------------------------------ overwrite
def test_run_refuses_to_overwrite_outputs(small: Path, tmp_path: Path):
    job = write_job(tmp_path / "job.yml", small)
    out = tmp_path / "out"
    args = ["run", "--no-provenance", "--outdir", str(out), str(WORKFLOW), str(job)]
    first = subprocess.run(CLI + args, capture_output=True, text=True, env=ENV, timeout=300)
    assert first.returncode == 0, first.stderr
    before = {p.name: sha256(p) for p in out.iterdir() if p.name != "runner.log"}
    assert {"integrated.nxs", "reduced.nxs", "pattern.png"} <= set(before)
    again = subprocess.run(CLI + args, capture_output=True, text=True, env=ENV, timeout=300)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert "error: outdir:" in again.stderr and "already holds" in again.stderr, again.stderr
    assert all(name in again.stderr for name in before)
    assert "$ " not in again.stderr  # nothing was started
    assert {p.name: sha256(p) for p in out.iterdir() if p.name != "runner.log"} == before
    forced = subprocess.run(CLI + args + ["--overwrite"], capture_output=True, text=True, env=ENV, timeout=300)
    assert forced.returncode == 0, forced.stderr
    with h5py.File(out / "integrated.nxs") as h5:
        assert h5["entry/integrated/I"].shape == (4, 500)


# ------------------------------------------------------------------ signals
@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    # a Pilatus 1M stack: integration takes seconds, long enough to be interrupted in the middle
    return simulate(tmp_path_factory.mktemp("big") / "ceo2", "Pilatus1M", 20)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_run_cleanly(big: Path, tmp_path: Path, sig: signal.Signals):
    job = write_job(tmp_path / "job.yml", big, npt=2000)
    sums = {p.name: sha256(p) for p in big.iterdir()}
    out = tmp_path / "out"
    proc = subprocess.Popen(CLI + ["run", "--no-provenance", "--outdir", str(out), str(WORKFLOW), str(job)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "step integrate: start" in line:
            break
    runner_pid = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(p) == proc.pid]
    assert len(runner_pid) == 1
    end = time.monotonic() + 30
    while not [c for c in session_alive(runner_pid[0]) if "integrate1d" in c] and time.monotonic() < end:
        time.sleep(0.1)
    time.sleep(1.0)  # the integration tool is running now, in the middle of the stack
    assert [c for c in session_alive(runner_pid[0]) if "integrate1d" in c]
    t0 = time.monotonic()
    proc.send_signal(sig)
    rest = proc.stderr.read()
    rc = proc.wait(timeout=60)
    assert rc == 130, rest
    assert "panosc-cwl: interrupted" in rest and "Traceback" not in rest, rest
    # the runner and the tool it was running are gone (cwltool itself takes up to ~10 s to exit)
    for pid in runner_pid:
        assert wait_gone(pid, 30) == [], f"runner session {pid} still has processes"
    assert time.monotonic() - t0 < 40
    assert {p.name: sha256(p) for p in big.iterdir()} == sums
    assert sorted(p.name for p in out.iterdir()) == ["runner.log"]  # no output, complete or partial
    assert "stopped by " + sig.name in (out / "runner.log").read_text()


def _ppid(proc: Path) -> int:
    try:
        stat = (proc / "stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


# ------------------------------------------------------------------ Toil: kill, restart, retry
@pytest.mark.toil
@pytest.mark.slow
def test_toil_killed_run_resumes_with_identical_outputs(small: Path, tmp_path: Path):
    job = write_job(tmp_path / "job.yml", small)
    sums = {p.name: sha256(p) for p in small.iterdir()}
    # reference: an uninterrupted run of the same workflow and job (cwltool: same tools, faster)
    ref = tmp_path / "ref"
    done = subprocess.run(CLI + ["run", "--no-provenance", "--outdir", str(ref), str(WORKFLOW), str(job)],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    store = tmp_path / "store" / "jobstore"
    store.parent.mkdir()
    out = tmp_path / "out"
    args = ["run", "--runner", "toil", "--job-store", str(store), "--outdir", str(out), str(WORKFLOW), str(job)]
    proc = subprocess.Popen(CLI + args + ["-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)
    killed = False
    assert proc.stderr is not None
    for line in proc.stderr:
        if "Issued job" in line and "powder-reduce" in line:  # integrate finished, reduce just issued
            os.killpg(proc.pid, signal.SIGKILL)  # panosc-cwl itself; the runner has its own session:
            killed = True
            break
    assert killed, "the Toil run ended before the kill point"
    proc.wait(timeout=30)
    # kill the runner's session too (leader, workers, tools): a crashed node
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and "toil" in _cmdline(p) and str(store) in _cmdline(p):
            try:
                os.killpg(int(p.name), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    time.sleep(1)
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and str(store) in _cmdline(p)]
    assert not (out / "reduced.nxs").exists()
    assert not (out / "provenance").exists()  # the killed run left no (partial) bundle
    restarted_at = time.time()
    resumed = subprocess.run(CLI + ["run", "--runner", "toil", "--restart", "--job-store",
                                    str(store), "--outdir", str(out), str(WORKFLOW), str(job)],
                             capture_output=True, text=True, env=ENV, timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "--restart" in resumed.stderr
    _check_restarted_bundle(out, ref, small, restarted_at)
    for name in ("integrated.nxs", "reduced.nxs"):
        got, want = nexus_data(out / name), nexus_data(ref / name)
        assert got.keys() == want.keys() and got, name
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{name}:{key}")
    assert (out / "pattern.png").stat().st_size > 1000
    assert {p.name: sha256(p) for p in small.iterdir()} == sums


def _check_restarted_bundle(out: Path, ref: Path, data: Path, restarted_at: float) -> None:
    """The restarted run's bundle verifies, lists every step (integrate ran before the kill: its
    record comes from the killed run's log) and holds outputs with the reference run's data."""
    from datetime import datetime

    from panosc_cwl.provenance import load_run, sha1_file
    from panosc_cwl.provenance.nexus import data_checksum

    bundle = out / "provenance"
    verify = subprocess.run(CLI + ["provenance", "verify", str(bundle)], capture_output=True, text=True, env=ENV,
                            timeout=120)
    assert verify.returncode == 0 and ": valid (" in verify.stdout, verify.stdout + verify.stderr
    validator = subprocess.run([str(BIN / "cwlprov"), "-d", str(bundle), "validate"], capture_output=True, text=True,
                               timeout=120)  # the CWLProv reference tool
    assert validator.returncode == 0 and "Valid CWLProv RO" in validator.stdout, validator.stdout + validator.stderr
    shown = subprocess.run(CLI + ["provenance", "show", str(bundle)], capture_output=True, text=True, env=ENV,
                           timeout=120)
    assert shown.returncode == 0, shown.stderr
    listed = [line.split()[1] for line in shown.stdout.splitlines() if line[:5].strip().rstrip(".").isdigit()]
    from ruamel.yaml import YAML

    steps = list(YAML(typ="safe", pure=True).load(WORKFLOW.read_text())["steps"])
    assert sorted(listed) == sorted(steps) and listed[:2] == ["integrate", "reduce"], shown.stdout
    rec = load_run(bundle)
    by_name = {s.name: s for s in rec.steps}
    for s in rec.steps:
        assert s.started and s.ended and s.started <= s.ended and s.batch_job_ids, s
    # integrate finished before the kill: its times are from the first run, before the restart
    assert datetime.fromisoformat(by_name["integrate"].ended).timestamp() < restarted_at
    assert datetime.fromisoformat(by_name["reduce"].ended).timestamp() > restarted_at
    inputs = {m.sha1 for a in rec.inputs for m in (a.members or [a]) if m.sha1}
    assert {sha1_file(data / "ceo2.h5"), sha1_file(data / "ceo2.poni")} <= inputs
    outputs = {a.role.rsplit("/", 1)[-1]: a for a in rec.outputs}
    for key, name in (("integrated", "integrated.nxs"), ("reduced", "reduced.nxs")):
        sha = outputs[key].sha1
        kept = bundle / "data" / sha[:2] / sha  # the output as the run made it (before its NXprocess chain)
        assert data_checksum(kept) == data_checksum(ref / name) == data_checksum(out / name), name
    png = outputs["plot"].sha1
    assert (bundle / "data" / png[:2] / png).read_bytes() == (out / "pattern.png").read_bytes()


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


FLAKY = """cwlVersion: v1.2
class: CommandLineTool
label: Fails until its third attempt
doc: Test tool for --retry-count; counts attempts in a file outside the job folder.
inputs:
  counter: {type: string, label: Counter file, doc: Absolute path of the attempt counter.}
baseCommand: [python3, -c]
arguments:
  - |
    import sys
    p = sys.argv[1]
    n = int(open(p).read()) + 1 if __import__("os").path.exists(p) else 1
    open(p, "w").write(str(n))
    sys.exit(0 if n >= 3 else 1)
  - $(inputs.counter)
outputs: []
"""


@pytest.mark.toil
@pytest.mark.slow
def test_toil_retry_count(tmp_path: Path):
    tool = tmp_path / "flaky.cwl"
    tool.write_text(FLAKY)
    counter = tmp_path / "attempts"
    job = tmp_path / "job.yml"
    job.write_text(f"counter: {counter}\n")
    res = subprocess.run(CLI + ["run", "--runner", "toil", "--no-provenance", "--retry-count", "2", "--outdir",
                                str(tmp_path / "out"), str(tool), str(job)],
                         capture_output=True, text=True, env=ENV, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "--retryCount 2" in res.stderr
    assert counter.read_text() == "3"


# ------------------------------------------------------------------ no shell
HDF5, TEXT = "http://edamontology.org/format_3590", "http://edamontology.org/format_2330"  # run() is the bare runner
HOSTILE = ["; rm -rf {canary}", "$(rm -rf {canary})", "`rm -rf {canary}` && rm -rf {canary}",
           "x\nrm -rf {canary} | ' ; rm -rf {canary} ; '"]


def test_hostile_strings_reach_the_tool_verbatim(small: Path, tmp_path: Path):
    """Each value arrives as one argv element: the tool reports it literally, the canary survives."""
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep").write_text("precious")
    values = [h.format(canary=canary) for h in HOSTILE]
    job = tmp_path / "job.json"
    out = tmp_path / "out"
    out.mkdir()
    for i, value in enumerate(values):
        job.write_text(json.dumps({"frames": [{"class": "File", "path": str(small / "ceo2.h5"), "format": HDF5}],
                                   "dataset": value,
                                   "poni": {"class": "File", "path": str(small / "ceo2.poni"), "format": TEXT}}))
        with pytest.raises(Exception) as err:
            run(RunRequest(workflow=TOOL1D, job=job, outdir=out / str(i)))
        log = (out / str(i) / "runner.log").read_text()
        # the tool saw the whole value as the dataset path (our error message quotes it back)
        assert f"'{value}' not found in ceo2.h5".replace("\n", " ") in " ".join(log.split("\n")) \
            or repr(value)[1:-1] in log, (value, log[-2000:])
        assert (canary / "keep").read_text() == "precious", value
        assert "step pyfai-integrate1d failed: dataset: " in str(err.value) and "(log: " in str(err.value)


def test_hostile_file_names_are_plain_arguments(small: Path, tmp_path: Path):
    """File names with shell syntax (cwltool needs --relax-path-checks for them) integrate normally."""
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep").write_text("precious")
    names = ["scan; touch PWNED1.h5", "scan $(touch PWNED2).h5", "scan `touch PWNED3`.h5", "scan | touch PWNED4.h5"]
    data = tmp_path / "data"
    data.mkdir()
    frames = []
    for name in names:
        shutil.copy(small / "ceo2.h5", data / name)
        frames.append({"class": "File", "path": str(data / name), "format": HDF5})
    shutil.copy(small / "ceo2.poni", data / "geo $(touch PWNED5).poni")
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"frames": frames, "dataset": "/entry/data/data", "npt": 300,
                               "poni": {"class": "File", "path": str(data / "geo $(touch PWNED5).poni"), "format": TEXT}}))
    out = tmp_path / "out"
    res = run(RunRequest(workflow=TOOL1D, job=job, outdir=out,
                         extra_args=["--relax-path-checks", "--tmpdir-prefix", f"{tmp_path}/tmp/",
                                     "--tmp-outdir-prefix", f"{tmp_path}/jobs/", "--leave-tmpdir"]))
    assert res.returncode == 0
    with h5py.File(out / "integrated.nxs") as h5:
        intensity = h5["entry/integrated/I"][()]
    assert intensity.shape == (4 * len(names), 300)
    np.testing.assert_array_equal(intensity[:4], intensity[4:8])  # the same frames, the same result
    assert not [p for p in tmp_path.rglob("PWNED*")]
    assert not [p for p in Path.home().glob("PWNED*")] and not list(Path.cwd().glob("PWNED*"))
    assert (canary / "keep").read_text() == "precious"
    assert {p.name for p in data.iterdir()} == set(names) | {"geo $(touch PWNED5).poni"}


def test_newline_in_file_name_is_refused_up_front(small: Path, tmp_path: Path):
    """cwltool cannot stage a file whose name holds a newline (it drops the newline and fails late):
    validation refuses it before the run, naming the field."""
    from panosc_cwl.validate import validate_job

    bad = tmp_path / "scan\ntouch PWNED.h5"
    shutil.copy(small / "ceo2.h5", bad)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"frames": [{"class": "File", "path": str(bad)}], "dataset": "/entry/data/data",
                               "poni": {"class": "File", "path": str(small / "ceo2.poni")}}))
    errors = validate_job(WORKFLOW, job).errors
    assert [e.field for e in errors] == ["frames[0]"] and "characters cwltool refuses" in errors[0].message
    assert "\n" not in errors[0].one_line()
    assert not list(tmp_path.rglob("PWNED"))
