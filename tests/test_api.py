"""The run API (panosc_cwl.submit / Run): real cwltool and Toil runs, the real SLURM, no mocks.

* a notebook executed by papermill (real kernel) submits the powder workflow and reads the integrated
  pattern from ``Run.outputs``; its live display ends showing every step done;
* ``submit`` returns at once; a dict job with plain paths runs; steps, outputs, state file, failures;
* Toil on the project's SLURM: ``Run.steps`` carry the SLURM job ids (checked with ``scontrol``);
  ``cancel()`` of a running SLURM run leaves none of its jobs in ``squeue``;
* ``Run.attach`` follows a run that ``panosc-cwl run`` started in another process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import panosc_cwl
from panosc_cwl.api import Run, RunFailed, runs_dir
from panosc_cwl.exceptions import PanoscError
from panosc_cwl.powder import expected_positions, peak_offsets, read_integrated
from panosc_cwl.simulate import PowderSimulation, simulate_powder

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POWDER = ROOT / "cwl/workflows/powder-xrd.cwl"
TOOL1D = ROOT / "cwl/tools/pyfai-integrate1d.cwl"
NOTEBOOK = ROOT / "notebooks/examples/submit-from-jupyter.ipynb"
POWDER_STEPS = {"integrate", "reduce", "plot_pattern", "make_report"}


@pytest.fixture(autouse=True)
def private_runs(tmp_path, monkeypatch):
    """Run states in this test's own folder; the venv first on PATH (the tools are looked up there)."""
    monkeypatch.setenv("PANOSC_CWL_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return simulate_powder(tmp_path_factory.mktemp("api-data"),
                           PowderSimulation(calibrant="CeO2", detector="Pilatus100k", n_frames=4, seed=3),
                           edf_frames=0, tiff_frames=0)


def _peaks_ok(path: Path) -> int:
    """Number of CeO2 reflections found where the calibrant puts them (asserts none is off)."""
    st = read_integrated(path)
    assert st.radial_name == "two_theta"
    positions, offsets = peak_offsets(st.radial, st.intensity.mean(axis=0),
                                      expected_positions("CeO2", st.wavelength_m, "2th_deg"))
    assert np.abs(offsets).max() <= 2, offsets
    return len(positions)


# ------------------------------------------------------------------ Jupyter
def test_notebook_submits_and_reads_outputs(tmp_path):
    import nbformat
    import papermill

    work = tmp_path / "nb"
    out_nb = tmp_path / "executed.ipynb"
    papermill.execute_notebook(str(NOTEBOOK), str(out_nb), parameters={"workdir": str(work), "project": str(ROOT)},
                               cwd=str(NOTEBOOK.parent), kernel_name="python3", progress_bar=False)
    summary = json.loads((work / "summary.json").read_text())
    assert summary["status"] == "success"
    assert {name for name, _ in summary["steps"]} == POWDER_STEPS and summary["steps_total"] == 4
    assert all(status == "success" for _, status in summary["steps"])
    assert summary["shape"] == [4, 500] and summary["peaks"] >= 2 and summary["max_offset_bins"] <= 2
    # the notebook's numbers are the file's: read the integrated pattern ourselves
    assert Path(summary["integrated"]) == work / "out" / "integrated.nxs"
    assert _peaks_ok(work / "out" / "integrated.nxs") == summary["peaks"]
    with h5py.File(work / "out" / "integrated.nxs") as h5:  # provenance reached the NeXus output
        assert any(k.startswith("cwl_step_") for k in h5["entry"])
    assert (Path(summary["provenance"]) / "bagit.txt").is_file()
    # the live display: an HTML view of the run, updated to its final state (4/4 steps)
    nb = nbformat.read(out_nb, as_version=4)
    html = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if "text/html" in o.get("data", {}) and f"Run {summary['run_id']}" in o["data"]["text/html"]]
    assert html, "no run display in the executed notebook"
    assert any("success" in h and "4/4 steps" in h for h in html), html


