"""Names the tools accept (units, methods, formats), in a module with no heavy imports.

The CLI builds every subcommand's parser on each call, tool steps included: its choices must not
import numpy, pyFAI or nabu.
"""

from __future__ import annotations

#: Units the tools accept, with the NeXus axis name and units written for them.
UNITS: dict[str, tuple[str, str]] = {
    "2th_deg": ("two_theta", "deg"),
    "q_nm^-1": ("q", "1/nm"),
    "q_A^-1": ("q", "1/angstrom"),
    "r_mm": ("r", "mm"),
}
ERROR_MODELS = ("none", "poisson", "azimuthal")
#: pyFAI methods by name: (pixel splitting, algorithm, implementation). "csr" is pyFAI's default;
#: "opencl" runs the same on a GPU (pyFAI falls back to the CPU when no OpenCL device is present).
METHODS: dict[str, tuple[str, str, str]] = {
    "csr": ("bbox", "csr", "cython"),
    "histogram": ("no", "histogram", "cython"),
    "full-csr": ("full", "csr", "cython"),
    "opencl": ("bbox", "csr", "opencl"),
}

#: CDI reconstruction output formats (panosc_cwl.cdi).
CDI_OUTPUT_FORMATS = ("cxi", "npz")
#: nabu options exposed by the tomography tools (panosc_cwl.tomo).
COR_METHODS = ("centered", "global", "sliding-window", "growing-window", "sino-coarse-to-fine",
               "composite-coarse-to-fine", "fourier-angles", "octave-accurate")
PHASE_METHODS = ("none", "paganin", "CTF")
TOMO_OUTPUT_FORMATS = ("hdf5", "tiff")
TOMO_BACKENDS = ("auto", "nabu", "cpu")
