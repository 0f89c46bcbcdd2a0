"""Absorption tomography: a simulated NXtomo scan with known truth, nabu configuration, and scoring.

The simulation makes what a beamline writes: darks, flats and projections of a Shepp-Logan
phantom (Radon transform with scikit-image, Beer-Lambert attenuation, Poisson noise, a
non-uniform beam), with the rotation axis deliberately off the detector centre, as an NXtomo
file written with the ``nxtomo`` package (ESRF's writer, what nabu reads). The phantom
(attenuation in 1/cm, nabu's unit) and the true axis position are kept beside it, so a nabu
reconstruction can be scored: centre-of-rotation error and Pearson correlation with the phantom.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .exceptions import InputError
from .iorw import atomic_path, check_can_write, now_iso, require_file
from .units import COR_METHODS, PHASE_METHODS
from .units import TOMO_BACKENDS as BACKENDS
from .units import TOMO_OUTPUT_FORMATS as OUTPUT_FORMATS


@dataclass
class TomoSimulation:
    """Parameters of a simulated scan (all stored in the truth file)."""

    size: int = 256  # detector width = phantom size (pixels)
    n_slices: int = 16  # detector rows = reconstructed slices
    n_angles: int = 360
    angular_range: float = 360.0  # degrees; 180 or 360
    cor_offset: float = 5.0  # rotation-axis position minus the detector centre (pixels)
    mu_max: float = 20.0  # attenuation of the phantom's brightest part (1/cm)
    pixel_size_um: float = 10.0
    flat_counts: float = 20000.0
    dark_counts: float = 100.0
    n_flats: int = 10
    n_darks: int = 10
    energy_kev: float = 20.0
    distance_m: float = 0.05
    seed: int = 0

    def check(self) -> None:
        if self.size < 32 or self.size % 2:
            raise InputError(f"must be an even number >= 32, got {self.size}", field="size")
        if self.n_slices < 1:
            raise InputError(f"must be >= 1, got {self.n_slices}", field="slices")
        if self.n_angles < 10:
            raise InputError(f"must be >= 10, got {self.n_angles}", field="angles")
        if self.angular_range not in (180.0, 360.0):
            raise InputError(f"must be 180 or 360, got {self.angular_range}", field="angular_range")
        if abs(self.cor_offset) > self.size / 8:
            raise InputError(f"must be within ±{self.size / 8:g} px, got {self.cor_offset}", field="cor_offset")
        if self.flat_counts <= 0 or self.mu_max <= 0:
            raise InputError("flat counts and mu_max must be positive", field="flat_counts")

    @property
    def true_cor(self) -> float:
        """Rotation-axis position on the detector, in pixels from the first column (nabu's convention)."""
        return self.size / 2 + self.cor_offset


@dataclass
class TomoFiles:
    nx: Path
    truth: Path
    phantom: Path


def phantom_volume(size: int, n_slices: int, mu_max: float) -> np.ndarray:
    """Shepp-Logan phantom in every slice, its contrast changing slowly along the axis (1/cm)."""
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    base = resize(shepp_logan_phantom(), (size, size), order=1, anti_aliasing=True, mode="constant")
    # skimage's radon wants zero outside the inscribed circle
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    base[yy ** 2 + xx ** 2 > (size / 2 - 1) ** 2] = 0
    scale = 1 + 0.2 * np.linspace(-1, 1, n_slices) if n_slices > 1 else np.ones(1)
    return (mu_max * base[None] * scale[:, None, None]).astype(np.float32)


def simulate_projections(sim: TomoSimulation, volume: np.ndarray):
    """Darks, flats and projections (counts) of ``volume``, as the detector would record them."""
    from skimage.transform import radon

    rng = np.random.default_rng(sim.seed)
    angles = np.linspace(0, sim.angular_range, sim.n_angles, endpoint=False)
    px_cm = sim.pixel_size_um * 1e-4
    n = sim.size
    # line integrals, detector column j <-> radon row j; axis at column n/2 in skimage's convention
    proj = np.empty((sim.n_angles, sim.n_slices, n), np.float32)
    shift = int(round(sim.cor_offset))
    frac = sim.cor_offset - shift
    for z in range(sim.n_slices):
        sino = radon(volume[z], theta=angles, circle=True).T * px_cm  # (angles, n)
        if frac:
            from scipy.ndimage import shift as ndshift

            sino = ndshift(sino, (0, frac), order=3, mode="constant")
        proj[:, z, :] = np.roll(sino, shift, axis=1)
    # beam: smooth horizontal/vertical profile, same for flats and projections
    x = np.linspace(-1, 1, n)
    zz = np.linspace(-1, 1, sim.n_slices)
    beam = sim.flat_counts * (1 - 0.15 * x[None, :] ** 2) * (1 - 0.05 * zz[:, None] ** 2)
    dark_level = sim.dark_counts * np.ones((sim.n_slices, n))
    darks = rng.normal(dark_level, 2.0, (sim.n_darks, sim.n_slices, n))
    flats = rng.poisson(beam, (sim.n_flats, sim.n_slices, n)) + rng.normal(dark_level, 2.0,
                                                                          (sim.n_flats, sim.n_slices, n))
    radios = rng.poisson(beam[None] * np.exp(-proj)) + rng.normal(dark_level, 2.0, proj.shape)
    to_u16 = lambda a: np.clip(np.rint(a), 0, 65535).astype(np.uint16)  # noqa: E731
    return to_u16(darks), to_u16(flats), to_u16(radios), angles


def write_nxtomo(path: str | os.PathLike, sim: TomoSimulation, darks, flats, radios, angles,
                 overwrite: bool = False) -> Path:
    """Write the scan with ``nxtomo`` (darks, flats, projections with image keys and angles)."""
    import pint
    from nxtomo import NXtomo
    from nxtomo.nxobject.nxdetector import ImageKey

    ureg = pint.get_application_registry()
    target = Path(path)
    nx = NXtomo()
    nx.title = f"simulated Shepp-Logan scan, {sim.n_angles} angles over {sim.angular_range:g} deg"
    nx.start_time = now_iso()
    data = np.concatenate([darks, flats, radios])
    keys = ([ImageKey.DARK_FIELD] * len(darks) + [ImageKey.FLAT_FIELD] * len(flats)
            + [ImageKey.PROJECTION] * len(radios))
    nx.instrument.detector.data = data
    nx.instrument.detector.image_key_control = keys
    nx.instrument.detector.x_pixel_size = sim.pixel_size_um * ureg.micrometer
    nx.instrument.detector.y_pixel_size = sim.pixel_size_um * ureg.micrometer
    nx.instrument.detector.distance = sim.distance_m * ureg.meter
    nx.instrument.detector.half_acquisition = False
    nx.instrument.beam.incident_energy = sim.energy_kev * ureg.keV
    nx.sample.name = "Shepp-Logan phantom"
    nx.sample.rotation_angle = np.concatenate([np.zeros(len(darks) + len(flats)), angles]) * ureg.degree
    nx.sample.x_translation = np.zeros(len(keys)) * ureg.meter
    nx.sample.y_translation = np.zeros(len(keys)) * ureg.meter
    nx.sample.z_translation = np.zeros(len(keys)) * ureg.meter
    with atomic_path(target, overwrite) as tmp:
        nx.save(file_path=str(tmp), data_path="entry", overwrite=True)
    return target


def simulate_tomo(outdir: str | os.PathLike, sim: TomoSimulation, name: str = "tomo",
                  overwrite: bool = False) -> TomoFiles:
    """Simulate a scan into ``outdir``: ``NAME.nx`` (NXtomo), ``NAME_truth.npy`` (phantom), ``NAME_truth.json``."""
    sim.check()
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    files = TomoFiles(out / f"{name}.nx", out / f"{name}_truth.json", out / f"{name}_truth.npy")
    for p in (files.nx, files.truth, files.phantom):
        check_can_write(p, overwrite)
    volume = phantom_volume(sim.size, sim.n_slices, sim.mu_max)
    darks, flats, radios, angles = simulate_projections(sim, volume)
    write_nxtomo(files.nx, sim, darks, flats, radios, angles, overwrite=overwrite)
    with atomic_path(files.phantom, overwrite) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, volume)
    truth = {**asdict(sim), "true_cor": sim.true_cor, "units": "1/cm", "phantom": files.phantom.name,
             "created": now_iso()}
    with atomic_path(files.truth, overwrite) as tmp:
        tmp.write_text(json.dumps(truth, indent=2) + "\n")
    return files


