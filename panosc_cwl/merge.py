"""Merge integrated chunks (``integrate1d/2d --frame-range``) back into one stack file.

A scattered workflow integrates frame chunks as separate jobs; downstream steps (reduce, plot)
want the one file a single integration would have written. The merged file has the layout of
:func:`panosc_cwl.integrate.write_integrated`: the chunks' ``/entry/integrated`` NXdata
concatenated along the frame axis, instrument and NXprocess copied from the first chunk (plus
the list of chunks merged), so the numbers are exactly those of an unscattered run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exceptions import InputError
from .iorw import atomic_path, now_iso, open_hdf5, write_nxdata


@dataclass
class Chunk:
    """The integrated data of one chunk file, as read back."""

    path: Path
    frame_index: np.ndarray
    axes: list[tuple[str, np.ndarray, str]]  # the non-frame axes: (name, values, units)
    intensity: np.ndarray
    sigma: np.ndarray | None
    long_name: str
    interpretation: str | None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_chunk(path: str | Path) -> Chunk:
    """Read ``/entry/integrated`` of one chunk; errors name the file."""
    p = Path(path)
    with open_hdf5(p, "chunks") as h5:
        if "entry/integrated" not in h5:
            raise InputError(f"{p.name} has no /entry/integrated (not written by integrate1d/2d)", field="chunks")
        grp = h5["entry/integrated"]
        axes = [_text(a) for a in grp.attrs["axes"]]
        if axes[0] != "frame_index":
            raise InputError(f"{p.name}: first axis is '{axes[0]}', expected frame_index", field="chunks")
        signal = _text(grp.attrs["signal"])
        ds = grp[signal]
        others = [(a, grp[a][()], _text(grp[a].attrs.get("units", ""))) for a in axes[1:]]
        sigma = grp[f"{signal}_errors"][()] if f"{signal}_errors" in grp else None
        interp = ds.attrs.get("interpretation")
        return Chunk(p, grp["frame_index"][()], others, ds[()], sigma, _text(ds.attrs.get("long_name", signal)),
                     _text(interp) if interp is not None else None)


def merge_chunks(chunks: Sequence[str | Path], output: str | Path, *, overwrite: bool = False) -> Path:
    """Concatenate chunk files, in frame order, into ``output`` (written atomically).

    The chunks must share their radial (and azimuthal) axes and must not overlap; gaps are allowed
    (e.g. a scan with frames left out) and kept visible in ``frame_index``.
    """
    import h5py

    if not chunks:
        raise InputError("no chunk files given", field="chunks")
    parts = sorted((read_chunk(c) for c in chunks), key=lambda c: int(c.frame_index[0]) if c.frame_index.size else 0)
    first = parts[0]
    for part in parts[1:]:
        if [a[0] for a in part.axes] != [a[0] for a in first.axes] or any(
            a[2] != b[2] or a[1].shape != b[1].shape or not np.allclose(a[1], b[1], rtol=0, atol=1e-9)
            for a, b in zip(part.axes, first.axes)
        ):
            raise InputError(f"{part.path.name} has other bins or units than {first.path.name}", field="chunks")
        if (part.sigma is None) != (first.sigma is None):
            raise InputError(f"{part.path.name} and {first.path.name} differ in having uncertainties",
                             field="chunks")
    frames = np.concatenate([p.frame_index for p in parts])
    if np.any(np.diff(frames) <= 0):
        dup = sorted({int(f) for f in frames[np.r_[False, np.diff(frames) <= 0]]})[:5]
        raise InputError(f"chunks overlap (frames {dup} appear more than once)", field="chunks")
    intensity = np.concatenate([p.intensity for p in parts])
    sigma = None if first.sigma is None else np.concatenate([p.sigma for p in parts])
    with atomic_path(output, overwrite=overwrite) as tmp:
        with h5py.File(first.path, "r") as src, h5py.File(tmp, "w") as h5:
            for key, value in src.attrs.items():
                h5.attrs[key] = value
            h5.attrs["file_time"] = now_iso()
            entry = h5.create_group("entry")
            for key, value in src["entry"].attrs.items():
                entry.attrs[key] = value
            for name in src["entry"]:
                if name != "integrated":
                    src.copy(src["entry"][name], entry, name=name)
            write_nxdata(entry, "integrated", "I", intensity, [("frame_index", frames, "")] + first.axes,
                         errors=sigma, long_name=first.long_name, interpretation=first.interpretation)
            if "integration/parameters/data" in entry:
                ds = entry["integration/parameters/data"]
                try:
                    params = json.loads(_text(ds[()]))
                except ValueError:
                    params = {}
                params["frame_range"] = [int(frames[0]), int(frames[-1]) + 1]
                params["merged_chunks"] = [{"file": p.path.name, "frame_range": [int(p.frame_index[0]),
                                            int(p.frame_index[-1]) + 1]} for p in parts]
                del entry["integration/parameters/data"]
                entry["integration/parameters"].create_dataset("data", data=json.dumps(params, indent=1))
    return Path(output)
