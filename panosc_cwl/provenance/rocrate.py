"""A Provenance Run Crate 0.5 (https://w3id.org/ro/wfrun/provenance/0.5) from a CWLProv bundle.

Written with the ``rocrate`` library. ``runcrate`` does this conversion itself but pins
``cwl-utils<0.41``, which breaks cwltool 3.3, so its layout is followed here instead:

- the packed workflow is the main ``ComputationalWorkflow``; each step a ``HowToStep`` whose
  ``workExample`` is the tool (``SoftwareApplication``); workflow and tools list their inputs and
  outputs as ``FormalParameter``s; each step input fed from a workflow input or another step's
  output, and each workflow output, is a ``ParameterConnection``;
- the run: an ``OrganizeAction`` of the engine (cwltool or Toil, with ``version`` and ``url``)
  whose ``result`` is the workflow's ``CreateAction`` and whose ``object`` is one ``ControlAction``
  per step, each pointing at the step (``instrument``) and its tool's ``CreateAction``(s);
- data: files kept in the bundle are copied under ``data/`` (original names), files above the
  bundle's size threshold are referenced by location; each has ``contentSize``, ``sha1`` and an
  ``encodingFormat`` (MIME type + EDAM IRI); values are ``PropertyValue``s. Every object and
  result is ``exampleOfWork`` of the parameter it was given to or made by.

The workflow structure is read from ``workflow/packed.cwl`` with ``cwl_utils.parser``; what ran
from the PROV (:func:`panosc_cwl.provenance.load_run`), so cwltool and Toil bundles give the same
crate shape.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

from .. import edam
from .. import provenance as pv
from ._util import fragment as _frag, literal, short_id as _short

PROFILE_VERSION = "0.5"
PROFILES = {  # id -> name
    f"https://w3id.org/ro/wfrun/process/{PROFILE_VERSION}": "Process Run Crate",
    f"https://w3id.org/ro/wfrun/workflow/{PROFILE_VERSION}": "Workflow Run Crate",
    f"https://w3id.org/ro/wfrun/provenance/{PROFILE_VERSION}": "Provenance Run Crate",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": "Workflow RO-Crate",
}
WFRUN = "https://w3id.org/ro/terms/workflow-run#"
#: the workflow-run terms we use, written into the crate's @context (resolving the remote context
#: https://w3id.org/ro/terms/workflow-run needs the network, which validators and readers may not have)
WFRUN_TERMS = {t: WFRUN + t for t in ("ParameterConnection", "connection", "sourceParameter", "targetParameter", "sha1")}
ENGINES = {  # engine name (as the PROV agent says) -> home page
    "cwltool": "https://github.com/common-workflow-language/cwltool",
    "toil": "https://github.com/DataBiosphere/toil",
}
#: roc-validator 0.13's shapes name these types bioschemas.org/X while the 1.3 context maps the short
#: names to bioschemas.org/terms/X: entities carry both IRIs so either reading finds them
BIOSCHEMAS_FP = "https://bioschemas.org/FormalParameter"
BIOSCHEMAS_WF = "https://bioschemas.org/ComputationalWorkflow"
WF_TYPES = ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo", BIOSCHEMAS_WF]
CWL_TYPES = {"File": "File", "Directory": "Dataset", "string": "Text", "int": "Integer", "long": "Integer",
             "float": "Float", "double": "Float", "boolean": "Boolean", "Any": "DataType"}
CWL_LANGUAGE_URL = "https://w3id.org/cwl/"


def _type_info(t) -> tuple[str, bool, bool]:
    """(schema.org additionalType, optional, array) of a cwl_utils type."""
    optional = array = False
    parts = t if isinstance(t, list) else [t]
    kinds = []
    for p in parts:
        if p == "null":
            optional = True
            continue
        name = getattr(p, "type_", None)
        if name == "array":
            array = True
            kinds.append(_type_info(p.items)[0])
        elif name == "enum":
            kinds.append("Text")
        elif name == "record":
            kinds.append("PropertyValue")
        else:
            kinds.append(CWL_TYPES.get(_short(str(p)), "DataType"))
    kinds = sorted(set(kinds))
    return (kinds[0] if len(kinds) == 1 else "DataType"), optional, array


def _formats(param) -> list[str]:
    fmt = getattr(param, "format", None)
    return [str(f) for f in (fmt if isinstance(fmt, list) else [fmt]) if f]


def _encoding(term_iris: list[str], name: str | None = None) -> list:
    """encodingFormat: the MIME type and the EDAM IRI(s)."""
    terms = [t for t in (edam.term_of(i) for i in term_iris) if t]
    if not terms and name and edam.by_suffix(name):
        terms = [edam.by_suffix(name).term]
    out: list = []
    for t in terms:
        f = edam.FORMATS[t]
        if f.mime not in out:
            out.append(f.mime)
        out.append({"@id": f.iri})
    return out


class _CrateBuilder:
    """Builds the crate; one instance per conversion."""

    def __init__(self, bundle: Path):
        from cwl_utils.parser import load_document_by_uri
        from rocrate.rocrate import ROCrate

        self.b = bundle
        self.rec = pv.load_run(bundle)
        self.packed = bundle / "workflow" / "packed.cwl"
        procs = load_document_by_uri(self.packed.resolve(), load_all=True)
        self.procs = {_frag(p.id): p for p in (procs if isinstance(procs, list) else [procs])}
        self.main = self.procs.get("main") or next(iter(self.procs.values()))
        self.crate = ROCrate(gen_preview=False)
        self.crate.metadata.extra_terms.update(WFRUN_TERMS)
        self.files: dict[str, object] = {}
        self.used_names: set[str] = set()
        self.counter = itertools.count(1)
        self.external = {e["sha1"]: e for e in self.rec.external}
        self.out_formats: dict[str, list[str]] = {}  # tool output id -> EDAM IRIs (for results)
        self.scratch: list[Path] = []  # temporary folders, removed once the crate is written
        self.tools: dict[str, object] = {}  # process fragment (pyfai-integrate1d.cwl) -> entity
        self.howto: dict[tuple[str, str], object] = {}  # (workflow fragment, step name) -> HowToStep

    # ---------------------------------------------------------------- plumbing
    def add(self, ident: str, props: dict):
        from rocrate.model.contextentity import ContextEntity

        return self.crate.add(ContextEntity(self.crate, ident, properties=props))

    def pid(self, uri: str) -> str:
        """A parameter / process id relative to packed.cwl: ``packed.cwl#main/frames``."""
        return f"packed.cwl#{_frag(uri)}"

    # ---------------------------------------------------------------- prospective part
    def params(self, proc, ptype: str, owner_frag: str) -> list:
        out = []
        for p in getattr(proc, ptype) or []:
            additional, optional, array = _type_info(p.type_)
            props = {"@type": ["FormalParameter", BIOSCHEMAS_FP], "name": _short(p.id), "additionalType": additional,
                     "conformsTo": {"@id": "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"}}
            desc = getattr(p, "doc", None) or getattr(p, "label", None)
            if desc:
                props["description"] = desc if isinstance(desc, str) else " ".join(desc)
            enc = _encoding(_formats(p))
            if enc:
                props["encodingFormat"] = enc
            props["valueRequired"] = not optional and getattr(p, "default", None) is None
            if array:
                props["multipleValues"] = True
            default = getattr(p, "default", None)
            if default is not None and not isinstance(default, (list, dict)) and not hasattr(default, "class_"):
                props["defaultValue"] = str(default)
            ident = f"packed.cwl#{owner_frag}/{_short(p.id)}"
            out.append(self.add(ident, props))
            if ptype == "outputs":
                self.out_formats[ident] = _formats(p)
        return out

    def tool_entity(self, tool_frag: str):
        if tool_frag in self.tools:
            return self.tools[tool_frag]
        ident = f"packed.cwl#{tool_frag}"
        proc = self.procs[tool_frag]
        nested = hasattr(proc, "steps")
        props = {"@type": WF_TYPES if nested else "SoftwareApplication",
                 "name": proc.label or tool_frag}
        if proc.doc:
            props["description"] = proc.doc if isinstance(proc.doc, str) else " ".join(proc.doc)
        ext = proc.extension_fields or {}
        if ext.get("https://schema.org/license"):
            props["license"] = {"@id": ext["https://schema.org/license"]}
        if nested:  # a sub-workflow is a File of the crate (RO-Crate 1.3): its part of packed.cwl, on its own
            import json
            import tempfile

            graph = json.loads(self.packed.read_text(encoding="utf-8")).get("$graph", [])
            part = next((p for p in graph if str(p.get("id", "")).lstrip("#") == tool_frag), {})
            tmp = Path(tempfile.mkdtemp(prefix="panosc-crate-")) / tool_frag
            self.scratch.append(tmp.parent)
            tmp.write_text(json.dumps({"cwlVersion": self.main.cwlVersion, **part}, indent=1), encoding="utf-8")
            tool = self.crate.add_file(tmp, f"workflow/{tool_frag}", properties=props)
        else:
            tool = self.add(ident, props)
        self.tools[tool_frag] = tool
        deps = []
        for req in list(proc.hints or []) + list(proc.requirements or []):
            if type(req).__name__ != "SoftwareRequirement":
                continue
            for pkg in req.packages:
                specs = list(pkg.specs or [])
                installed = pv.installed_version(pkg.package)
                dep_props = {"@type": "SoftwareApplication", "name": pkg.package}
                if installed:
                    dep_props["version"] = installed
                if pkg.version:
                    dep_props["description"] = "declared versions: " + ", ".join(pkg.version)
                if specs:
                    dep_props["url"] = specs[0]
                deps.append(self.add(specs[0] if specs else f"#software-{pkg.package}", dep_props))
        if deps:
            tool["softwareRequirements"] = deps
        from .. import __version__

        tool["version"] = __version__  # the tool definitions ship with panosc-cwl
        tool["url"] = ident  # its definition: this part of packed.cwl, in the crate
        tool["input"] = self.params(proc, "inputs", tool_frag)
        tool["output"] = self.params(proc, "outputs", tool_frag)
        if nested:
            tool["programmingLanguage"] = self.crate.mainEntity["programmingLanguage"]
            self.steps_of(proc, tool)
        return tool

    def steps_of(self, proc, wf_entity) -> None:
        wf_frag = _frag(proc.id)
        for pos, step in enumerate(proc.steps or []):
            tool_frag = _frag(step.run) if isinstance(step.run, str) else _frag(step.run.id)
            tool = self.tool_entity(tool_frag)
            props = {"@type": "HowToStep", "position": str(pos), "name": step.label or _short(step.id)}
            if step.doc:
                props["description"] = step.doc
            hs = self.add(self.pid(step.id), props)
            self.howto[(wf_frag, _short(step.id))] = hs
            hs["workExample"] = tool
            wf_entity.append_to("step", hs)
            wf_entity.append_to("hasPart", tool)
        self.connections(proc, wf_entity, wf_frag)

    def connections(self, proc, wf_entity, wf_frag: str) -> None:
        """ParameterConnections: workflow input / step output -> tool input; step output -> workflow output."""
        tool_of = {}
        for step in proc.steps or []:
            tool_of[_short(step.id)] = _frag(step.run) if isinstance(step.run, str) else _frag(step.run.id)

        def source_param(src: str) -> str:
            parts = _frag(src).split("/")  # main/frames or main/integrate/integrated
            if len(parts) >= 3 and parts[-2] in tool_of:
                return f"packed.cwl#{tool_of[parts[-2]]}/{parts[-1]}"
            return f"packed.cwl#{wf_frag}/{parts[-1]}"

        def connect(src_id: str, tgt_id: str, owner) -> None:
            src, tgt = self.crate.dereference(src_id), self.crate.dereference(tgt_id)
            if src is None or tgt is None:
                return
            c = self.add(f"#connection-{next(self.counter)}", {"@type": "ParameterConnection"})
            c["sourceParameter"], c["targetParameter"] = src, tgt
            owner.append_to("connection", c)

        for step in proc.steps or []:
            hs = self.crate.dereference(self.pid(step.id))
            for inp in step.in_ or []:
                sources = inp.source if isinstance(inp.source, list) else [inp.source] if inp.source else []
                for s in sources:
                    connect(source_param(s), f"packed.cwl#{tool_of[_short(step.id)]}/{_short(inp.id)}", hs)
        for out in proc.outputs or []:
            srcs = out.outputSource if isinstance(out.outputSource, list) else [out.outputSource] if out.outputSource else []
            for s in srcs:
                connect(source_param(s), f"packed.cwl#{wf_frag}/{_short(out.id)}", wf_entity)

    def workflow(self):
        wf = self.crate.add_workflow(self.packed, "packed.cwl", main=True, lang="cwl",
                                     lang_version=str(getattr(self.main, "cwlVersion", "") or "v1.2"), gen_cwl=False,
                                     properties={"@type": WF_TYPES})
        wf["name"] = self.main.label or self.rec.workflow
        if self.main.doc:
            wf["description"] = self.main.doc
        wf["encodingFormat"] = "application/x-yaml"  # packed CWL (JSON, a subset of YAML)
        ext = self.main.extension_fields or {}
        if ext.get("https://schema.org/license"):
            wf["license"] = {"@id": ext["https://schema.org/license"]}
        wf["input"] = self.params(self.main, "inputs", _frag(self.main.id))
        wf["output"] = self.params(self.main, "outputs", _frag(self.main.id))
        if hasattr(self.main, "steps"):
            self.steps_of(self.main, wf)
        return wf

    # ---------------------------------------------------------------- retrospective part
    def data_entity(self, a: pv.Artifact, formats: list[str]):
        if a.sha1 in self.files:
            return self.files[a.sha1]
        name = a.basename or a.sha1
        props = {"name": name, "sha1": a.sha1, "identifier": f"urn:hash::sha1:{a.sha1}"}
        enc = _encoding(formats, name)
        if enc:
            props["encodingFormat"] = enc
        src = self.b / "data" / a.sha1[:2] / a.sha1
        if src.exists():
            dest = name if name not in self.used_names else f"{a.sha1[:8]}-{name}"
            self.used_names.add(dest)
            props["contentSize"] = str(src.stat().st_size)
            f = self.crate.add_file(src, f"data/{dest}", properties=props)
        else:
            ext = self.external.get(a.sha1, {})
            loc = ext.get("path") or f"urn:hash::sha1:{a.sha1}"
            if ext.get("size") is not None:
                props["contentSize"] = str(ext["size"])
            props["description"] = "kept outside the crate (above the provenance size threshold); sha1 identifies it"
            f = self.crate.add_file(Path(loc).as_uri() if loc.startswith("/") else loc, properties=props)
        self.files[a.sha1] = f
        return f

    def values(self, arts: list[pv.Artifact], param_of) -> list:
        """Entities for artifacts; ``param_of(artifact)`` -> FormalParameter id (or None)."""
        out = []
        for a in arts:
            pid = param_of(a)
            param = self.crate.dereference(pid) if pid else None
            fmts = self.out_formats.get(pid, []) if pid else []
            leaves = a.members if a.members else [a]
            if any(m.sha1 for m in leaves):
                ents = [self.data_entity(m, fmts) for m in leaves if m.sha1]
            elif a.members or a.value is not None:
                value = [str(m.value) for m in a.members] if a.members else str(a.value)
                ents = [self.add(f"#pv-{next(self.counter)}-{a.role.rsplit('/', 1)[-1]}", {
                    "@type": "PropertyValue", "name": a.role.rsplit("/", 1)[-1], "value": value})]
            else:
                continue  # optional input not given
            for e in ents:
                if param is not None:
                    e.append_to("exampleOfWork", param)
                out.append(e)
        return out

    def run(self, wf) -> None:
        rec = self.rec
        main_frag = _frag(self.main.id)
        engine_name, _, engine_version = (rec.engine or "unknown").partition(" ")
        key = engine_name.lower().split("-")[0]
        engine = self.add("#engine", {
            "@type": "SoftwareApplication", "name": engine_name,
            "version": engine_version or pv.installed_version(key) or "unknown",
            "url": ENGINES.get(key, "https://www.commonwl.org/"),
            "description": "workflow engine that ran the steps"})
        agent = self.add("#agent", {"@type": "Person", "name": rec.user or "unknown"})

        def wf_param(a: pv.Artifact) -> str:
            return f"packed.cwl#{main_frag}/{a.role.rsplit('/', 1)[-1]}"

        wf_action = self.add("#run", {"@type": "CreateAction", "name": f"Run of {wf['name']}",
                                      "startTime": rec.started, "endTime": rec.ended})
        wf_action["instrument"] = wf
        wf_action["agent"] = agent
        wf_action["object"] = self.values(rec.inputs, wf_param)
        organize = self.add("#engine-run", {"@type": "OrganizeAction", "name": f"Run of {engine_name}",
                                            "startTime": rec.started, "endTime": rec.ended})
        organize["instrument"] = engine
        organize["agent"] = agent
        organize["result"] = wf_action
        tools = pv.step_tools(pv.load_packed(self.b) or {})
        controls: dict[str, object] = {}
        toil_jobs = self.toil_jobs()
        for s in rec.steps:
            step_name = re.sub(r"_\d+$", "", s.name.split("/")[-1])
            tool_frag = s.tool or tools.get(step_name)
            tool = self.tools.get(tool_frag) if tool_frag else None
            parent = s.name.split("/")[0] if "/" in s.name else None
            owner_frag = tools.get(re.sub(r"_\d+$", "", parent)) if parent else main_frag
            how_to = self.howto.get((owner_frag, step_name))

            def tool_param(a: pv.Artifact, tool_frag=tool_frag) -> str | None:
                return f"packed.cwl#{tool_frag}/{a.role.rsplit('/', 1)[-1]}" if tool_frag else None

            act = self.add(f"#step-run-{next(self.counter)}-{s.name.replace('/', '-')}", {
                "@type": "CreateAction", "name": f"Run of step {s.name}", "startTime": s.started, "endTime": s.ended})
            if tool is not None:
                act["instrument"] = tool
            act["agent"] = agent
            act["object"] = self.values(s.inputs, tool_param)
            act["result"] = self.values(s.outputs, tool_param)
            for r in act["result"]:
                if s.ended and "dateCreated" not in r:
                    r["dateCreated"] = s.ended
            if s.slurm_job_ids:
                act["description"] = "SLURM job(s) " + ", ".join(s.slurm_job_ids)
            key = f"{owner_frag}/{step_name}"
            if key not in controls:
                ctl = self.add(f"#control-{next(self.counter)}-{step_name}", {
                    "@type": "ControlAction", "name": f"orchestrate {step_name}"})
                if how_to is not None:
                    ctl["instrument"] = how_to
                controls[key] = ctl
                organize.append_to("object", ctl)
            controls[key].append_to("object", act)
            for job in toil_jobs.get(s.activity, []):
                self.toil_job(job, s, agent, organize, controls)

        # workflow outputs: the same file entities the steps made, now also examples of the wf output
        for pid in [f"packed.cwl#{main_frag}/{_short(o.id)}" for o in self.main.outputs or []]:
            src = next((c["sourceParameter"].id for c in self.crate.get_entities()
                        if "ParameterConnection" in _types(c) and c["targetParameter"].id == pid), None)
            if src in self.out_formats:
                self.out_formats.setdefault(pid, self.out_formats[src])
        wf_action["result"] = self.values(rec.outputs, wf_param)
        self.crate.root_dataset["mentions"] = [wf_action]

    def toil_jobs(self) -> dict[str, list[dict]]:
        """Activity id -> the Toil jobs run under it (``panosc:toilJobs``, written by provenance.toil):
        Toil's PROV has no activity of its own for a sub-workflow's or a scatter's jobs."""
        import json

        prov = json.loads((self.b / pv.PROV_JSON).read_text(encoding="utf-8"))
        out: dict[str, list[dict]] = {}
        for aid, attrs in (prov.get("activity") or {}).items():
            for a in attrs if isinstance(attrs, list) else [attrs]:
                jobs = literal(a.get("panosc:toilJobs"))
                if jobs:
                    out[aid] = json.loads(jobs) if isinstance(jobs, str) else jobs
        return out

    def toil_job(self, job: dict, step: pv.StepRun, agent, organize, controls: dict) -> None:
        """A CreateAction for one Toil job of a sub-workflow step (``detector-calibration.1.nb-correct``):
        its tool, times and batch id; Toil records its files under the top-level step only."""
        tool_id = str(job.get("name", "")).rsplit(".", 1)[-1]
        tool_frag = next((f for f in self.tools if f.rsplit(".", 1)[0] == tool_id), None)
        if tool_frag is None or tool_frag == step.tool:
            return
        act = self.add(f"#toil-job-{next(self.counter)}-{tool_id}", {
            "@type": "CreateAction", "name": f"Run of Toil job {job.get('name')}",
            "startTime": _iso(job.get("issued")), "endTime": _iso(job.get("completed")),
            "description": f"Toil batch job {job.get('batch_id')}, run for step {step.name}; Toil records its "
                           f"files under that step (see its CreateAction)"})
        act["instrument"] = self.tools[tool_frag]
        act["agent"] = agent
        how_to = next(((k, h) for k, h in self.howto.items() if h["workExample"] is self.tools[tool_frag]), None)
        if how_to is None:
            return
        key = "/".join(how_to[0])
        if key not in controls:
            ctl = self.add(f"#control-{next(self.counter)}-{how_to[0][1]}", {
                "@type": "ControlAction", "name": f"orchestrate {how_to[0][1]}"})
            ctl["instrument"] = how_to[1]
            controls[key] = ctl
            organize.append_to("object", ctl)
        controls[key].append_to("object", act)

    def build(self):
        root = self.crate.root_dataset
        profiles = []
        for pid, name in PROFILES.items():
            profiles.append(self.add(pid, {"@type": ["CreativeWork", "Profile"], "name": name,
                                           "version": pid.rsplit("/", 1)[-1]}))
        root["conformsTo"] = profiles
        wf = self.workflow()
        root["name"] = f"Run of {wf['name']}"
        root["description"] = (f"Provenance Run Crate of one {self.rec.engine.split(' ')[0]} run of the CWL workflow "
                               f"'{wf['name']}', converted by panosc-cwl from its CWLProv bundle: the workflow, "
                               "its steps and tools, every tool run with the files it read and wrote.")
        root["license"] = wf.get("license") or {"@id": "https://spdx.org/licenses/MIT"}
        self.run(wf)
        return self.crate


def _iso(t: str | None) -> str | None:
    """``2026-12-03 14:22:43+00:00`` (Toil's log) -> ISO 8601 with a ``T``."""
    return t.replace(" ", "T", 1) if isinstance(t, str) else t


def _types(entity) -> list[str]:
    t = entity.type
    return t if isinstance(t, list) else [t]


def to_rocrate(bundle: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the crate into folder ``out`` (or a zip file if ``out`` ends in .zip)."""
    import shutil

    b = pv.check_bundle(bundle)
    builder = _CrateBuilder(b)
    try:
        crate = builder.build()
        target = Path(out)
        if target.suffix == ".zip":
            crate.write_zip(target)
        else:
            crate.write(target)
    finally:
        for folder in builder.scratch:
            shutil.rmtree(folder, ignore_errors=True)
    return target
