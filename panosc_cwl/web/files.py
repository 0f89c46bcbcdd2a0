"""Which files the web page may serve: only files under a run's output folder or provenance bundle,
as the catalogue records them. Everything else (``..``, absolute paths, encoded traversal, NUL bytes,
symlinks that point out) is refused the same way, as "not found", so a probe learns nothing."""

from __future__ import annotations

from pathlib import Path

# the roots a run's files are served from, by the name used in URLs
ROOTS = ("out", "prov")


def run_roots(run) -> dict[str, Path]:
    """The folders of this recorded run that may be served, by URL name."""
    roots = {}
    if run.outdir:
        roots["out"] = Path(run.outdir)
    if run.provenance:
        roots["prov"] = Path(run.provenance)
    return roots


def safe_file(root: Path, rel: str) -> Path | None:
    """``root/rel`` as a real path if it is a regular file inside ``root`` (after resolving symlinks);
    None for anything else. ``rel`` is the already URL-decoded path the client asked for."""
    if not rel or "\x00" in rel or "\\" in rel or rel.startswith("/") or "%" in rel or ":" in rel.split("/")[0]:
        return None
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    try:
        base = root.resolve(strict=True)
        target = (base / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def relative_to_root(run, path: str | Path) -> tuple[str, str] | None:
    """(root name, relative path) of a recorded file path when it lies under one of the run's roots."""
    p = Path(path)
    for name, root in run_roots(run).items():
        try:
            return name, p.resolve().relative_to(root.resolve()).as_posix()
        except (ValueError, OSError):
            continue
    return None
