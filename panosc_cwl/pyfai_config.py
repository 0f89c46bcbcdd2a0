"""pyFAI's own integration configuration (the JSON ``pyFAI-integrate`` saves) as integration inputs.

Beamlines set up an integration in pyFAI-integrate and pass the saved JSON on. It is parsed by
pyFAI itself (:class:`pyFAI.io.integration_config.WorkerConfig`, which also upgrades older
versions of the format); this module only maps it onto :class:`IntegrationSettings` and the
geometry, and resolves the mask/dark/flat file names it holds (relative to the JSON's folder, so
files staged next to it as CWL ``secondaryFiles`` are found). Explicit inputs override it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .exceptions import InputError
from .iorw import require_file
from .units import ERROR_MODELS, METHODS, UNITS


@dataclass
class PyFAIConfig:
    """What a pyFAI-integrate JSON says, in this project's terms (None = not set there)."""

    path: Path
    integrator: object  # pyFAI AzimuthalIntegrator (geometry + detector)
    settings: dict = field(default_factory=dict)  # IntegrationSettings fields set by the file
    mask: Path | None = None
    dark: Path | None = None
    flat: Path | None = None
    dims: int = 1


def _unit_name(unit) -> str:
    """Our unit key for a pyFAI unit (e.g. ``2th_deg``); other units are refused by name."""
    name = getattr(unit, "name", None) or str(unit)
    if name not in UNITS:
        raise InputError(f"unit '{name}' of the pyFAI configuration is not supported (use {', '.join(UNITS)})",
                         field="config")
    return name


def _method_key(method) -> tuple[str, str, str] | None:
    if method is None:
        return None
    triple = (str(method.split), str(method.algo), str(method.impl))
    for key in METHODS.values():
        if tuple(key) == triple:
            return key
    return triple


def _file(base: Path, value, key: str) -> Path | None:
    if not value:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise InputError(f"{key}: averaging several files is not supported; give one image", field="config")
        value = value[0]
    given = Path(str(value))
    # pyFAI-integrate saves absolute paths of the machine it ran on; a runner stages the file beside
    # the JSON (secondaryFiles): look there first, then where the name points
    candidates = ([given] if given.is_absolute() else [base / given]) + [base / given.name, given]
    p = next((c for c in candidates if c.is_file()), given)
    if not p.is_file():
        raise InputError(f"{key} '{value}' of the pyFAI configuration not found (looked beside {base.name or '.'}/); "
                         f"give it explicitly or stage it next to the JSON", field="config")
    return p


def load_config(path: str | os.PathLike) -> PyFAIConfig:
    """Read a pyFAI-integrate JSON (any version pyFAI upgrades) with pyFAI's WorkerConfig."""
    import logging

    from pyFAI import load
    from pyFAI.io.integration_config import WorkerConfig

    p = require_file(path, "config")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{p.name} is not JSON ({exc})", field="config") from None
    if not isinstance(raw, dict):
        raise InputError(f"{p.name} is not a pyFAI integration configuration (a JSON object)", field="config")
    logging.getLogger("pyFAI.io.integration_config").setLevel(logging.ERROR)
    try:
        wc = WorkerConfig.from_dict(raw)
    except Exception as exc:  # pyFAI raises several types for malformed configurations
        raise InputError(f"{p.name}: pyFAI cannot read this configuration ({exc})", field="config") from None
    if wc.poni is None:
        raise InputError(f"{p.name} has no geometry ('poni')", field="config")
    try:
        ai = load(wc.poni)
    except Exception as exc:
        raise InputError(f"{p.name}: bad geometry ({exc})", field="config") from None
    if not ai.wavelength:
        raise InputError(f"{p.name} has no wavelength (needed for 2θ/q)", field="config")
    settings: dict = {}
    if wc.nbpt_rad:
        settings["npt"] = int(wc.nbpt_rad)
    if wc.nbpt_azim and int(wc.nbpt_azim) > 1:
        settings["npt_azim"] = int(wc.nbpt_azim)
    if wc.unit is not None:
        settings["unit"] = _unit_name(wc.unit)
    if wc.do_polarization:
        settings["polarization_factor"] = float(wc.polarization_factor)
    model = getattr(wc.error_model, "as_str", lambda: str(wc.error_model))().lower()
    settings["error_model"] = model if model in ERROR_MODELS else "none"
    method = _method_key(wc.method)
    if method is not None:
        settings["method"] = method
    if wc.do_radial_range:
        settings["radial_range"] = (float(wc.radial_range[0]), float(wc.radial_range[1]))
    if wc.do_azimuthal_range:
        settings["azimuth_range"] = (float(wc.azimuth_range[0]), float(wc.azimuth_range[1]))
    base = p.parent
    return PyFAIConfig(
        p, ai, settings,
        mask=_file(base, wc.mask_file, "mask_file"),
        dark=_file(base, wc.dark_current, "dark_current"),
        flat=_file(base, wc.flat_field, "flat_field"),
        dims=2 if wc.do_2D else 1,
    )


def save_config(path: str | os.PathLike, poni: str | os.PathLike, *, npt: int, unit: str = "2th_deg",
                npt_azim: int | None = None, mask: str | None = None, dark: str | None = None,
                flat: str | None = None, polarization_factor: float | None = None, error_model: str = "poisson",
                method: str = "csr", azimuth_range: tuple[float, float] | None = None) -> Path:
    """Write what pyFAI-integrate saves for these settings (pyFAI's own WorkerConfig.save); for tests and examples."""
    from pyFAI.containers import ErrorModel
    from pyFAI.io.integration_config import WorkerConfig
    from pyFAI.io.ponifile import PoniFile

    wc = WorkerConfig(application="pyfai-integrate", poni=PoniFile(str(poni)), nbpt_rad=npt, nbpt_azim=npt_azim or 1,
                      unit=unit, mask_file=mask, dark_current=dark, flat_field=flat,
                      error_model=ErrorModel.parse(error_model if error_model != "none" else "no"),
                      method=METHODS[method], val_dummy=-1, delta_dummy=0.5)
    if polarization_factor is not None:
        wc.polarization_factor = polarization_factor
    if azimuth_range is not None:
        wc.azimuth_range = list(azimuth_range)
    wc.save(str(path))
    return Path(path)
