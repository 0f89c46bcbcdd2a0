"""``serve``: the read-only web page over the run catalogue (:mod:`panosc_cwl.web`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .common import _err

EPILOG = """example:
  panosc-cwl serve                                   # http://127.0.0.1:8765, until Ctrl-C
  panosc-cwl serve --catalogue postgresql+psycopg://panosc@db.example.org/runs --port 8080

Read-only: runs, steps, outputs, reports, provenance, NeXus files in H5Web. It binds to 127.0.0.1
unless --host says otherwise (--host 0.0.0.0 shows the runs to everyone who can reach this port).

The page runs in an environment of its own (.venv-web, made by `bash .ci/install-web`): its HDF5
server h5grove needs orjson, which breaks `cwltool --provenance` runs where it is importable. Run from
.venv, `serve` re-runs itself with $PANOSC_CWL_WEB_PYTHON, else <project>/.venv-web/bin/python."""

WEB_PYTHON_ENV = "PANOSC_CWL_WEB_PYTHON"
_DELEGATED = "_PANOSC_CWL_SERVE_DELEGATED"  # set in the re-run: never hand over twice
INSTALL_HINT = ("the web page's environment is not installed: run `bash .ci/install-web` (or `pip install "
                "'panosc-cwl[web]'` into an environment of its own and set $PANOSC_CWL_WEB_PYTHON to its python); "
                "it is kept apart because its h5grove needs orjson, which breaks `cwltool --provenance` runs")


def _web_stack_importable() -> bool:
    try:
        import fastapi  # noqa: F401
        import h5grove  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        return False
    return True


def web_python() -> Path | None:
    """The python of the web page's environment: $PANOSC_CWL_WEB_PYTHON, else the project's .venv-web."""
    named = os.environ.get(WEB_PYTHON_ENV)
    candidate = Path(named) if named else Path(__file__).resolve().parents[2] / ".venv-web" / "bin" / "python"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def _check_port(host: str, port: int) -> None:
    """One clear line instead of uvicorn's log when the address cannot be bound."""
    import socket

    from ..exceptions import InputError

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", field="port") from None


def _hand_over(args) -> None:
    """Re-run ``serve`` with the same options in the web page's environment (replaces this process)."""
    from ..exceptions import InputError

    python = web_python()
    if python is not None and Path(python).parent.parent.resolve() == Path(sys.prefix).resolve():
        raise InputError(f"{sys.prefix} is the web page's environment but cannot import its web stack "
                         "(fastapi, uvicorn, h5grove): run `bash .ci/install-web` again", field="serve")
    if python is None or os.environ.get(_DELEGATED):
        raise InputError(INSTALL_HINT, field="serve")
    argv = ["serve", "--host", args.host, "--port", str(args.port)]
    if args.catalogue:
        argv += ["--catalogue", args.catalogue]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(python, [str(python), "-m", "panosc_cwl", *argv], {**os.environ, _DELEGATED: "1"})


def cmd_serve(args) -> int:
    _check_port(args.host, args.port)
    if not _web_stack_importable():
        _hand_over(args)
    import uvicorn

    from ..web import H5WEB_BUILD_HINT, create_app, h5web_built

    app = create_app(args.catalogue)
    if not h5web_built():
        _err(f"serve: {H5WEB_BUILD_HINT}; the rest of the page works")
    _err(f"serve: runs of {app.state.catalogue!r} at http://{args.host}:{args.port}/ (Ctrl-C stops)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("serve", help="a read-only web page of the recorded runs (reports, provenance, H5Web)",
                       description="Serves the run catalogue as web pages: runs table, a page per run, "
                                   "NeXus outputs in H5Web. Nothing can be changed through it.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--catalogue", metavar="URL",
                   help="SQLite path or database URL (default $PANOSC_CWL_CATALOGUE or the user's catalogue)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    p.set_defaults(func=cmd_serve)
