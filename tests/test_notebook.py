"""Notebooks as CWL steps: parameter parsing and typing, generated tools (valid, in sync, runnable
under cwltool and Toil), failing cells, and the notebook-run helper."""

from __future__ import annotations

import json
import keyword
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from panosc_cwl.notebook import (
    NotebookError,
    check_tools,
    parse_parameters,
    read_spec,
    render_tool,
    run_notebook,
    write_tool,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def _types(source: str) -> dict[str, tuple[str, object]]:
    return {p.name: (p.type.describe(), p.default) for p in parse_parameters(source)}


# ------------------------------------------------------------------ type inference
@pytest.mark.parametrize("source, expected", [
    ("n = 10", {"n": ("int", 10)}),
    ("x = 1.5", {"x": ("float", 1.5)}),
    ("x = -2e-3", {"x": ("float", -0.002)}),
    ("flag = True", {"flag": ("boolean", True)}),
    ("s = 'abc'", {"s": ("string", "abc")}),
    ("big = 3_000_000_000", {"big": ("long", 3_000_000_000)}),
    ("xs = [1, 2, 3]", {"xs": ("int[]", [1, 2, 3])}),
    ("xs = [1, 2.5]", {"xs": ("float[]", [1.0, 2.5])}),
    ("xs = ('a', 'b')", {"xs": ("string[]", ["a", "b"])}),
    ("n: int = 3", {"n": ("int", 3)}),
    ("x: float = 3", {"x": ("float", 3.0)}),
    ("x: float | None = None", {"x": ("float?", None)}),
    ("x: Optional[int] = None", {"x": ("int?", None)}),
    ("x: 'Optional[str]' = 'a'", {"x": ("string?", "a")}),
    ("x: int = None", {"x": ("int?", None)}),
    ("xs: list[float] = []", {"xs": ("float[]", [])}),
    ("xs: List[int] = [1]", {"xs": ("int[]", [1])}),
    ("n: int", {"n": ("int", None)}),
    ("f = 'a.h5'  # type: File", {"f": ("File", None)}),
    ("f = None  # type: File?", {"f": ("File?", None)}),
    ("d = '.'  # type: Directory; where the runs are", {"d": ("Directory", None)}),
    ("fs = []  # type: File[]", {"fs": ("File[]", None)}),
    ("xs = []  # type: list[int]", {"xs": ("int[]", [])}),
    ("m = 'fast'  # choices: fast, slow", {"m": ("enum(fast, slow)", "fast")}),
    ("m = None  # choices: a, b", {"m": ("enum(a, b)?", None)}),
    ("u: Literal['2th_deg', 'q_nm^-1'] = 'q_nm^-1'", {"u": ("enum(2th_deg, q_nm^-1)", "q_nm^-1")}),
    ("import numpy as np\n%matplotlib inline\n'''doc'''\nn = 1\npass", {"n": ("int", 1)}),
    ("a = 1; b = 'x'", {"a": ("int", 1), "b": ("string", "x")}),
    ("xs = [\n  1,\n  2,\n]  # items", {"xs": ("int[]", [1, 2])}),
])
def test_types_inferred(source, expected):
    assert _types(source) == expected


def test_docs_from_trailing_or_preceding_comments():
    params = parse_parameters(
        "# the detector distance\n# in metres\ndist = 0.1\n"
        "n = 3  # number of frames; type: int\n"
        "m = 'a'  # choices: a, b; averaging mode\n"
        "bare = 1\n")
    docs = {p.name: p.doc for p in params}
    assert docs == {"dist": "the detector distance in metres", "n": "number of frames",
                    "m": "averaging mode", "bare": "Notebook parameter `bare`."}


@pytest.mark.parametrize("source, line, words", [
    ("a = 1\nb = np.arange(3)", 2, "not a literal"),
    ("a = 1\n\nb = None", 3, "defaults to None"),
    ("a = []", 1, "empty list"),
    ("a = [1, 'x']", 1, "mixes"),
    ("a = [[1], [2]]", 1, "list items"),
    ("a = {'k': 1}", 1, "not supported"),
    ("a = 1\nfor i in range(3):\n    pass", 2, "only assignments"),
    ("a, b = 1, 2", 1, "'name = value'"),
    ("a = b = 1", 1, "'name = value'"),
    ("a = 1\na = 2", 2, "assigned twice"),
    ("x = 1 +", 1, "syntax error"),
    ("ok = 1\nx = (1,\n", 2, "syntax error"),
    ("n: int = 'three'", 1, "not a int"),
    ("n: dict = {}", 1, "unsupported annotation"),
    ("n = 1.5  # type: int", 1, "not a int"),
    ("m = 'c'  # choices: a, b", 1, "not a enum"),
    ("m = 'a'  # choices: a b, c", 1, "may only hold"),
    ("x = float('nan')", 1, "not a literal"),
    ("x = 1e999", 1, "finite"),
    ("x = 10**30", 1, "not a literal"),
    ("x = 2**70", 1, "not a literal"),
    ("x = 12345678901234567890123", 1, "64 bits"),
    ("notebook = 'x'", 1, "reserved"),
    ("x = b'bytes'", 1, "not supported"),
])
def test_bad_cells_give_one_line_naming_the_line(source, line, words):
    with pytest.raises(NotebookError) as info:
        parse_parameters(source, "nb.ipynb, cell 2")
    text = info.value.one_line()
    assert "\n" not in text
    assert f"nb.ipynb, cell 2, line {line}" in text, text
    assert words in text, text


# ------------------------------------------------------------------ property tests
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: not keyword.iskeyword(n) and n not in ("notebook", "report_name", "executed_notebook", "report"))
WORDS = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters=" ,.()-"),
                max_size=30).map(str.strip)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
