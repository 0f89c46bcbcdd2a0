"""Detector data as beamlines write it: an Eiger 4M NXmx series (external links, bitshuffle-LZ4, flagged
gaps), a Bliss scan (virtual dataset over 4 LImA chunk files), a LImA EDF series; pyFAI-integrate's JSON.

Every result is compared with pyFAI run by hand on the plain frames the generator started from, and
checked against the calibrant's reflections; the CWL tool is run under cwltool, Toil with inputs
copied (``--symlinkImports False``) and Toil on the project's SLURM.
"""

from __future__ import annotations

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

from panosc_cwl.facility_formats import write_bliss, write_edf_series, write_eiger
from panosc_cwl.frames import find_frame_datasets, linked_files
from panosc_cwl.integrate import IntegrationSettings, integrate_stack
from panosc_cwl.powder import expected_positions, peak_offsets, read_pattern
from panosc_cwl.simulate import PowderSimulation

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
EDAM = "http://edamontology.org/"  # jobs handed to cwltool/Toil directly state their Files' formats
TOOL1D = ROOT / "cwl/tools/pyfai-integrate1d.cwl"
NPT = 2000
CSR = ("bbox", "csr", "cython")
FORMATS = ["eiger", "bliss", "edf"]


def by_hand(poni: Path, frames: np.ndarray, npt: int = NPT, **kw) -> np.ndarray:
    """pyFAI itself on the plain frames (int32, -1 in gaps): the reference every route must reproduce."""
    import pyFAI

    ai = pyFAI.load(str(poni))
    opts = dict(unit="2th_deg", method=CSR, dummy=-1, delta_dummy=0.5, error_model="poisson")
    opts.update(kw)
    return np.array([ai.integrate1d(f, npt, **opts).intensity for f in frames])


def assert_reflections(radial: np.ndarray, intensity: np.ndarray, calibrant: str, wavelength: float) -> None:
    positions, offsets = peak_offsets(radial, intensity.mean(axis=0), expected_positions(calibrant, wavelength, "2th_deg"))
    assert len(positions) >= 6, f"too few {calibrant} reflections in range: {positions}"
    assert np.all(np.isfinite(offsets)) and np.abs(offsets).max() <= 2, dict(zip(positions, offsets))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("facility")
    return {
        "eiger": write_eiger(base / "eiger", PowderSimulation(detector="Eiger4M", n_frames=3, seed=3, name="ceo2"),
                             n_files=3, compression="bslz4"),
        "bliss": write_bliss(base / "bliss", PowderSimulation(detector="Eiger1M", n_frames=4, seed=4, name="ceo2", wavelength=0.6e-10),
                             n_chunks=4),
        "edf": write_edf_series(base / "edf", PowderSimulation(detector="Pilatus1M", n_frames=4, seed=5, name="ceo2"),
                                frames_per_file=2),
    }


@pytest.fixture(scope="module")
def reference(data) -> dict:
    return {k: by_hand(d.poni, d.frames) for k, d in data.items()}


# ---------------------------------------------------------------- the files are laid out as at the facility
def test_eiger_series_is_laid_out_as_dectris_writes_it(data):
    import hdf5plugin
    import pyFAI.detectors

    d = data["eiger"]
    assert [p.name for p in d.files] == ["ceo2_master.h5", "ceo2_data_000001.h5", "ceo2_data_000002.h5",
                                         "ceo2_data_000003.h5"]
    with h5py.File(d.main) as h5:
        links = {n: h5["entry/data"].get(n, getlink=True) for n in h5["entry/data"]}
        assert {n: (type(v).__name__, v.filename, v.path) for n, v in links.items()} == {
            f"data_{i:06d}": ("ExternalLink", f"ceo2_data_{i:06d}.h5", "/entry/data/data") for i in (1, 2, 3)}
        det = h5["entry/instrument/detector"]
        assert det["detector_distance"].attrs["units"] == "m" and det["x_pixel_size"][()] == pytest.approx(75e-6)
        pixel_mask = det["detectorSpecific/pixel_mask"][()]
        assert h5["entry/instrument/beam/incident_wavelength"].attrs["units"] == "angstrom"
    gaps = pyFAI.detectors.detector_factory("Eiger4M").mask.astype(bool)
    assert pixel_mask.shape == (2167, 2070) and np.array_equal(pixel_mask & 1 != 0, gaps)
    with h5py.File(d.files[2]) as h5:
        ds = h5["entry/data/data"]
        assert ds.dtype == np.uint32 and ds.shape == (1, 2167, 2070) and ds.chunks == (1, 2167, 2070)
        plist = ds.id.get_create_plist()
        filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        assert filters == [hdf5plugin.BSHUF_ID] and plist.get_filter(0)[2][-1] == 2  # bitshuffle + LZ4
        frame = ds[0]
        assert ds.attrs["image_nr_low"] == 2 and ds.attrs["image_nr_high"] == 2
    assert np.all(frame[pixel_mask != 0] == 0xFFFFFFFF)  # gaps and dead pixels flagged with the type's maximum
    assert np.array_equal(frame[pixel_mask == 0], d.frames[1][pixel_mask == 0])
    assert (d.frames[1][pixel_mask != 0] == -1).all()


