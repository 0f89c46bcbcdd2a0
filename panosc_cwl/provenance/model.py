"""The run a bundle records, as data: :class:`RunRecord` with its :class:`StepRun` steps and
:class:`Artifact` inputs/outputs, read from CWLProv PROV-JSON (:func:`run_from_prov`,
:func:`load_run`), the packed workflow's steps and software, and a readable summary.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from ._util import as_list, literal, records, short_id
from .bundle import PANOSC_DIR, PROV_JSON, BundleError, check_bundle, load_packed, nested_provs


def _types(attrs: Mapping) -> set[str]:
    t = attrs.get("prov:type", [])
    return {str(literal(x)) for x in as_list(t)}


@dataclass
class Artifact:
    """One input or output of a step or run: a file (with checksum) or a value."""

    role: str
    key: str
    basename: str | None = None
    sha1: str | None = None
    size: int | None = None
    value: object = None
    members: list["Artifact"] = field(default_factory=list)

    def label(self) -> str:
        if self.members:
            return "[" + ", ".join(m.label() for m in self.members) + "]"
        if self.basename or self.sha1:
            return f"{self.basename or '?'} sha1:{self.sha1 or 'unknown'}"
        return json.dumps(self.value)


@dataclass
class StepRun:
    """One workflow step as it ran (a ``wfprov:ProcessRun``)."""

    name: str
    activity: str
    started: str | None
    ended: str | None
    software: dict[str, str] = field(default_factory=dict)
    inputs: list[Artifact] = field(default_factory=list)
    outputs: list[Artifact] = field(default_factory=list)
    batch_job_ids: list[str] = field(default_factory=list)
    slurm_job_ids: list[str] = field(default_factory=list)
    tool: str | None = None
    nested_prov: str | None = None  # cwltool keeps a sub-workflow's PROV in its own document


@dataclass
class RunRecord:
    """What a bundle says about one run: who, when, which workflow, which steps, which data."""

    run_id: str
    engine: str
    user: str | None
    started: str | None
    ended: str | None
    workflow: str
    steps: list[StepRun]
    inputs: list[Artifact]
    outputs: list[Artifact]
    external: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def run_from_prov(prov: Mapping, packed: Mapping | None = None, nested: Mapping[str, Mapping] | None = None
                  ) -> RunRecord:
    """Read a CWLProv PROV-JSON document (cwltool's, or Toil's once completed) into a RunRecord.

    ``nested`` (file name -> PROV-JSON) holds the documents cwltool writes for sub-workflows;
    their steps are listed as ``<step>/<sub-step>`` right after the step that ran them."""
    ents: dict[str, dict] = {}
    general = {}
    members: dict[str, list[str]] = {}
    # entities are shared between a run's documents: index them over all of them
    for doc in [prov, *(nested or {}).values()]:
        for eid, attrs in records(doc, "entity").items():
            merged: dict = ents.setdefault(eid, {})
            for a in as_list(attrs):
                merged.update(a)
        for r in records(doc, "specializationOf").values():
            for x in as_list(r):
                general[x["prov:specificEntity"]] = x["prov:generalEntity"]
        for r in records(doc, "hadMember").values():
            for x in as_list(r):
                if x["prov:entity"] not in members.get(x["prov:collection"], []):
                    members.setdefault(x["prov:collection"], []).append(x["prov:entity"])

    def artifact(eid: str, role: str) -> Artifact:
        attrs = ents.get(eid, {})
        if eid in members:
            return Artifact(role, eid, members=[artifact(m, role) for m in members[eid]])
        data = eid if eid.startswith("data:") else general.get(eid, "")
        sha1 = data[5:] if data.startswith("data:") else attrs.get("panosc:sha1")
        if "prov:value" in attrs and "cwlprov:basename" not in attrs:
            return Artifact(role, eid, value=literal(attrs["prov:value"]))
        if eid == "cwlprov:None":
            return Artifact(role, eid, value=None)
        size = attrs.get("panosc:size")
        return Artifact(role, sha1 and f"data:{sha1}" or eid, basename=literal(attrs.get("cwlprov:basename")),
                        sha1=literal(sha1), size=literal(size))

    acts: dict[str, dict] = {}
    for aid, attrs in records(prov, "activity").items():
        merged = {}
        for a in as_list(attrs):
            merged.update(a)
        acts[aid] = merged
    started = {x["prov:activity"]: x.get("prov:time") for r in records(prov, "wasStartedBy").values() for x in as_list(r)}
    ended = {x["prov:activity"]: x.get("prov:time") for r in records(prov, "wasEndedBy").values() for x in as_list(r)}
    used: dict[str, list[Artifact]] = {}
    for r in records(prov, "used").values():
        for x in as_list(r):
            role = str(literal(x.get("prov:role", "")))
            used.setdefault(x["prov:activity"], []).append(artifact(x["prov:entity"], role))
    gen: dict[str, list[Artifact]] = {}
    for r in records(prov, "wasGeneratedBy").values():
        for x in as_list(r):
            role = str(literal(x.get("prov:role", "")))
            gen.setdefault(x.get("prov:activity", ""), []).append(artifact(x["prov:entity"], role))

    engine, user = "unknown", None
    for aid, attrs in records(prov, "agent").items():
        for a in as_list(attrs):
            if "wfprov:WorkflowEngine" in _types(a):
                engine = str(literal(a.get("prov:label", engine)))
            elif a.get("foaf:name") or a.get("prov:label"):
                user = str(literal(a.get("foaf:name") or a.get("prov:label")))
    run_id, wf_label = "", ""
    steps: list[StepRun] = []
    for aid, attrs in acts.items():
        types = _types(attrs)
        label = str(literal(attrs.get("prov:label", "")))
        if "wfprov:WorkflowRun" in types and not run_id:
            run_id, wf_label = aid, label
        elif "wfprov:ProcessRun" in types:
            name = label.rsplit("#", 1)[-1].split("/")[-1] if "#" in label else label
            sw = attrs.get("panosc:software")
            sub = [str(literal(x)).split(":", 1)[-1] for x in as_list(attrs.get("prov:has_provenance", []))]
            steps.append(StepRun(
                nested_prov=next((x for x in sub if x.endswith(".cwlprov.json")), None),
                name=name, activity=aid,
                started=literal(started.get(aid) or attrs.get("prov:startTime")),
                ended=literal(ended.get(aid) or attrs.get("prov:endTime")),
                software=json.loads(literal(sw)) if sw else {},
                inputs=used.get(aid, []), outputs=gen.get(aid, []),
                batch_job_ids=[s for s in str(literal(attrs.get("panosc:batchJobIds", ""))).split(",") if s],
                slurm_job_ids=[s for s in str(literal(attrs.get("panosc:slurmJobIds", ""))).split(",") if s],
            ))
    if not run_id:
        raise BundleError("no wfprov:WorkflowRun activity in the PROV document", field="bundle")
    if not steps:  # a single CommandLineTool: the run is its own (only) step
        a = acts[run_id]
        steps.append(StepRun("main", run_id, literal(started.get(run_id) or a.get("prov:startTime")),
                             literal(ended.get(run_id)), inputs=used.get(run_id, []), outputs=gen.get(run_id, [])))
    for s in list(steps):
        if s.nested_prov and nested and s.nested_prov in nested:
            inner = run_from_prov(nested[s.nested_prov], packed, nested)
            s.ended = s.ended or inner.ended
            s.outputs = s.outputs or inner.outputs
            for sub_step in inner.steps:
                sub_step.name = f"{s.name}/{sub_step.name}"
                steps.append(sub_step)
    steps.sort(key=lambda s: (s.started or "", s.ended or ""))
    if packed is not None:
        tools = step_tools(packed)
        for s in steps:
            s.tool = tools.get(re.sub(r"_\d+$", "", s.name.split("/")[-1]), s.tool)
            if not s.software:
                s.software = declared_software(packed, s.name)
    run_outputs = [a for a in gen.get(run_id, [])]
    return RunRecord(
        run_id=run_id, engine=engine, user=user,
        started=literal(started.get(run_id) or acts[run_id].get("prov:startTime")),
        ended=literal(ended.get(run_id)), workflow=wf_label.replace("Run of ", ""), steps=steps,
        inputs=[a for a in used.get(run_id, []) if a.role.count("/") <= 1], outputs=run_outputs,
    )



# ------------------------------------------------------------------ packed workflow helpers
def processes(packed: Mapping) -> list[dict]:
    """Every process of a packed workflow (its ``$graph``, or the one process)."""
    return list(packed.get("$graph", [packed]))


def main_process(packed: Mapping) -> dict:
    for p in processes(packed):
        if p.get("id") in ("#main", "main") or str(p.get("id", "")).endswith("#main"):
            return p
    return processes(packed)[0]


def step_tools(packed: Mapping) -> dict[str, str]:
    """Step name -> the id of the tool it runs (``pyfai-integrate1d.cwl``); the main workflow's
    steps win over a sub-workflow's of the same name."""
    out: dict[str, str] = {}
    main = main_process(packed)
    for proc in [p for p in processes(packed) if p is not main] + [main]:
        for s in proc.get("steps", []) or []:
            if isinstance(s, dict):
                out[short_id(s["id"])] = str(s.get("run", "")).lstrip("#")
    return out


