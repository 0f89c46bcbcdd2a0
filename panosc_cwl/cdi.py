"""Coherent diffraction imaging (CDI): simulated data, a cohere-core reconstruction, error metric, plots.

The simulation gives a *known* complex object, so every reconstruction (PyNX's ``pynx-cdi-id01``
or cohere-core through :func:`reconstruct_cohere`) can be scored against the truth with
:func:`cdi_error`, which removes the ambiguities phase retrieval cannot resolve: a translation,
the twin (complex conjugate of the point-reflected object), a global phase (and scale).

Files are CXI (HDF5 with NeXus ``NX_class`` attributes): the diffraction pattern in
``/entry_1/instrument_1/detector_1/data`` (where ``pynx-cdi-id01`` reads it), centred (the
zero frequency in the middle), and the truth in ``/entry_1/sample_1/object``. Reconstructions
we write use CXI's ``/entry_1/image_1/data`` (complex), as PyNX does, or ``.npz`` with ``obj``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .exceptions import InputError
from .iorw import atomic_path, now_iso, require_file, set_attrs
from .units import CDI_OUTPUT_FORMATS as OUTPUT_FORMATS


# ---------------------------------------------------------------- simulation
@dataclass
class CdiSimulation:
    """A simulated measurement: the centred diffraction intensity and the object that made it."""

    intensity: np.ndarray  # counts, centred (zero frequency at the middle), float32
    obj: np.ndarray  # complex object, same shape
    support: np.ndarray  # bool, where the object is non-zero
    photons: float
    seed: int
    params: dict = field(default_factory=dict)


def make_object(shape: Sequence[int], size: float = 0.3, max_phase: float = 1.0, seed: int = 0) -> np.ndarray:
    """A compact complex object: a soft-edged, slightly irregular blob with smooth amplitude and phase.

    ``size`` is the object's diameter as a fraction of each array dimension (below 0.5 keeps the
    pattern oversampled by more than 2 in every direction, which phase retrieval needs).
    ``max_phase`` (radians) bounds the phase field.
    """
    from scipy import ndimage

    shape = tuple(int(n) for n in shape)
    if len(shape) not in (2, 3) or min(shape) < 16:
        raise InputError(f"shape must be 2 or 3 sizes of at least 16, got {list(shape)}", field="shape")
    if not 0.05 <= size < 0.5:
        raise InputError(f"object size must be in [0.05, 0.5) of the array, got {size}", field="size")
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[(np.arange(n) - n / 2) / n for n in shape], indexing="ij")
    # an ellipsoid with random semi-axes between 0.8 and 1 of size/2 and a border modulated by odd
    # functions of the direction: a shape that is NOT centrosymmetric, so that the object and its
    # twin differ in support (a centrosymmetric support makes phase retrieval stagnate on twin mixtures)
    axes = size / 2 * rng.uniform(0.8, 1.0, len(shape))
    r2 = sum((g / a) ** 2 for g, a in zip(grids, axes))
    r = np.sqrt(r2) + 1e-12
    dirs = [g / a / r for g, a in zip(grids, axes)]
    phi = np.arctan2(dirs[1], dirs[0])
    border = 1 + 0.1 * np.cos(3 * phi + rng.uniform(0, 2 * np.pi))
    for d in dirs:
        border += rng.choice([-1, 1]) * rng.uniform(0.08, 0.15) * d ** 3
    inside = r < border
    smooth = ndimage.gaussian_filter(inside.astype(float), 0.0)
    # amplitude: 0.6..1 with two Gaussian inclusions; phase: a smooth random field scaled to max_phase
    amp = 0.8 + 0.2 * np.cos(2 * np.pi * grids[0] / (size * 0.9))
    for _ in range(2):
        c = rng.uniform(-0.25, 0.25, len(shape)) * size
        amp -= 0.35 * np.exp(-sum((g - ci) ** 2 for g, ci in zip(grids, c)) / (2 * (0.12 * size) ** 2))
    phase = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=[n * size / 4 for n in shape], mode="wrap")
    phase = phase - phase[inside].mean()
    phase *= max_phase / max(np.abs(phase[inside]).max(), 1e-12)
    obj = smooth * amp * np.exp(1j * phase)
    obj[smooth < 1e-3] = 0
    return obj.astype(np.complex64)


def simulate_cdi(shape: Sequence[int], photons: float = 1e9, size: float = 0.3, max_phase: float = 1.0,
                 seed: int = 0) -> CdiSimulation:
    """|FFT(object)|^2 scaled to ``photons`` in total, with Poisson noise, centred."""
    if photons <= 0:
        raise InputError(f"photons must be positive, got {photons}", field="photons")
    obj = make_object(shape, size=size, max_phase=max_phase, seed=seed)
    ideal = np.abs(np.fft.fftshift(np.fft.fftn(obj))) ** 2
    ideal *= photons / ideal.sum()
    rng = np.random.default_rng(seed + 1)
    counts = rng.poisson(ideal).astype(np.float32)
    return CdiSimulation(counts, obj, np.abs(obj) > 0, float(photons), seed,
                         {"size": size, "max_phase": max_phase, "shape": list(obj.shape)})


def write_cxi(path: str | os.PathLike, sim: CdiSimulation, *, overwrite: bool = False,
              wavelength_m: float = 1.5e-10, distance_m: float = 1.0, pixel_m: float = 55e-6) -> Path:
    """Write ``sim`` as a CXI/NeXus file that ``pynx-cdi-id01 --data`` reads directly."""
    import h5py

    from . import __version__

    target = Path(path)
    with atomic_path(target, overwrite) as tmp, h5py.File(tmp, "w") as h5:
        set_attrs(h5, NX_class="NXroot", default="entry_1", creator=f"panosc-cwl {__version__}", file_time=now_iso())
        h5["cxi_version"] = 160
        entry = h5.create_group("entry_1")
        set_attrs(entry, NX_class="NXentry", default="data_1")
        entry["title"] = f"simulated CDI, {'x'.join(map(str, sim.intensity.shape))}, {sim.photons:.3g} photons"
        entry["start_time"] = now_iso()
        inst = entry.create_group("instrument_1")
        inst.attrs["NX_class"] = "NXinstrument"
        src = inst.create_group("source_1")
        src.attrs["NX_class"] = "NXsource"
        energy_j = 6.62607015e-34 * 299792458.0 / wavelength_m
        src.create_dataset("energy", data=energy_j).attrs["units"] = "J"
        det = inst.create_group("detector_1")
        det.attrs["NX_class"] = "NXdetector"
        ds = det.create_dataset("data", data=sim.intensity, compression="gzip", chunks=True)
        set_attrs(ds, units="counts", interpretation="image" if sim.intensity.ndim == 2 else "")
        det.create_dataset("distance", data=distance_m).attrs["units"] = "m"
        det.create_dataset("x_pixel_size", data=pixel_m).attrs["units"] = "m"
        det.create_dataset("y_pixel_size", data=pixel_m).attrs["units"] = "m"
        data = entry.create_group("data_1")
        set_attrs(data, NX_class="NXdata", signal="data")
        data["data"] = h5py.SoftLink("/entry_1/instrument_1/detector_1/data")
        sample = entry.create_group("sample_1")
        sample.attrs["NX_class"] = "NXsample"
        sample["name"] = "simulated complex object (truth)"
        sample.create_dataset("object", data=sim.obj, compression="gzip")
        sample.create_dataset("support", data=sim.support.astype(np.uint8), compression="gzip")
        proc = entry.create_group("simulation")
        proc.attrs["NX_class"] = "NXprocess"
        proc["program"] = "panosc-cwl cdi simulate"
        proc["version"] = __version__
        proc["date"] = now_iso()
        for key, value in {**sim.params, "photons": sim.photons, "seed": sim.seed}.items():
            proc.create_dataset(key, data=value)
    return target


def read_intensity(path: str | os.PathLike, field: str = "data") -> np.ndarray:
    """The centred diffraction intensity from a CXI/HDF5 file (PyNX's paths) or a .npy/.npz file."""
    import h5py

    p = require_file(path, field)
    if p.suffix == ".npy":
        return np.load(p).astype(np.float32)
    if p.suffix == ".npz":
        with np.load(p) as z:
            return z[z.files[0]].astype(np.float32)
    from .frames import check_links, register_filters

    register_filters()
    try:
        h5 = h5py.File(p, "r")
    except OSError:
        raise InputError(f"{p.name} is not an HDF5/CXI file", field=field) from None
    check_links(p, field=field)  # CXI data as external links / VDS (PyNX, EuXFEL virtual CXI): all there?
    with h5:
        for name in ("entry_1/instrument_1/detector_1/data", "entry_1/image_1/data", "entry_1/data_1/data"):
            if name in h5 and not np.iscomplexobj(h5[name]):
                return h5[name][()].astype(np.float32)
    raise InputError(f"{p.name} has no diffraction data at /entry_1/instrument_1/detector_1/data", field=field)


def read_truth(path: str | os.PathLike, field: str = "truth") -> np.ndarray:
    """The true complex object stored by :func:`write_cxi`."""
    import h5py

    p = require_file(path, field)
    try:
        with h5py.File(p, "r") as h5:
            if "entry_1/sample_1/object" not in h5:
                raise InputError(f"{p.name} has no /entry_1/sample_1/object (not a simulated file)", field=field)
            return h5["entry_1/sample_1/object"][()]
    except OSError:
        raise InputError(f"{p.name} is not an HDF5/CXI file", field=field) from None


def crop_roi(a: np.ndarray, roi: Sequence[int] | None) -> np.ndarray:
    """Crop ``a`` to ``roi`` = [start0, end0, start1, end1 (, start2, end2)] (PyNX's --roi order)."""
    if not roi:
        return a
    if len(roi) != 2 * a.ndim:
        raise InputError(f"roi needs {2 * a.ndim} numbers for {a.ndim}D data, got {len(roi)}", field="roi")
    sl = []
    for d in range(a.ndim):
        lo, hi = int(roi[2 * d]), int(roi[2 * d + 1])
        if not 0 <= lo < hi <= a.shape[d]:
            raise InputError(f"roi [{lo}, {hi}) outside axis {d} of size {a.shape[d]}", field="roi")
        sl.append(slice(lo, hi))
    return a[tuple(sl)]


# ---------------------------------------------------------------- reconstruction (cohere-core)
@dataclass
class CdiSettings:
    """The reconstruction options shared by our PyNX and cohere tools (PyNX's names)."""

    nb_raar: int = 600
    nb_hio: int = 0
    nb_er: int = 200
    nb_run: int = 1
    nb_run_keep: int = 1
    support_threshold: float = 0.25
    support_update_period: int = 20
    support_sigma: float = 1.0
    roi: list[int] | None = None
    seed: int | None = None

    def check(self) -> None:
        for name in ("nb_raar", "nb_hio", "nb_er"):
            if getattr(self, name) < 0:
                raise InputError(f"must be >= 0, got {getattr(self, name)}", field=name)
        if self.nb_raar + self.nb_hio + self.nb_er == 0:
            raise InputError("no iterations: give nb_raar, nb_hio or nb_er > 0", field="nb_er")
        if self.nb_run < 1:
            raise InputError(f"must be >= 1, got {self.nb_run}", field="nb_run")
        if not 1 <= self.nb_run_keep <= self.nb_run:
            raise InputError(f"must be between 1 and nb_run={self.nb_run}, got {self.nb_run_keep}",
                             field="nb_run_keep")
        if not 0 < self.support_threshold < 1:
            raise InputError(f"must be in (0, 1), got {self.support_threshold}", field="support_threshold")

    def algorithm_sequence(self) -> str:
        """cohere's algorithm string: RAAR, then HIO, then ER (PyNX's default chain order)."""
        parts = [f"{n}*{alg}" for n, alg in ((self.nb_raar, "RAAR"), (self.nb_hio, "HIO"), (self.nb_er, "ER")) if n]
        return " + ".join(parts)


@dataclass
class CdiResult:
    """One reconstruction: the complex object (oriented like the input), its support and fit metric."""

    obj: np.ndarray
    support: np.ndarray
    metric: float
    run: int
    program: str = "cohere-core"
    seconds: float = 0.0


def _cohere_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cohere-core")
    except PackageNotFoundError:
        return "unknown"


def reconstruct_cohere(intensity: np.ndarray, settings: CdiSettings, workdir: str | os.PathLike) -> list[CdiResult]:
    """Phase ``intensity`` (centred counts) with cohere-core on the CPU, ``nb_run`` times; best runs first.

    cohere reads its data from a file and wants *amplitudes* (sqrt of the intensity), centred; it
    returns the complex conjugate of the object in PyNX's/numpy's FFT convention, which is undone here.
    Runs are ranked by cohere's final error metric (no truth is used).
    """
    import contextlib
    import io
    import time

    settings.check()
    try:
        import cohere_core.controller.phasing as phasing
    except ImportError as exc:
        raise InputError(f"cohere-core is not installed ({exc}); pip install cohere-core", field="program") from None
    data = crop_roi(np.asarray(intensity, dtype=np.float32), settings.roi)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    data_file = work / "amplitudes.npy"
    np.save(data_file, np.sqrt(np.clip(data, 0, None)).astype(np.float32))
    results = []
    for run in range(settings.nb_run):
        if settings.seed is not None:
            np.random.seed(settings.seed + run)  # cohere draws its start with numpy's global generator
        params = {
            "algorithm_sequence": settings.algorithm_sequence(),
            "shrink_wrap_trigger": [1, settings.support_update_period],
            "shrink_wrap_type": "GAUSS",
            "shrink_wrap_threshold": settings.support_threshold,
            "shrink_wrap_gauss_sigma": settings.support_sigma,
            "initial_support_area": [0.5] * data.ndim,
        }
        if data.ndim == 3:  # cohere's twin removal indexes three axes
            params["twin_trigger"] = [2]
        t0 = time.perf_counter()
        log = io.StringIO()
        with contextlib.redirect_stdout(log):  # cohere prints progress on stdout
            rec = phasing.create_rec(params, str(data_file), "np", -1, debug=True)
            if rec is None:
                raise InputError(f"cohere-core could not start: {log.getvalue().strip()[-200:]}", field="data")
            rec.iterate()
        obj = np.conj(np.asarray(rec.get_image()))
        support = np.asarray(rec.get_support()).astype(bool)
        errs = [float(e) for e in getattr(rec, "errs", [])]
        metric = errs[-1] if errs else float("nan")
        results.append(CdiResult(obj.astype(np.complex64), support, metric, run + 1,
                                 f"cohere-core {_cohere_version()}", time.perf_counter() - t0))
    results.sort(key=lambda r: (np.isnan(r.metric), r.metric))
    return results[: settings.nb_run_keep]


def write_reconstruction(path: str | os.PathLike, res: CdiResult, settings: CdiSettings, data_path: str,
                         fmt: str = "cxi", overwrite: bool = False) -> Path:
    """Write a reconstruction like PyNX does: CXI ``/entry_1/image_1/data`` (complex) or NPZ ``obj``."""
    import h5py

    from . import __version__

    if fmt not in OUTPUT_FORMATS:
        raise InputError(f"unknown output format '{fmt}'; choose {', '.join(OUTPUT_FORMATS)}", field="output_format")
    target = Path(path)
    with atomic_path(target, overwrite) as tmp:
        if fmt == "npz":
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, obj=res.obj, support=res.support.astype(np.uint8), metric=res.metric,
                                    program=res.program)
            return target
        with h5py.File(tmp, "w") as h5:
            set_attrs(h5, NX_class="NXroot", default="entry_1", creator=f"panosc-cwl {__version__}",
                      file_time=now_iso())
            h5["cxi_version"] = 160
            entry = h5.create_group("entry_1")
            set_attrs(entry, NX_class="NXentry", default="image_1")
            entry["program_name"] = res.program
            image = entry.create_group("image_1")
            set_attrs(image, NX_class="NXdata", signal="amplitude", axes=["."] * res.obj.ndim)
            image.create_dataset("data", data=res.obj, compression="gzip")
            image.create_dataset("mask", data=res.support.astype(np.uint8), compression="gzip")
            amp = image.create_dataset("amplitude", data=np.abs(res.obj), compression="gzip")
            amp.attrs["long_name"] = "object amplitude"
            ph = image.create_dataset("phase", data=np.angle(res.obj), compression="gzip")
            set_attrs(ph, units="rad", long_name="object phase")
            image["data_type"] = "electron density"
            image["data_space"] = "real"
            proc = image.create_group("process_1")
            proc.attrs["NX_class"] = "NXprocess"
            proc["program"] = res.program
            proc["date"] = now_iso()
            proc["input"] = str(data_path)
            proc["algorithm"] = settings.algorithm_sequence()
            proc["support_threshold"] = settings.support_threshold
            proc["run"] = res.run
            proc["metric"] = res.metric
            proc["seconds"] = res.seconds
    return target