INTS = st.integers(-(2 ** 40), 2 ** 40)
SYMBOLS = st.lists(st.from_regex(r"[A-Za-z0-9_]{1,6}", fullmatch=True), min_size=1, max_size=4, unique=True)


@st.composite
def parameter_lines(draw):
    """(source line, expected CWL type as cwltool shows it, expected default) for one parameter."""
    name = draw(NAMES)
    kind = draw(st.sampled_from(["int", "float", "bool", "str", "ints", "floats", "strs", "opt_int", "file",
                                 "files", "dir", "enum", "annot_float", "none_str"]))
    doc = draw(WORDS)
    comment = []
    if kind == "int":
        value = draw(INTS)
        ann, cwl, default = "", "long" if abs(value) >= 2 ** 31 else "int", value
    elif kind == "float":
        value = draw(FLOATS)
        ann, cwl, default = "", "float", value
    elif kind == "bool":
        value = draw(st.booleans())
        ann, cwl, default = "", "boolean", value
    elif kind == "str":
        value = draw(TEXT)
        ann, cwl, default = "", "string", value
    elif kind == "ints":
        value = draw(st.lists(st.integers(-1000, 1000), min_size=1, max_size=4))
        ann, cwl, default = "", {"type": "array", "items": "int"}, value
    elif kind == "floats":
        value = draw(st.lists(FLOATS, min_size=1, max_size=4))
        ann, cwl, default = "", {"type": "array", "items": "float"}, value
    elif kind == "strs":
        value = draw(st.lists(TEXT, min_size=1, max_size=3))
        ann, cwl, default = ": list[str]", {"type": "array", "items": "string"}, value
    elif kind == "opt_int":
        value = draw(st.none() | INTS.filter(lambda v: abs(v) < 2 ** 31))
        ann, cwl, default = ": int | None", ["null", "int"], value
    elif kind == "file":
        value = draw(TEXT)
        ann, cwl, default = "", "File", None
        comment.append("type: File")
    elif kind == "files":
        value = draw(st.lists(TEXT, max_size=2))
        ann, cwl, default = "", {"type": "array", "items": "File"}, None
        comment.append("type: File[]")
    elif kind == "dir":
        value = None
        ann, cwl, default = "", ["null", "Directory"], None
        comment.append("type: Directory?")
    elif kind == "enum":
        symbols = draw(SYMBOLS)
        value = draw(st.sampled_from(symbols))
        ann, cwl, default = "", ("enum", symbols), value
        comment.append("choices: " + ", ".join(symbols))
    elif kind == "annot_float":
        value = draw(st.integers(-100, 100))
        ann, cwl, default = ": float", "float", float(value)
    else:  # none_str
        value = None
        ann, cwl, default = ": str | None", ["null", "string"], None
    if doc:
        comment.append(doc)
    line = f"{name}{ann} = {value!r}" + (f"  # {'; '.join(comment)}" if comment else "")
    return name, line, cwl, default


