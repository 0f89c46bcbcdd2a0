"""European XFEL AGIPD-1M: mock run -> virtual CXI -> per-module files -> detector-calibration notebooks
-> stacked modules -> assemble -> pyFAI, under cwltool and Toil.

The rings are written into the raw module data at known 2θ through extra-geom's pixel positions;
they must come out of pyFAI within 0.05 deg after the whole chain, and the offsets of the
dark-calibration notebooks must recover the mock's per-pixel pedestal.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from ruamel.yaml import YAML

from panosc_cwl import euxfel
from panosc_cwl.exceptions import InputError
from panosc_cwl.powder import read_integrated

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "cwl/workflows/euxfel-agipd.cwl"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
TOLERANCE_DEG = 0.05


@pytest.fixture(scope="module")
def mock(tmp_path_factory):
    base = tmp_path_factory.mktemp("euxfel")
    run = base / "exp/SPB/202501/p002222/raw/r0238"
    truth = euxfel.make_mock_run(run, geometry_out=base / "agipd.geom")
    return {"base": base, "run": run, "geometry": base / "agipd.geom", "truth": truth}


@pytest.fixture(scope="module")
def job(mock):
    yaml = YAML(typ="safe")
    doc = yaml.load((ROOT / "jobs/euxfel-agipd.yml").read_text())
    doc["run"] = {"class": "Directory", "path": str(mock["run"])}
    doc["geometry"] = {"class": "File", "path": str(mock["geometry"]), "format": "http://edamontology.org/format_2330"}
    t = mock["truth"]
    assert doc["frames"] == t.signal_selection and doc["dark_frames"] == t.dark_selection
    assert doc["distance_mm"] == pytest.approx(t.distance * 1e3)
    path = mock["base"] / "job.yml"
    with open(path, "w") as fh:
        yaml.dump(doc, fh)
    return path


def _check_outputs(outdir: Path, mock) -> list[float]:
    truth = mock["truth"]
    stack = read_integrated(outdir / "integrated.nxs")
    assert stack.radial_name == "two_theta" and stack.radial_units == "deg"
    intensity, two_theta = stack.intensity, stack.radial
    assert intensity.shape == (truth.signal_frames, 1000)
    found = euxfel.peak_positions(two_theta, intensity.mean(axis=0), truth.rings_deg)
    for want, got in zip(truth.rings_deg, found):
        assert abs(got - want) < TOLERANCE_DEG, (truth.rings_deg, found)
    # every single frame too (Poisson noise differs frame to frame)
    for frame in intensity:
        assert np.allclose(euxfel.peak_positions(two_theta, frame, truth.rings_deg), truth.rings_deg, atol=TOLERANCE_DEG)
    _check_notebook_constants(outdir, truth)
    with h5py.File(outdir / "assembled.h5") as h5:
        assembled = h5["entry/data/data"]
        assert assembled.shape == (truth.signal_frames, 1256, 1092)
        img = assembled[0]
    gaps = np.isnan(img)
    assert 0.1 < gaps.mean() < 0.5 and np.nanmedian(img) > truth.background / 2
    assert "No problems found" in (outdir / "validation.txt").read_text()
    # the exported geometry loads in pyFAI (pixel corners) and in extra-geom (CrystFEL)
    import pyFAI

    det = pyFAI.detector_factory("NexusDetector", {"filename": str(outdir / "agipd-pyfai-detector.h5")})
    assert det.shape == (16 * 512, 128)
    geom = euxfel.load_geometry(outdir / "agipd.geom")
    assert np.allclose(geom.get_pixel_positions(), euxfel.load_geometry(mock["geometry"]).get_pixel_positions(),
                       atol=1e-6)
    return found


def _check_notebook_constants(outdir: Path, truth) -> None:
    """The constants come from the detector-calibration notebooks, one module each, and recover the pedestal."""
    from panosc_cwl import detector

    consts = [detector.read_constants(outdir / f"darks_m{m:02d}-constants.nxs") for m in range(16)]
    assert [c.module for c in consts] == list(range(16)) and {c.n_darks for c in consts} == {truth.dark_frames}
    with h5py.File(outdir / "darks_m15-constants.nxs") as h5:
        assert h5["entry/calibration/program"][()].decode() == "panosc-cwl dark calibration"
        assert h5["entry/calibration/source"][()].decode() == "darks_m15.h5"
    for m in (0, 15):  # the executed notebooks' reports (papermill + nbconvert)
        html = (outdir / f"darks_m{m:02d}-calibration.html").read_text()
        assert f"{truth.dark_frames} dark frames of 512 x 128 pixels, module {m}" in html
        assert f"frames of module {m} corrected" in (outdir / f"data_m{m:02d}-correction.html").read_text()
    offset = np.stack([c.offset for c in consts])
    bad = np.stack([c.bad_pixels for c in consts]) != 0
    # the mock's pedestal (its first random draw), recovered by the mean of the darks: sigma 3/sqrt(8) ADU
    pedestal = truth.pedestal + 200.0 * np.random.default_rng(truth.seed).random(offset.shape)
    diff = (offset - pedestal)[~bad]
    assert abs(np.median(diff)) < 0.1
    assert np.std(diff) == pytest.approx(truth.read_noise / np.sqrt(truth.dark_frames), rel=0.1)
    assert np.median(np.stack([c.noise for c in consts])) == pytest.approx(truth.read_noise, rel=0.2)
    assert bad.mean() < 1e-3  # a few pixels with an unluckily low noise over 8 darks, no more


# The cwltool run of the example job (cwltool --parallel, through `panosc-cwl run` exactly as
# jobs/euxfel-agipd.yml says) is in tests/test_examples_as_documented.py, checked with _check_outputs
# and check_virtual_cxi_and_stack below; this file runs the same chain under Toil.


def check_virtual_cxi_and_stack(out: Path, run_dir: Path, stack_file: Path) -> None:
    """The workflow's virtual CXI exposes all modules as one array; the stack-modules job restacks them."""
    with euxfel.VirtualCXI(out / "detector_virt.cxi", run_dir) as v:
        assert v.data.is_virtual and v.data.shape == (64 * 64, 16, 2, 512, 128)
        frame = v.frame(0)
    for m in (0, 7, 15):
        with h5py.File(run_dir / f"RAW-R0238-AGIPD{m:02d}-S00000.h5") as h5:
            raw = h5[f"INSTRUMENT/SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf/image/data"][0, 0]
        assert np.array_equal(frame[m], raw)
    with h5py.File(stack_file) as h5:
        stack = h5["entry/data/data"][()]
    for m in (0, 9):
        with h5py.File(out / f"data_m{m:02d}-corrected.h5") as h5:
            assert np.array_equal(stack[:, m], h5["entry/data/data"][()], equal_nan=True)


