"""Pre-flight validation of a job file against a CWL tool or workflow, before anything is submitted.

A runner type-checks a job only when it starts it, and finds a missing file or a wrong HDF5
dataset path only when the step that reads it runs - possibly an hour into a queue. This module
does those checks up front, in well under a second, and reports *all* problems at once, each as
``job.yml:line:column: field: message`` (positions come from ruamel.yaml's round-trip loader).

The process is loaded with cwl-utils (schema-salad), so an invalid CWL document is reported too.
Checks beyond the CWL types:

* every File/Directory (and secondary file) exists, is of the right kind and readable; relative
  paths are relative to the job file, as CWL says; file names cwltool's strict path check refuses;
* HDF5 inputs open, every file they link to (external links, virtual-dataset sources) exists and
  is carried as a ``secondaryFiles`` entry (else a warning), and the dataset path given in the job
  (or, without one, the frames found in an NXmx/Bliss file) exists there with frames of a plausible
  shape (2D frame or 3D stack) and a numeric dtype. Convention: a string input named
  ``<file input>_dataset`` names the dataset inside that File input; a string input named just
  ``dataset`` belongs to the first File/File[] input of the process (``frames`` in our tools);
* enum values are legal (with a "did you mean");
* numbers lie in declared ranges. Convention: an input declares its range with the schema.org
  extension fields ``s:minValue`` / ``s:maxValue`` (inclusive). In a workflow, the ranges of the
  tool inputs a workflow input feeds apply to the workflow input too;
* optionally, file inputs lie under a facility's allowed roots (:func:`outside_roots`).

Unknown keys in the job are warnings (runners ignore them, which usually hides a typo).
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from .exceptions import InputError
from .yaml_positions import yaml_position
from .provenance._util import short_id as _short

MIN_KEY = "https://schema.org/minValue"
MAX_KEY = "https://schema.org/maxValue"
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
_PLAIN_NAME = re.compile(r"^[\w.+,\-:@]+$")


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class Issue:
    """One problem, at a position of a file (1-based line and column)."""

    file: str
    line: int
    column: int
    field: str
    message: str
    severity: str = "error"

    def one_line(self) -> str:
        msg = self.message if self.severity == "error" else f"{self.severity}: {self.message}"
        text = f"{self.file}:{self.line}:{self.column}: {self.field}: {msg}"
        return " ".join(text.split())


@dataclass
class Report:
    """What :func:`validate_job` found; ``errors`` empty means the job can be submitted."""

    process: str
    job: str
    issues: list[Issue] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def notes(self) -> list[Issue]:
        """What pre-flight filled in for the runner (a File's format taken from its content)."""
        return [i for i in self.issues if i.severity == "note"]

    @property
    def ok(self) -> bool:
        return not self.errors


class ValidationError(InputError):
    """A job failed validation; :attr:`issues` holds every problem (the message only counts them)."""

    def __init__(self, report: Report):
        self.report = report
        n = len(report.errors)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in {report.job}; nothing was submitted",
                         field="validate")


# ------------------------------------------------------------------ the process
@dataclass
class InputSpec:
    """One input of the process as the checks need it."""

    name: str
    type: Any
    default: Any
    label: str
    min: float | None = None
    max: float | None = None
    formats: tuple[str, ...] = ()  # EDAM IRIs a File must state (CWL ``format``), empty: any


@dataclass
class ProcessInfo:
    path: Path
    doc: Any  # the cwl-utils object
    inputs: dict[str, InputSpec]
    first_file_input: str | None


_CACHE: dict[tuple[str, int], ProcessInfo] = {}


def _fast_yaml():
    """ruamel's C (libyaml) safe loader, timestamps left as text as cwl-utils' own loader does.

    About 7x faster than the pure-Python round-trip loader cwl-utils uses (0.08 s against 0.5 s for
    our CWL files); it gives the same data, but no line numbers, and refuses some plain scalars the
    round-trip loader takes (``{format: edam:format_3590}``): then the slow path runs."""
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor

    class _NoTimestamps(SafeConstructor):
        pass

    _NoTimestamps.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
    y = YAML(typ="safe", pure=False)
    y.Constructor = _NoTimestamps
    return y


def _load_doc(uri: str):
    """The cwl-utils object of the CWL document at ``uri``.

    Fast path: parse the YAML with the C loader and hand the data to cwl-utils (the same objects).
    Any failure there (YAML the C loader refuses, an invalid document) takes cwl-utils' own path,
    whose errors carry the line and column the user needs."""
    from cwl_utils.parser import LoadingOptions, load_document_by_uri, load_document_by_yaml

    path = Path(unquote(urlparse(uri).path))
    try:
        data = _fast_yaml().load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and not urlparse(uri).fragment:
            real = path.resolve()
            opts = LoadingOptions(fileuri=real.as_uri(), baseuri=real.parent.as_uri())
            return load_document_by_yaml(data, real.as_uri(), opts)
    except Exception:  # noqa: BLE001 - the slow path below reports it with positions
        pass
    return load_document_by_uri(uri)


def _ranges(inp) -> tuple[float | None, float | None]:
    ext = getattr(inp, "extension_fields", None) or {}
    return ext.get(MIN_KEY), ext.get(MAX_KEY)


