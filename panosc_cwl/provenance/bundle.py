"""CWLProv research-object bundles: read, verify, enrich, summarise.

cwltool (``--provenance``) and Toil (``toil-cwl-runner --provenance``, completed by
:mod:`panosc_cwl.provenance_toil`) both write a BagIt bag in the CWLProv layout::

    bagit.txt  bag-info.txt  manifest-sha1.txt  tagmanifest-sha*.txt
    data/<2 hex>/<sha1>                 the files the run used and made, named by content
    workflow/packed.cwl                 the workflow, packed into one document
    workflow/primary-job.json           the job (inputs)
    metadata/provenance/primary.cwlprov.{json,provn,xml,ttl,nt,jsonld}   W3C PROV

Everything here reads that one layout, so a bundle passes the same :func:`load_run` and
:func:`verify_bundle` whichever runner made it. What we add (:func:`enrich_bundle`) goes in
``metadata/panosc/`` plus PROV attributes in our own ``panosc:`` namespace, and the bag's
manifests are re-computed afterwards so it stays valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..exceptions import InputError, PanoscError
from ..runners import cwl_file_objects

PANOSC_NS = "https://w3id.org/panosc-cwl/prov#"
PROV_FORMATS = {  # file suffix -> prov serializer arguments, as cwltool writes them
    "json": {"format": "json"},
    "provn": {"format": "provn"},
    "xml": {"format": "xml"},
    "ttl": {"format": "rdf", "rdf_format": "turtle"},
    "nt": {"format": "rdf", "rdf_format": "nt"},
    "jsonld": {"format": "rdf", "rdf_format": "json-ld"},
}
PROV_JSON = "metadata/provenance/primary.cwlprov.json"
PANOSC_DIR = "metadata/panosc"
DEFAULT_REFERENCE_ABOVE = 100 * 1024**2  # bytes; larger data are referenced, not kept in the bag
CHUNK = 1 << 20


class BundleError(PanoscError):
    """A provenance bundle is missing, unreadable or fails verification."""

    exit_code = 1


# ------------------------------------------------------------------ secrets
SECRET_NAME = re.compile(r"TOKEN|PASSW(OR)?D|SECRET|KEY|CREDENTIAL|PRIVATE|AUTH|COOKIE|SESSION", re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"(\w+://)[^/\s:@]+:[^/\s@]+@")


def is_secret_name(name: str) -> bool:
    """True for environment variable names that look like they hold a secret (TOKEN, PASSWORD, KEY...)."""
    return bool(SECRET_NAME.search(name))


def safe_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment worth recording: secret-looking names dropped, credentials in URLs masked."""
    env = os.environ if env is None else env
    return {k: URL_CREDENTIALS.sub(r"\1***@", v) for k, v in sorted(env.items()) if not is_secret_name(k)}


def secret_values(env: Mapping[str, str] | None = None, min_len: int = 4) -> list[str]:
    """Values of secret-looking variables, longest first (to redact them wherever a tool echoed them)."""
    env = os.environ if env is None else env
    vals = {v for k, v in env.items() if is_secret_name(k) and len(v) >= min_len}
    return sorted(vals, key=len, reverse=True)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    for s in secrets:
        text = text.replace(s, "***")
    return URL_CREDENTIALS.sub(r"\1***@", text)


# ------------------------------------------------------------------ checksums
def file_digests(path: str | os.PathLike, algorithms: Iterable[str] = ("sha1",)) -> dict[str, str]:
    """Hex digests of a file, read once in 1 MiB chunks whatever its size."""
    hs = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            for h in hs.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hs.items()}


def sha1_file(path: str | os.PathLike) -> str:
    return file_digests(path)["sha1"]


# ------------------------------------------------------------------ BagIt
def _read_manifest(path: Path) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, _, rel = line.partition(" ")
            entries.append((rel.strip().lstrip("*"), digest.lower()))
    return entries


def _algorithms(bundle: Path, prefix: str) -> list[str]:
    return sorted(p.name[len(prefix) + 1 : -4] for p in bundle.glob(f"{prefix}-*.txt"))


def _bag_info(bundle: Path) -> list[tuple[str, str]]:
    p = bundle / "bag-info.txt"
    out = []
    if p.exists():
        for line in p.read_text(encoding="utf-8").splitlines():
            if ":" in line:
                k, _, v = line.partition(":")
                out.append((k.strip(), v.strip()))
    return out


