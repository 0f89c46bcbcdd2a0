"""The catalogue's tables as SQLAlchemy 2 ORM classes (the schema itself is made by the Alembic migrations).

Times are naive UTC datetimes: the same on SQLite (no time zones) and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class RunRecord(Base):
    """One workflow run, however it was started (CLI, Python API, watcher)."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str | None] = mapped_column(String(128))
    host: Mapped[str | None] = mapped_column(String(255))
    #: the process that runs it on ``host`` (pid, and its start time in clock ticks since boot, which
    #: tells it from a later process that got the same pid): how a run whose process died is found lost
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    owner_start: Mapped[str | None] = mapped_column(String(32))
    workflow_path: Mapped[str] = mapped_column(Text)
    workflow_sha1: Mapped[str | None] = mapped_column(String(40), index=True)
    job_path: Mapped[str | None] = mapped_column(Text)
    job: Mapped[dict | None] = mapped_column(JSON)
    runner: Mapped[str | None] = mapped_column(String(32))
    batch_system: Mapped[str | None] = mapped_column(String(64))
    profile: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)
    submitted: Mapped[datetime] = mapped_column(DateTime, index=True)
    started: Mapped[datetime | None] = mapped_column(DateTime)
    ended: Mapped[datetime | None] = mapped_column(DateTime)
    outdir: Mapped[str | None] = mapped_column(Text)
    provenance: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    #: how many snapshots of the run were taken when this one was: a queued older snapshot never
    #: replaces a newer one
    revision: Mapped[int] = mapped_column(Integer, default=0)

    inputs: Mapped[list[InputRecord]] = relationship(cascade="all, delete-orphan", order_by="InputRecord.id")
    outputs: Mapped[list[OutputRecord]] = relationship(cascade="all, delete-orphan", order_by="OutputRecord.id")
    steps: Mapped[list[StepRecord]] = relationship(cascade="all, delete-orphan", order_by="StepRecord.seq")
    status_changes: Mapped[list[StatusChange]] = relationship(cascade="all, delete-orphan",
                                                              order_by="StatusChange.seq")


class InputRecord(Base):
    """A File/Directory input of a run's job, with the SHA-1 of a file's content."""

    __tablename__ = "run_inputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    sha1: Mapped[str | None] = mapped_column(String(40), index=True)
    size: Mapped[int | None] = mapped_column(BigInteger)


class OutputRecord(Base):
    """A File written by a run, with its SHA-1 checksum."""

    __tablename__ = "run_outputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    sha1: Mapped[str | None] = mapped_column(String(40), index=True)
    size: Mapped[int | None] = mapped_column(BigInteger)


class StepRecord(Base):
    """A workflow step as the runner reported it, with its batch (SLURM) job id."""

    __tablename__ = "run_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    start: Mapped[datetime | None] = mapped_column(DateTime)
    end: Mapped[datetime | None] = mapped_column(DateTime)
    batch_job_id: Mapped[str | None] = mapped_column(String(64))


class StatusChange(Base):
    """A run's status and the time it took it: the run's history."""

    __tablename__ = "run_status_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(DateTime)


class DatasetRecord(Base):
    """A dataset claimed by an automatic-processing rule: the exactly-once ledger of the watcher.

    One row per (rule, dataset, workflow version); the unique constraint makes a claim atomic.
    """

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("rule", "dataset_key", "workflow_sha1", name="uq_dataset_claim"),
                      Index("ix_datasets_rule_status", "rule", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(255))
    dataset_key: Mapped[str] = mapped_column(String(1024))
    workflow_sha1: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))  # claimed | submitted | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    run_id: Mapped[str | None] = mapped_column(String(64))
    owner: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