def _is_file_type(t: Any) -> bool:
    if isinstance(t, str):
        return t in ("File", "Directory") or t.endswith("#File")
    if isinstance(t, list):
        return any(_is_file_type(x) for x in t)
    items = getattr(t, "items", None)
    return items is not None and _is_file_type(items)


_SALAD_POS = re.compile(r"^(\S+?:\d+:\d+):\s*(.*)$")


def _salad_summary(text: str) -> tuple[str | None, str]:
    """The innermost position and the leaf messages (``* ...``) of a schema-salad error, on one line."""
    where, first, last, leaves = None, None, None, []
    for raw in text.splitlines():
        m = _SALAD_POS.match(raw)
        pos, rest = (m.group(1), m.group(2)) if m else (None, raw.strip())
        if pos and first is None:
            first = pos
        last = pos or last
        if rest.startswith("* "):
            leaves.append(rest[2:])
            where = where or last
        elif leaves and not m and rest:
            leaves[-1] += " " + rest
    msg = "; ".join(leaves) if leaves else " ".join(text.split())
    msg = " ".join(msg.split())
    return where or first, msg if len(msg) <= 300 else msg[:297] + "..."


def load_process(path: str | os.PathLike) -> ProcessInfo:
    """Load (and cache) a CWL tool or workflow with cwl-utils; raise InputError if it is invalid."""
    p = Path(path).resolve()
    if not p.is_file():
        raise InputError(f"CWL file not found: {path}", field="workflow")
    key = (str(p), p.stat().st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    try:
        doc = _load_doc(p.as_uri())
    except Exception as exc:  # schema-salad raises several types; the message carries positions
        where, what = _salad_summary(str(exc))
        raise InputError(f"invalid CWL: {what}", field="workflow", location=where or str(path)) from None
    if isinstance(doc, list):
        raise InputError("packed CWL with several processes: give one with #id", field="workflow")
    inputs: dict[str, InputSpec] = {}
    first_file = None
    for inp in doc.inputs or []:
        name = _short(inp.id)
        lo, hi = _ranges(inp)
        fmt = getattr(inp, "format", None)
        formats = tuple(str(f) for f in (fmt if isinstance(fmt, list) else [fmt]) if f)
        inputs[name] = InputSpec(name, inp.type_, inp.default, inp.label or name, lo, hi, formats)
        if first_file is None and _is_file_type(inp.type_):
            first_file = name
    if getattr(doc, "class_", "") == "Workflow":
        _merge_step_ranges(doc, inputs)
    info = ProcessInfo(p, doc, inputs, first_file)
    _CACHE[key] = info
    return info


def _step_tool(step):
    run = step.run
    if isinstance(run, str):
        try:
            return load_process(urlparse(run).path if run.startswith("file:") else run).doc
        except InputError:
            return None
    return run


def _merge_step_ranges(wf, inputs: dict[str, InputSpec]) -> None:
    """A workflow input takes the declared ranges of every tool input it feeds."""
    for step in wf.steps or []:
        tool = _step_tool(step)
        if tool is None:
            continue
        tool_inputs = {_short(i.id): i for i in tool.inputs or []}
        for sin in step.in_ or []:
            sources = sin.source if isinstance(sin.source, list) else [sin.source] if sin.source else []
            target = tool_inputs.get(_short(sin.id))
            if target is None:
                continue
            lo, hi = _ranges(target)
            for src in sources:
                spec = inputs.get(_short(src))
                if spec is None or "/" in src.rsplit("#", 1)[-1].split("/", 1)[-1]:
                    continue  # another step's output, not a workflow input
                if lo is not None:
                    spec.min = lo if spec.min is None else max(spec.min, lo)
                if hi is not None:
                    spec.max = hi if spec.max is None else min(spec.max, hi)


def _formats_of(param) -> list[str]:
    fmt = getattr(param, "format", None)
    return [str(f) for f in (fmt if isinstance(fmt, list) else [fmt]) if f]


def _cwl_position(path: Path, keys: Sequence[str]) -> tuple[int, int]:
    """Line and column of ``keys`` (steps, name, in, input) in a CWL file, (1, 1) if not found."""
    from ruamel.yaml import YAML

    try:
        node = YAML(typ="rt").load(path.read_text())
        pos = (1, 1)
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                break
            pos, node = yaml_position(node, key, default=pos), node[key]
        return pos
    except Exception:
        return (1, 1)


def wiring_issues(info: ProcessInfo) -> list[Issue]:
    """Steps of a workflow fed a File whose declared format their input does not take.

    cwltool checks formats only when it binds a step's inputs, i.e. after the steps upstream have
    run (``cwltool --validate`` does not look), so a wrongly wired workflow fails halfway through.
    This is the same check (EDAM subclasses count, :func:`edam.accepts`) on the declared formats,
    before anything runs. Sources without a declared format are left to cwltool."""
    from . import edam

    doc = info.doc
    if getattr(doc, "class_", "") != "Workflow":
        return []
    given = {str(i.id): _formats_of(i) for i in doc.inputs or []}
    tools = {}
    for step in doc.steps or []:
        tool = tools[str(step.id)] = _step_tool(step)
        if tool is None:
            continue
        outs = {_short(o.id): _formats_of(o) for o in tool.outputs or []}
        for o in step.out or []:
            oid = str(o if isinstance(o, str) else o.id)
            given[oid] = outs.get(_short(oid), [])
    issues = []
    for step in doc.steps or []:
        tool = tools[str(step.id)]
        if tool is None:
            continue
        targets = {_short(i.id): _formats_of(i) for i in tool.inputs or []}
        sname = str(step.id).rsplit("/", 1)[-1].rsplit("#", 1)[-1]
        for sin in step.in_ or []:
            iname = _short(sin.id)
            want = targets.get(iname)
            sources = sin.source if isinstance(sin.source, list) else [sin.source] if sin.source else []
            for src in sources if want else []:
                bad = [g for g in given.get(str(src), [])
                       if not (edam.accepts(want, edam.term_of(g)) if g.startswith(edam.EDAM) and edam.term_of(g) else g in want)]
                if bad:
                    frag = str(src).rsplit("#", 1)[-1].split("/")
                    shown = "/".join(frag[-2:]) if len(frag) > 1 and str(src) not in [str(i.id) for i in doc.inputs or []] else frag[-1]
                    line, col = _cwl_position(info.path, ["steps", sname, "in", iname])
                    issues.append(Issue(str(info.path), line, col, f"{sname}.{iname}",
                                        f"{shown} gives {edam.describe(bad)}; this input takes {edam.describe(want)} "
                                        "(cwltool would stop the run at this step)"))
    return issues


# ------------------------------------------------------------------ the job file
def _pos_from_offset(text: bytes, offset: int) -> tuple[int, int]:
    before = text[:offset]
    line = before.count(b"\n") + 1
    col = offset - (before.rfind(b"\n") + 1) + 1
    return line, col


def load_job(path: str | os.PathLike, label: str) -> tuple[Any, list[Issue]]:
    """Read a YAML/JSON job keeping positions; problems come back as issues, never as exceptions."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return None, [Issue(label, 1, 1, "job", f"job file not found: {path}")]
    except IsADirectoryError:
        return None, [Issue(label, 1, 1, "job", f"job file is a folder: {path}")]
    except OSError as exc:
        return None, [Issue(label, 1, 1, "job", f"cannot read job file: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _pos_from_offset(raw, exc.start)
        return None, [Issue(label, line, col, "job", f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the job as UTF-8")]
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(str(exc.problem or exc.context or "syntax error").split())
        if exc.problem and exc.context and exc.context_mark and exc.context_mark is not mark:
            what += f" ({exc.context} at line {exc.context_mark.line + 1})"
        return None, [Issue(label, line, col, "job", f"malformed YAML: {what}")]
    except YAMLError as exc:
        return None, [Issue(label, 1, 1, "job", f"malformed YAML: {' '.join(str(exc).split())}")]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return None, [Issue(label, 1, 1, "job", f"a job is a mapping of input names to values, not a {_kind(data)}")]
    return data, []


# ------------------------------------------------------------------ checking values
def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        cls = v.get("class")
        return str(cls) if cls in ("File", "Directory") else "mapping"
    if isinstance(v, list):
        return "list"
    return type(v).__name__


def _show(v: Any) -> str:
    if isinstance(v, str):
        return repr(v) if len(v) < 60 else repr(v[:57] + "...")
    if isinstance(v, (dict, list)):
        return ""
    return repr(v)


def _type_name(t: Any) -> str:
    if isinstance(t, str):
        return _short(t)
    if isinstance(t, list):
        names = [_type_name(x) for x in t if x != "null"]
        return " or ".join(names) + (" (optional)" if "null" in t else "")
    if hasattr(t, "symbols"):
        return "enum"
    if hasattr(t, "items") and not isinstance(t, dict):
        return f"array of {_type_name(t.items)}"
    if hasattr(t, "fields"):
        return "record"
    return "value"


def _symbols(t) -> list[str]:
    prefix = (t.name or "") + "/"
    out = []
    for s in t.symbols:
        s = s[len(prefix):] if t.name and s.startswith(prefix) else s.rsplit("/", 1)[-1]
        out.append(s)
    return out


class _Checker:
    """Walks the job values with their CWL types, collecting issues with positions."""

    def __init__(self, label: str, base: Path, roots: Sequence[Path] | None, relax_paths: bool,
                 namespaces: dict | None = None):
        self.label, self.base, self.roots, self.relax_paths = label, base, roots, relax_paths
        self.namespaces = dict(namespaces or {})  # the job's $namespaces (format CURIEs)
        self.inferred: dict[str, list[str]] = {}  # top input -> formats taken from content (labels)
        self.issues: list[Issue] = []
        self.files: dict[str, list[tuple[Path, tuple[int, int], str]]] = {}  # top input -> (file, pos, field)

    def add(self, pos: tuple[int, int], fld: str, msg: str, severity: str = "error") -> None:
        self.issues.append(Issue(self.label, pos[0], pos[1], fld, msg, severity))

    # -- structural test used to pick a branch of a union, no issues recorded
    def conforms(self, v: Any, t: Any) -> bool:
        if isinstance(t, list):
            return any(self.conforms(v, x) for x in t)
        if isinstance(t, str):
            n = _short(t)
            return {
                "null": v is None,
                "boolean": isinstance(v, bool),
                "int": isinstance(v, int) and not isinstance(v, bool),
                "long": isinstance(v, int) and not isinstance(v, bool),
                "float": isinstance(v, (int, float)) and not isinstance(v, bool),
                "double": isinstance(v, (int, float)) and not isinstance(v, bool),
                "string": isinstance(v, str),
                "File": isinstance(v, dict) and v.get("class") == "File",
                "Directory": isinstance(v, dict) and v.get("class") == "Directory",
                "Any": v is not None,
            }.get(n, True)
        if hasattr(t, "symbols"):
            return isinstance(v, str) and v in _symbols(t)
        if hasattr(t, "items"):
            return isinstance(v, list) and all(self.conforms(x, t.items) for x in v)
        if hasattr(t, "fields"):
            return isinstance(v, dict)
        return True

    def check(self, v: Any, t: Any, fld: str, pos: tuple[int, int], spec: InputSpec, top: str) -> None:
        if isinstance(t, list):
            branches = [x for x in t if x != "null"]
            if v is None and len(branches) < len(t):
                return
            for b in branches:
                if self.conforms(v, b):
                    return self.check(v, b, fld, pos, spec, top)
            if len(branches) == 1:
                return self.check(v, branches[0], fld, pos, spec, top)
            return self.add(pos, fld, f"expected {_type_name(t)}, got {_kind(v)} {_show(v)}")
        if isinstance(t, str):
            return self._check_named(v, _short(t), fld, pos, spec, top)
        if hasattr(t, "symbols"):
            return self._check_enum(v, _symbols(t), fld, pos)
        if hasattr(t, "items"):
            if not isinstance(v, list):
                return self.add(pos, fld, f"expected {_type_name(t)} (a YAML list), got {_kind(v)} {_show(v)}")
            for i, item in enumerate(v):
                self.check(item, t.items, f"{fld}[{i}]", yaml_position(v, i, default=pos), spec, top)
            return None
        if hasattr(t, "fields"):
            if not isinstance(v, dict):
                return self.add(pos, fld, f"expected a record (mapping), got {_kind(v)} {_show(v)}")
            for f in t.fields or []:
                fname = _short(f.name)
                self.check(v.get(fname), f.type_, f"{fld}.{fname}", yaml_position(v, fname, value=True, default=pos),
                           spec, top)
        return None

    def _check_named(self, v, n, fld, pos, spec: InputSpec, top) -> None:
        if n == "null":
            if v is not None:
                self.add(pos, fld, f"expected null, got {_kind(v)} {_show(v)}")
            return
        if v is None:
            if n != "Any":
                self.add(pos, fld, f"expected {n}, got null")
            else:
                self.add(pos, fld, "a value is required (got null)")
            return
        if n in ("int", "long", "float", "double"):
            integer = n in ("int", "long")
            ok = isinstance(v, int) if integer else isinstance(v, (int, float))
            if isinstance(v, bool) or not ok:
                hint = ""
                if isinstance(v, str) and _parses(v, integer):
                    hint = " (remove the quotes)"
                elif integer and isinstance(v, float):
                    hint = " (a whole number is needed)"
                self.add(pos, fld, f"expected {n}, got {_kind(v)} {_show(v)}{hint}")
                return
            if integer:
                lo, hi = INT32 if n == "int" else INT64
                if not lo <= v <= hi:
                    self.add(pos, fld, f"{v} does not fit a 32-bit int" if n == "int" else f"{v} does not fit a long")
                    return
            if spec.min is not None and v < spec.min:
                self.add(pos, fld, f"{v} is below the minimum {spec.min}")
            if spec.max is not None and v > spec.max:
                self.add(pos, fld, f"{v} is above the maximum {spec.max}")
            return
        if n == "boolean":
            if not isinstance(v, bool):
                self.add(pos, fld, f"expected boolean (true/false), got {_kind(v)} {_show(v)}")
            return
        if n == "string":
            if not isinstance(v, str):
                self.add(pos, fld, f"expected string, got {_kind(v)} {_show(v)}"
                         + (" (quote it)" if isinstance(v, (int, float)) else ""))
            return
        if n in ("File", "Directory"):
            self._check_file(v, n, fld, pos, top)
            if n == "File" and spec.formats and isinstance(v, dict) and v.get("class") == "File":
                self._check_format(v, spec.formats, fld, pos, top)
            return
        # Any, or a named type from SchemaDefRequirement: the runner checks it

    def _check_format(self, v: dict, formats: tuple[str, ...], fld, pos, top: str) -> None:
        """The File's format against the input's (EDAM subclasses count, as in cwltool) and its content.

        A File that states no format gets the one its content shows (a note: ``panosc-cwl run``
        writes it into the job it hands the runner); one whose content contradicts the format it
        states, or whose content is of a format the input does not take, is an error."""
        from . import edam

        local = self._local(str(v.get("path") or v.get("location") or ""))
        if local is not None and not local.is_file():
            return  # reported as missing
        verdict = edam.check_file(local, v.get("format"), formats, self.namespaces)
        if verdict.error:
            where = yaml_position(v, "format", value=True, default=pos) if v.get("format") else pos
            self.add(where, fld, verdict.error)
        elif verdict.inferred:
            self.inferred.setdefault(top, []).append(edam.FORMATS[verdict.term].label)

    def _check_enum(self, v, symbols: list[str], fld, pos) -> None:
        if isinstance(v, str) and v in symbols:
            return
        if not isinstance(v, str):
            self.add(pos, fld, f"expected one of {', '.join(symbols)}; got {_kind(v)} {_show(v)}")
            return
        lower = {s.lower(): s for s in symbols}
        close = difflib.get_close_matches(v.lower(), list(lower), n=1, cutoff=0.5)
        hint = f"; did you mean '{lower[close[0]]}'?" if close else ""
        self.add(pos, fld, f"{_show(v)} is not allowed{hint} (choose from {', '.join(symbols)})")

    def _check_file(self, v, cls: str, fld, pos, top) -> None:
        if not isinstance(v, dict):
            hint = f" ({{class: {cls}, path: ...}})" if isinstance(v, str) else ""
            self.add(pos, fld, f"expected {cls}{hint}, got {_kind(v)} {_show(v)}")
            return
        if v.get("class") != cls:
            self.add(yaml_position(v, "class", value=True, default=pos), fld,
                     f"expected class: {cls}, got class: {v.get('class')!r}")
            return
        where = v.get("path") if "path" in v else v.get("location")
        key = "path" if "path" in v else "location"
        if where is None:
            if cls == "File" and "contents" in v:
                return
            if cls == "Directory" and "listing" in v:
                return
            self.add(pos, fld, f"{cls} needs a 'path' or 'location'")
            return
        vpos = yaml_position(v, key, value=True, default=pos)
        if not isinstance(where, str):
            self.add(vpos, fld, f"{key} must be a string, got {_kind(where)}")
            return
        local = self._local(where)
        if local is None:
            self.add(vpos, fld, f"remote {cls} {where} cannot be checked before the run", "warning")
            return
        if self._exists(local, cls, fld, vpos, where):
            self.files.setdefault(top, []).append((local, vpos, fld))
        for j, sec in enumerate(v.get("secondaryFiles") or []):
            if isinstance(sec, dict):
                self._check_file(sec, sec.get("class", "File"), f"{fld}.secondaryFiles[{j}]",
                                 yaml_position(v["secondaryFiles"], j, default=vpos), top)

    def _local(self, where: str) -> Path | None:
        u = urlparse(where)
        if u.scheme == "file":
            return Path(unquote(u.path))
        if u.scheme and len(u.scheme) > 1:
            return None
        p = Path(where).expanduser()
        return p if p.is_absolute() else self.base / p

    def _exists(self, p: Path, cls: str, fld, pos, shown: str) -> bool:
        if not p.exists():
            self.add(pos, fld, f"{cls.lower()} not found: {shown}")
            return False
        if cls == "File" and not p.is_file():
            self.add(pos, fld, f"not a file: {shown}")
            return False
        if cls == "Directory" and not p.is_dir():
            self.add(pos, fld, f"not a directory: {shown}")
            return False
        if not os.access(p, os.R_OK | (os.X_OK if cls == "Directory" else 0)):
            self.add(pos, fld, f"{cls.lower()} not readable: {shown}")
            return False
        if not self.relax_paths and not _PLAIN_NAME.match(p.name) and not _cwltool_accepts(p.name):
            self.add(pos, fld, f"file name {p.name!r} has characters cwltool refuses (spaces, quotes, $, ;...): rename it")
            return False
        if self.roots is not None and outside_roots([p], self.roots):
            self.add(pos, fld, f"{shown} is outside the allowed roots ({', '.join(map(str, self.roots))})")
            return False
        return True


def _parses(s: str, integer: bool) -> bool:
    try:
        int(s) if integer else float(s)
        return True
    except ValueError:
        return False


def _cwltool_accepts(name: str) -> bool:
    from cwltool.command_line_tool import PathCheckingMode

    return bool(PathCheckingMode.STRICT.value.match(name))


# ------------------------------------------------------------------ HDF5
def _check_hdf5(chk: _Checker, info: ProcessInfo, job: dict) -> None:
    """Open every HDF5 input; check the dataset named for it exists and holds frames."""
    from .iorw import is_hdf5

    dataset_for: dict[str, tuple[str, str]] = {}  # file input -> (dataset input name, dataset path)
    for name, spec in info.inputs.items():
        if name == "dataset" or name.endswith("_dataset"):
            target = info.first_file_input if name == "dataset" else name[: -len("_dataset")]
            value = job.get(name, spec.default)
            if target and isinstance(value, str):
                dataset_for[target] = (name, value)
    shapes: dict[tuple, list[str]] = {}
    job_dirs = [p for files in chk.files.values() for p, _, f in files
                if ".secondaryFiles[" not in f and p.is_dir()]  # e.g. a EuXFEL run folder (the VDS prefix)
    for top, files in chk.files.items():
        for path, pos, fld in files:
            if ".secondaryFiles[" in fld or not path.is_file() or not is_hdf5(path):
                continue  # files a master/scan file links to are checked through it
            import h5py

            try:
                h5 = h5py.File(path, "r")
            except OSError:
                chk.add(pos, fld, f"{path.name} is not a readable HDF5 file (corrupt or truncated?)")
                continue
            if not _check_links(chk, path, pos, fld, [p for p, _, f in files if f.startswith(fld + ".secondaryFiles[")],
                                job_dirs):
                h5.close()
                continue
            with h5:
                if top not in dataset_for:
                    if top == info.first_file_input and "dataset" in info.inputs and "dataset" not in job:
                        from .frames import find_frame_datasets

                        if not find_frame_datasets(h5):
                            chk.add(pos, fld, f"{path.name} is HDF5: give 'dataset', the path of the frames inside it")
                    continue
                dname, dpath = dataset_for[top]
                dpos = yaml_position(job, dname, value=True, default=pos) if dname in job else pos
                obj = h5.get(dpath)
                if obj is None:
                    from .iorw import _hdf5_datasets

                    avail = ", ".join(_hdf5_datasets(h5)[:4]) or "none"
                    chk.add(dpos, dname, f"'{dpath}' not found in {path.name} (datasets with frames: {avail})")
                    continue
                if not isinstance(obj, h5py.Dataset):
                    chk.add(dpos, dname, f"'{dpath}' in {path.name} is a group, not a dataset")
                    continue
                if obj.ndim not in (2, 3) or obj.size == 0:
                    chk.add(dpos, dname, f"'{dpath}' in {path.name} has shape {obj.shape}: expected frames (N, y, x) or (y, x)")
                    continue
                if obj.dtype.kind not in "iuf":
                    chk.add(dpos, dname, f"'{dpath}' in {path.name} is not numeric (dtype {obj.dtype})")
                    continue
                shapes.setdefault(tuple(obj.shape[-2:]), []).append(path.name)
    if len(shapes) > 1:
        desc = "; ".join(f"{names[0]}: {shape}" for shape, names in shapes.items())
        first = next(iter(chk.files.get(info.first_file_input or "", [])), (None, (1, 1), ""))[1]
        chk.add(first, info.first_file_input or "frames", f"frames have different shapes ({desc})")


def _check_links(chk: _Checker, path: Path, pos: tuple[int, int], fld: str, staged: list[Path],
                 job_dirs: Sequence[Path] = ()) -> bool:
    """Every external-link target and VDS source of ``path`` exists (error naming the file, False if not).

    A linked file that exists but is not among the File's ``secondaryFiles`` (or inside a listed
    Directory) is a warning: runners that copy inputs would not stage it beside the file. A file
    found by name in a Directory input of the job counts as there and carried (the tool opens the
    file with that folder as its VDS/external-link prefix, as the EuXFEL tools do with ``run``).
    """
    from .frames import linked_files, missing_link_message

    try:
        links = linked_files(path)
    except OSError:
        return True  # unreadable: reported by the caller
    links = [lf for lf in links if not any((d / lf.file.name).is_file() for d in job_dirs)]
    missing = [lf for lf in links if not lf.exists]
    if missing:  # one line per master file: it replaces "file not found" of the same secondary files
        names = {lf.file.name for lf in missing}
        chk.issues = [i for i in chk.issues if not (i.field.startswith(fld + ".secondaryFiles[")
                                                    and i.message.startswith("file not found")
                                                    and Path(i.message.split(": ", 1)[-1]).name in names)]
        chk.add(pos, fld, missing_link_message(path, missing))
        return False
    carried = {p.resolve() for p in staged}
    loose = [lf for lf in links
             if lf.file.resolve() not in carried and not any(d in lf.file.resolve().parents for d in carried)]
    if loose:
        more = f" and {len(loose) - 1} more" if len(loose) > 1 else ""
        chk.add(pos, fld, f"{path.name} links to {loose[0].file.name}{more}, not listed in its secondaryFiles: "
                          "runners that copy inputs (toil --symlinkImports False, containers) will not stage it",
                "warning")
    return True


# ------------------------------------------------------------------ entry points
def validate_job(process: str | os.PathLike, job: str | os.PathLike | None, *,
                 allowed_roots: Sequence[str | os.PathLike] | None = None, relax_path_checks: bool = False,
                 job_label: str | None = None, allow_unknown: bool = False) -> Report:
    """Check ``job`` against ``process`` and return every problem found (never raises for job errors).

    An input name the process does not have is an error (the runner would drop the value and run
    with the default), a warning with ``allow_unknown``.

    Raises InputError only when the CWL document itself cannot be loaded.
    """
    info = load_process(process)
    label = job_label or (str(job) if job is not None else "<no job>")
    report = Report(str(process), label)
    report.issues += wiring_issues(info)
    if job is None:
        data: Any = {}
        base = Path.cwd()
    else:
        data, issues = load_job(job, label)
        report.issues += issues
        if data is None:
            return report
        base = Path(job).resolve().parent
    roots = [Path(r).expanduser().resolve() for r in allowed_roots] if allowed_roots is not None else None
    namespaces = data.get("$namespaces") if isinstance(data.get("$namespaces"), dict) else {}
    chk = _Checker(label, base, roots, relax_path_checks, namespaces)
    for key in data:
        if isinstance(key, str) and (":" in key or key.startswith("$")):
            continue  # cwl:tool, cwl:requirements, $namespaces and other namespaced keys
        if key not in info.inputs:
            close = difflib.get_close_matches(str(key), list(info.inputs), n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            if allow_unknown:
                chk.add(yaml_position(data, key), str(key), f"unknown input, ignored by the runner{hint}", "warning")
            else:
                chk.add(yaml_position(data, key), str(key),
                        f"unknown input{hint} (--allow-unknown runs without it)")
    for name, spec in info.inputs.items():
        value = data.get(name)
        optional = isinstance(spec.type, list) and "null" in spec.type
        if value is None and (spec.default is not None or optional):
            continue
        if name not in data:
            chk.add((1, 1), name, f"required input missing ({spec.label}, {_type_name(spec.type)})")
            continue
        chk.check(value, spec.type, name, yaml_position(data, name, value=True), spec, name)
    _check_hdf5(chk, info, data)
    for top, labels in chk.inferred.items():
        kinds = ", ".join(dict.fromkeys(labels))
        files = f"its {len(labels)} Files" if len(labels) > 1 else "the File"
        chk.add(yaml_position(data, top, value=True), top, f"no format stated: {kinds}, from the content of {files}", "note")
    report.issues += sorted(chk.issues, key=lambda i: (i.line, i.column))
    report.values = {k: data[k] for k in data}
    return report


def outside_roots(paths: Sequence[str | os.PathLike], roots: Sequence[str | os.PathLike]) -> list[Path]:
    """The ``paths`` (symlinks resolved) that lie under none of ``roots``: a facility's allowed areas."""
    resolved = [Path(r).expanduser().resolve() for r in roots]
    bad = []
    for p in paths:
        real = Path(p).expanduser().resolve()
        if not any(real == r or r in real.parents for r in resolved):
            bad.append(Path(p))
    return bad