def check_bundle(bundle: str | os.PathLike) -> Path:
    """The bundle folder (absolute), or an error naming what is missing."""
    b = Path(bundle).resolve()
    if not b.is_dir():
        raise InputError(f"not a folder: {b}", field="bundle")
    for need in ("bagit.txt", PROV_JSON):
        if not (b / need).is_file():
            raise InputError(f"{b} is not a CWLProv bundle ({need} missing)", field="bundle")
    return b


@dataclass
class VerifyReport:
    """Result of :func:`verify_bundle`: ``problems`` name every file that failed."""

    bundle: Path
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)
    external: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_bundle(bundle: str | os.PathLike, check_external: bool = False) -> VerifyReport:
    """Check the bag as BagIt defines it: every manifest line's checksum, no unlisted payload
    file, Payload-Oxum, and every tag manifest. Data kept outside the bag (above the size
    threshold) are listed; with ``check_external`` their original files are re-hashed too."""
    b = check_bundle(bundle)
    rep = VerifyReport(b)
    names = _payload_names(b)
    payload_algs = _algorithms(b, "manifest")
    if not payload_algs:
        rep.problems.append("manifest-sha1.txt: no payload manifest")
    listed: set[str] = set()
    for alg in payload_algs:
        for rel, digest in _read_manifest(b / f"manifest-{alg}.txt"):
            listed.add(rel)
            _check_one(b, rel, alg, digest, rep, names)
    on_disk = {p.relative_to(b).as_posix() for p in (b / "data").rglob("*") if p.is_file()} if (b / "data").is_dir() else set()
    for rel in sorted(on_disk - listed):
        rep.problems.append(f"{_label(rel, names)}: in the bag but not in its manifest")
    oxum = dict(_bag_info(b)).get("Payload-Oxum")
    if oxum:
        size = sum((b / r).stat().st_size for r in on_disk)
        if oxum != f"{size}.{len(on_disk)}":
            rep.problems.append(f"bag-info.txt: Payload-Oxum {oxum} but the payload is {size}.{len(on_disk)}")
    for alg in _algorithms(b, "tagmanifest"):
        seen: dict[str, str] = {}
        for rel, digest in _read_manifest(b / f"tagmanifest-{alg}.txt"):
            if rel in seen and seen[rel] != digest:
                rep.problems.append(f"tagmanifest-{alg}.txt: {rel} listed twice with different checksums")
            seen[rel] = digest
            _check_one(b, rel, alg, digest, rep, names)
    ext = b / PANOSC_DIR / "external.json"
    if ext.exists():
        rep.external = json.loads(ext.read_text())
        if check_external:
            for item in rep.external:
                loc = Path(item["path"])
                if not loc.is_file():
                    rep.problems.append(f"{item['path']}: referenced data not found")
                elif sha1_file(loc) != item["sha1"]:
                    rep.problems.append(f"{item['path']}: referenced data changed (sha1 differs)")
                rep.files_checked += 1
    rep.problems = list(dict.fromkeys(rep.problems))
    return rep


def _label(rel: str, names: Mapping[str, str]) -> str:
    name = names.get(Path(rel).name)
    return f"{rel} ({name})" if name else rel


def _check_one(b: Path, rel: str, alg: str, digest: str, rep: VerifyReport, names: Mapping[str, str]) -> None:
    p = b / rel
    rep.files_checked += 1
    if not p.is_file():
        rep.problems.append(f"{_label(rel, names)}: listed in the manifest but missing")
    elif file_digests(p, [alg])[alg] != digest:
        rep.problems.append(f"{_label(rel, names)}: {alg} checksum mismatch (file changed)")


def _payload_names(b: Path) -> dict[str, str]:
    """sha1 -> original file name, from the PROV (so a tampered ``data/ab/ab12...`` is named)."""
    try:
        prov = json.loads((b / PROV_JSON).read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, str] = {}
    ents = _records(prov, "entity")
    for rec in _records(prov, "specializationOf").values():
        for r in _as_list(rec):
            gen, spec = r.get("prov:generalEntity", ""), r.get("prov:specificEntity", "")
            for attrs in _as_list(ents.get(spec, {})):
                if "cwlprov:basename" in attrs and gen.startswith("data:"):
                    out[gen[5:]] = _plain(attrs["cwlprov:basename"])
    return out