def test_bliss_scan_is_a_vds_over_four_lima_files(data):
    d = data["bliss"]
    with h5py.File(d.main) as h5:
        ds = h5["1.1/instrument/eiger/data"]
        assert ds.is_virtual and ds.shape[0] == 4
        sources = [(s.file_name, s.dset_name) for s in ds.virtual_sources()]
        assert h5["1.1/measurement"].get("eiger", getlink=True).path == "/1.1/instrument/eiger/data"
        assert find_frame_datasets(h5) == ["/1.1/instrument/eiger/data"]
    assert sources == [(f"scan0001/eiger_{i:04d}.h5", "/entry_0000/instrument/eiger/data") for i in range(4)]
    assert [lf.file.name for lf in linked_files(d.main)] == [f"eiger_{i:04d}.h5" for i in range(4)]
    with h5py.File(d.files[3]) as h5:  # a LImA file on its own
        assert np.array_equal(h5["entry_0000/measurement/data"][0], h5["entry_0000/instrument/eiger/data"][0])


def test_edf_series_holds_every_frame_in_order(data):
    import fabio

    d = data["edf"]
    frames = []
    for p in d.files:
        img = fabio.open(str(p))
        frames += [img.getframe(i).data if i else img.data for i in range(img.nframes)]
        assert img.header["image_mode"] == "SINGLE"
    assert len(frames) == 4
    stored = np.array(frames)
    assert np.array_equal(stored == 0xFFFFFFFF, d.frames == -1)


# ---------------------------------------------------------------- same numbers as pyFAI by hand
@pytest.mark.parametrize("fmt", FORMATS)
def test_integration_equals_pyfai_by_hand(data, reference, fmt):
    d = data[fmt]
    res = integrate_stack(d.files if fmt == "edf" else [d.main], d.poni, IntegrationSettings(npt=NPT))
    assert res.intensity.shape == reference[fmt].shape
    np.testing.assert_allclose(res.intensity, reference[fmt], rtol=1e-6, atol=1e-9)
    assert_reflections(res.radial, res.intensity, d.calibrant, d.wavelength)
    if fmt == "eiger":
        assert [s.dataset for s in res.sources] == [f"/entry/data/data_{i:06d}" for i in (1, 2, 3)]


def test_eiger_master_alone_carries_geometry_and_mask(data, reference):
    """No PONI: distance, pixel size, beam centre and wavelength come from the NXmx metadata."""
    d = data["eiger"]
    res = integrate_stack([d.main], None, IntegrationSettings(npt=NPT))
    assert_reflections(res.radial, res.intensity, d.calibrant, d.wavelength)
    good = np.isfinite(reference["eiger"]) & (reference["eiger"] > 0)
    np.testing.assert_allclose(res.intensity[good], reference["eiger"][good], rtol=2e-3)
    assert res.integrator.detector.shape == (2167, 2070)


def test_dataset_override_reads_one_file_of_the_series(data, reference):
    d = data["eiger"]
    res = integrate_stack([d.main], d.poni, IntegrationSettings(npt=NPT), dataset="/entry/data/data_000002")
    np.testing.assert_allclose(res.intensity, reference["eiger"][1:2], rtol=1e-6)


@pytest.mark.parametrize("compression", ["lz4", "zstd", "blosc"])
def test_other_hdf5plugin_compressions(tmp_path, compression):
    d = write_eiger(tmp_path, PowderSimulation(detector="Pilatus100k", n_frames=2, seed=7), n_files=2,
                    compression=compression, dtype="uint16")
    res = integrate_stack([d.main], d.poni, IntegrationSettings(npt=300))
    np.testing.assert_allclose(res.intensity, by_hand(d.poni, d.frames, 300), rtol=1e-6)


