"""Automatic processing: new data folders start workflows by themselves, exactly once.

A rules file (``panosc-cwl watch RULES.yaml``) says which new folders (``raw/r*/``), once complete
(a marker file such as ``RUN_COMPLETE`` and/or files unchanged for N s), run which workflow with
which job template, profile and runner. The watcher *polls* with ``os.scandir``/``stat`` because
GPFS and NFS deliver no inotify events for writes made on other nodes; it stays cheap when idle by
not looking again at folders it already knows (and not even listing a parent folder whose mtime
has not changed).

Exactly once per (rule, dataset, workflow checksum) rests on the run catalogue
(:mod:`panosc_cwl.catalogue`): a dataset is *claimed* there atomically before anything is
submitted, and the run id is derived from (rule, dataset, workflow checksum, attempt), so the run
store (:func:`panosc_cwl.api.runs_dir`) can hold at most one run per attempt
(:func:`panosc_cwl.api.submit` creates a chosen id exclusively). Every run is started through
:func:`panosc_cwl.api.submit` in a small detached process of its own (``python -m
panosc_cwl.watch --child SPEC``) that records the run in the catalogue when it is submitted and
when it ends, so a watcher killed with SIGKILL loses no run: restarted, it follows the claims left
unfinished (the run exists -> follow it or record its end; no run yet -> start it now; a second
starter of the same id gets :class:`~panosc_cwl.api.RunExists` and steps aside).
"""

from __future__ import annotations

import fnmatch
import getpass
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .exceptions import InputError, PanoscError
from .yaml_positions import yaml_position

DEFAULT_POLL_SECONDS = 10.0
#: how often (s) a watcher looks for claims left unfinished by others (crashed watchers, triggers)
ADOPT_SECONDS = 60.0
#: a claim found without its run is started by an adopting watcher only once it is this old (s): the
#: claimer normally starts it within a second or two; starting it twice is harmless (one gets RunExists)
RELAUNCH_GRACE = 30.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_RULE_FIELDS = {
    "root": "folder the match pattern starts from (default: the rules file's folder)",
    "match": "glob of new dataset folders below root, e.g. raw/r*/",
    "marker": "file whose presence says the dataset is complete, e.g. RUN_COMPLETE",
    "quiet_seconds": "the dataset is complete when no file in it changed for this many seconds",
    "master": "glob (inside the dataset) of the master file, for {master} in the job template",
    "workflow": "CWL workflow or tool to run",
    "job": "job template (YAML) with {dataset}, {name}, {run}, {master}, {rule}, {root} placeholders",
    "vars": "extra placeholders for the job template (a mapping)",
    "profile": "facility profile (Toil on a batch system)",
    "runner": "cwltool or toil",
    "batch_system": "Toil batch system (default: the profile's)",
    "max_in_flight": "at most this many runs of the rule at once (default 2)",
    "max_attempts": "a failed run is retried until this many attempts (default 2)",
    "outputs_beside_data": "write outputs into <dataset>/processed/<rule>/ (default false)",
    "outdir": "output folder pattern when not beside the data (default {root}/processed/{rule}/{name})",
    "provenance": "record a provenance bundle (default true)",
}


# ------------------------------------------------------------------ rules
@dataclass(frozen=True)
class Rule:
    """One rule: which folders, when complete, start which workflow and how."""

    name: str
    root: Path
    match: str
    workflow: Path
    job: Path
    marker: str | None = None
    quiet_seconds: float | None = None
    master: str | None = None
    vars: dict = field(default_factory=dict, hash=False, compare=False)
    profile: str | None = None
    runner: str | None = None
    batch_system: str | None = None
    max_in_flight: int = 2
    max_attempts: int = 2
    outputs_beside_data: bool = False
    outdir: str = "{root}/processed/{rule}/{name}"
    provenance: bool = True
    source: str = ""  # file:line of the rule, for messages


@dataclass(frozen=True)
class RuleSet:
    """A rules file: its rules by name, the poll interval and (optionally) the catalogue URL."""

    path: Path
    rules: dict[str, Rule]
    poll_seconds: float = DEFAULT_POLL_SECONDS
    catalogue: str | None = None

    def rule(self, name: str) -> Rule:
        if name not in self.rules:
            raise InputError(f"no rule '{name}' in {self.path} (rules: {', '.join(self.rules)})", field="rule")
        return self.rules[name]


