"""Run records: plain dicts (JSON-safe, Unix times) <-> catalogue rows.

A record is a whole snapshot of a run, so writing it is idempotent: the recorder can queue one in
the outbox and write it later, and a flush may write it twice, without harm.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from .models import InputRecord, OutputRecord, RunRecord, StatusChange, StepRecord

RUN_FIELDS = ("user", "host", "owner_pid", "owner_start", "workflow_path", "workflow_sha1", "job_path", "job", "runner", "batch_system",
              "profile", "status", "outdir", "provenance", "log", "error")
TIME_FIELDS = ("submitted", "started", "ended")
CHILDREN = (InputRecord, OutputRecord, StepRecord, StatusChange)


def to_dt(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(float(t), UTC).replace(tzinfo=None)


def from_dt(d: datetime | None) -> float | None:
    return None if d is None else d.replace(tzinfo=UTC).timestamp()


def write_run(s: Session, rec: dict[str, Any]) -> bool:
    """Insert or replace the run ``rec['id']``; False when the catalogue already holds a newer snapshot.

    The run's rows in the child tables are replaced by two statements each (one DELETE, one
    multi-row INSERT), not row by row through the relationships: a run is rewritten at every change.
    """
    run_id = rec["id"]
    row = s.get(RunRecord, run_id)
    revision = int(rec.get("revision") or 0)
    if row is None:
        row = RunRecord(id=run_id)
        s.add(row)
    elif (row.revision or 0) > revision:
        return False
    else:
        for model in CHILDREN:
            s.execute(delete(model).where(model.run_id == run_id))
    for key in RUN_FIELDS:
        setattr(row, key, rec.get(key))
    for key in TIME_FIELDS:
        setattr(row, key, to_dt(rec.get(key)))
    row.revision = revision
    s.flush()  # the run row before its children (foreign keys)
    files = [(InputRecord, rec.get("inputs")), (OutputRecord, rec.get("outputs"))]
    for model, items in files:
        if items:
            s.execute(insert(model), [{"run_id": run_id, "name": i["name"], "path": i["path"], "sha1": i.get("sha1"),
                                       "size": i.get("size")} for i in items])
    if rec.get("steps"):
        s.execute(insert(StepRecord), [{"run_id": run_id, "seq": n, "name": st["name"], "status": st["status"],
                                        "start": to_dt(st.get("start")), "end": to_dt(st.get("end")),
                                        "batch_job_id": st.get("batch_job_id")}
                                       for n, st in enumerate(rec["steps"])])
    if rec.get("status_changes"):
        s.execute(insert(StatusChange), [{"run_id": run_id, "seq": n, "status": c["status"], "at": to_dt(c["at"])}
                                         for n, c in enumerate(rec["status_changes"])])
    return True


def read_run(row: RunRecord) -> dict[str, Any]:
    """A catalogue row as the record dict (times as Unix seconds)."""
    rec: dict[str, Any] = {"id": row.id, "revision": row.revision}
    for key in RUN_FIELDS:
        rec[key] = getattr(row, key)
    for key in TIME_FIELDS:
        rec[key] = from_dt(getattr(row, key))
    rec["inputs"] = [{"name": i.name, "path": i.path, "sha1": i.sha1, "size": i.size} for i in row.inputs]
    rec["outputs"] = [{"name": o.name, "path": o.path, "sha1": o.sha1, "size": o.size} for o in row.outputs]
    rec["steps"] = [{"name": st.name, "status": st.status, "start": from_dt(st.start), "end": from_dt(st.end),
                     "batch_job_id": st.batch_job_id} for st in row.steps]
    rec["status_changes"] = [{"status": c.status, "at": from_dt(c.at)} for c in row.status_changes]
    return rec
