"""Folders where panosc-cwl keeps results that are the same every time, between processes and runs.

cwltool and Toil run every step with ``HOME`` set to a new, empty folder (the step's own output or
temporary folder), so a cache under ``$HOME`` lives for one step only. Our caches therefore live in
the account's own home, looked up in the password database: :func:`cache_dir`.

Matplotlib keeps its font list in such a cache: a step that imports it under a fresh ``HOME``
(plots, report notebooks and their kernels) rebuilds the list from the system's and Matplotlib's
fonts before drawing anything, 0.2-0.35 s per step on the README job. :class:`MatplotlibFontCache`
copies the list kept in ``cache_dir()/matplotlib`` into the step's own Matplotlib cache before the
step runs, and keeps a list the step had to build for the next steps. Matplotlib reads and writes
only the step's own folder, as before: nothing else of its configuration changes (the step draws
exactly what it drew before), and a file of the shared folder is only ever replaced whole (``os.replace``),
never locked, so a thousand steps starting at once on a cluster neither wait for one another nor
see half a file.

GPU libraries keep the kernels they compile under ``$HOME`` too: a nabu step on an H200 took 19 s
with a new ``HOME`` and 8 s with its kernels kept (benchmarks/README.md, "GPU check").
:func:`gpu_kernel_cache_env` points cupy's kernel cache (nabu's CUDA back end) and the NVIDIA driver's
JIT cache at ``cache_dir()`` for a step; both libraries write each entry whole and are made for many
processes at once (cupy renames a finished file into place). pyopencl's cache is not shared: one lock
file guards its whole folder, and a step killed while holding it would stall every later step 60 s.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
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


def _step_home(env: Mapping[str, str], home: Path | None = None) -> Path | None:
    """``$HOME`` when it is not the account's ``home`` (default :func:`account_home`): a step's own."""
    home = account_home() if home is None else home
    if home is None or not env.get("HOME"):
        return None
    step_home = Path(env["HOME"])
    try:
        return None if step_home.resolve() == home.resolve() else step_home
    except OSError:
        return None


#: the variables that move GPU libraries' compiled-kernel caches, and their folders in cache_dir()
GPU_KERNEL_CACHES = {"CUPY_CACHE_DIR": "cupy-kernels", "CUDA_CACHE_PATH": "nv-compute-cache"}


def gpu_kernel_cache_env(environ: Mapping[str, str] | None = None, *, home: Path | None = None,
                         root: Path | None = None) -> dict[str, str]:
    """The variables to set so that a step keeps its compiled GPU kernels in :func:`cache_dir` (``root``).

    Empty where ``$HOME`` is the account's ``home`` (the libraries' own caches there last) or caching
    is off; a variable the user set is left alone.
    """
    env = os.environ if environ is None else environ
    root = cache_dir(env) if root is None else root
    if root is None or _step_home(env, home) is None:
        return {}
    return {var: str(root / folder) for var, folder in GPU_KERNEL_CACHES.items() if not env.get(var)}


class MatplotlibFontCache:
    """Matplotlib's font list shared by the steps of runs (see the module's text).

    :meth:`for_step` gives one for a process whose ``$HOME`` is not the account's home (a step run by
    cwltool or Toil), None otherwise; :meth:`seed` before the step's work, :meth:`keep` after it.
    """

    def __init__(self, step_cache: Path, shared: Path):
        self.step_cache, self.shared = step_cache, shared

    @classmethod
    def for_step(cls, environ: Mapping[str, str] | None = None, *, home: Path | None = None,
                 root: Path | None = None) -> MatplotlibFontCache | None:
        """None when the user chose Matplotlib's folders (``MPLCONFIGDIR``, ``XDG_CACHE_HOME``), when
        ``$HOME`` is the account's ``home`` (default :func:`account_home`; Matplotlib's own cache
        there lasts), or when caching is off (``root``: default :func:`cache_dir`)."""
        env = os.environ if environ is None else environ
        if env.get("MPLCONFIGDIR") or env.get("XDG_CACHE_HOME"):
            return None
        root = cache_dir(env) if root is None else root
        step_home = _step_home(env, home)
        if step_home is None or root is None:
            return None
        return cls(step_home / ".cache" / "matplotlib", root / "matplotlib")

    def seed(self) -> list[Path]:
        """Copy the shared font lists the step's cache lacks (modification times kept); the copies made."""
        made = []
        try:
            for src in sorted(self.shared.glob("fontlist-v*.json")):
                dst = self.step_cache / src.name
                if not dst.exists():
                    self.step_cache.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
                    made.append(dst)
        except OSError:  # no shared folder yet, or not readable: Matplotlib builds its list as before
            pass
        return made

    def keep(self) -> list[Path]:
        """Put the font lists the step built (complete JSON only) into the shared folder, each by an
        atomic replace; the files written there."""
        kept = []
        try:
            for src in sorted(self.step_cache.glob("fontlist-v*.json")):
                dst = self.shared / src.name
                if dst.exists():
                    continue
                text = src.read_bytes()
                json.loads(text)  # a kernel killed while writing leaves half a list: not shared
                from .iorw import atomic_path  # (numpy: only a step that built a list gets here)

                self.shared.mkdir(parents=True, exist_ok=True)
                with atomic_path(dst, overwrite=True) as tmp:
                    tmp.write_bytes(text)
                kept.append(dst)
        except (OSError, ValueError):
            pass
        return kept
