"""PyMca5 XRF: a noisy map of PyMca's Steel.spe fitted by the headless FastXRFLinearFit CWL tool."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ruamel.yaml import YAML

from panosc_cwl import xrf

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "cwl/tools/pymca-xrf-fit.cwl"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def steel(tmp_path_factory):
    base = tmp_path_factory.mktemp("xrf")
    made = xrf.make_map(base / "data", (20, 20), seed=1)
    reference = xrf.fit_spectrum(xrf.read_spectrum(made.reference), made.config)
    return base, made, reference


def test_config_uses_snip(steel):
    _, made, _ = steel
    cfg = xrf.load_config(made.config)
    assert cfg["fit"]["stripalgorithm"] == 1 and cfg["fit"]["stripflag"] == 1


def test_cwl_tool_map_matches_single_spectrum_fit(steel, tmp_path):
    import json

    base, made, reference = steel
    yaml = YAML(typ="safe")
    job = yaml.load((ROOT / "jobs/pymca-xrf-steel.yml").read_text())
    job["map"] = {"class": "File", "path": str(made.map_file), "format": "http://edamontology.org/format_3590"}
    job["config"] = {"class": "File", "path": str(made.config), "format": "http://edamontology.org/format_2330"}
    job_path = tmp_path / "job.yml"
    with open(job_path, "w") as fh:
        yaml.dump(job, fh)
    proc = subprocess.run([str(BIN / "cwltool"), "--outdir", str(tmp_path / "out"), str(TOOL), str(job_path)],
                          capture_output=True, text=True, env=ENV, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)["result"]["path"]
    areas = xrf.read_map_result(result)
    assert areas["Fe Ka"].shape == (20, 20)
    fe, cr = ["Fe Ka", "Fe Kb"], ["Cr K"]
    map_ratio = xrf.group_ratio(areas, fe, cr)
    ref_ratio = xrf.group_ratio(reference, fe, cr)
    print(f"Fe/Cr map {map_ratio:.4f} single spectrum {ref_ratio:.4f}")
    assert map_ratio == pytest.approx(ref_ratio, rel=0.01)
    # the maps follow the amount of material the simulation put in each pixel
    scale = np.array(json.loads(made.truth.read_text())["scale"])
    fe_map = areas["Fe Ka"] + areas["Fe Kb"]
    assert np.corrcoef(fe_map.ravel(), scale.ravel())[0, 1] > 0.999
    assert np.sum(fe_map) / np.sum(scale) == pytest.approx(reference["Fe Ka"] + reference["Fe Kb"], rel=0.01)


@pytest.mark.parametrize("args, field", [
    (["--dataset", "/nope"], "dataset"),
    (["--dataset", "/entry/data/y"], "dataset"),  # 1D axis, not a map
])
def test_bad_map_is_one_line(steel, tmp_path, args, field):
    _, made, _ = steel
    proc = subprocess.run([str(BIN / "panosc-cwl"), "xrf", "fit-map", str(made.map_file), "--config", str(made.config),
                           "-o", str(tmp_path / "r.h5"), *args], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"panosc-cwl: error: {field}:") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "r.h5").exists()


def test_bad_config_is_one_line(steel, tmp_path):
    _, made, _ = steel
    proc = subprocess.run([str(BIN / "panosc-cwl"), "xrf", "fit-map", str(made.map_file), "--config",
                           str(made.reference), "-o", str(tmp_path / "r.h5")], capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2 and proc.stderr.startswith("panosc-cwl: error: config:")