# ------------------------------------------------------------------ cwltool, in this process
def test_submit_returns_at_once_and_runs_a_dict_job(small, tmp_path):
    t0 = time.perf_counter()
    run = panosc_cwl.submit(TOOL1D, {"frames": [small.stack], "dataset": small.dataset, "poni": str(small.poni),
                                     "npt": 300}, outdir=tmp_path / "out", provenance=False)
    took = time.perf_counter() - t0
    assert took < 1.0, took  # the goal is 0.3 s (benchmarks/api_overhead.py); a loaded CI machine gets slack
    assert run.status in ("queued", "running")
    state = json.loads((runs_dir() / f"{run.id}.json").read_text())
    assert state["id"] == run.id and state["outdir"] == str(tmp_path / "out")
    assert run.wait(timeout=300) is run and run.status == "success"
    assert [(s.name, s.status) for s in run.steps] == [("pyfai-integrate1d", "success")]
    step = run.steps[0]
    assert step.start <= step.end and step.batch_job_id is None
    out = Path(run.outputs["integrated"]["path"])
    assert out == tmp_path / "out" / "integrated.nxs" and run.output_files() == [out]
    with h5py.File(out) as h5:
        assert h5["entry/integrated/I"].shape == (4, 300)
    assert _peaks_ok(out) >= 2  # a Pilatus 100k sees the first CeO2 rings
    assert run.log.read_text().startswith("$ ") and run.provenance is None
    # the job the runner got: the plain paths became CWL File objects, with the EDAM formats of their content
    job = json.loads(Path(json.loads((runs_dir() / f"{run.id}.json").read_text())["job"]).read_text())
    edam = "http://edamontology.org/"
    assert job["poni"] == {"class": "File", "path": str(small.poni), "format": edam + "format_2330"}
    assert job["frames"] == [{"class": "File", "path": str(small.stack), "format": edam + "format_3590"}]
    # another process's view (the state file) agrees
    other = Run.attach(run.id)
    assert other.status == "success" and other.outputs == run.outputs and Run.attach(tmp_path / "out").id == run.id


