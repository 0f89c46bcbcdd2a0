"""European XFEL AGIPD-1M runs: mock runs with powder rings, dark constants, correction, assembly.

The heavy lifting is done by the facility's own libraries: ``extra_data`` reads runs and writes
the virtual CXI file (HDF5 virtual datasets: the 16 module files seen as one array), ``extra_geom``
knows where every pixel is (assembly, CrystFEL ``.geom``, pyFAI detector with pixel corners), and
pyFAI integrates. This module only glues them into steps with files in and files out.

A virtual CXI file points at the run's module files by absolute path. A workflow runner stages
the run somewhere else for each step, so every reader here opens the virtual dataset with an HDF5
*virtual prefix* (the run folder): HDF5 then finds the module files by name in that folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .exceptions import InputError
from .iorw import atomic_path, new_nexus_file, open_hdf5, require_file, set_attrs

CXI_DATA = "entry_1/instrument_1/detector_1/data"
N_MODULES, MODULE_SHAPE = 16, (512, 128)
PIXEL_SIZE = 200e-6
#: Quadrant positions (pixels) of the extra-geom documentation's SPB example.
DEFAULT_QUAD_POS = ((-525.0, 625.0), (-550.0, -10.0), (520.0, -160.0), (542.5, 475.0))
FRAMES_PER_TRAIN = 64


# ---------------------------------------------------------------- geometry
def parse_quad_positions(text: str) -> tuple[tuple[float, float], ...]:
    """``"x,y x,y x,y x,y"`` (pixels) -> four (x, y) pairs; a bad string names the field."""
    try:
        pairs = tuple(tuple(float(v) for v in item.split(",")) for item in text.split())
    except ValueError:
        pairs = ()
    if len(pairs) != 4 or any(len(p) != 2 for p in pairs):
        raise InputError(f"expected four 'x,y' pairs in pixels, got '{text}'", field="quad_positions")
    return pairs  # type: ignore[return-value]


def load_geometry(geometry: str | Path | None = None, quad_positions: str | None = None):
    """An extra-geom AGIPD-1M geometry from a CrystFEL ``.geom`` file, or from quadrant positions."""
    from extra_geom import AGIPD_1MGeometry

    if geometry is not None:
        path = require_file(geometry, "geometry")
        try:
            return AGIPD_1MGeometry.from_crystfel_geom(str(path))
        except Exception as exc:  # extra-geom/cfelpyutils raise many types for bad files
            raise InputError(f"cannot read {path.name} as an AGIPD-1M CrystFEL geometry: {exc}",
                             field="geometry") from None
    quads = parse_quad_positions(quad_positions) if quad_positions else DEFAULT_QUAD_POS
    return AGIPD_1MGeometry.from_quad_positions([list(q) for q in quads])


def two_theta_deg(geom, distance: float) -> np.ndarray:
    """2θ (degrees) of every module pixel centre, shape (16, 512, 128), for a sample ``distance`` (m) upstream."""
    pos = geom.get_pixel_positions()
    r = np.hypot(pos[..., 0], pos[..., 1])
    return np.degrees(np.arctan2(r, distance + pos[..., 2]))


@dataclass
class GeometryExport:
    poni: Path
    crystfel: Path
    pyfai_detector: Path
    assembled_shape: tuple[int, int]
    centre: tuple[float, float]


def export_geometry(geom, outdir: str | Path, distance: float, wavelength: float, *, name: str = "agipd",
                    overwrite: bool = False) -> GeometryExport:
    """Write the geometry for other programs: a PONI for assembled images, CrystFEL ``.geom``, pyFAI NXdetector.

    The PONI describes images made by :func:`assemble` (a plain 200 µm pixel grid of the assembled
    shape, beam at the geometry's centre), so the stock ``pyfai-integrate1d`` tool integrates them.
    The NXdetector file keeps every pixel's corners (``to_pyfai_detector``) for module-level work
    (load it with ``pyFAI.detector_factory("NexusDetector", {"filename": ...})``).
    """
    from pyFAI.detectors import Detector
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    if distance <= 0:
        raise InputError(f"distance must be > 0 m, got {distance}", field="distance")
    if wavelength <= 0:
        raise InputError(f"wavelength must be > 0 m, got {wavelength}", field="wavelength")
    out = Path(outdir)
    if not out.is_dir():
        raise InputError(f"output folder does not exist: {out}", field="outdir")
    img, centre = geom.position_modules(np.zeros((N_MODULES,) + MODULE_SHAPE, dtype=np.float32))
    shape = tuple(int(s) for s in img.shape)
    det = Detector(pixel1=PIXEL_SIZE, pixel2=PIXEL_SIZE, max_shape=shape)
    # extra-geom's centre is the pixel index holding the origin; pyFAI measures from the pixel edge.
    ai = AzimuthalIntegrator(dist=distance, poni1=(centre[0] + 0.5) * PIXEL_SIZE,
                             poni2=(centre[1] + 0.5) * PIXEL_SIZE, detector=det, wavelength=wavelength)
    poni = out / f"{name}-assembled.poni"
    with atomic_path(poni, overwrite=overwrite) as tmp:
        ai.write(str(tmp))
    crystfel = out / f"{name}.geom"
    with atomic_path(crystfel, overwrite=overwrite) as tmp:
        geom.write_crystfel_geom(str(tmp), clen=distance, photon_energy=12398.419843320026e-10 / wavelength,
                                 adu_per_ev=0.0075)
    nxdet = out / f"{name}-pyfai-detector.h5"
    with atomic_path(nxdet, overwrite=overwrite) as tmp:
        geom.to_pyfai_detector().save(str(tmp))
    return GeometryExport(poni, crystfel, nxdet, shape, (float(centre[0]), float(centre[1])))


# ---------------------------------------------------------------- virtual CXI access
def parse_frames(text: str, n_total: int, field_name: str = "frames") -> np.ndarray:
    """Frame selection ``"A:B"`` (half-open), ``"A:B:STEP"`` or ``"i,j,k"`` -> indices within ``n_total``."""
    try:
        if ":" in text:
            parts = [int(p) if p else None for p in text.split(":")]
            if len(parts) > 3 or any(p is not None and p < 0 for p in parts) or (len(parts) == 3 and parts[2] == 0):
                raise ValueError
            if parts[1] is not None and parts[1] > n_total:
                raise InputError(f"'{text}' goes past the {n_total} frames of the file", field=field_name)
            idx = np.arange(n_total)[slice(*parts)]
        else:
            idx = np.array([int(p) for p in text.split(",")], dtype=int)
    except ValueError:
        raise InputError(f"expected 'A:B' or 'i,j,k', got '{text}'", field=field_name) from None
    if idx.size == 0:
        raise InputError(f"'{text}' selects no frames (the file has {n_total})", field=field_name)
    if idx.min() < 0 or idx.max() >= n_total:
        raise InputError(f"'{text}' is outside the {n_total} frames of the file", field=field_name)
    return idx


class VirtualCXI:
    """A virtual CXI file opened so its module files are found in ``run_dir`` wherever they were."""

    def __init__(self, cxi: str | Path, run_dir: str | Path | None = None):
        import h5py

        self.path = require_file(cxi, "cxi")
        try:
            self.h5 = h5py.File(self.path, "r")
        except OSError:
            raise InputError(f"cannot open {self.path} as HDF5", field="cxi") from None
        if CXI_DATA not in self.h5:
            self.h5.close()
            raise InputError(f"{self.path.name} has no /{CXI_DATA}: not a detector CXI file", field="cxi")
        try:
            dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
            if run_dir is not None:
                run = Path(run_dir)
                if not run.is_dir():
                    raise InputError(f"run folder not found: {run}", field="run")
                dapl.set_virtual_prefix(os.fsencode(str(run.resolve()) + os.sep))
            self.data = h5py.Dataset(h5py.h5d.open(self.h5.id, CXI_DATA.encode(), dapl=dapl))
            self._check_sources(run_dir)
        except BaseException:
            self.h5.close()
            raise

    def _check_sources(self, run_dir) -> None:
        # A missing module file reads as fill values (zeros) without any error: refuse instead.
        if not self.data.is_virtual:
            return
        for vs in self.data.virtual_sources():
            name = vs.file_name
            if Path(name).exists() or (run_dir is not None and (Path(run_dir) / Path(name).name).exists()):
                continue
            hint = "" if run_dir is not None else " (give the run folder)"
            raise InputError(f"module file {Path(name).name} of {self.path.name} not found{hint}", field="run")

    @property
    def n_frames(self) -> int:
        return int(self.data.shape[0])

    def frame(self, k: int) -> np.ndarray:
        """Module data (16, 512, 128) of frame ``k`` as float32: the data plane of raw (data, gain) frames."""
        block = self.data[int(k)]
        return (block[:, 0] if block.ndim == 4 else block).astype(np.float32)

    def ids(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.h5["entry_1/trainId"][()][index], self.h5["entry_1/pulseId"][()][index]

    def close(self) -> None:
        self.h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- calibration constants / correction
def dark_constants(cxi: str | Path, run_dir: str | Path | None, frames: str, *, noise_sigma: float = 5.0) -> dict:
    """Offset (mean), noise (std) and bad-pixel map of dark frames: the AGIPD dark characterisation in miniature.

    A pixel is bad when its noise is zero (dead) or above ``noise_sigma`` times the median noise.
    """
    with VirtualCXI(cxi, run_dir) as v:
        idx = parse_frames(frames, v.n_frames, "dark_frames")
        # one frame in memory at a time: Welford's running mean and variance
        offset = np.zeros((N_MODULES,) + MODULE_SHAPE)
        m2 = np.zeros_like(offset)
        for n, k in enumerate(idx, start=1):
            x = v.frame(k)
            delta = x - offset
            offset += delta / n
            m2 += delta * (x - offset)
    noise = np.sqrt(m2 / len(idx)).astype(np.float32)
    offset = offset.astype(np.float32)
    med = float(np.median(noise[noise > 0])) if np.any(noise > 0) else 0.0
    bad = (noise <= 0) | (noise > noise_sigma * max(med, 1e-6))
    if len(idx) < 2:
        bad[:] = False
    return {"offset": offset, "noise": noise, "bad_pixels": bad.astype(np.uint8), "frames": idx}


def write_constants(consts: dict, output: str | Path, *, overwrite: bool = False) -> Path:
    import h5py

    with atomic_path(output, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as h5:
            entry = new_nexus_file(h5, title="AGIPD dark constants")
            for key, units in (("offset", "ADU"), ("noise", "ADU"), ("bad_pixels", "")):
                ds = entry.create_dataset(key, data=consts[key], compression="gzip")
                ds.attrs["units"] = units
            entry.create_dataset("dark_frames", data=consts["frames"])
    return Path(output)


def read_constants(path: str | Path) -> dict:
    p = Path(path)
    with open_hdf5(p, "constants") as h5:
        if "entry/offset" not in h5:
            raise InputError(f"{p.name} has no /entry/offset: not a constants file", field="constants")
        out = {k: h5[f"entry/{k}"][()] for k in ("offset", "noise", "bad_pixels") if f"entry/{k}" in h5}
    if out["offset"].shape != (N_MODULES,) + MODULE_SHAPE:
        raise InputError(f"offset is {out['offset'].shape}, expected {(N_MODULES,) + MODULE_SHAPE}",
                         field="constants")
    return out


def correct(cxi: str | Path, run_dir: str | Path | None, constants: str | Path, frames: str,
            output: str | Path, *, overwrite: bool = False) -> Path:
    """Offset-correct the selected frames; bad pixels become NaN. Output: (frames, 16, 512, 128) float32."""
    import h5py

    with VirtualCXI(cxi, run_dir) as v:
        idx = parse_frames(frames, v.n_frames, "frames")
    consts = read_constants(constants)
    bad = consts["bad_pixels"].astype(bool) if "bad_pixels" in consts else None
    with VirtualCXI(cxi, run_dir) as v, atomic_path(output, overwrite=overwrite) as tmp:
        train, pulse = v.ids(idx)
        with h5py.File(tmp, "w") as h5:
            entry = new_nexus_file(h5, title="AGIPD offset-corrected module data")
            grp = entry.create_group("data")
            set_attrs(grp, NX_class="NXdata", signal="data")
            d = grp.create_dataset("data", shape=(len(idx), N_MODULES) + MODULE_SHAPE, dtype=np.float32,
                                   chunks=(1, 1) + MODULE_SHAPE, compression="gzip")
            d.attrs["units"] = "ADU"
            for i, k in enumerate(idx):  # one frame in memory at a time
                frame = v.frame(k) - consts["offset"]
                if bad is not None:
                    frame[bad] = np.nan
                d[i] = frame
            entry.create_dataset("trainId", data=train)
            entry.create_dataset("pulseId", data=pulse)
            entry.create_dataset("frame_index", data=idx)
    return Path(output)


def assemble(corrected: str | Path, geom, output: str | Path, *, overwrite: bool = False) -> tuple[Path, tuple]:
    """Module stacks -> 2D images with extra-geom (``position_modules``); gaps are NaN. Output /entry/data/data."""
    import h5py

    p = Path(corrected)
    with open_hdf5(p, "corrected") as h5:
        if "entry/data/data" not in h5:
            raise InputError(f"{p.name} has no /entry/data/data (output of 'euxfel correct')", field="corrected")
        src = h5["entry/data/data"]
        if src.shape[1:] != (N_MODULES,) + MODULE_SHAPE:
            raise InputError(f"{p.name} holds {src.shape[1:]}, expected {(N_MODULES,) + MODULE_SHAPE}",
                             field="corrected")
        first, centre = geom.position_modules(src[0])
        with atomic_path(output, overwrite=overwrite) as tmp:
            with h5py.File(tmp, "w") as out:
                entry = new_nexus_file(out, title="AGIPD assembled images (extra-geom)")
                grp = entry.create_group("data")
                set_attrs(grp, NX_class="NXdata", signal="data")
                ds = grp.create_dataset("data", shape=(src.shape[0],) + first.shape, dtype=np.float32,
                                        chunks=(1,) + first.shape, compression="gzip")
                ds.attrs["interpretation"] = "image"
                for i in range(src.shape[0]):
                    img = first if i == 0 else geom.position_modules(src[i])[0]
                    ds[i] = img
                entry.create_dataset("centre_yx", data=np.asarray(centre))
    return Path(output), tuple(int(s) for s in first.shape)


# ---------------------------------------------------------------- per-module files (detector-calibration.cwl)
MODULE_DATASET = "/entry/data/data"  # what panosc_cwl.detector.read_frames reads by default


@dataclass
class SplitModules:
    """Files written by :func:`split_modules`, in module order."""

    darks: list[Path]
    data: list[Path]


def _write_module_frames(path: Path, frames: np.ndarray, module: int, kind: str, train, pulse, index,
                         overwrite: bool) -> None:
    import h5py

    with atomic_path(path, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as h5:
            entry = new_nexus_file(h5, title=f"AGIPD module {module}, {kind} frames of a virtual CXI file")
            entry.attrs["default"] = "data"
            grp = entry.create_group("data")
            set_attrs(grp, NX_class="NXdata", signal="data")
            ds = grp.create_dataset("data", data=frames, chunks=(1,) + MODULE_SHAPE, compression="gzip",
                                    compression_opts=1)
            set_attrs(ds, units="ADU", interpretation="image")
            inst = entry.create_group("instrument")
            inst.attrs["NX_class"] = "NXinstrument"
            det = inst.create_group("detector")
            det.attrs["NX_class"] = "NXdetector"
            det.create_dataset("module_index", data=module)
            det.create_dataset("run_type", data=kind)
            entry.create_dataset("trainId", data=train)
            entry.create_dataset("pulseId", data=pulse)
            entry.create_dataset("frame_index", data=index)


def split_modules(cxi: str | Path, run_dir: str | Path | None, dark_frames: str, frames: str,
                  outdir: str | Path, *, overwrite: bool = False) -> SplitModules:
    """One dark file and one data file per module (``darks_mMM.h5``, ``data_mMM.h5``), raw uint16 ADU.

    Why: the notebook calibration (``detector-calibration.cwl``) works module by module on files
    with frames (N, y, x) in ``/entry/data/data`` and the module index in
    ``/entry/instrument/detector/module_index`` (what ``detector.read_frames`` reads).
    """
    out = Path(outdir)
    if not out.is_dir():
        raise InputError(f"output folder does not exist: {out}", field="outdir")
    result = SplitModules([], [])
    with VirtualCXI(cxi, run_dir) as v:
        selections = (("dark", parse_frames(dark_frames, v.n_frames, "dark_frames"), "darks", result.darks),
                      ("data", parse_frames(frames, v.n_frames, "frames"), "data", result.data))
        for kind, idx, prefix, paths in selections:
            stack = np.empty((len(idx), N_MODULES) + MODULE_SHAPE, dtype=v.data.dtype)
            for i, k in enumerate(idx):  # one read per frame: all 16 module files at once
                block = v.data[int(k)]
                stack[i] = block[:, 0] if block.ndim == 4 else block
            train, pulse = v.ids(idx)
            for m in range(N_MODULES):
                path = out / f"{prefix}_m{m:02d}.h5"
                _write_module_frames(path, stack[:, m], m, kind, train, pulse, idx, overwrite)
                paths.append(path)
    return result


def stack_modules(corrected: Sequence[str | Path], output: str | Path, *, overwrite: bool = False) -> Path:
    """Per-module corrected files (N, 512, 128) -> one (N, 16, 512, 128) stack, as ``euxfel assemble`` reads.

    Modules are placed by their ``module_index`` (not by argument order), so a runner's file order
    cannot swap modules; all 16 must be there exactly once.
    """
    import h5py

    if len(corrected) != N_MODULES:
        raise InputError(f"need the {N_MODULES} module files, got {len(corrected)}", field="corrected")
    by_module: dict[int, Path] = {}
    n_frames = None
    for path in corrected:
        p = Path(path)
        with open_hdf5(p, "corrected") as h5:
            key = "entry/instrument/detector/module_index"
            if MODULE_DATASET not in h5 or key not in h5:
                raise InputError(f"{p.name} has no {MODULE_DATASET} and module index: not a corrected module file",
                                 field="corrected")
            shape, module = h5[MODULE_DATASET].shape, int(h5[key][()])
        if shape[1:] != MODULE_SHAPE or (n_frames is not None and shape[0] != n_frames):
            raise InputError(f"{p.name} holds {shape}, expected ({n_frames or 'N'}, 512, 128)", field="corrected")
        if module in by_module or not 0 <= module < N_MODULES:
            raise InputError(f"{p.name}: module {module} is duplicated or out of range", field="corrected")
        n_frames, by_module[module] = shape[0], p
    with atomic_path(output, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as h5:
            entry = new_nexus_file(h5, title="AGIPD corrected module data (detector-calibration notebooks)")
            grp = entry.create_group("data")
            set_attrs(grp, NX_class="NXdata", signal="data")
            d = grp.create_dataset("data", shape=(n_frames, N_MODULES) + MODULE_SHAPE, dtype=np.float32,
                                   chunks=(1, 1) + MODULE_SHAPE, compression="gzip", compression_opts=1)
            d.attrs["units"] = "ADU"
            for m in range(N_MODULES):  # one module in memory at a time
                with open_hdf5(by_module[m], "corrected") as src:
                    d[:, m] = src[MODULE_DATASET][()].astype(np.float32)
            entry.create_dataset("sources", data=[by_module[m].name for m in range(N_MODULES)])
    return Path(output)


# ---------------------------------------------------------------- mock run
@dataclass
class MockRun:
    """What a mock run holds: the truth the tests compare against."""

    rings_deg: tuple[float, ...] = (8.0, 11.5, 14.0)
    ring_width_deg: float = 0.05
    ring_height: float = 400.0
    background: float = 30.0
    distance: float = 0.25
    wavelength: float = 1.3e-10
    pedestal: float = 5000.0
    read_noise: float = 3.0
    signal_frames: int = 4
    dark_frames: int = 8
    seed: int = 0
    quad_positions: tuple = DEFAULT_QUAD_POS
    files: list = field(default_factory=list)

    @property
    def signal_selection(self) -> str:
        return f"0:{self.signal_frames}"

    @property
    def dark_selection(self) -> str:
        return f"{FRAMES_PER_TRAIN}:{FRAMES_PER_TRAIN + self.dark_frames}"


def make_mock_run(run_dir: str | Path, mock: MockRun | None = None, *, geometry_out: str | Path | None = None,
                  overwrite: bool = False) -> MockRun:
    """A European XFEL SPB run (extra-data's mock) with powder rings in the first train and darks in the second.

    Only ``signal_frames + dark_frames`` frames per module are written (the rest stay unallocated
    zeros): a full run would take ~17 GB. Raw values are ``pedestal(pixel) + signal``; gain bits 0.
    """
    import h5py
    from extra_data.tests.make_examples import make_spb_run

    mock = mock or MockRun()
    if mock.signal_frames < 1 or mock.signal_frames > FRAMES_PER_TRAIN:
        raise InputError(f"signal frames must be 1..{FRAMES_PER_TRAIN}", field="signal_frames")
    if mock.dark_frames < 2 or mock.dark_frames > FRAMES_PER_TRAIN:
        raise InputError(f"dark frames must be 2..{FRAMES_PER_TRAIN}", field="dark_frames")
    run = Path(run_dir)
    if run.exists() and any(run.iterdir()):
        raise InputError(f"{run} exists and is not empty", field="run_dir")
    run.mkdir(parents=True, exist_ok=True)
    make_spb_run(str(run))
    geom = load_geometry(quad_positions=" ".join(f"{x},{y}" for x, y in mock.quad_positions))
    tth = two_theta_deg(geom, mock.distance)
    rng = np.random.default_rng(mock.seed)
    pedestal = mock.pedestal + 200.0 * rng.random((N_MODULES,) + MODULE_SHAPE)
    expected = np.full(tth.shape, mock.background)
    for t in mock.rings_deg:
        expected += mock.ring_height * np.exp(-0.5 * ((tth - t) / mock.ring_width_deg) ** 2)
    for m in range(N_MODULES):
        path = run / f"RAW-R0238-AGIPD{m:02d}-S00000.h5"
        with h5py.File(path, "r+") as h5:
            ds = h5[f"INSTRUMENT/SPB_DET_AGIPD1M-1/DET/{m}CH0:xtdf/image/data"]
            for i in range(mock.signal_frames):
                raw = pedestal[m] + rng.poisson(expected[m]) + rng.normal(0, mock.read_noise, MODULE_SHAPE)
                ds[i, 0] = np.clip(np.rint(raw), 0, 65535).astype(np.uint16)
            for i in range(mock.dark_frames):
                raw = pedestal[m] + rng.normal(0, mock.read_noise, MODULE_SHAPE)
                ds[FRAMES_PER_TRAIN + i, 0] = np.clip(np.rint(raw), 0, 65535).astype(np.uint16)
        mock.files.append(str(path))
    if geometry_out is not None:
        with atomic_path(geometry_out, overwrite=overwrite) as tmp:
            geom.write_crystfel_geom(str(tmp), clen=mock.distance,
                                     photon_energy=12398.419843320026e-10 / mock.wavelength, adu_per_ev=0.0075)
    truth = asdict(mock) | {"signal_selection": mock.signal_selection, "dark_selection": mock.dark_selection}
    (run.parent / f"{run.name}-truth.json").write_text(json.dumps(truth, indent=1))
    return mock


def peak_positions(radial: np.ndarray, intensity: np.ndarray, expected: Sequence[float], window: float = 0.3) -> list[float]:
    """Background-subtracted centroid of ``intensity`` within ``window`` degrees of each expected peak."""
    found = []
    for t in expected:
        sel = np.abs(radial - t) < window
        x, y = radial[sel], np.nan_to_num(intensity[sel])
        y = y - np.median(np.concatenate([y[:5], y[-5:]]))
        y = np.clip(y, 0, None)
        found.append(float(np.sum(x * y) / np.sum(y)) if np.sum(y) > 0 else float("nan"))
    return found
