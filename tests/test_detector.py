"""Dark calibration: constants recovered from simulated darks match the simulation's truth, in the
library and through the notebooks run as a CWL workflow scattered over modules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from panosc_cwl.detector import (
    DEAD,
    HOT,
    DetectorSimulation,
    apply_constants,
    compute_dark_constants,
    read_constants,
    read_frames,
    read_truth,
    simulate_detector,
    write_constants,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
N_DARKS = 50


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    sim = DetectorSimulation(n_modules=2, module_shape=(64, 64), n_darks=N_DARKS, n_frames=20, seed=11)
    return simulate_detector(tmp_path_factory.mktemp("det"), sim)


def check_constants(offset, noise, bad, truth, n_darks: int) -> None:
    """The tolerances the calibration promises, from the statistics of n_darks Gaussian samples."""
    good = truth.bad == 0
    # offset: the mean of n darks scatters by noise/sqrt(n); +0.3 ADU for the integer ADC rounding
    z = np.abs(offset - truth.pedestal)[good] / (truth.noise[good] / np.sqrt(n_darks) + 0.3)
    assert z.max() < 5.5, z.max()
    # noise: the sample standard deviation scatters by about 1/sqrt(2(n-1)) relative, without bias
    rel = noise[good] / truth.noise[good] - 1
    expected = 1 / np.sqrt(2 * (n_darks - 1))
    assert abs(rel.mean()) < 0.01, rel.mean()
    assert 0.8 * expected < rel.std() < 1.2 * expected, (rel.std(), expected)
    assert np.abs(rel).max() < 6 * expected
    # bad pixels: all kinds found (recall >= 0.95) and few good pixels flagged
    true_bad, found = truth.bad != 0, bad != 0
    assert true_bad.sum() >= 10
    recall = (true_bad & found).sum() / true_bad.sum()
    precision = (true_bad & found).sum() / found.sum()
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)
    assert np.all(bad[truth.bad == DEAD] & DEAD) and np.all(bad[truth.bad == HOT] & HOT)


def test_simulated_files(detector):
    assert [p.name for p in detector.darks] == ["darks_m00.h5", "darks_m01.h5"]
    frames, module = read_frames(detector.darks[1])
    assert frames.shape == (N_DARKS, 64, 64) and frames.dtype == np.uint16 and module == 1
    truth = read_truth(detector.truth[1])
    assert {int(v) for v in np.unique(truth.bad)} == {0, DEAD, HOT}
    assert np.all(frames[:, truth.bad == DEAD] == 0)


@pytest.mark.parametrize("module", [0, 1])
def test_constants_match_truth(detector, module):
    frames, _ = read_frames(detector.darks[module])
    consts = compute_dark_constants(frames)
    check_constants(consts.offset, consts.noise, consts.bad_pixels, read_truth(detector.truth[module]), N_DARKS)


def test_correction_recovers_signal(detector, tmp_path):
    frames, module = read_frames(detector.darks[0])
    consts = compute_dark_constants(frames)
    consts.module = module
    path = write_constants(consts, tmp_path / "c.nxs")
    back = read_constants(path)
    np.testing.assert_array_equal(back.offset, consts.offset)
    np.testing.assert_array_equal(back.bad_pixels, consts.bad_pixels)
    data, _ = read_frames(detector.data[0])
    corrected = apply_constants(data, back)
    truth = read_truth(detector.truth[0])
    good = back.bad_pixels == 0
    assert np.all(np.isnan(corrected[:, ~good]))
    mean = corrected.mean(axis=0)[good]
    # per pixel: Poisson photons (gain 10) and read noise over 20 frames, plus the offset's own error
    sigma = np.sqrt(10 * truth.signal[good] + truth.noise[good] ** 2) / np.sqrt(20) + truth.noise[good] / np.sqrt(N_DARKS)
    assert np.abs((mean - truth.signal[good]) / sigma).max() < 6
    assert abs(np.mean(mean - truth.signal[good])) < 0.5


def test_bad_inputs_are_one_line(tmp_path):
    proc = subprocess.run([str(BIN / "panosc-cwl"), "detector", "simulate", "--modules", "0", "-o", str(tmp_path)],
                          capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2 and proc.stderr.strip() == "panosc-cwl: error: n_modules: must be at least 1 (got 0)"
    with pytest.raises(Exception) as info:
        compute_dark_constants(np.zeros((1, 4, 4)))
    assert "at least 2 dark frames" in str(info.value)


# detector-calibration(-simulated).cwl with their example jobs, per module against the truth:
# tests/test_examples_as_documented.py (check_constants above)
