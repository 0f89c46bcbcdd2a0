"""panosc-cwl: facility analysis codes as typed CWL tools and workflows, with provenance in NeXus.

``submit``, ``run_workflow``, ``Run`` and ``RunFailed`` (:mod:`panosc_cwl.api`) are imported on first
use, so ``import panosc_cwl`` stays cheap (no numpy, h5py or cwltool).
"""

__version__ = "0.1.0"

_API = ("submit", "run_workflow", "Run", "RunFailed", "Step")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'panosc_cwl' has no attribute {name!r}")
