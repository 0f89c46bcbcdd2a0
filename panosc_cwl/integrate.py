"""Azimuthal integration of powder frames with pyFAI, written as NeXus.

pyFAI does the physics (:meth:`AzimuthalIntegrator.integrate1d` / ``integrate2d``); this module
only adapts inputs (PONI file, frames from HDF5/EDF/TIFF, mask/dark/flat) and writes one NeXus
file holding every frame of the stack, integrated in this one process.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exceptions import InputError
from .iorw import (
    atomic_path, describe_frames, iter_frame_range, iter_frames, prefetched, read_image, require_file, set_attrs,
)
from .nxazint import PYFAI_WRITER_UNITS, Facility, complete_entry, write_skeleton

from .units import ERROR_MODELS, METHODS, UNITS  # noqa: E402  (light module, also used by the CLI)

DEFAULT_METHOD = METHODS["csr"]


def load_integrator(poni: str | Path):
    """Load a PONI geometry file; errors name the file."""
    from pyFAI import load

    path = require_file(poni, "poni")
    try:
        ai = load(str(path))
    except Exception as exc:
        raise InputError(f"cannot read PONI geometry {path.name}: {exc}", field="poni") from None
    if ai.wavelength is None or ai.wavelength <= 0:
        raise InputError(f"{path.name} has no wavelength (needed for 2θ/q)", field="poni")
    return ai


def usable_method(method: tuple[str, str, str]) -> tuple[str, str, str]:
    """``method``, or its CPU (cython) twin when it asks for OpenCL and no OpenCL device exists.

    pyFAI's own fallback picks a much slower engine; on a GPU-less node we want the CPU CSR engine.
    """
    if method[2] != "opencl":
        return method
    try:
        from pyFAI.opencl import ocl

        if ocl is not None and ocl.platforms:
            return method
    except Exception:
        pass
    return (method[0], method[1], "cython")


def check_unit(unit: str) -> tuple[str, str]:
    if unit not in UNITS:
        import difflib

        close = difflib.get_close_matches(unit, list(UNITS), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(f"unknown unit '{unit}'{hint}; choose one of {', '.join(UNITS)}", field="unit")
    return UNITS[unit]


@dataclass
class IntegrationSettings:
    """Everything that decides the numbers of an integration (stored in the output's NXprocess)."""

    npt: int = 1000
    unit: str = "2th_deg"
    npt_azim: int = 360
    polarization_factor: float | None = None
    error_model: str = "poisson"
    method: tuple[str, str, str] = DEFAULT_METHOD
    radial_range: tuple[float, float] | None = None
    azimuth_range: tuple[float, float] | None = None

    def check(self) -> None:
        check_unit(self.unit)
        if self.npt < 2:
            raise InputError(f"number of bins must be >= 2, got {self.npt}", field="npt")
        if self.npt_azim < 1:
            raise InputError(f"number of azimuthal bins must be >= 1, got {self.npt_azim}", field="npt_azim")
        if self.error_model not in ERROR_MODELS:
            raise InputError(f"unknown error model '{self.error_model}'; choose {', '.join(ERROR_MODELS)}",
                             field="error_model")
        if self.polarization_factor is not None and not -1.0 <= self.polarization_factor <= 1.0:
            raise InputError(f"polarization factor must be in [-1, 1], got {self.polarization_factor}",
                             field="polarization_factor")


@dataclass
class StackResult:
    """Integrated intensities of a whole stack: ``intensity[frame, (azimuth,) radial]``."""

    radial: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray | None
    azimuthal: np.ndarray | None
    settings: IntegrationSettings
    method: str
    sources: list
    #: the pyFAI AzimuthalIntegrator (geometry) the frames were integrated with
    integrator: object
    #: global index of the first frame (non-zero for a chunk integrated with ``frame_range``)
    first_frame: int = 0
    #: pyFAI's result object of the first frame (its flags and pixel counts go into the NeXus file)
    first: object | None = None


def integrate_stack(
    frames: Sequence[str | Path],
    poni: str | Path | None,
    settings: IntegrationSettings,
    *,
    dataset: str | None = None,
    mask: str | Path | np.ndarray | None = None,
    dark: str | Path | np.ndarray | None = None,
    flat: str | Path | np.ndarray | None = None,
    dims: int = 1,
    progress: Callable[[int, int], None] | None = None,
    frame_range: tuple[int, int | None] | None = None,
    prefetch: int = 3,
) -> StackResult:
    """Integrate every frame of ``frames`` (1D pattern or 2D cake) in this process.

    The geometry and pixel look-up tables are built once on the first frame; later frames reuse
    them, so the per-frame cost is pyFAI's own integration cost. ``poni`` is a PONI file, an
    AzimuthalIntegrator (e.g. from a pyFAI-integrate JSON), or None for an NXmx master file's own
    geometry; an NXmx pixel mask is added to ``mask``.
    """
    from .frames import nxmx_integrator, nxmx_pixel_mask

    settings.check()
    sources = describe_frames(frames, dataset)
    shape = sources[0].shape
    if poni is None:
        if sources[0].dataset is None:
            raise InputError("no geometry: give a PONI file (or an NXmx master file, which carries one)", field="poni")
        ai = nxmx_integrator(sources[0].path, shape)
    else:
        ai = poni if hasattr(poni, "integrate1d") else load_integrator(poni)
    if ai.detector.shape is not None and tuple(ai.detector.shape) != tuple(shape):
        raise InputError(
            f"frames are {shape[0]}x{shape[1]} but the PONI detector ({ai.detector.name}) is "
            f"{ai.detector.shape[0]}x{ai.detector.shape[1]}", field="poni")
    extra: dict = {}
    for key, path in (("mask", mask), ("dark", dark), ("flat", flat)):
        if path is not None:
            img = np.asarray(path) if isinstance(path, np.ndarray) else read_image(path, key)
            if img.shape != tuple(shape):
                raise InputError(f"{key} image is {img.shape}, frames are {tuple(shape)}", field=key)
            extra[key] = img
    pixel_mask = nxmx_pixel_mask(sources[0].path) if sources[0].dataset is not None else None
    if pixel_mask is not None and pixel_mask.shape == tuple(shape):
        extra["mask"] = pixel_mask if "mask" not in extra else (pixel_mask | (extra["mask"] != 0))
    n_total = sum(s.n_frames for s in sources)
    start = 0
    if frame_range is not None:  # one chunk of a scattered run: frames [start, stop) of all inputs
        start, stop = check_frame_range(frame_range, n_total)
        n_total = stop - start
    kwargs = dict(
        unit=settings.unit, method=usable_method(settings.method), dummy=-1, delta_dummy=0.5,
        polarization_factor=settings.polarization_factor,
        error_model=None if settings.error_model == "none" else settings.error_model,
        radial_range=settings.radial_range, **extra,
        **({"azimuth_range": settings.azimuth_range} if settings.azimuth_range else {}),
    )
    intens = sigma = first = None
    azim = radial = None
    method = ""
    frames_iter = iter_frames(sources) if frame_range is None else iter_frame_range(sources, start, start + n_total)
    if prefetch:
        frames_iter = prefetched(frames_iter, prefetch)
    for i, frame in enumerate(frames_iter):
        if dims == 1:
            res = ai.integrate1d(frame, settings.npt, **kwargs)
        else:
            res = ai.integrate2d(frame, settings.npt, settings.npt_azim, **kwargs)
        if intens is None:
            first = res
            radial = np.asarray(res.radial)
            azim = None if dims == 1 else np.asarray(res.azimuthal)
            intens = np.empty((n_total,) + np.shape(res.intensity), dtype=np.float64)
            if res.sigma is not None:
                sigma = np.empty_like(intens)
            method = str(res.method)
        intens[i] = res.intensity
        if sigma is not None:
            sigma[i] = res.sigma
        if progress:
            progress(i + 1, n_total)
    return StackResult(radial, intens, sigma, azim, settings, method, sources, ai, first_frame=start, first=first)


def parse_frame_range(text: str) -> tuple[int, int | None]:
    """``START:STOP`` (0-based, STOP excluded, STOP may be empty for "to the end") as numbers."""
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d*)\s*", text or "")
    if not m:
        raise InputError(f"'{text}' is not START:STOP (0-based frame numbers, STOP excluded)", field="frame_range")
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None