def check_job(process: str | os.PathLike, job: str | os.PathLike | None, **kwargs: Any) -> Report:
    """:func:`validate_job`, raising :class:`ValidationError` if there is any error."""
    report = validate_job(process, job, **kwargs)
    if not report.ok:
        raise ValidationError(report)
    return report


# ------------------------------------------------------------------ outputs that would be overwritten
def _glob_patterns(tool, context: dict[str, Any]) -> dict[str, list[str]]:
    """Output id -> the glob patterns of a CommandLineTool, with parameter references filled in."""
    from cwl_utils.expression import interpolate

    found: dict[str, list[str]] = {}
    for out in getattr(tool, "outputs", None) or []:
        ob = getattr(out, "outputBinding", None)
        globs = getattr(ob, "glob", None) if ob else None
        if globs is None:
            continue
        pats = []
        for g in globs if isinstance(globs, list) else [globs]:
            if not isinstance(g, str) or "${" in g:
                continue
            try:
                value = interpolate(g, {"inputs": context, "self": None, "runtime": {}})
            except Exception:
                continue  # needs JavaScript or an input we cannot know before the run
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and item:
                    pats.append(Path(item).name)
        found[_short(out.id)] = pats
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _tool_context(tool, given: dict[str, Any]) -> dict[str, Any]:
    ctx = {_short(i.id): i.default for i in tool.inputs or []}
    ctx.update({k: v for k, v in given.items() if v is not None})
    return ctx


