"""The run catalogue: every run and every automatically processed dataset, in one SQL database.

Embedded SQLite by default (``$XDG_DATA_HOME/panosc-cwl/catalogue.sqlite``), or the database that
``PANOSC_CWL_CATALOGUE`` (or ``--catalogue``) names: a path, or an SQLAlchemy URL such as
``postgresql+psycopg://user@host/db`` for a facility-wide catalogue. The schema is made and kept up
to date by the Alembic migrations shipped in this package, applied when the catalogue is opened.

The ``datasets`` table is the watcher's exactly-once ledger: :meth:`Catalogue.claim_dataset` relies
on the database (a unique constraint, a conditional UPDATE) so that two processes, or two watchers on
one PostgreSQL server, never both get the same dataset.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..exceptions import InputError, PanoscError

ENV = "PANOSC_CWL_CATALOGUE"
UNFINISHED = ("claimed", "submitted")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# SQLAlchemy and Alembic load on first use (half a second): submitting a run must stay quick.
_LAZY = {"Catalogue", "open_catalogue", "head_revision", "current_revision", "migrate", "make_engine", "utcnow",
         "_MIGRATED", "_first_line"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import db

        return getattr(db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CatalogueUnavailable(PanoscError):
    """The catalogue database cannot be reached (server down, file not writable)."""


def data_dir() -> Path:
    """The user's panosc-cwl data folder: ``$XDG_DATA_HOME/panosc-cwl`` (default ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "panosc-cwl"


def catalogue_url(url: str | os.PathLike | None = None) -> str:
    """The SQLAlchemy URL of the catalogue: ``url``, else ``$PANOSC_CWL_CATALOGUE``, else the SQLite default.

    A plain path (no ``://``) is an SQLite file.
    """
    text = str(url) if url is not None else (os.environ.get(ENV) or "")
    if not text:
        text = str(data_dir() / "catalogue.sqlite")
    if "://" in text:
        if not _URL.match(text):
            raise InputError(f"not a database URL: {text} (e.g. postgresql+psycopg://user@host/db)",
                             field="catalogue")
        return text
    path = Path(text).expanduser().resolve()
    return f"sqlite:///{path}"


@dataclass
class DatasetClaim:
    """A dataset's row in the ledger: which rule claimed it, for which workflow version, how it went."""

    rule: str
    dataset_key: str
    workflow_sha1: str
    attempt: int
    run_id: str | None
    status: str
    reason: str | None = None
    owner: str | None = None
    claimed_at: datetime | None = None
    updated_at: datetime | None = None


__all__ = ["Catalogue", "CatalogueUnavailable", "DatasetClaim", "catalogue_url", "data_dir", "head_revision",
           "migrate", "open_catalogue"]
