"""The whole CWLProv bundle of a Toil run, built on our side from what Toil reports.

``toil-cwl-runner --provenance`` (Toil 9.6) is not used: it crashes together with ``--restart``,
and the bag it writes holds one activity (the workflow run) with the last step's inputs and
outputs only, lacks the workflow's input files and does not verify. So a first run and a
restarted one get the same bundle, built after the run from:

- the workflow itself, packed by cwltool (``workflow/packed.cwl``, ``snapshot/``);
- the runner log: ``Issued job 'CWLJob' <wf>.<step>.<tool> ... batch system ID: N`` (start) and
  ``CWL step complete: <wf>.<step>.<tool>`` (end), each line time-stamped by Toil; for a
  restarted run, the log of the killed run(s) too (the steps that finished before the kill);
- the workflow's wiring (``workflow/packed.cwl``): which workflow input or step output feeds
  each step input;
- the job file and Toil's output object: the files with their SHA-1 checksums;
- on SLURM, ``scontrol show job`` maps Toil's batch ids to SLURM job ids through the job name
  Toil gives every job (``toil_job_<batch id>_<name>``).

The bag is laid out by cwltool's own ``ResearchObject`` (bagit.txt, bag-info.txt, manifests,
``metadata/manifest.json``, ``data/<sha1 prefix>/<sha1>``); the PROV is written in cwltool's
vocabulary with the ``prov`` library (one ``wfprov:ProcessRun`` per step, ``used`` /
``wasGeneratedBy`` with checksums), so the same reader, verifier and ``cwlprov validate`` accept it.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import logging
import os
import re
import shlex
import subprocess
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version as _version
from pathlib import Path

from ..runners import ANSI, cwl_file_objects
from ._util import fragment, short_id, uri_path
from .bundle import DEFAULT_REFERENCE_ABOVE, PANOSC_DIR, PANOSC_NS, save_prov_document
from .enrich import job_with_checksums
from .model import declared_software, main_process, processes

ISSUED = re.compile(r"^\[([^\]]+)\].*Issued job '\w+' (\S+) kind-\S+ v\d+ with job batch system ID: (\d+)")
COMPLETE = re.compile(r"^\[([^\]]+)\].*CWL step complete: (\S+)")
LOG_TIME = re.compile(r"^\[([^\]]+)\]")
SBATCH = re.compile(r"sbatch submitted job (\d+)")


@dataclass
class ToilJob:
    name: str
    step: str
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    batch_ids: list[str] = field(default_factory=list)
    slurm_ids: list[str] = field(default_factory=list)
    jobs: list[dict] = field(default_factory=list)


def _ts(text: str) -> dt.datetime | None:
    """Toil's log and PROV times as aware UTC datetimes (naive ones are this machine's local time)."""
    try:
        t = dt.datetime.fromisoformat(text.replace("+0000", "+00:00"))
    except ValueError:
        return None
    return t.astimezone(dt.timezone.utc)


def step_aliases(packed: Mapping) -> dict[str, str]:
    """Names that appear in Toil job names -> the top-level step they belong to.

    Toil names a job ``<workflow>.<step>.<tool>``, but inside a sub-workflow or a scatter
    ``<sub-workflow>.<scatter index>.<tool>``: the tool and sub-workflow ids map back too."""
    procs = {str(p.get("id", "")).lstrip("#"): p for p in processes(packed)}
    main = main_process(packed)
    alias: dict[str, str] = {}

    def strip(ref: str) -> str:
        return str(ref).lstrip("#").removesuffix(".cwl")

    def walk(proc: Mapping, top: str, depth: int = 0) -> None:
        for sub in proc.get("steps", []) or []:
            run = str(sub.get("run", "")).lstrip("#")
            alias.setdefault(strip(run), top)
            if run in procs and depth < 10:
                walk(procs[run], top, depth + 1)

    for st in main.get("steps", []) or []:
        name = short_id(st["id"])
        run = str(st.get("run", "")).lstrip("#")
        alias[strip(run)] = name
        if run in procs and procs[run].get("class") == "Workflow":
            walk(procs[run], name)
    for st in main.get("steps", []) or []:
        name = short_id(st["id"])
        alias[name] = name  # a step's own name wins
    return alias


def _step_of(job_name: str, steps: list[str], alias: Mapping[str, str] | None = None) -> str | None:
    parts = job_name.split(".")
    for s in steps:
        if s in parts:
            return s
    for part in reversed(parts):
        if alias and part in alias:
            return alias[part]
    return None


def run_log(log_path: Path) -> str:
    """The part of ``runner.log`` written by the last run (the log is appended to, each run
    after a ``$ <command>`` line); for a ``--restart``, from the first run of its job store on,
    since the steps that finished before the kill are logged there only."""
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    lines = text.splitlines(keepends=True)
    heads = [i for i, line in enumerate(lines) if line.startswith("$ ")] or [0]

    def argv(i: int) -> list[str]:
        try:
            return shlex.split(lines[i][2:]) if i < len(lines) else []
        except ValueError:
            return []

    def store(args: list[str]) -> str | None:
        return args[args.index("--jobStore") + 1] if "--jobStore" in args[:-1] else None

    first = len(heads) - 1
    while first > 0 and "--restart" in argv(heads[first]) and store(argv(heads[first - 1])) == store(argv(heads[first])):
        first -= 1
    return "".join(lines[heads[first]:])


def steps_from_log(log_text: str, steps: list[str], alias: Mapping[str, str] | None = None) -> dict[str, ToilJob]:
    """Per-step start/end times and batch ids from the toil-cwl-runner log (jobs of a
    sub-workflow or a scatter are counted under the top-level step that ran them).

    The log may hold several runs of one job store (``$ <command>`` lines, as ``runner.log``
    keeps them): a killed run, then ``--restart``. A job issued in one run and not complete when
    that run ended was killed and issued again; a job issued again within a run (``--retryCount``)
    had failed: only the attempt that completed counts, with its batch id and times.

    Toil logs "CWL step complete" from a logging thread, after the leader has moved on: a run killed
    just then leaves a finished job without that line. Such a job, issued in the killed run and not
    issued again by the restart (Toil's job store knew it was done), counts with the killed run's
    last logged time as its end (an upper bound)."""
    jobs: dict[str, ToilJob] = {}
    pending: dict[str, list[dict]] = {}  # Toil job name -> issued attempts not complete yet
    unconfirmed: dict[str, dict] = {}  # Toil job name -> its last attempt in a killed run
    last_ts: str | None = None  # the last time logged in the current run
    for line in log_text.splitlines():
        if line.startswith("$ "):  # the next run: what the last one left running was killed
            for name, waiting in pending.items():
                if waiting:
                    unconfirmed[name] = {**waiting[-1], "completed": last_ts, "completion": "inferred"}
            pending.clear()
            last_ts = None
            continue
        line = ANSI.sub("", line)
        if (ts := LOG_TIME.match(line)) and _ts(ts.group(1)):
            last_ts = str(_ts(ts.group(1)))
        m = ISSUED.search(line)
        if m:
            step = _step_of(m.group(2), steps, alias)
            if step:
                jobs.setdefault(step, ToilJob(m.group(2), step))
                unconfirmed.pop(m.group(2), None)  # issued again: the killed attempt did not finish
                pending.setdefault(m.group(2), []).append(
                    {"name": m.group(2), "batch_id": m.group(3), "issued": str(_ts(m.group(1)))})
            continue
        m = COMPLETE.search(line)
        if m:
            step = _step_of(m.group(2), steps, alias)
            if step:
                j = jobs.setdefault(step, ToilJob(m.group(2), step))
                waiting = pending.get(m.group(2)) or [{"name": m.group(2)}]
                attempt = waiting.pop()  # the latest attempt: an earlier one failed and was retried
                attempt["completed"] = str(_ts(m.group(1)))
                j.jobs.append(attempt)
    for name, attempt in unconfirmed.items():
        step = _step_of(name, steps, alias)
        if step and attempt.get("completed") and not any(a.get("name") == name for a in jobs[step].jobs):
            jobs[step].jobs.append(attempt)
    for j in jobs.values():
        done = j.jobs or [a for n, w in pending.items() for a in w if _step_of(n, [j.step], alias) == j.step]
        j.jobs = done
        j.batch_ids = [a["batch_id"] for a in done if "batch_id" in a]
        j.started = min(filter(None, (_ts(a.get("issued", "")) for a in done)), default=None)
        j.ended = max(filter(None, (_ts(a.get("completed", "")) for a in done)), default=None)
    return jobs


def slurm_ids(attempts: list[dict]) -> None:
    """Add ``slurm_job_id`` to each Toil job attempt (``batch_id``, ``name``, ``issued``): the
    SLURM job Toil named ``toil_job_<batch id>_<name>``, submitted closest to when it was issued.

    Batch ids start again at every run of a job store, so after a ``--restart`` one batch id names
    jobs of both runs: the job name and the submit time tell them apart."""
    try:
        out = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True,
                             timeout=15).stdout
    except (OSError, subprocess.SubprocessError):
        return
    submitted: dict[str, list[tuple[dt.datetime | None, str]]] = {}  # SLURM job name -> (submit time, id)
    for line in out.splitlines():
        m = re.search(r"JobId=(\d+) JobName=(toil_job_\S+)", line)
        sub = re.search(r"SubmitTime=(\S+)", line)
        if m:
            when = _ts(sub.group(1)) if sub else None  # SLURM's times are local
            submitted.setdefault(m.group(2), []).append((when, m.group(1)))
    slack = dt.timedelta(seconds=5)
    for a in attempts:
        issued = _ts(a.get("issued", ""))
        options = [(when, jid) for when, jid in submitted.get(f"toil_job_{a.get('batch_id')}_{a['name']}", [])
                   if issued is None or when is None or when >= issued - slack]
        if options:
            a["slurm_job_id"] = min(options, key=lambda o: abs((o[0] - issued).total_seconds())
                                    if o[0] and issued else 0)[1]


#: the namespaces cwltool's PROV documents declare (``researchobject`` and the ones below it
#: are relative to the bag's arcp base URI)
CWLPROV_NAMESPACES = {
    "wfprov": "http://purl.org/wf4ever/wfprov#", "wfdesc": "http://purl.org/wf4ever/wfdesc#",
    "cwlprov": "https://w3id.org/cwl/prov#", "foaf": "http://xmlns.com/foaf/0.1/", "schema": "http://schema.org/",
    "orcid": "https://orcid.org/", "id": "urn:uuid:", "data": "urn:hash::sha1:", "sha256": "nih:sha-256;",
    "wf4ever": "http://purl.org/wf4ever/wf4ever#",
}
RO_NAMESPACES = {"researchobject": "", "metadata": "metadata/", "provenance": "metadata/provenance/",
                 "wf": "workflow/packed.cwl#", "input": "workflow/primary-job.json#"}


class _ProvBuilder:
    """cwltool-style CWLProv records, written with the prov library; the files they name go into
    the research object ``ro`` (cwltool's ``ResearchObject``) or, when large, are referenced."""

    def __init__(self, doc, ro, reference_above: int | None):
        self.doc, self.ro, self.reference_above = doc, ro, reference_above
        self.file_entities: dict[tuple[str, str], object] = {}
        self.external: list[dict] = []

    def value(self, val):
        """The entity of a job/output value (File, array, string, number); None for null."""
        doc = self.doc
        q = doc.valid_qualified_name
        if val is None:
            return None
        if isinstance(val, dict) and val.get("class") == "File":
            sha = str(val.get("checksum", "")).split("$")[-1]
            base = val.get("basename") or Path(str(val.get("location", val.get("path", "")))).name
            if not sha:
                return doc.entity(f"id:{uuid.uuid4()}", {"prov:type": q("wfprov:Artifact"), "cwlprov:basename": base,
                                                         "prov:label": "intermediate file, not kept by Toil"})
            key = (sha, base)
            if key in self.file_entities:
                return self.file_entities[key]
            self.keep(val, sha)
            data = doc.entity(f"data:{sha}", {"prov:type": q("wfprov:Artifact")})
            ent = doc.entity(f"id:{uuid.uuid4()}", {
                "prov:type": q("wf4ever:File"), "cwlprov:basename": base,
                "cwlprov:nameroot": Path(base).stem, "cwlprov:nameext": Path(base).suffix,
                "panosc:size": int(val.get("size", 0))})
            doc.specializationOf(ent, data)
            self.file_entities[key] = ent
            return ent
        if isinstance(val, list):
            coll = doc.collection(f"id:{uuid.uuid4()}", {"prov:type": q("wfprov:Artifact")})
            for v in val:
                m = self.value(v)
                if m is not None:
                    doc.hadMember(coll, m)
            return coll
        if isinstance(val, str):
            return doc.entity(f"data:{hashlib.sha1(val.encode()).hexdigest()}",
                              {"prov:type": q("wfprov:Artifact"), "prov:value": val})
        if isinstance(val, dict):
            return doc.entity(f"id:{uuid.uuid4()}", {"prov:value": json.dumps(val, sort_keys=True)})
        return doc.entity(f"id:{uuid.uuid4()}", {"prov:value": val})

    def keep(self, val: Mapping, sha: str) -> None:
        """Put a file into ``data/`` as cwltool does, or reference it when it is large."""
        if self.ro.has_data_file(sha) or any(e["sha1"] == sha for e in self.external):
            return
        src = val.get("path") or uri_path(str(val.get("location", "")))
        if not src or not Path(src).is_file():
            return
        size = Path(src).stat().st_size
        if self.reference_above is not None and size > self.reference_above:
            self.external.append({"bag_path": f"data/{sha[:2]}/{sha}", "sha1": sha, "size": size,
                                  "path": str(src), "locations": [str(src)]})
            return
        with open(src, "rb") as fh:
            self.ro.add_data_file(fh, dt.datetime.fromtimestamp(Path(src).stat().st_mtime))

    def in_bag(self, obj):
        """A job/output object with each kept File's location made bag-relative, as cwltool writes it."""
        obj = json.loads(json.dumps(obj))
        for f in cwl_file_objects(obj):
            sha = str(f.get("checksum", "")).split("$")[-1]
            if sha and self.ro.has_data_file(sha):
                f["location"] = f"../data/{sha[:2]}/{sha}"
                f.pop("path", None)
        return obj


def _with_defaults(job: Mapping, main: Mapping) -> dict:
    out = dict(job)
    for inp in main.get("inputs", []):
        name = short_id(inp["id"])
        if name not in out and "default" in inp:
            out[name] = inp["default"]
    return out


def pack_workflow(workflow: str | os.PathLike) -> tuple[str, dict]:
    """The workflow packed into one document by cwltool (as ``--pack`` and ``--provenance`` write
    it), and the files it is made of (for ``snapshot/``)."""
    import argparse

    from cwltool.context import LoadingContext
    from cwltool.load_tool import fetch_document, resolve_and_validate_document
    from cwltool.main import print_pack, prov_deps, setup_schema

    setup_schema(argparse.Namespace(enable_ext=True), None)  # our workflows use cwltool: hints
    lc = LoadingContext()
    lc, workflowobj, uri = fetch_document(str(Path(workflow).resolve()), lc)
    lc, uri = resolve_and_validate_document(lc, workflowobj, uri)
    return print_pack(lc, uri), prov_deps(workflowobj, lc.loader, uri)


def build_toil_bundle(bundle: str | os.PathLike, *, workflow: str | os.PathLike, job: Mapping, outputs: Mapping,
                      log_text: str, batch_system: str = "single_machine",
                      reference_above: int | None = DEFAULT_REFERENCE_ABOVE) -> Path:
    """Write the CWLProv bundle of a finished Toil run into ``bundle`` (absent or empty).

    ``job``: the job with absolute file locations; ``outputs``: Toil's output object;
    ``log_text``: the runner log of this run (with the killed runs before a ``--restart``)."""
    import cwltool.loghandler  # noqa: F401  (sets its logger to INFO when first imported: before _quiet)

    target = Path(bundle).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _quiet("cwltool", "salad"):  # its INFO lines (resolved, finalizing...) are not ours to print
        return _build(target, workflow, job, outputs, log_text, batch_system, reference_above)


@contextmanager
def _quiet(*loggers: str):
    saved = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _build(target: Path, workflow, job: Mapping, outputs: Mapping, log_text: str, batch_system: str,
           reference_above: int | None) -> Path:
    from cwltool.cwlprov import writablebagfile as bag
    from cwltool.cwlprov.ro import ResearchObject
    from cwltool.stdfsaccess import StdFsAccess
    from prov.model import ProvDocument
    from ruamel.yaml import YAML

    packed_text, deps = pack_workflow(workflow)
    packed = YAML(typ="safe", pure=True).load(packed_text)
    main = main_process(packed)
    user = getpass.getuser()
    # the bag is assembled in a folder beside the target, then moved there (by close_ro)
    ro = ResearchObject(StdFsAccess(""), temp_prefix_ro=str(target.parent / f".{target.name}-"), full_name=user)
    ro.cwltool_version = f"panosc-cwl {_version('panosc-cwl')} ({ro.cwltool_version})"  # who packaged the bag
    try:
        bag.packed_workflow(ro, packed_text)
        ro.generate_snapshot(deps)
        doc = ProvDocument()
        for prefix, uri in CWLPROV_NAMESPACES.items():
            doc.add_namespace(prefix, uri)
        for prefix, rel in RO_NAMESPACES.items():
            doc.add_namespace(prefix, ro.base_uri + rel)
        doc.add_namespace("panosc", PANOSC_NS)
        builder = _ProvBuilder(doc, ro, reference_above)
        full_job = _with_defaults(job_with_checksums(json.loads(json.dumps(dict(job)))), main)
        _write_prov(doc, builder, packed, main, full_job, outputs, log_text, batch_system, f"id:{ro.ro_uuid}",
                    user)
        save_prov_document(doc, Path(ro.folder))
        logs = Path(ro.folder) / "metadata" / "logs"
        (logs / "toil-runner.log").write_text(log_text, encoding="utf-8")
        for path in [*sorted((Path(ro.folder) / "metadata" / "provenance").iterdir()), logs / "toil-runner.log"]:
            ro.add_tagfile(str(path))
        for name, obj in (("primary-job.json", full_job), ("primary-output.json", dict(outputs))):
            with bag.write_bag_file(ro, f"workflow/{name}") as fh:
                fh.write(json.dumps(builder.in_bag(obj), indent=4) + "\n")
        if builder.external:
            (Path(ro.folder) / PANOSC_DIR).mkdir(parents=True, exist_ok=True)
            with bag.write_bag_file(ro, f"{PANOSC_DIR}/external.json") as fh:
                fh.write(json.dumps(builder.external, indent=1))
        if target.exists():
            target.rmdir()  # only an empty folder is replaced
        bag.close_ro(ro, str(target))
    finally:
        bag.close_ro(ro)  # removes the working folder if anything failed
    return target


def _write_prov(doc, builder: _ProvBuilder, packed: Mapping, main: Mapping, full_job: Mapping, outputs: Mapping,
                log_text: str, batch_system: str, run_id: str, user_name: str) -> None:
    """One ``wfprov:WorkflowRun`` and one ``wfprov:ProcessRun`` per step, wired by the workflow."""
    steps = [s for s in main.get("steps", [])] if main.get("class") == "Workflow" else []
    step_names = [short_id(s["id"]) for s in steps]
    jobs = steps_from_log(log_text, step_names, step_aliases(packed))
    if batch_system == "slurm":
        slurm_ids([a for j in jobs.values() for a in j.jobs])
        for j in jobs.values():
            j.slurm_ids = [a["slurm_job_id"] for a in j.jobs if "slurm_job_id" in a]

    engine_label = f"Toil {_version('toil')} (cwltool {_version('cwltool')})"
    q = doc.valid_qualified_name
    user = doc.agent(f"id:{uuid.uuid4()}", {"prov:type": q("prov:Person"), "foaf:name": user_name})
    engine = doc.agent(f"id:{uuid.uuid4()}", [("prov:type", q("prov:SoftwareAgent")),
                                             ("prov:type", q("wfprov:WorkflowEngine")), ("prov:label", engine_label)])
    times = [t for j in jobs.values() for t in (j.started, j.ended) if t]
    log_times = [t for t in (_ts(m.group(1)) for m in re.finditer(r"^\[([^\]]+)\]", ANSI.sub("", log_text), re.M))
                 if t]
    # the run starts with the first line Toil logged (the killed run's, for a restart)
    start = min([*log_times[:1], *times], default=dt.datetime.now(dt.timezone.utc))
    end = max(times) if times else start
    doc.wasStartedBy(engine, None, user, start)
    run = doc.activity(run_id, start, end, {"prov:type": q("wfprov:WorkflowRun"),
                                            "prov:label": "Run of workflow/packed.cwl#main",
                                            "panosc:batchSystem": batch_system})
    doc.wasAssociatedWith(run, engine, "wf:main")
    doc.wasStartedBy(run, None, engine, start)
    doc.entity("wf:main", [("prov:type", q("wfdesc:Workflow")), ("prov:type", q("prov:Plan")),
                           ("prov:label", "Prospective provenance")])
    for name in step_names:
        doc.entity(f"wf:main/{name}", [("prov:type", q("wfdesc:Process")), ("prov:type", q("prov:Plan"))])

    values: dict[str, object] = {}  # "#main/x" or "#main/step/out" -> entity
    for name, val in full_job.items():
        ent = builder.value(val)
        if ent is not None:
            values[f"main/{name}"] = ent
            doc.used(run, ent, start, other_attributes={"prov:role": q(f"wf:main/{name}")})
    out_of_source = {}
    for o in main.get("outputs", []):
        src = o.get("outputSource")
        src = src[0] if isinstance(src, list) and len(src) == 1 else src
        if isinstance(src, str):
            out_of_source[fragment(src)] = short_id(o["id"])

    never = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    order = sorted(steps, key=lambda s: (jobs.get(short_id(s["id"]), ToilJob("", "")).started or never))
    activities = []
    for s in order:
        name = short_id(s["id"])
        j = jobs.get(name, ToilJob(name, name))
        attrs = {"prov:type": q("wfprov:ProcessRun"), "prov:label": f"Run of workflow/packed.cwl#main/{name}",
                 "panosc:software": json.dumps(declared_software(packed, name), sort_keys=True),
                 "panosc:toilJobName": j.name}
        if j.batch_ids:
            attrs["panosc:batchJobIds"] = ",".join(j.batch_ids)
        if j.slurm_ids:
            attrs["panosc:slurmJobIds"] = ",".join(j.slurm_ids)
        if len(j.jobs) > 1:  # a sub-workflow or scatter: every Toil job it ran, with its times
            attrs["panosc:toilJobs"] = json.dumps(j.jobs)
        act = doc.activity(f"id:{uuid.uuid4()}", j.started, j.ended, attrs)
        doc.wasAssociatedWith(act, engine, f"wf:main/{name}")
        doc.wasStartedBy(act, None, run, j.started)
        activities.append((s, name, j, act))
        for out in s.get("out", []):
            oid = fragment(out if isinstance(out, str) else out["id"])
            port = oid.split("/")[-1]
            wf_out = out_of_source.get(oid)
            val = outputs.get(wf_out) if wf_out else {"class": "File", "basename": port}
            ent = builder.value(val) if val is not None else None
            if ent is not None:
                values[oid] = ent
                doc.wasGeneratedBy(ent, act, j.ended, other_attributes={"prov:role": q(f"wf:main/{name}/{port}")})
        doc.wasEndedBy(act, None, run, j.ended)
    # inputs only once every step's outputs exist: steps that start within the same logged second
    # (a fast step and its consumer) may be in either order above
    for s, name, j, act in activities:
        for inp in s.get("in", []):
            src = inp.get("source")
            srcs = src if isinstance(src, list) else [src] if src else []
            port = short_id(inp["id"])
            for one in srcs:
                ent = values.get(fragment(one))
                if ent is not None:
                    doc.used(act, ent, j.started, other_attributes={"prov:role": q(f"wf:main/{name}/{port}")})
    for src, out_name in out_of_source.items():
        ent = values.get(src)
        if ent is not None:
            doc.wasGeneratedBy(ent, run, end, other_attributes={"prov:role": q(f"wf:main/primary/{out_name}")})
    doc.wasEndedBy(run, None, engine, end)