# ---------------------------------------------------------------- the CWL tool under three runners
def _job(d, fmt: str, folder: Path, **extra) -> Path:
    """The generator's own job (paths relative to it), plus the PONI and bins of the comparison."""
    yaml = YAML(typ="safe")
    job = yaml.load(d.job.read_text())
    job.setdefault("poni", {"class": "File", "path": d.poni.name, "format": EDAM + "format_2330"})
    job.update(npt=NPT, **extra)
    path = d.job.parent / f"test-{fmt}-{folder.name}.yml"
    with open(path, "w") as fh:
        yaml.dump(job, fh)
    return path


def _check_output(out: dict | Path, d, ref: np.ndarray) -> None:
    path = out["integrated"]["path"] if isinstance(out, dict) else out
    pat = read_pattern(path)
    np.testing.assert_allclose(pat.intensity, ref, rtol=1e-6, atol=1e-9)
    assert_reflections(pat.radial, pat.intensity, d.calibrant, d.wavelength)


@pytest.mark.parametrize("fmt", FORMATS)
def test_cwltool(data, reference, fmt, tmp_path):
    job = _job(data[fmt], fmt, tmp_path)
    proc = subprocess.run([str(BIN / "cwltool"), "--outdir", str(tmp_path / "out"), str(TOOL1D), str(job)],
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_output(json.loads(proc.stdout), data[fmt], reference[fmt])


@pytest.mark.toil
@pytest.mark.parametrize("fmt", FORMATS)
def test_toil_with_inputs_copied(data, reference, fmt, tmp_path):
    """``--symlinkImports False``: the master/scan file is copied into the job store; its linked files travel
    as secondaryFiles and are staged beside it."""
    job = _job(data[fmt], fmt, tmp_path)
    proc = subprocess.run([str(BIN / "toil-cwl-runner"), "--batchSystem", "single_machine", "--symlinkImports", "False",
                           "--jobStore", str(tmp_path / "js"), "--outdir", str(tmp_path / "out"), str(TOOL1D), str(job)],
                          capture_output=True, text=True, env=ENV, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_output(json.loads(proc.stdout), data[fmt], reference[fmt])


@pytest.mark.toil
def test_toil_copy_without_secondary_files_names_the_missing_file(data, tmp_path):
    """Control: the same copy without the secondaryFiles fails, and says which file is missing."""
    d = data["eiger"]
    job = d.main.parent / "bare.yml"
    job.write_text(f"frames:\n  - {{class: File, path: {d.main.name}, format: '{EDAM}format_3590'}}\n"
                   f"poni: {{class: File, path: {d.poni.name}, format: '{EDAM}format_2330'}}\n")
    proc = subprocess.run([str(BIN / "toil-cwl-runner"), "--batchSystem", "single_machine", "--symlinkImports", "False",
                           "--jobStore", str(tmp_path / "js"), "--outdir", str(tmp_path / "out"), str(TOOL1D), str(job)],
                          capture_output=True, text=True, env=ENV, timeout=600, cwd=tmp_path)
    assert proc.returncode != 0
    assert "external link /entry/data/data_000001 of ceo2_master.h5 points to ceo2_data_000001.h5" in proc.stderr


@pytest.mark.slurm
@pytest.mark.toil
@pytest.mark.xdist_group("slurm")
def test_toil_on_slurm(data, reference, slurm_env, tmp_path):
    """All three layouts through ``panosc-cwl run --profile ci-local`` (Toil's SLURM batch system)."""
    for fmt in FORMATS:
        job = _job(data[fmt], fmt, tmp_path)
        out = tmp_path / f"out-{fmt}"
        proc = subprocess.run([str(BIN / "panosc-cwl"), "run", str(TOOL1D), str(job), "--profile", "ci-local",
                               "--outdir", str(out), "--no-provenance"],
                              capture_output=True, text=True, env=slurm_env, timeout=600, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "--batchSystem slurm" in proc.stderr.splitlines()[0]
        _check_output(out / "integrated.nxs", data[fmt], reference[fmt])


# ---------------------------------------------------------------- pyFAI-integrate's JSON
@pytest.fixture(scope="module")
def config_case(data, tmp_path_factory):
    """A pyFAI-integrate JSON (pyFAI's WorkerConfig.save) with mask, polarization, q unit, azimuth range."""
    from panosc_cwl.pyfai_config import save_config

    d = data["bliss"]
    folder = tmp_path_factory.mktemp("config")
    mask = np.zeros(d.frames.shape[1:], np.int8)
    mask[:, :60] = 1  # a beam-stop shadow
    np.save(folder / "mask.npy", mask)
    shutil.copy(d.poni, folder / "geometry.poni")
    cfg = save_config(folder / "integrate.json", folder / "geometry.poni", npt=1500, unit="q_nm^-1",
                      mask="mask.npy", polarization_factor=0.95, error_model="azimuthal",
                      azimuth_range=(-170.0, 170.0))
    return d, folder, cfg


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "panosc-cwl"), *args], capture_output=True, text=True, env=ENV, cwd=cwd,
                          timeout=600)


