"""The one hook between the run pipeline (:mod:`panosc_cwl.api`) and the catalogue.

:class:`Recorder` gets a copy of the run's state at every change and writes the run's whole record
(inputs with SHA-1s, steps with batch job ids, outputs with checksums, the status history) from its
own thread, so a slow or absent database never holds up the runner. If the catalogue cannot be
reached the record goes to the outbox (:mod:`.outbox`), to be written the next time it can, and the
user is told once. Nothing here ever fails a run.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("panosc_cwl.catalogue")

CLOSE_TIMEOUT_S = 60.0  # how long the end of a run waits for its record to be written
_CATALOGUES: dict[str, Any] = {}  # open catalogues of this process, by URL
_CAT_LOCK = threading.Lock()
_HASHES: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha1: a watcher re-reads inputs
_WARNED: set[str] = set()


def file_sha1(path: str | os.PathLike) -> str:
    """SHA-1 of a file's content (cached by path, size and modification time)."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha1()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


_WORKFLOWS: dict[str, tuple[tuple, str]] = {}  # workflow path -> (stats of the files it is made of, sha1)


def _stats(paths: list[str]) -> tuple:
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            return ()
        out.append((p, st.st_size, st.st_mtime_ns))
    return tuple(out)


def cwl_source_files(path: str | os.PathLike) -> list[str]:
    """Every file the CWL loader (cwl-utils) reads for this process: the file itself, the tools and
    sub-workflows its steps run, and what any of them ``$import``/``$include``; sorted paths.

    The loader reads through a fetcher that notes each local file; the steps' ``run`` references are
    followed one by one (cwl-utils leaves them as URIs). A file the loader refuses ends the walk
    there: the files read so far are returned.
    """
    import requests
    from cwl_utils.parser import cwl_v1_2, load_document_by_uri
    from schema_salad.fetcher import DefaultFetcher

    read: set[str] = set()

    class NotingFetcher(DefaultFetcher):
        def fetch_text(self, url: str, content_types: list[str] | None = None) -> str:
            if url.startswith("file://"):
                read.add(_local_path({"location": url.split("#", 1)[0]}, Path("/")).as_posix())
            return super().fetch_text(url, content_types)

    options = cwl_v1_2.LoadingOptions(fetcher=NotingFetcher({}, requests.Session()))
    loaded: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        for step in getattr(node, "steps", None) or []:
            if isinstance(step.run, str):
                load(step.run)
            else:
                walk(step.run)  # a process written inline

    def load(uri: str) -> None:
        key = uri.split("#", 1)[0]
        if key in loaded:
            return
        loaded.add(key)
        walk(load_document_by_uri(key, options))

    try:
        load(Path(path).resolve().as_uri())
    except Exception as exc:  # noqa: BLE001 - not valid CWL: the run's own checks say why
        log.debug("loading %s for its checksum stopped: %s", path, exc)
    read.add(str(Path(path).resolve()))
    return sorted(read)


def workflow_sha1(path: str | os.PathLike) -> str:
    """SHA-1 of a workflow and everything it runs (:func:`cwl_source_files`), each file by its path
    relative to the workflow's folder and its content: editing a tool a step runs makes a new
    workflow version; a copy of the tree elsewhere is the same version. Cached by the files' stats."""
    p = str(Path(path).resolve())
    cached = _WORKFLOWS.get(p)
    if cached is not None and cached[0] and _stats([f for f, _, _ in cached[0]]) == cached[0]:
        return cached[1]
    files = cwl_source_files(p)
    h = hashlib.sha1()
    for f in files:
        h.update(f"{os.path.relpath(f, Path(p).parent)}\0{file_sha1(f)}\n".encode())
    _WORKFLOWS[p] = (_stats(files), h.hexdigest())
    return _WORKFLOWS[p][1]


def _checksum(obj: dict) -> str | None:
    c = obj.get("checksum")
    return c.split("$", 1)[1] if isinstance(c, str) and c.startswith("sha1$") else None


def _local_path(obj: dict, base: Path) -> Path | None:
    text = obj.get("path") or obj.get("location")
    if not isinstance(text, str):
        return None
    if text.startswith("file://"):
        from urllib.parse import unquote, urlparse

        text = unquote(urlparse(text).path)
    elif "://" in text:
        return None
    return Path(os.path.normpath(base / text))  # jobs/../data/x.h5 -> data/x.h5, as a user would write it