@pytest.fixture(scope="module")
def cwl_loader():
    import logging

    from cwltool.context import LoadingContext
    from cwltool.load_tool import load_tool
    from cwltool.workflow import default_make_tool

    logging.getLogger("cwltool").setLevel(logging.WARNING)
    return lambda path: load_tool(str(path), LoadingContext({"construct_tool_object": default_make_tool}))


def _short(cwl_type):
    """cwltool's loaded type with ids stripped, comparable with the expectation."""
    if isinstance(cwl_type, list):
        return [_short(t) for t in cwl_type]
    if isinstance(cwl_type, dict):
        if cwl_type.get("type") == "enum":
            return ("enum", [s.rsplit("/", 1)[-1] for s in cwl_type["symbols"]])
        if cwl_type.get("type") == "array":
            return {"type": "array", "items": _short(cwl_type["items"])}
    return cwl_type


def _kind(value):
    """bool, int, float or str (YAML loaders return subclasses), item by item for lists."""
    if isinstance(value, list):
        return [_kind(v) for v in value]
    return next(t.__name__ for t in (bool, int, float, str) if isinstance(value, t))


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(params=st.lists(parameter_lines(), min_size=1, max_size=6, unique_by=lambda p: p[0]))
def test_every_generated_tool_loads_with_the_declared_types(params, cwl_loader, tmp_path_factory):
    folder = tmp_path_factory.mktemp("prop")
    source = "import numpy as np\n" + "\n".join(p[1] for p in params)
    nb_path = folder / "nb" / "prop.ipynb"
    nb_path.parent.mkdir()
    nbformat.write(new_notebook(cells=[new_markdown_cell("# A notebook\nmade by hypothesis"),
                                       new_code_cell(source)], metadata=KERNEL), nb_path)
    tool_path = folder / "cwl" / "nb-prop.cwl"
    tool_path.parent.mkdir()
    write_tool(nb_path, tool_path)
    tool = cwl_loader(tool_path)
    inputs = {i["id"].rsplit("/", 1)[-1]: i for i in tool.tool["inputs"]}
    assert set(inputs) == {p[0] for p in params} | {"notebook", "report_name"}
    for name, _line, cwl, default in params:
        assert _short(inputs[name]["type"]) == cwl, (name, _line)
        if default is None:
            assert inputs[name].get("default") is None
        else:
            assert inputs[name]["default"] == default and _kind(inputs[name]["default"]) == _kind(default), _line
        assert inputs[name]["label"] and inputs[name]["doc"]
    assert inputs["notebook"]["default"]["location"].endswith("/nb/prop.ipynb")


@settings(max_examples=300, deadline=None, database=None)
@given(source=st.lists(st.sampled_from(list("ab=:#;[]()'\",. \n\t1.0e|%!-+*")
                                       + ["None", "True", "File", "type: ", "choices: ", "int", "list"]),
                       max_size=30).map("".join))
def test_no_cell_crashes_the_parser(source):
    try:
        params = parse_parameters(source, "cell 1")
    except NotebookError as exc:
        assert "\n" not in exc.one_line() and exc.one_line().startswith("cell 1")
    else:
        for p in params:
            assert p.type.base in {"int", "long", "float", "boolean", "string", "File", "Directory", "enum"}


