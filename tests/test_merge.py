"""Frame chunks (integrate --frame-range) merged back equal one unscattered integration, bit for bit."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from panosc_cwl.exceptions import InputError
from panosc_cwl.integrate import IntegrationSettings, integrate_stack, parse_frame_range, write_integrated
from panosc_cwl.merge import merge_chunks
from panosc_cwl.simulate import PowderSimulation, simulate_powder

DS = "/entry/data/data"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    out = tmp_path_factory.mktemp("merge")
    sim = simulate_powder(out / "data", PowderSimulation(n_frames=7, seed=2), edf_frames=0, tiff_frames=0)
    settings = IntegrationSettings(npt=500)
    full = write_integrated(integrate_stack([sim.stack], sim.poni, settings, dataset=DS), out / "full.nxs")
    chunks = []
    for rng in ("0:3", "3:5", "5:99"):  # the last chunk runs past the end: clipped
        res = integrate_stack([sim.stack], sim.poni, settings, dataset=DS, frame_range=parse_frame_range(rng))
        chunks.append(write_integrated(res, out / f"chunk-{rng.replace(':', '-')}.nxs"))
    return sim, out, full, chunks


def _read(path, name):
    with h5py.File(path) as h5:
        return h5[f"entry/integrated/{name}"][()]


def test_chunks_carry_global_frame_numbers(stack):
    _, _, _, chunks = stack
    assert [list(_read(c, "frame_index")) for c in chunks] == [[0, 1, 2], [3, 4], [5, 6]]
    with h5py.File(chunks[2]) as h5:
        params = json.loads(h5["entry/reduction/input/config"][()])
    assert params["frame_range"] == [5, 7]


def test_merge_equals_unscattered_integration(stack, tmp_path):
    _, _, full, chunks = stack
    merged = merge_chunks(list(reversed(chunks)), tmp_path / "merged.nxs")  # any order: sorted by frame
    for name in ("I", "I_errors", "frame_index", "radial_axis"):
        assert np.array_equal(_read(merged, name), _read(full, name)), name
    with h5py.File(merged) as h5:
        assert h5["entry/integrated"].attrs["signal"] == "I"
        assert h5["entry/instrument/monochromator/wavelength"][()] == pytest.approx(1.0)
        params = json.loads(h5["entry/reduction/input/config"][()])
    assert params["frame_range"] == [0, 7] and len(params["merged_chunks"]) == 3


def test_merge_refuses_overlap_and_other_bins(stack, tmp_path):
    sim, out, full, chunks = stack
    with pytest.raises(InputError, match="overlap"):
        merge_chunks([chunks[0], full], tmp_path / "x.nxs")
    other = write_integrated(integrate_stack([sim.stack], sim.poni, IntegrationSettings(npt=400), dataset=DS,
                                             frame_range=(3, 5)), tmp_path / "other.nxs")
    with pytest.raises(InputError, match="other bins"):
        merge_chunks([chunks[0], other], tmp_path / "x.nxs")
    assert not (tmp_path / "x.nxs").exists()


@pytest.mark.parametrize("text, words", [("a:b", "not START:STOP"), ("7:", "outside the stack"),
                                         ("4:2", "empty frame range")])
def test_bad_frame_range_is_one_line(stack, tmp_path, text, words):
    sim = stack[0]
    proc = subprocess.run([sys.executable, "-m", "panosc_cwl", "powder", "integrate1d", "-q", "--frames", str(sim.stack),
                           "--dataset", DS, "--poni", str(sim.poni), "-o", str(tmp_path / "o.nxs"),
                           "--frame-range", text], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("panosc-cwl: error: frame_range: ") and words in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_merge_cli(stack, tmp_path):
    _, _, full, chunks = stack
    out = tmp_path / "m.nxs"
    proc = subprocess.run([sys.executable, "-m", "panosc_cwl", "powder", "merge", *map(str, chunks), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(_read(out, "I"), _read(full, "I"))
    proc = subprocess.run([sys.executable, "-m", "panosc_cwl", "powder", "merge", str(chunks[0]), "-o", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "exists" in proc.stderr


def test_merge_of_cake_chunks_equals_unscattered_cake(stack, tmp_path):
    """2D cakes (NXazint2d) merge the same way: azimuthal axis kept, frames concatenated."""
    sim = stack[0]
    settings = IntegrationSettings(npt=200, npt_azim=18)
    full = write_integrated(integrate_stack([sim.stack], sim.poni, settings, dataset=DS, dims=2), tmp_path / "full.nxs")
    chunks = [write_integrated(integrate_stack([sim.stack], sim.poni, settings, dataset=DS, dims=2, frame_range=r),
                               tmp_path / f"c{r[0]}.nxs") for r in ((0, 4), (4, None))]
    merged = merge_chunks(chunks, tmp_path / "merged.nxs")
    for name in ("I", "I_errors", "frame_index", "radial_axis", "azimuthal_axis"):
        assert np.array_equal(_read(merged, name), _read(full, name)), name
    with h5py.File(merged) as h5:
        assert h5["entry/definition"][()] == b"NXazint2d" and _read(merged, "I").shape == (7, 18, 200)