def read_reconstruction(path: str | os.PathLike, field: str = "reconstruction") -> np.ndarray:
    """The complex object of a PyNX or panosc-cwl reconstruction (.cxi ``/entry_1/image_1/data``, .npz ``obj``)."""
    import h5py

    p = require_file(path, field)
    if p.suffix == ".npz":
        with np.load(p) as z:
            for key in ("obj", "object", "data"):
                if key in z.files:
                    return z[key]
        raise InputError(f"{p.name} has no 'obj' array", field=field)
    try:
        with h5py.File(p, "r") as h5:
            if "entry_1/image_1/data" not in h5:
                raise InputError(f"{p.name} has no /entry_1/image_1/data", field=field)
            return h5["entry_1/image_1/data"][()]
    except OSError:
        raise InputError(f"{p.name} is not an HDF5/CXI file", field=field) from None


# ---------------------------------------------------------------- error metric
@dataclass
class CdiError:
    """Normalised complex error after removing the phase-retrieval ambiguities."""

    error: float  # ||truth - a * aligned|| / ||truth||
    twin: bool  # the twin image fitted better
    shift: tuple[float, ...]  # translation applied to the reconstruction (pixels)
    scale: float  # |a|
    phase: float  # arg(a), the global phase removed (rad)

    def as_dict(self) -> dict:
        return {"error": self.error, "twin": self.twin, "shift": list(self.shift), "scale": self.scale,
                "phase": self.phase}