# ------------------------------------------------------------------ committed tools
def test_committed_tools_in_sync_and_check_cli():
    results = check_tools(ROOT)
    names = {r.tool.name for r in results}
    assert {"nb-dark-calibration.cwl", "nb-correct.cwl", "nb-powder-report.cwl"} <= names
    assert [r for r in results if r.problem] == []
    proc = subprocess.run([str(BIN / "panosc-cwl"), "notebook-tool", "--check", "--root", str(ROOT)],
                          capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0 and "in sync" in proc.stdout, proc.stderr


def test_check_detects_stale_tool(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "cwl" / "tools").mkdir(parents=True)
    nb_path = tmp_path / "notebooks" / "demo.ipynb"
    nb = new_notebook(cells=[new_code_cell("n = 3  # frames")], metadata=KERNEL)
    nbformat.write(nb, nb_path)
    run = [str(BIN / "panosc-cwl"), "notebook-tool"]
    proc = subprocess.run(run + ["notebooks/demo.ipynb", "-o", "cwl/tools/nb-demo.cwl"], cwd=tmp_path,
                          capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cwl/tools/nb-demo.cwl").is_file()
    ok = subprocess.run(run + ["--check"], cwd=tmp_path, capture_output=True, text=True, env=ENV)
    assert ok.returncode == 0 and "1 generated tools in sync" in ok.stdout
    nb.cells[0].source = "n = 3.5  # frames"  # the parameter changed type: the tool is stale
    nbformat.write(nb, nb_path)
    stale = subprocess.run(run + ["--check"], cwd=tmp_path, capture_output=True, text=True, env=ENV)
    assert stale.returncode == 1
    assert "stale: cwl/tools/nb-demo.cwl" in stale.stderr and "1 of 1" in stale.stderr
    nb_path.unlink()
    gone = subprocess.run(run + ["--check"], cwd=tmp_path, capture_output=True, text=True, env=ENV)
    assert gone.returncode == 1 and "not found" in gone.stderr


def test_cli_bad_cell_is_one_line(tmp_path):
    nb_path = tmp_path / "bad.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# t"), new_code_cell("a = 1\nb = len('x')")],
                                metadata=KERNEL), nb_path)
    proc = subprocess.run([str(BIN / "panosc-cwl"), "notebook-tool", str(nb_path), "-o", str(tmp_path / "t.cwl")],
                          capture_output=True, text=True, env=ENV)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("panosc-cwl: error: bad.ipynb, cell 2, line 2: parameters: value of 'b'")
    other = tmp_path / "mine.cwl"
    other.write_text("hand written\n")
    good = tmp_path / "good.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("a = 1")], metadata=KERNEL), good)
    refused = subprocess.run([str(BIN / "panosc-cwl"), "notebook-tool", str(good), "-o", str(other)],
                             capture_output=True, text=True, env=ENV)
    assert refused.returncode == 2 and "exists" in refused.stderr and other.read_text() == "hand written\n"


# ------------------------------------------------------------------ running generated tools
ECHO_PARAMS = """\
n = 3  # number of things
scale = 0.5  # a factor
verbose = False  # talk more
label = 'x'  # a name
values = [1, 2]  # some numbers
limit: int | None = None  # optional bound
data = 'in.txt'  # type: File; an input file
mode = 'fast'  # choices: fast, slow; how
output = 'received.json'  # where the parameters are echoed
"""
ECHO_BODY = """\
import json
with open(data) as fh:
    content = fh.read()
with open(output, "w") as fh:
    json.dump({"n": n, "scale": scale, "verbose": verbose, "label": label, "values": values, "limit": limit,
               "mode": mode, "content": content, "types": [type(v).__name__ for v in (n, scale, verbose, limit)]}, fh)
print("echoed", n)
"""


@pytest.fixture(scope="module")
def echo_tool(tmp_path_factory):
    """A generated tool in cwl/tools of a scratch project, notebook in notebooks/."""
    base = tmp_path_factory.mktemp("echo")
    (base / "notebooks").mkdir()
    nb = new_notebook(cells=[new_markdown_cell("# Echo parameters\nWrites the parameters it got as JSON."),
                             new_code_cell(ECHO_PARAMS, metadata={"tags": ["parameters"]}),
                             new_code_cell(ECHO_BODY), new_code_cell("assert n != 13, f'unlucky n={n}'")],
                      metadata={**KERNEL, "panosc_cwl": {"outputs": {"received": {"glob": "$(inputs.output)"}}}})
    nbformat.write(nb, base / "notebooks" / "echo.ipynb")
    (base / "cwl" / "tools").mkdir(parents=True)
    tool = write_tool(base / "notebooks" / "echo.ipynb", base / "cwl" / "tools" / "nb-echo.cwl")
    job = base / "job.yml"
    (base / "in.txt").write_text("hello\n")
    job.write_text("n: 7\nscale: 2\nverbose: true\nlabel: 'yes: no'\nvalues: [4, 5, 6]\nlimit: 9\n"
                   "data: {class: File, path: in.txt, format: 'http://edamontology.org/format_2330'}\nmode: slow\n")
    return tool, job


