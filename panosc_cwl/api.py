"""Runs as a Python API: submit a CWL workflow, follow it, collect its outputs.

One pipeline for every caller (``panosc-cwl run``, ``provenance rerun``, notebooks, services,
benchmarks): data locators -> profile and runner -> pre-flight validation -> EDAM formats of job
Files that state none, from their content (the runner gets a completed copy, ``<id>.job.yml`` in
the runs folder) -> provenance set-up -> runner -> provenance record -> NXprocess chain. :func:`submit` returns a :class:`Run` at once and
does all of it in a background thread; :func:`run_workflow` waits for it.

Every run's state is a small JSON file, rewritten atomically at every change, in the runs folder
(``$PANOSC_CWL_RUNS``, else ``$XDG_DATA_HOME/panosc-cwl/runs``, else
``~/.local/share/panosc-cwl/runs``): ``<id>.json``, plus ``by-outdir/<hash>`` naming the latest run
of an output folder. It lives outside the output folder on purpose: an interrupted run must leave
nothing in ``--outdir`` but ``runner.log``. :meth:`Run.attach` reads it from another process
(the CLI, another kernel); a run whose owning process died before it ended reads as ``failed`` (lost).

Every run is also recorded in the run catalogue (:mod:`panosc_cwl.catalogue`): one recorder per run
gets the state at every change (``Run._changed``) and writes it from its own thread; an unreachable
catalogue queues the record and never fails the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import InputError, PanoscError, RunnerError

STATES = ("queued", "running", "success", "failed", "cancelled")
FINAL = frozenset({"success", "failed", "cancelled"})
STATE_VERSION = 1

#: ``on_event(kind, value)`` kinds, in pipeline order: located (locator, path), issue (validate.Issue),
#: note (str), command (runners.Command), line (str), step (Step), finished (seconds, log path),
#: provenance (provenance.record.Recorded)
EventCallback = Callable[[str, Any], None]


class RunFailed(RunnerError):
    """A submitted run ended without success; the message is one line with the real cause and the log.

    :attr:`failure` (a :class:`panosc_cwl.runners.Failure`: step, cause, log_path) when the runner ran
    and failed; None when the run failed before (validation, provenance set-up).
    """

    def __init__(self, message: str, *, field: str | None = None, location: str | None = None, failure=None):
        super().__init__(message, field=field, location=location)
        self.failure = failure


class RunExists(InputError):
    """:func:`submit` was given a ``run_id`` that the runs folder already holds (someone started it)."""


_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$")


@dataclass
class Step:
    """One workflow step as the runner's log reports it (times are Unix seconds)."""

    name: str
    status: str = "running"
    start: float | None = None
    end: float | None = None
    batch_job_id: str | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.start is None else (self.end or time.time()) - self.start


def _step(record: dict) -> Step:
    return Step(**{k: record[k] for k in Step.__dataclass_fields__ if k in record})