# ---------------------------------------------------------------- nabu configuration
@dataclass
class NabuOptions:
    """The reconstruction options our CWL tools expose (nabu's names in the comments)."""

    cor_method: str = "sliding-window"  # [reconstruction] rotation_axis_position
    cor_value: float | None = None  # a number instead of a method
    phase: str = "none"  # [phase] method
    delta_beta: float = 100.0  # [phase] delta_beta
    output_format: str = "hdf5"  # [output] file_format
    start_z: int = 0  # [reconstruction] start_z
    end_z: int = -1  # [reconstruction] end_z
    file_prefix: str = "rec"  # [output] file_prefix

    def check(self) -> None:
        if self.cor_value is None and self.cor_method not in COR_METHODS:
            raise InputError(f"unknown method '{self.cor_method}'; choose {', '.join(COR_METHODS)}",
                             field="cor_method")
        if self.phase not in PHASE_METHODS:
            raise InputError(f"unknown method '{self.phase}'; choose {', '.join(PHASE_METHODS)}", field="phase")
        if self.output_format not in OUTPUT_FORMATS:
            raise InputError(f"unknown format '{self.output_format}'; choose {', '.join(OUTPUT_FORMATS)}",
                             field="output_format")
        if self.delta_beta <= 0:
            raise InputError(f"must be positive, got {self.delta_beta}", field="delta_beta")


