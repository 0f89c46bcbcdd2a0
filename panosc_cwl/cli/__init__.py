"""The ``panosc-cwl`` command line: argument parsing only; the work is done by the library modules.

Every user error ends as one line on stderr (``panosc-cwl: error: ...``), exit code 2, no traceback.
One module per command group; building the parser imports none of the scientific libraries.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ..caches import MatplotlibFontCache, gpu_kernel_cache_env
from ..exceptions import PanoscError
from . import facility, imaging, notebook, powder, provenance, run, runs, serve, watch
from .common import PROG, OneLineParser, _err, hide_deprecated


DESCRIPTION = """Facility analysis codes as CWL tools and workflows.

One rule for the command tree: what works on any workflow, tool or notebook is a top-level verb
(run, validate, provenance, profiles, locate, notebook-tool, notebook-run, runs, watch, trigger,
serve);
the science is `panosc-cwl TECHNIQUE VERB`, and every technique calls its test-data generator
`simulate` (powder, detector, euxfel, xrf, sas, cdi, tomo). `panosc-cwl COMMAND --help` ends with
an example."""

EPILOG = """example:
  panosc-cwl powder simulate --calibrant CeO2 --frames 20 -o data/ceo2 --overwrite
  panosc-cwl run cwl/workflows/powder-xrd.cwl jobs/powder-xrd-ceo2.yml --outdir out/powder-xrd"""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    # generic verbs (any workflow, tool or notebook) first, then one group per technique
    run.add_run_parser(sub)
    run.add_validate_parser(sub)
    provenance.add_parsers(sub)
    run.add_profiles_parser(sub)
    notebook.add_parsers(sub)
    runs.add_parsers(sub)
    watch.add_parsers(sub)
    serve.add_parsers(sub)
    powder.add_parsers(sub)  # also `detector`, and the hidden pre-issue-18 names
    facility.add_parsers(sub)  # locate, euxfel, xrf, sas
    imaging.add_parsers(sub)  # cdi, tomo
    hide_deprecated(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    runner_args: list[str] = []
    if argv[:1] == ["run"] and "--" in argv:  # `run WF JOB -- --parallel`: the rest goes to the runner
        cut = argv.index("--")
        argv, runner_args = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    args.runner_args = runner_args
    # a step under cwltool/Toil (a new, empty HOME) starts from Matplotlib's font list of earlier steps
    fonts = MatplotlibFontCache.for_step()
    if fonts is not None:
        fonts.seed()
    os.environ.update(gpu_kernel_cache_env())  # nabu's cupy kernels outlive the step's HOME
    try:
        return args.func(args)
    except PanoscError as exc:
        _err(f"{PROG}: error: {exc.one_line()}")
        return exc.exit_code
    except KeyboardInterrupt:
        _err(f"{PROG}: interrupted")
        return 130
    except BrokenPipeError:
        return 1
    finally:
        if fonts is not None:  # a list this step (or its notebook's kernel) had to build: for the next ones
            fonts.keep()


def console() -> None:
    """The ``panosc-cwl`` console script: :func:`main`, then a quick exit.

    Tearing down the interpreter (every module of pyFAI, h5py, SciPy, SQLAlchemy... freed one by
    one) takes 0.1-0.4 s after the work is done, on every step of every workflow. Once ``main``
    has returned, all files are closed and the exit handlers (``atexit``: logging, temporary
    folders, HDF5) have run, the process leaves with ``os._exit`` instead, unless a thread that
    is not a daemon is still running (then the normal exit waits for it).
    """
    code = main()
    import atexit
    import os
    import threading

    if any(t is not threading.main_thread() and t.is_alive() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    code = 0 if code is None else code if isinstance(code, int) else 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the normal exit would fail to write it too
            code = code or 1
    try:  # what C libraries (HDF5, OpenMP) printed through stdio buffers
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
