"""CWLProv provenance, one module per concern (moved from ``provenance*.py``)."""

from __future__ import annotations


def __getattr__(name: str):
    from importlib import import_module

    return getattr(import_module(f"{__name__}.bundle"), name)