# ------------------------------------------------------------------ where run states live
def runs_dir() -> Path:
    """The folder of run state files (see module doc)."""
    env = os.environ.get("PANOSC_CWL_RUNS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "panosc-cwl" / "runs"


def _outdir_key(outdir: Path) -> str:
    return hashlib.sha1(str(outdir).encode()).hexdigest()[:20]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _create_exclusive(path: Path, text: str) -> bool:
    """Write ``path`` whole, only if it does not exist yet (atomic, also between hosts on NFS)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    tmp.write_text(text, encoding="utf-8")
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _proc_start(pid: int) -> str | None:
    """Start time of process ``pid`` (clock ticks since boot): tells a live pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2:].split()[19]
    except (OSError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------ jobs given as dicts
def _file_class(t: Any) -> str | None:
    """'File' or 'Directory' if the CWL type ``t`` (or its union/array items) holds one."""
    if isinstance(t, str):
        short = t.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
        return short if short in ("File", "Directory") else None
    if isinstance(t, list):
        return next((c for c in map(_file_class, t) if c), None)
    items = getattr(t, "items", None)
    return _file_class(items) if items is not None else None


def _is_array(t: Any) -> bool:
    if isinstance(t, list):
        return any(_is_array(x) for x in t)
    return getattr(t, "items", None) is not None


def job_objects(workflow: str | os.PathLike, job: Mapping[str, Any]) -> dict[str, Any]:
    """``job`` with plain paths (str or Path) of File/Directory inputs turned into CWL objects.

    The input types come from the CWL document (cwl-utils); relative paths are taken from the
    current folder. Values already given as ``{class: File, ...}`` are left as they are.
    """
    from .validate import load_process

    info = load_process(workflow)

    def convert(value: Any, cls: str | None) -> Any:
        if isinstance(value, os.PathLike) or (cls and isinstance(value, str)):
            if cls:
                return {"class": cls, "path": str(Path(value).expanduser().resolve())}
            return str(value)
        if isinstance(value, (list, tuple)):
            return [convert(v, cls) for v in value]
        return value

    out: dict[str, Any] = {}
    for key, value in job.items():
        spec = info.inputs.get(str(key))
        cls = _file_class(spec.type) if spec is not None else None
        if cls and isinstance(value, (list, tuple)) and not _is_array(spec.type):
            raise InputError(f"a list was given for a single {cls}", field=str(key))
        out[str(key)] = convert(value, cls)
    return out


def _step_total(workflow: Path) -> int | None:
    try:
        from .validate import load_process

        doc = load_process(workflow).doc
    except PanoscError:
        return None
    return len(doc.steps or []) if getattr(doc, "class_", "") == "Workflow" else 1


# ------------------------------------------------------------------ the run
class Run:
    """A workflow run: submitted here (:func:`submit`) or followed from elsewhere (:meth:`attach`).

    Attributes refresh from the run's state file when the run belongs to another process.
    """

    def __init__(self, state: dict, *, owner: bool):
        self._state = state
        self._owner = owner
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._mtime = 0.0
        self._display = None
        self._last_display = 0.0
        self._version = self._shown = 0
        # owner side only
        self._thread: threading.Thread | None = None
        self._rp = None
        self._backend = None
        self._cancel_requested = False
        self._interrupted: int | None = None
        self._recorder = None  # catalogue.recorder.Recorder: the run's record in the catalogue

    # -------------------------------------------------------------- state
    @property
    def state_path(self) -> Path:
        return runs_dir() / f"{self.id}.json"

    def _save(self) -> None:
        with self._lock:
            text = json.dumps(self._state, indent=1, default=str)
        _write_atomic(self.state_path, text)

    def _refresh(self) -> None:
        """Follower: re-read the state file when it changed; a dead owner makes the run lost."""
        if self._owner:
            return
        try:
            mtime = self.state_path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime != self._mtime:
            self._mtime = mtime
            self._state = json.loads(self.state_path.read_text(encoding="utf-8"))
            self._version += 1
        st = self._state
        same_host = st.get("host") in (None, socket.gethostname())  # another host's pids mean nothing here
        if st["status"] not in FINAL and same_host and _proc_start(st["owner_pid"]) != st.get("owner_start"):
            self._version += 1
            st["status"] = "failed"
            st["error"] = f"lost: the process that ran it (pid {st['owner_pid']}) ended before the run did"

    def _get(self, key: str) -> Any:
        self._refresh()
        return self._state.get(key)

    @property
    def id(self) -> str:
        return self._state["id"]

    @property
    def status(self) -> str:
        """queued, running, success, failed or cancelled."""
        return self._get("status")

    @property
    def steps(self) -> list[Step]:
        """The workflow steps seen so far in the runner's log, in start order."""
        return [_step(s) for s in self._get("steps") or []]

    @property
    def steps_total(self) -> int | None:
        return self._get("steps_total")

    @property
    def outputs(self) -> dict:
        """The runner's CWL output object (File objects with local ``path``); empty until success."""
        return self._get("outputs") or {}

    @property
    def provenance(self) -> Path | None:
        """The research-object bundle folder (None without provenance)."""
        p = self._get("provenance")
        return Path(p) if p else None

    @property
    def log(self) -> Path:
        """The runner's full log, ``OUTDIR/runner.log``."""
        return Path(self._get("outdir")) / "runner.log"

    @property
    def outdir(self) -> Path:
        return Path(self._get("outdir"))

    @property
    def error(self) -> str | None:
        """One line: why the run failed."""
        return self._get("error")

    @property
    def failure(self):
        """Where and why the runner failed (:class:`panosc_cwl.runners.Failure`), else None."""
        from .runners import Failure

        rec = self._get("failure")
        return Failure(rec["step"], rec["cause"], Path(rec["log_path"]), rec.get("returncode")) if rec else None

    @property
    def batch_job_ids(self) -> list[str]:
        return [s["batch_job_id"] for s in self._get("steps") or [] if s.get("batch_job_id")]

    def output_files(self) -> list[Path]:
        """Every File path in :attr:`outputs`."""
        from .runners import output_files

        return output_files(self.outputs)

    # -------------------------------------------------------------- follow
    @classmethod
    def attach(cls, outdir_or_id: str | os.PathLike) -> Run:
        """The run with this id, or the latest run writing into this output folder (any process)."""
        text = str(outdir_or_id)
        folder = runs_dir()
        path = folder / f"{text}.json"
        if not (os.sep not in text and path.is_file()):
            key = folder / "by-outdir" / _outdir_key(Path(text).expanduser().resolve())
            if not key.is_file():
                raise InputError(f"no run recorded for {text} (in {folder})", field="run")
            path = folder / f"{key.read_text().strip()}.json"
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read run state {path}: {exc}", field="run") from None
        run = cls(state, owner=False)
        run._mtime = path.stat().st_mtime
        run._show_in_jupyter()
        return run

    def wait(self, timeout: float | None = None, *, cancel_on_interrupt: bool = False) -> Run:
        """Block until the run ends; return it. RunFailed (or the pipeline's own PanoscError) if it failed.

        ``cancel_on_interrupt``: SIGINT/SIGTERM (main thread only) stop the runner's process group and
        then raise KeyboardInterrupt, as ``panosc-cwl run`` needs. TimeoutError after ``timeout`` s.
        """
        end = None if timeout is None else time.monotonic() + timeout
        handlers = {}
        if cancel_on_interrupt and self._owner and threading.current_thread() is threading.main_thread():
            def stop(signum, _frame):
                self._interrupted = signum
                self._cancel_requested = True
                if self._rp is not None:
                    self._rp.stop(signum)

            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, stop)
        try:
            while True:
                if self._owner:
                    done = self._done.wait(0.2)
                    self._update_display(force=done)  # from the caller's thread: Jupyter shows it for sure
                    if done:
                        break
                elif self.status in FINAL:
                    self._update_display(force=True)
                    break
                else:
                    self._update_display()
                    time.sleep(0.5)
                if end is not None and time.monotonic() > end:
                    raise TimeoutError(f"run {self.id} still {self.status} after {timeout} s")
        finally:
            for sig, h in handlers.items():
                signal.signal(sig, h)
        if self._interrupted is not None:
            self._cleanup_batch_jobs()
            raise KeyboardInterrupt(f"stopped by {signal.Signals(self._interrupted).name}")
        if self.status == "failed":
            if isinstance(self._error, PanoscError):
                raise self._error
            raise RunFailed(self.error or "failed", field="run", failure=self.failure)
        return self

    def cancel(self, timeout: float = 60.0) -> Run:
        """Stop the run: the runner's whole process group, and on a batch system its queued/running jobs.

        Returns once the runner is gone (and its batch jobs are out of the queue); status ``cancelled``.
        """
        from .runners import BACKENDS

        if self.status in FINAL:
            return self
        st = self._state
        backend = self._backend or BACKENDS[st["runner"]](st["batch_system"])
        if self._owner:
            self._cancel_requested = True
            if self._rp is not None:
                self._rp.stop(signal.SIGTERM)
            left = backend.cancel(self._state.get("pgid"), self.batch_job_ids, grace=timeout / 2)
            self._done.wait(timeout)
            left += backend.cancel(None, self.batch_job_ids)  # jobs submitted while the leader shut down
            with self._lock:
                st["status"] = "cancelled"
                st["batch_jobs_cancelled_by_us"] = left  # those the runner left in the queue
                st["error"] = "cancelled"
                self._close_steps("cancelled")
            self._changed(final=True)
        else:
            _write_atomic(runs_dir() / f"{self.id}.cancel", str(time.time()))
            backend.cancel(st.get("pgid"), self.batch_job_ids, grace=timeout / 2)
            end = time.monotonic() + timeout
            while self.status not in FINAL and time.monotonic() < end:
                time.sleep(0.3)
        return self

    def _cleanup_batch_jobs(self) -> None:
        if self._backend is not None and self.batch_job_ids:
            self._backend.cancel(None, self.batch_job_ids)

    # -------------------------------------------------------------- display
    def progress(self) -> tuple[int, int | None, str | None]:
        """(steps done, steps in the workflow if known, name of a running step)."""
        steps = self.steps
        done = sum(s.status == "success" for s in steps)
        current = next((s.name for s in reversed(steps) if s.status == "running"), None)
        return done, self.steps_total, current

    def __repr__(self) -> str:
        done, total, current = self.progress()
        cur = f", now {current}" if current and self.status == "running" else ""
        return f"<Run {self.id} {self.status}: {done}/{total or '?'} steps{cur}; outdir {self.outdir}>"

    def _repr_html_(self) -> str:
        from html import escape

        done, total, current = self.progress()
        colour = {"success": "#2a7d2a", "failed": "#b22", "cancelled": "#886"}.get(self.status, "#246")
        pct = int(100 * done / total) if total else 0
        rows = "".join(
            f"<tr><td>{escape(s.name)}</td><td>{s.status}</td><td>{'' if s.seconds is None else f'{s.seconds:.1f} s'}"
            f"</td><td>{escape(s.batch_job_id or '')}</td></tr>" for s in self.steps)
        err = f"<div style='color:#b22'>{escape(self.error or '')}</div>" if self.status == "failed" else ""
        now = f" &mdash; running <b>{escape(current)}</b>" if current and self.status == "running" else ""
        return (f"<div><b>Run {escape(self.id)}</b>: <span style='color:{colour}'>{self.status}</span>, "
                f"{done}/{total or '?'} steps{now}"
                f"<div style='background:#ddd;width:20em;height:6px'><div style='background:{colour};"
                f"width:{pct}%;height:6px'></div></div>"
                f"<table><tr><th>step</th><th>status</th><th>time</th><th>batch job</th></tr>{rows}</table>"
                f"{err}<small>outdir {escape(str(self.outdir))}; log {escape(str(self.log))}</small></div>")

    def _show_in_jupyter(self) -> None:
        """In a Jupyter kernel, show the run and keep the display up to date; elsewhere nothing."""
        import sys

        ipy = sys.modules.get("IPython")
        shell = ipy.get_ipython() if ipy is not None else None
        if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
            return
        from IPython.display import display

        self._display = display(self, display_id=True)

    def _changed(self, final: bool = False) -> None:
        with self._lock:
            self._version += 1
        self._save()
        if self._recorder is not None:
            self._recorder.update(self._state, self._lock)
        self._update_display(force=final)

    def _update_display(self, force: bool = False) -> None:
        """Refresh the Jupyter display (at most twice a second) if the run changed since it was drawn."""
        if self._display is None or self._shown == self._version:
            return
        now = time.monotonic()
        if force or now - self._last_display > 0.5:
            self._last_display, self._shown = now, self._version
            try:
                self._display.update(self)
            except Exception:  # a closed kernel channel must not break the run
                pass

    def _close_steps(self, status: str) -> None:
        for s in self._state["steps"]:
            if s["status"] == "running":
                s["status"] = status
                s["end"] = time.time()


