"""Sample data from physics: powder-diffraction frames simulated with pyFAI's own calibrants.

No downloads: pyFAI ships the d-spacings of standard calibrants (CeO2, LaB6, Si...) and can
render their Debye-Scherrer rings on any detector geometry. We add what a real measurement has:
a flat background, a beam-intensity drift between frames, Poisson counting noise, integer
counts, and the detector's module gaps written as the dummy value -1 (as Pilatus/Eiger do).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .exceptions import InputError, OutputExistsError
from .iorw import atomic_path, new_nexus_file, now_iso, set_attrs

DUMMY = -1


def calibrant_names() -> list[str]:
    import pyFAI.calibrant

    return sorted(pyFAI.calibrant.CALIBRANT_FACTORY.keys())


def get_calibrant(name: str, wavelength: float):
    """pyFAI calibrant ``name`` set to ``wavelength`` (m); unknown names raise an InputError."""
    import pyFAI.calibrant

    if name not in pyFAI.calibrant.CALIBRANT_FACTORY:
        close = [n for n in calibrant_names() if n.lower() == name.lower()]
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(f"unknown calibrant '{name}'{hint}", field="calibrant")
    cal = pyFAI.calibrant.get_calibrant(name)
    cal.wavelength = wavelength
    return cal


def get_detector(name: str):
    """pyFAI detector by name (case-insensitive); unknown names raise an InputError with suggestions."""
    import difflib

    import pyFAI.detectors

    known = pyFAI.detectors.ALL_DETECTORS
    if name.lower() not in known and name.lower().replace(" ", "") not in known:
        close = difflib.get_close_matches(name.lower(), list(known), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InputError(f"unknown detector '{name}'{hint}", field="detector")
    try:
        return pyFAI.detectors.detector_factory(name)
    except Exception:
        raise InputError(f"unknown detector '{name}'", field="detector") from None


@dataclass
class PowderSimulation:
    """What a simulated powder measurement is made of (all lengths in metres)."""

    calibrant: str = "CeO2"
    detector: str = "Pilatus1M"
    n_frames: int = 10
    wavelength: float = 1.0e-10
    distance: float = 0.1
    rot1: float = 0.0
    rot2: float = 0.0
    beam_center_fraction: tuple[float, float] = (0.5, 0.5)
    imax: float = 2000.0
    background: float = 20.0
    resolution_deg: float = 0.03
    drift: float = 0.05
    seed: int = 0
    name: str = field(default="")

    def basename(self) -> str:
        return self.name or f"{self.calibrant.lower()}"


@dataclass
class SimulatedPowder:
    """Paths written by :func:`simulate_powder`."""

    stack: Path
    dataset: str
    poni: Path
    edf: list[Path]
    tiff: list[Path]
    truth: dict


def make_geometry(sim: PowderSimulation):
    """The pyFAI AzimuthalIntegrator of the simulated experiment."""
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    det = get_detector(sim.detector)
    if sim.wavelength <= 0 or sim.distance <= 0:
        raise InputError("wavelength and distance must be positive", field="geometry")
    poni1 = det.shape[0] * det.pixel1 * sim.beam_center_fraction[0]
    poni2 = det.shape[1] * det.pixel2 * sim.beam_center_fraction[1]
    return AzimuthalIntegrator(
        dist=sim.distance, poni1=poni1, poni2=poni2, rot1=sim.rot1, rot2=sim.rot2,
        detector=det, wavelength=sim.wavelength,
    )


def simulate_frames(sim: PowderSimulation) -> tuple[np.ndarray, object, np.ndarray]:
    """Return ``(frames int32 (N, y, x), integrator, per-frame beam scale)``."""
    if sim.n_frames < 1:
        raise InputError("need at least one frame", field="frames")
    ai = make_geometry(sim)
    cal = get_calibrant(sim.calibrant, sim.wavelength)
    rings = cal.fake_calibration_image(ai, Imax=sim.imax, resolution=sim.resolution_deg)
    rng = np.random.default_rng(sim.seed)
    scale = 1.0 + sim.drift * np.sin(np.linspace(0, np.pi, sim.n_frames)) - sim.drift / 2
    mask = ai.detector.mask
    frames = np.empty((sim.n_frames,) + rings.shape, dtype=np.int32)
    for i in range(sim.n_frames):
        expected = scale[i] * (rings + sim.background)
        frames[i] = rng.poisson(expected)
        if mask is not None:
            frames[i][mask.astype(bool)] = DUMMY
    return frames, ai, scale


def simulate_powder(
    outdir: str | Path,
    sim: PowderSimulation | None = None,
    *,
    edf_frames: int = 1,
    tiff_frames: int = 1,
    overwrite: bool = False,
) -> SimulatedPowder:
    """Write a simulated powder measurement into ``outdir``.

    Files: ``NAME.poni`` (geometry), ``NAME.h5`` (NeXus, all frames in ``/entry/data/data``),
    ``NAME_0000.edf``... and ``NAME_0000.tif``... (single frames through fabio), and
    ``NAME_truth.json`` (the simulation parameters, for tests and for checking results).
    """
    import fabio.edfimage
    import fabio.tifimage
    import h5py
    import pyFAI

    sim = sim or PowderSimulation()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    base = sim.basename()
    stack_path = out / f"{base}.h5"
    poni_path = out / f"{base}.poni"
    edf_paths = [out / f"{base}_{i:04d}.edf" for i in range(min(edf_frames, sim.n_frames))]
    tif_paths = [out / f"{base}_{i:04d}.tif" for i in range(min(tiff_frames, sim.n_frames))]
    truth_path = out / f"{base}_truth.json"
    if not overwrite:
        for p in [stack_path, poni_path, truth_path, *edf_paths, *tif_paths]:
            if p.exists():
                raise OutputExistsError(f"{p} exists; refusing to overwrite it (use --overwrite)", field="outdir")

    frames, ai, scale = simulate_frames(sim)
    dataset = "/entry/data/data"

    with atomic_path(poni_path, overwrite=True) as tmp:
        ai.write(str(tmp))  # pyFAI appends to an existing PONI: the temp path is always new
    with atomic_path(stack_path, overwrite=True) as tmp:
        with h5py.File(tmp, "w") as h5:
            entry = new_nexus_file(h5, title=f"Simulated {sim.calibrant} powder diffraction, {sim.detector}")
            entry.attrs["default"] = "data"
            entry.create_dataset("start_time", data=now_iso())
            data = entry.create_group("data")
            set_attrs(data, NX_class="NXdata", signal="data", interpretation="image")
            ds = data.create_dataset(
                "data", data=frames, chunks=(1,) + frames.shape[1:], compression="gzip", compression_opts=1
            )
            set_attrs(ds, units="counts", interpretation="image")
            inst = entry.create_group("instrument")
            inst.attrs["NX_class"] = "NXinstrument"
            detg = inst.create_group("detector")
            detg.attrs["NX_class"] = "NXdetector"
            detg.create_dataset("description", data=sim.detector)
            d = detg.create_dataset("distance", data=sim.distance)
            d.attrs["units"] = "m"
            for key, val in (("x_pixel_size", ai.detector.pixel2), ("y_pixel_size", ai.detector.pixel1)):
                detg.create_dataset(key, data=val).attrs["units"] = "m"
            mono = inst.create_group("monochromator")
            mono.attrs["NX_class"] = "NXmonochromator"
            mono.create_dataset("wavelength", data=sim.wavelength * 1e10).attrs["units"] = "angstrom"
            mon = entry.create_group("monitor")
            set_attrs(mon, NX_class="NXmonitor")
            mon.create_dataset("data", data=scale).attrs["units"] = "relative beam intensity"
            sample = entry.create_group("sample")
            sample.attrs["NX_class"] = "NXsample"
            sample.create_dataset("name", data=sim.calibrant)
            sample.create_dataset("description", data="simulated with pyFAI " + pyFAI.version)
    for i, p in enumerate(edf_paths):
        with atomic_path(p, overwrite=True) as tmp:
            fabio.edfimage.EdfImage(data=frames[i], header={"calibrant": sim.calibrant}).write(str(tmp))
    for i, p in enumerate(tif_paths):
        with atomic_path(p, overwrite=True) as tmp:
            fabio.tifimage.TifImage(data=frames[i]).write(str(tmp))

    cal = get_calibrant(sim.calibrant, sim.wavelength)
    truth = {
        "calibrant": sim.calibrant,
        "detector": sim.detector,
        "wavelength_m": sim.wavelength,
        "distance_m": sim.distance,
        "n_frames": sim.n_frames,
        "frame_shape": list(frames.shape[1:]),
        "beam_scale": scale.tolist(),
        "background": sim.background,
        "imax": sim.imax,
        "resolution_deg": sim.resolution_deg,
        "seed": sim.seed,
        "two_theta_deg": [float(np.degrees(t)) for t in cal.get_2th()],
        "pyfai_version": pyFAI.version,
        "poni": json.loads(json.dumps(ai.get_config(), default=str)),
    }
    with atomic_path(truth_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(truth, indent=1))
    return SimulatedPowder(stack_path, dataset, poni_path, edf_paths, tif_paths, truth)
