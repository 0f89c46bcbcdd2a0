"""All file I/O: reading detector frames (HDF5 stacks, EDF, TIFF) and writing NeXus files atomically.

Writes never touch an existing file in place: data go to a temporary file in the same folder
which replaces the target with :func:`os.replace` only once it is complete, so a crash, a full
disk or a Ctrl-C leaves whatever the user had byte-identical.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .exceptions import InputError, OutputExistsError

HDF5_SUFFIXES = {".h5", ".hdf5", ".hdf", ".nxs", ".nx5", ".cxi"}


def now_iso() -> str:
    """Current UTC time as ISO 8601, the form NeXus ``NX_DATE_TIME`` fields expect."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def require_file(path: str | os.PathLike, field: str) -> Path:
    """Return ``path`` as a Path, or raise an InputError naming ``field`` if it is not a readable file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"file not found: {p}", field=field)
    if not p.is_file():
        raise InputError(f"not a file: {p}", field=field)
    if not os.access(p, os.R_OK):
        raise InputError(f"file not readable: {p}", field=field)
    return p


def open_hdf5(path: str | os.PathLike, field: str):
    """Open an existing HDF5/NeXus file read-only; a missing or non-HDF5 file raises an InputError naming ``field``."""
    import h5py

    p = require_file(path, field)
    try:
        return h5py.File(p, "r")
    except OSError:
        raise InputError(f"{p.name} is not an HDF5/NeXus file", field=field) from None


def is_hdf5(path: str | os.PathLike) -> bool:
    """True for files that are HDF5 by signature (falls back to the suffix for empty files)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
        if head == b"\x89HDF\r\n\x1a\n":
            return True
    except OSError:
        pass
    return p.suffix.lower() in HDF5_SUFFIXES


def _hdf5_datasets(h5file) -> list[str]:
    import h5py

    names: list[str] = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.ndim >= 2:
            names.append("/" + name)

    h5file.visititems(visit)
    return names


@dataclass
class FrameSource:
    """One input file and how to read its frames."""

    path: Path
    dataset: str | None
    n_frames: int
    shape: tuple[int, int]


def describe_frames(paths: Sequence[str | os.PathLike], dataset: str | None = None) -> list[FrameSource]:
    """Open every input once and check it holds 2D frames; errors name the file and dataset.

    In HDF5 files ``dataset`` is the path of a 2D frame or a 3D stack; without it the frames are
    found as :func:`panosc_cwl.frames.find_frame_datasets` says (NXmx series, NXdata signal, Bliss
    detector); other formats are read with fabio (EDF, TIFF, CBF... including multi-frame EDF).
    """
    if not paths:
        raise InputError("no input frames given", field="frames")
    sources = []
    for raw in paths:
        path = require_file(raw, "frames")
        if is_hdf5(path):  # plain stacks, NXmx master files (external links), Bliss scans (VDS)
            from .frames import frame_sources

            sources.extend(frame_sources(path, dataset))
        else:
            import fabio

            try:
                img = fabio.open(str(path))
            except Exception as exc:  # fabio raises many types for unreadable files
                raise InputError(f"cannot read {path.name} as an image ({exc})", field="frames") from None
            with contextlib.closing(img) if hasattr(img, "close") else contextlib.nullcontext(img):
                sources.append(FrameSource(path, None, int(img.nframes), tuple(img.data.shape)))
    shapes = {s.shape for s in sources}
    if len(shapes) > 1:
        raise InputError(f"frames have different shapes: {sorted(shapes)}", field="frames")
    return sources


def iter_frames(sources: Sequence[FrameSource]) -> Iterator[np.ndarray]:
    """Yield every frame of every source in order, one at a time (a stack is never loaded whole)."""
    return iter_frame_range(sources, 0, sum(s.n_frames for s in sources))


def iter_frame_range(sources: Sequence[FrameSource], start: int, stop: int) -> Iterator[np.ndarray]:
    """Frames ``start`` to ``stop - 1`` of the concatenated sources, read one at a time.

    HDF5 stacks are indexed directly, so a chunk of a large stack costs only its own frames.
    """
    offset = 0
    for src in sources:
        lo, hi = max(start - offset, 0), min(stop - offset, src.n_frames)
        offset += src.n_frames
        if lo >= hi:
            continue
        from .frames import flag_pixels, register_filters

        if src.dataset is not None:
            import h5py

            register_filters()
            with h5py.File(src.path, "r") as h5:
                ds = h5[src.dataset]
                for i in range(lo, hi):
                    yield flag_pixels(ds[()] if ds.ndim == 2 else ds[i])
        else:
            import fabio

            img = fabio.open(str(src.path))
            for i in range(lo, hi):
                yield flag_pixels(img.data if i == 0 else img.getframe(i).data)


