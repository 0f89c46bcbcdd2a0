"""Small-angle scattering with sasmodels (SasView's model library, ESS): evaluate, simulate, fit 1D curves.

sasmodels computes I(q) of its models (sphere, cylinder, core_shell_sphere...) and its bumps
interface fits them; this module reads/writes the usual three-column curve (q [1/Å], I [1/cm],
dI) and returns fitted parameters with uncertainties. OpenCL/CUDA are switched off
(``SAS_OPENCL=none``) so results do not depend on a GPU being present.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exceptions import InputError
from .iorw import atomic_path, require_file

os.environ.setdefault("SAS_OPENCL", "none")


def load_kernel(model: str):
    """The sasmodels model ``model`` in double precision; an unknown name is a one-line error."""
    from sasmodels.core import list_models, load_model

    if model not in list_models():
        import difflib

        close = difflib.get_close_matches(model, list_models(), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(f"unknown sasmodels model '{model}'{hint}", field="model")
    return load_model(model, dtype="double")


def parameter_names(kernel) -> list[str]:
    return ["scale", "background"] + [p.name for p in kernel.info.parameters.kernel_parameters]


def check_parameters(kernel, pars: dict) -> None:
    known = set(parameter_names(kernel)) | {f"{p}_pd" for p in parameter_names(kernel)}
    for name in pars:
        if name not in known:
            raise InputError(f"model {kernel.info.id} has no parameter '{name}' "
                             f"(has {', '.join(parameter_names(kernel))})", field="parameters")


def parse_parameters(items: Sequence[str]) -> dict[str, float]:
    """``["radius=60", "sld=4"]`` -> ``{"radius": 60.0, "sld": 4.0}``."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"expected NAME=VALUE, got '{item}'", field="parameters") from None
    return out


def evaluate(model: str, q: np.ndarray, pars: dict[str, float]) -> np.ndarray:
    """I(q) of ``model`` with ``pars`` (others at the model's defaults), no resolution smearing."""
    from sasmodels.data import empty_data1D
    from sasmodels.direct_model import DirectModel

    kernel = load_kernel(model)
    check_parameters(kernel, pars)
    return np.asarray(DirectModel(empty_data1D(np.asarray(q, float)), kernel)(**pars))


def sphere_analytic(q: np.ndarray, radius: float, sld: float, sld_solvent: float, scale: float = 1.0,
                    background: float = 0.0) -> np.ndarray:
    """Textbook sphere form factor in sasmodels' units (Å, 1e-6/Å², 1/cm): the check of the sphere model."""
    qr = np.asarray(q) * radius
    f = 3.0 * (np.sin(qr) - qr * np.cos(qr)) / qr**3
    volume = 4.0 / 3.0 * np.pi * radius**3
    return scale * 1e-4 * volume * (sld - sld_solvent) ** 2 * f**2 + background


def write_curve(path: str | Path, q, intensity, sigma, *, header: str = "", overwrite: bool = False) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        np.savetxt(tmp, np.column_stack([q, intensity, sigma]),
                   header=(header + "\n" if header else "") + "q [1/angstrom]  I [1/cm]  dI [1/cm]")
    return Path(path)


