"""Records that could not be written because the catalogue was unreachable, queued in a file.

One JSON line per record in ``<data folder>/catalogue-outbox/<hash of the catalogue URL>.jsonl``;
written again, in order, the next time that catalogue is opened or written successfully. A flush
first renames the file, so two processes never both take the same lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import Catalogue

STALE_S = 300  # a flush file this old was left by a process that died while flushing


def outbox_dir() -> Path:
    from . import data_dir

    return data_dir() / "catalogue-outbox"


def outbox_path(url: str) -> Path:
    """The outbox file of the catalogue at ``url`` (named by a hash: no password in a file name)."""
    from . import catalogue_url

    return outbox_dir() / f"{hashlib.sha1(catalogue_url(url).encode()).hexdigest()[:16]}.jsonl"


def queue(url: str, record: dict[str, Any]) -> Path:
    """Append one run record to the outbox of ``url`` (one write of one line: safe between processes)."""
    path = outbox_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"kind": "run", "record": record}, default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return path


def pending(url: str) -> int:
    """How many records wait in the outbox of ``url``."""
    total = 0
    for p in _files(url, stale_only=False):
        try:
            total += sum(1 for line in p.read_text(encoding="utf-8").splitlines() if line.strip())
        except OSError:
            pass
    return total


def _files(url: str, *, stale_only: bool = True) -> list[Path]:
    main = outbox_path(url)
    found = [main] if main.exists() else []
    now = time.time()
    for p in main.parent.glob(main.name + ".flushing-*") if main.parent.is_dir() else []:
        try:
            if not stale_only or now - p.stat().st_mtime > STALE_S:
                found.append(p)
        except FileNotFoundError:
            pass
    return found


def flush(cat: Catalogue) -> int:
    """Write the queued records of ``cat``'s URL into it; returns how many were written.

    The newest snapshot of each run wins. On a failure the records not written go back into the outbox
    and CatalogueUnavailable (or the database error) is raised.
    """
    files = _files(cat.url)
    if not files:
        return 0
    records: dict[str, dict] = {}
    taken: list[Path] = []
    for p in files:
        mine = p.with_name(f"{outbox_path(cat.url).name}.flushing-{os.getpid()}-{secrets.token_hex(3)}")
        try:
            os.replace(p, mine)
        except FileNotFoundError:  # another process took it
            continue
        taken.append(mine)
        for line in mine.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)["record"]
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash
            old = records.get(rec["id"])
            if old is None or int(rec.get("revision") or 0) >= int(old.get("revision") or 0):
                records[rec["id"]] = rec
    written = 0
    try:
        for rec in records.values():
            cat.record_run(rec)
            written += 1
    except BaseException:
        for rec in list(records.values())[written:]:
            queue(cat.url, rec)
        for p in taken:
            p.unlink(missing_ok=True)
        raise
    for p in taken:
        p.unlink(missing_ok=True)
    return written
