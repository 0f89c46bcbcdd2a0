"""X-ray fluorescence maps with PyMca5 (ESRF; CERIC-ERIC's use case): test maps, single fits, map results.

PyMca's batch fitter ``python -m PyMca5.PyMcaPhysics.xrf.FastXRFLinearFit`` runs headless (its Qt
tools do not); the CWL tool calls it directly. This module makes a noisy map from the spectrum and
configuration PyMca ships (``Steel.spe``, ``Steel.cfg``; background switched to SNIP), fits a single
spectrum with PyMca's full non-linear fit (:class:`McaTheory`) as the reference, and reads the
map fitter's HDF5 output back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exceptions import InputError
from .iorw import atomic_path, new_nexus_file, open_hdf5, require_file, write_nxdata

MAP_DATASET = "/entry/data/data"
RESULTS = "xrf_fit/results"


def pymca_data_file(name: str) -> Path:
    """A file PyMca ships in its data folder (``Steel.spe``, ``Steel.cfg``...)."""
    from PyMca5 import PyMcaDataDir

    path = Path(PyMcaDataDir.PYMCA_DATA_DIR) / name
    if not path.is_file():
        raise InputError(f"{name} is not in PyMca's data folder {path.parent}", field="reference")
    return path


def read_spectrum(path: str | Path) -> np.ndarray:
    """First MCA spectrum of a SPEC/``.spe``/``.mca`` file, with PyMca's own reader."""
    from PyMca5.PyMcaIO import specfilewrapper

    p = require_file(path, "spectrum")
    try:
        return np.asarray(specfilewrapper.Specfile(str(p))[0].mca(1), dtype=float)
    except Exception as exc:  # the SPEC reader raises plain Exceptions for bad files
        raise InputError(f"cannot read an MCA spectrum from {p.name}: {exc}", field="spectrum") from None


def load_config(path: str | Path):
    from PyMca5.PyMcaIO import ConfigDict

    p = require_file(path, "config")
    cfg = ConfigDict.ConfigDict()
    try:
        cfg.read(str(p))
    except Exception as exc:
        raise InputError(f"cannot read {p.name} as a PyMca fit configuration: {exc}", field="config") from None
    if "fit" not in cfg or "peaks" not in cfg:
        raise InputError(f"{p.name} has no [fit]/[peaks] sections: not a PyMca fit configuration", field="config")
    return cfg


def write_snip_config(source: str | Path, output: str | Path, *, snip_width: int | None = None,
                      overwrite: bool = False) -> Path:
    """Copy a PyMca fit configuration with the SNIP background (``stripalgorithm = 1``)."""
    cfg = load_config(source)
    cfg["fit"]["stripalgorithm"] = 1
    cfg["fit"]["stripflag"] = 1
    if snip_width is not None:
        cfg["fit"]["snipwidth"] = int(snip_width)
    with atomic_path(output, overwrite=overwrite) as tmp:
        cfg.write(str(tmp))
    return Path(output)


def fit_spectrum(spectrum: np.ndarray, config: str | Path) -> dict[str, float]:
    """Full non-linear PyMca fit of one spectrum: fitted area of every peak group ("Fe Ka", "Cr K"...)."""
    from PyMca5.PyMcaPhysics.xrf import ClassMcaTheory

    cfg = load_config(config)
    mca = ClassMcaTheory.McaTheory()
    mca.configure(cfg)
    x = np.arange(spectrum.size, dtype=float)
    mca.setData(x=x, y=np.asarray(spectrum, float), xmin=cfg["fit"]["xmin"], xmax=cfg["fit"]["xmax"])
    mca.estimate()
    _, result = mca.startfit(digest=1)
    return {g: float(result[g]["fitarea"]) for g in result["groups"]}


@dataclass
class XRFMap:
    map_file: Path
    config: Path
    reference: Path
    truth: Path
    shape: tuple[int, int]


