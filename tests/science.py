"""Science checks shared by the tests that run the powder workflow (imported as ``science``: pytest
puts this folder on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from panosc_cwl.powder import expected_positions, peak_offsets


def check_powder_outputs(outdir: Path, frames: int) -> None:
    """A powder-xrd run's outputs hold a CeO2 pattern: at least 8 rings found within 2 degrees
    of where CeO2 at the recorded wavelength puts them, a positive total for each of ``frames``
    frames, and a real PNG plot of it."""
    with h5py.File(outdir / "reduced.nxs") as h5:
        mean = h5["entry/mean"]
        radial, intensity = mean["two_theta"][()], mean["I"][()]
        wavelength = h5["entry/instrument/monochromator/wavelength"][()] * 1e-10
        totals = h5["entry/frame_total/total"][()]
    positions, offsets = peak_offsets(radial, intensity, expected_positions("CeO2", wavelength, "2th_deg"))
    assert len(positions) >= 8
    assert np.all(np.isfinite(offsets)) and np.abs(offsets).max() <= 2
    assert totals.shape == (frames,) and np.all(totals > 0)
    png = (outdir / "pattern.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000