def check_frame_range(frame_range: tuple[int, int | None], n_total: int) -> tuple[int, int]:
    """The range clipped to the stack; STOP past the end is allowed (the last chunk), START is not."""
    start, stop = frame_range
    stop = n_total if stop is None else min(stop, n_total)
    if start < 0 or start >= n_total:
        raise InputError(f"first frame {start} is outside the stack (frames 0 to {n_total - 1})", field="frame_range")
    if stop <= start:
        raise InputError(f"empty frame range {start}:{stop}", field="frame_range")
    return start, stop


def integration_parameters(result: StackResult) -> dict:
    """Every setting that decides the numbers, as JSON-able data (stored in ``reduction/input/config``)."""
    n = result.intensity.shape[0]
    return {
        "poni": json.loads(json.dumps(result.integrator.get_config(), default=str)),
        "npt": result.settings.npt,
        "npt_azim": result.settings.npt_azim if result.azimuthal is not None else None,
        "unit": result.settings.unit,
        "polarization_factor": result.settings.polarization_factor,
        "error_model": result.settings.error_model,
        "azimuth_range": list(result.settings.azimuth_range) if result.settings.azimuth_range else None,
        "method": result.method,
        "inputs": [{"file": s.path.name, "dataset": s.dataset, "frames": s.n_frames} for s in result.sources],
        "frame_range": [result.first_frame, result.first_frame + n],
    }


def write_integrated(result: StackResult, output: str | Path, *, overwrite: bool = False,
                     facility: Facility | None = None) -> Path:
    """Write a :class:`StackResult` as NeXus NXazint1d (1D) / NXazint2d (2D), atomically.

    1D patterns in 2θ (deg) or q (1/Å) go through pyFAI's own writer (``save_NXazint1d``); the
    other cases start from the same skeleton. :func:`panosc_cwl.nxazint.complete_entry` then
    stores the whole stack (``/entry/integrated``), the uncertainties and the process record.
    """
    import h5py

    facility = facility or Facility.from_frames(result.sources)
    with atomic_path(output, overwrite=overwrite) as tmp:
        if result.azimuthal is None and result.settings.unit in PYFAI_WRITER_UNITS and result.first is not None:
            from pyFAI.io.nexus import save_NXazint1d

            track_order = h5py.get_config().track_order  # the writer switches it on for the whole process
            try:
                save_NXazint1d(str(tmp), [result.first], mode="w", entry="entry", instrument=facility.instrument,
                               source_name=facility.source_name, source_type=facility.source_type,
                               source_probe=facility.probe, sample=facility.sample)
            finally:
                h5py.get_config().track_order = track_order
        else:
            with h5py.File(tmp, "w") as h5:
                write_skeleton(h5, result, facility)
        with h5py.File(tmp, "a") as h5:
            from . import __version__

            set_attrs(h5, creator=f"panosc-cwl {__version__} (pyFAI NeXus writer)", file_name=Path(output).name)
            complete_entry(h5, result, integration_parameters(result), facility)
    return Path(output)