@pytest.mark.toil
def test_toil_workflow(job, mock, tmp_path):
    out = tmp_path / "out"
    cmd = [str(BIN / "toil-cwl-runner"), "--batchSystem", "single_machine", "--jobStore", str(tmp_path / "js"),
           "--outdir", str(out), str(WORKFLOW), str(job)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    print("toil rings:", _check_outputs(out, mock))


def test_virtual_cxi_follows_a_moved_run(mock, tmp_path):
    """A runner stages the run elsewhere: the CXI file is read through the run folder given, by file name."""
    staged = tmp_path / "staged"
    shutil.copytree(mock["run"], staged)
    cxi = tmp_path / "v.cxi"
    subprocess.run([str(BIN / "extra-data-make-virtual-cxi"), str(staged), "-o", str(cxi)], check=True,
                   capture_output=True, env=ENV)
    moved = tmp_path / "moved"
    staged.rename(moved)
    with pytest.raises(InputError, match="not found"):
        euxfel.VirtualCXI(cxi)
    with euxfel.VirtualCXI(cxi, moved) as v:
        signal = v.frame(0)
        assert v.frame(1000).max() == 0  # frames never filled stay zeros
    assert signal.min() >= 5000  # pedestal + rings, not fill values


def test_split_modules_job_and_stack_roundtrip(mock, tmp_path):
    """agipd-split-modules' example job writes what detector.read_frames reads; stacking puts modules back by index."""
    from panosc_cwl import detector

    layout = tmp_path / "layout"
    shutil.copytree(ROOT / "jobs", layout / "jobs")
    (layout / "data/euxfel/raw").mkdir(parents=True)
    (layout / "data/euxfel/raw/r0238").symlink_to(mock["run"])
    subprocess.run([str(BIN / "extra-data-make-virtual-cxi"), str(mock["run"]), "-o",
                    str(layout / "data/euxfel/detector_virt.cxi")], check=True, capture_output=True, env=ENV)
    proc = subprocess.run([str(BIN / "cwltool"), "--outdir", str(tmp_path / "modules"),
                           str(ROOT / "cwl/tools/agipd-split-modules.cwl"),
                           str(layout / "jobs/agipd-split-modules-r0238.yml")],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = json.loads(proc.stdout)
    darks = [Path(f["path"]) for f in outputs["darks"]]
    data = [Path(f["path"]) for f in outputs["data"]]
    assert [p.name for p in darks] == [f"darks_m{m:02d}.h5" for m in range(16)] and len(data) == 16
    t = mock["truth"]
    for m in (0, 5, 15):
        frames, module = detector.read_frames(darks[m])
        with h5py.File(mock["run"] / f"RAW-R0238-AGIPD{m:02d}-S00000.h5") as h5:
            raw = h5[f"INSTRUMENT/SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf/image/data"]
            assert module == m and np.array_equal(frames, raw[64:64 + t.dark_frames, 0])
            assert np.array_equal(detector.read_frames(data[m])[0], raw[:t.signal_frames, 0])
    stacked = euxfel.stack_modules(data[::-1], tmp_path / "stack.h5")  # any order: placed by module index
    with h5py.File(stacked) as h5, h5py.File(mock["run"] / "RAW-R0238-AGIPD07-S00000.h5") as raw:
        assert h5["entry/data/data"].shape == (t.signal_frames, 16, 512, 128)
        assert np.array_equal(h5["entry/data/data"][:, 7],
                              raw["INSTRUMENT/SPB_DET_AGIPD1M-1/DET/7CH0:xtdf/image/data"][:t.signal_frames, 0])
    with pytest.raises(InputError, match="module 3 is duplicated"):
        euxfel.stack_modules(data[:15] + [data[3]], tmp_path / "dup.h5")


def test_offsets_recover_the_pedestal(mock, tmp_path):
    cxi = tmp_path / "v.cxi"
    subprocess.run([str(BIN / "extra-data-make-virtual-cxi"), str(mock["run"]), "-o", str(cxi)], check=True,
                   capture_output=True, env=ENV)
    t = mock["truth"]
    consts = euxfel.dark_constants(cxi, mock["run"], t.dark_selection)
    assert np.median(consts["noise"]) == pytest.approx(t.read_noise, rel=0.2)
    # corrected background pixels (far from rings) sit at the simulated background
    euxfel.correct(cxi, mock["run"], euxfel.write_constants(consts, tmp_path / "c.nxs"), "0:2", tmp_path / "corr.h5")
    tth = euxfel.two_theta_deg(euxfel.load_geometry(mock["geometry"]), t.distance)
    with h5py.File(tmp_path / "corr.h5") as h5:
        corr = h5["entry/data/data"][0]
    far = np.min(np.abs(tth[..., None] - np.array(t.rings_deg)), axis=-1) > 1.0
    assert np.nanmean(corr[far]) == pytest.approx(t.background, rel=0.02)


@pytest.mark.parametrize("argv, field", [
    (["euxfel", "correct", "--cxi", "{cxi}", "--frames", "0:99999", "--constants", "{c}", "-o", "{o}"], "frames"),
    (["euxfel", "correct", "--cxi", "{cxi}", "--frames", "a:b", "--constants", "{c}", "-o", "{o}"], "frames"),
    (["euxfel", "assemble", "--quad-positions", "1,2 3", "--corrected", "{c}", "-o", "{o}"], "quad_positions"),
    (["euxfel", "dark", "--cxi", "{c}", "--frames", "0:2", "-o", "{o}"], "cxi"),
    (["euxfel", "geometry", "--distance", "-1", "--wavelength", "1", "-o", "{d}"], "distance"),
    (["euxfel", "stack-modules", "--corrected", "{c}", "-o", "{o}"], "corrected"),
    (["euxfel", "split", "--cxi", "{cxi}", "--dark-frames", "0:2", "--frames", "0:9", "-o", "{d}"], "frames"),
])
def test_bad_input_is_one_line(argv, field, tmp_path):
    cxi = tmp_path / "v.cxi"
    with h5py.File(cxi, "w") as h5:
        h5.create_dataset(euxfel.CXI_DATA, data=np.zeros((3, 16, 2, 4, 4), np.uint16))
    c = tmp_path / "c.h5"
    c.write_bytes(b"not hdf5")
    args = [a.format(cxi=cxi, c=c, o=tmp_path / "o.h5", d=tmp_path) for a in argv]
    proc = subprocess.run([str(BIN / "panosc-cwl"), *args], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"panosc-cwl: error: {field}:"), proc.stderr
