"""Finding recorded runs in the run catalogue: which runs processed this file, with which workflow
version, and which failed. The Python side of ``panosc-cwl runs``.

>>> from panosc_cwl.runs import query
>>> [r.id for r in query(workflow="powder-xrd", status="failed", since="2026-11-01")]  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from .catalogue import Catalogue, open_catalogue
from .catalogue.db import lost_error
from .catalogue.models import InputRecord, RunRecord
from .catalogue.records import read_run
from .exceptions import InputError

#: 'lost': recorded as queued or running, but the process that ran it on this host is gone (killed)
STATUSES = ("queued", "running", "success", "failed", "cancelled", "lost")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class RecordedRun:
    """One run as the catalogue holds it (times are time-zone aware UTC datetimes)."""

    id: str
    status: str
    workflow_path: str
    workflow_sha1: str | None
    submitted: datetime | None
    started: datetime | None = None
    ended: datetime | None = None
    user: str | None = None
    host: str | None = None
    job_path: str | None = None
    job: dict | None = None
    runner: str | None = None
    batch_system: str | None = None
    profile: str | None = None
    outdir: str | None = None
    provenance: str | None = None
    log: str | None = None
    error: str | None = None
    owner_pid: int | None = None
    owner_start: str | None = None
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    status_changes: list[dict] = field(default_factory=list)

    @property
    def batch_job_ids(self) -> list[str]:
        return [s["batch_job_id"] for s in self.steps if s.get("batch_job_id")]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: times as ISO 8601 UTC strings."""
        def conv(v: Any) -> Any:
            if isinstance(v, datetime):
                return v.isoformat()
            if isinstance(v, list):
                return [conv(x) for x in v]
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            return v

        return conv(asdict(self))


def _utc(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)


def _recorded(row: RunRecord) -> RecordedRun:
    rec = read_run(row)
    rec.pop("revision", None)
    for key in ("submitted", "started", "ended"):
        rec[key] = _utc(rec[key])
    for part in ("steps", "status_changes"):
        for item in rec[part]:
            for key in ("start", "end", "at"):
                if key in item:
                    item[key] = _utc(item[key])
    return RecordedRun(**rec)


def parse_since(text: str | datetime) -> datetime:
    """A date/time (ISO 8601; local time unless it names a zone) or an age (``90m``, ``12h``, ``7d``) -> UTC."""
    if isinstance(text, datetime):
        when = text
    else:
        m = _RELATIVE.match(text.strip())
        if m:
            return datetime.now(UTC) - timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            raise InputError(f"'{text}' is not a date (2026-11-30, 2026-11-30T14:00) or an age (12h, 7d)",
                             field="since") from None
    if when.tzinfo is None:
        when = when.astimezone()  # the user's local time
    return when.astimezone(UTC)


def _catalogue(catalogue: Catalogue | str | os.PathLike | None) -> tuple[Catalogue, bool]:
    if isinstance(catalogue, Catalogue):
        return catalogue, False
    return open_catalogue(catalogue), True


def workflow_clause(workflow: str | os.PathLike):
    """The SQL condition of the ``workflow`` filter (``query`` and the web page's table): an existing CWL
    file matches runs of that file or of a copy of it and its tools (the SHA-1 over every file the
    loader reads), anything else part of the workflow's path or the start of its SHA-1."""
    text = str(workflow)
    path = Path(text).expanduser()
    if path.is_file():
        from .catalogue.recorder import workflow_sha1

        return or_(RunRecord.workflow_path == str(path.resolve()), RunRecord.workflow_sha1 == workflow_sha1(path))
    return or_(RunRecord.workflow_path.contains(text, autoescape=True),
               RunRecord.workflow_sha1.startswith(text.lower(), autoescape=True))


def query(workflow: str | os.PathLike | None = None, status: str | None = None,
          since: str | datetime | None = None, input_sha1: str | None = None, *,
          catalogue: Catalogue | str | os.PathLike | None = None, limit: int | None = None) -> list[RecordedRun]:
    """Recorded runs, newest first, that match every filter given.

    Runs of this host whose process was killed before it could record their end are marked 'lost'
    first (:meth:`~panosc_cwl.catalogue.Catalogue.mark_lost_runs`), so ``status`` filters on the truth.
    ``workflow``: an existing CWL file (runs of that file, or of a copy of it and the tools it runs), else
    part of the workflow's path or the start of its SHA-1. ``status``: queued, running, success, failed,
    cancelled, lost. ``since``: submitted at or after this date/time or within this age (``12h``, ``7d``).
    ``input_sha1``: runs that read a file with this SHA-1 (or SHA-1 prefix, at least 6 characters).
    ``catalogue``: an open :class:`~panosc_cwl.catalogue.Catalogue`, a path or URL (default
    ``$PANOSC_CWL_CATALOGUE`` or the user's SQLite catalogue).
    """
    q = select(RunRecord).options(selectinload(RunRecord.inputs), selectinload(RunRecord.outputs),
                                  selectinload(RunRecord.steps), selectinload(RunRecord.status_changes))
    if workflow is not None:
        q = q.where(workflow_clause(workflow))
    if status is not None:
        if status not in STATUSES:
            raise InputError(f"unknown status '{status}'; choose {', '.join(STATUSES)}", field="status")
        q = q.where(RunRecord.status == status)
    if since is not None:
        q = q.where(RunRecord.submitted >= parse_since(since).replace(tzinfo=None))
    if input_sha1 is not None:
        h = input_sha1.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{6,40}", h):
            raise InputError(f"'{input_sha1}' is not a SHA-1 (6 to 40 hex digits)", field="input-sha1")
        q = q.where(RunRecord.inputs.any(InputRecord.sha1.startswith(h)))
    q = q.order_by(RunRecord.submitted.desc(), RunRecord.id.desc())
    if limit is not None:
        q = q.limit(limit)
    cat, opened = _catalogue(catalogue)
    try:
        cat.mark_lost_runs()
        with cat.session() as s:
            return [_recorded(r) for r in s.scalars(q)]
    finally:
        if opened:
            cat.close()


def get(run_id: str, *, catalogue: Catalogue | str | os.PathLike | None = None, mark_lost: bool = True) -> RecordedRun:
    """The recorded run with this id (a unique prefix of it will do); InputError when there is none.

    A run of this host whose process is gone is marked 'lost' first, as in :func:`query`; with
    ``mark_lost=False`` (read-only views: the web page) it is returned as 'lost' and the catalogue
    is left as it was.
    """
    cat, opened = _catalogue(catalogue)
    q = (select(RunRecord).options(selectinload(RunRecord.inputs), selectinload(RunRecord.outputs),
                                   selectinload(RunRecord.steps), selectinload(RunRecord.status_changes)))
    try:
        lost = {} if mark_lost else cat.lost_runs()
        if mark_lost:
            cat.mark_lost_runs()
        with cat.session() as s:
            row = s.get(RunRecord, run_id)
            if row is None:
                rows = list(s.scalars(q.where(RunRecord.id.startswith(run_id, autoescape=True)).limit(2)))
                if len(rows) != 1:
                    why = "no run" if not rows else "more than one run"
                    raise InputError(f"{why} with id {run_id} in the catalogue {cat!r}", field="run")
                row = rows[0]
            run = _recorded(row)
        if run.id in lost:
            pid, host, _revision = lost[run.id]
            run.status, run.error = "lost", lost_error(pid, host)
        return run
    finally:
        if opened:
            cat.close()