# ------------------------------------------------------------------ the pipeline
@dataclass
class _Options:
    workflow: Path
    job: Any
    outdir: Path
    outdir_text: str
    runner: str
    batch_system: str
    profile: Any
    provenance: bool | str | os.PathLike
    preflight: bool
    overwrite: bool
    reference_above: str | int
    retry_count: int | None
    restart: bool
    job_store: str | None
    extra_args: list[str]
    env: dict[str, str]
    allow_unknown: bool = False


class _Pipeline:
    """What :func:`submit` runs in its background thread (or the caller's, for a blocking run)."""

    def __init__(self, run: Run, opts: _Options, on_event: EventCallback | None):
        self.run, self.opts, self.on_event = run, opts, on_event

    def emit(self, kind: str, value: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, value)

    def __call__(self) -> None:
        run, st = self.run, self.run._state
        if run._recorder is not None:
            run._recorder.update(st, run._lock)  # queued
        try:
            self._pipeline()
            with run._lock:
                st["status"] = "success"
        except KeyboardInterrupt:
            with run._lock:
                st["status"], st["error"] = "cancelled", "cancelled"
                run._close_steps("cancelled")
        except BaseException as exc:  # noqa: BLE001 - every failure ends the run, one line in the state
            cancelled = run._cancel_requested or (runs_dir() / f"{run.id}.cancel").exists()
            if isinstance(exc, RunnerError) and not isinstance(exc, RunFailed):
                failure = getattr(exc, "failure", None)
                exc = RunFailed(str(exc), field=exc.field, location=exc.location, failure=failure)
                if failure is not None:
                    st["failure"] = {"step": failure.step, "cause": failure.cause,
                                     "log_path": str(failure.log_path), "returncode": failure.returncode}
            elif not isinstance(exc, PanoscError):
                exc = RunFailed(f"internal error: {type(exc).__name__}: {exc}", field="run")
            run._error = exc
            with run._lock:
                st["status"] = "cancelled" if cancelled else "failed"
                st["error"] = "cancelled" if cancelled else exc.one_line()
                run._close_steps("cancelled" if cancelled else "failed")
        finally:
            st["ended"] = time.time()
            run._changed(final=True)
            if run._recorder is not None:
                run._recorder.close()  # the record is in the catalogue (or queued) when wait() returns
            run._done.set()

    def _pipeline(self) -> None:
        from .runners import RunRequest, RunnerProcess, backend_for, build_command

        o, run, st = self.opts, self.run, self.run._state
        job: Path | None
        if isinstance(o.job, Mapping):
            job = runs_dir() / f"{run.id}.job.json"
            job.write_text(json.dumps(job_objects(o.workflow, o.job), indent=1), encoding="utf-8")
        elif o.job is not None:  # facility data locators (facility:EuXFEL/v1/p2222/r0013) -> a resolved job
            from .locators import resolve_for_run

            job, located = resolve_for_run(o.job, o.outdir)
            for loc, path in located.items():
                self.emit("located", (loc, path))
        else:
            job = None
        st["job"] = str(job) if job else None
        req = RunRequest(workflow=o.workflow, job=Path(job) if job else None, outdir=o.outdir, runner=o.runner,
                         batch_system=o.batch_system, retry_count=o.retry_count, restart=o.restart,
                         job_store=o.job_store, extra_args=list(o.extra_args), env=dict(o.env))
        req.profile = o.profile
        backend = run._backend = backend_for(req)
        reference_above = None
        if o.provenance:
            from .provenance import parse_size

            reference_above = parse_size(o.reference_above)
        if o.preflight:
            self._preflight(req)
        from .gpu import plan

        gpu = plan(o.workflow, batch_system=o.batch_system)
        req.gpu_overrides = gpu.overrides
        for line in gpu.notes():
            self.emit("note", line)
        if req.job is not None:  # Files without a format get their content's: cwltool and Toil refuse them otherwise
            from .validate import complete_job

            ours = isinstance(o.job, Mapping) or Path(req.job) != Path(o.job)  # a dict job, or locators resolved
            completed, filled = complete_job(o.workflow, req.job, runs_dir() / f"{run.id}.job.yml", in_place=ours)
            if filled:
                req.job = completed
                st["job"] = str(completed)
                kinds = ", ".join(f"{k} ({', '.join(dict.fromkeys(v))})" for k, v in filled.items())
                self.emit("note", f"note: no format stated for {kinds}: taken from the files' content; "
                                  f"the runner gets {completed}")
        bundle = None
        if o.provenance:
            refusal = backend.provenance_refusal(req)
            if refusal:
                self.emit("note", f"note: {refusal}")
            else:
                from .provenance.record import prepare

                notes: list[str] = []
                bundle = prepare(req, None if o.provenance is True else o.provenance, overwrite=o.overwrite,
                                 notes=notes)
                for line in notes + backend.provenance_notes(req):
                    self.emit("note", line)
        cmd = build_command(req)
        self.emit("command", cmd)
        if run._cancel_requested or (runs_dir() / f"{run.id}.cancel").exists():
            raise KeyboardInterrupt("cancelled before the runner started")
        rp = RunnerProcess(req, cmd, self._on_line)
        t0 = time.monotonic()
        rp.start()
        run._rp = rp
        with run._lock:
            st.update(status="running", pid=rp.pid, pgid=rp.pid, started=time.time())
        run._changed()
        if run._cancel_requested:  # cancelled while the runner was being started
            rp.stop(signal.SIGTERM)
        st["steps_total"] = _step_total(o.workflow)  # while the runner starts up (cached after pre-flight)
        if bundle is not None:  # the recorder's imports (h5py, numpy, nbformat: ~0.15 s) while this process waits
            threading.Thread(target=_import_recorder, name="panosc-warm-recorder", daemon=True).start()
        try:
            result = rp.wait()
        except BaseException:
            if bundle is not None:  # half a bundle must not look like the record of a run: none at all
                import shutil

                shutil.rmtree(bundle, ignore_errors=True)
            raise
        st["runner_seconds"] = rp.seconds
        self.emit("finished", (time.monotonic() - t0, result.log_path))
        if bundle is not None:
            from .provenance.record import record

            rec = record(req, result, reference_above)
            st["provenance"] = str(rec.bundle)
            self.emit("provenance", rec)
        with run._lock:
            st["outputs"] = result.outputs
            run._close_steps("success")

    def _preflight(self, req) -> None:
        """Validate the job (and refuse to overwrite outputs) before anything is submitted."""
        from .validate import ValidationError, preflight

        profile = self.opts.profile
        roots = profile.roots() if profile is not None and getattr(profile, "allowed_roots", None) else None
        try:
            report = preflight(req.workflow, req.job, outdir=self.opts.outdir_text, overwrite=self.opts.overwrite,
                               allowed_roots=roots, allow_unknown=self.opts.allow_unknown)
        except ValidationError as exc:
            for issue in exc.report.warnings + exc.report.errors:
                self.emit("issue", issue)
            raise
        for issue in report.warnings + report.errors:  # notes: one line when the completed job is written
            self.emit("issue", issue)

    def _on_line(self, line: str) -> None:
        self.emit("line", line)
        ev = self.run._backend.step_event(line)
        if ev is None:
            return
        run, now = self.run, time.time()
        with run._lock:
            steps = run._state["steps"]
            if ev.kind == "job" and any(s.get("kind") == "step" for s in steps):
                return  # cwltool: a workflow's "[job x]" lines repeat its "[step x]" lines
            if ev.job_id is not None:  # Toil: one entry per issued job (scattered steps have several)
                step = next((s for s in steps if s.get("job_id") == ev.job_id), None)
            else:
                same = [s for s in steps if s["name"] == ev.name]
                running = [s for s in same if s["status"] == "running"]
                step = running[0] if running else (None if ev.state == "running" else (same or [None])[-1])
            if step is None:
                step = {"name": ev.name, "status": "running", "start": now, "end": None, "batch_job_id": None,
                        "kind": ev.kind, "job_id": ev.job_id}
                steps.append(step)
            if ev.batch_id:
                step["batch_job_id"] = ev.batch_id
            if ev.state != "running":
                step["status"], step["end"] = ev.state, now
        run._changed()
        self.emit("step", _step(step))


