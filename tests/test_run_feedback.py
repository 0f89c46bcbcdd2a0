"""What a user sees when a run meets no GPU, fails, is interrupted or names an input wrongly (issue 18).

Real cwltool and Toil runs of small jobs, on this GPU-less machine, with no stand-in nvidia-smi:

* a GPU-capable tool runs its CPU path with one line saying so, under cwltool and Toil; ``validate``
  reports the GPU situation first; a GPU (the stand-in) or a batch system makes the run ask for one;
* a failing tool ends the run with ONE line: the step, the tool's own error, the log path;
* Ctrl-C leaves no bundle; a bundle a stock runner left half-written is called incomplete by
  ``provenance verify``/``show`` and replaced by the next run (no ``provenance-2``);
* a typo'd input name is refused (exit 2, file:line, "did you mean") unless ``--allow-unknown``;
* options after ``--`` reach the runner's command line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GPU_TOOL = ROOT / "cwl/tools/pyfai-integrate1d-gpu.cwl"
TOOL1D = ROOT / "cwl/tools/pyfai-integrate1d.cwl"
POWDER = ROOT / "cwl/workflows/powder-xrd.cwl"
TOMO = ROOT / "cwl/workflows/tomo.cwl"


def _env(tmp_path: Path, extra_path: Path | None = None) -> dict:
    # no nvidia-smi on PATH (this machine has none; a stand-in is added only where a test says so)
    path = [str(BIN)] + [p for p in os.environ.get("PATH", "").split(os.pathsep)
                         if p and not (Path(p) / "nvidia-smi").exists()]
    if extra_path:
        path.insert(0, str(extra_path))
    return {**os.environ, "PATH": os.pathsep.join(path), "MPLBACKEND": "Agg",
            "PANOSC_CWL_RUNS": str(tmp_path / "runs")}


def _cli(args: list[str], tmp_path: Path, extra_path: Path | None = None, timeout: float = 400
         ) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "panosc-cwl"), *args], capture_output=True, text=True, cwd=tmp_path,
                          env=_env(tmp_path, extra_path), timeout=timeout)


@pytest.fixture(scope="module")
def ceo2(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("feedback") / "ceo2"
    subprocess.run([str(BIN / "panosc-cwl"), "powder", "simulate", "--detector", "Pilatus100k", "--frames", "2",
                    "--edf", "0", "--tiff", "0", "-o", str(folder)], check=True, capture_output=True)
    return folder


def _job(path: Path, data: Path, **extra) -> Path:
    job = {"frames": [{"class": "File", "path": str(data / "ceo2.h5")}], "dataset": "/entry/data/data",
           "poni": {"class": "File", "path": str(data / "ceo2.poni")}, "npt": 300, **extra}
    path.write_text(json.dumps(job))
    return path


def test_no_nvidia_smi_here():
    assert shutil.which("nvidia-smi", path=_env(Path("/tmp"))["PATH"]) is None


# ------------------------------------------------------------------ GPU: CPU path, said once
@pytest.mark.parametrize("runner", ["cwltool", pytest.param("toil", marks=pytest.mark.toil)])
def test_gpu_tool_runs_its_cpu_path_and_says_so_once(ceo2, tmp_path, runner):
    job = _job(tmp_path / "job.json", ceo2)
    proc = _cli(["run", str(GPU_TOOL), str(job), "--outdir", str(tmp_path / "out"), "--runner", runner,
                 "--no-provenance"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    notes = [ln for ln in proc.stderr.splitlines() if "GPU" in ln]
    assert notes == ["no GPU here: step pyfai-integrate1d-gpu runs on its CPU path"], proc.stderr
    command = next(ln for ln in proc.stderr.splitlines() if ln.startswith("$ "))
    assert "--overrides" not in command  # no GPU request where none can be had
    out = tmp_path / "out" / "integrated.nxs"
    with h5py.File(out) as h5:
        assert h5["entry/integrated/I"].shape == (2, 300)
        method = h5["entry/reduction/input/method"][()].decode()
    assert "opencl" not in method.lower() and "cython" in method.lower(), method  # the engine that ran


def test_validate_reports_the_gpu_situation_before_anything_runs(tmp_path, fake_nvidia_smi):
    job = str(ROOT / "jobs/tomo.yml")
    none = _cli(["validate", str(TOMO), job], tmp_path)
    assert none.returncode == 0, none.stderr
    assert "no GPU here: step reconstruct runs on its CPU path" in none.stdout.splitlines()
    gpu = _cli(["validate", str(TOMO), job], tmp_path, extra_path=fake_nvidia_smi)
    assert "GPU: 1 here (CUDA 12.0): step reconstruct may use it" in gpu.stdout.splitlines(), gpu.stdout
    batch = _cli(["validate", str(TOMO), job, "--profile", "ci-local"], tmp_path)
    assert "GPU: step reconstruct asks the batch system for a GPU (gpu-overrides.yml)" in batch.stdout, batch.stdout


def test_gpu_request_goes_to_the_runner_only_where_a_gpu_can_be_had(tmp_path, fake_nvidia_smi, monkeypatch):
    from panosc_cwl.gpu import plan
    from panosc_cwl.runners import RunRequest, build_command

    monkeypatch.setenv("PATH", _env(tmp_path)["PATH"])
    assert plan(TOMO).overrides is None
    slurm = plan(TOMO, batch_system="slurm")
    assert slurm.overrides == ROOT / "cwl/gpu-overrides.yml" and slurm.steps == ["reconstruct"]
    monkeypatch.setenv("PATH", _env(tmp_path, fake_nvidia_smi)["PATH"])
    local = plan(TOMO)
    assert local.gpus == 1 and local.overrides == ROOT / "cwl/gpu-overrides.yml"
    cmd = build_command(RunRequest(TOMO, ROOT / "jobs/tomo.yml", tmp_path, gpu_overrides=local.overrides))
    assert cmd.argv[cmd.argv.index("--overrides") + 1] == str(ROOT / "cwl/gpu-overrides.yml")
    assert plan(POWDER).steps == []  # a CPU-only workflow has nothing to say about GPUs


# ------------------------------------------------------------------ a failing tool: one line with the cause
@pytest.mark.parametrize("runner", ["cwltool", pytest.param("toil", marks=pytest.mark.toil)])
def test_failing_step_ends_with_one_line_naming_step_cause_and_log(ceo2, tmp_path, runner):
    bad = tmp_path / "nowave.poni"  # a geometry without a wavelength: only the tool itself finds that out
    bad.write_text("\n".join(ln for ln in (ceo2 / "ceo2.poni").read_text().splitlines()
                             if not ln.startswith("Wavelength")) + "\n")
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"frames": [{"class": "File", "path": str(ceo2 / "ceo2.h5")}],
                               "dataset": "/entry/data/data", "poni": {"class": "File", "path": str(bad)},
                               "npt": 300, "calibrant": "CeO2"}))
    out = tmp_path / "out"
    proc = _cli(["run", str(POWDER), str(job), "--outdir", str(out), "--runner", runner], tmp_path)
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (f"panosc-cwl: error: run: step integrate failed: poni: nowave.poni has no wavelength "
                    f"(needed for 2θ/q) (log: {out / 'runner.log'})"), proc.stderr[-3000:]
    assert sum("error" in ln for ln in proc.stderr.splitlines() if ln.startswith("panosc-cwl")) == 1
    assert "Traceback" not in proc.stderr
    assert not (out / "provenance").exists()  # a failed run leaves no bundle that could pass for a record


def test_failure_is_returned_as_data_by_the_api(ceo2, tmp_path, monkeypatch):
    from panosc_cwl.api import RunFailed, submit

    monkeypatch.setenv("PANOSC_CWL_RUNS", str(tmp_path / "runs"))
    bad = tmp_path / "nowave.poni"
    bad.write_text("\n".join(ln for ln in (ceo2 / "ceo2.poni").read_text().splitlines()
                             if not ln.startswith("Wavelength")) + "\n")
    run = submit(TOOL1D, {"frames": [ceo2 / "ceo2.h5"], "dataset": "/entry/data/data", "poni": bad, "npt": 300},
                 outdir=tmp_path / "out", provenance=False)
    with pytest.raises(RunFailed) as err:
        run.wait(timeout=300)
    failure = err.value.failure
    assert failure.step == "pyfai-integrate1d" and "has no wavelength" in failure.cause
    assert failure.log_path == tmp_path / "out" / "runner.log" and failure.log_path.is_file()
    assert run.failure == failure and run.status == "failed"


# ------------------------------------------------------------------ interrupted: nothing that looks valid
def test_interrupted_stock_bundle_is_called_incomplete_and_replaced(ceo2, tmp_path):
    """A bundle cwltool wrote when it was stopped mid-run: verify and show say so in one line; the
    next ``panosc-cwl run`` into that folder replaces it (said once) instead of writing provenance-2."""
    big = tmp_path / "big"
    subprocess.run([str(BIN / "panosc-cwl"), "powder", "simulate", "--detector", "Pilatus1M", "--frames", "12",
                    "--edf", "0", "--tiff", "0", "-o", str(big)], check=True, capture_output=True)
    job = _job(tmp_path / "job.json", big, calibrant="CeO2")
    out = tmp_path / "out"
    proc = subprocess.Popen([str(BIN / "cwltool"), "--outdir", str(out), "--provenance", str(out / "provenance"),
                             str(POWDER), str(job)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(tmp_path), cwd=tmp_path)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "[step integrate] start" in line:
            break
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    bundle = out / "provenance"
    assert bundle.is_dir() and not (bundle / "metadata/provenance/primary.cwlprov.json").exists()
    for action in ("verify", "show"):
        said = _cli(["provenance", action, str(bundle)], tmp_path)
        assert said.returncode != 0
        lines = said.stderr.strip().splitlines()
        assert len(lines) == 1 and "INCOMPLETE bundle" in lines[0] and "interrupted" in lines[0], said.stderr
    small = _job(tmp_path / "small.json", ceo2, calibrant="CeO2")
    again = _cli(["run", str(POWDER), str(small), "--outdir", str(out), "--overwrite"], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"removed the incomplete provenance bundle of an earlier interrupted run: {bundle}" in again.stderr
    assert sorted(p.name for p in out.glob("provenance*")) == ["provenance"]
    ok = _cli(["provenance", "verify", str(bundle)], tmp_path)
    assert ok.returncode == 0 and "valid" in ok.stdout, ok.stderr


def test_sigint_mid_run_leaves_only_the_log(tmp_path):
    """Ctrl-C during ``panosc-cwl run`` (with provenance): exit 130, nothing in --outdir but runner.log."""
    out = tmp_path / "out"
    proc = subprocess.Popen([str(BIN / "panosc-cwl"), "run", str(TOMO), str(ROOT / "jobs/tomo.yml"), "--outdir",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(tmp_path), cwd=tmp_path)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "step simulate: start" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, rest
    assert sorted(p.name for p in out.iterdir()) == ["runner.log"], rest
    said = _cli(["provenance", "verify", str(out / "provenance")], tmp_path)
    assert said.returncode != 0 and "valid" not in said.stdout


# ------------------------------------------------------------------ typo'd input names
def test_typo_in_input_name_is_refused(tmp_path):
    job = tmp_path / "cdi.yml"
    job.write_text((ROOT / "jobs/cdi-2d.yml").read_text().replace("support_threshold:", "suport_threshold:"))
    line = next(i for i, ln in enumerate(job.read_text().splitlines(), 1) if ln.startswith("suport_threshold"))
    want = (f"{job}:{line}:1: suport_threshold: unknown input; did you mean 'support_threshold'? "
            "(--allow-unknown runs without it)")
    for cmd in ("validate", "run"):
        proc = _cli([cmd, str(ROOT / "cwl/workflows/cdi.cwl"), str(job), "--outdir", str(tmp_path / "out")]
                    if cmd == "run" else [cmd, str(ROOT / "cwl/workflows/cdi.cwl"), str(job)], tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert want in proc.stderr.splitlines(), proc.stderr
        assert "$ " not in proc.stderr  # nothing started
    allowed = _cli(["validate", str(ROOT / "cwl/workflows/cdi.cwl"), str(job), "--allow-unknown"], tmp_path)
    assert allowed.returncode == 0 and "warning: unknown input" in allowed.stderr, allowed.stderr


@pytest.mark.parametrize("runner, passed", [("cwltool", ["--parallel"]),
                                            pytest.param("toil", ["--maxCores", "1"], marks=pytest.mark.toil)])
def test_allow_unknown_runs_and_runner_options_pass_through(ceo2, tmp_path, runner, passed):
    job = _job(tmp_path / "job.json", ceo2, npt_typo=5)
    out = tmp_path / "out"
    proc = _cli(["run", str(TOOL1D), str(job), "--outdir", str(out), "--runner", runner, "--allow-unknown",
                 "--no-provenance", "--", *passed], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "npt_typo: warning: unknown input" in proc.stderr
    command = next(ln for ln in proc.stderr.splitlines() if ln.startswith("$ "))
    argv = command.split()
    assert argv[argv.index(passed[0]): argv.index(passed[0]) + len(passed)] == passed, command
    assert (out / "runner.log").read_text().splitlines()[0] == command  # the log records it too
    with h5py.File(out / "integrated.nxs") as h5:
        assert h5["entry/integrated/I"].shape == (2, 300)


def test_api_refuses_unknown_inputs_unless_allowed(ceo2, tmp_path, monkeypatch):
    from panosc_cwl.api import submit
    from panosc_cwl.validate import ValidationError

    monkeypatch.setenv("PANOSC_CWL_RUNS", str(tmp_path / "runs"))
    job = _job(tmp_path / "job.json", ceo2, nptt=5)
    with pytest.raises(ValidationError):
        submit(TOOL1D, job, outdir=tmp_path / "a", provenance=False).wait(timeout=120)
    run = submit(TOOL1D, job, outdir=tmp_path / "b", provenance=False, allow_unknown=True).wait(timeout=300)
    assert run.status == "success" and (tmp_path / "b" / "integrated.nxs").is_file()
