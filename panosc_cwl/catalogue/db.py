"""The catalogue database: engine, Alembic migrations, the dataset ledger (see the package doc)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..exceptions import InputError
from . import UNFINISHED, CatalogueUnavailable, DatasetClaim, catalogue_url
from .models import DatasetRecord, RunRecord, StatusChange

log = logging.getLogger("panosc_cwl.catalogue")

#: run statuses of a run whose process has not recorded its end yet
RUN_UNFINISHED = ("queued", "running")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _claim(row: DatasetRecord) -> DatasetClaim:
    return DatasetClaim(rule=row.rule, dataset_key=row.dataset_key, workflow_sha1=row.workflow_sha1,
                        attempt=row.attempts, run_id=row.run_id, status=row.status, reason=row.reason,
                        owner=row.owner, claimed_at=row.claimed_at, updated_at=row.updated_at)


_MIGRATED: set[str] = set()
_MIGRATE_LOCK = threading.Lock()


def _alembic_config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "panosc_cwl.catalogue:migrations")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def lost_error(pid: int, host: str) -> str:
    """Why a run is 'lost': the same words in the catalogue and in read-only views."""
    return f"lost: its process (pid {pid} on {host}) ended before the run did"


#: the newest migration in ``migrations/versions`` (tests/test_catalogue.py checks it is Alembic's head):
#: a database stamped with it needs no migration, and opening it needs no Alembic (~0.4 s to import
#: and to read the migration scripts, in every ``panosc-cwl run``)
HEAD = "0002"


def _stamped_revision(engine: Engine) -> str | None:
    """The version Alembic stamped the database with, read with plain SQL (None: not stamped yet)."""
    from sqlalchemy import text

    with engine.connect() as conn:  # an unreachable server raises here, as Alembic's own check did
        try:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except SQLAlchemyError:
            return None  # no such table yet: a new catalogue
    return rows[0] if len(rows) == 1 else None


def head_revision() -> str:
    """The newest migration shipped with this version of panosc-cwl."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None: an empty database)."""
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, wait_s: float = 60.0) -> None:
    """Bring the schema to the newest migration (Alembic ``upgrade head``).

    Several processes may open a new catalogue at once: one of them creates the tables; a loser of
    that race (its CREATE TABLE fails) waits, up to ``wait_s``, until the winner has stamped the
    database at head, and carries on. (SQLite's driver commits each CREATE TABLE on its own, so the
    loser may see tables before the version stamp.)
    """
    import time

    if _stamped_revision(engine) == HEAD:
        return
    from alembic import command

    head = head_revision()
    if current_revision(engine) == head:
        return
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "head")
    except SQLAlchemyError:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if current_revision(engine) == head:  # an unreachable server raises here, at once
                return
            time.sleep(0.1)
        raise


