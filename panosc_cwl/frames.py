"""Detector frames as beamlines write them: NXmx master files, Bliss VDS scans, compressed HDF5.

A DECTRIS Eiger / PSI Jungfrau writes ``NAME_master.h5`` (geometry, pixel mask) whose
``/entry/data/data_000001 ... data_00000N`` are HDF5 *external links* into ``NAME_data_00000N.h5``;
an ESRF Bliss scan file holds the detector as an HDF5 *virtual dataset* (VDS) over LImA's per-chunk
files. h5py follows both, but a missing linked file is an unreadable object (external link) or,
worse, silently the fill value (VDS). This module finds the frames in such files, lists the files
they point to (for staging and pre-flight checks), registers the compression filters
(``hdf5plugin``: bitshuffle-LZ4, LZ4, zstd, Blosc), and reads the geometry and gap mask that NXmx
metadata carry, so a master file alone is enough to integrate.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exceptions import InputError

#: NXmx data links: ``/entry/data/data_000001`` ... (DECTRIS SIMPLON file writer names)
NXMX_LINK = re.compile(r"^data_(\d{6})$")
#: value written for pixels without data (gaps, dead, masked): ``-1`` after :func:`flag_pixels`
DUMMY = -1

_FILTERS = False


def register_filters() -> None:
    """Make HDF5 able to decode bitshuffle-LZ4, LZ4, zstd, Blosc... (importing hdf5plugin registers them)."""
    global _FILTERS
    if not _FILTERS:
        import hdf5plugin  # noqa: F401  (registration is the side effect)

        _FILTERS = True


# ------------------------------------------------------------------ what a file points to
@dataclass(frozen=True)
class LinkedFile:
    """A file an HDF5 file needs: the target of an external link or the source of a virtual dataset."""

    obj: str  # path of the link / virtual dataset inside the referring file
    file: Path  # where HDF5 will look for it (relative names are relative to the referring file's folder)
    kind: str  # "external link" or "VDS source"

    @property
    def exists(self) -> bool:
        return self.file.is_file()


def _resolve(referrer: Path, name: str) -> Path:
    p = Path(name)
    return p if p.is_absolute() else referrer.parent / p


def linked_files(path: str | os.PathLike) -> list[LinkedFile]:
    """Every external-link target and VDS source file of ``path`` (not followed further), in file order.

    Links are listed without opening their targets, so a missing target is reported, not raised.
    """
    import h5py

    register_filters()
    path = Path(path)
    found: list[LinkedFile] = []
    seen: set[tuple[str, str]] = set()
    with h5py.File(path, "r") as h5:
        def visit(name: str, link) -> None:
            if isinstance(link, h5py.ExternalLink):
                key = (name, link.filename)
                if key not in seen:
                    seen.add(key)
                    found.append(LinkedFile("/" + name, _resolve(path, link.filename), "external link"))
            elif isinstance(link, h5py.HardLink):
                obj = h5.get(name)
                if isinstance(obj, h5py.Dataset) and obj.is_virtual:
                    for src in obj.virtual_sources():
                        if src.file_name == ".":
                            continue  # a source inside the same file
                        key = (name, src.file_name)
                        if key not in seen:
                            seen.add(key)
                            found.append(LinkedFile("/" + name, _resolve(path, src.file_name), "VDS source"))

        h5.visititems_links(visit)
    return found


def missing_links(path: str | os.PathLike) -> list[LinkedFile]:
    """The linked files of ``path`` that do not exist (what would fail, or read as fill values, later)."""
    return [lf for lf in linked_files(path) if not lf.exists]


def missing_link_message(path: Path, missing: list[LinkedFile]) -> str:
    """One line naming the first missing file (and how many more), for errors and pre-flight checks."""
    first = missing[0]
    more = f" (and {len(missing) - 1} more missing)" if len(missing) > 1 else ""
    return f"{first.kind} {first.obj} of {path.name} points to {first.file.name}, which is not there{more}"


def check_links(path: Path, dataset: str | None = None, field: str = "frames") -> None:
    """Raise an InputError naming the missing file if ``dataset`` (or any frame data) lacks its linked file."""
    missing = [m for m in missing_links(path) if dataset is None or m.obj == dataset or dataset.startswith(m.obj + "/")]
    if missing:
        raise InputError(missing_link_message(path, missing), field=field)


# ------------------------------------------------------------------ finding the frames
def _nx_class(obj) -> str:
    val = obj.attrs.get("NX_class", b"")
    return val.decode() if isinstance(val, bytes) else str(val)


def _attr(obj, key: str) -> str | None:
    val = obj.attrs.get(key)
    if val is None:
        return None
    if isinstance(val, bytes):
        return val.decode()
    if isinstance(val, np.ndarray):
        return str(val.flat[0]) if val.size else None
    return str(val)


def find_frame_datasets(h5) -> list[str]:
    """Dataset paths holding the frames of a NeXus/NXmx/Bliss file, in acquisition order; [] if unknown.

    In this order: the NXmx links ``/entry/data/data_NNNNNN`` (all of them, sorted by number, which is
    the order of the series); the NXdata ``signal`` reached by the ``default`` attributes; the ``data``
    of the NXdetector groups of every NXentry (a Bliss scan's virtual dataset), if exactly one exists.
    """
    import h5py

    grp = h5.get("/entry/data")
    if isinstance(grp, h5py.Group):
        names = sorted((n for n in grp if NXMX_LINK.match(n)), key=lambda n: int(NXMX_LINK.match(n).group(1)))
        if names:
            return [f"/entry/data/{n}" for n in names]
    entry = h5.get(_attr(h5, "default") or "")
    if isinstance(entry, h5py.Group):
        data = entry.get(_attr(entry, "default") or "")
        if isinstance(data, h5py.Group) and _nx_class(data) == "NXdata":
            signal = data.get(_attr(data, "signal") or "")
            if isinstance(signal, h5py.Dataset) and signal.ndim in (2, 3):
                return [signal.name]
    found = []
    for ename in h5:
        ent = h5.get(ename)
        if not isinstance(ent, h5py.Group) or _nx_class(ent) != "NXentry":
            continue
        inst = ent.get("instrument")
        if not isinstance(inst, h5py.Group):
            continue
        for dname in inst:
            det = inst.get(dname)
            if isinstance(det, h5py.Group) and _nx_class(det) == "NXdetector":
                ds = det.get("data")
                if isinstance(ds, h5py.Dataset) and ds.ndim == 3 and ds.dtype.kind in "iuf":
                    found.append(ds.name)
    return found if len(found) == 1 else []


def frame_sources(path: Path, dataset: str | None) -> list:
    """The :class:`~panosc_cwl.iorw.FrameSource` of each frame dataset of one HDF5 file (errors name the file)."""
    import h5py

    from .iorw import FrameSource, _hdf5_datasets

    register_filters()
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"cannot open {path} as HDF5 ({exc.__class__.__name__})", field="frames") from None
    with h5:
        if dataset:
            names = [dataset]
            link = h5.get(dataset, getlink=True)  # None if absent; a dangling external link is still a link
            if isinstance(link, h5py.ExternalLink) and not _resolve(path, link.filename).is_file():
                check_links(path, dataset)
            if dataset not in h5:
                avail = ", ".join((find_frame_datasets(h5) or _hdf5_datasets(h5))[:5]) or "none"
                raise InputError(f"'{dataset}' not found in {path.name} (datasets with frames: {avail})",
                                 field="dataset")
        else:
            names = find_frame_datasets(h5)
            if not names:
                raise InputError(f"{path.name} is HDF5: give the dataset path of the frames (no NXmx /entry/data "
                                 "links, NXdata signal or single NXdetector data found)", field="dataset")
            check_links(path, None)
        sources = []
        for name in names:
            check_links(path, name)
            ds = h5[name]
            if not hasattr(ds, "shape"):
                raise InputError(f"'{name}' in {path.name} is a group, not a dataset", field="dataset")
            if ds.ndim == 2:
                n, shape = 1, ds.shape
            elif ds.ndim == 3:
                n, shape = ds.shape[0], ds.shape[1:]
            else:
                raise InputError(f"'{name}' in {path.name} has shape {ds.shape}: expected frames (N, y, x) or (y, x)",
                                 field="dataset")
            if not np.issubdtype(ds.dtype, np.number):
                raise InputError(f"'{name}' in {path.name} is not numeric ({ds.dtype})", field="dataset")
            sources.append(FrameSource(path, name, int(n), tuple(int(s) for s in shape)))
    return sources


# ------------------------------------------------------------------ flagged pixels
def flagged_value(dtype: np.dtype) -> int | None:
    """The value detectors write in gap/dead pixels of integer images: the type's maximum (None for floats)."""
    dtype = np.dtype(dtype)
    return int(np.iinfo(dtype).max) if dtype.kind in "iu" else None


def flag_pixels(frame: np.ndarray) -> np.ndarray:
    """``frame`` with the pixels at the type's maximum set to the dummy value -1 (which pyFAI skips).

    Unsigned frames become float32 (pyFAI's own working type); others are returned as they are
    when nothing is flagged.
    """
    top = flagged_value(frame.dtype)
    if top is None:
        return frame
    bad = frame == top
    if not bad.any():
        return frame
    out = frame.astype(np.float32)
    out[bad] = DUMMY
    return out


# ------------------------------------------------------------------ NXmx geometry and mask
def _first(h5, *paths: str):
    for p in paths:
        obj = h5.get(p)
        if obj is not None:
            return obj
    return None


def _value_si(ds, default_unit: str) -> float:
    """A scalar dataset in SI (m), honouring its ``units`` attribute."""
    value = float(np.asarray(ds[()]).ravel()[0])
    unit = (_attr(ds, "units") or default_unit).strip().lower()
    factor = {"m": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "micron": 1e-6, "nm": 1e-9,
              "angstrom": 1e-10, "a": 1e-10, "å": 1e-10}.get(unit)
    if factor is None:
        raise InputError(f"{ds.name}: unknown unit '{unit}'", field="frames")
    return value * factor


DET = "/entry/instrument/detector"


def nxmx_pixel_mask(path: str | os.PathLike) -> np.ndarray | None:
    """The detector's pixel mask (non-zero = gap, dead, noisy...) from an NXmx file, or None."""
    import h5py

    with h5py.File(path, "r") as h5:
        ds = _first(h5, f"{DET}/detectorSpecific/pixel_mask", f"{DET}/detector_specific/pixel_mask",
                    f"{DET}/pixel_mask")
        return None if ds is None else np.asarray(ds[()]) != 0


def nxmx_integrator(path: str | os.PathLike, shape: tuple[int, int]):
    """A pyFAI AzimuthalIntegrator from NXmx metadata (distance, pixel sizes, beam centre, wavelength).

    The detector is taken flat and perpendicular to the beam (NXmx beam centre = point of normal
    incidence), which is how DECTRIS files describe it; a calibrated PONI is better when there is one.
    """
    import h5py
    from pyFAI.detectors import Detector
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    p = Path(path)
    with h5py.File(p, "r") as h5:
        need = {
            "distance": (f"{DET}/distance", f"{DET}/detector_distance"),
            "x_pixel_size": (f"{DET}/x_pixel_size",),
            "y_pixel_size": (f"{DET}/y_pixel_size",),
            "beam_center_x": (f"{DET}/beam_center_x",),
            "beam_center_y": (f"{DET}/beam_center_y",),
            "incident_wavelength": ("/entry/instrument/beam/incident_wavelength",
                                    "/entry/instrument/monochromator/wavelength"),
        }
        found = {k: _first(h5, *v) for k, v in need.items()}
        absent = [k for k, v in found.items() if v is None]
        if absent:
            raise InputError(f"{p.name} has no PONI-equivalent geometry ({', '.join(absent)} missing): give --poni",
                             field="poni")
        dist = _value_si(found["distance"], "m")
        px = _value_si(found["x_pixel_size"], "m")
        py = _value_si(found["y_pixel_size"], "m")
        bx = float(np.asarray(found["beam_center_x"][()]).ravel()[0])  # pixels
        by = float(np.asarray(found["beam_center_y"][()]).ravel()[0])
        wl = _value_si(found["incident_wavelength"], "angstrom")
        desc = _first(h5, f"{DET}/description")
        name = desc[()].decode() if desc is not None and isinstance(desc[()], bytes) else "NXmx detector"
    if min(dist, px, py, wl) <= 0:
        raise InputError(f"{p.name}: distance, pixel sizes and wavelength must be positive", field="poni")
    det = Detector(pixel1=py, pixel2=px, max_shape=tuple(shape))
    det.aliases = [name]
    # pyFAI's PONI is measured from the detector corner, in metres; NXmx gives the centre in pixels
    return AzimuthalIntegrator(dist=dist, poni1=by * py, poni2=bx * px, detector=det, wavelength=wl)