def _where(path: Path, node: Any, key: Any = None) -> str:
    """``file:line`` of a key (or of the node) in a ruamel round-trip document."""
    pos = yaml_position(node, key, default=None)
    return f"{path}:{pos[0]}" if pos else str(path)


def load_rules(path: str | os.PathLike) -> RuleSet:
    """Read and check a rules file; any mistake is one :class:`InputError` naming file:line and field."""
    from ruamel.yaml import YAML, YAMLError

    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"rules file {p} does not exist", field="rules")
    try:
        doc = YAML().load(p.read_text(encoding="utf-8"))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", location=where) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), dict) or not doc["rules"]:
        raise InputError("must hold a 'rules:' mapping of rule names to rules", location=str(p), field="rules")
    base = p.resolve().parent
    unknown = sorted(set(doc) - {"rules", "poll_seconds", "catalogue"})
    if unknown:
        raise InputError("unknown top-level field (known: rules, poll_seconds, catalogue)",
                         location=_where(p, doc, unknown[0]), field=unknown[0])
    poll = doc.get("poll_seconds", DEFAULT_POLL_SECONDS)
    if not isinstance(poll, (int, float)) or isinstance(poll, bool) or poll <= 0:
        raise InputError(f"must be a positive number of seconds, not {poll!r}", location=_where(p, doc, "poll_seconds"),
                         field="poll_seconds")
    catalogue = doc.get("catalogue")
    if catalogue is not None and not isinstance(catalogue, str):
        raise InputError("must be a database URL or path", location=_where(p, doc, "catalogue"), field="catalogue")
    rules = {}
    for name, body in doc["rules"].items():
        rules[str(name)] = _rule(p, base, doc["rules"], str(name), body)
    return RuleSet(path=p.resolve(), rules=rules, poll_seconds=float(poll), catalogue=catalogue)


def _rule(p: Path, base: Path, parent: Any, name: str, body: Any) -> Rule:
    here = _where(p, parent, name)
    if not _NAME.match(name):
        raise InputError(f"rule name '{name}' must be letters, digits, '_' or '-'", location=here, field="name")
    if not isinstance(body, dict):
        raise InputError("a rule must be a mapping of fields", location=here, field=name)

    def fail(key: str, message: str):
        raise InputError(message, location=_where(p, body, key) if key in body else here, field=f"{name}.{key}")

    for key in body:
        if key not in _RULE_FIELDS:
            close = fnmatch.filter(_RULE_FIELDS, f"{str(key)[:3]}*")
            fail(str(key), "unknown field" + (f" (did you mean {close[0]}?)" if close else ""))
    for key in ("match", "workflow", "job"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            fail(key, f"missing: {_RULE_FIELDS[key]}")
    if body.get("marker") is None and body.get("quiet_seconds") is None:
        fail("marker", "give marker and/or quiet_seconds: when is a dataset complete?")

    def number(key: str, default, kind=int, minimum=1):
        value = body.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)) \
                or value < minimum:
            fail(key, f"must be {'an integer' if kind is int else 'a number'} >= {minimum}, not {value!r}")
        return kind(value)

    def text(key: str) -> str | None:
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            fail(key, f"must be text, not {value!r}")
        return value

    def flag(key: str, default: bool) -> bool:
        value = body.get(key, default)
        if not isinstance(value, bool):
            fail(key, f"must be true or false, not {value!r}")
        return value

    def path(key: str) -> Path:
        return (base / os.path.expandvars(os.path.expanduser(body[key]))).resolve()

    match = body["match"].strip()
    if match.startswith("/") or ".." in match.split("/") or "**" in match:
        fail("match", f"'{match}' must be a relative glob below root without '..' or '**' (e.g. raw/r*/)")
    workflow, job = path("workflow"), path("job")
    if not workflow.is_file():
        fail("workflow", f"{workflow} does not exist")
    if not job.is_file():
        fail("job", f"job template {job} does not exist")
    root = path("root") if body.get("root") is not None else base
    marker = text("marker")
    if marker is not None and ("/" in marker or not marker.strip()):
        fail("marker", f"'{marker}' must be a file name inside the dataset folder")
    runner = text("runner")
    if runner is not None:
        from .runners import BACKENDS

        if runner not in BACKENDS:
            fail("runner", f"unknown runner '{runner}' (choose {', '.join(BACKENDS)})")
    profile = text("profile")
    if profile is not None:
        from .profiles import load_profiles

        if profile not in load_profiles():
            fail("profile", f"unknown profile '{profile}' (see `panosc-cwl profiles`)")
    extra = body.get("vars") or {}
    if not isinstance(extra, dict):
        fail("vars", "must be a mapping of placeholder names to values")
    outdir = text("outdir") or Rule.outdir
    return Rule(name=name, root=root, match=match, workflow=workflow, job=job, marker=marker,
                quiet_seconds=number("quiet_seconds", None, float, 0), master=text("master"),
                vars={str(k): v for k, v in extra.items()}, profile=profile, runner=runner,
                batch_system=text("batch_system"), max_in_flight=number("max_in_flight", 2),
                max_attempts=number("max_attempts", 2), outputs_beside_data=flag("outputs_beside_data", False),
                outdir=outdir, provenance=flag("provenance", True), source=here)