def write_nabu_config(template: str | os.PathLike, dataset: str | os.PathLike, output: str | os.PathLike,
                      opts: NabuOptions, location: str = ".", overwrite: bool = False) -> Path:
    """Fill the options into a config made by ``nabu-config`` (keeps nabu's own comments and defaults).

    ``location`` is the output folder nabu writes into (relative paths are kept relative, so the
    config works wherever a CWL runner stages it); the dataset path is written as given.
    """
    opts.check()
    src = require_file(template, "template")
    require_file(dataset, "dataset")
    cp = configparser.ConfigParser(interpolation=None, comment_prefixes=("#",), inline_comment_prefixes=None)
    cp.optionxform = str
    cp.read(src)
    for section in ("dataset", "reconstruction", "phase", "output"):
        if not cp.has_section(section):
            cp.add_section(section)
    cp["dataset"]["location"] = str(dataset)
    cp["reconstruction"]["rotation_axis_position"] = (f"{opts.cor_value:g}" if opts.cor_value is not None
                                                      else opts.cor_method)
    cp["reconstruction"]["start_z"] = str(opts.start_z)
    cp["reconstruction"]["end_z"] = str(opts.end_z)
    cp["phase"]["method"] = "" if opts.phase == "none" else opts.phase
    cp["phase"]["delta_beta"] = f"{opts.delta_beta:g}"
    cp["output"]["location"] = location
    cp["output"]["file_prefix"] = opts.file_prefix
    cp["output"]["file_format"] = opts.output_format
    with atomic_path(output, overwrite) as tmp, open(tmp, "w") as fh:
        cp.write(fh)
    return Path(output)


# ---------------------------------------------------------------- reconstruction
def nabu_fbp_backend() -> str | None:
    """The back end nabu's FBP would use here ("cuda", "opencl"), or None when it has none.

    nabu's filtered back-projection runs on CUDA (cupy/pycuda) or OpenCL (pyopencl *and* pyvkfft);
    its "numpy/CPU" fallback covers the pre-processing only.
    """
    import importlib.util as iu

    if iu.find_spec("cupy") or iu.find_spec("pycuda"):
        return "cuda"
    if iu.find_spec("pyopencl") and iu.find_spec("pyvkfft"):
        return "opencl"
    return None


@dataclass
class TomoResult:
    path: Path
    backend: str  # "nabu" or "cpu (nabu pre-processing and CoR, scikit-image FBP)"
    cor: float
    seconds: float


