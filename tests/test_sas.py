"""sasmodels: the sphere model against the textbook form factor, and a CWL fit recovering a simulated radius."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ruamel.yaml import YAML

from panosc_cwl import sas

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "cwl/tools/sasmodels-fit.cwl"
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
TRUTH = {"radius": 60.0, "scale": 0.01, "background": 0.001, "sld": 4.0, "sld_solvent": 1.0}


def test_sphere_matches_analytic_form_factor():
    q = np.logspace(-3, -0.5, 300)
    model = sas.evaluate("sphere", q, TRUTH)
    exact = sas.sphere_analytic(q, **TRUTH)
    assert np.max(np.abs(model / exact - 1)) < 1e-9


@pytest.mark.parametrize("seed", [0, 7])
def test_cwl_fit_recovers_radius(tmp_path, seed):
    curve = sas.simulate_curve(tmp_path / "sphere.dat", "sphere", TRUTH, noise=0.03, seed=seed)
    yaml = YAML(typ="safe")
    job = yaml.load((ROOT / "jobs/sasmodels-sphere.yml").read_text())
    job["curve"] = {"class": "File", "path": str(curve), "format": "http://edamontology.org/format_2330"}
    job_path = tmp_path / "job.yml"
    with open(job_path, "w") as fh:
        yaml.dump(job, fh)
    proc = subprocess.run([str(BIN / "cwltool"), "--outdir", str(tmp_path / "out"), str(TOOL), str(job_path)],
                          capture_output=True, text=True, env=ENV, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "out/sas-fit.json").read_text())
    radius, err = result["parameters"]["radius"], result["uncertainties"]["radius"]
    print(f"radius {radius:.3f} ± {err:.3f} (true 60), chi2 {result['reduced_chisq']:.2f}")
    assert radius == pytest.approx(60.0, rel=0.01)
    assert abs(radius - 60.0) < 5 * err
    assert result["parameters"]["scale"] == pytest.approx(0.01, rel=0.02)
    assert 0.7 < result["reduced_chisq"] < 1.4
    fitted = np.loadtxt(tmp_path / "out/sas-fit.dat")
    assert fitted.shape == (200, 3)


@pytest.mark.parametrize("args, field", [
    (["--model", "sphre"], "model"),
    (["--par", "radius"], "parameters"),
    (["--par", "radios=3"], "parameters"),
    (["--fit", "radios"], "parameters"),
])
def test_bad_input_is_one_line(tmp_path, args, field):
    curve = sas.simulate_curve(tmp_path / "c.dat", "sphere", TRUTH)
    base = [str(BIN / "panosc-cwl"), "sas", "fit", str(curve), "-o", str(tmp_path / "f.json")]
    if "--fit" not in args:
        base += ["--fit", "radius"]
    proc = subprocess.run(base + args, capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"panosc-cwl: error: {field}:") and proc.stderr.count("\n") == 1, proc.stderr


def test_bad_curve_is_one_line(tmp_path):
    bad = tmp_path / "bad.dat"
    bad.write_text("0.01 1 0\n0.02 1 0\n0.03 1 0\n")
    with pytest.raises(sas.InputError, match="dI <= 0"):
        sas.read_curve(bad)