def make_map(outdir: str | Path, shape: tuple[int, int] = (20, 20), *, seed: int = 0, name: str = "steel",
             overwrite: bool = False) -> XRFMap:
    """A ``ny x nx`` map whose pixels are Poisson-noisy copies of ``Steel.spe`` scaled by 0.5..1.5.

    Every pixel has the steel's composition, so element ratios over the map must equal those of a
    single-spectrum fit of ``Steel.spe``; only the amount of material (the scale, kept as truth) varies.
    """
    import h5py

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    if shape[0] < 1 or shape[1] < 1:
        raise InputError(f"map shape must be positive, got {shape}", field="shape")
    spe = pymca_data_file("Steel.spe")
    spectrum = read_spectrum(spe)
    rng = np.random.default_rng(seed)
    scale = 0.5 + rng.random(shape)
    stack = rng.poisson(scale[..., None] * spectrum[None, None, :]).astype(np.float32)
    map_file = out / f"{name}-map.h5"
    with atomic_path(map_file, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as h5:
            entry = new_nexus_file(h5, title=f"Simulated XRF map from PyMca's {spe.name}")
            entry.attrs["default"] = "data"
            write_nxdata(entry, "data", "data", stack,
                         [("y", np.arange(shape[0]), "pixel"), ("x", np.arange(shape[1]), "pixel"),
                          ("channel", np.arange(spectrum.size), "")], long_name="counts")
    config = write_snip_config(pymca_data_file("Steel.cfg"), out / f"{name}-snip.cfg", overwrite=overwrite)
    reference = out / f"{name}.spe"
    with atomic_path(reference, overwrite=overwrite) as tmp:
        tmp.write_bytes(spe.read_bytes())
    truth = out / f"{name}-truth.json"
    with atomic_path(truth, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps({"shape": list(shape), "scale": scale.tolist(), "seed": seed,
                                   "source": str(spe)}))
    return XRFMap(map_file, config, reference, truth, shape)


def read_map_result(path: str | Path) -> dict[str, np.ndarray]:
    """Fitted area maps from FastXRFLinearFit's HDF5 output, keyed like PyMca's groups ("Fe Ka")."""
    import h5py

    p = require_file(path, "result")
    with h5py.File(p, "r") as h5:
        hits = []
        h5.visit(lambda n: hits.append(n) if n.endswith(RESULTS + "/parameters") else None)
        if not hits:
            raise InputError(f"{p.name} has no {RESULTS}/parameters group: not a FastXRFLinearFit result",
                             field="result")
        grp = h5[hits[0]]
        return {k.replace("_", " "): grp[k][()] for k in grp if not k.endswith("_errors")}


def group_ratio(areas: dict, numerator: list[str], denominator: list[str]) -> float:
    """Ratio of summed areas (scalars or maps) of two lists of peak groups, e.g. Fe Ka+Fe Kb over Cr K."""
    for g in numerator + denominator:
        if g not in areas:
            raise InputError(f"no peak group '{g}' (have {', '.join(sorted(areas))})", field="group")
    num = sum(float(np.sum(areas[g])) for g in numerator)
    den = sum(float(np.sum(areas[g])) for g in denominator)
    return num / den


def summarise(result: str | Path) -> dict[str, float]:
    """Total fitted area per group over the whole map (for reports and quick checks)."""
    return {k: float(np.sum(v)) for k, v in sorted(read_map_result(result).items())}



def fit_map_command(map_file: str | Path, dataset: str, config: str | Path, outdir: str | Path, outroot: str, *,
                    weight: int = 1, refit: int = 0) -> list[str]:
    """The exact headless PyMca command (this Python's interpreter) that fits every pixel of a map."""
    import sys

    return [sys.executable, "-m", "PyMca5.PyMcaPhysics.xrf.FastXRFLinearFit", "--cfg", str(config),
            "--outdir", str(outdir), "--outroot", outroot, "--weight", str(int(weight)), "--refit", str(int(refit)),
            "--h5", "1", "--edf", "0", "--csv", "0", "--tif", "0", "--dat", "0", f"{map_file}::{dataset}"]


def check_map(map_file: str | Path, dataset: str) -> tuple[int, ...]:
    """Shape of the map dataset; it must be (rows, columns, channels) so PyMca reads a stack."""
    import h5py

    p = Path(map_file)
    with open_hdf5(p, "map") as h5:
        if dataset not in h5 or not isinstance(h5[dataset], h5py.Dataset):
            raise InputError(f"no dataset '{dataset}' in {p.name}", field="dataset")
        shape = h5[dataset].shape
    if len(shape) != 3:
        raise InputError(f"'{dataset}' in {p.name} has shape {shape}: expected (rows, columns, channels)",
                         field="dataset")
    return shape


def fit_map(map_file: str | Path, dataset: str, config: str | Path, output: str | Path, *, weight: int = 1,
            refit: int = 0, overwrite: bool = False) -> tuple[Path, list[str], str]:
    """Run PyMca's FastXRFLinearFit on a map; its HDF5 result replaces ``output`` atomically.

    ``weight=1`` weights the linear fit by the counts, as the configuration's ``fitweight`` does for
    the single-spectrum fit. Returns the output path, the command run and PyMca's log.
    """
    import shutil
    import subprocess
    import tempfile

    check_map(map_file, dataset)
    load_config(config)
    out = Path(output)
    with atomic_path(out, overwrite=overwrite) as tmp, tempfile.TemporaryDirectory(dir=out.parent) as work:
        cmd = fit_map_command(Path(map_file).resolve(), dataset, Path(config).resolve(), Path(work).resolve(), "fit",
                              weight=weight, refit=refit)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        log = proc.stdout + proc.stderr
        produced = Path(work) / "fit.h5"
        if proc.returncode != 0 or not produced.is_file():
            last = [ln for ln in log.strip().splitlines() if ln.strip()][-1:] or ["no output"]
            raise InputError(f"PyMca FastXRFLinearFit failed (exit {proc.returncode}): {last[0]}", field="fit")
        shutil.move(str(produced), tmp)
    return out, cmd, log