def test_pyfai_json_equals_explicit_inputs(config_case, tmp_path):
    d, folder, cfg = config_case
    raw = json.loads(cfg.read_text())
    assert raw["application"] == "pyfai-integrate" and raw["nbpt_rad"] == 1500 and raw["mask_file"] == "mask.npy"
    a = _cli("powder", "integrate1d", "--frames", str(d.main), "--config", str(cfg), "-o", "json.nxs", "-q", cwd=tmp_path)
    assert a.returncode == 0, a.stderr
    b = _cli("powder", "integrate1d", "--frames", str(d.main), "--poni", str(folder / "geometry.poni"), "--npt", "1500",
             "--unit", "q_nm^-1", "--mask", str(folder / "mask.npy"), "--polarization", "0.95",
             "--error-model", "azimuthal", "-o", "explicit.nxs", "-q", cwd=tmp_path)
    assert b.returncode == 0, b.stderr
    pa, pb = read_pattern(tmp_path / "json.nxs"), read_pattern(tmp_path / "explicit.nxs")
    assert pa.intensity.shape == (4, 1500) and pa.radial_units == pb.radial_units
    # the azimuth range is only in the JSON: compare with pyFAI by hand using it
    ref = by_hand(folder / "geometry.poni", d.frames, 1500, unit="q_nm^-1", mask=np.load(folder / "mask.npy"),
                  polarization_factor=0.95, error_model="azimuthal", azimuth_range=(-170.0, 170.0))
    np.testing.assert_allclose(pa.intensity, ref, rtol=1e-6, atol=1e-9)
    full = by_hand(folder / "geometry.poni", d.frames, 1500, unit="q_nm^-1", mask=np.load(folder / "mask.npy"),
                   polarization_factor=0.95, error_model="azimuthal")
    np.testing.assert_allclose(pb.intensity, full, rtol=1e-6, atol=1e-9)
    assert not np.allclose(pa.intensity, pb.intensity)  # the range did something