# ------------------------------------------------------------------ what a run of a dataset is
def workflow_sha1(path: str | os.PathLike) -> str:
    """SHA-1 of the workflow and every tool it runs: a new version of either processes the data again
    (the catalogue records runs by the same checksum, :func:`panosc_cwl.catalogue.recorder.workflow_sha1`)."""
    from .catalogue.recorder import workflow_sha1 as sha1_of_workflow_and_tools

    return sha1_of_workflow_and_tools(path)


def dataset_key(path: str | os.PathLike) -> str:
    """How a dataset is named in the catalogue: its absolute folder path (no trailing slash)."""
    return os.path.abspath(os.fspath(path)).rstrip("/") or "/"


def run_id_for(rule: str, key: str, sha1: str, attempt: int) -> str:
    """The run id of one attempt: the same on every watcher and after every restart."""
    digest = hashlib.sha1(f"{rule}\0{key}\0{sha1}".encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(key))[:40]
    return f"watch-{rule}-{name}-{digest}-a{attempt}"


def placeholders(rule: Rule, dataset: Path) -> dict[str, Any]:
    """Values for the job template and the outdir pattern of one dataset."""
    name = dataset.name
    digits = re.findall(r"\d+", name)
    values: dict[str, Any] = {**rule.vars, "dataset": str(dataset), "name": name, "rule": rule.name,
                              "root": str(rule.root), "run": int(digits[-1]) if digits else name}
    if rule.master:
        found = sorted(dataset.glob(rule.master))
        if not found:
            raise InputError(f"no master file matching '{rule.master}' in {dataset}", field=f"{rule.name}.master")
        values["master"] = str(found[0])
    return values


def _format(text: str, values: dict, where: str) -> str:
    try:
        return text.format_map(values)
    except KeyError as exc:
        raise InputError(f"unknown placeholder {{{exc.args[0]}}} in '{text}' (known: "
                         f"{', '.join(sorted(values))})", field=where) from None
    except (ValueError, IndexError, AttributeError) as exc:
        raise InputError(f"bad placeholder in '{text}': {exc}", field=where) from None