def rehash_bundle(bundle: str | os.PathLike) -> None:
    """Re-compute payload manifests, Payload-Oxum and tag manifests after we changed the bag."""
    b = Path(bundle)
    payload = sorted(p for p in (b / "data").rglob("*") if p.is_file()) if (b / "data").is_dir() else []
    algs = _algorithms(b, "manifest") or ["sha1"]
    digests = {p: file_digests(p, algs) for p in payload}
    for alg in algs:
        lines = [f"{digests[p][alg]}  {p.relative_to(b).as_posix()}\n" for p in payload]
        (b / f"manifest-{alg}.txt").write_text("".join(lines), encoding="utf-8")
    info = [(k, v) for k, v in _bag_info(b) if k != "Payload-Oxum"]
    info.append(("Payload-Oxum", f"{sum(p.stat().st_size for p in payload)}.{len(payload)}"))
    (b / "bag-info.txt").write_text("".join(f"{k}: {v}\n" for k, v in info), encoding="utf-8")
    tag_algs = _algorithms(b, "tagmanifest") or ["sha256"]
    tags = sorted(p for p in b.rglob("*") if p.is_file() and not p.relative_to(b).as_posix().startswith("data/")
                  and not p.name.startswith("tagmanifest-"))
    tdig = {p: file_digests(p, tag_algs) for p in tags}
    for alg in tag_algs:
        lines = [f"{tdig[p][alg]}  {p.relative_to(b).as_posix()}\n" for p in tags]
        (b / f"tagmanifest-{alg}.txt").write_text("".join(lines), encoding="utf-8")


# ------------------------------------------------------------------ PROV-JSON reading
def _as_list(x) -> list:
    return x if isinstance(x, list) else [x]


def _records(prov: Mapping, kind: str) -> dict:
    return prov.get(kind, {}) or {}