def _software_reqs(proc: Mapping) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for req in list(proc.get("hints", []) or []) + list(proc.get("requirements", []) or []):
        if isinstance(req, dict) and str(req.get("class", "")).endswith("SoftwareRequirement"):
            pkgs = req.get("packages", [])
            items = pkgs.items() if isinstance(pkgs, dict) else [(p.get("package"), p) for p in pkgs]
            for name, spec in items:
                out[str(name)] = list(spec.get("version", []) if isinstance(spec, dict) else [])
    return out


def installed_version(package: str) -> str | None:
    """Version of ``package`` installed where the tools ran (this environment), if any."""
    from importlib import metadata

    for name in (package, package.lower(), package.replace("_", "-")):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def declared_software(packed: Mapping, step: str) -> dict[str, str]:
    """Software of a step: each SoftwareRequirement package with the version installed here
    (falling back to the version range the CWL declares)."""
    procs = {str(p.get("id", "")).lstrip("#"): p for p in processes(packed)}
    main = main_process(packed)
    reqs = _software_reqs(main)
    tool = step_tools(packed).get(re.sub(r"_\d+$", "", step.split("/")[-1]))
    if tool and tool in procs:
        reqs.update(_software_reqs(procs[tool]))
    out = {}
    for name, spec in reqs.items():
        out[name] = installed_version(name) or ("declared " + ",".join(spec) if spec else "unknown")
    return out