def planned_outputs(process: str | os.PathLike, job_values: dict[str, Any]) -> list[str]:
    """File-name patterns the run will write into the output folder (as far as knowable up front)."""
    info = load_process(process)
    doc = info.doc
    values = _plain(job_values)
    if getattr(doc, "class_", "") != "Workflow":
        return [p for pats in _glob_patterns(doc, _tool_context(doc, values)).values() for p in pats]
    wf_inputs = {_short(i.id): values.get(_short(i.id), i.default) for i in doc.inputs or []}
    steps = {_short(s.id): s for s in doc.steps or []}
    patterns: list[str] = []
    for out in doc.outputs or []:
        sources = out.outputSource if isinstance(out.outputSource, list) else [out.outputSource]
        for src in sources:
            if not src:
                continue
            frag = src.rsplit("#", 1)[-1].split("/")
            if len(frag) < 3 or frag[-2] not in steps:
                continue
            step = steps[frag[-2]]
            tool = _step_tool(step)
            if tool is None:
                continue
            given = {}
            for sin in step.in_ or []:
                srcs = sin.source if isinstance(sin.source, list) else [sin.source] if sin.source else []
                if len(srcs) == 1 and _short(srcs[0]) in wf_inputs and getattr(sin, "valueFrom", None) is None:
                    given[_short(sin.id)] = wf_inputs[_short(srcs[0])]
                elif getattr(sin, "default", None) is not None:
                    given[_short(sin.id)] = sin.default
            patterns += _glob_patterns(tool, _tool_context(tool, given)).get(frag[-1], [])
    return patterns


