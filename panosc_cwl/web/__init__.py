"""``panosc-cwl serve``: a read-only web page over the run catalogue (FastAPI, Jinja2, h5grove/H5Web)."""

from __future__ import annotations

from pathlib import Path

H5WEB = Path(__file__).parent / "static" / "h5web"
H5WEB_BUILD_HINT = ("the H5Web viewer is not built: run .ci/install-h5web "
                    "(npm ci && npm run build in panosc_cwl/web/frontend)")


def h5web_built() -> bool:
    """Whether the H5Web front end has been built (by .ci/install-h5web)."""
    return (H5WEB / "index.html").is_file()


def create_app(catalogue=None):
    """The web application (imports FastAPI only when called)."""
    from .app import create_app as _create

    return _create(catalogue)