def _check_received(outdir: Path) -> None:
    got = json.loads((outdir / "received.json").read_text())
    assert got == {"n": 7, "scale": 2.0, "verbose": True, "label": "yes: no", "values": [4, 5, 6], "limit": 9,
                   "mode": "slow", "content": "hello\n", "types": ["int", "float", "bool", "int"]}
    executed = nbformat.read(str(outdir / "echo.ipynb"), as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    html = (outdir / "echo.html").read_text()
    assert "<html" in html and "echoed 7" in html


def test_generated_tool_validates_without_warnings(echo_tool):
    proc = subprocess.run([str(BIN / "cwltool"), "--validate", str(echo_tool[0])], capture_output=True, text=True,
                          env=ENV)
    assert proc.returncode == 0 and "is valid CWL" in proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr


def test_generated_tool_runs_under_cwltool_from_another_folder(echo_tool, tmp_path):
    tool, job = echo_tool
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([str(BIN / "cwltool"), "--outdir", "out", str(tool), str(job)], cwd=elsewhere,
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = json.loads(proc.stdout)
    assert set(outputs) == {"executed_notebook", "report", "received"}
    _check_received(elsewhere / "out")


@pytest.mark.toil
def test_generated_tool_runs_under_toil(echo_tool, tmp_path):
    tool, job = echo_tool
    proc = subprocess.run([str(BIN / "toil-cwl-runner"), "--batchSystem", "single_machine", "--jobStore",
                           str(tmp_path / "js"), "--outdir", str(tmp_path / "out"), str(tool), str(job)],
                          cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_received(tmp_path / "out")


def test_failing_cell_fails_the_step_and_shows_cell_and_exception(echo_tool, tmp_path):
    tool, job = echo_tool
    unlucky = tmp_path / "unlucky.yml"
    unlucky.write_text(job.read_text().replace("n: 7", "n: 13").replace("path: in.txt", f"path: {job.parent}/in.txt"))
    proc = subprocess.run([str(BIN / "cwltool"), "--outdir", str(tmp_path / "out"), str(tool), str(unlucky)],
                          cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode != 0
    assert "permanentFail" in proc.stderr
    assert "cell 4 failed" in proc.stderr
    assert "assert n != 13, f'unlucky n={n}'" in proc.stderr  # the cell's source
    assert "AssertionError: unlucky n=13" in proc.stderr  # the exception
    assert "panosc-cwl: error: notebook: cell 4 (In [" in proc.stderr


def test_notebook_run_first_code_cell_convention(tmp_path):
    """No cell tagged: the first code cell holds the parameters, and the values given override it."""
    nb_path = tmp_path / "untagged.ipynb"
    nbformat.write(new_notebook(cells=[new_markdown_cell("# t"), new_code_cell("factor = 2\nname = 'a'"),
                                       new_code_cell("open('out.txt', 'w').write(f'{name}:{factor * 21}')")],
                                metadata=KERNEL), nb_path)
    assert [p.name for p in read_spec(nb_path).parameters] == ["factor", "name"]
    params_file = tmp_path / "p.yaml"
    params_file.write_text("factor: 3\nname: zz\nnotebook: {class: File, path: /x.ipynb}\nreport_name: r\n")
    proc = subprocess.run([str(BIN / "panosc-cwl"), "notebook-run", str(nb_path), "--parameters", str(params_file),
                           "--output", "done.ipynb", "--report", "done.html"], cwd=tmp_path, capture_output=True,
                          text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out.txt").read_text() == "zz:63"
    assert (tmp_path / "done.html").stat().st_size > 1000


def test_run_notebook_library_raises_with_cell(tmp_path):
    from panosc_cwl.notebook import NotebookCellError

    nb_path = tmp_path / "f.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 0", metadata={"tags": ["parameters"]}),
                                       new_code_cell("y = 1 / x")], metadata=KERNEL), nb_path)
    with pytest.raises(NotebookCellError) as info:
        run_notebook(nb_path, {"x": 0}, tmp_path / "o.ipynb", report=tmp_path / "o.html", cwd=tmp_path)
    assert info.value.cell_index == 1 and info.value.source == "y = 1 / x"
    assert info.value.ename == "ZeroDivisionError" and "ZeroDivisionError" in info.value.traceback
    assert (tmp_path / "o.html").is_file()  # the report of the failed run is still written


def test_kernel_ready_without_fixed_wait_keeps_every_output_and_exit_handlers(tmp_path):
    """The kernel is used as soon as it says it is idle (panosc_cwl.kernels): the first cell's
    outputs are all there and none of the kernel's start-up messages leak into them; the kernel is
    still stopped gracefully (its exit handlers run: what a notebook left to them is written)
    before run_notebook returns."""
    from panosc_cwl.kernels import PromptKernelClient, PromptKernelManager

    assert PromptKernelManager().client_factory is PromptKernelClient
    nb_path = tmp_path / "k.ipynb"
    nbformat.write(new_notebook(cells=[
        new_code_cell("n = 3", metadata={"tags": ["parameters"]}),
        new_code_cell("print('first', n)\nimport sys; print('to stderr', file=sys.stderr)\nn * 7"),
        new_code_cell("import atexit, pathlib\n"
                      "atexit.register(lambda: pathlib.Path('at-exit.txt').write_text(f'bye {n}'))")],
        metadata=KERNEL), nb_path)
    res = run_notebook(nb_path, {"n": 5}, tmp_path / "o.ipynb", cwd=tmp_path)
    cells = [c for c in nbformat.read(res.executed, as_version=4).cells if c.cell_type == "code"]
    first = next(c for c in cells if "print('first'" in c.source)
    assert [(o.output_type, o.get("name"), o.get("text", o.get("data", {}).get("text/plain")))
            for o in first.outputs] == [("stream", "stdout", "first 5\n"), ("stream", "stderr", "to stderr\n"),
                                        ("execute_result", None, "35")]
    assert (tmp_path / "at-exit.txt").read_text() == "bye 5"  # graceful shutdown, not a kill


def test_kernel_ready_rule_on_iopub():
    """PromptKernelClient's rule, on the messages a kernel sends after answering kernel_info: ready at
    the idle status answering that request (later messages are left for the cells); a kernel that
    sends other messages but no such status is ready after 0.2 s of silence (jupyter_client's rule);
    a silent IOPub (not subscribed yet) means ask again."""
    import asyncio
    from queue import Empty

    from panosc_cwl.kernels import PromptKernelClient

    def status(state, parent):
        return {"msg_type": "status", "content": {"execution_state": state}, "parent_header": {"msg_id": parent}}

    class Channel:  # what IOPub holds: get_msg pops one, or raises Empty as a quiet channel does
        def __init__(self, msgs):
            self.msgs = list(msgs)

        async def get_msg(self, timeout=None):
            if self.msgs:
                return self.msgs.pop(0)
            raise Empty

    def ready(msgs):
        client = PromptKernelClient()
        client._iopub_channel = Channel(msgs)
        return asyncio.run(client._idle_after("info-1")), client._iopub_channel.msgs

    later = {"msg_type": "stream", "content": {"text": "x"}, "parent_header": {"msg_id": "cell-1"}}
    assert ready([status("starting", None), status("busy", "info-1"), status("idle", "info-1"), later]) == (True, [later])
    assert ready([status("busy", "info-0"), status("idle", "info-0")]) == (True, [])
    assert ready([]) == (False, [])


def test_powder_report_tool_text_matches_notebook():
    """The committed tool is exactly what the generator gives (also checked by --check in CI)."""
    tool = ROOT / "cwl/tools/nb-powder-report.cwl"
    assert render_tool(read_spec(ROOT / "notebooks/powder-report.ipynb"), tool) == tool.read_text()
    assert shutil.which("panosc-cwl", path=ENV["PATH"])


def test_powder_report_tool_finds_calibrant_peaks(tmp_path):
    """The committed powder-report tool under cwltool: every CeO2 reflection in range found where pyFAI puts it."""
    from panosc_cwl.simulate import PowderSimulation, simulate_powder

    sim = simulate_powder(tmp_path / "data", PowderSimulation(calibrant="CeO2", n_frames=2, seed=1), edf_frames=0,
                          tiff_frames=0)
    cli = str(BIN / "panosc-cwl")
    for argv in ([cli, "powder", "integrate1d", "-q", "--frames", str(sim.stack), "--dataset", sim.dataset, "--poni",
                  str(sim.poni), "--npt", "2000", "-o", str(tmp_path / "int.nxs")],
                 [cli, "powder", "reduce", str(tmp_path / "int.nxs"), "-o", str(tmp_path / "red.nxs")]):
        proc = subprocess.run(argv, capture_output=True, text=True, env=ENV)
        assert proc.returncode == 0, proc.stderr
    job = tmp_path / "job.yml"  # the input declares EDAM HDF5, so the File states it (cwltool checks)
    job.write_text(f"reduced: {{class: File, path: {tmp_path / 'red.nxs'}, format: 'http://edamontology.org/format_3590'}}\n"
                   "calibrant: CeO2\n")
    proc = subprocess.run([str(BIN / "cwltool"), "--quiet", "--outdir", str(tmp_path / "out"),
                           str(ROOT / "cwl/tools/nb-powder-report.cwl"), str(job)],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split(",") for line in (tmp_path / "out/peaks.csv").read_text().splitlines()[1:]]
    expected = [t for t in sim.truth["two_theta_deg"] if 1 < t < 50]
    assert len(rows) >= 8
    for _, exp, found, diff, _height in rows:
        assert any(abs(float(exp) - t) < 1e-6 for t in expected)
        assert abs(float(found) - float(exp)) < 0.01 and abs(float(diff)) < 0.01  # bins are 0.025 deg
    html = (tmp_path / "out/powder-report.html").read_text()
    assert "data:image/png;base64" in html and "expected reflections found" in html


# ------------------------------------------------------------------ a user's own notebook (issue 18)
USER_PARAMS = """\
input_file = "x.h5"  # numbers to scale
label = "x.h5"  # type: string; kept a string by the comment
scale = 2.0  # factor
out_csv = "sums.csv"  # where the scaled numbers go
"""
USER_BODY = """\
import h5py, numpy as np, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
with h5py.File(input_file) as f:
    d = f["data"][()] * scale
np.savetxt(out_csv, d, delimiter=",")
plt.plot(d)
plt.savefig("plot.png")
print("total", d.sum())
"""


def _user_notebook(folder: Path, metadata=None) -> Path:
    import h5py
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=[new_markdown_cell("# Scale numbers\nReads, scales, plots."),
                             new_code_cell(USER_PARAMS, metadata={"tags": ["parameters"]}),
                             new_code_cell(USER_BODY)], metadata=KERNEL if metadata is None else metadata)
    nbformat.write(nb, folder / "scale.ipynb")
    with h5py.File(folder / "x.h5", "w") as f:
        f["data"] = np.arange(5.0)
    return folder / "scale.ipynb"


