"""The powder workflow end to end, with stock cwltool, with our CLI, and under Toil: same science everywhere."""

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from ruamel.yaml import YAML
from science import check_powder_outputs

from panosc_cwl.simulate import PowderSimulation, simulate_powder

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "cwl/workflows/powder-xrd.cwl"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A CeO2 job like jobs/powder-xrd-ceo2.yml, pointing at freshly simulated data."""
    base = tmp_path_factory.mktemp("powder")
    sim = simulate_powder(base / "data", PowderSimulation(calibrant="CeO2", n_frames=4, seed=3))
    yaml = YAML(typ="safe")
    doc = yaml.load((ROOT / "jobs/powder-xrd-ceo2.yml").read_text())
    doc["frames"] = [{"class": "File", "path": str(sim.stack), "format": "http://edamontology.org/format_3590"}]
    doc["poni"] = {"class": "File", "path": str(sim.poni), "format": "http://edamontology.org/format_2330"}
    path = base / "job.yml"
    with open(path, "w") as fh:
        yaml.dump(doc, fh)
    return path


def _intensity(path: Path) -> np.ndarray:
    with h5py.File(path) as h5:
        return h5["entry/integrated/I"][()]


@pytest.fixture(scope="module")
def cwltool_run(job, tmp_path_factory):
    out = tmp_path_factory.mktemp("cwltool-out")
    proc = subprocess.run([str(BIN / "panosc-cwl"), "run", str(WORKFLOW), str(job), "--outdir", str(out)],
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_cli_run_prints_command_progress_and_outputs(cwltool_run):
    out, proc = cwltool_run
    first = proc.stderr.splitlines()[0]
    assert first.startswith("$ ") and "cwltool" in first and "--outdir" in first
    assert "step integrate: start" in proc.stderr and "step plot_pattern: completed success" in proc.stderr
    printed = {Path(line).name for line in proc.stdout.splitlines()}
    assert {"integrated.nxs", "reduced.nxs", "pattern.png"} <= printed
    check_powder_outputs(out, 4)


def test_plain_cwltool_gives_same_intensities(job, cwltool_run, tmp_path):
    proc = subprocess.run([str(BIN / "cwltool"), "--outdir", str(tmp_path), str(WORKFLOW), str(job)],
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = json.loads(proc.stdout)
    assert Path(outputs["integrated"]["path"]).name == "integrated.nxs"
    np.testing.assert_allclose(_intensity(tmp_path / "integrated.nxs"), _intensity(cwltool_run[0] / "integrated.nxs"))


@pytest.mark.toil
def test_toil_gives_same_intensities(job, cwltool_run, tmp_path):
    out = tmp_path / "toil-out"
    proc = subprocess.run([str(BIN / "panosc-cwl"), "run", str(WORKFLOW), str(job), "--outdir", str(out),
                           "--runner", "toil"], capture_output=True, text=True, env=ENV, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "toil-cwl-runner --batchSystem single_machine" in proc.stderr.splitlines()[0]
    np.testing.assert_allclose(_intensity(out / "integrated.nxs"), _intensity(cwltool_run[0] / "integrated.nxs"),
                               rtol=1e-12)
    check_powder_outputs(out, 4)


def test_failed_step_is_one_clear_line(tmp_path):
    job = tmp_path / "job.yml"
    poni = tmp_path / "g.poni"
    poni.write_text("Distance: 0.1\n")  # no detector, no wavelength
    stack = tmp_path / "s.h5"
    with h5py.File(stack, "w") as h5:
        h5["entry/data/data"] = np.zeros((1, 8, 8), np.int32)
    job.write_text(f"frames: [{{class: File, path: {stack}}}]\ndataset: /entry/data/data\n"
                   f"poni: {{class: File, path: {poni}}}\n")
    proc = subprocess.run([str(BIN / "panosc-cwl"), "run", str(WORKFLOW), str(job), "--outdir", str(tmp_path / "o")],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("panosc-cwl: error:") and "runner.log" in last
