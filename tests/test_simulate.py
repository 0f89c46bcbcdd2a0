"""Simulated powder data: the files exist, hold what a detector would write, and match the requested physics."""

import json

import fabio
import h5py
import numpy as np
import pytest

from panosc_cwl.exceptions import InputError, OutputExistsError
from panosc_cwl.simulate import PowderSimulation, simulate_powder


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    return simulate_powder(out, PowderSimulation(calibrant="LaB6", n_frames=3, seed=7), edf_frames=2, tiff_frames=1)


def test_stack_is_nexus_with_counts(sim):
    with h5py.File(sim.stack) as h5:
        assert h5.attrs["default"] == "entry"
        entry = h5["entry"]
        assert entry.attrs["NX_class"] == "NXentry"
        data = entry["data/data"]
        assert data.shape == (3, 1043, 981)  # Pilatus 1M
        assert data.dtype == np.int32
        assert entry["instrument/detector/distance"].attrs["units"] == "m"
        frame = data[0]
    # detector gaps carry the dummy value, everything else is Poisson counts >= 0
    assert (frame == -1).sum() > 50000
    assert frame[frame >= 0].min() >= 0


def test_poni_geometry_matches_request(sim):
    import pyFAI

    ai = pyFAI.load(str(sim.poni))
    assert ai.dist == pytest.approx(0.1)
    assert ai.wavelength == pytest.approx(1e-10)
    assert ai.detector.name == "Pilatus 1M"


def test_noise_is_poisson(sim):
    """Counts minus the noiseless model, scaled by sqrt(model), have mean 0 and std 1 (Poisson)."""
    from panosc_cwl.simulate import get_calibrant, make_geometry

    truth = json.loads(sim.stack.with_name("lab6_truth.json").read_text())
    model_sim = PowderSimulation(calibrant="LaB6", n_frames=3, seed=7)
    ai = make_geometry(model_sim)
    rings = get_calibrant("LaB6", 1e-10).fake_calibration_image(ai, Imax=model_sim.imax, resolution=model_sim.resolution_deg)
    with h5py.File(sim.stack) as h5:
        frame = h5["entry/data/data"][1].astype(float)
    model = truth["beam_scale"][1] * (rings + truth["background"])
    valid = frame >= 0
    z = (frame[valid] - model[valid]) / np.sqrt(model[valid])
    assert abs(z.mean()) < 0.01
    assert z.std() == pytest.approx(1.0, abs=0.02)
    # the beam drift is really there: frame totals follow the beam scale
    assert truth["beam_scale"][1] > truth["beam_scale"][0]


def test_single_frames_equal_stack(sim):
    with h5py.File(sim.stack) as h5:
        first, second = h5["entry/data/data"][0], h5["entry/data/data"][1]
    assert len(sim.edf) == 2 and len(sim.tiff) == 1
    np.testing.assert_array_equal(fabio.open(str(sim.edf[0])).data, first)
    np.testing.assert_array_equal(fabio.open(str(sim.edf[1])).data, second)
    np.testing.assert_array_equal(fabio.open(str(sim.tiff[0])).data, first)


def test_refuses_to_overwrite(sim):
    with pytest.raises(OutputExistsError):
        simulate_powder(sim.stack.parent, PowderSimulation(calibrant="LaB6", n_frames=1))


def test_unknown_calibrant_suggests(tmp_path):
    with pytest.raises(InputError, match="did you mean CeO2"):
        simulate_powder(tmp_path, PowderSimulation(calibrant="ceo2", n_frames=1))
