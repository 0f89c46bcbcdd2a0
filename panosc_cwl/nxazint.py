"""Integrated powder data as the NeXus application definitions NXazint1d / NXazint2d.

Archives and viewers read azimuthally integrated data through these definitions
(``applications/NXazint1d.nxdl.xml``, ``NXazint2d.nxdl.xml``). pyFAI writes NXazint1d itself
(:func:`pyFAI.io.nexus.save_NXazint1d`, for 2θ in degrees and q in 1/Å); that writer is used
whenever it can be, and :func:`complete_entry` brings its output, or the same skeleton written here
for what pyFAI's writer does not cover (2D cakes, q in 1/nm, r in mm), to the definition and adds
our extras: the whole stack of frames with their global ``frame_index``, the uncertainties, the
process record ``reduction`` (with every setting in NXparameters ``input``) and the
``@default`` chain root → entry → NXdata, so viewers plot it with no clicks.

The one reader of this layout is :func:`read_integrated`; every consumer (reduce, merge, the
report notebook, the tests) goes through it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .exceptions import InputError
from .iorw import now_iso, open_hdf5, set_attrs

#: the NXdata group of an integrated file (the definition leaves its name free)
DATA = "integrated"
#: radial ``long_name`` the definitions allow, per our axis name (``units.UNITS``); r has none
AZINT_LONG_NAME = {"two_theta": "2theta", "q": "q"}
AXIS_FROM_LONG_NAME = {"2theta": "two_theta", "q": "q", "r": "r"}
#: units pyFAI's own NXazint1d writer accepts
PYFAI_WRITER_UNITS = ("2th_deg", "q_A^-1")
#: the citation the definition asks for in ``reduction/reference``
PYFAI_REFERENCE = ("G. Ashiotis et al., The fast azimuthal integration Python library: pyFAI, "
                   "J. Appl. Cryst. 48 (2015) 510-519, doi:10.1107/S1600576715004306")
ARBITRARY = "arbitrary units"
NORM_LONG_NAME = "effective number of pixels contributing to the corresponding bin"


@dataclass
class Facility:
    """What the definition asks about the instrument and sample: from the frames' NeXus file, or the user."""

    instrument: str = "unknown"
    source_name: str = "unknown"
    source_type: str = "Synchrotron X-ray Source"
    probe: str = "x-ray"
    sample: str = "sample"

    @classmethod
    def from_frames(cls, sources, **override) -> "Facility":
        """Names found in the first NeXus frame file (``instrument/name``, ``instrument/source/*``,
        ``sample/name``), then ``override`` (values that are not None) on top."""
        import h5py

        found: dict = {}
        keys = {"instrument": "instrument/name", "source_name": "instrument/source/name",
                "source_type": "instrument/source/type", "probe": "instrument/source/probe", "sample": "sample/name"}
        for src in sources[:1]:
            if src.dataset is None:
                continue
            try:
                with h5py.File(src.path, "r") as h5:
                    entry = h5[src.dataset.strip("/").split("/")[0]]
                    for key, path in keys.items():
                        if path in entry and isinstance(entry[path], h5py.Dataset):
                            found[key] = _text(entry[path][()])
            except (OSError, KeyError):
                pass
        found.update({k: v for k, v in override.items() if v is not None})
        return cls(**found)


@dataclass
class Integrated:
    """An integrated stack read back: ``intensity[frame, (azimuth,) radial]``."""

    radial: np.ndarray
    radial_name: str  # two_theta, q or r
    radial_units: str
    intensity: np.ndarray
    sigma: np.ndarray | None
    frame_index: np.ndarray
    azimuthal: np.ndarray | None = None
    wavelength_m: float | None = None
    definition: str | None = None
    parameters: dict = field(default_factory=dict)


def _text(value) -> str:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    return value.decode() if isinstance(value, bytes) else str(value)


def definition_for(unit_axis: str, dims: int) -> str | None:
    """NXazint1d/NXazint2d, or None where the radial unit is not one the definitions allow (r)."""
    return None if unit_axis not in AZINT_LONG_NAME else f"NXazint{dims}d"


def _replace(grp, name: str, data, **attrs):
    """(Re)create dataset ``name`` in ``grp`` with ``attrs`` (h5py cannot change a dataset's type)."""
    if name in grp:
        del grp[name]
    ds = grp.create_dataset(name, data=data)
    set_attrs(ds, **attrs)
    return ds


