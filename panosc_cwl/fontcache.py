"""Matplotlib's font cache kept between workflow steps.

cwltool and Toil run every step with ``HOME`` set to a new, empty folder (the step's own output or
temporary folder), so each step that imports Matplotlib (plots, report notebooks and their kernels)
rebuilds Matplotlib's font list from the system's and Matplotlib's fonts before drawing anything:
0.2-0.35 s per step measured on the README job, work whose result is the same every time.
Matplotlib itself recommends setting ``MPLCONFIGDIR`` to a persistent writable folder to avoid it.

:func:`share_matplotlib_cache` does that for our steps: when the process runs under such a
temporary ``HOME`` it points ``MPLCONFIGDIR`` at a folder of the user's real home. That folder
holds the font cache only (no ``matplotlibrc``), so a step draws exactly what it drew before, as a
step under a runner never saw the user's own Matplotlib settings.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

#: under the user's real home: Matplotlib's cache for steps run with a temporary HOME
CACHE_SUBDIR = Path(".cache") / "panosc-cwl" / "matplotlib"


def _account_home() -> Path | None:
    """The home folder of the account running us (a container's user may have none)."""
    try:
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError, OSError):
        return None


def share_matplotlib_cache(environ: MutableMapping[str, str] | None = None,
                           account_home: Path | None = None) -> Path | None:
    """Set ``MPLCONFIGDIR`` in ``environ`` (default ``os.environ``) to ``ACCOUNT_HOME/.cache/panosc-cwl/
    matplotlib`` when ``HOME`` is not the account's home and has no Matplotlib font cache yet.

    Nothing changes (None returned) when ``MPLCONFIGDIR`` or ``XDG_CACHE_HOME`` is set (the user
    chose), when ``HOME`` is the account's home or already holds a font cache, or when that folder
    cannot be created or written (Matplotlib then does what it did before). Returns the folder set.
    """
    env = os.environ if environ is None else environ
    if env.get("MPLCONFIGDIR") or env.get("XDG_CACHE_HOME") or not env.get("HOME"):
        return None
    account_home = _account_home() if account_home is None else account_home
    if account_home is None:
        return None
    home = Path(env["HOME"])
    try:
        if home.resolve() == account_home.resolve():
            return None
        if any((home / ".cache" / "matplotlib").glob("fontlist-*.json")):
            return None
        target = account_home / CACHE_SUBDIR
        target.mkdir(parents=True, exist_ok=True)
        if not (target.is_dir() and os.access(target, os.W_OK)):
            return None
    except OSError:
        return None
    env["MPLCONFIGDIR"] = str(target)
    return target