def fill_job(rule: Rule, dataset: Path) -> dict:
    """The rule's job template for one dataset: placeholders filled, facility locators resolved,
    relative paths made absolute against the template's folder."""
    from ruamel.yaml import YAML, YAMLError

    from .locators import resolve_job

    try:
        template = YAML(typ="safe").load(rule.job.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise InputError(f"cannot read job template {rule.job}: {' '.join(str(exc).split())}",
                         field=f"{rule.name}.job") from None
    if not isinstance(template, dict):
        raise InputError(f"job template {rule.job} must be a mapping of input names to values", field=f"{rule.name}.job")
    values = placeholders(rule, dataset)

    def fill(obj, where):
        if isinstance(obj, str):
            return _format(obj, values, f"{rule.job.name}:{where}") if "{" in obj else obj
        if isinstance(obj, dict):
            return {k: fill(v, f"{where}.{k}" if where else str(k)) for k, v in obj.items()}
        if isinstance(obj, list):
            return [fill(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return obj

    job, _located = resolve_job(fill(template, ""), rule.job.parent)
    return job


def outdir_for(rule: Rule, dataset: Path, attempt: int) -> Path:
    """Where a run's outputs (and report/provenance) go; later attempts get a folder of their own."""
    if rule.outputs_beside_data:
        out = dataset / "processed" / rule.name
    else:
        text = _format(rule.outdir, {**rule.vars, **{k: v for k, v in _cheap_values(rule, dataset).items()}},
                       f"{rule.name}.outdir")
        out = Path(text) if os.path.isabs(text) else rule.root / text
    return out if attempt <= 1 else out.with_name(f"{out.name}.attempt{attempt}")


def _cheap_values(rule: Rule, dataset: Path) -> dict:
    digits = re.findall(r"\d+", dataset.name)
    return {"dataset": str(dataset), "name": dataset.name, "rule": rule.name, "root": str(rule.root),
            "run": int(digits[-1]) if digits else dataset.name}


# ------------------------------------------------------------------ finding complete datasets
class FolderScanner:
    """Lists the folders matching ``root/match``, level by level, with ``os.scandir``.

    A parent folder whose mtime has not changed since it was listed (and was not changed in the
    last seconds, where coarse NFS timestamps could hide a new entry) is not listed again.
    """

    SETTLE_NS = 2_000_000_000

    def __init__(self, root: Path, match: str):
        self.root = root
        self.parts = [p for p in match.strip("/").split("/") if p and p != "."]
        self.regex = [re.compile(fnmatch.translate(p)) for p in self.parts]
        self._cache: dict[str, tuple[int, list[str]]] = {}
        #: whether the last :meth:`scan` listed any folder anew (False: same result as before)
        self.changed = True

    def _children(self, folder: str, level: int) -> list[str]:
        pattern = self.parts[level]
        if not any(c in pattern for c in "*?["):
            path = os.path.join(folder, pattern)
            return [path] if os.path.isdir(path) else []
        try:
            mtime = os.stat(folder).st_mtime_ns
        except OSError:
            return []
        cached = self._cache.get(folder)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        self.changed = True
        regex = self.regex[level]
        found = []
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    if regex.match(entry.name) and not entry.name.startswith(".") and entry.is_dir():
                        found.append(entry.path)
        except OSError:
            return []
        found.sort()
        if time.time_ns() - mtime > self.SETTLE_NS:
            self._cache[folder] = (mtime, found)
        else:
            self._cache.pop(folder, None)
        return found

    def scan(self) -> list[str]:
        self.changed = False
        folders = [str(self.root)]
        for level in range(len(self.parts)):
            folders = [child for f in folders for child in self._children(f, level)]
        return folders


def newest_mtime(folder: str) -> float | None:
    """The latest mtime of any file or folder below ``folder`` (None if it holds no file)."""
    newest, any_file = os.stat(folder).st_mtime, False
    stack = [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    st = entry.stat(follow_symlinks=False)
                    newest = max(newest, st.st_mtime)
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    else:
                        any_file = True
        except OSError:
            continue
    return newest if any_file else None


def is_complete(rule: Rule, folder: str, now: float | None = None) -> bool:
    """The rule's completeness test: the marker exists and/or nothing changed for quiet_seconds
    (both must hold when both are given)."""
    if rule.marker is not None and not os.path.exists(os.path.join(folder, rule.marker)):
        return False
    if rule.quiet_seconds is not None:
        newest = newest_mtime(folder)
        if newest is None or (now or time.time()) - newest < rule.quiet_seconds:
            return False
    return True


# ------------------------------------------------------------------ starting one run (child process)
def _spec(rule: Rule, sha1: str, key: str, attempt: int, catalogue_url: str | None) -> dict:
    """What the run process needs: the filled job, or why it could not be filled (recorded as the failure)."""
    try:
        job, error = fill_job(rule, Path(key)), None
    except PanoscError as exc:
        job, error = None, failure_reason(exc)
    return {"job": job, "error": error, "rule": rule.name, "dataset": key, "workflow": str(rule.workflow), "workflow_sha1": sha1,
            "attempt": attempt, "run_id": run_id_for(rule.name, key, sha1, attempt),
            "outdir": str(outdir_for(rule, Path(key), attempt)), "runner": rule.runner, "profile": rule.profile,
            "batch_system": rule.batch_system, "provenance": rule.provenance, "catalogue": catalogue_url,
            "rule_source": rule.source, "job_template": str(rule.job)}


def watch_dir() -> Path:
    """Spec files and logs of the watcher's run processes (inside the runs folder)."""
    from .api import runs_dir

    return runs_dir() / "watch"


def launch(spec: dict, cwd: Path | None = None) -> subprocess.Popen:
    """Start ``python -m panosc_cwl.watch --child SPEC`` in a session of its own: it outlives the watcher."""
    folder = watch_dir()
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = folder / f"{spec['run_id']}.spec.json"
    from .api import _write_atomic

    _write_atomic(spec_path, json.dumps(spec, indent=1, default=str))
    log = open(folder / f"{spec['run_id']}.log", "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "panosc_cwl.watch", "--child", str(spec_path)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=str(cwd or Path.cwd()), start_new_session=True)
    finally:
        log.close()


def _child(spec_path: str) -> int:
    """The run process: submit through the run API (first: the run state is what counts as submitted),
    then record submitted and the run's end in the catalogue."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    args = (spec["rule"], spec["dataset"], spec["workflow_sha1"])
    attempt = spec.get("attempt")  # a late word of this attempt never overwrites a later attempt's
    if spec.get("error"):
        _open(spec.get("catalogue")).dataset_finished(*args, "failed", reason=spec["error"], attempt=attempt)
        print(f"not submitted: {spec['error']}", flush=True)
        return 0
    from .api import RunExists, submit

    try:
        options = {"batch_system": spec["batch_system"]} if spec.get("batch_system") else {}
        run = submit(spec["workflow"], spec["job"], runner=spec.get("runner"), profile=spec.get("profile"),
                     outdir=spec["outdir"], provenance=spec.get("provenance", True), run_id=spec["run_id"],
                     catalogue=spec.get("catalogue"), **options)
    except RunExists:
        print(f"run {spec['run_id']} was started by another process; it records its own end", flush=True)
        return 0
    except PanoscError as exc:
        _open(spec.get("catalogue")).dataset_finished(*args, "failed", reason=failure_reason(exc),
                                                      attempt=attempt)
        print(f"not submitted: {failure_reason(exc)}", flush=True)
        return 0
    print(f"submitted {run.id} (outdir {run.outdir})", flush=True)
    try:
        cat = _open(spec.get("catalogue"))
        cat.dataset_submitted(*args, run.id, attempt=attempt)
    except PanoscError as exc:  # the run goes on; its end is recorded below, or by a watcher adopting the claim
        cat = None
        print(f"catalogue: {exc.one_line()}", flush=True)
    reason = None
    try:
        run.wait()
    except PanoscError as exc:
        reason = failure_reason(exc)
    status = "succeeded" if run.status == "success" else "failed"
    print(f"{run.id}: {run.status}" + (f": {run.error}" if run.error else ""), flush=True)
    cat = cat or _open(spec.get("catalogue"))  # unreachable: exit 1, a watcher records the end from the run state
    cat.dataset_finished(*args, status, reason=None if status == "succeeded" else (reason or run.error or run.status),
                         attempt=attempt)
    return 0


def failure_reason(exc: PanoscError) -> str:
    """One line saying why: a failed validation names its first problem (file:line: field: message)."""
    report = getattr(exc, "report", None)
    errors = getattr(report, "errors", None)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{errors[0].one_line()}{more}; nothing was submitted"
    return exc.one_line()


def _open(url: str | None):
    from .catalogue import open_catalogue

    return open_catalogue(url)


# ------------------------------------------------------------------ the watcher
@dataclass
class Event:
    """Something the watcher did, for the CLI to print (library functions do not print)."""

    kind: str  # complete, claimed, submitted, succeeded, failed, skipped, adopted, waiting
    rule: str
    dataset: str
    run_id: str | None = None
    detail: str | None = None
    time: float = field(default_factory=time.time)

    def one_line(self) -> str:
        text = f"{self.rule}: {self.kind} {self.dataset}"
        if self.run_id:
            text += f" (run {self.run_id})"
        return text + (f": {self.detail}" if self.detail else "")


@dataclass
class _Tracked:
    claim: Any
    dataset: str
    popen: subprocess.Popen | None = None
    launched: float = 0.0
    submitted_seen: bool = False


class _RuleState:
    def __init__(self, rule: Rule, sha1: str):
        self.rule, self.sha1 = rule, sha1
        self.scanner = FolderScanner(rule.root, rule.match)
        self.known: set[str] = set()  # done (succeeded, exhausted, or another watcher's): never looked at again
        self.pending: dict[str, float] = {}  # seen, not yet complete: key -> first seen
        self.ready: dict[str, float] = {}  # complete, waiting for a slot: key -> when seen complete
        self.tracked: dict[str, _Tracked] = {}  # run id -> run being followed


class Watcher:
    """Polls the rules' folders, claims complete datasets in the catalogue and starts their runs.

    :meth:`poll` does one round and returns what happened; :meth:`run` loops. Datasets the
    catalogue already has as succeeded are never looked at again (cheap when idle).
    """

    def __init__(self, rules: RuleSet, catalogue=None, *, catalogue_url: str | None = None, owner: str | None = None):
        self.rules = rules
        self.catalogue_url = catalogue_url or rules.catalogue
        self.cat = catalogue if catalogue is not None else _open(self.catalogue_url)
        if self.catalogue_url is None:
            self.catalogue_url = getattr(self.cat, "url", None)
        self.owner = owner or f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()} ({rules.path.name})"
        self.state = {name: _RuleState(rule, workflow_sha1(rule.workflow)) for name, rule in rules.rules.items()}
        self._last_adopt = 0.0
        self.cwd = rules.path.parent
        self.relaunch_grace = RELAUNCH_GRACE

    # -------------------------------------------------------------- start-up
    def start(self) -> list[Event]:
        """Learn what the catalogue has, then take over the claims left unfinished (after a crash)."""
        for rs in self.state.values():
            for rec in self.cat.datasets(rule=rs.rule.name, status="succeeded"):
                if getattr(rec, "workflow_sha1", rs.sha1) == rs.sha1:
                    rs.known.add(rec.dataset_key)
        return self.adopt(force=True)

    def adopt(self, force: bool = False) -> list[Event]:
        """Follow the unfinished claims of every rule that this watcher does not follow yet."""
        now = time.monotonic()
        if not force and now - self._last_adopt < ADOPT_SECONDS:
            return []
        self._last_adopt = now
        events = []
        for rs in self.state.values():
            for claim in self.cat.unfinished_claims(rs.rule.name):
                if claim.workflow_sha1 != rs.sha1:
                    continue
                run_id = run_id_for(rs.rule.name, claim.dataset_key, rs.sha1, claim.attempt)
                if run_id in rs.tracked:
                    continue
                rs.tracked[run_id] = _Tracked(claim, claim.dataset_key)
                rs.ready.pop(claim.dataset_key, None)
                rs.pending.pop(claim.dataset_key, None)
                events.append(Event("adopted", rs.rule.name, claim.dataset_key, run_id, f"attempt {claim.attempt}"))
        return events

    # -------------------------------------------------------------- one round
    def poll(self) -> list[Event]:
        events: list[Event] = []
        events += self.adopt()
        now = time.time()
        for rs in self.state.values():
            events += self._follow(rs)
            found = rs.scanner.scan()
            if rs.scanner.changed:  # else: the same folders as last time, each already sorted somewhere
                busy = set(t.dataset for t in rs.tracked.values())
                for key in found:
                    if key not in rs.known and key not in rs.pending and key not in rs.ready and key not in busy:
                        rs.pending[key] = now
            for key in list(rs.pending):
                if is_complete(rs.rule, key, now):
                    del rs.pending[key]
                    rs.ready[key] = now
                    events.append(Event("complete", rs.rule.name, key))
            events += self._start_ready(rs)
        return events

    def _start_ready(self, rs: _RuleState) -> list[Event]:
        events = []
        if not rs.ready:
            return events
        free = rs.rule.max_in_flight - self.cat.in_flight(rs.rule.name)
        for key in sorted(rs.ready, key=lambda k: (rs.ready[k], k)):  # oldest first
            if free <= 0:
                break
            del rs.ready[key]
            ev = self.claim_and_launch(rs, key)
            events.append(ev)
            if ev.kind == "claimed":
                free -= 1
        return events

    def claim_and_launch(self, rs: _RuleState, key: str) -> Event:
        claim = self.cat.claim_dataset(rs.rule.name, key, rs.sha1, max_attempts=rs.rule.max_attempts,
                                       owner=self.owner)
        if claim is None:
            rs.known.add(key)
            return Event("skipped", rs.rule.name, key, detail="already processed, in flight or out of attempts")
        run_id = run_id_for(rs.rule.name, key, rs.sha1, claim.attempt)
        tracked = rs.tracked[run_id] = _Tracked(claim, key)
        self._launch(rs, run_id, tracked)
        return Event("claimed", rs.rule.name, key, run_id, f"attempt {claim.attempt}/{rs.rule.max_attempts}")

    def _launch(self, rs: _RuleState, run_id: str, tracked: _Tracked) -> None:
        spec = _spec(rs.rule, rs.sha1, tracked.dataset, tracked.claim.attempt, self.catalogue_url)
        tracked.popen = launch(spec, self.cwd)
        tracked.launched = time.monotonic()

    def _follow(self, rs: _RuleState) -> list[Event]:
        """Check the runs this watcher follows: submitted, ended, or lost before they were recorded."""
        from .api import FINAL, Run, runs_dir

        events = []
        for run_id, t in list(rs.tracked.items()):
            state_file = runs_dir() / f"{run_id}.json"
            exists = state_file.is_file()
            if exists and not t.submitted_seen:
                t.submitted_seen = True
                events.append(Event("submitted", rs.rule.name, t.dataset, run_id))
            child_done = t.popen is not None and t.popen.poll() is not None
            if t.popen is None and not exists:  # adopted claim whose run was never started: start it now
                if _age(t.claim) < self.relaunch_grace:
                    continue  # its claimer may be starting it right now
                self._launch(rs, run_id, t)
                events.append(Event("relaunched", rs.rule.name, t.dataset, run_id, "claimed but never submitted"))
                continue
            if t.popen is not None and not child_done:
                continue  # the run process records the run's end itself
            run = Run.attach(run_id) if exists else None
            if run is not None and (run.status not in FINAL or _owner_alive(run_id)):
                continue  # a run still going, or its process is about to record its end
            del rs.tracked[run_id]
            # the run process has exited (or is gone): read the catalogue's word, record it if missing
            rec = self._record_of(rs, t.dataset)
            attempt = getattr(rec, "attempt", t.claim.attempt) if rec is not None else t.claim.attempt
            if attempt != t.claim.attempt:
                rs.known.add(t.dataset)
                continue  # another watcher has moved on to a later attempt
            status, reason = (rec.status, getattr(rec, "reason", None)) if rec is not None else (None, None)
            if status not in ("succeeded", "failed"):
                if run is None:
                    status, reason = "failed", _log_tail(run_id) or "the run process ended before submitting"
                else:
                    status = "succeeded" if run.status == "success" else "failed"
                    reason = None if status == "succeeded" else (run.error or run.status)
                if not self.cat.dataset_finished(rs.rule.name, t.dataset, rs.sha1, status, reason=reason,
                                                 attempt=t.claim.attempt):
                    rs.known.add(t.dataset)
                    continue  # another watcher claimed it again meanwhile: that attempt's word counts
            if status == "succeeded":
                rs.known.add(t.dataset)
                events.append(Event("succeeded", rs.rule.name, t.dataset, run_id))
            elif attempt < rs.rule.max_attempts:
                rs.ready[t.dataset] = time.time()  # retried when a slot is free
                events.append(Event("failed", rs.rule.name, t.dataset, run_id,
                                    f"{reason} (attempt {attempt}/{rs.rule.max_attempts}; will retry)"))
            else:
                rs.known.add(t.dataset)
                events.append(Event("failed", rs.rule.name, t.dataset, run_id,
                                    f"{reason} (attempt {attempt}/{rs.rule.max_attempts}; left failed)"))
        return events

    def _record_of(self, rs: _RuleState, key: str):
        for rec in self.cat.datasets(rule=rs.rule.name):
            if rec.dataset_key == key and getattr(rec, "workflow_sha1", rs.sha1) == rs.sha1:
                return rec
        return None

    def in_flight(self) -> int:
        """Runs this watcher follows now."""
        return sum(len(rs.tracked) for rs in self.state.values())

    # -------------------------------------------------------------- loop
    def run(self, on_event=None, *, stop=None, max_seconds: float | None = None) -> None:
        """Poll every ``poll_seconds`` until ``stop`` (a threading.Event) is set or ``max_seconds`` pass."""
        from .catalogue import CatalogueUnavailable

        t_end = None if max_seconds is None else time.monotonic() + max_seconds
        for ev in self.start():
            on_event and on_event(ev)
        down = False
        while True:
            t0 = time.monotonic()
            try:
                events = self.poll()
                if down:
                    events.insert(0, Event("catalogue", "*", "-", detail="reachable again"))
                down = False
            except CatalogueUnavailable as exc:  # nothing is claimed without it: wait, say so once
                events = [] if down else [Event("catalogue", "*", "-", detail=f"{exc.one_line()}; waiting")]
                down = True
            for ev in events:
                on_event and on_event(ev)
            if (stop is not None and stop.is_set()) or (t_end is not None and time.monotonic() >= t_end):
                return
            wait = max(0.0, self.rules.poll_seconds - (time.monotonic() - t0))
            if stop is not None:
                if stop.wait(wait):
                    return
            else:
                time.sleep(wait)


def _age(claim) -> float:
    """Seconds since the claim was made (catalogue times are naive UTC)."""
    from datetime import UTC, datetime

    made = getattr(claim, "claimed_at", None)
    if made is None:
        return float("inf")
    return (datetime.now(UTC).replace(tzinfo=None) - made).total_seconds()


def _owner_alive(run_id: str) -> bool:
    """The process that owns run ``run_id`` still lives (on this host; other hosts' pids say nothing)."""
    from .api import _proc_start, runs_dir

    try:
        st = json.loads((runs_dir() / f"{run_id}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if st.get("host") not in (None, socket.gethostname()):
        return False
    return _proc_start(st["owner_pid"]) == st.get("owner_start")


def _log_tail(run_id: str) -> str | None:
    path = watch_dir() / f"{run_id}.log"
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return None
    return lines[-1][:300] if lines else None


# ------------------------------------------------------------------ a control system's trigger
def trigger(rules: RuleSet, rule_name: str, path: str | os.PathLike, catalogue=None, *,
            catalogue_url: str | None = None, wait_slot: float | None = None) -> Event:
    """A control system says "this scan ended": claim the dataset and start its run, once.

    Same claim/run path as the watcher. Waits (polling) for a free slot of the rule's
    ``max_in_flight``, at most ``wait_slot`` s (None: as long as it takes). Returns the claim event,
    or ``skipped`` when the dataset was processed already or is in flight.
    """
    rule = rules.rule(rule_name)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder", field="path")
    key = dataset_key(folder.resolve())
    watcher = Watcher(rules, catalogue, catalogue_url=catalogue_url,
                      owner=f"trigger {getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}")
    rs = watcher.state[rule.name]
    end = None if wait_slot is None else time.monotonic() + wait_slot
    while watcher.cat.in_flight(rule.name) >= rule.max_in_flight:
        if end is not None and time.monotonic() > end:
            raise InputError(f"rule {rule.name} has {rule.max_in_flight} runs in flight; no slot within "
                             f"{wait_slot:g} s", field="max_in_flight")
        time.sleep(min(rules.poll_seconds, 2.0))
    return watcher.claim_and_launch(rs, key)


# ------------------------------------------------------------------ status
@dataclass
class DatasetStatus:
    rule: str
    dataset: str
    status: str
    attempt: int | None
    run_id: str | None
    reason: str | None


def status(rules: RuleSet, catalogue=None, *, catalogue_url: str | None = None) -> list[DatasetStatus]:
    """Every dataset the catalogue holds for these rules (current workflow versions), failed first."""
    cat = catalogue if catalogue is not None else _open(catalogue_url or rules.catalogue)
    rows = []
    for name, rule in rules.rules.items():
        sha1 = workflow_sha1(rule.workflow)
        for rec in cat.datasets(rule=name):
            if getattr(rec, "workflow_sha1", sha1) != sha1:
                continue
            rows.append(DatasetStatus(name, rec.dataset_key, rec.status, getattr(rec, "attempt", None),
                                      getattr(rec, "run_id", None), getattr(rec, "reason", None)))
    order = {"failed": 0, "claimed": 1, "submitted": 1, "succeeded": 2}
    return sorted(rows, key=lambda r: (order.get(r.status, 1), r.rule, r.dataset))


if __name__ == "__main__":  # the run process the watcher starts (see launch)
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.exit(_child(sys.argv[2]))
    sys.stderr.write("usage: python -m panosc_cwl.watch --child SPEC.json (started by panosc-cwl watch)\n")
    sys.exit(2)