def _align(rec: np.ndarray, truth: np.ndarray) -> tuple[float, np.ndarray, tuple[float, ...], complex]:
    from scipy import ndimage
    from skimage.registration import phase_cross_correlation

    # register amplitudes (phase ramps do not disturb them), sub-pixel, then shift in Fourier space
    # and also at the nearest whole-pixel shift (a sharp-edged object is only compact at whole-pixel
    # shifts, which is where phase retrieval puts it); the better fit is kept
    sub, _, _ = phase_cross_correlation(np.abs(truth), np.abs(rec), upsample_factor=20, normalization=None)
    best = None
    for shift in (np.round(sub), sub):
        moved = np.fft.ifftn(ndimage.fourier_shift(np.fft.fftn(rec), shift))
        a = np.vdot(moved, truth) / max(np.vdot(moved, moved).real, 1e-30)
        err = float(np.linalg.norm(truth - a * moved) / np.linalg.norm(truth))
        if best is None or err < best[0]:
            best = (err, moved, tuple(float(s) for s in shift), complex(a))
    return best


def cdi_error(rec: np.ndarray, truth: np.ndarray) -> CdiError:
    """Compare a reconstruction with the truth, up to translation, twin, global phase and scale.

    The twin of ``o(r)`` is ``conj(o(-r))``; both are tried and the better one is kept. A
    reconstruction smaller/larger than the truth (ROI) is zero-padded/cropped about the centre.
    """
    rec = np.asarray(rec, dtype=np.complex128)
    truth = np.asarray(truth, dtype=np.complex128)
    if rec.ndim != truth.ndim:
        raise InputError(f"reconstruction is {rec.ndim}D, truth {truth.ndim}D", field="reconstruction")
    if rec.shape != truth.shape:
        out = np.zeros(truth.shape, complex)
        src, dst = [], []
        for n_r, n_t in zip(rec.shape, truth.shape):
            m = min(n_r, n_t)
            src.append(slice((n_r - m) // 2, (n_r - m) // 2 + m))
            dst.append(slice((n_t - m) // 2, (n_t - m) // 2 + m))
        out[tuple(dst)] = rec[tuple(src)]
        rec = out
    twin = np.conj(rec[tuple(slice(None, None, -1) for _ in range(rec.ndim))])
    best = None
    for is_twin, cand in ((False, rec), (True, twin)):
        err, _, shift, a = _align(cand, truth)
        if best is None or err < best.error:
            best = CdiError(err, is_twin, shift, abs(a), float(np.angle(a)))
    assert best is not None
    return best


# ---------------------------------------------------------------- plot
def plot_reconstruction(path: str | os.PathLike, output: str | os.PathLike, truth_path: str | None = None,
                        overwrite: bool = False, title: str | None = None) -> CdiError | None:
    """PNG of amplitude and phase (central slice of 3D objects); with the truth, aligned and compared."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = read_reconstruction(path, "input")
    err = None
    rows = [("reconstruction", rec)]
    if truth_path:
        truth = read_truth(truth_path)
        err = cdi_error(rec, truth)
        if rec.shape == truth.shape:
            cand = np.conj(rec[tuple(slice(None, None, -1) for _ in range(rec.ndim))]) if err.twin else rec
            _, moved, _, a = _align(cand, truth)
            rows = [("reconstruction (aligned)", a * moved), ("truth", truth)]
        else:
            rows.append(("truth", truth))

    def central(a: np.ndarray) -> np.ndarray:
        return a[a.shape[0] // 2] if a.ndim == 3 else a

    # zoom on the object (where the first row's amplitude is above 5 % of its maximum), 8 px margin
    ref = np.abs(central(rows[-1][1]))
    idx = [np.flatnonzero((ref > 0.05 * ref.max()).any(axis=1 - d)) for d in range(2)]
    zoom = tuple(slice(max(i.min() - 8, 0), i.max() + 9) if i.size else slice(None) for i in idx)
    fig, axes = plt.subplots(len(rows), 2, figsize=(8, 3.8 * len(rows)), squeeze=False)
    for (label, obj), (ax_a, ax_p) in zip(rows, axes):
        o = central(obj)[zoom]
        amp = np.abs(o)
        im = ax_a.imshow(amp, cmap="gray")
        ax_a.set_title(f"{label}: amplitude")
        fig.colorbar(im, ax=ax_a, shrink=0.8)
        ph = np.where(amp > 0.1 * amp.max(), np.angle(o), np.nan)
        lim = float(np.nanmax(np.abs(ph))) if np.isfinite(ph).any() else np.pi
        im = ax_p.imshow(ph, cmap="coolwarm", vmin=-lim, vmax=lim)
        ax_p.set_title(f"{label}: phase (rad)")
        fig.colorbar(im, ax=ax_p, shrink=0.8)
    head = title or Path(path).name
    if err is not None:
        head += f" - error {err.error:.4f}{' (twin)' if err.twin else ''}"
    if rec.ndim == 3:
        head += " - central slice"
    fig.suptitle(head)
    fig.tight_layout()
    with atomic_path(output, overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return err
