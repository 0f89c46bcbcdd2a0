"""Folders where panosc-cwl keeps results that are the same every time, between processes and runs.

cwltool and Toil run every step with ``HOME`` set to a new, empty folder (the step's own output or
temporary folder), so a cache under ``$HOME`` lives for one step only. Our caches therefore live in
the account's own home, looked up in the password database: :func:`cache_dir`.

Matplotlib keeps its font list in such a cache: a step that imports it under a fresh ``HOME``
(plots, report notebooks and their kernels) rebuilds the list from the system's and Matplotlib's
fonts before drawing anything, 0.2-0.35 s per step on the README job, and Matplotlib itself
recommends ``MPLCONFIGDIR`` to avoid it. :func:`share_matplotlib_cache` points ``MPLCONFIGDIR`` at
``cache_dir()/matplotlib`` for such steps. That folder holds the font cache only (no
``matplotlibrc``), so a step draws exactly what it drew before: a step under a runner never saw the
user's own Matplotlib settings either.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

_OFF = ("off", "0", "no", "none")


def account_home() -> Path | None:
    """The home folder of the account running us, whatever ``$HOME`` says (a container's user may have none)."""
    try:
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError, OSError):
        return None


def cache_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where computed tables are kept between processes; None when caching is off.

    ``$PANOSC_CWL_CACHE`` (``off`` disables it), else ``~/.cache/panosc-cwl`` of the account
    (looked up in the password database: cwltool gives every step a fresh ``$HOME``).
    """
    env = (os.environ if environ is None else environ).get("PANOSC_CWL_CACHE")
    if env:
        return None if env.lower() in _OFF else Path(env)
    home = account_home()
    return home / ".cache" / "panosc-cwl" if home is not None else None


def share_matplotlib_cache(environ: MutableMapping[str, str] | None = None, *, home: Path | None = None,
                           root: Path | None = None) -> Path | None:
    """Set ``MPLCONFIGDIR`` in ``environ`` (default ``os.environ``) to ``ROOT/matplotlib`` (``root``:
    default :func:`cache_dir`) when ``$HOME`` is not the account's ``home`` (default
    :func:`account_home`) and holds no Matplotlib font cache yet: a step run by cwltool or Toil.

    Nothing changes (None returned) when ``MPLCONFIGDIR`` or ``XDG_CACHE_HOME`` is set (the user
    chose), when ``$HOME`` is the account's home or already holds a font cache, when caching is off
    (``PANOSC_CWL_CACHE=off``), or when the folder cannot be created or written (Matplotlib then does
    what it did before). Returns the folder set.
    """
    env = os.environ if environ is None else environ
    if env.get("MPLCONFIGDIR") or env.get("XDG_CACHE_HOME") or not env.get("HOME"):
        return None
    home = account_home() if home is None else home
    root = cache_dir(env) if root is None else root
    if home is None or root is None:
        return None
    step_home = Path(env["HOME"])
    try:
        if step_home.resolve() == home.resolve():
            return None
        if any((step_home / ".cache" / "matplotlib").glob("fontlist-*.json")):
            return None
        target = root / "matplotlib"
        target.mkdir(parents=True, exist_ok=True)
        if not (target.is_dir() and os.access(target, os.W_OK)):
            return None
    except OSError:
        return None
    env["MPLCONFIGDIR"] = str(target)
    return target
