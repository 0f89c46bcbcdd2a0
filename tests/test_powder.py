"""Reduction and peak checks: numbers that follow from the simulation."""

import h5py
import numpy as np
import pytest

from panosc_cwl.integrate import IntegrationSettings, integrate_stack, write_integrated
from panosc_cwl.powder import expected_positions, peak_offsets, read_pattern, reduce_stack, write_reduced
from panosc_cwl.simulate import PowderSimulation, simulate_powder


@pytest.fixture(scope="module")
def integrated(tmp_path_factory):
    out = tmp_path_factory.mktemp("red")
    sim = simulate_powder(out, PowderSimulation(n_frames=5, drift=0.2, seed=5))
    res = integrate_stack([sim.stack], sim.poni, IntegrationSettings(npt=1500), dataset=sim.dataset)
    return write_integrated(res, out / "i.nxs"), sim


def test_reduce_mean_sum_and_beam_drift(integrated, tmp_path):
    path, sim = integrated
    pat = read_pattern(path)
    red = reduce_stack(pat)
    np.testing.assert_allclose(red.mean, pat.intensity.mean(axis=0))
    np.testing.assert_allclose(red.total, pat.intensity.sum(axis=0))
    # per-frame totals follow the simulated beam intensity (ratios within 1 %)
    scale = np.asarray(sim.truth["beam_scale"])
    np.testing.assert_allclose(red.frame_total / red.frame_total[0], scale / scale[0], rtol=0.01)
    # errors of the mean shrink like 1/sqrt(N)
    ratio = np.nanmedian(red.mean_sigma / pat.sigma[0])
    assert ratio == pytest.approx(1 / np.sqrt(5), rel=0.15)
    out = write_reduced(pat, red, tmp_path / "r.nxs")
    with h5py.File(out) as h5:
        assert h5["entry"].attrs["default"] == "mean"
        assert h5["entry/mean"].attrs["signal"] == "I"
        assert h5["entry/frame_total/total"].shape == (5,)


def test_expected_positions_in_q_match_bragg():
    two_theta = np.radians(expected_positions("Si", 1e-10, "2th_deg"))
    q = expected_positions("Si", 1e-10, "q_A^-1")
    d = 2 * np.pi / q
    np.testing.assert_allclose(2 * d * np.sin(two_theta / 2), 1.0)  # λ = 1 Å
    assert d[0] == pytest.approx(5.431 / np.sqrt(3), rel=1e-3)  # Si (111)


def test_peak_offsets_on_a_synthetic_pattern():
    x = np.linspace(10, 20, 1001)
    y = np.exp(-0.5 * ((x - 12.0) / 0.02) ** 2) + np.exp(-0.5 * ((x - 15.031) / 0.02) ** 2) + 0.1
    pos, off = peak_offsets(x, y, np.array([12.0, 15.0, 18.0]))
    assert pos.tolist() == [12.0, 15.0, 18.0]
    assert off[0] == 0 and off[1] == pytest.approx(3.1, abs=0.01) or np.isnan(off[1])
    assert np.isnan(off[2])  # no peak there