def _plain(value):
    """PROV-JSON typed literal ({"$": ..., "type": ...}) -> its value."""
    if isinstance(value, dict) and "$" in value:
        return value["$"]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _types(attrs: Mapping) -> set[str]:
    t = attrs.get("prov:type", [])
    return {str(_plain(x)) for x in _as_list(t)}


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
        for eid, attrs in _records(doc, "entity").items():
            merged: dict = ents.setdefault(eid, {})
            for a in _as_list(attrs):
                merged.update(a)
        for r in _records(doc, "specializationOf").values():
            for x in _as_list(r):
                general[x["prov:specificEntity"]] = x["prov:generalEntity"]
        for r in _records(doc, "hadMember").values():
            for x in _as_list(r):
                if x["prov:entity"] not in members.get(x["prov:collection"], []):
                    members.setdefault(x["prov:collection"], []).append(x["prov:entity"])

    def artifact(eid: str, role: str) -> Artifact:
        attrs = ents.get(eid, {})
        if eid in members:
            return Artifact(role, eid, members=[artifact(m, role) for m in members[eid]])
        data = eid if eid.startswith("data:") else general.get(eid, "")
        sha1 = data[5:] if data.startswith("data:") else attrs.get("panosc:sha1")
        if "prov:value" in attrs and "cwlprov:basename" not in attrs:
            return Artifact(role, eid, value=_plain(attrs["prov:value"]))
        if eid == "cwlprov:None":
            return Artifact(role, eid, value=None)
        size = attrs.get("panosc:size")
        return Artifact(role, sha1 and f"data:{sha1}" or eid, basename=_plain(attrs.get("cwlprov:basename")),
                        sha1=_plain(sha1), size=_plain(size))

    acts: dict[str, dict] = {}
    for aid, attrs in _records(prov, "activity").items():
        merged = {}
        for a in _as_list(attrs):
            merged.update(a)
        acts[aid] = merged
    started = {x["prov:activity"]: x.get("prov:time") for r in _records(prov, "wasStartedBy").values() for x in _as_list(r)}
    ended = {x["prov:activity"]: x.get("prov:time") for r in _records(prov, "wasEndedBy").values() for x in _as_list(r)}
    used: dict[str, list[Artifact]] = {}
    for r in _records(prov, "used").values():
        for x in _as_list(r):
            role = str(_plain(x.get("prov:role", "")))
            used.setdefault(x["prov:activity"], []).append(artifact(x["prov:entity"], role))
    gen: dict[str, list[Artifact]] = {}
    for r in _records(prov, "wasGeneratedBy").values():
        for x in _as_list(r):
            role = str(_plain(x.get("prov:role", "")))
            gen.setdefault(x.get("prov:activity", ""), []).append(artifact(x["prov:entity"], role))

    engine, user = "unknown", None
    for aid, attrs in _records(prov, "agent").items():
        for a in _as_list(attrs):
            if "wfprov:WorkflowEngine" in _types(a):
                engine = str(_plain(a.get("prov:label", engine)))
            elif a.get("foaf:name") or a.get("prov:label"):
                user = str(_plain(a.get("foaf:name") or a.get("prov:label")))
    run_id, wf_label = "", ""
    steps: list[StepRun] = []
    for aid, attrs in acts.items():
        types = _types(attrs)
        label = str(_plain(attrs.get("prov:label", "")))
        if "wfprov:WorkflowRun" in types and not run_id:
            run_id, wf_label = aid, label
        elif "wfprov:ProcessRun" in types:
            name = label.rsplit("#", 1)[-1].split("/")[-1] if "#" in label else label
            sw = attrs.get("panosc:software")
            sub = [str(_plain(x)).split(":", 1)[-1] for x in _as_list(attrs.get("prov:has_provenance", []))]
            steps.append(StepRun(
                nested_prov=next((x for x in sub if x.endswith(".cwlprov.json")), None),
                name=name, activity=aid,
                started=_plain(started.get(aid) or attrs.get("prov:startTime")),
                ended=_plain(ended.get(aid) or attrs.get("prov:endTime")),
                software=json.loads(_plain(sw)) if sw else {},
                inputs=used.get(aid, []), outputs=gen.get(aid, []),
                batch_job_ids=[s for s in str(_plain(attrs.get("panosc:batchJobIds", ""))).split(",") if s],
                slurm_job_ids=[s for s in str(_plain(attrs.get("panosc:slurmJobIds", ""))).split(",") if s],
            ))
    if not run_id:
        raise BundleError("no wfprov:WorkflowRun activity in the PROV document", field="bundle")
    if not steps:  # a single CommandLineTool: the run is its own (only) step
        a = acts[run_id]
        steps.append(StepRun("main", run_id, _plain(started.get(run_id) or a.get("prov:startTime")),
                             _plain(ended.get(run_id)), inputs=used.get(run_id, []), outputs=gen.get(run_id, [])))
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
        started=_plain(started.get(run_id) or acts[run_id].get("prov:startTime")),
        ended=_plain(ended.get(run_id)), workflow=wf_label.replace("Run of ", ""), steps=steps,
        inputs=[a for a in used.get(run_id, []) if a.role.count("/") <= 1], outputs=run_outputs,
    )


# ------------------------------------------------------------------ packed workflow helpers
def _graph(packed: Mapping) -> list[dict]:
    return list(packed.get("$graph", [packed]))


def main_process(packed: Mapping) -> dict:
    for p in _graph(packed):
        if p.get("id") in ("#main", "main") or str(p.get("id", "")).endswith("#main"):
            return p
    return _graph(packed)[0]


def _short(ident: str) -> str:
    return str(ident).rsplit("#", 1)[-1].split("/")[-1]


def step_tools(packed: Mapping) -> dict[str, str]:
    """Step name -> the id of the tool it runs (``pyfai-integrate1d.cwl``); the main workflow's
    steps win over a sub-workflow's of the same name."""
    out: dict[str, str] = {}
    main = main_process(packed)
    for proc in [p for p in _graph(packed) if p is not main] + [main]:
        for s in proc.get("steps", []) or []:
            if isinstance(s, dict):
                out[_short(s["id"])] = str(s.get("run", "")).lstrip("#")
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
    procs = {str(p.get("id", "")).lstrip("#"): p for p in _graph(packed)}
    main = main_process(packed)
    reqs = _software_reqs(main)
    tool = step_tools(packed).get(re.sub(r"_\d+$", "", step.split("/")[-1]))
    if tool and tool in procs:
        reqs.update(_software_reqs(procs[tool]))
    out = {}
    for name, spec in reqs.items():
        out[name] = installed_version(name) or ("declared " + ",".join(spec) if spec else "unknown")
    return out