def _import_recorder() -> None:
    """Import what :func:`provenance.record.record` needs once the runner has finished."""
    try:
        import nbformat  # noqa: F401  (executed notebooks' checksums)

        from .provenance import nexus  # noqa: F401
    except Exception:  # a failed warm-up only means record() imports (and reports) it itself
        pass


def submit(workflow: str | os.PathLike, job: str | os.PathLike | Mapping[str, Any] | None = None, *,
           runner: str | None = None, profile: str | None = None, outdir: str | os.PathLike | None = None,
           provenance: bool | str | os.PathLike = True, preflight: bool = True, overwrite: bool = False,
           reference_above: str | int = "100M", on_event: EventCallback | None = None,
           catalogue: str | os.PathLike | bool | None = None, run_id: str | None = None,
           allow_unknown: bool = False, **runner_options: Any) -> Run:
    """Start a workflow run in the background and return its :class:`Run` at once.

    ``job``: a YAML/JSON job file, or a dict (File/Directory inputs may be plain paths).
    ``runner``: ``cwltool`` (default) or ``toil`` (default with a ``profile``). ``outdir``: default
    ``./panosc-runs/<id>``. ``provenance``: True (bundle in ``OUTDIR/provenance``), a bundle folder, or
    False. ``catalogue``: where the run is recorded (a path or database URL; default
    ``$PANOSC_CWL_CATALOGUE`` or the user's SQLite catalogue; False: not recorded).
    ``run_id``: the run's id, chosen by the caller (the watcher derives it from the dataset, so a
    restarted watcher finds the run again); a run with that id already in the runs folder raises
    :class:`RunExists` and starts nothing.
    ``allow_unknown``: run a job that names inputs the workflow does not have (else an error).
    ``runner_options``: ``batch_system``, ``retry_count``, ``restart``, ``job_store``,
    ``extra_args`` (given to the runner as they are, e.g. ``["--parallel"]``), ``env``. Cheap
    mistakes (unknown runner, missing workflow) raise here; the rest
    (validation, runner failure) surfaces in :meth:`Run.wait`.
    """
    from .runners import BACKENDS, PROFILE_RUNNER, default_runner

    allowed = {"batch_system", "retry_count", "restart", "job_store", "extra_args", "env"}
    unknown = sorted(set(runner_options) - allowed)
    if unknown:
        raise InputError(f"unknown option {unknown[0]}; choose {', '.join(sorted(allowed))}", field="runner_options")
    prof = None
    if profile:
        from .profiles import get_profile

        prof = get_profile(profile)
    runner = runner or default_runner(prof)
    if runner not in BACKENDS:
        raise InputError(f"unknown runner '{runner}'; choose {', '.join(BACKENDS)}", field="runner")
    if runner_options.get("restart") and not BACKENDS[runner].can_restart:
        raise InputError(f"{BACKENDS[runner].title} cannot resume a run; --restart needs --runner "
                         f"{' or '.join(n for n, b in BACKENDS.items() if b.can_restart)}", field="restart")
    if prof is not None and not BACKENDS[runner].uses_profiles:
        title = BACKENDS[PROFILE_RUNNER].title
        raise InputError(f"profile '{prof.name}' configures {title}; use --runner {PROFILE_RUNNER}", field="profile")
    chosen_id = run_id is not None
    if chosen_id and not _RUN_ID.match(str(run_id)):
        raise InputError(f"run id '{run_id}' must be letters, digits, '_', '.', '-' (at most 151)", field="run_id")
    run_id = str(run_id) if chosen_id else time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)
    outdir_text = str(outdir) if outdir is not None else str(Path("panosc-runs") / run_id)
    out = Path(outdir_text).resolve()
    batch_system = runner_options.get("batch_system") or (prof.batch_system if prof else "single_machine")
    opts = _Options(workflow=Path(workflow), job=job if isinstance(job, Mapping) or job is None else str(job),
                    outdir=out, outdir_text=outdir_text, runner=runner, batch_system=batch_system, profile=prof,
                    provenance=provenance, preflight=preflight, overwrite=overwrite, reference_above=reference_above,
                    retry_count=runner_options.get("retry_count"), restart=bool(runner_options.get("restart")),
                    job_store=runner_options.get("job_store"), extra_args=list(runner_options.get("extra_args") or []),
                    env=dict(runner_options.get("env") or {}), allow_unknown=allow_unknown)
    state = {"version": STATE_VERSION, "id": run_id, "status": "queued", "workflow": str(Path(workflow).resolve()),
             "job": None if isinstance(job, Mapping) or job is None else str(Path(job).resolve()),
             "outdir": str(out), "runner": runner, "batch_system": batch_system, "profile": profile,
             "host": socket.gethostname(), "owner_pid": os.getpid(), "owner_start": _proc_start(os.getpid()), "pid": None, "pgid": None,
             "submitted": time.time(), "started": None, "ended": None, "steps": [], "steps_total": None,
             "outputs": {}, "provenance": None, "error": None, "failure": None}
    folder = runs_dir()
    (folder / "by-outdir").mkdir(parents=True, exist_ok=True)
    run = Run(state, owner=True)
    if chosen_id and not _create_exclusive(run.state_path, json.dumps(state, indent=1, default=str)):
        raise RunExists(f"run {run_id} already exists in {folder}", field="run_id")  # nothing recorded, nothing run
    if catalogue is not False:
        from .catalogue.recorder import Recorder

        notify = (lambda msg: on_event("note", msg)) if on_event is not None else None
        run._recorder = Recorder(None if catalogue is True else catalogue, notify)
    if not chosen_id:
        run._save()
    _write_atomic(folder / "by-outdir" / _outdir_key(out), run_id)
    pipeline = _Pipeline(run, opts, on_event)
    run._thread = threading.Thread(target=pipeline, name=f"panosc-run-{run_id}", daemon=True)
    run._thread.start()
    run._show_in_jupyter()
    return run


def run_workflow(workflow: str | os.PathLike, job: str | os.PathLike | Mapping[str, Any] | None = None,
                 **kwargs: Any) -> Run:
    """:func:`submit`, then :meth:`Run.wait` (Ctrl-C / SIGTERM cancel the run, then KeyboardInterrupt)."""
    return submit(workflow, job, **kwargs).wait(cancel_on_interrupt=True)
