"""Simulated detector data laid out as the facility software writes it (no downloads).

The pixel values come from the powder simulator (:func:`panosc_cwl.simulate.simulate_frames`:
pyFAI calibrant rings, background, Poisson noise, gaps); only the *files* differ:

* :func:`write_eiger` - a DECTRIS SIMPLON file-writer series: ``NAME_master.h5`` (NXmx geometry,
  ``detectorSpecific/pixel_mask``) whose ``/entry/data/data_00000N`` are external links into
  ``NAME_data_00000N.h5`` (``/entry/data/data``, uint32, one chunk per frame, bitshuffle-LZ4 by
  default), gap and dead pixels at the type's maximum;
* :func:`write_bliss` - an ESRF Bliss scan: ``NAME_0001/NAME_0001.h5`` with the detector in
  ``/1.1/instrument/DET/data`` as a virtual dataset over LImA's chunk files
  ``NAME_0001/scan0001/DET_000N.h5`` (``/entry_0000/instrument/DET/data``), relative paths;
* :func:`write_edf_series` - a LImA EDF series ``DET_000N.edf`` of multi-frame EDF files.

Each returns the paths, the plain frames (int32, gaps = -1, what pyFAI gets by hand) and a PONI
file of the true geometry, and writes a CWL job entry listing the files the series needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .exceptions import InputError, OutputExistsError
from .iorw import atomic_path, now_iso, set_attrs
from .simulate import PowderSimulation, simulate_frames

#: compressions of the frames, as hdf5plugin filters (bitshuffle-LZ4 is what DECTRIS writes)
COMPRESSIONS = ("bslz4", "lz4", "zstd", "blosc", "gzip", "none")
#: detector of each layout when none is named (pyFAI names)
DEFAULT_DETECTORS = {"eiger": "Eiger4M", "bliss": "Eiger1M", "edf-series": "Pilatus1M"}


@dataclass
class FacilityData:
    """What a generator wrote: the file to give the tools and everything needed to check a result."""

    main: Path  # master / scan file, or the first EDF file
    files: list[Path]  # every file written (main first)
    frames: np.ndarray  # the plain frames (int32, -1 in gaps and dead pixels)
    poni: Path
    calibrant: str
    wavelength: float
    job_entry: dict = field(default_factory=dict)  # the CWL File object(s) of the `frames` input
    job: Path | None = None  # a job for cwl/tools/pyfai-integrate1d.cwl using these files


def _compression(name: str) -> dict:
    import hdf5plugin

    opts = {
        "bslz4": lambda: hdf5plugin.Bitshuffle(cname="lz4"),
        "lz4": lambda: hdf5plugin.LZ4(),
        "zstd": lambda: hdf5plugin.Zstd(),
        "blosc": lambda: hdf5plugin.Blosc(cname="lz4", shuffle=hdf5plugin.Blosc.SHUFFLE),
        "gzip": lambda: {"compression": "gzip", "compression_opts": 1},
        "none": lambda: {},
    }
    if name not in opts:
        raise InputError(f"unknown compression '{name}'; choose {', '.join(COMPRESSIONS)}", field="compression")
    return dict(opts[name]())


def _check_new(paths: list[Path], overwrite: bool) -> None:
    if not overwrite:
        for p in paths:
            if p.exists():
                raise OutputExistsError(f"{p} exists; refusing to overwrite it (use --overwrite)", field="outdir")


def _simulate(sim: PowderSimulation, dead_fraction: float) -> tuple[np.ndarray, object, np.ndarray]:
    """Plain frames (int32, -1 = no data), the integrator, and the pixel mask (bit 0 gap, bit 1 dead)."""
    frames, ai, _ = simulate_frames(sim)
    shape = frames.shape[1:]
    pixel_mask = np.zeros(shape, np.uint32)
    if ai.detector.mask is not None:
        pixel_mask[ai.detector.mask.astype(bool)] = 1
    rng = np.random.default_rng(sim.seed + 1)
    dead = rng.random(shape) < dead_fraction
    pixel_mask[dead & (pixel_mask == 0)] = 2
    frames[:, pixel_mask != 0] = -1
    return frames, ai, pixel_mask


def _flagged(frames: np.ndarray, dtype: str) -> np.ndarray:
    """Frames as the detector stores them: ``dtype``, no-data pixels at its maximum."""
    out = np.clip(frames, 0, None).astype(dtype)
    out[frames < 0] = np.iinfo(dtype).max
    return out


def _write_poni(ai, path: Path) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        ai.write(str(tmp))


def cwl_file_object(main: Path, base: Path | None = None) -> dict:
    """The CWL ``File`` object of an HDF5 file with the files it links to as ``secondaryFiles``.

    CWL stages secondary files next to the primary file, under their base names; a linked file in a
    subfolder (a Bliss ``scan0001/``) is carried by that folder, as a ``Directory``. Paths are relative
    to ``base`` (the job file's folder) when given.
    """
    from .frames import linked_files

    def rel(p: Path) -> str:
        return str(p.relative_to(base)) if base is not None else str(p)

    secondary: list[dict] = []
    seen: set[str] = set()
    for lf in linked_files(main):
        try:
            inside = lf.file.relative_to(main.parent)
        except ValueError:
            continue  # an absolute link outside the folder: used in place, cannot be staged beside
        top = inside.parts[0]
        if top in seen:
            continue
        seen.add(top)
        cls = "File" if len(inside.parts) == 1 else "Directory"
        secondary.append({"class": cls, "path": rel(main.parent / top)})
    obj = {"class": "File", "path": rel(main)}
    if secondary:
        obj["secondaryFiles"] = secondary
    return obj


def write_job(path: Path, frames: list[dict], poni: Path | None, extra: dict | None = None) -> Path:
    """A job for cwl/tools/pyfai-integrate1d.cwl (paths relative to the job file), every File with
    the EDAM format of its content, which cwltool and Toil require there."""
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    from . import edam

    def stated(obj: dict) -> dict:  # quoted: YAML 1.1 readers (libyaml) refuse ':' in flow-style plain scalars
        found = edam.sniff(path.parent / obj["path"]) if "format" not in obj else None
        return {**obj, "format": DoubleQuotedScalarString(found.iri)} if found is not None else obj

    job: dict = {"frames": [stated(f) for f in frames]}
    if poni is not None:
        job["poni"] = stated({"class": "File", "path": str(poni.relative_to(path.parent))})
    job.update(extra or {})
    yaml = YAML()
    yaml.default_flow_style = None
    with atomic_path(path, overwrite=True) as tmp, open(tmp, "w") as fh:
        yaml.dump(job, fh)
    return path


# ------------------------------------------------------------------ DECTRIS Eiger (NXmx)
def write_eiger(outdir: str | Path, sim: PowderSimulation | None = None, *, n_files: int = 3,
                compression: str = "bslz4", dtype: str = "uint32", dead_fraction: float = 1e-4,
                overwrite: bool = False) -> FacilityData:
    """An Eiger series as the DECTRIS file writer lays it out: master + ``n_files`` data files."""
    import h5py

    sim = sim or PowderSimulation(detector="Eiger4M", n_frames=3)
    if not 1 <= n_files <= sim.n_frames:
        raise InputError(f"need 1 to {sim.n_frames} data files for {sim.n_frames} frames, got {n_files}",
                         field="files")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    name = sim.basename()
    master = out / f"{name}_master.h5"
    data_paths = [out / f"{name}_data_{i + 1:06d}.h5" for i in range(n_files)]
    poni = out / f"{name}.poni"
    _check_new([master, *data_paths, poni], overwrite)
    frames, ai, pixel_mask = _simulate(sim, dead_fraction)
    stored = _flagged(frames, dtype)
    comp = _compression(compression)
    bounds = np.linspace(0, len(frames), n_files + 1).round().astype(int)
    ny, nx = frames.shape[1:]
    for i, path in enumerate(data_paths):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        with atomic_path(path, overwrite=True) as tmp, h5py.File(tmp, "w") as h5:
            entry = h5.create_group("entry")
            entry.attrs["NX_class"] = "NXentry"
            data = entry.create_group("data")
            data.attrs["NX_class"] = "NXdata"
            ds = data.create_dataset("data", data=stored[lo:hi], chunks=(1, ny, nx), **comp)
            ds.attrs["image_nr_low"] = np.int32(lo + 1)
            ds.attrs["image_nr_high"] = np.int32(hi)
    with atomic_path(master, overwrite=True) as tmp, h5py.File(tmp, "w") as h5:
        entry = h5.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.create_dataset("definition", data="NXmx")
        entry.create_dataset("start_time", data=now_iso())
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        for i, path in enumerate(data_paths):
            data[f"data_{i + 1:06d}"] = h5py.ExternalLink(path.name, "/entry/data/data")
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        beam = inst.create_group("beam")
        beam.attrs["NX_class"] = "NXbeam"
        beam.create_dataset("incident_wavelength", data=np.float32(sim.wavelength * 1e10)).attrs["units"] = "angstrom"
        det = inst.create_group("detector")
        det.attrs["NX_class"] = "NXdetector"
        f1, f2, c3 = ai.getFit2D()["directDist"], ai.getFit2D()["centerX"], ai.getFit2D()["centerY"]
        for key, value, unit in (
            ("beam_center_x", f2, "pixel"), ("beam_center_y", c3, "pixel"),
            ("count_time", 0.1, "s"), ("frame_time", 0.1, "s"),
            ("detector_distance", f1 * 1e-3, "m"),
            ("x_pixel_size", ai.detector.pixel2, "m"), ("y_pixel_size", ai.detector.pixel1, "m"),
            ("sensor_thickness", 450e-6, "m"),
        ):
            det.create_dataset(key, data=np.float32(value)).attrs["units"] = unit
        det.create_dataset("description", data=f"Dectris EIGER {sim.detector} (simulated)".encode())
        det.create_dataset("sensor_material", data=b"Si")
        det.create_dataset("bit_depth_image", data=np.uint32(np.iinfo(dtype).bits))
        det.create_dataset("saturation_value", data=np.uint32(np.iinfo(dtype).max - 1))
        spec = det.create_group("detectorSpecific")
        spec.attrs["NX_class"] = "NXcollection"
        spec.create_dataset("pixel_mask", data=pixel_mask, chunks=True, **_compression("bslz4"))
        spec.create_dataset("nimages", data=np.uint64(len(frames)))
        spec.create_dataset("ntrigger", data=np.uint64(1))
        spec.create_dataset("x_pixels_in_detector", data=np.uint32(nx))
        spec.create_dataset("y_pixels_in_detector", data=np.uint32(ny))
        spec.create_dataset("software_version", data=b"panosc-cwl simulation of SIMPLON 1.8")
    _write_poni(ai, poni)
    job = cwl_file_object(master, out)
    job_path = write_job(out / f"{name}_job.yml", [job], None)
    return FacilityData(master, [master, *data_paths], frames, poni, sim.calibrant, sim.wavelength, job, job_path)


# ------------------------------------------------------------------ ESRF Bliss scan (VDS over LImA files)
def write_bliss(outdir: str | Path, sim: PowderSimulation | None = None, *, n_chunks: int = 4,
                detector_name: str = "eiger", compression: str = "gzip", dtype: str = "uint32",
                overwrite: bool = False) -> FacilityData:
    """A Bliss dataset folder: scan file with a VDS over ``n_chunks`` LImA files in ``scan0001/``."""
    import h5py

    sim = sim or PowderSimulation(detector="Eiger1M", n_frames=8)
    if not 1 <= n_chunks <= sim.n_frames:
        raise InputError(f"need 1 to {sim.n_frames} chunk files for {sim.n_frames} frames, got {n_chunks}",
                         field="files")
    name = f"{sim.basename()}_0001"
    out = Path(outdir) / name
    (out / "scan0001").mkdir(parents=True, exist_ok=True)
    scan = out / f"{name}.h5"
    chunks = [out / "scan0001" / f"{detector_name}_{i:04d}.h5" for i in range(n_chunks)]
    poni = out / f"{name}.poni"
    _check_new([scan, *chunks, poni], overwrite)
    frames, ai, _ = _simulate(sim, 0.0)
    stored = _flagged(frames, dtype)
    comp = _compression(compression)
    n, ny, nx = stored.shape
    bounds = np.linspace(0, n, n_chunks + 1).round().astype(int)
    layout = h5py.VirtualLayout(shape=stored.shape, dtype=stored.dtype)
    lima_ds = f"/entry_0000/instrument/{detector_name}/data"
    for i, path in enumerate(chunks):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        with atomic_path(path, overwrite=True) as tmp, h5py.File(tmp, "w") as h5:
            set_attrs(h5, NX_class="NXroot", creator="LIMA-1.9.x (simulated)", default="entry_0000")
            entry = h5.create_group("entry_0000")
            set_attrs(entry, NX_class="NXentry", default="measurement")
            entry.create_dataset("title", data="Lima 2D detector acquisition")
            inst = entry.create_group("instrument")
            inst.attrs["NX_class"] = "NXinstrument"
            det = inst.create_group(detector_name)
            det.attrs["NX_class"] = "NXdetector"
            ds = det.create_dataset("data", data=stored[lo:hi], chunks=(1, ny, nx), **comp)
            ds.attrs["interpretation"] = "image"
            meas = entry.create_group("measurement")
            meas.attrs["NX_class"] = "NXcollection"
            meas["data"] = ds  # LImA's hard link
        rel = f"scan0001/{path.name}"
        layout[lo:hi] = h5py.VirtualSource(rel, lima_ds, shape=(hi - lo, ny, nx))
    with atomic_path(scan, overwrite=True) as tmp, h5py.File(tmp, "w") as h5:
        set_attrs(h5, NX_class="NXroot", creator="Bliss (simulated by panosc-cwl)", file_name=str(scan.name),
                  file_time=now_iso(), publisher="bliss")
        entry = h5.create_group("1.1")
        entry.attrs["NX_class"] = "NXentry"
        entry.create_dataset("title", data=f"loopscan {n} 0.1")
        entry.create_dataset("start_time", data=now_iso())
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        det = inst.create_group(detector_name)
        det.attrs["NX_class"] = "NXdetector"
        det.create_virtual_dataset("data", layout, fillvalue=np.iinfo(dtype).max)
        det.create_dataset("type", data="lima")
        meas = entry.create_group("measurement")
        meas.attrs["NX_class"] = "NXcollection"
        meas[detector_name] = h5py.SoftLink(f"/1.1/instrument/{detector_name}/data")
        sample = entry.create_group("sample")
        sample.attrs["NX_class"] = "NXsample"
        sample.create_dataset("name", data=sim.calibrant)
    _write_poni(ai, poni)
    job = cwl_file_object(scan, out)
    job_path = write_job(out / f"{name}_job.yml", [job], poni)
    return FacilityData(scan, [scan, *chunks], frames, poni, sim.calibrant, sim.wavelength, job, job_path)


# ------------------------------------------------------------------ LImA EDF series
def write_edf_series(outdir: str | Path, sim: PowderSimulation | None = None, *, frames_per_file: int = 2,
                     detector_name: str = "pilatus", dtype: str = "uint32", overwrite: bool = False) -> FacilityData:
    """A LImA EDF series: ``DET_0000.edf``... with ``frames_per_file`` frames each (multi-frame EDF)."""
    import fabio.edfimage

    sim = sim or PowderSimulation(detector="Pilatus1M", n_frames=4)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    n_files = -(-sim.n_frames // max(frames_per_file, 1))
    paths = [out / f"{detector_name}_{i:04d}.edf" for i in range(n_files)]
    poni = out / f"{sim.basename()}.poni"
    _check_new([*paths, poni], overwrite)
    frames, ai, _ = _simulate(sim, 0.0)
    stored = _flagged(frames, dtype)
    for i, path in enumerate(paths):
        block = stored[i * frames_per_file:(i + 1) * frames_per_file]
        img = None
        for j, frame in enumerate(block):
            header = {"acq_frame_nb": str(i * frames_per_file + j), "image_mode": "SINGLE",
                      "acq_expo_time": "0.1", "EDF_DataBlockID": f"{j}.Image.Psd"}
            if img is None:
                img = fabio.edfimage.EdfImage(data=frame, header=header)
            else:
                img.append_frame(data=frame, header=header)
        with atomic_path(path, overwrite=True) as tmp:
            img.write(str(tmp))
    _write_poni(ai, poni)
    jobs = [{"class": "File", "path": p.name} for p in paths]
    job_path = write_job(out / f"{detector_name}_job.yml", jobs, poni)
    return FacilityData(paths[0], paths, frames, poni, sim.calibrant, sim.wavelength, {"frames": jobs}, job_path)