class Catalogue:
    """An open run catalogue (use :func:`open_catalogue`)."""

    def __init__(self, url: str, engine: Engine):
        self.url = url
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"<Catalogue {self.engine.url.render_as_string(hide_password=True)}>"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed at the end, rolled back on error.

        Database errors surface as :class:`CatalogueUnavailable` when the server cannot be reached.
        """
        with self._sessions() as s:
            try:
                with s.begin():
                    yield s
            except IntegrityError:
                raise
            except SQLAlchemyError as exc:
                if _unreachable(exc):
                    raise CatalogueUnavailable(f"catalogue {self!r} cannot be reached: {_first_line(exc)}",
                                               field="catalogue") from exc
                raise

    # ---------------------------------------------------------------- runs
    def record_run(self, record: dict) -> None:
        """Write (or replace) one run's record: a dict as :mod:`panosc_cwl.catalogue.recorder` builds it."""
        from .records import write_run

        with self.session() as s:
            write_run(s, record)

    def lost_runs(self) -> dict[str, tuple[int, str, int]]:
        """The unfinished runs of this host whose process no longer exists, judged without writing.

        A run's process records its own end; one killed (SIGKILL, out of memory, a reboot) never does,
        and its record would say 'running' for ever. Only this host's runs are judged (another host's
        pids mean nothing here), and only runs recorded with their process (``owner_pid``).
        Returns ``{run id: (pid, host, record revision)}``; read-only views (the web page) show these
        as 'lost' without changing the catalogue.
        """
        import socket

        from ..api import _proc_start

        host = socket.gethostname()
        with self.session() as s:
            rows = s.execute(select(RunRecord.id, RunRecord.owner_pid, RunRecord.owner_start, RunRecord.revision)
                             .where(RunRecord.status.in_(RUN_UNFINISHED), RunRecord.host == host,
                                    RunRecord.owner_pid.is_not(None))).all()
        lost = {}
        for run_id, pid, start, revision in rows:
            if start is not None and _proc_start(pid) == start:
                continue
            if start is None and _proc_start(pid) is not None:  # start unknown: a live pid is given the benefit
                continue
            lost[run_id] = (pid, host, revision)
        return lost

    def mark_lost_runs(self) -> list[str]:
        """Mark 'lost' the runs :meth:`lost_runs` finds; their ids.

        The UPDATE is conditional on the record being unchanged since it was read, and leaves the
        record's revision as it was: any record the run itself wrote, even one flushed late from the
        outbox, still replaces the verdict.
        """
        marked = []
        for run_id, (pid, host, revision) in self.lost_runs().items():
            try:
                if self._mark_lost(run_id, pid, host, revision):
                    marked.append(run_id)
            except (SQLAlchemyError, CatalogueUnavailable) as exc:  # read-only: the query goes on without
                log.debug("cannot mark run %s lost: %s", run_id, _first_line(exc))
                break
        return marked

    def _mark_lost(self, run_id: str, pid: int, host: str, revision: int) -> bool:
        """One run 'lost', with the time in its history; False if its record changed meanwhile."""
        now = utcnow()
        with self.session() as s:
            res = s.execute(update(RunRecord)
                            .where(RunRecord.id == run_id, RunRecord.status.in_(RUN_UNFINISHED),
                                   RunRecord.revision == revision)
                            .values(status="lost", ended=now,
                                    error=lost_error(pid, host))
                            .execution_options(synchronize_session=False))
            if res.rowcount != 1:
                return False
            seq = s.scalar(select(func.max(StatusChange.seq)).where(StatusChange.run_id == run_id))
            s.add(StatusChange(run_id=run_id, seq=0 if seq is None else seq + 1, status="lost", at=now))
        return True

    # ---------------------------------------------------------------- datasets (watcher)
    def claim_dataset(self, rule: str, dataset_key: str, workflow_sha1: str, *, max_attempts: int,
                      owner: str) -> DatasetClaim | None:
        """Claim a dataset for processing by ``rule`` with this workflow version, atomically.

        A new dataset is claimed by inserting its row (the unique constraint lets one inserter win);
        a failed one whose attempts are below ``max_attempts`` is taken over by a conditional UPDATE
        that counts the attempt. None: another process has it, it succeeded, or its attempts are spent.
        """
        now = utcnow()
        try:
            with self.session() as s:
                row = DatasetRecord(rule=rule, dataset_key=dataset_key, workflow_sha1=workflow_sha1,
                                    status="claimed", attempts=1, owner=owner, claimed_at=now, updated_at=now)
                s.add(row)
            return _claim(row)
        except IntegrityError:
            pass
        where = ((DatasetRecord.rule == rule) & (DatasetRecord.dataset_key == dataset_key)
                 & (DatasetRecord.workflow_sha1 == workflow_sha1))
        with self.session() as s:
            res = s.execute(update(DatasetRecord)
                            .where(where, DatasetRecord.status == "failed", DatasetRecord.attempts < max_attempts)
                            .values(status="claimed", attempts=DatasetRecord.attempts + 1, owner=owner,
                                    run_id=None, reason=None, claimed_at=now, updated_at=now)
                            .execution_options(synchronize_session=False))
            if res.rowcount != 1:
                return None
            row = s.scalars(select(DatasetRecord).where(where)).one()
            return _claim(row)

    def _dataset_update(self, rule: str, dataset_key: str, workflow_sha1: str, attempt: int | None,
                        **values) -> bool:
        where = [DatasetRecord.rule == rule, DatasetRecord.dataset_key == dataset_key,
                 DatasetRecord.workflow_sha1 == workflow_sha1]
        guarded = where + ([DatasetRecord.attempts == attempt] if attempt is not None else [])
        with self.session() as s:
            res = s.execute(update(DatasetRecord).where(*guarded).values(updated_at=utcnow(), **values)
                            .execution_options(synchronize_session=False))
            if res.rowcount == 1:
                return True
            if attempt is not None and s.scalar(select(func.count()).select_from(DatasetRecord).where(*where)):
                return False  # a later attempt holds the dataset now: this word comes too late
            raise InputError(f"dataset {dataset_key} was never claimed by rule {rule}", field="dataset")

    def dataset_submitted(self, rule: str, dataset_key: str, workflow_sha1: str, run_id: str, *,
                          attempt: int | None = None) -> bool:
        """The claimed dataset's run was submitted as ``run_id``.

        ``attempt``: the claim's attempt; if the dataset has been claimed again since (a later
        attempt), nothing changes and False is returned. None: whatever the attempt (not for watchers).
        """
        return self._dataset_update(rule, dataset_key, workflow_sha1, attempt, status="submitted", run_id=run_id)

    def dataset_finished(self, rule: str, dataset_key: str, workflow_sha1: str, status: str,
                         reason: str | None = None, *, attempt: int | None = None) -> bool:
        """The dataset's run ended: ``status`` 'succeeded' or 'failed' (with a one-line ``reason``).

        ``attempt``: the attempt whose run ended. A late word from an older attempt (its process was
        slow, the dataset was claimed again meanwhile) changes nothing and returns False, so it cannot
        overwrite the newer attempt's state. None: whatever the attempt (not for watchers).
        """
        if status not in ("succeeded", "failed"):
            raise InputError(f"dataset status must be 'succeeded' or 'failed', not '{status}'", field="status")
        return self._dataset_update(rule, dataset_key, workflow_sha1, attempt, status=status, reason=reason)

    def datasets(self, rule: str | None = None, status: str | None = None) -> list[DatasetClaim]:
        """The ledger's rows (optionally of one rule / status), oldest claim first."""
        q = select(DatasetRecord).order_by(DatasetRecord.claimed_at, DatasetRecord.id)
        if rule is not None:
            q = q.where(DatasetRecord.rule == rule)
        if status is not None:
            q = q.where(DatasetRecord.status == status)
        with self.session() as s:
            return [_claim(r) for r in s.scalars(q)]

    def in_flight(self, rule: str) -> int:
        """How many of the rule's datasets are claimed or submitted and not finished (back-pressure)."""
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(DatasetRecord)
                            .where(DatasetRecord.rule == rule, DatasetRecord.status.in_(UNFINISHED))) or 0

    def unfinished_claims(self, rule: str) -> list[DatasetClaim]:
        """The rule's claimed/submitted datasets: what a restarted watcher must reconcile."""
        q = (select(DatasetRecord).where(DatasetRecord.rule == rule, DatasetRecord.status.in_(UNFINISHED))
             .order_by(DatasetRecord.claimed_at, DatasetRecord.id))
        with self.session() as s:
            return [_claim(r) for r in s.scalars(q)]


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unreachable(exc: BaseException) -> bool:
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def make_engine(url: str) -> Engine:
    """An engine for ``url``; an SQLite file's folder is created, and writers wait (not fail) for a lock.

    An SQLite URI (``sqlite:///file:PATH?mode=ro&uri=true``) names its file itself: no folder is made
    for it (a read-only catalogue must not create anything, and ``file:`` is not a folder name).
    """
    u = make_url(url)
    kwargs: dict = {"pool_pre_ping": True}
    sqlite_uri = str(u.query.get("uri", "")).lower() in ("true", "1")
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:" and not sqlite_uri:
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    if u.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 60}
    return create_engine(u, **kwargs)


def open_catalogue(url: str | os.PathLike | None = None) -> Catalogue:
    """Open (and create or migrate) the catalogue at ``url``, ``$PANOSC_CWL_CATALOGUE`` or the SQLite default.

    Records queued while the catalogue could not be reached (the outbox) are written now.
    CatalogueUnavailable when the database cannot be reached.
    """
    text = catalogue_url(url)
    engine = make_engine(text)
    try:
        with _MIGRATE_LOCK:
            if text not in _MIGRATED:
                migrate(engine)
                _MIGRATED.add(text)
    except SQLAlchemyError as exc:
        engine.dispose()
        if _unreachable(exc):
            shown = make_url(text).render_as_string(hide_password=True)
            raise CatalogueUnavailable(f"catalogue {shown} cannot be reached: {_first_line(exc)}",
                                       field="catalogue") from None
        raise
    cat = Catalogue(text, engine)
    from .outbox import flush

    flush(cat)
    return cat