def _nabu_version() -> str:
    from importlib.metadata import version

    return version("nabu")


def reconstruct_cpu(config: str | os.PathLike, output: str | os.PathLike, overwrite: bool = False) -> TomoResult:
    """nabu's CPU path where nabu itself cannot back-project (no CUDA/OpenCL back end).

    nabu reads the config and the NXtomo, reduces darks and flats, and estimates the centre of
    rotation (its ``ProcessConfig``, exactly as ``nabu CONFIG`` does); the flat-field correction,
    logarithm, optional Paganin filter (nabu's numpy class) follow, and the filtered back-projection
    (ramp filter) is scikit-image's ``iradon`` about nabu's axis. The file mimics nabu's HDF5
    output (``/entry0000/reconstruction/results/data`` in 1/cm, the numeric axis position recorded).
    """
    import time

    import h5py
    from scipy import ndimage
    from skimage.transform import iradon

    t0 = time.perf_counter()
    cfg = require_file(config, "config")
    try:
        from nabu.pipeline.fullfield.processconfig import ProcessConfig
    except ImportError as exc:
        raise InputError(f"nabu is not installed ({exc})", field="config") from None
    try:
        pc = ProcessConfig(str(cfg))
    except Exception as exc:  # nabu raises ValueError/KeyError/... on bad configs and datasets
        raise InputError(f"nabu rejected {cfg.name}: {' '.join(str(exc).split())[:300]}", field="config") from None
    opts = pc.processing_options
    cor = float(opts["reconstruction"]["rotation_axis_position"])
    info = pc.dataset_info
    dark = np.mean([np.asarray(d, float) for d in info.darks.values()], axis=0)
    flat = np.mean([np.asarray(f, float) for f in info.flats.values()], axis=0)
    angles = np.degrees(np.asarray(info.rotation_angles, float))
    px_cm = float(np.atleast_1d(info.pixel_size)[0]) * 1e-4  # nabu gives microns
    rec_opts = opts["reconstruction"]
    z0 = int(rec_opts.get("start_z", 0) or 0)
    z1 = int(rec_opts.get("end_z", -1))
    with h5py.File(info.location, "r") as h5:
        entry = h5[info.hdf5_entry] if getattr(info, "hdf5_entry", None) else h5["entry"]
        keys = entry["instrument/detector/image_key_control"][()]
        ds = entry["instrument/detector/data"]
        rows = slice(z0, None if z1 < 0 else z1 + 1)
        proj = ds[np.flatnonzero(keys == 0), rows, :].astype(np.float64)
    dark, flat = dark[rows], flat[rows]
    trans = (proj - dark) / np.clip(flat - dark, 1e-6, None)
    phase = opts.get("phase")
    if phase and phase.get("method"):
        if phase["method"] != "paganin":
            raise InputError(f"the CPU fallback does Paganin only, not {phase['method']}", field="phase")
        from nabu.preproc.phase import PaganinPhaseRetrieval

        pag = PaganinPhaseRetrieval(trans.shape[1:], distance=phase["distance_m"], energy=phase["energy_kev"],
                                    delta_beta=phase["delta_beta"], pixel_size=phase["pixel_size_microns"] * 1e-6)
        trans = np.stack([pag.apply_filter(t) for t in trans])
    sino = -np.log(np.clip(trans, 1e-6, None))  # (angles, z, x)
    n = sino.shape[-1]
    # put nabu's axis on the detector centre (n/2 in scikit-image's convention), then back-project
    sino = ndimage.shift(sino, (0, 0, n / 2 - cor), order=3, mode="nearest")
    vol = np.stack([iradon(sino[:, k, :].T, theta=angles, filter_name="ramp", circle=True, output_size=n)
                    for k in range(sino.shape[1])]).astype(np.float32) / px_cm
    out = Path(output)
    with atomic_path(out, overwrite) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs["NX_class"] = "NXroot"
        h5.attrs["default"] = "entry0000"
        entry = h5.create_group("entry0000")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "reconstruction/results"
        rec = entry.create_group("reconstruction")
        rec.attrs["NX_class"] = "NXprocess"
        rec["program"] = CPU_PROGRAM
        rec["version"] = _nabu_version()
        rec["date"] = now_iso()
        res = rec.create_group("results")
        res.attrs.update({"NX_class": "NXdata", "signal": "data"})
        dset = res.create_dataset("data", data=vol, compression="gzip")
        dset.attrs["units"] = "1/cm"
        conf = rec.create_group("configuration/nabu_config/reconstruction")
        conf["rotation_axis_position"] = f"{cor:.4f}"
        conf["start_z"] = z0
        conf["end_z"] = z1
        conf["fbp"] = "scikit-image iradon, ramp filter"
        rec["configuration/nabu_config_file"] = cfg.read_text()
    return TomoResult(out, "cpu", cor, time.perf_counter() - t0)


