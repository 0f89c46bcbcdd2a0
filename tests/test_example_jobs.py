"""Every single-tool example job in jobs/ fits its tool, and the cheap ones run and give the right science.

Static part: each ``jobs/<tool>*.yml`` is read with ruamel.yaml and its tool with cwl-utils; every key
must be an input of the tool, every required input (no default, not optional) must be given, and
every value must fit the input's CWL type (File/Directory objects with the right ``class``, enum
symbols, arrays). The data files are not required to exist (data/ is made by the generators).

Run part: like tests/test_tool_jobs.py, ``jobs/`` is copied into a temporary folder beside a
``data/`` made by our own generators, exactly as the jobs' comments say, and the jobs run unchanged
under cwltool. Their outputs are checked against the simulations' truth.
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
from cwl_utils.parser import load_document_by_uri
from ruamel.yaml import YAML

from panosc_cwl import edam

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "MPLBACKEND": "Agg"}
TOOLS = ROOT / "cwl" / "tools"
JOBS = ROOT / "jobs"
TOOL_NAMES = sorted(p.stem for p in TOOLS.glob("*.cwl"))


def _tool_of(job: Path) -> str | None:
    """The tool a job targets: the longest tool name the job's name starts with (pyfai-integrate1d-chunk-...)."""
    hits = [t for t in TOOL_NAMES if job.stem == t or job.stem.startswith(f"{t}-")]
    return max(hits, key=len) if hits else None


SINGLE_TOOL_JOBS = sorted((p.name, _tool_of(p)) for p in JOBS.glob("*.yml") if _tool_of(p))


# ---------------------------------------------------------------- static check of every job
def _short(name: str) -> str:
    """'file:///...tool.cwl#tool/unit/2th_deg' -> '2th_deg'."""
    return name.split("#")[-1].split("/")[-1]


def _fits(typ, value) -> bool:
    """Whether a job value fits a CWL type as cwl-utils parsed it (union list, name or schema object)."""
    if isinstance(typ, list):
        return any(_fits(t, value) for t in typ)
    if isinstance(typ, str):
        name = _short(typ)
        if name == "null":
            return value is None
        if name in ("File", "Directory"):
            return (isinstance(value, dict) and value.get("class") == name
                    and bool(value.get("path") or value.get("location")))
        if name == "string":
            return isinstance(value, str)
        if name == "boolean":
            return isinstance(value, bool)
        if name in ("int", "long"):
            return isinstance(value, int) and not isinstance(value, bool)
        if name in ("float", "double"):
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if name == "Any":
            return value is not None
        raise AssertionError(f"type {typ!r} not handled by this test")
    kind = getattr(typ, "type_", None)
    if kind == "array":
        return isinstance(value, list) and all(_fits(typ.items, v) for v in value)
    if kind == "enum":
        return isinstance(value, str) and value in {_short(s) for s in typ.symbols}
    raise AssertionError(f"type {typ!r} not handled by this test")


def _optional(typ) -> bool:
    return isinstance(typ, list) and any(isinstance(t, str) and _short(t) == "null" for t in typ)


def test_single_tool_jobs_found():
    """The static check below covers the jobs the contract asks for (one per tool at least)."""
    assert {tool for _, tool in SINGLE_TOOL_JOBS} == set(TOOL_NAMES)


@pytest.mark.parametrize("job_name, tool", SINGLE_TOOL_JOBS)
def test_job_matches_tool_inputs(job_name, tool):
    doc = load_document_by_uri(str(TOOLS / f"{tool}.cwl"))
    inputs = {_short(i.id): i for i in doc.inputs}
    job = YAML(typ="safe").load((JOBS / job_name).read_text())
    assert isinstance(job, dict) and job, f"{job_name} is empty"
    header = (JOBS / job_name).read_text().splitlines()[0]
    assert header.startswith("# ") and len(header) > 20, f"{job_name} has no comment header"
    namespaces = job.pop("$namespaces", {})
    unknown = sorted(set(job) - set(inputs))
    assert not unknown, f"{job_name}: not inputs of {tool}: {unknown}"
    missing = sorted(n for n, i in inputs.items() if i.default is None and not _optional(i.type_) and n not in job)
    assert not missing, f"{job_name}: required inputs of {tool} not given: {missing}"
    wrong = {k: v for k, v in job.items() if not _fits(inputs[k].type_, v)}
    assert not wrong, f"{job_name}: values that do not fit {tool}'s input types: {wrong}"
    for value in job.values():  # paths point into the generators' data/ beside jobs/
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and "path" in item:
                assert item["path"].startswith("../data/"), (job_name, item["path"])
    for key, value in job.items():  # cwltool refuses a File without a format its input takes (EDAM subclasses too)
        wanted = inputs[key].format
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and item.get("class") == "File":
                assert wanted, (job_name, key, "the tool input declares no format")
                stated = edam.expand(item.get("format", ""), namespaces)
                assert edam.accepts(wanted if isinstance(wanted, list) else [wanted], edam.term_of(stated) or ""), \
                    (job_name, key, stated)


