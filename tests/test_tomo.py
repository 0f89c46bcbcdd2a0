"""Tomography: a simulated NXtomo scan with known truth, nabu's configuration and reconstruction scored
against the phantom, the workflow under cwltool, and both GPU-hinted tools (PyNX, nabu) submitted
through Toil to the project's real SLURM with a GPU request.

nabu-reconstruct.cwl carries no GPU request (cwltool would check a ``cwltool:CUDARequirement`` hint
with ``nvidia-smi`` and refuse it here); cwl/gpu-overrides.yml holds it, given with ``--overrides`` on
SLURM (where the conftest stand-in for nvidia-smi satisfies cwltool's in-job check).
Here (no CUDA, no OpenCL FFT) the tool takes its CPU path: nabu reads the config and data, reduces
darks/flats and estimates the axis; the back-projection is scikit-image's.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from panosc_cwl.tomo import TomoSimulation, score_reconstruction, simulate_tomo

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EDAM = "http://edamontology.org/"  # job Files state the EDAM format their tool input declares
SIZE, SLICES = 256, 4


def _env(extra_path: Path | None = None, base: dict | None = None) -> dict:
    env = dict(base or os.environ)
    path = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if extra_path:
        path = f"{extra_path}{os.pathsep}{path}"
    return {**env, "PATH": path, "MPLBACKEND": "Agg"}


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "panosc-cwl"), *args], capture_output=True, text=True, cwd=cwd, env=_env(),
                          timeout=300)


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    out = tmp_path_factory.mktemp("tomo")
    sim = TomoSimulation(size=SIZE, n_slices=SLICES, n_angles=360, cor_offset=5.0, seed=1)
    return simulate_tomo(out, sim), sim


# ---------------------------------------------------------------- simulation
def test_nxtomo_holds_darks_flats_projections(scan):
    files, sim = scan
    with h5py.File(files.nx) as h5:
        det = h5["entry/instrument/detector"]
        keys = det["image_key_control"][()]
        data = det["data"]
        assert data.shape == (10 + 10 + 360, SLICES, SIZE) and data.dtype == np.uint16
        assert (keys == 2).sum() == 10 and (keys == 1).sum() == 10 and (keys == 0).sum() == 360
        angles = h5["entry/sample/rotation_angle"]
        assert angles.attrs["units"] in ("degree", "deg") and angles[-1] == pytest.approx(359.0)
        darks, flats, proj = data[keys == 2].astype(float), data[keys == 1].astype(float), data[keys == 0]
    # Beer-Lambert: -log of the flat-field-corrected first projection is the phantom's line integral
    from skimage.transform import radon

    phantom = np.load(files.phantom)
    px_cm = sim.pixel_size_um * 1e-4
    trans = (proj[0].astype(float) - darks.mean(0)) / (flats.mean(0) - darks.mean(0))
    measured = -np.log(np.clip(trans[1], 1e-3, None))
    expected = np.roll(radon(phantom[1], theta=[0.0], circle=True)[:, 0] * px_cm, 5)
    assert np.corrcoef(measured, expected)[0, 1] > 0.99
    assert 0.1 < expected.max() < 3  # a realistic transmission range
    truth = json.loads(files.truth.read_text())
    assert truth["true_cor"] == SIZE / 2 + 5.0 and truth["units"] == "1/cm"


# ---------------------------------------------------------------- nabu
def test_nabu_config_has_our_options(scan, tmp_path):
    files, _ = scan
    proc = _cli("tomo", "config", "--dataset", str(files.nx), "--cor-method", "growing-window", "--phase", "paganin",
                "--delta-beta", "250", "--output-format", "tiff", "--end-z", "2", "-o", str(tmp_path / "n.conf"))
    assert proc.returncode == 0, proc.stderr
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(tmp_path / "n.conf")
    assert cp["reconstruction"]["rotation_axis_position"] == "growing-window"
    assert cp["reconstruction"]["method"] == "FBP"  # nabu-config's own default kept
    assert cp["phase"]["method"] == "paganin" and cp["phase"]["delta_beta"] == "250"
    assert cp["output"]["file_format"] == "tiff" and cp["reconstruction"]["end_z"] == "2"
    assert Path(cp["dataset"]["location"]) == files.nx


def test_nabu_finds_the_axis_and_reconstructs_the_phantom(scan, tmp_path):
    files, sim = scan
    conf, rec = tmp_path / "nabu.conf", tmp_path / "rec.h5"
    assert _cli("tomo", "config", "--dataset", str(files.nx), "-o", str(conf)).returncode == 0
    proc = _cli("tomo", "reconstruct", str(conf), "-o", str(rec))
    assert proc.returncode == 0, proc.stderr
    proc = _cli("tomo", "score", str(rec), "--truth", str(files.truth))
    score = json.loads(proc.stdout)
    print(f"nabu CoR {score['cor']:.4f} (true {score['true_cor']}), Pearson r {min(score['pearson_r']):.4f}, "
          f"mean mu ratio {score['mean_mu_ratio']:.3f}")
    assert abs(score["cor"] - sim.true_cor) <= 0.1
    assert len(score["pearson_r"]) == SLICES and min(score["pearson_r"]) >= 0.9
    assert 0.9 < score["mean_mu_ratio"] < 1.1  # attenuation in 1/cm, as nabu's unit
    with h5py.File(rec) as h5:
        assert h5["entry0000/reconstruction/results/data"].shape == (SLICES, SIZE, SIZE)
        assert h5["entry0000/reconstruction/results/data"].attrs["units"] == "1/cm"


def test_tomo_workflow_under_stock_cwltool_without_gpu(tmp_path):
    """Stock cwltool, no nvidia-smi: the tool files carry no GPU request, so the CPU path runs."""
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"size": SIZE, "slices": 2, "angles": 360, "cor_offset": -3.0}))
    proc = subprocess.run([str(BIN / "cwltool"), "--enable-ext", "--outdir", str(tmp_path / "out"),
                           str(ROOT / "cwl/workflows/tomo.cwl"), str(job)], capture_output=True, text=True,
                          env=_env(), timeout=400)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout)
    score = json.loads(Path(out["score"]["path"]).read_text())
    assert abs(score["cor"] - (SIZE / 2 - 3.0)) <= 0.1 and min(score["pearson_r"]) >= 0.9
    assert Path(out["plot"]["path"]).read_bytes()[:4] == b"\x89PNG"
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(out["config"]["path"])
    assert cp["reconstruction"]["rotation_axis_position"] == "sliding-window"


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("args, field", [
    (["tomo", "simulate", "--size", "33"], "size"),
    (["tomo", "simulate", "--angular-range", "90"], "angular_range"),
    (["tomo", "config", "--dataset", "NX", "--cor-method", "guess", "-o", "c.conf"], "cor_method"),
    (["tomo", "config", "--dataset", "NX", "--phase", "magic", "-o", "c.conf"], "phase"),
    (["tomo", "config", "--dataset", "missing.nx", "-o", "c.conf"], "dataset"),
    (["tomo", "reconstruct", "missing.conf", "-o", "r.h5"], "config"),
    (["tomo", "reconstruct", "CONF", "--backend", "quantum", "-o", "r.h5"], "backend"),
])
def test_bad_input_is_one_line(tmp_path, scan, args, field):
    files, _ = scan
    (tmp_path / "x.conf").write_text("[dataset]\nlocation = x\n")
    args = [str(files.nx) if a == "NX" else str(tmp_path / "x.conf") if a == "CONF" else a for a in args]
    proc = _cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"panosc-cwl: error: {field}:"), proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- GPU-hinted tools on SLURM
@pytest.mark.slurm
@pytest.mark.toil
@pytest.mark.xdist_group("slurm")
def test_gpu_hinted_tools_are_submitted_with_a_gpu_request(scan, tmp_path, slurm_env, fake_nvidia_smi, slurm_jobs):
    """nabu-reconstruct and pynx-cdi through ``toil-cwl-runner --batchSystem slurm``: one SLURM job each,
    with ``TresPerNode=gres:gpu:1``, completed, with results that still hold the science."""
    from panosc_cwl.cdi import cdi_error, read_reconstruction, read_truth, simulate_cdi, write_cxi

    files, sim = scan
    conf = tmp_path / "nabu.conf"
    assert _cli("tomo", "config", "--dataset", str(files.nx), "-o", str(conf)).returncode == 0
    runs = {"nabu": (ROOT / "cwl/tools/nabu-reconstruct.cwl",
                     {"config": {"class": "File", "path": str(conf), "format": EDAM + "format_2330"},
                      "dataset": {"class": "File", "path": str(files.nx), "format": EDAM + "format_3590"}})}
    pynx = shutil.which("pynx-cdi-id01", path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if pynx:
        cxi = write_cxi(tmp_path / "obj.cxi", simulate_cdi((128, 128), photons=1e9, seed=0))
        runs["pynx"] = (ROOT / "cwl/tools/pynx-cdi.cwl",
                        {"data": {"class": "File", "path": str(cxi), "format": EDAM + "format_3590"}, "roi": [0, 128, 0, 128], "nb_run": 4,
                         "processing_unit": "cpu"})
    env = _env(fake_nvidia_smi, base=slurm_env)
    procs = {}
    for name, (tool, job) in runs.items():
        work = tmp_path / name
        work.mkdir()
        (work / "job.json").write_text(json.dumps(job))
        procs[name] = subprocess.Popen(
            [str(BIN / "toil-cwl-runner"), "--batchSystem", "slurm", "--jobStore", str(work / "jobstore"),
             "--overrides", str(ROOT / "cwl/gpu-overrides.yml"),  # the GPU requests, as the file documents
             "--outdir", str(work / "out"), "--retryCount", "1", str(tool), str(work / "job.json")],
            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, f"{name}: {err[-3000:]}"
        outputs[name] = json.loads(out)
        jobs = slurm_jobs(tmp_path / name)
        assert jobs, f"{name}: no SLURM job recorded from {tmp_path / name}"
        done = [j for j in jobs if j["JobState"] == "COMPLETED"]
        assert done and all(j.get("TresPerNode") == "gres:gpu:1" for j in done), [(j["JobName"], j.get(
            "TresPerNode")) for j in jobs]
    score = score_reconstruction(outputs["nabu"]["volume"]["path"], files.truth)
    assert abs(score.cor - sim.true_cor) <= 0.1 and min(score.pearson_r) >= 0.9
    if "pynx" in outputs:
        rec = read_reconstruction(outputs["pynx"]["reconstructions"][0]["path"])
        assert cdi_error(rec, read_truth(tmp_path / "obj.cxi")).error < 0.02
    else:
        pytest.skip("nabu-reconstruct passed; PyNX not installed (run .ci/install-pynx) so pynx-cdi was not submitted")


# ---------------------------------------------------------------- nabu's master file (the GPU path's output)
def _nabu_like_master(folder: Path) -> np.ndarray:
    """A file laid out as nabu writes one (seen on an H200, nabu 2026.1 with cupy): rec.hdf5 holds a
    histogram of the volume at entry/histogram/results/data and the volume itself as a virtual
    dataset over the chunk file rec/rec_00000.hdf5, named relative to the master's folder."""
    vol = np.random.default_rng(0).random((4, 8, 8), dtype=np.float32)
    (folder / "rec").mkdir(parents=True)
    with h5py.File(folder / "rec/rec_00000.hdf5", "w") as h5:
        h5["entry/reconstruction/results/data"] = vol
    layout = h5py.VirtualLayout(shape=vol.shape, dtype=vol.dtype)
    layout[:] = h5py.VirtualSource("rec/rec_00000.hdf5", "entry/reconstruction/results/data", shape=vol.shape)
    with h5py.File(folder / "rec.hdf5", "w") as h5:
        h5["entry/histogram/results/data"] = np.ones((2, 100), dtype=np.float32)
        h5.create_virtual_dataset("entry/reconstruction/results/data", layout).attrs["units"] = "1/cm"
        h5["entry/reconstruction/configuration/nabu_config/reconstruction/rotation_axis_position"] = "3.5"
    return vol