def read_image(path: str | os.PathLike, field: str) -> np.ndarray:
    """Read one 2D image (mask, dark, flat) from EDF/TIFF/NPY or an HDF5 file's first 2D dataset."""
    p = require_file(path, field)
    if p.suffix == ".npy":
        return np.load(p)
    if is_hdf5(p):
        import h5py

        with h5py.File(p, "r") as h5:
            names = _hdf5_datasets(h5) or [n for n in ("/data",) if n in h5]
            if not names:
                raise InputError(f"no 2D dataset in {p.name}", field=field)
            data = h5[names[0]][()]
            return data if data.ndim == 2 else data[0]
    import fabio

    try:
        return fabio.open(str(p)).data
    except Exception as exc:
        raise InputError(f"cannot read {p.name} as an image ({exc})", field=field) from None


def check_can_write(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse to replace an existing file unless ``overwrite``; make sure the folder exists."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(f"{p} exists; refusing to overwrite it (use --overwrite)", field="output")
    if not p.parent.exists():
        raise InputError(f"output folder does not exist: {p.parent}", field="output")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False, copy_from: str | os.PathLike | None = None):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    With ``copy_from`` the temporary file starts as a copy of that file (to modify an existing
    data file without ever writing into the original). On any exception the temporary file is
    removed and the target is untouched.
    """
    target = Path(path)
    if copy_from is None:
        check_can_write(target, overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        if copy_from is not None:
            import shutil

            shutil.copyfile(copy_from, tmp_path)
        else:
            tmp_path.unlink()
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        if copy_from is not None:
            try:
                os.chmod(tmp_path, os.stat(copy_from).st_mode & 0o7777)
            except OSError:
                pass
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def set_attrs(obj, **attrs) -> None:
    """Set HDF5 attributes, storing strings as variable-length UTF-8 (what NeXus readers expect)."""
    for key, value in attrs.items():
        obj.attrs[key] = value


def write_nxdata(
    parent,
    name: str,
    signal: str,
    data: np.ndarray,
    axes: Sequence[tuple[str, np.ndarray | None, str]],
    *,
    errors: np.ndarray | None = None,
    signal_units: str = "counts",
    long_name: str | None = None,
    interpretation: str | None = None,
):
    """Write an ``NXdata`` group that silx and h5web plot with no clicks.

    ``axes`` holds one ``(name, values, units)`` per dimension of ``data``; ``values`` None means
    "no axis" (``.`` in the NeXus ``axes`` attribute). ``errors`` become ``<signal>_errors``
    and are listed in the ``uncertainties`` attribute.
    """
    grp = parent.create_group(name)
    axis_names = [a[0] if a[1] is not None else "." for a in axes]
    set_attrs(grp, NX_class="NXdata", signal=signal, axes=axis_names)
    ds = grp.create_dataset(signal, data=data, compression="gzip" if data.size > 4096 else None)
    set_attrs(ds, units=signal_units, long_name=long_name or signal)
    if interpretation:
        ds.attrs["interpretation"] = interpretation
    for dim, (aname, values, units) in enumerate(axes):
        if values is None:
            continue
        ax = grp.create_dataset(aname, data=values)
        set_attrs(ax, units=units, long_name=f"{aname} ({units})" if units else aname)
        grp.attrs[f"{aname}_indices"] = dim
    if errors is not None:
        err = grp.create_dataset(f"{signal}_errors", data=errors, compression="gzip" if errors.size > 4096 else None)
        err.attrs["units"] = signal_units
        grp.attrs["uncertainties"] = [f"{signal}_errors"]
    return grp


def new_nexus_file(h5, entry: str = "entry", title: str | None = None):
    """Set the file-level NeXus attributes and create the ``NXentry`` (returned)."""
    from . import __version__

    set_attrs(h5, NX_class="NXroot", default=entry, creator=f"panosc-cwl {__version__}", file_time=now_iso())
    grp = h5.create_group(entry)
    grp.attrs["NX_class"] = "NXentry"
    if title:
        grp.create_dataset("title", data=title)
    return grp


def prefetched(frames: Iterator[np.ndarray], depth: int = 3) -> Iterator[np.ndarray]:
    """Read (and decompress) the next frames in a background thread while the caller computes.

    pyFAI's integration engines release the GIL, so reading frame i+1 overlaps integrating frame i:
    reading the stack stays out of the per-frame critical path. Errors in the reader are re-raised here.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=max(depth, 1))
    done = object()
    stop = threading.Event()

    def reader():
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        q.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=reader, name="frame-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