def test_user_notebook_becomes_a_file_tool_beside_it_and_runs(tmp_path):
    from ruamel.yaml import YAML

    nb_path = _user_notebook(tmp_path / "mine")
    tool_cmd = [str(BIN / "panosc-cwl"), "notebook-tool", str(nb_path)]
    first = subprocess.run(tool_cmd, capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    tool = tmp_path / "mine" / "nb-scale.cwl"  # beside the notebook, not in some cwl/tools/
    assert first.stdout.strip() == str(tool) and tool.is_file()
    notices = first.stderr.strip().splitlines()
    assert any("'input_file' = 'x.h5' becomes a File input" in n and "# type: string" in n for n in notices)
    assert any("no author and licence" in n and "--author" in n for n in notices)
    assert any("writes 'plot.png', which no output collects" in n for n in notices)
    assert any("writes 'sums.csv', which no output collects" in n for n in notices)
    assert not any("'label'" in n or "'out_csv'" in n for n in notices)
    text = YAML(typ="safe").load(tool.read_text())
    assert "s:author" not in text and "s:license" not in text  # nobody's name stamped on someone else's work
    assert text["inputs"]["input_file"]["type"] == "File"
    assert text["inputs"]["label"]["type"] == "string" and text["inputs"]["out_csv"]["type"] == "string"

    second = subprocess.run(tool_cmd + ["--author", "Ada Lovelace", "--license", "CC-BY-4.0",
                                        "--output", "plot=*.png", "--output", "table=sums.csv"],
                            capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "no output collects" not in second.stderr and "no author" not in second.stderr
    text = YAML(typ="safe").load(tool.read_text())
    assert text["s:author"] == [{"s:name": "Ada Lovelace"}]
    assert text["s:license"] == "https://spdx.org/licenses/CC-BY-4.0"
    assert text["outputs"]["plot"]["type"] == "File[]" and text["outputs"]["plot"]["format"] == "edam:format_3603"
    assert text["outputs"]["table"]["type"] == "File" and text["outputs"]["table"]["format"] == "edam:format_3752"

    job = tmp_path / "job.yml"
    job.write_text(f"input_file: {{class: File, path: {tmp_path / 'mine' / 'x.h5'}}}\nscale: 3\n")
    run = subprocess.run([str(BIN / "panosc-cwl"), "run", str(tool), str(job), "--outdir", str(tmp_path / "out")],
                         capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "no NeXus output" not in run.stderr and "provenance:" in run.stderr
    out = tmp_path / "out"
    assert [float(v) for v in (out / "sums.csv").read_text().split()] == [0.0, 3.0, 6.0, 9.0, 12.0]
    assert (out / "plot.png").read_bytes()[:4] == b"\x89PNG"
    assert {str(out / "sums.csv"), str(out / "plot.png")} <= set(run.stdout.split())
    html = (out / "scale.html").read_text()
    assert "total 30.0" in html  # results are there ...
    assert "savefig" not in html and "h5py.File" not in html  # ... the code is not
    assert "Parameters of this run" in html and "<td><code>input_file</code></td>" in html
    assert re.search(r"<td><code>scale</code></td>\s*<td>3.0</td>", html)
    assert "/stg" not in html and "injected" not in html.lower()  # no staging paths, no injected cell


def test_report_with_code_keeps_the_code(tmp_path):
    from panosc_cwl.notebook import run_notebook

    nb_path = _user_notebook(tmp_path)
    run_notebook(nb_path, {"input_file": str(tmp_path / "x.h5")}, tmp_path / "o.ipynb", report=tmp_path / "o.html",
                 cwd=tmp_path, report_with_code=True)
    html = (tmp_path / "o.html").read_text()
    assert "savefig" in html and "Parameters of this run" in html


def test_notebook_without_kernelspec_is_refused(tmp_path):
    nb_path = _user_notebook(tmp_path, metadata={})
    proc = subprocess.run([str(BIN / "panosc-cwl"), "notebook-tool", str(nb_path)], capture_output=True,
                          text=True, env=ENV)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("panosc-cwl: error: kernelspec: scale.ipynb has no kernelspec")
    assert not (tmp_path / "nb-scale.cwl").exists()
    nb = nbformat.read(str(nb_path), as_version=4)
    nb.metadata["kernelspec"] = {"name": "no-such-kernel", "display_name": "x", "language": "python"}
    nbformat.write(nb, nb_path)
    proc = subprocess.run([str(BIN / "panosc-cwl"), "notebook-tool", str(nb_path)], capture_output=True,
                          text=True, env=ENV)
    assert proc.returncode == 2 and "'no-such-kernel', which is not installed" in proc.stderr
    assert "python3" in proc.stderr


def test_metadata_authors_and_check_replays_options(tmp_path):
    from ruamel.yaml import YAML

    meta = {**KERNEL, "authors": [{"name": "Grace Hopper"}], "panosc_cwl": {"license": "BSD-3-Clause"}}
    nb_path = _user_notebook(tmp_path / "notebooks", metadata=meta)
    (tmp_path / "cwl" / "tools").mkdir(parents=True)
    proc = subprocess.run([str(BIN / "panosc-cwl"), "notebook-tool", str(nb_path), "-o", "cwl/tools/nb-scale.cwl",
                           "--output", "plot=plot.png", "--report-with-code"],
                          capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    tool = tmp_path / "cwl" / "tools" / "nb-scale.cwl"
    text = YAML(typ="safe").load(tool.read_text())
    assert text["s:author"] == [{"s:name": "Grace Hopper"}]
    assert text["s:license"] == "https://spdx.org/licenses/BSD-3-Clause"
    assert "--report-with-code" in text["arguments"] and text["outputs"]["plot"]["type"] == "File"
    check = subprocess.run([str(BIN / "panosc-cwl"), "notebook-tool", "--check"], capture_output=True, text=True,
                           env=ENV, cwd=tmp_path)
    assert check.returncode == 0 and "1 generated tools in sync" in check.stdout, check.stderr


def test_job_directives_are_not_notebook_parameters():
    """cwltool passes a job's ``$namespaces`` (format CURIEs) through ``$(inputs)``: not a parameter."""
    from panosc_cwl.notebook import cwl_inputs_to_parameters

    inputs = {"$namespaces": {"edam": "http://edamontology.org/"}, "notebook": {"class": "File", "path": "/n.ipynb"},
              "darks": {"class": "File", "path": "/d/darks.h5", "format": "http://edamontology.org/format_3590"},
              "offset_sigma": 5.0}
    assert cwl_inputs_to_parameters(inputs) == {"darks": "/d/darks.h5", "offset_sigma": 5.0}