def existing_outputs(process: str | os.PathLike, job_values: dict[str, Any], outdir: str | os.PathLike) -> list[Path]:
    """Files already in ``outdir`` that the run would replace (runners overwrite them silently)."""
    out = Path(outdir)
    if not out.is_dir():
        return []
    names = [e.name for e in out.iterdir()]
    hits: list[Path] = []
    for pat in planned_outputs(process, job_values):
        hits += [out / n for n in fnmatch.filter(names, pat) if out / n not in hits]
    return hits


def preflight(process: str | os.PathLike, job: str | os.PathLike | None, *, outdir: str | os.PathLike | None = None,
              overwrite: bool = False, allowed_roots: Sequence[str | os.PathLike] | None = None,
              allow_unknown: bool = False) -> Report:
    """Everything ``panosc-cwl run`` checks before submitting: the job, then outputs it would overwrite.

    Raises :class:`ValidationError` (with every issue) or :class:`OutputExistsError`.
    """
    from .exceptions import OutputExistsError

    report = check_job(process, job, allowed_roots=allowed_roots, allow_unknown=allow_unknown)
    if outdir is not None and not overwrite:
        hits = existing_outputs(process, report.values, outdir)
        if hits:
            names = ", ".join(h.name for h in hits)
            raise OutputExistsError(f"{outdir} already holds {names}, which this run would overwrite; "
                                    "use --overwrite or another --outdir", field="outdir")
    return report


