"""Dark calibration of a multi-module pixel detector: simulation, constants, correction.

Integrating detectors (AGIPD, JUNGFRAU, ePix...) report, for each pixel, an ADC value that sits
on a pixel-specific *pedestal* (offset) with pixel-specific electronic *noise*; some pixels are
broken (hot: offset far too high; dead: no signal at all). A dark run (frames without X-rays)
measures offset and noise per pixel and flags bad pixels; those constants are then subtracted from
every data frame. This module simulates such a detector with known truth, computes the constants
from darks, and applies them. The calibration notebooks in ``notebooks/`` call these functions.

Bad-pixel bits follow NeXus ``NXdetector/pixel_mask``: 2 dead, 4 under-responding (offset too low),
8 over-responding (hot, offset too high), 16 noisy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exceptions import InputError, OutputExistsError
from .iorw import atomic_path, new_nexus_file, now_iso, open_hdf5, require_file, set_attrs, write_nxdata

DEAD, LOW_OFFSET, HOT, NOISY = 2, 4, 8, 16
BIT_NAMES = {DEAD: "dead", LOW_OFFSET: "offset too low", HOT: "hot (offset too high)", NOISY: "noisy"}
DATASET = "/entry/data/data"


@dataclass
class DetectorSimulation:
    """A simulated modular detector and its runs. Values in ADU (analogue-to-digital units)."""

    n_modules: int = 4
    module_shape: tuple[int, int] = (64, 64)
    n_darks: int = 50
    n_frames: int = 20
    pedestal: float = 1000.0
    pedestal_spread: float = 100.0
    noise_min: float = 3.0
    noise_max: float = 8.0
    hot_fraction: float = 0.005
    dead_fraction: float = 0.005
    gain: float = 10.0  # ADU per photon
    photons: float = 20.0  # photons per pixel at the top of the ring in the data frames
    seed: int = 0

    def check(self) -> None:
        """Refuse parameters that cannot make a detector, naming the field."""
        for name in ("n_modules", "n_darks", "n_frames"):
            if getattr(self, name) < 1:
                raise InputError(f"must be at least 1 (got {getattr(self, name)})", field=name)
        if len(self.module_shape) != 2 or min(self.module_shape) < 2:
            raise InputError(f"must be two sizes >= 2 (got {self.module_shape})", field="module_shape")
        if not 0 <= self.hot_fraction + self.dead_fraction < 0.5:
            raise InputError("hot + dead fraction must be in [0, 0.5)", field="hot_fraction")
        if not 0 < self.noise_min <= self.noise_max:
            raise InputError("need 0 < noise_min <= noise_max", field="noise_min")


@dataclass
class ModuleTruth:
    """What the simulation put into one module (float32 images of the module's shape)."""

    pedestal: np.ndarray
    noise: np.ndarray
    bad: np.ndarray  # uint32 NeXus pixel_mask bits (HOT or DEAD); 0 = good
    signal: np.ndarray  # mean signal of the data frames in ADU (before pedestal)


@dataclass
class SimulatedDetector:
    """Files written by :func:`simulate_detector`, one of each per module, in module order."""

    darks: list[Path]
    data: list[Path]
    truth: list[Path]


def _module_truth(sim: DetectorSimulation, module: int, rng: np.random.Generator) -> ModuleTruth:
    ny, nx = sim.module_shape
    pedestal = sim.pedestal + sim.pedestal_spread * rng.standard_normal((ny, nx))
    noise = rng.uniform(sim.noise_min, sim.noise_max, (ny, nx))
    bad = np.zeros((ny, nx), dtype=np.uint32)
    u = rng.random((ny, nx))
    hot = u < sim.hot_fraction
    dead = (u >= sim.hot_fraction) & (u < sim.hot_fraction + sim.dead_fraction)
    pedestal[hot] += rng.uniform(15, 40, hot.sum()) * sim.pedestal_spread
    bad[hot] = HOT
    bad[dead] = DEAD
    pedestal[dead] = 0.0
    noise[dead] = 0.0
    # data signal: a diffraction ring centred on the whole detector (modules stacked along y)
    y = np.arange(ny)[:, None] + module * ny - sim.n_modules * ny / 2
    x = np.arange(nx)[None, :] - nx / 2
    r = np.hypot(y, x)
    r0 = 0.35 * min(sim.n_modules * ny, 2 * nx)
    photons = sim.photons * np.exp(-0.5 * ((r - r0) / 3.0) ** 2) + 1.0
    signal = sim.gain * photons
    signal[dead] = 0.0
    return ModuleTruth(pedestal.astype(np.float32), noise.astype(np.float32), bad, signal.astype(np.float32))


def _frames(truth: ModuleTruth, n: int, gain: float, rng: np.random.Generator, with_signal: bool) -> np.ndarray:
    shape = (n,) + truth.pedestal.shape
    frames = truth.pedestal + truth.noise * rng.standard_normal(shape)
    if with_signal:
        frames += gain * rng.poisson(truth.signal / gain, shape)
    frames[:, truth.bad == DEAD] = 0.0
    return np.clip(np.rint(frames), 0, 65535).astype(np.uint16)


def _write_frames(path: Path, frames: np.ndarray, module: int, kind: str, sim: DetectorSimulation) -> None:
    import h5py

    with atomic_path(path, overwrite=True) as tmp:
        with h5py.File(tmp, "w") as h5:
            entry = new_nexus_file(h5, title=f"Simulated {kind} run, module {module}")
            entry.attrs["default"] = "data"
            entry.create_dataset("start_time", data=now_iso())
            data = entry.create_group("data")
            set_attrs(data, NX_class="NXdata", signal="data")
            ds = data.create_dataset("data", data=frames, chunks=(1,) + frames.shape[1:], compression="gzip",
                                     compression_opts=1)
            set_attrs(ds, units="ADU", interpretation="image")
            det = entry.create_group("instrument").create_group("detector")
            entry["instrument"].attrs["NX_class"] = "NXinstrument"
            det.attrs["NX_class"] = "NXdetector"
            det.create_dataset("description", data=f"simulated {sim.n_modules}-module detector")
            det.create_dataset("module_index", data=module)
            det.create_dataset("run_type", data=kind)


def simulate_detector(outdir: str | Path, sim: DetectorSimulation | None = None,
                      overwrite: bool = False) -> SimulatedDetector:
    """Write dark and data runs of every module, plus the truth, as HDF5 files in ``outdir``.

    Per module ``m``: ``darks_mMM.h5`` and ``data_mMM.h5`` (frames in ``/entry/data/data``, uint16
    ADU), and ``truth_mMM.h5`` (``pedestal``, ``noise``, ``bad`` bits, ``signal``) for checking.
    """
    import h5py

    sim = sim or DetectorSimulation()
    sim.check()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    names = [(out / f"darks_m{m:02d}.h5", out / f"data_m{m:02d}.h5", out / f"truth_m{m:02d}.h5")
             for m in range(sim.n_modules)]
    if not overwrite:
        for p in (p for trio in names for p in trio):
            if p.exists():
                raise OutputExistsError(f"{p} exists; refusing to overwrite it (use --overwrite)", field="outdir")
    result = SimulatedDetector([], [], [])
    for m, (dark_p, data_p, truth_p) in enumerate(names):
        rng = np.random.default_rng([sim.seed, m])
        truth = _module_truth(sim, m, rng)
        _write_frames(dark_p, _frames(truth, sim.n_darks, sim.gain, rng, False), m, "dark", sim)
        _write_frames(data_p, _frames(truth, sim.n_frames, sim.gain, rng, True), m, "data", sim)
        with atomic_path(truth_p, overwrite=True) as tmp:
            with h5py.File(tmp, "w") as h5:
                for key in ("pedestal", "noise", "bad", "signal"):
                    h5.create_dataset(key, data=getattr(truth, key))
                h5.attrs["module_index"] = m
                h5.attrs["seed"] = sim.seed
                h5.attrs["gain_adu_per_photon"] = sim.gain
        result.darks.append(dark_p)
        result.data.append(data_p)
        result.truth.append(truth_p)
    return result


def read_truth(path: str | Path) -> ModuleTruth:
    """The truth file of one simulated module."""
    import h5py

    with h5py.File(require_file(path, "truth"), "r") as h5:
        return ModuleTruth(*(h5[k][()] for k in ("pedestal", "noise", "bad", "signal")))


# ------------------------------------------------------------------ constants
@dataclass
class DarkConstants:
    """Offset and noise per pixel (ADU), NeXus bad-pixel bits, and how they were obtained."""

    offset: np.ndarray
    noise: np.ndarray
    bad_pixels: np.ndarray
    n_darks: int
    thresholds: dict
    module: int | None = None
    source: str = ""

    def summary(self) -> dict:
        """Counts per kind of bad pixel and robust statistics, for reports."""
        good = self.bad_pixels == 0
        out = {"pixels": int(self.bad_pixels.size), "bad": int((~good).sum()),
               "median offset (ADU)": float(np.median(self.offset[good])) if good.any() else float("nan"),
               "median noise (ADU)": float(np.median(self.noise[good])) if good.any() else float("nan")}
        for bit, name in BIT_NAMES.items():
            out[name] = int((self.bad_pixels & bit != 0).sum())
        return out


def read_frames(path: str | Path, dataset: str = DATASET) -> tuple[np.ndarray, int | None]:
    """All frames (N, y, x) of an HDF5 run and its module index (None when the file has none)."""
    p = Path(path)
    with open_hdf5(p, "frames") as h5:
        if dataset not in h5 or not hasattr(h5[dataset], "shape"):
            raise InputError(f"'{dataset}' not found in {p.name}", field="dataset")
        frames = h5[dataset][()]
        key = "/entry/instrument/detector/module_index"
        module = int(h5[key][()]) if key in h5 else None
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3:
        raise InputError(f"'{dataset}' in {p.name} has shape {frames.shape}: expected (N, y, x)", field="dataset")
    return frames, module


def _robust_sigma(values: np.ndarray) -> tuple[float, float]:
    med = float(np.median(values))
    return med, 1.4826 * float(np.median(np.abs(values - med)))


def compute_dark_constants(darks: np.ndarray, offset_sigma: float = 5.0, noise_low: float = 0.2,
                           noise_high: float = 3.0) -> DarkConstants:
    """Offset (mean), noise (standard deviation) and bad-pixel bits from dark frames (N, y, x).

    Offset outliers are judged against the module's median and robust spread (1.4826 MAD), so a
    few broken pixels do not inflate the threshold; noise outliers against the median noise:
    below ``noise_low`` times it the pixel is dead, above ``noise_high`` times it noisy.
    """
    darks = np.asarray(darks)
    if darks.ndim != 3 or darks.shape[0] < 2:
        raise InputError(f"need at least 2 dark frames (N, y, x); got shape {darks.shape}", field="darks")
    if offset_sigma <= 0 or not 0 <= noise_low < 1 < noise_high:
        raise InputError("need offset_sigma > 0 and 0 <= noise_low < 1 < noise_high", field="thresholds")
    shift = darks[0].astype(np.float64)
    s1 = np.zeros(darks.shape[1:])
    s2 = np.zeros(darks.shape[1:])
    for start in range(0, darks.shape[0], 64):  # chunks: float64 copies stay small
        d = darks[start:start + 64].astype(np.float64) - shift
        s1 += d.sum(axis=0)
        s2 += (d * d).sum(axis=0)
    n = darks.shape[0]
    mean = s1 / n
    var = np.maximum(s2 - n * mean * mean, 0.0) / (n - 1)
    offset = (mean + shift).astype(np.float32)
    noise = np.sqrt(var).astype(np.float32)

    bad = np.zeros(offset.shape, dtype=np.uint32)
    med_noise = float(np.median(noise))
    bad[noise < noise_low * med_noise] |= DEAD
    bad[noise > noise_high * med_noise] |= NOISY
    med_off, sig_off = _robust_sigma(offset[bad == 0] if (bad == 0).any() else offset)
    sig_off = max(sig_off, 1e-6)
    bad[offset > med_off + offset_sigma * sig_off] |= HOT
    bad[offset < med_off - offset_sigma * sig_off] |= LOW_OFFSET
    thresholds = {"offset_sigma": offset_sigma, "noise_low": noise_low, "noise_high": noise_high,
                  "offset_median": med_off, "offset_robust_sigma": sig_off, "noise_median": med_noise}
    return DarkConstants(offset, noise, bad, n, thresholds)


def write_constants(consts: DarkConstants, output: str | Path, overwrite: bool = False) -> Path:
    """NeXus constants file: NXdata ``offset`` (default plot), ``noise``, ``bad_pixels``, plus
    ``instrument/detector/pixel_mask`` and an NXprocess ``calibration`` saying how they were made."""
    import h5py

    from . import __version__

    ny, nx = consts.offset.shape
    axes = [("y", None, ""), ("x", None, "")]
    with atomic_path(output, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as h5:
            title = "Dark calibration constants" + (f", module {consts.module}" if consts.module is not None else "")
            entry = new_nexus_file(h5, title=title)
            entry.attrs["default"] = "offset"
            write_nxdata(entry, "offset", "offset", consts.offset, axes, signal_units="ADU",
                         long_name="offset (pedestal)", interpretation="image")
            write_nxdata(entry, "noise", "noise", consts.noise, axes, signal_units="ADU",
                         long_name="noise (standard deviation)", interpretation="image")
            write_nxdata(entry, "bad_pixels", "bad_pixels", consts.bad_pixels, axes, signal_units="",
                         long_name="bad-pixel bits (NXdetector pixel_mask)", interpretation="image")
            _write_detector(entry, consts)
            proc = entry.create_group("calibration")
            set_attrs(proc, NX_class="NXprocess")
            proc.create_dataset("program", data="panosc-cwl dark calibration")
            proc.create_dataset("version", data=__version__)
            proc.create_dataset("date", data=now_iso())
            proc.create_dataset("n_darks", data=consts.n_darks)
            proc.create_dataset("source", data=consts.source)
            for key, value in consts.thresholds.items():
                proc.create_dataset(key, data=value)
    return Path(output)


def _write_detector(entry, consts: DarkConstants) -> None:
    """``instrument/detector`` (NXdetector) with the bad-pixel mask and module index, as NeXus readers expect."""
    inst = entry.create_group("instrument")
    inst.attrs["NX_class"] = "NXinstrument"
    det = inst.create_group("detector")
    det.attrs["NX_class"] = "NXdetector"
    det.create_dataset("pixel_mask", data=consts.bad_pixels, compression="gzip")
    if consts.module is not None:
        det.create_dataset("module_index", data=consts.module)


def read_constants(path: str | Path) -> DarkConstants:
    """Constants written by :func:`write_constants`."""
    p = Path(path)
    with open_hdf5(p, "constants") as h5:
        try:
            offset = h5["entry/offset/offset"][()]
            noise = h5["entry/noise/noise"][()]
            bad = h5["entry/bad_pixels/bad_pixels"][()]
        except KeyError:
            raise InputError(f"{p.name} is not a dark-constants file (no /entry/offset)", field="constants") from None
        proc = h5["entry/calibration"]
        thresholds = {k: float(proc[k][()]) for k in ("offset_sigma", "noise_low", "noise_high") if k in proc}
        module_key = "entry/instrument/detector/module_index"
        module = int(h5[module_key][()]) if module_key in h5 else None
        n = int(proc["n_darks"][()]) if "n_darks" in proc else 0
    return DarkConstants(offset, noise, bad, n, thresholds, module, str(p))


def apply_constants(frames: np.ndarray, consts: DarkConstants) -> np.ndarray:
    """Offset-corrected frames (float32 ADU); bad pixels become NaN so no later step mistakes them for data."""
    frames = np.asarray(frames)
    if frames.shape[-2:] != consts.offset.shape:
        raise InputError(f"frames are {frames.shape[-2:]} but the constants are {consts.offset.shape}",
                         field="constants")
    out = frames.astype(np.float32) - consts.offset
    out[..., consts.bad_pixels != 0] = np.nan
    return out


def write_corrected(corrected: np.ndarray, consts: DarkConstants, output: str | Path, source: str = "",
                    overwrite: bool = False) -> Path:
    """Corrected frames in ``/entry/data/data`` (NXdata, float32 ADU, NaN = bad pixel) and the mask used."""
    import h5py

    with atomic_path(output, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as h5:
            entry = new_nexus_file(h5, title="Offset-corrected frames")
            entry.attrs["default"] = "data"
            data = entry.create_group("data")
            set_attrs(data, NX_class="NXdata", signal="data")
            ds = data.create_dataset("data", data=corrected, chunks=(1,) + corrected.shape[1:], compression="gzip",
                                     compression_opts=1)
            set_attrs(ds, units="ADU", interpretation="image", long_name="offset-corrected signal")
            _write_detector(entry, consts)
            proc = entry.create_group("correction")
            set_attrs(proc, NX_class="NXprocess")
            proc.create_dataset("program", data="panosc-cwl offset correction")
            proc.create_dataset("date", data=now_iso())
            proc.create_dataset("constants", data=consts.source)
            proc.create_dataset("source", data=source)
    return Path(output)