def read_curve(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """q, I and dI (None without a third column) of a whitespace-separated curve; '#' lines are comments."""
    p = require_file(path, "curve")
    try:
        data = np.loadtxt(p, ndmin=2)
    except ValueError as exc:
        raise InputError(f"{p.name} is not a numeric q/I[/dI] table: {exc}", field="curve") from None
    if data.shape[1] < 2 or data.shape[0] < 3:
        raise InputError(f"{p.name} needs at least 3 rows of q and I columns, has shape {data.shape}", field="curve")
    q, i = data[:, 0], data[:, 1]
    di = data[:, 2] if data.shape[1] > 2 else None
    if np.any(q <= 0):
        raise InputError(f"{p.name} has q <= 0", field="curve")
    if di is not None and np.any(di <= 0):
        raise InputError(f"{p.name} has dI <= 0 (uncertainties must be positive)", field="curve")
    return q, i, di


def simulate_curve(output: str | Path, model: str, pars: dict[str, float], *, qmin: float = 1e-3,
                   qmax: float = 0.3, npoints: int = 200, noise: float = 0.03, seed: int = 0,
                   overwrite: bool = False) -> Path:
    """A noisy curve of ``model``: Gaussian noise of ``noise`` x I on log-spaced q, dI = noise x I."""
    if not 0 < qmin < qmax:
        raise InputError(f"need 0 < qmin < qmax, got {qmin}, {qmax}", field="q")
    q = np.logspace(np.log10(qmin), np.log10(qmax), npoints)
    ideal = evaluate(model, q, pars)
    rng = np.random.default_rng(seed)
    sigma = noise * ideal
    noisy = ideal + rng.normal(0.0, 1.0, q.size) * sigma
    header = "sasmodels " + model + " " + json.dumps(pars)
    return write_curve(output, q, noisy, sigma, header=header, overwrite=overwrite)


@dataclass
class SASFit:
    model: str
    values: dict[str, float]
    uncertainties: dict[str, float]
    fixed: dict[str, float]
    chisq: float
    q: np.ndarray
    intensity: np.ndarray
    fit: np.ndarray

    def as_dict(self) -> dict:
        return {"model": self.model, "parameters": self.values, "uncertainties": self.uncertainties,
                "fixed": self.fixed, "reduced_chisq": self.chisq}


def fit_curve(curve: str | Path, model: str, start: dict[str, float], free: Sequence[str],
              bounds: dict[str, tuple[float, float]] | None = None) -> SASFit:
    """Fit ``free`` parameters of ``model`` to a curve with bumps' Levenberg-Marquardt (sasmodels' fitter).

    ``start`` gives starting values (free) and fixed values (the rest); missing ones take the
    model's defaults. Uncertainties are bumps' 1σ from the covariance.
    """
    from bumps.fitters import fit
    from bumps.names import FitProblem
    from sasmodels.bumps_model import Experiment, Model
    from sasmodels.data import Data1D

    kernel = load_kernel(model)
    check_parameters(kernel, start)
    check_parameters(kernel, dict.fromkeys(free, 0.0))
    if not free:
        raise InputError("give at least one parameter to fit", field="fit")
    q, i, di = read_curve(curve)
    if di is None:
        di = np.maximum(np.abs(i) * 0.01, 1e-12)
    bumps_model = Model(kernel, **start)
    bounds = bounds or {}
    for name in free:
        lo, hi = bounds.get(name, (0.0, np.inf) if name in ("scale", "background", "radius") else (-np.inf, np.inf))
        getattr(bumps_model, name).range(lo, hi)
    problem = FitProblem(Experiment(data=Data1D(x=q, y=i, dy=di), model=bumps_model))
    result = fit(problem, method="lm", verbose=False)
    labels = problem.labels()
    values = {n: float(v) for n, v in zip(labels, result.x)}
    errors = {n: float(v) for n, v in zip(labels, result.dx)}
    fitted = {**start, **values}
    curve_fit = evaluate(model, q, fitted)
    fixed = {k: v for k, v in start.items() if k not in values}
    return SASFit(model, values, errors, fixed, float(problem.chisq()), q, i, curve_fit)


def write_fit(result: SASFit, output: str | Path, curve_out: str | Path | None = None, *,
              overwrite: bool = False) -> Path:
    """Fitted parameters as JSON; optionally the data with the fitted curve as a four-column table."""
    with atomic_path(output, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(result.as_dict(), indent=1) + "\n")
    if curve_out is not None:
        with atomic_path(curve_out, overwrite=overwrite) as tmp:
            np.savetxt(tmp, np.column_stack([result.q, result.intensity, result.fit]),
                       header=f"sasmodels {result.model} fit\nq [1/angstrom]  I [1/cm]  I_fit [1/cm]")
    return Path(output)