def load_run(bundle: str | os.PathLike) -> RunRecord:
    """The run recorded in a bundle (cwltool's or a completed Toil one)."""
    b = check_bundle(bundle)
    try:
        prov = json.loads((b / PROV_JSON).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BundleError(f"{PROV_JSON} is not valid JSON ({exc})", field="bundle") from None
    rec = run_from_prov(prov, load_packed(b), nested_provs(b))
    ext = b / PANOSC_DIR / "external.json"
    if ext.exists():
        rec.external = json.loads(ext.read_text())
    return rec



# ------------------------------------------------------------------ summary
def summary_lines(rec: RunRecord) -> list[str]:
    """Readable summary for archivists: who, when, which workflow, steps, data with checksums."""
    lines = [f"run:      {rec.run_id}", f"workflow: {rec.workflow}", f"engine:   {rec.engine}",
             f"user:     {rec.user or 'not recorded'}", f"started:  {rec.started}", f"ended:    {rec.ended}",
             "inputs:"]
    lines += [f"  {a.role.rsplit('/', 1)[-1]}: {a.label()}" for a in rec.inputs]
    lines.append("steps (execution order):")
    for i, s in enumerate(rec.steps, 1):
        sw = ", ".join(f"{k} {v}" for k, v in s.software.items()) or "versions not recorded"
        lines.append(f"  {i}. {s.name} [{s.tool or '?'}] {s.started} -> {s.ended}; {sw}")
        if s.slurm_job_ids:
            lines.append(f"     SLURM job(s): {', '.join(s.slurm_job_ids)}")
        for a in s.inputs:
            if a.sha1 or a.members:
                lines.append(f"     in  {a.role.rsplit('/', 1)[-1]}: {a.label()}")
        for a in s.outputs:
            lines.append(f"     out {a.role.rsplit('/', 1)[-1]}: {a.label()}")
    lines.append("outputs:")
    lines += [f"  {a.role.rsplit('/', 1)[-1]}: {a.label()}" for a in rec.outputs]
    for e in rec.external:
        lines.append(f"referenced, not copied: {e.get('path')} sha1:{e['sha1']} ({e['size']} bytes)")
    return lines