def test_explicit_options_override_the_json(config_case, tmp_path):
    d, _, cfg = config_case
    proc = _cli("powder", "integrate1d", "--frames", str(d.main), "--config", str(cfg), "--npt", "700", "--unit", "2th_deg",
                "-o", "o.nxs", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    pat = read_pattern(tmp_path / "o.nxs")
    assert pat.intensity.shape == (4, 700) and pat.radial_name == "two_theta"


def test_legacy_pyfai_json_is_upgraded_by_pyfai(data, tmp_path):
    """A version-1 style flat configuration (old pyFAI-integrate) is read through pyFAI's own upgrade path."""
    import pyFAI

    d = data["edf"]
    ai = pyFAI.load(str(d.poni))
    legacy = {"version": 1, "detector": "Pilatus1M", "dist": ai.dist, "poni1": ai.poni1, "poni2": ai.poni2,
              "rot1": ai.rot1, "rot2": ai.rot2, "rot3": ai.rot3, "wavelength": ai.wavelength,
              "nbpt_rad": 800, "unit": "2th_deg", "do_2D": False, "method": "csr"}
    (tmp_path / "old.json").write_text(json.dumps(legacy))
    proc = _cli("powder", "integrate1d", "--frames", *map(str, d.files), "--config", "old.json", "--error-model", "poisson",
                "--method", "csr", "-o", "o.nxs", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(read_pattern(tmp_path / "o.nxs").intensity, by_hand(d.poni, d.frames, 800), rtol=1e-6)


def test_cwl_tool_config_input(config_case, tmp_path):
    d, folder, cfg = config_case
    job = folder / "job.yml"
    job.write_text(YAML_JOB.format(main=d.main, job_dir=d.main.parent, cfg=cfg.name))
    proc = subprocess.run([str(BIN / "cwltool"), "--outdir", str(tmp_path), str(TOOL1D), str(job)],
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref = _cli("powder", "integrate1d", "--frames", str(d.main), "--config", str(cfg), "-o", "ref.nxs", "-q", cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    np.testing.assert_array_equal(read_pattern(tmp_path / "integrated.nxs").intensity,
                                  read_pattern(tmp_path / "ref.nxs").intensity)


YAML_JOB = """frames:
  - class: File
    path: {main}
    format: http://edamontology.org/format_3590
    secondaryFiles: [{{class: Directory, path: {job_dir}/scan0001}}]
config:
  class: File
  path: {cfg}
  format: http://edamontology.org/format_3464
  secondaryFiles: [{{class: File, path: mask.npy}}]
"""


# ---------------------------------------------------------------- missing linked files: one line, nothing queued
def _broken(d, tmp_path: Path, remove: str) -> Path:
    copy = tmp_path / "broken"
    shutil.copytree(d.main.parent, copy)
    (copy / remove).unlink()
    return copy / d.job.name


@pytest.mark.parametrize("fmt, remove, message", [
    ("eiger", "ceo2_data_000002.h5",
     "external link /entry/data/data_000002 of ceo2_master.h5 points to ceo2_data_000002.h5, which is not there"),
    ("bliss", "scan0001/eiger_0002.h5",
     "VDS source /1.1/instrument/eiger/data of ceo2_0001.h5 points to eiger_0002.h5, which is not there"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_missing_linked_file_one_line_before_anything_runs(data, tmp_path, fmt, remove, message, command):
    job = _broken(data[fmt], tmp_path, remove)
    args = [command, str(TOOL1D), str(job)] + (["--outdir", str(tmp_path / "out")] if command == "run" else [])
    proc = _cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    problems = [line for line in proc.stderr.splitlines() if "warning" not in line and "nothing was submitted" not in line]
    assert len(problems) == 1 and problems[0].endswith(f"frames[0]: {message}"), proc.stderr
    assert not (tmp_path / "out").exists()  # no runner started, no output folder made


def test_missing_vds_source_is_an_error_not_fill_values(data, tmp_path):
    """h5py alone would read the missing chunk as the fill value; the reader refuses, naming the file."""
    from panosc_cwl.exceptions import InputError

    job = _broken(data["bliss"], tmp_path, "scan0001/eiger_0001.h5")
    with pytest.raises(InputError, match="eiger_0001.h5, which is not there"):
        integrate_stack([job.parent / data["bliss"].main.name], data["bliss"].poni, IntegrationSettings(npt=100))
    proc = _cli("powder", "integrate1d", "--frames", str(job.parent / data["bliss"].main.name), "--poni",
                str(data["bliss"].poni), "-o", "x.nxs", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "eiger_0001.h5" in proc.stderr


def test_validate_warns_when_links_are_not_carried(data, tmp_path):
    d = data["eiger"]
    job = d.main.parent / "loose.yml"
    job.write_text(f"frames:\n  - {{class: File, path: {d.main.name}}}\n")
    proc = _cli("validate", str(TOOL1D), str(job), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning: ceo2_master.h5 links to ceo2_data_000001.h5 and 2 more, not listed in its secondaryFiles" in proc.stderr


# ---------------------------------------------------------------- CDI / tomography inputs through links
def test_cdi_cxi_with_external_link(tmp_path):
    from panosc_cwl.cdi import read_intensity, simulate_cdi, write_cxi
    from panosc_cwl.exceptions import InputError

    sim = simulate_cdi((32, 32), seed=1)
    write_cxi(tmp_path / "plain.cxi", sim)
    shutil.copy(tmp_path / "plain.cxi", tmp_path / "linked.cxi")
    with h5py.File(tmp_path / "linked.cxi", "a") as h5, h5py.File(tmp_path / "frames.h5", "w") as ext:
        ext["data"] = h5["entry_1/instrument_1/detector_1/data"][()]
        del h5["entry_1/instrument_1/detector_1/data"]
        h5["entry_1/instrument_1/detector_1/data"] = h5py.ExternalLink("frames.h5", "/data")
    np.testing.assert_array_equal(read_intensity(tmp_path / "linked.cxi"), read_intensity(tmp_path / "plain.cxi"))
    (tmp_path / "frames.h5").unlink()
    with pytest.raises(InputError, match="points to frames.h5, which is not there"):
        read_intensity(tmp_path / "linked.cxi")
    job = tmp_path / "job.yml"
    job.write_text("data: {class: File, path: linked.cxi}\n")
    proc = _cli("validate", str(ROOT / "cwl/tools/cohere-cdi.cwl"), str(job), cwd=tmp_path)
    assert proc.returncode == 2 and "data: external link /entry_1/instrument_1/detector_1/data of linked.cxi " \
                                   "points to frames.h5, which is not there" in proc.stderr


# ---------------------------------------------------------------- the example jobs, as their comments say
def test_example_jobs_run(tmp_path):
    """jobs/pyfai-integrate1d-eiger.yml and -bliss-config.yml on data made by the commands in their headers."""
    from panosc_cwl.pyfai_config import save_config

    shutil.copytree(ROOT / "jobs", tmp_path / "jobs")
    for args in (["powder", "simulate", "--format", "eiger", "--frames", "3", "--files", "3", "-o", "data/eiger"],
                 ["powder", "simulate", "--format", "bliss", "--frames", "8", "--files", "4", "--wavelength", "0.6", "-o", "data/bliss"]):
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    bliss = tmp_path / "data/bliss/ceo2_0001"
    save_config(bliss / "integrate.json", bliss / "ceo2_0001.poni", npt=1500, unit="q_nm^-1", polarization_factor=0.99)
    results = {}
    for name in ("pyfai-integrate1d-eiger.yml", "pyfai-integrate1d-bliss-config.yml"):
        proc = subprocess.run([str(BIN / "cwltool"), "--outdir", str(tmp_path / "out"), str(TOOL1D),
                               str(tmp_path / "jobs" / name)], capture_output=True, text=True, env=ENV, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[name] = read_pattern(json.loads(proc.stdout)["integrated"]["path"])
    eiger = results["pyfai-integrate1d-eiger.yml"]
    assert eiger.intensity.shape == (3, 2000)
    assert_reflections(eiger.radial, eiger.intensity, "CeO2", 1e-10)  # geometry from the NXmx master alone
    cfg = results["pyfai-integrate1d-bliss-config.yml"]
    assert cfg.intensity.shape == (8, 1500) and cfg.radial_units == "1/nm"
    positions, offsets = peak_offsets(cfg.radial, cfg.intensity.mean(axis=0), expected_positions("CeO2", 0.6e-10, "q_nm^-1"))
    assert len(positions) >= 6 and np.abs(offsets).max() <= 2


def test_tomo_nxtomo_with_external_link(tmp_path):
    """nabu reads an NXtomo whose projections are an external link (same volume as the plain file); a missing
    linked file is one line from `validate` and from the config step, before nabu runs."""
    from panosc_cwl.exceptions import InputError
    from panosc_cwl.tomo import NabuOptions, TomoSimulation, make_nabu_config, read_volume, reconstruct, simulate_tomo

    files = simulate_tomo(tmp_path / "plain", TomoSimulation(size=64, n_slices=2, n_angles=90, seed=1))
    linked = tmp_path / "linked.nx"
    shutil.copy(files.nx, linked)
    with h5py.File(linked, "a") as h5, h5py.File(tmp_path / "linked_data.h5", "w") as ext:
        ext["data"] = h5["entry/instrument/detector/data"][()]
        del h5["entry/instrument/detector/data"]
        h5["entry/instrument/detector/data"] = h5py.ExternalLink("linked_data.h5", "/data")
    volumes = []
    for nx, name in ((files.nx, "plain"), (linked, "linked")):
        conf = make_nabu_config(nx, tmp_path / f"{name}.conf", NabuOptions(cor_value=37.0), location=str(tmp_path))
        volumes.append(read_volume(reconstruct(conf, tmp_path / f"{name}_rec.h5", backend="cpu").path))
    np.testing.assert_array_equal(volumes[0], volumes[1])
    (tmp_path / "linked_data.h5").unlink()
    with pytest.raises(InputError, match="points to linked_data.h5, which is not there"):
        make_nabu_config(linked, tmp_path / "x.conf", NabuOptions())
    (tmp_path / "job.yml").write_text("dataset: {class: File, path: linked.nx}\n")
    proc = _cli("validate", str(ROOT / "cwl/tools/nabu-config.cwl"), "job.yml", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().endswith(
        "dataset: external link /entry/instrument/detector/data of linked.nx points to linked_data.h5, which is not there")
