"""``notebook-tool``, ``notebook-run``: parameterised notebooks (papermill) as CWL steps."""

from __future__ import annotations

from pathlib import Path

from .common import PROG, _err

# ---------------------------------------------------------------- notebooks (papermill)
def cmd_notebook_tool(args) -> int:
    from ..exceptions import InputError
    from ..notebook import check_tools, default_tool_path, write_tool

    if args.check:
        results = check_tools(args.root)
        stale = [r for r in results if r.problem]
        for r in stale:
            _err(f"stale: {r.tool}: {r.problem} (regenerate: panosc-cwl notebook-tool {r.notebook} -o {r.tool})")
        if stale:
            _err(f"{PROG}: error: notebook-tool: {len(stale)} of {len(results)} generated tools out of sync")
            return 1
        print(f"{len(results)} generated tools in sync with their notebooks")
        return 0
    if not args.notebook:
        raise InputError("give a notebook, or --check", field="notebook")
    out = Path(args.output) if args.output else default_tool_path(args.notebook, args.root)
    print(write_tool(args.notebook, out, overwrite=args.overwrite))
    return 0


def cmd_notebook_run(args) -> int:
    from ..notebook import NotebookCellError, load_parameters_file, run_notebook

    params = load_parameters_file(args.parameters) if args.parameters else {}
    try:
        res = run_notebook(args.notebook, params, args.output, report=args.report)
    except NotebookCellError as exc:
        bar = "-" * 72
        _err(f"{bar}\nnotebook {args.notebook}: cell {exc.cell_index + 1} failed:\n{bar}")
        _err(exc.source.rstrip())
        _err(bar)
        _err(exc.traceback.rstrip() or f"{exc.ename}: {exc.evalue}")
        _err(bar)
        raise
    _err(f"notebook {args.notebook} ran in {res.seconds:.1f} s")
    print(res.executed)
    if res.report:
        print(res.report)
    return 0



def add_parsers(sub) -> None:
    p = sub.add_parser("notebook-tool", help="generate the CWL tool of a parameterised notebook (papermill)")
    p.add_argument("notebook", nargs="?", help="the .ipynb file")
    p.add_argument("-o", "--output", help="CWL file to write (default: cwl/tools/nb-NAME.cwl under --root)")
    p.add_argument("--check", action="store_true",
                   help="verify every generated tool in cwl/tools is in sync with its notebook")
    p.add_argument("--root", default=".", help="project folder holding cwl/tools (default .)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file that is not a generated tool")
    p.set_defaults(func=cmd_notebook_tool)

    p = sub.add_parser("notebook-run", help="run a notebook with papermill and render its HTML report")
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument("--parameters", help="YAML/JSON file of parameters (CWL File objects become paths)")
    p.add_argument("--output", required=True, help="executed notebook to write")
    p.add_argument("--report", help="HTML report to write (nbconvert)")
    p.set_defaults(func=cmd_notebook_run)