def test_failures_are_one_line_errors(small, tmp_path):
    bad = panosc_cwl.submit(TOOL1D, {"frames": [small.stack], "poni": str(small.poni), "npt": "many"},
                            outdir=tmp_path / "bad")
    with pytest.raises(PanoscError) as err:
        bad.wait(timeout=120)
    assert bad.status == "failed" and "nothing was submitted" in err.value.one_line()
    assert "npt" in {i.field for i in err.value.report.errors}  # each problem names its field
    assert not (tmp_path / "bad" / "runner.log").exists()  # refused before any runner started
    failing = panosc_cwl.submit(TOOL1D, {"frames": [small.stack], "dataset": "/no/such/data",
                                         "poni": str(small.poni)}, outdir=tmp_path / "fail", preflight=False,
                                provenance=False)
    with pytest.raises(RunFailed) as err:
        failing.wait(timeout=300)
    msg = err.value.one_line()
    # one line: the failing step, the tool's own error (not just an exit code), the log
    assert msg.startswith("run: step pyfai-integrate1d failed: dataset: '/no/such/data' not found"), msg
    assert msg.endswith(f"(log: {tmp_path / 'fail' / 'runner.log'})") and "\n" not in msg
    assert err.value.failure.step == "pyfai-integrate1d" and failing.failure == err.value.failure
    assert failing.status == "failed" and Run.attach(failing.id).status == "failed"
    with pytest.raises(PanoscError, match="unknown runner"):
        panosc_cwl.submit(TOOL1D, {}, runner="nope")
    res = subprocess.run([str(BIN / "panosc-cwl"), "run", str(TOOL1D), "--restart", "--outdir", str(tmp_path / "r")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr == ("panosc-cwl: error: restart: cwltool cannot resume a run; "
                                                  "--restart needs --runner toil\n")


def _cli_run(small, tmp_path: Path, out: Path) -> subprocess.Popen:
    """``panosc-cwl run`` of the powder workflow on the small data set, in a process of its own."""
    job = tmp_path / "job.yml"
    job.write_text(f"frames: [{{class: File, path: {small.stack}}}]\ndataset: /entry/data/data\n"
                   f"poni: {{class: File, path: {small.poni}}}\nnpt: 400\ncalibrant: CeO2\n")
    return subprocess.Popen([str(BIN / "panosc-cwl"), "run", str(POWDER), str(job), "--outdir", str(out),
                             "--no-provenance"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))


# ------------------------------------------------------------------ attach to a CLI run
def test_attach_follows_a_cli_run(small, tmp_path):
    out = tmp_path / "cli-out"
    proc = _cli_run(small, tmp_path, out)
    run, end = None, time.monotonic() + 60
    while run is None and time.monotonic() < end:
        try:
            run = Run.attach(out)
        except PanoscError:
            time.sleep(0.2)
    assert run is not None, "the CLI run never registered"
    seen = set()
    while run.status not in ("success", "failed", "cancelled") and time.monotonic() < end + 400:
        seen.add(run.status)
        time.sleep(0.3)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-3000:]
    assert "running" in seen and run.wait(timeout=10).status == "success"
    assert {s.name for s in run.steps} == POWDER_STEPS and all(s.status == "success" for s in run.steps)
    # the attached view sees the outputs the CLI printed
    assert sorted(str(p) for p in run.output_files()) == sorted(stdout.split())
    assert _peaks_ok(Path(run.outputs["integrated"]["path"])) >= 2


def test_attach_to_a_dead_owner_is_lost(small, tmp_path):
    """A run whose owning process died before the run ended reads as failed (lost), not running forever."""
    code = (f"import panosc_cwl, os, time; r = panosc_cwl.submit({str(TOOL1D)!r}, "
            f"{{'frames': [{str(small.stack)!r}], 'dataset': '/entry/data/data', 'poni': {str(small.poni)!r}}}, "
            f"outdir={str(tmp_path / 'o')!r}); print(r.id, flush=True); os._exit(0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=dict(os.environ))
    run = Run.attach(res.stdout.split()[0])
    assert run.status == "failed" and run.error.startswith("lost")
    with pytest.raises(RunFailed, match="lost"):
        run.wait(timeout=5)


# ------------------------------------------------------------------ Toil on the project's SLURM
@pytest.mark.slurm
@pytest.mark.toil
@pytest.mark.xdist_group("slurm")
def test_toil_slurm_steps_carry_slurm_job_ids(small, tmp_path, slurm_env, slurm_jobs, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", slurm_env["SLURM_CONF"])
    monkeypatch.chdir(tmp_path)  # Toil's SLURM jobs get this WorkDir: slurm_jobs(tmp_path) finds them
    run = panosc_cwl.submit(POWDER, {"frames": [small.stack], "dataset": small.dataset, "poni": small.poni,
                                     "npt": 400, "calibrant": "CeO2"},
                            runner="toil", batch_system="slurm", outdir=tmp_path / "out", provenance=False)
    run.wait(timeout=600)
    assert run.status == "success"
    steps = run.steps
    assert {s.name for s in steps} == POWDER_STEPS and all(s.status == "success" for s in steps)
    jobs = {j["JobId"]: j for j in slurm_jobs(tmp_path)}
    for s in steps:
        assert s.batch_job_id in jobs, (s, sorted(jobs))
        job = jobs[s.batch_job_id]
        assert f".{s.name}." in job["JobName"] and job["JobState"] == "COMPLETED", job["JobName"]
        assert s.start <= s.end
    assert sorted(j for j in jobs) == sorted(s.batch_job_id for s in steps)
    assert _peaks_ok(Path(run.outputs["integrated"]["path"])) >= 2


@pytest.mark.slurm
@pytest.mark.toil
@pytest.mark.xdist_group("slurm")
def test_cancel_a_running_slurm_run(small, tmp_path, slurm_env, slurm_jobs, monkeypatch):
    big = simulate_powder(tmp_path / "big", PowderSimulation(calibrant="CeO2", detector="Pilatus1M", n_frames=20,
                                                               seed=4), edf_frames=0, tiff_frames=0)
    monkeypatch.setenv("SLURM_CONF", slurm_env["SLURM_CONF"])
    monkeypatch.chdir(tmp_path)
    run = panosc_cwl.submit(POWDER, {"frames": [big.stack], "dataset": big.dataset, "poni": big.poni, "npt": 2000,
                                     "calibrant": "CeO2"},
                            runner="toil", batch_system="slurm", outdir=tmp_path / "out", provenance=False)
    end = time.monotonic() + 240
    running = []
    while not running and time.monotonic() < end and run.status not in ("success", "failed"):
        ids = set(run.batch_job_ids)
        running = [j for j in slurm_jobs(tmp_path) if j["JobId"] in ids and j["JobState"] == "RUNNING"]
        time.sleep(0.3)
    assert running, f"no SLURM job of the run was seen RUNNING (status {run.status}, steps {run.steps})"
    t0 = time.monotonic()
    assert run.cancel() is run
    assert run.status == "cancelled", run.error
    queued = subprocess.run(["squeue", "-h", "-o", "%i"], env=slurm_env, capture_output=True, text=True,
                            timeout=30).stdout.split()
    mine = [j["JobId"] for j in slurm_jobs(tmp_path)]
    assert mine and not set(mine) & set(queued), (mine, queued)
    assert all(j["JobState"] in ("CANCELLED", "COMPLETED", "FAILED") for j in slurm_jobs(tmp_path))
    assert time.monotonic() - t0 < 90
    assert not (tmp_path / "out" / "reduced.nxs").exists()
    assert Run.attach(run.id).status == "cancelled"
    assert any(s.status == "cancelled" for s in run.steps)


def test_cancel_from_another_process(small, tmp_path):
    """A notebook cancels a run the CLI started: the CLI's runner group stops, the CLI exits 130, nothing
    of the run's outputs is left, and both views say cancelled."""
    out = tmp_path / "cli-out"
    proc = _cli_run(small, tmp_path, out)
    run, end = None, time.monotonic() + 120
    while time.monotonic() < end and (run is None or not [s for s in run.steps if s.status == "running"]):
        try:
            run = run or Run.attach(out)
        except PanoscError:
            pass
        time.sleep(0.2)
    assert run is not None and run.status == "running", run
    pgid = run._state["pgid"]
    assert run.cancel(timeout=60).status == "cancelled"
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "panosc-cwl: interrupted" in stderr and "Traceback" not in stderr, stderr[-2000:]
    assert stdout == ""
    assert not Path(f"/proc/{pgid}").exists()  # the runner (group leader) is gone
    assert not (out / "reduced.nxs").exists() and not (out / "pattern.png").exists()
    assert Run.attach(run.id).status == "cancelled"


@pytest.mark.slurm
@pytest.mark.xdist_group("slurm")
def test_toil_backend_scancels_jobs_its_leader_left(tmp_path, slurm_env, monkeypatch):
    """When the leader is gone but its SLURM jobs are not (a SIGKILLed leader), cancel() scancels them by id."""
    from panosc_cwl.runners import Toil, slurm_queued

    monkeypatch.setenv("SLURM_CONF", slurm_env["SLURM_CONF"])
    sub = subprocess.run(["sbatch", "--parsable", "-D", str(tmp_path), "--wrap", "sleep 300"], env=slurm_env,
                         capture_output=True, text=True, timeout=30, check=True)
    job_id = sub.stdout.strip().split(";")[0]
    assert slurm_queued([job_id]) == [job_id]
    assert Toil("slurm").cancel(None, [job_id]) == [job_id]
    assert slurm_queued([job_id]) == []
    state = subprocess.run(["scontrol", "-o", "show", "job", job_id], env=slurm_env, capture_output=True, text=True,
                           timeout=30).stdout
    assert "JobState=CANCELLED" in state