def load_packed(bundle: Path) -> dict | None:
    p = bundle / "workflow" / "packed.cwl"
    if not p.exists():
        return None
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(p.read_text(encoding="utf-8"))


def nested_provs(bundle: Path) -> dict[str, dict]:
    """The sub-workflow PROV documents of a cwltool bundle (file name -> PROV-JSON)."""
    folder = bundle / "metadata" / "provenance"
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.cwlprov.json")
            if p.name != "primary.cwlprov.json" and "toil-original" not in p.name}


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


# ------------------------------------------------------------------ writing PROV with the prov library
def load_prov_document(bundle: Path):
    from prov.model import ProvDocument

    return ProvDocument.deserialize(source=str(bundle / PROV_JSON), format="json")


def save_prov_document(doc, bundle: Path) -> None:
    """Write ``doc`` in every serialisation cwltool writes (primary.cwlprov.*)."""
    folder = bundle / "metadata" / "provenance"
    folder.mkdir(parents=True, exist_ok=True)
    import warnings

    for suffix, kwargs in PROV_FORMATS.items():
        target = folder / f"primary.cwlprov.{suffix}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # rdflib's N-Triples serialiser warns about its encoding
                text = doc.serialize(**kwargs)
            target.write_text(text if isinstance(text, str) else text.decode("utf-8"), encoding="utf-8")
        except Exception:  # rdf serialisers need rdflib; JSON/PROV-N/XML are what we read
            if suffix in ("json", "provn"):
                raise


# ------------------------------------------------------------------ enrich (both runners)
def resolve_job(job_path: Path | None) -> dict:
    """The job file as data, with every File's location made an absolute ``file://`` URI."""
    if job_path is None:
        return {}
    from ruamel.yaml import YAML

    job = YAML(typ="safe", pure=True).load(Path(job_path).read_text(encoding="utf-8")) or {}
    base = Path(job_path).resolve().parent
    for f in cwl_file_objects(job):
        loc = f.pop("path", None) or f.get("location")
        if loc and not re.match(r"^\w+://", str(loc)):
            f["location"] = (base / loc).resolve().as_uri()
        elif loc:
            f["location"] = str(loc)
    return job


def uri_path(loc: str) -> Path | None:
    from urllib.parse import unquote, urlparse

    u = urlparse(loc)
    return Path(unquote(u.path)) if u.scheme in ("file", "") else None


