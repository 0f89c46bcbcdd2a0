"""Merge integrated chunks (``integrate1d/2d --frame-range``) back into one stack file.

A scattered workflow integrates frame chunks as separate jobs; downstream steps (reduce, plot)
want the one file a single integration would have written. The merged file has the layout of
:func:`panosc_cwl.integrate.write_integrated` (NXazint1d/2d): it starts as a copy of the first
chunk (instrument, ``reduction`` NXprocess) whose ``/entry/integrated`` stack is replaced by the
chunks' frames concatenated in frame order, and ``reduction/input/config`` lists the chunks merged,
so the numbers are exactly those of an unscattered run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .exceptions import InputError
from .iorw import atomic_path, check_can_write, now_iso
from .nxazint import DATA, Integrated, read_integrated, write_stack


def read_chunk(path: str | Path) -> Integrated:
    """Read one chunk (an integrated stack); errors name the file."""
    return read_integrated(path, "chunks")


def _axes(c: Integrated) -> list[tuple[str, np.ndarray, str]]:
    axes = [] if c.azimuthal is None else [("azimuthal_axis", c.azimuthal, "deg")]
    return axes + [(c.radial_name, c.radial, c.radial_units)]


def merge_chunks(chunks: Sequence[str | Path], output: str | Path, *, overwrite: bool = False) -> Path:
    """Concatenate chunk files, in frame order, into ``output`` (written atomically).

    The chunks must share their radial (and azimuthal) axes and must not overlap; gaps are allowed
    (e.g. a scan with frames left out) and kept visible in ``frame_index``.
    """
    import h5py

    if not chunks:
        raise InputError("no chunk files given", field="chunks")
    read = [(Path(c), read_chunk(c)) for c in chunks]
    read.sort(key=lambda pc: int(pc[1].frame_index[0]) if pc[1].frame_index.size else 0)
    first_path, first = read[0]
    for path, part in read[1:]:
        if [a[0] for a in _axes(part)] != [a[0] for a in _axes(first)] or any(
            a[2] != b[2] or a[1].shape != b[1].shape or not np.allclose(a[1], b[1], rtol=0, atol=1e-9)
            for a, b in zip(_axes(part), _axes(first))
        ):
            raise InputError(f"{path.name} has other bins or units than {first_path.name}", field="chunks")
        if (part.sigma is None) != (first.sigma is None):
            raise InputError(f"{path.name} and {first_path.name} differ in having uncertainties", field="chunks")
    frames = np.concatenate([p.frame_index for _, p in read])
    if np.any(np.diff(frames) <= 0):
        dup = sorted({int(f) for f in frames[np.r_[False, np.diff(frames) <= 0]]})[:5]
        raise InputError(f"chunks overlap (frames {dup} appear more than once)", field="chunks")
    intensity = np.concatenate([p.intensity for _, p in read])
    sigma = None if first.sigma is None else np.concatenate([p.sigma for _, p in read])
    check_can_write(output, overwrite)  # atomic_path does not check when it starts from a copy
    with atomic_path(output, overwrite=overwrite, copy_from=first_path) as tmp:
        with h5py.File(tmp, "a") as h5:
            h5.attrs["file_time"] = now_iso()
            h5.attrs["file_name"] = Path(output).name
            entry = h5["entry"]
            data = entry[DATA]
            norm = data["norm"][()] if "norm" in data else None
            write_stack(data, intensity, sigma, frames, first.radial, first.radial_name, first.radial_units,
                        first.azimuthal, norm)
            params = dict(first.parameters)
            params["frame_range"] = [int(frames[0]), int(frames[-1]) + 1]
            params["merged_chunks"] = [{"file": path.name, "frame_range": [int(p.frame_index[0]),
                                        int(p.frame_index[-1]) + 1]} for path, p in read]
            inp = entry.require_group("reduction/input")
            if "config" in inp:
                del inp["config"]
            inp.create_dataset("config", data=json.dumps(params, indent=1))
    return Path(output)