@pytest.mark.parametrize("job_name", sorted(p.name for p in JOBS.glob("*.yml")))
def test_every_job_file_states_its_edam_format(job_name):
    """Stock cwltool and toil-cwl-runner run jobs/ unchanged: every File (workflow jobs too) states
    an EDAM format we ship, as a CURIE of the job's ``$namespaces`` or an IRI."""
    job = YAML(typ="safe").load((JOBS / job_name).read_text())
    namespaces = job.pop("$namespaces", {})
    for key, value in job.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and item.get("class") == "File":
                stated = edam.expand(item.get("format", ""), namespaces)
                assert stated.startswith(edam.EDAM) and edam.term_of(stated), (job_name, key, item.get("format"))


def test_type_check_rejects_bad_values():
    """The checker itself: a File given as a Directory, a wrong enum symbol, a string for an int."""
    doc = load_document_by_uri(str(TOOLS / "pyfai-integrate1d-chunk.cwl"))
    inputs = {_short(i.id): i.type_ for i in doc.inputs}
    assert _fits(inputs["poni"], {"class": "File", "path": "../data/x.poni"})
    assert not _fits(inputs["poni"], {"class": "Directory", "path": "../data"})
    assert not _fits(inputs["frames"], {"class": "File", "path": "a.h5"})  # File[] wants a list
    assert _fits(inputs["unit"], "q_nm^-1") and not _fits(inputs["unit"], "q_nm")
    assert not _fits(inputs["npt"], "2000") and _fits(inputs["polarization_factor"], None)