def known_checksums(bundle: Path) -> dict[tuple[str, int], str]:
    """(file name, size) -> sha1 of the files the runner already hashed (its primary-job.json),
    so a large input is not read a second time."""
    p = bundle / "workflow" / "primary-job.json"
    try:
        files = cwl_file_objects(json.loads(p.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}
    return {(str(f.get("basename")), int(f.get("size", -1))): str(f["checksum"]).split("$")[-1]
            for f in files if f.get("checksum") and f.get("basename")}


def job_with_checksums(job: dict, known: Mapping[tuple[str, int], str] | None = None) -> dict:
    """Add ``checksum``/``size`` to every local File of ``job`` that has none yet (``known``:
    (name, size) -> sha1 already computed by the runner; otherwise the file is hashed)."""
    for f in cwl_file_objects(job):
        p = uri_path(f.get("location", ""))
        if p and p.is_file() and not f.get("checksum"):
            f["size"] = p.stat().st_size
            f["checksum"] = "sha1$" + ((known or {}).get((p.name, f["size"])) or sha1_file(p))
    return job


def enrich_bundle(bundle: str | os.PathLike, *, job: dict | None = None, outputs: Mapping | None = None,
                  reference_above: int | None = DEFAULT_REFERENCE_ABOVE, env: Mapping[str, str] | None = None,
                  runner: str = "cwltool", batch_system: str | None = None) -> Path:
    """Complete a bundle the same way for both runners, then re-hash it.

    - ``metadata/panosc/job.json``: the job with absolute locations and input checksums (for rerun);
    - ``metadata/panosc/run.json``: runner, batch system, the environment (secret names dropped);
    - PROV: each step activity gets ``panosc:software`` (tool versions);
    - data above ``reference_above`` bytes leave ``data/`` and are listed in ``external.json``
      (location + checksum), so a 100 GB detector run is not duplicated;
    - values of secret-looking variables are redacted from every text file outside ``data/``.
    """
    b = check_bundle(bundle)
    env = os.environ if env is None else env
    pdir = b / PANOSC_DIR
    pdir.mkdir(parents=True, exist_ok=True)
    packed = load_packed(b)

    # per-step tool versions, written with the prov library
    doc = load_prov_document(b)
    doc.add_namespace("panosc", PANOSC_NS)
    from prov.model import ProvActivity

    changed = False
    for rec in doc.get_records(ProvActivity):
        types = {str(t) for t in rec.get_attribute("prov:type")}
        if "wfprov:ProcessRun" in types and packed is not None and not rec.get_attribute("panosc:software"):
            label = str(next(iter(rec.get_attribute("prov:label")), ""))
            step = label.rsplit("/", 1)[-1]
            rec.add_attributes({"panosc:software": json.dumps(declared_software(packed, step), sort_keys=True)})
            changed = True
    if changed:
        save_prov_document(doc, b)

    files_here: list[dict] = []
    if job is not None:
        job = json.loads(json.dumps(job))
        job_with_checksums(job, known_checksums(b))
        (pdir / "job.json").write_text(json.dumps(job, indent=1, sort_keys=True), encoding="utf-8")
        files_here.extend(cwl_file_objects(job))
    if outputs:
        files_here.extend(cwl_file_objects(json.loads(json.dumps(dict(outputs)))))
    (pdir / "run.json").write_text(json.dumps({
        "runner": runner, "batch_system": batch_system, "environment": safe_environment(env),
        "reference_above_bytes": reference_above,
    }, indent=1, sort_keys=True), encoding="utf-8")

    # large data: referenced by location + checksum, not kept
    if reference_above is not None:
        by_sha: dict[str, list[str]] = {}
        for f in files_here:
            sha = str(f.get("checksum", "")).split("$")[-1]
            loc = f.get("path") or (uri_path(f.get("location", "")) or "")
            if sha and loc:
                by_sha.setdefault(sha, []).append(str(loc))
        external = []
        ext_path = pdir / "external.json"
        if ext_path.exists():
            external = json.loads(ext_path.read_text())
        for p in sorted((b / "data").rglob("*")) if (b / "data").is_dir() else []:
            if p.is_file() and p.stat().st_size > reference_above:
                locs = by_sha.get(p.name, [])
                external.append({"bag_path": p.relative_to(b).as_posix(), "sha1": p.name, "size": p.stat().st_size,
                                 "path": locs[0] if locs else None, "locations": locs})
                p.unlink()
        if external:
            ext_path.write_text(json.dumps(external, indent=1), encoding="utf-8")

    secrets = secret_values(env)
    for p in b.rglob("*"):
        rel = p.relative_to(b).as_posix()
        if p.is_file() and not rel.startswith("data/") and not rel.startswith("tagmanifest-") and p.stat().st_size < 64 << 20:
            try:
                text = p.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            new = redact_text(text, secrets)
            if new != text:
                p.write_text(new, encoding="utf-8")
    rehash_bundle(b)
    return b


def default_bundle_dir(outdir: Path) -> Path:
    """Where ``panosc-cwl run`` puts the bundle: ``<outdir>/provenance`` (numbered if taken)."""
    cand = outdir / "provenance"
    i = 1
    while cand.exists() and any(cand.iterdir()):
        i += 1
        cand = outdir / f"provenance-{i}"
    return cand


def prepare_bundle_dir(path: Path) -> Path:
    """The runners refuse an existing non-empty bundle folder: say so before they start."""
    if path.exists():
        if not path.is_dir() or any(path.iterdir()):
            raise InputError(f"{path} exists and is not empty", field="provenance")
        path.rmdir()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def parse_size(text: str) -> int:
    """``100M``, ``2G``, ``512k``, ``1000`` -> bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)i?[bB]?\s*", str(text))
    if not m:
        raise InputError(f"not a size: '{text}' (use e.g. 100M, 2G)", field="reference-above")
    mult = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


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

