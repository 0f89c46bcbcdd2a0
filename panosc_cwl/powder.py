"""Powder-pattern science after integration: reduce a stack, find peaks, compare with a calibrant, plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .caches import cache_dir
from .exceptions import InputError
from .iorw import atomic_path, new_nexus_file, open_hdf5, set_attrs, write_nxdata
from .nxazint import DATA as INTEGRATED, Integrated, read_integrated  # noqa: F401  (the one reader of integrated stacks)


@dataclass
class Pattern:
    """One integrated dataset read back from a NeXus file."""

    radial: np.ndarray
    radial_name: str
    radial_units: str
    intensity: np.ndarray  # (frames, radial) or (radial,)
    sigma: np.ndarray | None
    wavelength_m: float | None


def read_pattern(path: str | Path, group: str | None = None) -> Pattern:
    """Read the default NXdata (or ``group``) of a NeXus file written by our tools.

    Integrated stacks (NXazint1d/2d) are read by :func:`read_integrated`; the radial axis keeps
    its physical name (``two_theta``, ``q``), so reduced files name their axis as before.
    """
    p = Path(path)
    with open_hdf5(p, "input") as h5:
        entry = h5.get(h5.attrs.get("default", "entry"))
        is_stack = (entry is not None and group in (None, INTEGRATED) and entry.attrs.get("default") == INTEGRATED
                    and f"{INTEGRATED}/radial_axis" in entry)
    if is_stack:
        st = read_integrated(p)
        return Pattern(st.radial, st.radial_name, st.radial_units, st.intensity, st.sigma, st.wavelength_m)
    with open_hdf5(p, "input") as h5:
        entry_name = h5.attrs.get("default", "entry")
        if entry_name not in h5:
            raise InputError(f"{p.name} has no NXentry '{entry_name}'", field="input")
        entry = h5[entry_name]
        gname = group or entry.attrs.get("default")
        if not gname or gname not in entry:
            raise InputError(f"{p.name}: no NXdata group '{gname}' in /{entry_name}", field="input")
        grp = entry[gname]
        signal = grp.attrs["signal"]
        axes = list(grp.attrs["axes"])
        if isinstance(axes[0], bytes):
            axes = [a.decode() for a in axes]
        radial_name = axes[-1]
        radial = grp[radial_name][()]
        units = grp[radial_name].attrs.get("units", "")
        intensity = grp[signal][()]
        sigma = grp[f"{signal}_errors"][()] if f"{signal}_errors" in grp else None
        wl = None
        wpath = "instrument/monochromator/wavelength"
        if wpath in entry:
            wl = float(entry[wpath][()]) * 1e-10
    return Pattern(radial, radial_name, str(units), intensity, sigma, wl)


def calibrant_two_theta(calibrant: str, wavelength_m: float) -> list[float]:
    """pyFAI's 2θ (rad) of every reflection of ``calibrant`` at ``wavelength_m``.

    Importing pyFAI's calibrant module costs 1-2 s (it pulls in scipy.signal/stats), more than the
    plot or report step itself; pyFAI's answer is therefore kept in :func:`cache_dir`, keyed by the
    pyFAI version, calibrant and exact wavelength, so later steps and runs read the same numbers
    back (floats round-trip exactly through JSON) without importing pyFAI.
    """
    import json
    from importlib.metadata import version

    root = cache_dir()
    path = None
    if root is not None:
        key = f"{calibrant}-{float(wavelength_m).hex()}".replace("/", "_")
        path = root / f"pyFAI-{version('pyFAI')}" / "calibrant-2th" / f"{key}.json"
        try:
            return [float(v) for v in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError):
            pass
    from .simulate import get_calibrant

    two_theta = [float(v) for v in get_calibrant(calibrant, wavelength_m).get_2th()]
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path, overwrite=True) as tmp:
                Path(tmp).write_text(json.dumps(two_theta))
        except Exception:  # e.g. a read-only home: no cache, same numbers
            pass
    return two_theta


def expected_positions(calibrant: str, wavelength_m: float, unit: str) -> np.ndarray:
    """Positions of the calibrant's reflections in ``unit`` (one of the integration units)."""
    two_theta = np.asarray(calibrant_two_theta(calibrant, wavelength_m), dtype=float)
    if unit == "2th_deg":
        return np.degrees(two_theta)
    q_m = 4 * np.pi * np.sin(two_theta / 2) / wavelength_m
    if unit == "q_nm^-1":
        return q_m * 1e-9
    if unit == "q_A^-1":
        return q_m * 1e-10
    raise InputError(f"cannot place calibrant peaks in unit '{unit}' (use 2th_deg or q)", field="unit")


UNIT_FROM_AXIS = {("two_theta", "deg"): "2th_deg", ("q", "1/nm"): "q_nm^-1", ("q", "1/angstrom"): "q_A^-1",
                  ("r", "mm"): "r_mm"}