def write_skeleton(h5, result, facility: Facility) -> None:
    """The entry pyFAI's ``save_NXazint1d`` would write, for the cases that writer refuses."""
    import h5py
    from pyFAI.io.nexus import get_isotime

    first = result.first
    set_attrs(h5, NX_class="NXroot", file_time=get_isotime(), HDF5_Version=h5py.version.hdf5_version)
    entry = h5.create_group("entry")
    entry.attrs["NX_class"] = "NXentry"
    entry["program_name"] = "pyFAI"
    entry["start_time"] = get_isotime()
    entry["solid_angle_applied"] = bool(getattr(first, "has_solidangle_correction", True))
    entry["polarization_applied"] = result.settings.polarization_factor is not None
    entry["normalization_applied"] = bool(getattr(first, "weighted_average", True))
    entry["monitor_applied"] = False
    inst = entry.create_group("instrument")
    inst.attrs["NX_class"] = "NXinstrument"
    inst["name"] = facility.instrument
    src = inst.create_group("source")
    src.attrs["NX_class"] = "NXsource"
    mono = inst.create_group("monochromator")
    mono.attrs["NX_class"] = "NXmonochromator"
    proc = entry.create_group("pyFAI")
    proc.attrs["NX_class"] = "NXprocess"
    proc["sequence_index"] = 1
    data = entry.create_group("data")
    data.attrs["NX_class"] = "NXdata"
    sample = entry.create_group("sample")
    sample.attrs["NX_class"] = "NXsample"
    sample["name"] = facility.sample


def complete_entry(h5, result, parameters: dict, facility: Facility) -> None:
    """Bring ``/entry`` (from pyFAI's writer or :func:`write_skeleton`) to NXazint1d/2d plus our extras.

    ``result`` is an :class:`panosc_cwl.integrate.StackResult`; the whole stack replaces the
    single frame pyFAI's writer was given.
    """
    import pyFAI
    from scipy.constants import c, e, h

    from . import __version__
    from .units import UNITS

    entry = h5["entry"]
    dims = 1 if result.azimuthal is None else 2
    axis_name, axis_units = UNITS[result.settings.unit]
    definition = definition_for(axis_name, dims)
    if definition:
        _replace(entry, "definition", definition)
    elif "definition" in entry:
        del entry["definition"]
    entry["solid_angle_applied"][...] = bool(getattr(result.first, "has_solidangle_correction", True))
    entry["polarization_applied"][...] = result.settings.polarization_factor is not None
    # instrument: names from the user, wavelength and energy from the PONI geometry
    inst = entry["instrument"]
    _replace(inst, "name", facility.instrument)
    src = inst["source"]
    for key, value in (("name", facility.source_name), ("type", facility.source_type), ("probe", facility.probe)):
        _replace(src, key, value)
    sample = entry.require_group("sample")
    sample.attrs["NX_class"] = "NXsample"
    _replace(sample, "name", facility.sample)
    wavelength = float(result.integrator.wavelength)
    mono = inst["monochromator"]
    _replace(mono, "wavelength", wavelength * 1e10, units="angstrom")
    _replace(mono, "energy", h * c / wavelength / e / 1e3, units="keV")
    det = inst.require_group("detector")
    det.attrs["NX_class"] = "NXdetector"
    _replace(det, "description", str(result.integrator.detector.name))
    _replace(det, "distance", float(result.integrator.dist), units="m")
    # the process record: pyFAI's NXprocess under the name the definition wants
    if "reduction" not in entry:
        entry.move("pyFAI", "reduction")
    proc = entry["reduction"]
    _replace(proc, "program", "pyFAI")
    _replace(proc, "version", str(pyFAI.version))
    _replace(proc, "date", now_iso())
    _replace(proc, "reference", PYFAI_REFERENCE)
    _replace(proc, "note", f"integrated by panosc-cwl {__version__}; reduction/input/config holds every "
                           "setting as JSON, I[frame, ...] holds every frame of the stack")
    if "poni" in proc:  # pyFAI's NXnote: NXnote/data is NX_BINARY, so keep the JSON as opaque bytes
        poni = proc["poni"]
        text = _text(poni["data"][()])
        _replace(poni, "data", np.bytes_(text.encode()))
        if "format" in poni:
            del poni["format"]
        _replace(poni, "type", "application/json")
    inp = proc.require_group("input")
    inp.attrs["NX_class"] = "NXparameters"
    _replace(inp, "config", json.dumps(parameters, indent=1))
    for key in ("npt", "npt_azim", "unit", "polarization_factor", "error_model", "method"):
        if parameters.get(key) is not None:
            _replace(inp, key, str(parameters[key]))
    _replace(inp, "poni", json.dumps(parameters.get("poni", {})))
    # the data: pyFAI's NXdata, renamed, holding the whole stack
    if "data" in entry and DATA not in entry:
        entry.move("data", DATA)
    set_attrs(entry, default=DATA)
    set_attrs(h5, default="entry")
    write_stack(entry[DATA], result.intensity, result.sigma,
                np.arange(result.intensity.shape[0]) + result.first_frame, result.radial, axis_name, axis_units,
                result.azimuthal, np.asarray(result.first.count) if getattr(result.first, "count", None) is not None
                else None)