def reconstruct(config: str | os.PathLike, output: str | os.PathLike, backend: str = "auto",
                overwrite: bool = False) -> TomoResult:
    """Run ``nabu CONFIG`` where nabu can back-project (GPU/OpenCL), else :func:`reconstruct_cpu`."""
    import subprocess
    import sys
    import tempfile
    import time

    if backend not in BACKENDS:
        raise InputError(f"unknown backend '{backend}'; choose {', '.join(BACKENDS)}", field="backend")
    if backend == "cpu" or (backend == "auto" and nabu_fbp_backend() is None):
        res = reconstruct_cpu(config, output, overwrite=overwrite)
        add_nxtomoproc(res.path, _dataset_of(config))
        return res
    cfg = require_file(config, "config")
    check_can_write(output, overwrite)
    out = Path(output)
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(cfg)
    prefix = cp.get("output", "file_prefix", fallback="rec")
    work: Path | None = None
    run_cfg = cfg
    if cp.get("output", "file_format", fallback="hdf5") in ("hdf5", "h5", ""):
        # nabu's HDF5 output is a master file whose volume is a virtual dataset over chunk files beside
        # it (rec.hdf5 + rec/rec_00000.hdf5): a copy of the master alone reads as zeros elsewhere (a CWL
        # runner keeps only `output`). So nabu writes into a private folder, and `output` gets one
        # self-contained file; nothing is written into the config's output folder.
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.nabu-", dir=out.parent))
        if not cp.has_section("output"):
            cp.add_section("output")
        cp["output"]["location"] = str(work)
        run_cfg = work / "nabu.conf"
        with open(run_cfg, "w") as fh:
            cp.write(fh)
    try:
        exe = Path(sys.executable).parent / "nabu"
        cmd = [str(exe) if exe.exists() else (shutil.which("nabu") or "nabu"), str(run_cfg)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            last = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()][-1:] or ["no output"]
            raise InputError(f"nabu failed (exit {proc.returncode}): {last[0].strip()[:300]}", field="config")
        if work is not None:
            found = sorted(work.glob(f"{prefix}*.hdf5")) + sorted(work.glob(f"{prefix}*.h5"))
            if not found:
                raise InputError(f"nabu wrote no HDF5 volume named {prefix}*.hdf5", field="config")
            self_contained_copy(found[0], out, overwrite=overwrite)
        seconds = time.perf_counter() - t0
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    add_nxtomoproc(out, _dataset_of(cfg))
    return TomoResult(out, "nabu", read_cor(out) if out.exists() else float("nan"), seconds)


#: how much of a virtual volume :func:`self_contained_copy` holds in memory at once
COPY_SLAB_BYTES = 256 << 20