def _files(name: str, value: Any, base: Path, hash_new: bool, trust_checksum: bool = True) -> list[dict]:
    """Local File/Directory objects of one job or output entry, with size and SHA-1 of each File.

    ``trust_checksum``: take a ``sha1$`` checksum given in the object (not for outputs: the NXprocess
    chain is written into NeXus outputs after the runner reported their checksums).
    """
    from ..runners import cwl_file_objects

    out = []
    for obj in cwl_file_objects(value, ("File", "Directory")):
        path = _local_path(obj, base)
        if path is None:
            continue
        sha1, size = (_checksum(obj), obj.get("size")) if trust_checksum else (None, None)
        if obj.get("class") == "File" and path.is_file():
            size = size if size is not None else path.stat().st_size
            if sha1 is None and hash_new:
                sha1 = file_sha1(path)
            elif sha1 is None:
                st = path.stat()
                sha1 = _HASHES.get((str(path), st.st_size, st.st_mtime_ns))
        out.append({"name": name, "path": str(path), "sha1": sha1, "size": size})
    return out


def read_job(path: str | os.PathLike) -> dict | None:
    """A job file (YAML or JSON) as a dict; None if it cannot be read."""
    from ruamel.yaml import YAML

    try:
        with open(path, encoding="utf-8") as fh:
            data = YAML(typ="safe", pure=True).load(fh)
    except Exception:  # noqa: BLE001 - the pipeline reports a bad job; the record just lacks it
        return None
    return json.loads(json.dumps(data, default=str)) if isinstance(data, dict) else None


def _catalogue(url: str):
    from . import open_catalogue

    with _CAT_LOCK:
        cat = _CATALOGUES.get(url)
        if cat is None:
            cat = _CATALOGUES[url] = open_catalogue(url)
        return cat