# ------------------------------------------------------------------ formats the runner needs
def fill_formats(process: str | os.PathLike, job: dict[str, Any], base: Path) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A copy of ``job`` where every File of an input that declares formats states one.

    cwltool (and Toil) refuse a File without ``format`` where the input declares one; a File
    that states none gets the format its content shows (:func:`edam.check_file`). Returns the job
    and, per input, the labels of the formats filled in. A File whose content contradicts its
    stated format, or is of a format the input does not take, raises a one-line InputError.
    """
    from . import edam

    info = load_process(process)
    ns = job.get("$namespaces") if isinstance(job.get("$namespaces"), dict) else {}
    filled: dict[str, list[str]] = {}

    def local(v: dict) -> Path | None:
        where = v.get("path") if "path" in v else v.get("location")
        if not isinstance(where, str):
            return None
        u = urlparse(where)
        if u.scheme and len(u.scheme) > 1 and u.scheme != "file":
            return None
        p = Path(unquote(u.path)) if u.scheme == "file" else Path(where).expanduser()
        p = p if p.is_absolute() else base / p
        return p if p.is_file() else None

    def fix(v: Any, fld: str, name: str, spec: InputSpec) -> Any:
        if isinstance(v, list):
            return [fix(x, f"{fld}[{i}]", name, spec) for i, x in enumerate(v)]
        if not (isinstance(v, dict) and v.get("class") == "File"):
            return v
        verdict = edam.check_file(local(v), v.get("format"), spec.formats, ns)
        if verdict.error:
            raise InputError(verdict.error, field=fld)
        if not verdict.inferred:
            return v
        filled.setdefault(name, []).append(edam.FORMATS[verdict.term].label)
        return {**v, "format": edam.FORMATS[verdict.term].iri}

    out = dict(job)
    for name, spec in info.inputs.items():
        if spec.formats and name in job:
            out[name] = fix(job[name], name, name, spec)
    return out, filled


def complete_job(process: str | os.PathLike, job_path: str | os.PathLike, target: str | os.PathLike, *,
                 in_place: bool = False) -> tuple[Path, dict[str, list[str]]]:
    """For ``panosc-cwl run``: the job file the runner gets, with the formats of its Files filled in.

    Unchanged (the same path) when every File states its format. Otherwise the completed job, with
    absolute locations, goes to ``target`` (the run's own job copy, beside its state); ``in_place``:
    ``job_path`` is a copy this run wrote itself (locators resolved, a dict job), updated instead.
    The user's job file is never written. Returns the path and, per input, the formats filled in.
    """
    from .iorw import atomic_path
    from .locators import read_job, resolve_job

    job_path = Path(job_path)
    job, filled = fill_formats(process, read_job(job_path), job_path.resolve().parent)
    if not filled:
        return job_path, {}
    if not in_place:  # a copy this run wrote has absolute locations already
        job, _ = resolve_job(job, job_path.resolve().parent)
    target = job_path if in_place else Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    head = ""
    if target.suffix != ".json":
        kept = [line for line in job_path.read_text().splitlines() if line.startswith("#")] if in_place else []
        head = "\n".join(kept + [f"# from {job_path.resolve()} by panosc-cwl: formats taken from content for "
                                 + ", ".join(filled)]) + "\n"
    with atomic_path(target, overwrite=True) as tmp:
        import json

        Path(tmp).write_text(head + json.dumps(_plain(job), indent=1) + "\n", encoding="utf-8")
    return target, filled


def with_formats(process: str | os.PathLike, job: dict[str, Any], base: str | os.PathLike | None = None) -> dict[str, Any]:
    """``job`` with every File's EDAM format stated (from its content where missing), for a job built
    in Python and handed to cwltool or Toil directly; relative paths are taken from ``base`` (cwd)."""
    return fill_formats(process, job, Path(base) if base is not None else Path.cwd())[0]