def self_contained_copy(src: str | os.PathLike, dst: str | os.PathLike, overwrite: bool = False) -> Path:
    """Copy an HDF5 file with its virtual datasets made real, so that it reads the same anywhere.

    nabu keeps the volume in chunk files and maps them into its master file as a virtual dataset;
    HDF5 fills a virtual dataset whose source file is missing with zeros, silently. Every source must
    exist here (else InputError); the copy is written atomically.
    """
    import h5py

    src = Path(src)
    with h5py.File(src, "r") as h5:
        virtual: list[str] = []
        h5.visititems(lambda name, obj: virtual.append(name) if isinstance(obj, h5py.Dataset) and obj.is_virtual
                      else None)
        for name in virtual:
            for vs in h5[name].virtual_sources():
                if vs.file_name != "." and not (src.parent / vs.file_name).is_file():
                    raise InputError(f"{src.name}: {name} maps {vs.file_name}, which is missing", field="reconstruction")
        with atomic_path(dst, overwrite=overwrite) as tmp:
            shutil.copyfile(src, tmp)
            with h5py.File(tmp, "r+") as copy:
                for name in virtual:
                    src_ds = h5[name]
                    attrs = dict(src_ds.attrs)
                    del copy[name]
                    real = copy.create_dataset(name, shape=src_ds.shape, dtype=src_ds.dtype, chunks=True)
                    # slab by slab along the first axis (slices for nabu): a volume can exceed memory
                    row = max(1, src_ds.dtype.itemsize * int(np.prod(src_ds.shape[1:], dtype=np.int64)))
                    step = max(1, COPY_SLAB_BYTES // row)
                    for start in range(0, src_ds.shape[0], step):
                        real[start:start + step] = src_ds[start:start + step]
                    real.attrs.update(attrs)
    return Path(dst)


#: where nabu (and our CPU path) put the reconstructed volume inside an entry
VOLUME = "reconstruction/results/data"


def _volume_entries(h5) -> list[str]:
    """The top-level entries of an open HDF5 file that hold a reconstructed volume (:data:`VOLUME`)."""
    import h5py

    return [n for n, g in h5.items() if isinstance(g, h5py.Group) and isinstance(g.get(VOLUME), h5py.Dataset)]


def _dataset_of(config: str | os.PathLike) -> Path | None:
    """The NXtomo file a nabu config reconstructs (``[dataset] location``)."""
    cp = configparser.ConfigParser(interpolation=None)
    cp.read(config)
    loc = cp.get("dataset", "location", fallback="")
    return Path(loc) if loc and Path(loc).is_file() else None


def add_nxtomoproc(rec_path: str | os.PathLike, raw_path: str | os.PathLike | None) -> None:
    """Make nabu's HDF5 output (or ours) also an NXtomoproc entry, atomically.

    NXtomoproc (the NeXus definition for reconstructed volumes) wants ``definition``, ``title``,
    the source and sample (copied from the NXtomo scan), ``reconstruction/parameters/raw_file``
    and an NXdata ``data`` with ``data[x, y, z]`` and its axes. nabu stores the volume as
    ``[z, y, x]`` in ``reconstruction/results``, which stays as it is for nabu's readers; the
    NXtomoproc view is a transposed copy (so the file holds the volume twice).
    """
    import h5py

    out = Path(rec_path)
    if not out.is_file() or not h5py.is_hdf5(out):
        return  # TIFF output: no HDF5 file to describe
    with atomic_path(out, overwrite=True, copy_from=out) as tmp, h5py.File(tmp, "a") as h5:
        entry_name = next(iter(_volume_entries(h5)), None)
        if entry_name is None:
            return
        entry = h5[entry_name]
        for name in ("definition", "title", "data", "instrument", "sample"):
            if name in entry:
                del entry[name]
        entry["definition"] = "NXtomoproc"
        entry["title"] = f"Tomographic reconstruction of {Path(raw_path).name if raw_path else 'a scan'}"
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        pixel_m = None
        raw_entry = None
        raw = h5py.File(raw_path, "r") if raw_path else None
        try:
            if raw is not None:
                raw_entry = next((g for g in raw.values() if isinstance(g, h5py.Group)
                                  and g.attrs.get("NX_class") in ("NXentry", b"NXentry")), None)
            if raw_entry is not None and "instrument/source" in raw_entry:
                raw.copy(raw_entry["instrument/source"], inst, "source")
            else:
                src = inst.create_group("source")
                src.attrs["NX_class"] = "NXsource"
                for key, value in (("name", "unknown"), ("type", "unknown"), ("probe", "x-ray")):
                    src[key] = value
            sample["name"] = (raw_entry["sample/name"][()] if raw_entry is not None and "sample/name" in raw_entry
                              else "unknown")
            if raw_entry is not None and "instrument/detector/x_pixel_size" in raw_entry:
                px = raw_entry["instrument/detector/x_pixel_size"]
                from pint import UnitRegistry

                pixel_m = float(UnitRegistry().Quantity(float(px[()]), str(px.attrs.get("units", "m"))).to("m").magnitude)
        finally:
            if raw is not None:
                raw.close()
        rec = entry["reconstruction"]
        if "parameters" in rec:
            del rec["parameters"]
        params = rec.create_group("parameters")
        params.attrs["NX_class"] = "NXparameters"
        params["raw_file"] = Path(raw_path).name if raw_path else "unknown"
        results = rec["results"]
        if "interpretation" in results.attrs:  # not an NXdata group attribute outside NXazint (punx/pynxtools)
            del results.attrs["interpretation"]
        vol = results["data"]
        zyx = vol[()] if vol.ndim == 3 else vol[()][None]
        data = entry.create_group("data")
        data.attrs.update({"NX_class": "NXdata", "signal": "data", "axes": ["x", "y", "z"],
                           "x_indices": 0, "y_indices": 1, "z_indices": 2})
        ds = data.create_dataset("data", data=np.transpose(zyx, (2, 1, 0)), compression="gzip")
        ds.attrs.update({"units": str(vol.attrs.get("units", "1/cm")), "long_name": "linear attenuation coefficient",
                         "transform": "transpose of reconstruction/results/data [z, y, x]", "offset": "0",
                         "scaling": "1"})
        nz, ny, nx = zyx.shape
        scale, unit = (pixel_m, "m") if pixel_m else (1.0, "pixel")
        for name, n in (("x", nx), ("y", ny), ("z", nz)):
            ax = data.create_dataset(name, data=(np.arange(n) - (n - 1) / 2) * scale)
            ax.attrs["units"] = unit
        entry.attrs["default"] = "data"


def make_nabu_config(dataset: str | os.PathLike, output: str | os.PathLike, opts: NabuOptions,
                     location: str = ".", overwrite: bool = False) -> Path:
    """``nabu-config --dataset D --level required`` (nabu's own template), then our options filled in."""
    import shutil
    import subprocess
    import sys
    import tempfile

    from .frames import check_links

    data = require_file(dataset, "dataset")
    check_links(data, field="dataset")  # an NXtomo whose projections are external links / VDS: all there?
    opts.check()
    check_can_write(output, overwrite)
    exe = Path(sys.executable).parent / "nabu-config"
    exe_s = str(exe) if exe.exists() else shutil.which("nabu-config")
    if not exe_s:
        raise InputError("nabu-config not found: pip install nabu", field="dataset")
    with tempfile.TemporaryDirectory(prefix="nabu-config-") as tmpd:
        template = Path(tmpd) / "template.conf"
        proc = subprocess.run([exe_s, "--dataset", str(data), "--output", str(template), "--level", "required"],
                              capture_output=True, text=True)
        if proc.returncode != 0 or not template.exists():
            msg = " ".join((proc.stderr or proc.stdout).split())[-300:]
            raise InputError(f"nabu-config failed: {msg}", field="dataset")
        return write_nabu_config(template, data, output, opts, location=location, overwrite=overwrite)


# ---------------------------------------------------------------- reading results, scoring
#: ``reconstruction/program`` of a volume the CPU path made: names the code that ran, not nabu's GPU path
CPU_PROGRAM = "CPU path (no GPU): nabu pre-processing and CoR, scikit-image FBP"


def read_program(path: str | os.PathLike) -> str:
    """The code path that made a volume: the ``reconstruction/program`` its NXprocess records."""
    import h5py

    with h5py.File(require_file(path, "reconstruction"), "r") as h5:
        for name, group in h5.items():
            prog = group.get("reconstruction/program") if isinstance(group, h5py.Group) else None
            if prog is not None:
                value = prog[()]
                return value.decode() if isinstance(value, bytes) else str(value)
    return "nabu"


def read_volume(path: str | os.PathLike) -> np.ndarray:
    """The reconstructed volume (z, y, x) of nabu's HDF5 output (``/entry*/reconstruction/results/data``)."""
    import h5py

    p = require_file(path, "reconstruction")
    try:
        with h5py.File(p, "r") as h5:
            # nabu's master file also holds a histogram of the volume at <entry>/histogram/results/data
            found = [f"{n}/{VOLUME}" for n in _volume_entries(h5)]
            if not found:
                h5.visititems(lambda name, obj: found.append(name) if name.endswith("results/data") and
                              "histogram" not in name and isinstance(obj, h5py.Dataset) else None)
            if not found:
                raise InputError(f"{p.name} has no reconstruction/results/data", field="reconstruction")
            vol = h5[found[0]][()]
    except OSError:
        raise InputError(f"{p.name} is not an HDF5 file", field="reconstruction") from None
    return vol if vol.ndim == 3 else vol[None]


def read_cor(path: str | os.PathLike) -> float:
    """The centre of rotation nabu used, from the ``nabu_config`` it stores in its HDF5 output."""
    import h5py

    p = require_file(path, "reconstruction")
    with h5py.File(p, "r") as h5:
        found: list[str] = []
        h5.visititems(lambda name, obj: found.append(name) if name.endswith("rotation_axis_position") and
                      isinstance(obj, h5py.Dataset) else None)
        for name in found:
            value = h5[name][()]
            value = value.decode() if isinstance(value, bytes) else value
            try:
                return float(value)
            except (TypeError, ValueError):
                continue
    raise InputError(f"{p.name} does not record a numeric rotation_axis_position", field="reconstruction")


@dataclass
class TomoScore:
    cor: float
    true_cor: float
    cor_error: float
    pearson_r: list[float]  # per slice, within the reconstruction circle
    mean_mu_ratio: float  # mean reconstructed / mean phantom attenuation inside the object

    def as_dict(self) -> dict:
        return asdict(self)


def score_reconstruction(rec_path: str | os.PathLike, truth_path: str | os.PathLike, start_z: int = 0) -> TomoScore:
    """Compare nabu's volume and CoR with the simulation's truth (phantom + true axis)."""
    truth_file = require_file(truth_path, "truth")
    truth = json.loads(truth_file.read_text())
    phantom = np.load(truth_file.parent / truth["phantom"])
    vol = read_volume(rec_path)
    cor = read_cor(rec_path)
    n = phantom.shape[-1]
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    inside = yy ** 2 + xx ** 2 < (0.45 * n) ** 2
    rs = []
    for k in range(vol.shape[0]):
        ph = phantom[start_z + k]
        sl = vol[k]
        if sl.shape != ph.shape:
            raise InputError(f"slice shape {sl.shape} differs from the phantom's {ph.shape}", field="reconstruction")
        rs.append(float(np.corrcoef(sl[inside], ph[inside])[0, 1]))
    obj = phantom[start_z: start_z + vol.shape[0]] > 0
    ratio = float(vol[obj].mean() / phantom[start_z: start_z + vol.shape[0]][obj].mean())
    return TomoScore(cor, truth["true_cor"], cor - truth["true_cor"], rs, ratio)


def plot_slice(rec_path: str | os.PathLike, output: str | os.PathLike, truth_path: str | None = None,
               overwrite: bool = False) -> Path:
    """PNG of the middle reconstructed slice (and the phantom beside it, with the score)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vol = read_volume(rec_path)
    k = vol.shape[0] // 2
    program = read_program(rec_path)
    label = "CPU reconstruction (scikit-image FBP, no GPU)" if program == CPU_PROGRAM else f"{program} reconstruction"
    panels = [(label, vol[k])]
    title = Path(rec_path).name
    if truth_path:
        score = score_reconstruction(rec_path, truth_path)
        truth = json.loads(Path(truth_path).read_text())
        phantom = np.load(Path(truth_path).parent / truth["phantom"])
        panels.append(("phantom (truth)", phantom[k]))
        title += f" - CoR {score.cor:.2f} (true {score.true_cor:.2f}), r = {score.pearson_r[k]:.3f}"
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.4), squeeze=False)
    for ax, (label, img) in zip(axes[0], panels):
        im = ax.imshow(img, cmap="gray")
        ax.set_title(label)
        fig.colorbar(im, ax=ax, shrink=0.8, label="μ (1/cm)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(output, overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return Path(output)