# ---------------------------------------------------------------- running the cheap jobs
def _cli(*args: str, cwd: Path) -> None:
    proc = subprocess.run([str(BIN / "panosc-cwl"), *args], capture_output=True, text=True, env=ENV, cwd=cwd,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def run_job(layout: Path, tool: str, job: str, outdir: str) -> dict:
    """``cwltool --outdir OUTDIR cwl/tools/TOOL.cwl jobs/JOB`` from the layout's root, as the job's comment says."""
    proc = subprocess.run([str(BIN / "cwltool"), "--quiet", "--outdir", outdir, str(TOOLS / f"{tool}.cwl"),
                           f"jobs/{job}"], capture_output=True, text=True, env=ENV, cwd=layout, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = json.loads(proc.stdout)
    from test_nexus_standards import outputs_problems  # every NeXus output validates (issue 13)

    assert outputs_problems(outputs) == {}
    return outputs


@pytest.fixture
def layout(tmp_path) -> Path:
    shutil.copytree(JOBS, tmp_path / "jobs")
    return tmp_path


def test_sasmodels_fit_job_recovers_radius(layout):
    (layout / "data/sas").mkdir(parents=True)
    _cli("sas", "simulate", "--model", "sphere", "--par", "radius=60", "--par", "scale=0.01", "--par",
         "background=0.001", "--par", "sld=4", "--par", "sld_solvent=1", "-o", "data/sas/sphere.dat", cwd=layout)
    out = run_job(layout, "sasmodels-fit", "sasmodels-fit-sphere.yml", "out")
    result = json.loads(Path(out["result"]["path"]).read_text())
    radius, err = result["parameters"]["radius"], result["uncertainties"]["radius"]
    assert radius == pytest.approx(60.0, rel=0.01) and abs(radius - 60.0) < 5 * err  # started at 40 Å
    assert result["parameters"]["scale"] == pytest.approx(0.01, rel=0.02)
    assert result["fixed"] == {"sld": 4.0, "sld_solvent": 1.0} and 0.7 < result["reduced_chisq"] < 1.4
    assert np.loadtxt(out["fitted_curve"]["path"]).shape == (200, 3)


def test_simulate_darks_job_truth_consistent(layout):
    from panosc_cwl.detector import DEAD, HOT, read_frames, read_truth

    out = run_job(layout, "simulate-darks", "simulate-darks-4modules.yml", "data/detector")
    assert [Path(f["path"]).name for f in out["darks"]] == [f"darks_m{m:02d}.h5" for m in range(4)]
    assert len(out["data"]) == len(out["truth"]) == 4
    bad_fractions = []
    for m, (d, t) in enumerate(zip(out["darks"], out["truth"])):
        darks, module = read_frames(d["path"])
        truth = read_truth(t["path"])
        assert module == m and darks.shape == (50, 64, 64)
        good = truth.bad == 0
        # the darks are the truth's pedestal plus read noise: the mean of 50 scatters by noise/sqrt(50)
        z = np.abs(darks.mean(axis=0) - truth.pedestal)[good] / (truth.noise[good] / np.sqrt(50) + 0.3)
        assert z.max() < 5.5, z.max()
        assert np.all(darks[:, truth.bad == DEAD] == 0)
        assert np.all(darks.mean(axis=0)[truth.bad == HOT] > np.median(truth.pedestal) + 5 * np.median(truth.noise))
        bad_fractions.append([(truth.bad == DEAD).mean(), (truth.bad == HOT).mean()])
    # 0.5 % dead and 0.5 % hot pixels requested, over 4 x 4096 pixels
    assert np.allclose(np.mean(bad_fractions, axis=0), 0.005, atol=0.002), bad_fractions


def test_nb_dark_calibration_job_finds_bad_pixels(layout):
    """The papermill notebook tool on module 0 of the simulated detector (jobs/nb-dark-calibration-m00.yml)."""
    from panosc_cwl.detector import read_constants, read_truth

    _cli("detector", "simulate", "--modules", "1", "-o", "data/detector", cwd=layout)
    out = run_job(layout, "nb-dark-calibration", "nb-dark-calibration-m00.yml", "data/detector")
    consts = read_constants(out["constants"]["path"])
    assert Path(out["constants"]["path"]).name == "darks_m00-constants.nxs"  # where nb-correct-m00.yml looks
    truth = read_truth(layout / "data/detector/truth_m00.h5")
    good = truth.bad == 0
    z = np.abs(consts.offset - truth.pedestal)[good] / (truth.noise[good] / np.sqrt(50) + 0.3)
    assert z.max() < 5.5, z.max()
    true_bad, found = truth.bad != 0, consts.bad_pixels != 0
    assert (true_bad & found).sum() >= 0.95 * true_bad.sum() and (true_bad & found).sum() >= 0.95 * found.sum()
    assert "data:image/png;base64" in Path(out["report"]["path"]).read_text()


def test_cdi_simulate_job_is_fourier_intensity(layout):
    out = run_job(layout, "cdi-simulate", "cdi-simulate-2d.yml", "data/cdi")
    path = Path(out["data"]["path"])
    assert path == layout / "data/cdi/obj2d.cxi"  # where cohere-cdi-2d.yml and pynx-cdi-2d.yml look
    with h5py.File(path) as h5:
        counts = h5["entry_1/instrument_1/detector_1/data"][()]
        obj = h5["entry_1/sample_1/object"][()]
    assert counts.shape == (128, 128) and abs(counts.sum() / 1e9 - 1) < 1e-3
    ideal = np.abs(np.fft.fftshift(np.fft.fft2(obj))) ** 2
    ideal *= 1e9 / ideal.sum()
    bright = ideal > 100
    assert 0.8 < np.mean((counts[bright] - ideal[bright]) ** 2 / ideal[bright]) < 1.2  # Poisson noise only


def test_tomo_simulate_and_nabu_config_jobs(layout):
    out = run_job(layout, "tomo-simulate", "tomo-simulate-shepp-logan.yml", "data/tomo")
    truth = json.loads(Path(out["truth"]["path"]).read_text())
    assert truth["true_cor"] == 256 / 2 + 5.0  # 133 px, as the job's comment says
    with h5py.File(out["nxtomo"]["path"]) as h5:
        keys = h5["entry/instrument/detector/image_key_control"][()]
        assert h5["entry/instrument/detector/data"].shape == (keys.size, 16, 256) and (keys == 0).sum() == 360
    assert (layout / "data/tomo/tomo_truth.npy").is_file()  # tomo-plot's secondary file
    out = run_job(layout, "nabu-config", "nabu-config-shepp-logan.yml", "data/tomo")
    assert Path(out["config"]["path"]) == layout / "data/tomo/nabu.conf"  # nabu-reconstruct's job reads it here
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(out["config"]["path"])
    assert cp["reconstruction"]["rotation_axis_position"] == "sliding-window"
    assert cp["phase"]["method"] in ("", "none") and cp["output"]["file_format"] == "hdf5"  # nabu writes none as ""


def test_euxfel_chain_jobs_recover_the_pedestal(layout):
    from panosc_cwl import euxfel

    _cli("euxfel", "simulate", "-o", "data/euxfel", cwd=layout)
    mock = euxfel.MockRun()
    out = run_job(layout, "euxfel-validate", "euxfel-validate-r0238.yml", "out")
    assert "No problems found" in Path(out["report"]["path"]).read_text()
    out = run_job(layout, "euxfel-virtual-cxi", "euxfel-virtual-cxi-r0238.yml", "data/euxfel")
    with h5py.File(out["cxi"]["path"]) as h5:
        assert h5["entry_1/instrument_1/detector_1/data"].shape[1:] == (16, 2, 512, 128)
    out = run_job(layout, "agipd-dark-constants", "agipd-dark-constants-r0238.yml", "data/euxfel")
    consts = euxfel.read_constants(out["constants"]["path"])
    # the mock's pedestal (its first random draw) is recovered by the mean of 8 darks: sigma 3/sqrt(8) ADU
    pedestal = mock.pedestal + 200.0 * np.random.default_rng(mock.seed).random(consts["offset"].shape)
    diff = consts["offset"] - pedestal
    assert abs(np.median(diff)) < 0.1 and np.std(diff) == pytest.approx(mock.read_noise / np.sqrt(8), rel=0.1)
    assert np.median(consts["noise"]) == pytest.approx(mock.read_noise, rel=0.2)
    out = run_job(layout, "agipd-correct", "agipd-correct-r0238.yml", "data/euxfel")
    with h5py.File(out["corrected"]["path"]) as h5:
        corrected = h5["entry/data/data"][()]
    assert corrected.shape == (4, 16, 512, 128)
    out = run_job(layout, "agipd-assemble", "agipd-assemble-r0238.yml", "data/euxfel")
    with h5py.File(out["assembled"]["path"]) as h5:
        assert h5["entry/data/data"].shape[0] == 4
    # offset-corrected pixels far from the rings sit at the simulated background
    tth = euxfel.two_theta_deg(euxfel.load_geometry(layout / "data/euxfel/agipd.geom"), mock.distance)
    far = np.min(np.abs(tth[..., None] - np.array(mock.rings_deg)), axis=-1) > 1.0
    assert np.nanmean(corrected[0][far]) == pytest.approx(mock.background, rel=0.02)
    geom_before = (layout / "data/euxfel/agipd.geom").read_bytes()
    out = run_job(layout, "agipd-geometry-export", "agipd-geometry-export-r0238.yml", "data/euxfel")
    poni = dict(line.split(":", 1) for line in Path(out["poni"]["path"]).read_text().splitlines()
                if ":" in line and not line.startswith("#"))
    assert float(poni["Distance"]) == pytest.approx(0.250) and float(poni["Wavelength"]) == pytest.approx(1.3e-10)
    # written beside the mock's geometry (the agipd-* jobs' input) without overwriting it
    assert Path(out["crystfel"]["path"]).name == "r0238-agipd.geom"
    assert (layout / "data/euxfel/agipd.geom").read_bytes() == geom_before
