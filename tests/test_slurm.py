"""Toil on the project's real single-node SLURM (.ci/slurm-up): same science as cwltool, GPU requests that
reach slurmctld, a cancelled job retried, a scatter run as separate jobs.

Nothing is mocked on the scheduler side: ``toil-cwl-runner --batchSystem slurm`` submits with the real
``sbatch`` to the real slurmctld, and the tests read SLURM's own record (``scontrol show job``).
Only cwltool's in-job ``nvidia-smi`` check is stood in for (the CI machine has no GPU).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from ruamel.yaml import YAML

from panosc_cwl.powder import expected_positions, peak_offsets
from panosc_cwl.simulate import PowderSimulation, simulate_powder

pytestmark = [pytest.mark.slurm, pytest.mark.toil, pytest.mark.xdist_group("slurm")]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POWDER = ROOT / "cwl/workflows/powder-xrd.cwl"
SCATTER = ROOT / "cwl/workflows/powder-xrd-scatter.cwl"
GPU_TOOL = ROOT / "cwl/tools/pyfai-integrate1d-gpu.cwl"
N_FRAMES = 8
CHUNKS = ["0:3", "3:6", "6:8"]


# ---------------------------------------------------------------- helpers
def _nxs(path: Path, name: str = "entry/integrated/I") -> np.ndarray:
    with h5py.File(path) as h5:
        return h5[name][()]


def _run_cli(args: list[str], cwd: Path, env: dict) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([str(BIN / "panosc-cwl"), "run", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"run did not finish in {timeout} s:\n{err[-3000:]}")
    assert proc.returncode == 0, err[-4000:]
    return out, err


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """Simulated CeO2 frames and job files for the powder and the scattered powder workflow."""
    base = tmp_path_factory.mktemp("slurm-data")
    sim = simulate_powder(base / "data", PowderSimulation(calibrant="CeO2", n_frames=N_FRAMES, seed=5))
    yaml = YAML(typ="safe")
    doc = yaml.load((ROOT / "jobs/powder-xrd-ceo2.yml").read_text())
    doc["frames"] = [{"class": "File", "path": str(sim.stack), "format": "http://edamontology.org/format_3590"}]
    doc["poni"] = {"class": "File", "path": str(sim.poni), "format": "http://edamontology.org/format_2330"}
    jobs = {}
    for name, extra in (("powder", {}), ("scatter", {"frame_ranges": CHUNKS})):
        path = base / f"{name}.yml"
        with open(path, "w") as fh:
            yaml.dump({**doc, **extra}, fh)
        jobs[name] = path
    gpu = {k: doc[k] for k in ("frames", "dataset", "poni", "npt", "unit")}
    jobs["gpu"] = base / "gpu.yml"
    with open(jobs["gpu"], "w") as fh:
        yaml.dump(gpu, fh)
    return jobs


@pytest.fixture(scope="session")
def cwltool_out(data, tmp_path_factory):
    """The reference: the powder workflow under plain cwltool on this machine."""
    out = tmp_path_factory.mktemp("cwltool-ref")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(BIN / "cwltool"), "--outdir", str(out), str(POWDER), str(data["powder"])],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def slurm_powder(data, slurm_env, tmp_path_factory, slurm_jobs):
    """The powder workflow through ``panosc-cwl run --profile ci-local`` (Toil on SLURM).

    While it runs, the integration step's SLURM job is cancelled with ``scancel`` as soon as it
    is RUNNING; the profile's retry count (2) must bring the workflow to success anyway.
    """
    work = tmp_path_factory.mktemp("slurm-powder")
    out = work / "out"
    t0 = time.monotonic()
    proc = _run_cli([str(POWDER), str(data["powder"]), "--profile", "ci-local", "--outdir", str(out)], work, slurm_env)
    cancelled = None
    while cancelled is None and proc.poll() is None and time.monotonic() - t0 < 240:
        for job in slurm_jobs(work):
            if "integrate" in job["JobName"] and job["JobState"] == "RUNNING":
                subprocess.run(["scancel", job["JobId"]], env=slurm_env, check=True, timeout=30)
                cancelled = job["JobId"]
                break
        time.sleep(0.2)
    stdout, stderr = _finish(proc)
    return {"out": out, "work": work, "cancelled": cancelled, "stdout": stdout, "stderr": stderr,
            "wall_s": time.monotonic() - t0}


# ---------------------------------------------------------------- tests
def test_powder_on_slurm_equals_cwltool(slurm_powder, cwltool_out):
    out = slurm_powder["out"]
    for name in ("entry/integrated/I", "entry/integrated/I_errors", "entry/integrated/radial_axis"):
        ref, got = _nxs(cwltool_out / "integrated.nxs", name), _nxs(out / "integrated.nxs", name)
        assert got.shape == ref.shape and np.allclose(got, ref, rtol=1e-12, atol=0), name
    assert _nxs(out / "integrated.nxs").shape[0] == N_FRAMES
    assert np.allclose(_nxs(out / "reduced.nxs", "entry/mean/I"), _nxs(cwltool_out / "reduced.nxs", "entry/mean/I"))
    # and the science holds: every CeO2 reflection in range is where the calibrant puts it
    with h5py.File(out / "reduced.nxs") as h5:
        radial, mean = h5["entry/mean/two_theta"][()], h5["entry/mean/I"][()]
        wavelength = h5["entry/instrument/monochromator/wavelength"][()] * 1e-10
    positions, offsets = peak_offsets(radial, mean, expected_positions("CeO2", wavelength, "2th_deg"))
    assert len(positions) >= 8 and np.abs(offsets).max() <= 2
    assert (out / "pattern.png").read_bytes()[:4] == b"\x89PNG"


def test_printed_command_is_pasteable(slurm_powder, slurm_env):
    first = slurm_powder["stderr"].splitlines()[0]
    assert first.startswith("$ ")
    assert f"PATH={BIN}:$PATH" in first and "TOIL_SLURM_ARGS=--nice=0" in first
    assert f"SLURM_CONF={slurm_env['SLURM_CONF']}" in first
    assert "toil-cwl-runner --batchSystem slurm" in first and "--retryCount 2" in first
    assert "--slurmPartition main" in first


def test_each_step_is_a_slurm_job_without_gpu(slurm_powder, slurm_env, slurm_jobs):
    jobs = slurm_jobs(slurm_powder["work"])
    steps = {j["JobName"].split(".")[1] for j in jobs if j["JobState"] == "COMPLETED"}
    assert {"integrate", "reduce", "plot_pattern"} <= steps, [j["JobName"] for j in jobs]
    for job in jobs:
        assert "gpu" not in job.get("TresPerNode", "(null)"), job["JobName"]
        assert job["Partition"] == "main"


def test_cancelled_job_is_retried(slurm_powder, slurm_env, slurm_jobs):
    assert slurm_powder["cancelled"], "the integration job was never seen RUNNING, so nothing was cancelled"
    jobs = {j["JobId"]: j for j in slurm_jobs(slurm_powder["work"])}
    assert jobs[slurm_powder["cancelled"]]["JobState"] == "CANCELLED"
    retries = [j for j in jobs.values() if "integrate" in j["JobName"] and j["JobState"] == "COMPLETED"
               and int(j["JobId"]) > int(slurm_powder["cancelled"])]
    assert len(retries) == 1
    # the provenance bundle records the attempt that made the data, not the cancelled one
    from panosc_cwl.provenance import load_run

    integrate = next(s for s in load_run(slurm_powder["out"] / "provenance").steps if s.name == "integrate")
    assert integrate.slurm_job_ids == [retries[0]["JobId"]]


def test_gpu_hint_becomes_gres_request(data, slurm_env, fake_nvidia_smi, cwltool_out, tmp_path, slurm_jobs):
    env = {**slurm_env, "PATH": f"{fake_nvidia_smi}{os.pathsep}{slurm_env['PATH']}"}
    work = tmp_path / "gpu"
    proc = _run_cli([str(GPU_TOOL), str(data["gpu"]), "--profile", "ci-local", "--outdir", str(work / "out")],
                    work, env)
    _finish(proc)
    jobs = slurm_jobs(work)
    assert len(jobs) == 1, [j["JobName"] for j in jobs]
    assert jobs[0]["TresPerNode"] == "gres:gpu:1" and jobs[0]["JobState"] == "COMPLETED"
    # opencl falls back to the same CSR engine on a GPU-less node: numbers equal the CPU run
    assert np.allclose(_nxs(work / "out/integrated.nxs"), _nxs(cwltool_out / "integrated.nxs"), rtol=1e-6)


def test_scatter_chunks_run_as_separate_jobs(data, slurm_env, cwltool_out, tmp_path, slurm_jobs):
    work = tmp_path / "scatter"
    proc = _run_cli([str(SCATTER), str(data["scatter"]), "--profile", "ci-local", "--outdir", str(work / "out")],
                    work, slurm_env)
    _finish(proc)
    names = [j["JobName"] for j in slurm_jobs(work) if j["JobState"] == "COMPLETED"]
    assert sum(n.endswith("pyfai-integrate1d-chunk") for n in names) == len(CHUNKS), names
    assert sum(".merge." in n for n in names) == 1, names
    out = work / "out"
    ref = cwltool_out / "integrated.nxs"
    for name in ("entry/integrated/I", "entry/integrated/I_errors", "entry/integrated/frame_index"):
        assert np.array_equal(_nxs(out / "integrated.nxs", name), _nxs(ref, name)), name
    assert np.allclose(_nxs(out / "reduced.nxs", "entry/mean/I"), _nxs(cwltool_out / "reduced.nxs", "entry/mean/I"))


def test_calibration_scattered_over_16_modules_as_slurm_jobs(slurm_env, tmp_path, slurm_jobs):
    """Issue 4: the detector-calibration workflow over 16 modules, one SLURM job per module and step."""
    from panosc_cwl.detector import read_constants, read_truth

    work = tmp_path / "cal16"
    work.mkdir()
    job = work / "job.yml"
    job.write_text("modules: 16\nmodule_shape: [16, 16]\nn_darks: 20\nseed: 1\n")
    out = work / "out"
    proc = _run_cli([str(ROOT / "cwl/workflows/detector-calibration-simulated.cwl"), str(job), "--profile", "ci-local",
                     "--outdir", str(out)], work, slurm_env)
    _finish(proc, timeout=420)
    names = [j["JobName"] for j in slurm_jobs(work) if j["JobState"] == "COMPLETED"]
    assert sum(n.endswith(".nb-dark-calibration") for n in names) == 16, names
    assert sum(n.endswith(".nb-correct") for n in names) == 16, names
    # every module's own job recovered its own detector: offsets within 6 standard errors of the truth
    found = n_bad = 0
    for m in range(16):
        consts = read_constants(out / f"darks_m{m:02d}-constants.nxs")
        truth = read_truth(out / f"truth_m{m:02d}.h5")
        good = truth.bad == 0
        z = np.abs(consts.offset - truth.pedestal)[good] / (truth.noise[good] / np.sqrt(20) + 0.3)
        assert z.max() < 6, (m, z.max())
        true_bad = truth.bad != 0
        found += int((consts.bad_pixels[true_bad] != 0).sum())
        n_bad += int(true_bad.sum())
    assert n_bad > 0 and found / n_bad >= 0.95, (found, n_bad)  # bad pixels over all modules