def peak_offsets(radial: np.ndarray, intensity: np.ndarray, expected: np.ndarray, window_bins: int = 2):
    """For each expected position inside ``radial``'s range, the offset (in bins) of the nearest local maximum.

    A local maximum is a bin higher than both neighbours. Returns ``(positions, offsets)``;
    offsets are ``nan`` where no local maximum lies within ``window_bins`` bins.
    """
    radial = np.asarray(radial)
    intensity = np.asarray(intensity, dtype=float)
    finite = np.isfinite(intensity) & (intensity != 0)
    lo, hi = radial[finite].min(), radial[finite].max()
    step = float(np.median(np.diff(radial)))
    inside = expected[(expected > lo + 3 * step) & (expected < hi - 3 * step)]
    is_max = np.zeros(intensity.shape, dtype=bool)
    is_max[1:-1] = (intensity[1:-1] > intensity[:-2]) & (intensity[1:-1] >= intensity[2:])
    max_idx = np.nonzero(is_max)[0]
    offsets = []
    for pos in inside:
        centre = (pos - radial[0]) / step
        d = max_idx - centre
        near = d[np.abs(d) <= window_bins + 0.5]
        offsets.append(near[np.argmin(np.abs(near))] if near.size else np.nan)
    return inside, np.asarray(offsets, dtype=float)


@dataclass
class Reduced:
    mean: np.ndarray
    mean_sigma: np.ndarray | None
    total: np.ndarray
    frame_total: np.ndarray


def reduce_stack(pattern: Pattern) -> Reduced:
    """Mean and sum over frames (errors propagated), and the total integrated intensity of each frame."""
    stack = np.atleast_2d(pattern.intensity)
    if stack.ndim != 2:
        raise InputError(f"expected a stack of 1D patterns, got shape {stack.shape}", field="input")
    n = stack.shape[0]
    mean = stack.mean(axis=0)
    total = stack.sum(axis=0)
    sigma = None
    if pattern.sigma is not None:
        sig = np.atleast_2d(pattern.sigma)
        sigma = np.sqrt((sig ** 2).sum(axis=0)) / n
    step = np.abs(np.gradient(pattern.radial))
    frame_total = (stack * step).sum(axis=1)
    return Reduced(mean, sigma, total, frame_total)


def write_reduced(pattern: Pattern, red: Reduced, output: str | Path, overwrite: bool = False) -> Path:
    """NeXus with ``/entry/mean`` (default plot), ``/entry/sum`` and ``/entry/frame_total``."""
    import h5py

    with atomic_path(output, overwrite=overwrite) as tmp:
        with h5py.File(tmp, "w") as h5:
            entry = new_nexus_file(h5, title="Reduced powder pattern")
            entry.attrs["default"] = "mean"
            ax = [(pattern.radial_name, pattern.radial, pattern.radial_units)]
            write_nxdata(entry, "mean", "I", red.mean, ax, errors=red.mean_sigma, long_name="mean intensity")
            sum_sigma = None if red.mean_sigma is None else red.mean_sigma * red.frame_total.size
            write_nxdata(entry, "sum", "I", red.total, ax, errors=sum_sigma, long_name="summed intensity")
            frames = np.arange(red.frame_total.size)
            write_nxdata(entry, "frame_total", "total", red.frame_total, [("frame_index", frames, "")],
                         signal_units=f"counts*{pattern.radial_units}", long_name="integrated intensity per frame")
            if pattern.wavelength_m:
                inst = entry.create_group("instrument")
                inst.attrs["NX_class"] = "NXinstrument"
                mono = inst.create_group("monochromator")
                set_attrs(mono, NX_class="NXmonochromator")
                mono.create_dataset("wavelength", data=pattern.wavelength_m * 1e10).attrs["units"] = "angstrom"
    return Path(output)


def plot_pattern(reduced_path: str | Path, output: str | Path, calibrant: str | None = None,
                 overwrite: bool = False, title: str | None = None) -> Path:
    """PNG of the mean pattern with the calibrant's expected reflections, and per-frame totals."""
    # a Figure with the Agg canvas, without pyplot: no GUI backend machinery to import and set up
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pat = read_pattern(reduced_path, "mean")
    totals = read_pattern(reduced_path, "frame_total")
    fig = Figure(figsize=(9, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax, ax2 = fig.subplots(2, 1, height_ratios=[3, 1])
    ax.plot(pat.radial, pat.intensity, lw=0.8, color="k", label="mean pattern")
    if pat.sigma is not None:
        ax.fill_between(pat.radial, pat.intensity - pat.sigma, pat.intensity + pat.sigma, color="0.6", lw=0)
    unit = UNIT_FROM_AXIS.get((pat.radial_name, pat.radial_units))
    if calibrant and pat.wavelength_m and unit in ("2th_deg", "q_nm^-1", "q_A^-1"):
        pos = expected_positions(calibrant, pat.wavelength_m, unit)
        pos = pos[(pos >= pat.radial.min()) & (pos <= pat.radial.max())]
        for i, p in enumerate(pos):
            ax.axvline(p, color="tab:red", lw=0.7, ls="--", alpha=0.7, label=f"{calibrant} reflections" if i == 0 else None)
    ax.set_xlabel(f"{pat.radial_name} ({pat.radial_units})")
    ax.set_ylabel("intensity (counts)")
    ax.set_title(title or (f"{calibrant} powder pattern" if calibrant else "powder pattern"))
    ax.legend(loc="upper right")
    ax2.plot(totals.radial, totals.intensity, "o-", ms=3)
    ax2.set_xlabel("frame")
    ax2.set_ylabel("total intensity")
    with atomic_path(output, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return Path(output)