class Recorder:
    """Records one run in the catalogue at ``url`` (None: ``$PANOSC_CWL_CATALOGUE`` or the default)."""

    def __init__(self, url: str | os.PathLike | None = None, notify: Callable[[str], None] | None = None):
        from . import catalogue_url

        self.url = catalogue_url(url)  # a malformed URL is the caller's mistake: InputError at submit
        self.notify = notify
        self.revision = 0
        self.history: list[dict] = []
        self.user = getpass.getuser()
        self.workflow_sha1: str | None = None
        self.job: dict | None = None
        self.inputs: list[dict] | None = None
        self.outputs: list[dict] | None = None
        self.queued_to: Path | None = None
        self._warned = False
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------ called by the pipeline
    def update(self, state: dict, lock: Any = None) -> None:
        """The run changed: take a snapshot of ``state`` (under the run's ``lock``) and record it."""
        try:
            if lock is not None:
                with lock:
                    snap = json.loads(json.dumps(state, default=str))
            else:
                snap = json.loads(json.dumps(state, default=str))
            with self._lock:
                if not self.history or self.history[-1]["status"] != snap["status"]:
                    at = snap.get("submitted") if not self.history else time.time()
                    self.history.append({"status": snap["status"], "at": at or time.time()})
                self.revision += 1
                snap["_revision"], snap["_history"] = self.revision, list(self.history)
                if self._closed:  # after the run ended (an owner's cancel): write it here and now
                    self._write(self._record(snap, hash_new=True))
                    return
                if self._thread is None:
                    self._thread = threading.Thread(target=self._writer, name="panosc-catalogue", daemon=True)
                    self._thread.start()
            self._queue.put(snap)
        except Exception as exc:  # noqa: BLE001 - the catalogue never fails a run
            log.debug("catalogue record skipped: %s", exc)

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """The run ended: wait (up to ``timeout`` s) until its last record is written or queued."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)
        if thread.is_alive():  # the database hangs: queue the newest snapshot ourselves
            snap = getattr(self, "_last_snap", None)
            if snap is not None:
                self._to_outbox(self._record(snap, hash_new=False), "no answer within "
                                f"{timeout:.0f} s")

    # ------------------------------------------------------------ the writer thread
    def _writer(self) -> None:
        skipped = None  # a "queued" snapshot not written yet
        while True:
            snap = self._queue.get()
            done = snap is None
            if snap is None:
                snap, skipped = skipped, None
            while not self._queue.empty():  # only the newest snapshot matters: each is the whole run
                nxt = self._queue.get()
                if nxt is None:
                    done = True
                else:
                    snap = nxt
            if snap is not None and snap["status"] == "queued" and not done:
                # nothing to write before the runner starts: opening the catalogue (SQLAlchemy's import,
                # ~0.3 s of Python) would hold the GIL while the pre-flight checks run; from here it
                # overlaps the runner's start-up (another process). The history keeps "queued".
                self._last_snap = skipped = snap
                continue
            skipped = None
            if snap is not None:
                self._last_snap = snap
                try:
                    self._write(self._record(snap, hash_new=True))
                except Exception as exc:  # noqa: BLE001
                    log.debug("catalogue record failed: %s", exc)
            if done:
                return

    def _record(self, snap: dict, hash_new: bool) -> dict:
        """The catalogue record of a state snapshot (hashing inputs once the job is known)."""
        workflow = snap.get("workflow")
        if self.workflow_sha1 is None and workflow and Path(workflow).is_file():
            self.workflow_sha1 = workflow_sha1(workflow)
        job_path = os.path.abspath(snap["job"]) if snap.get("job") else None
        if job_path and self.job is None:
            self.job = read_job(job_path)
        if job_path and self.job is not None and (self.inputs is None or any(i["sha1"] is None for i in self.inputs
                                                                            if Path(i["path"]).is_file())):
            base = Path(job_path).parent
            self.inputs = [f for k, v in self.job.items() for f in _files(k, v, base, hash_new)]
        if snap.get("outputs") and (self.outputs is None or snap["status"] in ("success", "failed", "cancelled")):
            self.outputs = [f for k, v in snap["outputs"].items() for f in _files(k, v, Path("/"), hash_new, False)]
        outdir = snap.get("outdir")
        return {
            "id": snap["id"], "revision": snap["_revision"], "user": self.user, "host": snap.get("host"),
            "owner_pid": snap.get("owner_pid"), "owner_start": snap.get("owner_start"),
            "workflow_path": workflow, "workflow_sha1": self.workflow_sha1, "job_path": job_path, "job": self.job,
            "runner": snap.get("runner"), "batch_system": snap.get("batch_system"), "profile": snap.get("profile"),
            "status": snap["status"], "submitted": snap.get("submitted"), "started": snap.get("started"),
            "ended": snap.get("ended"), "outdir": outdir, "provenance": snap.get("provenance"),
            "log": str(Path(outdir) / "runner.log") if outdir else None, "error": snap.get("error"),
            "inputs": self.inputs or [], "outputs": self.outputs or [],
            "steps": [{k: s.get(k) for k in ("name", "status", "start", "end", "batch_job_id")}
                      for s in snap.get("steps") or []],
            "status_changes": snap["_history"],
        }

    def _write(self, rec: dict) -> None:
        from . import outbox

        try:
            cat = _catalogue(self.url)
            cat.record_run(rec)
            if outbox.outbox_path(self.url).exists():
                outbox.flush(cat)
        except Exception as exc:  # noqa: BLE001 - unreachable server, locked file...: queue it
            from . import _first_line

            self._to_outbox(rec, _first_line(exc))

    def _to_outbox(self, rec: dict, why: str) -> None:
        from sqlalchemy.engine import make_url

        from . import outbox

        self.queued_to = outbox.queue(self.url, rec)
        if self._warned:
            return
        self._warned = True
        shown = make_url(self.url).render_as_string(hide_password=True)
        msg = (f"warning: run catalogue {shown} cannot be reached ({why}); the run goes on and its record "
               f"is queued in {self.queued_to}, written when the catalogue is next reachable")
        if self.notify is not None:
            self.notify(msg)
        elif self.url not in _WARNED:
            _WARNED.add(self.url)
            log.warning(msg)


def forget_open_catalogues() -> None:
    """Drop this process's open catalogues (tests that stop a database server)."""
    with _CAT_LOCK:
        for cat in _CATALOGUES.values():
            cat.close()
        _CATALOGUES.clear()