def test_nabu_master_file_copied_self_contained(tmp_path, monkeypatch):
    from panosc_cwl import tomo
    from panosc_cwl.tomo import read_cor, read_volume, self_contained_copy

    vol = _nabu_like_master(tmp_path / "work")
    monkeypatch.setattr(tomo, "COPY_SLAB_BYTES", 3 * 8 * 8 * 4)  # 3 slices a slab: 4 slices in 2 slabs
    monkeypatch.chdir(tmp_path)  # nothing relative to the cwd
    (tmp_path / "out").mkdir()
    shutil.copyfile(tmp_path / "work/rec.hdf5", tmp_path / "out/plain-copy.h5")  # what reconstruct did before
    self_contained_copy(tmp_path / "work/rec.hdf5", tmp_path / "out/rec.h5")
    shutil.rmtree(tmp_path / "work")  # a CWL runner keeps only the output file
    with h5py.File(tmp_path / "out/plain-copy.h5") as h5:  # HDF5 fills a lost source with zeros, silently
        assert not h5["entry/reconstruction/results/data"][()].any()
    with h5py.File(tmp_path / "out/rec.h5") as h5:
        data = h5["entry/reconstruction/results/data"]
        assert not data.is_virtual and data.attrs["units"] == "1/cm"
    np.testing.assert_array_equal(read_volume(tmp_path / "out/rec.h5"), vol)  # the volume, not the histogram
    assert read_cor(tmp_path / "out/rec.h5") == 3.5
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["plain-copy.h5", "rec.h5"]  # no temp left


def test_nabu_master_file_with_a_missing_chunk_is_refused(tmp_path):
    from panosc_cwl.exceptions import InputError
    from panosc_cwl.tomo import self_contained_copy

    _nabu_like_master(tmp_path / "work")
    (tmp_path / "work/rec/rec_00000.hdf5").unlink()
    with pytest.raises(InputError) as err:
        self_contained_copy(tmp_path / "work/rec.hdf5", tmp_path / "rec.h5")
    assert err.value.field == "reconstruction" and "rec/rec_00000.hdf5" in str(err.value)
    assert not (tmp_path / "rec.h5").exists() and [p.name for p in tmp_path.iterdir()] == ["work"]