def write_stack(data, intensity: np.ndarray, sigma: np.ndarray | None, frame_index: np.ndarray, radial: np.ndarray,
                axis_name: str, axis_units: str, azimuthal: np.ndarray | None, norm: np.ndarray | None) -> None:
    """The NXdata of the definitions: ``I[frame, (azimuthal_axis,) radial_axis]`` and its axes."""
    gz = {"compression": "gzip"} if intensity.size > 4096 else {}
    for name in ("I", "I_errors", "frame_index", "radial_axis", "azimuthal_axis"):
        if name in data:
            del data[name]
    long_name = AZINT_LONG_NAME.get(axis_name, axis_name)
    axes = [".", "radial_axis"] if azimuthal is None else [".", "azimuthal_axis", "radial_axis"]
    set_attrs(data, NX_class="NXdata", signal="I", axes=axes, interpretation="spectrum" if azimuthal is None else "image")
    ds = data.create_dataset("I", data=intensity, chunks=(1,) + intensity.shape[1:], maxshape=(None,) + intensity.shape[1:],
                             **gz)
    set_attrs(ds, long_name="intensity", units=ARBITRARY)
    if sigma is not None:
        err = data.create_dataset("I_errors", data=sigma, chunks=(1,) + sigma.shape[1:], maxshape=(None,) + sigma.shape[1:],
                                  **gz)
        set_attrs(err, long_name="estimated intensity error", units=ARBITRARY)
    if "uncertainties" in data.attrs:  # I_errors is I's uncertainty by name (NXdata FIELDNAME_errors)
        del data.attrs["uncertainties"]
    _replace(data, "radial_axis", radial, long_name=long_name, units=axis_units)
    data.attrs["radial_axis_indices"] = len(axes) - 1
    if azimuthal is not None:
        _replace(data, "azimuthal_axis", azimuthal, long_name="azimuthal bin center", units="deg")
        data.attrs["azimuthal_axis_indices"] = 1
    # our extra: the global frame number of each row (chunks of a scattered run keep theirs)
    _replace(data, "frame_index", frame_index, long_name="frame index")
    data.attrs["frame_index_indices"] = 0
    if norm is not None:
        _replace(data, "norm", norm, long_name=NORM_LONG_NAME, units=ARBITRARY)


def read_integrated(path: str | Path, field_name: str = "input") -> Integrated:
    """Read an integrated stack (NXazint1d/2d layout of :mod:`panosc_cwl.integrate`); errors name the file."""
    p = Path(path)
    with open_hdf5(p, field_name) as h5:
        entry_name = _text(h5.attrs.get("default", "entry"))
        entry = h5.get(entry_name)
        if entry is None or DATA not in entry or "radial_axis" not in entry[DATA]:
            raise InputError(f"{p.name} has no /{entry_name}/{DATA}/radial_axis (not written by integrate1d/2d)",
                             field=field_name)
        grp = entry[DATA]
        rad = grp["radial_axis"]
        radial_name = AXIS_FROM_LONG_NAME.get(_text(rad.attrs.get("long_name", "")), _text(rad.attrs.get("long_name", "")))
        sigma = grp["I_errors"][()] if "I_errors" in grp else None
        azim = grp["azimuthal_axis"][()] if "azimuthal_axis" in grp else None
        wl = None
        if "instrument/monochromator/wavelength" in entry:
            wl = float(entry["instrument/monochromator/wavelength"][()]) * 1e-10
        params: dict = {}
        if "reduction/input/config" in entry:
            try:
                params = json.loads(_text(entry["reduction/input/config"][()]))
            except ValueError:
                params = {}
        definition = _text(entry["definition"][()]) if "definition" in entry else None
        return Integrated(rad[()], radial_name, _text(rad.attrs.get("units", "")), grp["I"][()], sigma,
                          grp["frame_index"][()], azim, wl, definition, params)
