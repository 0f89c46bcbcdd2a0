"""Complete the research object ``toil-cwl-runner --provenance`` writes (Toil 9.6).

Toil 9.6 writes the CWLProv bag layout but its PROV holds one activity (the workflow run) with
the inputs and outputs of the *last* step only, its ``primary-job.json`` is that step's job, the
workflow's input files are not in ``data/``, ``Payload-Oxum`` is ``0.0`` and the tag manifests
list some files twice with different checksums: the bag Toil writes does not verify.

Per-step information comes from what Toil itself reports, nothing is guessed:

- the runner log: ``Issued job 'CWLJob' <wf>.<step>.<tool> ... batch system ID: N`` (start) and
  ``CWL step complete: <wf>.<step>.<tool>`` (end), each line time-stamped by Toil;
- the workflow's wiring (``workflow/packed.cwl``): which workflow input or step output feeds
  each step input;
- the job file and Toil's output object: the files with their SHA-1 checksums;
- on SLURM, ``scontrol show job`` maps Toil's batch ids to SLURM job ids through the job name
  Toil gives every job (``toil_job_<batch id>_<name>``).

The PROV is then rebuilt in cwltool's vocabulary with the ``prov`` library (one
``wfprov:ProcessRun`` per step, ``used``/``wasGeneratedBy`` with checksums) and the bag is
re-hashed, so the same reader and verifier accept it. Toil's own files are kept beside it
(``*toil-original*``) for transparency.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .. import provenance as pv
from ._util import literal
from ..runners import ANSI, cwl_file_objects

ISSUED = re.compile(r"^\[([^\]]+)\].*Issued job '\w+' (\S+) kind-\S+ v\d+ with job batch system ID: (\d+)")
COMPLETE = re.compile(r"^\[([^\]]+)\].*CWL step complete: (\S+)")
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
    procs = {str(p.get("id", "")).lstrip("#"): p for p in pv.processes(packed)}
    main = pv.main_process(packed)
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
        name = _id(st["id"]).split("/")[-1]
        run = str(st.get("run", "")).lstrip("#")
        alias[strip(run)] = name
        if run in procs and procs[run].get("class") == "Workflow":
            walk(procs[run], name)
    for st in main.get("steps", []) or []:
        name = _id(st["id"]).split("/")[-1]
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


def steps_from_log(log_text: str, steps: list[str], alias: Mapping[str, str] | None = None) -> dict[str, ToilJob]:
    """Per-step start/end times and batch ids from the toil-cwl-runner log (jobs of a
    sub-workflow or a scatter are counted under the top-level step that ran them)."""
    jobs: dict[str, ToilJob] = {}
    for line in log_text.splitlines():
        line = ANSI.sub("", line)
        m = ISSUED.search(line)
        if m:
            step = _step_of(m.group(2), steps, alias)
            if step:
                j = jobs.setdefault(step, ToilJob(m.group(2), step))
                t = _ts(m.group(1))
                j.started = min(filter(None, [j.started, t]), default=None)
                j.batch_ids.append(m.group(3))
                j.jobs.append({"name": m.group(2), "batch_id": m.group(3), "issued": str(t)})
            continue
        m = COMPLETE.search(line)
        if m:
            step = _step_of(m.group(2), steps, alias)
            if step:
                j = jobs.setdefault(step, ToilJob(m.group(2), step))
                t = _ts(m.group(1))
                j.ended = max(filter(None, [j.ended, t]), default=None)
                for sub in j.jobs:
                    if sub["name"] == m.group(2) and "completed" not in sub:
                        sub["completed"] = str(t)
                        break
    return jobs


def slurm_ids(batch_ids: list[str], since: dt.datetime | None) -> dict[str, str]:
    """Toil batch id -> SLURM job id, from the job names Toil gives its SLURM jobs."""
    try:
        out = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True,
                             timeout=15).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[str, tuple[str, str]] = {}
    for line in out.splitlines():
        m = re.search(r"JobId=(\d+) JobName=toil_job_(\d+)_", line)
        sub = re.search(r"SubmitTime=(\S+)", line)
        if not m or m.group(2) not in batch_ids:
            continue
        submitted = sub.group(1) if sub else ""
        if since is not None and submitted:
            try:
                local = dt.datetime.fromisoformat(submitted).astimezone(dt.timezone.utc)
                if local < since - dt.timedelta(seconds=5):
                    continue
            except ValueError:
                pass
        prev = found.get(m.group(2))
        if prev is None or submitted > prev[1]:
            found[m.group(2)] = (m.group(1), submitted)
    return {k: v[0] for k, v in found.items()}


def _id(ref: str) -> str:
    return str(ref).rsplit("#", 1)[-1]


class _ProvBuilder:
    """cwltool-style CWLProv records, written with the prov library."""

    def __init__(self, doc, bundle: Path, reference_above: int | None):
        self.doc, self.bundle, self.reference_above = doc, bundle, reference_above
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
                ent = doc.entity(f"id:{uuid.uuid4()}", {"prov:type": q("wfprov:Artifact"), "cwlprov:basename": base,
                                                           "prov:label": "intermediate file, not kept by Toil"})
                return ent
            key = (sha, base)
            if key in self.file_entities:
                return self.file_entities[key]
            self._keep(val, sha)
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

    def _keep(self, val: Mapping, sha: str) -> None:
        """Put a file into ``data/`` as cwltool does, or reference it when it is large."""
        target = self.bundle / "data" / sha[:2] / sha
        if target.exists() and not target.is_symlink():
            return
        src = val.get("path") or pv.uri_path(str(val.get("location", "")))
        if not src or not Path(src).is_file():
            return
        size = Path(src).stat().st_size
        if self.reference_above is not None and size > self.reference_above:
            self.external.append({"bag_path": target.relative_to(self.bundle).as_posix(), "sha1": sha,
                                  "size": size, "path": str(src), "locations": [str(src)]})
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)


def _resolve_links(b: Path) -> None:
    """Toil leaves input files in ``data/`` as symlinks into its job store, which it deletes at
    the end: copy what still resolves, drop the dangling links (the inputs are re-added later)."""
    for p in (b / "data").rglob("*") if (b / "data").is_dir() else []:
        if p.is_symlink():
            real = p.resolve()
            p.unlink()
            if real.is_file():
                shutil.copyfile(real, p)
    for d in sorted((b / "data").glob("*"), reverse=True) if (b / "data").is_dir() else []:
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()


def _with_defaults(job: Mapping, main: Mapping) -> dict:
    out = dict(job)
    for inp in main.get("inputs", []):
        name = _id(inp["id"]).split("/")[-1]
        if name not in out and "default" in inp:
            out[name] = inp["default"]
    return out


def complete_toil_bundle(bundle: str | Path, *, job: Mapping, outputs: Mapping, log_text: str,
                         batch_system: str = "single_machine", reference_above: int | None = pv.DEFAULT_REFERENCE_ABOVE
                         ) -> Path:
    """Rebuild the PROV of a Toil bundle with one activity per step; fix the job and the bag."""
    from prov.model import ProvDocument

    b = pv.check_bundle(bundle)
    packed = pv.load_packed(b)
    if packed is None:
        raise pv.BundleError("workflow/packed.cwl missing from the Toil bundle", field="bundle")
    main = pv.main_process(packed)
    original = json.loads((b / pv.PROV_JSON).read_text())
    run_id = next(iter(original.get("activity", {})), f"id:{uuid.uuid4()}")
    run_start = _ts(str(literal(next(iter(original.get("activity", {}).values()), {}).get("prov:startTime", ""))))
    _resolve_links(b)
    shutil.copyfile(b / pv.PROV_JSON, b / "metadata/provenance/toil-original.cwlprov.json")
    if (b / "workflow/primary-job.json").exists():
        shutil.copyfile(b / "workflow/primary-job.json", b / "workflow/toil-original-job.json")
    (b / "metadata/logs").mkdir(parents=True, exist_ok=True)
    (b / "metadata/logs/toil-runner.log").write_text(log_text, encoding="utf-8")

    doc = ProvDocument()
    for prefix, uri in original.get("prefix", {}).items():
        doc.add_namespace(prefix, uri)
    doc.add_namespace("panosc", pv.PANOSC_NS)
    steps = [s for s in main.get("steps", [])] if main.get("class") == "Workflow" else []
    step_names = [_id(s["id"]).split("/")[-1] for s in steps]
    jobs = steps_from_log(log_text, step_names, step_aliases(packed))
    if batch_system == "slurm":
        all_ids = [i for j in jobs.values() for i in j.batch_ids]
        mapping = slurm_ids(all_ids, min([t for j in jobs.values() for t in [j.started] if t], default=None))
        for j in jobs.values():
            j.slurm_ids = [mapping[i] for i in j.batch_ids if i in mapping]

    from importlib import metadata

    engine_label = f"Toil {metadata.version('toil')} (cwltool {metadata.version('cwltool')})"
    q = doc.valid_qualified_name
    user = doc.agent(f"id:{uuid.uuid4()}", {"prov:type": q("prov:Person"), "foaf:name": getpass.getuser()})
    engine = doc.agent(f"id:{uuid.uuid4()}", [("prov:type", q("prov:SoftwareAgent")),
                                             ("prov:type", q("wfprov:WorkflowEngine")), ("prov:label", engine_label)])
    times = [t for j in jobs.values() for t in (j.started, j.ended) if t]
    # Toil stamps its WorkflowRun when it writes the bundle, after the steps ran: take the earliest
    start = min([t for t in [run_start, *times] if t], default=dt.datetime.now(dt.timezone.utc))
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

    builder = _ProvBuilder(doc, b, reference_above)
    full_job = _with_defaults(pv.job_with_checksums(json.loads(json.dumps(dict(job)))), main)
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
            out_of_source[_id(src)] = _id(o["id"]).split("/")[-1]

    order = sorted(steps, key=lambda s: (jobs.get(_id(s["id"]).split("/")[-1], ToilJob("", "")).started
                                         or dt.datetime.max.replace(tzinfo=dt.timezone.utc)))
    activities = []
    for s in order:
        name = _id(s["id"]).split("/")[-1]
        j = jobs.get(name, ToilJob(name, name))
        attrs = {"prov:type": q("wfprov:ProcessRun"), "prov:label": f"Run of workflow/packed.cwl#main/{name}",
                 "panosc:software": json.dumps(pv.declared_software(packed, name), sort_keys=True),
                 "panosc:toilJobName": j.name}
        if j.batch_ids:
            attrs["panosc:batchJobIds"] = ",".join(j.batch_ids)
        if j.slurm_ids:
            attrs["panosc:slurmJobIds"] = ",".join(j.slurm_ids)
            ids = dict(zip(j.batch_ids, j.slurm_ids)) if len(j.batch_ids) == len(j.slurm_ids) else {}
            for sub in j.jobs:
                if sub["batch_id"] in ids:
                    sub["slurm_job_id"] = ids[sub["batch_id"]]
        if len(j.jobs) > 1:  # a sub-workflow or scatter: every Toil job it ran, with its times
            attrs["panosc:toilJobs"] = json.dumps(j.jobs)
        act = doc.activity(f"id:{uuid.uuid4()}", j.started, j.ended, attrs)
        doc.wasAssociatedWith(act, engine, f"wf:main/{name}")
        doc.wasStartedBy(act, None, run, j.started)
        activities.append((s, name, j, act))
        for out in s.get("out", []):
            oid = _id(out if isinstance(out, str) else out["id"])
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
            port = _id(inp["id"]).split("/")[-1]
            for one in srcs:
                ent = values.get(_id(one))
                if ent is not None:
                    doc.used(act, ent, j.started, other_attributes={"prov:role": q(f"wf:main/{name}/{port}")})
    for src, out_name in out_of_source.items():
        ent = values.get(src)
        if ent is not None:
            doc.wasGeneratedBy(ent, run, end, other_attributes={"prov:role": q(f"wf:main/primary/{out_name}")})
    doc.wasEndedBy(run, None, engine, end)
    pv.save_prov_document(doc, b)

    # the job as cwltool writes it: locations inside the bag where the file was kept
    bag_job = json.loads(json.dumps(full_job))
    for f in cwl_file_objects(bag_job):
        sha = str(f.get("checksum", "")).split("$")[-1]
        if sha and (b / "data" / sha[:2] / sha).exists():
            f["location"] = f"../data/{sha[:2]}/{sha}"
    (b / "workflow/primary-job.json").write_text(json.dumps(bag_job, indent=4), encoding="utf-8")
    if builder.external:
        pdir = b / pv.PANOSC_DIR
        pdir.mkdir(parents=True, exist_ok=True)
        (pdir / "external.json").write_text(json.dumps(builder.external, indent=1), encoding="utf-8")
    pv.rehash_bundle(b)
    return b
