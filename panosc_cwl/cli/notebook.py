"""``notebook-tool``, ``notebook-run``: parameterised notebooks (papermill) as CWL steps."""

from __future__ import annotations

from pathlib import Path

from .common import PROG, _err, command

# ---------------------------------------------------------------- notebooks (papermill)
def cmd_notebook_tool(args) -> int:
    from ..exceptions import InputError
    import shlex

    from ..notebook import check_tools, default_tool_path, generation_options, read_spec, write_tool

    if args.check:
        results = check_tools(args.root)
        stale = [r for r in results if r.problem]
        for r in stale:
            opts = "".join(f" {shlex.quote(o)}" for o in generation_options(r.tool))
            _err(f"stale: {r.tool}: {r.problem} (regenerate: panosc-cwl notebook-tool {r.notebook} -o {r.tool}{opts})")
        if stale:
            _err(f"{PROG}: error: notebook-tool: {len(stale)} of {len(results)} generated tools out of sync")
            return 1
        print(f"{len(results)} generated tools in sync with their notebooks")
        return 0
    if not args.notebook:
        raise InputError("give a notebook, or --check", field="notebook")
    for value in list(args.collect or []):
        if "=" not in value and value.endswith(".cwl"):  # before issue 18, --output named the tool file
            _err(f"{PROG}: warning: notebook-tool --output FILE.cwl is deprecated, use -o/--tool FILE.cwl "
                 "(--output NAME=GLOB collects files the notebook writes)")
            args.collect.remove(value)
            args.tool_path = value
    spec = read_spec(args.notebook, authors=args.author, license=args.license, outputs=args.collect,
                     report_with_code=args.report_with_code, check_kernel=True)
    for notice in spec.notices:
        _err(f"{PROG}: notebook-tool: {notice}")
    out = Path(args.tool_path) if args.tool_path else default_tool_path(args.notebook)
    print(write_tool(args.notebook, out, overwrite=args.overwrite, spec=spec))
    return 0


def cmd_notebook_run(args) -> int:
    from ..notebook import NotebookCellError, load_parameters_file, run_notebook

    params = load_parameters_file(args.parameters) if args.parameters else {}
    try:
        res = run_notebook(args.notebook, params, args.output, report=args.report,
                           report_with_code=args.report_with_code)
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
    p = command(sub, "notebook-tool", "generate the CWL tool of a parameterised notebook (papermill)",
                ["panosc-cwl notebook-tool my-analysis.ipynb --author 'Ada Lovelace' --license CC-BY-4.0 "
                 "--output plot='*.png'",
                 "panosc-cwl notebook-tool notebooks/dark-calibration.ipynb -o cwl/tools/nb-dark-calibration.cwl",
                 "panosc-cwl notebook-tool --check"],
                description="Generate the CWL tool of a parameterised notebook (papermill runs it).\n\n"
                "Parameters: the cell tagged 'parameters' (else the first code cell). An untyped string whose "
                "name ends in _file/_path, or whose value names an existing file beside the notebook, becomes a "
                "File input ('# type: string' keeps a string). Authors and licence come from the notebook "
                "metadata (\"authors\": [{\"name\": ...}], \"panosc_cwl\": {\"license\": \"MIT\"}) or the "
                "options; files the notebook writes are collected with --output NAME=GLOB.")
    p.add_argument("notebook", nargs="?", help="the .ipynb file")
    p.add_argument("-o", "--tool", dest="tool_path", metavar="FILE.cwl",
                   help="CWL file to write (default: nb-NAME.cwl beside the notebook)")
    p.add_argument("--author", action="append", help="s:author of the tool (repeatable; default: notebook metadata)")
    p.add_argument("--license", help="SPDX licence id or URL (default: notebook metadata panosc_cwl.license)")
    p.add_argument("--output", dest="collect", metavar="NAME=GLOB", action="append",
                   help="a file (or files, with * ? [) the notebook writes, as tool output NAME; repeatable. "
                   "The EDAM format follows the extension (.png, .csv, .h5...)")
    p.add_argument("--report-with-code", action="store_true",
                   help="the HTML report keeps the code cells (default: results and text only)")
    p.add_argument("--check", action="store_true",
                   help="verify every generated tool in ROOT/cwl/tools is in sync with its notebook")
    p.add_argument("--root", default=".", help="project folder holding cwl/tools, for --check (default .)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file that is not a generated tool")
    p.set_defaults(func=cmd_notebook_tool)

    p = command(sub, "notebook-run", "run a notebook with papermill and render its HTML report",
                "panosc-cwl notebook-run notebooks/powder-report.ipynb --parameters params.yml "
                "--output report.ipynb --report report.html")
    p.add_argument("notebook", help="the .ipynb file")
    p.add_argument("--parameters", help="YAML/JSON file of parameters (CWL File objects become paths)")
    p.add_argument("--output", required=True, help="executed notebook to write")
    p.add_argument("--report", help="HTML report to write (nbconvert): parameters table, text and results")
    p.add_argument("--report-with-code", action="store_true", help="keep the code cells in the HTML report")
    p.set_defaults(func=cmd_notebook_run)
