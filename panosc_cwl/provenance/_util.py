"""Small helpers every provenance module shares (each exists once, here).

They read the two formats a bundle is made of: PROV-JSON (records that are one dict or a list of
dicts, typed literals ``{"$": value, "type": ...}``) and CWL identifiers (``file.cwl#main/step``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def as_list(x) -> list:
    """PROV-JSON holds one record as a dict and several as a list: always a list."""
    return x if isinstance(x, list) else [x]


def records(prov: Mapping, kind: str) -> dict:
    """The records of one kind (``entity``, ``used``...) of a PROV-JSON document, by id."""
    return prov.get(kind, {}) or {}


def literal(value):
    """PROV-JSON typed literal ({"$": ..., "type": ...}) -> its value."""
    if isinstance(value, dict) and "$" in value:
        return value["$"]
    if isinstance(value, list):
        return [literal(v) for v in value]
    return value


def fragment(ref: str) -> str:
    """A CWL id without its document: ``packed.cwl#main/integrate`` -> ``main/integrate``."""
    return str(ref).rsplit("#", 1)[-1]


def short_id(ref: str) -> str:
    """The last name of a CWL id: ``packed.cwl#main/integrate/frames`` -> ``frames``."""
    return fragment(ref).rsplit("/", 1)[-1]


def uri_path(loc: str) -> Path | None:
    """The local path of a ``file://`` URI or plain path; None for other schemes."""
    from urllib.parse import unquote, urlparse

    u = urlparse(loc)
    return Path(unquote(u.path)) if u.scheme in ("file", "") else None
