"""Integration: peaks where the calibrant says, NeXus as plotting tools expect, inputs of every kind."""

import json

import h5py
import numpy as np
import pytest

from panosc_cwl.exceptions import InputError
from panosc_cwl.integrate import IntegrationSettings, integrate_stack, write_integrated
from panosc_cwl.powder import expected_positions, peak_offsets
from panosc_cwl.simulate import PowderSimulation, simulate_powder

DS = "/entry/data/data"


@pytest.fixture(scope="module", params=["CeO2", "LaB6"])
def calibrant_data(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    sim = PowderSimulation(calibrant=request.param, n_frames=3, seed=1, rot1=np.radians(2.0))
    return request.param, simulate_powder(out, sim, edf_frames=1, tiff_frames=1)


@pytest.mark.parametrize("unit", ["2th_deg", "q_nm^-1"])
def test_every_reflection_within_two_bins(calibrant_data, unit):
    name, sim = calibrant_data
    res = integrate_stack([sim.stack], sim.poni, IntegrationSettings(npt=3000, unit=unit), dataset=DS)
    expected = expected_positions(name, 1e-10, unit)
    positions, offsets = peak_offsets(res.radial, res.intensity.mean(axis=0), expected, window_bins=2)
    assert len(positions) >= 8, f"too few {name} reflections in range: {positions}"
    missing = positions[~np.isfinite(offsets)]
    assert missing.size == 0, f"{name}: no maximum within 2 bins of {missing}"
    assert np.abs(offsets).max() <= 2


def test_peak_finder_would_notice_a_wrong_geometry(calibrant_data, tmp_path):
    """Control: with the distance off by 2 %, the same check must fail."""
    import pyFAI

    name, sim = calibrant_data
    ai = pyFAI.load(str(sim.poni))
    ai.dist *= 1.02
    wrong = tmp_path / "wrong.poni"
    ai.write(str(wrong))
    res = integrate_stack([sim.stack], wrong, IntegrationSettings(npt=3000), dataset=DS)
    _, offsets = peak_offsets(res.radial, res.intensity.mean(axis=0), expected_positions(name, 1e-10, "2th_deg"))
    assert np.isnan(offsets).any() or np.abs(offsets).max() > 2


def test_hdf5_edf_tiff_give_the_same_pattern(calibrant_data):
    _, sim = calibrant_data
    settings = IntegrationSettings(npt=500)
    h5 = integrate_stack([sim.stack], sim.poni, settings, dataset=DS)
    edf = integrate_stack(sim.edf, sim.poni, settings)
    tif = integrate_stack(sim.tiff, sim.poni, settings)
    np.testing.assert_allclose(edf.intensity[0], h5.intensity[0])
    np.testing.assert_allclose(tif.intensity[0], h5.intensity[0])


def test_nexus_output_is_plottable(calibrant_data, tmp_path):
    _, sim = calibrant_data
    res = integrate_stack([sim.stack], sim.poni, IntegrationSettings(npt=400, unit="q_A^-1"), dataset=DS)
    out = write_integrated(res, tmp_path / "i.nxs")
    with h5py.File(out) as h5:
        entry = h5[h5.attrs["default"]]
        assert entry.attrs["NX_class"] == "NXentry"
        data = entry[entry.attrs["default"]]
        assert data.attrs["NX_class"] == "NXdata"
        signal = data[data.attrs["signal"]]
        assert signal.shape == (3, 400)
        axes = list(data.attrs["axes"])
        assert axes == [".", "radial_axis"]  # NXazint1d; the frame axis is frame_index (frame_index_indices = 0)
        assert data["radial_axis"].attrs["units"] == "1/angstrom" and data["radial_axis"].attrs["long_name"] == "q"
        assert list(data["frame_index"][()]) == [0, 1, 2] and data.attrs["frame_index_indices"] == 0
        assert entry["definition"][()] == b"NXazint1d" and signal.attrs["units"] == "arbitrary units"
        # NXazint1d/NXdata name the uncertainty by the field name I_errors (no `uncertainties` attribute)
        assert data["I_errors"].shape == signal.shape and data["I_errors"].attrs["long_name"] == "estimated intensity error"
        assert np.all(data["I_errors"][()] >= 0)
        params = json.loads(entry["reduction/input/config"][()])
        assert params["unit"] == "q_A^-1" and "CSR" in params["method"]
        assert entry["reduction/version"][()].decode().startswith("20")
        np.testing.assert_allclose(signal[()], res.intensity)


def test_cake_shape_and_axes(calibrant_data, tmp_path):
    _, sim = calibrant_data
    res = integrate_stack(sim.edf, sim.poni, IntegrationSettings(npt=300, npt_azim=72), dims=2)
    out = write_integrated(res, tmp_path / "cake.nxs")
    with h5py.File(out) as h5:
        data = h5["entry/integrated"]
        assert data["I"].shape == (1, 72, 300)
        assert data["azimuthal_axis"].attrs["units"] == "deg"
        assert list(data.attrs["axes"])[1:] == ["azimuthal_axis", "radial_axis"]  # NXazint2d names
        assert data["radial_axis"].attrs["long_name"] == "2theta" and data["radial_axis"].attrs["units"] == "deg"
        assert h5["entry/definition"][()] == b"NXazint2d"


def test_dark_flat_mask_polarization_change_the_result(calibrant_data, tmp_path):
    _, sim = calibrant_data
    shape = (1043, 981)
    dark = tmp_path / "dark.npy"
    np.save(dark, np.full(shape, 5.0))
    flat = tmp_path / "flat.npy"
    np.save(flat, np.full(shape, 2.0))
    mask = tmp_path / "mask.npy"
    m = np.zeros(shape, np.int8)
    m[:, :490] = 1
    np.save(mask, m)
    settings = IntegrationSettings(npt=300)
    base = integrate_stack(sim.edf, sim.poni, settings).intensity[0]
    with_dark = integrate_stack(sim.edf, sim.poni, settings, dark=dark).intensity[0]
    with_flat = integrate_stack(sim.edf, sim.poni, settings, flat=flat).intensity[0]
    good = base > 0
    # reference: pyFAI itself with the corrections applied by hand to the data
    import fabio
    import pyFAI

    ai = pyFAI.load(str(sim.poni))
    raw = fabio.open(str(sim.edf[0])).data.astype(float)
    gaps = raw < 0
    by_hand = np.where(gaps, -1, raw - 5.0)
    ref = ai.integrate1d(by_hand, 300, unit="2th_deg", method=("bbox", "csr", "cython"), dummy=-1,
                         delta_dummy=0.5, error_model="poisson").intensity
    np.testing.assert_allclose(with_dark[good], ref[good], rtol=3e-3)
    assert (base[good] - with_dark[good]).min() > 4.9  # 5 counts, divided by a solid angle <= 1
    np.testing.assert_allclose((with_flat / base)[good], 0.5, rtol=1e-4)
    half = integrate_stack(sim.edf, sim.poni, settings, mask=mask).intensity[0]
    assert not np.allclose(half, base)
    pol = integrate_stack(sim.edf, sim.poni, IntegrationSettings(npt=300, polarization_factor=0.99)).intensity[0]
    assert not np.allclose(pol[good], base[good])


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(dataset="/entry/data/nope"), "dataset"),
        (dict(dataset=None, plain=True), "dataset"),  # no NeXus/NXmx/Bliss layout: frames cannot be found
        (dict(dataset=DS, poni="missing.poni"), "poni"),
        (dict(dataset=DS, settings=IntegrationSettings(unit="2theta")), "unit"),
        (dict(dataset=DS, settings=IntegrationSettings(npt=1)), "npt"),
        (dict(dataset=DS, settings=IntegrationSettings(polarization_factor=3)), "polarization_factor"),
    ],
)
def test_bad_inputs_name_the_field(calibrant_data, kwargs, field, tmp_path):
    _, sim = calibrant_data
    kwargs = dict(kwargs)
    poni = kwargs.pop("poni", sim.poni)
    settings = kwargs.pop("settings", IntegrationSettings(npt=100))
    stack = sim.stack
    if kwargs.pop("plain", False):
        stack = tmp_path / "plain.h5"
        with h5py.File(sim.stack) as src, h5py.File(stack, "w") as dst:
            dst["frames"] = src[DS][()]
    with pytest.raises(InputError) as err:
        integrate_stack([stack], poni, settings, **kwargs)
    assert err.value.field == field


def test_nexus_stack_found_without_dataset(calibrant_data):
    """A NeXus file's default NXdata signal is the frame stack: no dataset needed, same numbers."""
    _, sim = calibrant_data
    found = integrate_stack([sim.stack], sim.poni, IntegrationSettings(npt=300))
    given = integrate_stack([sim.stack], sim.poni, IntegrationSettings(npt=300), dataset=DS)
    assert [s.dataset for s in found.sources] == [DS]
    np.testing.assert_array_equal(found.intensity, given.intensity)
