"""Workflow provenance inside the data file: one ``NXprocess`` per workflow step.

Under the output's ``NXentry`` we write ``cwl_step_01_<step>``, ``cwl_step_02_<step>``... for
the steps that led to that file, in execution order. Each holds ``program``, ``version``,
``date`` (with time zone), ``sequence_index`` (only fields NXprocess documents, so outputs still
validate against their application definitions) and ``NXnote`` children, each with its mime
``type``, ``description`` and ``data`` (bytes, as NXnote's NX_BINARY wants):

- ``workflow`` (application/yaml): the packed workflow,
- ``job`` (application/json): the inputs, with absolute locations and SHA-1 checksums,
- ``prov`` (application/json): the run's W3C PROV-JSON document,
- ``outputs`` (application/json): every workflow output with its checksums (for ``rerun``),
- ``step`` (application/json): this step's times, tool versions, inputs and outputs; its
  ``description`` (starting with ``panosc-cwl provenance:``) marks the group as ours.

The four run-wide notes are stored once and hard-linked into every step group, so a chain of
steps costs the notes' size once. Writes go through :func:`panosc_cwl.iorw.atomic_path`
(a copy is modified, then renamed over the original), so a failure leaves the file
byte-identical.

"Data checksum": our NeXus files carry time stamps (``file_time``, ``date``), so two runs never
give byte-identical files. :func:`data_checksum` is SHA-256 over every dataset's path, dtype,
shape and values, in name order, leaving out our provenance groups and the time-stamp datasets
(``date``, ``start_time``, ``end_time``, ``file_time``); attributes are not included, and a string
that is an absolute file path counts by its file name only (runners stage inputs in random
folders). Executed notebooks are compared by :func:`notebook_checksum`; rendered HTML reports
(random staging paths and cell ids inside) are not compared. ``rerun``
compares NeXus outputs by data checksum and every other output by its SHA-1.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import provenance as pv
from ..runners import cwl_file_objects
from ..exceptions import InputError
from ..iorw import atomic_path, is_hdf5, open_hdf5, require_file

GROUP_PREFIX = "cwl_step_"
MARK = "panosc-cwl provenance"
TIME_NAMES = {"date", "start_time", "end_time", "file_time"}
SHARED_NOTES = ("workflow", "job", "prov", "outputs")
SLICE_BYTES = 64 << 20
ABS_PATH = re.compile(rb"^/[^\0\n]*[^/]$")


# ------------------------------------------------------------------ data checksum
def _update_dataset(h, ds) -> None:
    h.update(f"{ds.name}|{ds.dtype.str}|{ds.shape}|".encode())
    if ds.dtype.kind in "OSU" or ds.shape == ():
        val = ds[()]
        items = val.ravel().tolist() if isinstance(val, np.ndarray) else [val]
        for x in items:
            x = x if isinstance(x, bytes) else str(x).encode()
            if ABS_PATH.match(x):  # runners stage inputs in random folders: keep the file name only
                x = x.rsplit(b"/", 1)[-1]
            h.update(x)
            h.update(b"\0")
        return
    if ds.size == 0:
        return
    per = max(1, SLICE_BYTES // max(1, ds.nbytes // max(1, ds.shape[0])))
    for i in range(0, ds.shape[0], per):
        h.update(np.ascontiguousarray(ds[i : i + per]).tobytes())


def data_checksum(path: str | os.PathLike) -> str:
    """SHA-256 of a NeXus/HDF5 file's data (see module doc): equal for equal science."""
    import h5py

    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        names: list[str] = []

        def visit(name, obj):
            parts = name.split("/")
            if any(p.startswith(GROUP_PREFIX) for p in parts) or parts[-1] in TIME_NAMES:
                return
            if isinstance(obj, h5py.Dataset):
                names.append(name)

        f.visititems(visit)
        for name in sorted(names):
            _update_dataset(h, f[name])
    return h.hexdigest()


def notebook_checksum(path: str | os.PathLike) -> str:
    """SHA-256 of an executed notebook's cell sources and outputs, without metadata (papermill's
    timings), execution counts and the injected-parameters cell (it holds staging paths)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = []
    for c in nb.cells:
        if "injected-parameters" in c.get("metadata", {}).get("tags", []):
            continue
        outs = [{k: v for k, v in o.items() if k not in ("metadata", "execution_count")} for o in c.get("outputs", [])]
        cells.append({"type": c.cell_type, "source": c.source, "outputs": outs})
    return hashlib.sha256(json.dumps(cells, sort_keys=True).encode()).hexdigest()


#: rendered HTML reports embed random staging paths and cell ids; their notebook is compared instead
NOT_COMPARED = (".html", ".htm")


def compare_checksum(path: Path, name: str | None = None) -> dict:
    """What rerun compares for one output: data checksum for HDF5, normalised checksum for a
    notebook, SHA-1 for the rest (``name``: the file's real name, for a bundle's ``data/<sha1>``)."""
    out = {"sha1": pv.sha1_file(path)}
    if is_hdf5(path):
        out["data_sha256"] = data_checksum(path)
    elif Path(name or path.name).suffix == ".ipynb":
        out["notebook_sha256"] = notebook_checksum(path)
    return out


def output_paths(outputs: dict) -> dict[str, Path]:
    """Workflow output name -> file path (arrays as ``name[i]``) from a runner's output object."""
    found: dict[str, Path] = {}
    for name, val in outputs.items():
        items = val if isinstance(val, list) else [val]
        for i, v in enumerate(items):
            if isinstance(v, dict) and v.get("class") == "File" and v.get("path"):
                found[name if not isinstance(val, list) else f"{name}[{i}]"] = Path(v["path"])
    return found


# ------------------------------------------------------------------ lineage
def lineage(rec: pv.RunRecord, sha1: str | None, basename: str) -> list[pv.StepRun]:
    """Steps that led to the file (its generating step and all upstream steps), in execution order."""
    producer = {}
    for s in rec.steps:  # later (inner) steps win over the sub-workflow step that contains them
        for a in s.outputs:
            for m in [a, *a.members]:
                producer[m.key] = s
                if m.basename:
                    producer[("name", m.basename)] = s
    start = producer.get(f"data:{sha1}") if sha1 else None
    start = start or producer.get(("name", basename))
    if start is None:
        return list(rec.steps)
    keep, todo = set(), [start]
    while todo:
        s = todo.pop()
        if s.activity in keep:
            continue
        keep.add(s.activity)
        for a in s.inputs:
            for m in a.members or [a]:
                up = producer.get(m.key)
                if up is not None:
                    todo.append(up)
    return [s for s in rec.steps if s.activity in keep]


# ------------------------------------------------------------------ writing
@dataclass
class NexusExport:
    path: Path
    groups: list[str]
    bytes_added: int


def _entry(h5):
    default = h5.attrs.get("default")
    if isinstance(default, bytes):
        default = default.decode()
    if default and default in h5:
        return h5[default]
    for name, obj in h5.items():
        cls = obj.attrs.get("NX_class", b"")
        if (cls.decode() if isinstance(cls, bytes) else cls) == "NXentry":
            return obj
    raise InputError(f"no NXentry group in {h5.filename}", field="file")


def has_nxentry(path: str | os.PathLike) -> bool:
    """True for HDF5 files with an ``NXentry`` to hold the NXprocess chain (NeXus, not bare HDF5)."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            _entry(h5)
        return True
    except (OSError, InputError):
        return False


def _note(parent, name: str, mime: str, text: str, description: str):
    g = parent.create_group(name)
    g.attrs["NX_class"] = "NXnote"
    g.create_dataset("type", data=mime)
    g.create_dataset("description", data=description)
    # NXnote/data is NX_BINARY: bytes (fixed-length), not a variable-length string (pynxtools checks)
    g.create_dataset("data", data=np.bytes_(text.encode("utf-8")))
    return g


def _aware(stamp: str) -> str:
    """ISO 8601 with a time zone (NX_DATE_TIME); runners record naive local times."""
    from datetime import datetime

    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    return (when if when.tzinfo else when.astimezone()).isoformat()


def _bundle_texts(bundle: Path) -> dict[str, str]:
    from io import StringIO

    from ruamel.yaml import YAML

    packed = pv.load_packed(bundle)
    buf = StringIO()
    y = YAML()
    y.default_flow_style = False
    y.dump(packed, buf)
    job_path = bundle / pv.PANOSC_DIR / "job.json"
    if not job_path.exists():
        job_path = bundle / "workflow" / "primary-job.json"
    run_path = bundle / pv.PANOSC_DIR / "run.json"
    run = json.loads(run_path.read_text()) if run_path.exists() else {}
    run.pop("environment", None)  # the environment stays in the bundle, not in every data file
    texts = {"workflow": buf.getvalue(), "job": job_path.read_text(encoding="utf-8"),
             "prov": (bundle / pv.PROV_JSON).read_text(encoding="utf-8"), "run": json.dumps(run)}
    nested = pv.nested_provs(bundle)
    if nested:
        texts["prov_subworkflows"] = json.dumps(nested)
    return texts


def _program(packed: dict, tool: str | None) -> str:
    for p in packed.get("$graph", [packed]):
        if tool and str(p.get("id", "")).lstrip("#") == tool:
            base = p.get("baseCommand", [])
            base = " ".join(base) if isinstance(base, list) else str(base)
            return f"{base} (CWL tool {tool})" if base else f"CWL tool {tool}"
    return f"CWL tool {tool or '?'}"


def to_nexus(bundle: str | os.PathLike, files: list[str | os.PathLike],
             outputs_at: dict[str, Path] | None = None) -> list[NexusExport]:
    """Write the NXprocess chain of ``bundle`` into each NeXus file (atomically, one file at a time).

    ``outputs_at`` (workflow output name -> file) lets every output be measured for ``rerun``;
    without it the NeXus files given are measured here and the rest keep the PROV's SHA-1.
    """
    import h5py

    b = pv.check_bundle(bundle)
    rec = pv.load_run(b)
    packed = pv.load_packed(b) or {}
    texts = _bundle_texts(b)
    paths = [require_file(f, "file") for f in files]
    for p in paths:
        if not is_hdf5(p):
            raise InputError(f"{p} is not a NeXus/HDF5 file", field="file")
    for p in paths:
        if not has_nxentry(p):
            raise InputError(f"no NXentry group in {p}", field="file")
    sums = {p: compare_checksum(p) for p in paths}
    outputs: dict[str, dict] = {}
    for a in rec.outputs:
        name = a.role.rsplit("/", 1)[-1]
        if a.members:
            for i, m in enumerate(a.members):
                outputs[f"{name}[{i}]"] = {"basename": m.basename, "sha1": m.sha1}
        else:
            outputs[name] = {"basename": a.basename, "sha1": a.sha1}
    by_name = {p.name: s for p, s in sums.items()}
    for name, path in (outputs_at or {}).items():
        if Path(path).is_file() and Path(path).name not in by_name:
            by_name[Path(path).name] = compare_checksum(Path(path))
    for entry in outputs.values():
        if entry["basename"] in by_name:
            entry.update(by_name[entry["basename"]])
        elif entry.get("sha1"):  # measure the bundle's copy (same bytes as the output at run time)
            copy = b / "data" / entry["sha1"][:2] / entry["sha1"]
            if copy.is_file():
                entry.update(compare_checksum(copy, entry["basename"]))
    texts["outputs"] = json.dumps(outputs, indent=1, sort_keys=True)
    results = []
    for p in paths:
        steps = lineage(rec, sums[p]["sha1"], p.name)
        before = p.stat().st_size
        names = []
        with atomic_path(p, copy_from=p) as tmp:
            with h5py.File(tmp, "a") as h5:
                entry = _entry(h5)
                for name in [n for n in entry if n.startswith(GROUP_PREFIX)]:
                    del entry[name]
                shared = {}
                for i, s in enumerate(steps, 1):
                    gname = f"{GROUP_PREFIX}{i:02d}_{s.name.replace('/', '.')}"
                    g = entry.create_group(gname)
                    # only the fields NXprocess documents, so application definitions (NXazint1d...)
                    # still validate; what this step was goes into the `step` NXnote's description
                    g.attrs["NX_class"] = "NXprocess"
                    g.create_dataset("program", data=_program(packed, s.tool))
                    g.create_dataset("version", data=", ".join(f"{k} {v}" for k, v in sorted(s.software.items())))
                    g.create_dataset("date", data=_aware(str(s.ended or s.started or rec.ended or "")))
                    g.create_dataset("sequence_index", data=np.int32(i))
                    if not shared:
                        shared["workflow"] = _note(g, "workflow", "application/yaml", texts["workflow"],
                                                   "the packed CWL workflow that was run")
                        shared["job"] = _note(g, "job", "application/json", texts["job"],
                                              "the job: inputs with sha1 checksums")
                        shared["prov"] = _note(g, "prov", "application/json", texts["prov"],
                                               "W3C PROV-JSON (CWLProv) of the whole run")
                        shared["outputs"] = _note(g, "outputs", "application/json", texts["outputs"],
                                                  "every workflow output with its checksums")
                        shared["run"] = _note(g, "run", "application/json", texts["run"],
                                              "runner and batch system")
                        if "prov_subworkflows" in texts:
                            shared["prov_subworkflows"] = _note(
                                g, "prov_subworkflows", "application/json", texts["prov_subworkflows"],
                                "PROV-JSON of each sub-workflow run (file name -> document)")
                    else:
                        for key, obj in shared.items():
                            g[key] = obj  # hard link: stored once
                    step = {"step": s.name, "tool": s.tool, "started": s.started, "ended": s.ended,
                            "software": s.software, "slurm_job_ids": s.slurm_job_ids,
                            "batch_job_ids": s.batch_job_ids,
                            "inputs": [_art(a) for a in s.inputs], "outputs": [_art(a) for a in s.outputs]}
                    _note(g, "step", "application/json", json.dumps(step, indent=1),
                          f"{MARK}: workflow step '{s.name}' of {rec.workflow}, run {rec.run_id} by {rec.engine}")
                    names.append(gname)
        results.append(NexusExport(p, names, p.stat().st_size - before))
    return results


def _art(a: pv.Artifact) -> dict:
    if a.members:
        return {"role": a.role.rsplit("/", 1)[-1], "members": [_art(m) for m in a.members]}
    if a.sha1 or a.basename:
        return {"role": a.role.rsplit("/", 1)[-1], "basename": a.basename, "checksum": f"sha1${a.sha1}"}
    return {"role": a.role.rsplit("/", 1)[-1], "value": a.value}


# ------------------------------------------------------------------ reading
@dataclass
class NexusProvenance:
    path: Path
    groups: list[dict]
    notes: dict[str, str]

    def run(self) -> pv.RunRecord:
        from ruamel.yaml import YAML

        packed = YAML(typ="safe", pure=True).load(self.notes["workflow"]) if "workflow" in self.notes else None
        nested = json.loads(self.notes["prov_subworkflows"]) if "prov_subworkflows" in self.notes else None
        return pv.run_from_prov(json.loads(self.notes["prov"]), packed, nested)


def _text(ds) -> str:
    v = ds[()]
    return v.decode() if isinstance(v, bytes) else str(v)


def read_nexus(path: str | os.PathLike) -> NexusProvenance:
    """The NXprocess chain we wrote into a NeXus file (error if there is none)."""
    p = Path(path)
    with open_hdf5(p, "file") as h5:
        entry = _entry(h5)
        groups, notes = [], {}
        for name in sorted(n for n in entry if n.startswith(GROUP_PREFIX)):
            g = entry[name]
            ours = g.attrs.get("provenance_source") == MARK or (  # files written before: the attribute
                "step/description" in g and _text(g["step/description"]).startswith(MARK))
            if not ours or "sequence_index" not in g:
                continue
            info = {"group": g.name, "sequence_index": int(g["sequence_index"][()])}
            for key in ("program", "version", "date", "description"):
                if key in g:
                    info[key] = _text(g[key])
            if "description" not in info and "step/description" in g:
                info["description"] = _text(g["step/description"]).removeprefix(f"{MARK}: ")
            if "step" in g:
                info["step"] = json.loads(_text(g["step"]["data"]))
            for key in (*SHARED_NOTES, "run", "prov_subworkflows"):
                if key in g and key not in notes:
                    notes[key] = _text(g[key]["data"])
                    info.setdefault("note_types", {})[key] = _text(g[key]["type"])
            groups.append(info)
    if not groups:
        raise InputError(f"{p} has no workflow provenance ({GROUP_PREFIX}* NXprocess groups)", field="file")
    groups.sort(key=lambda g: g["sequence_index"])
    return NexusProvenance(p, groups, notes)


# ------------------------------------------------------------------ rerun
@dataclass
class RerunReport:
    outdir: Path
    comparisons: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        compared = [c for c in self.comparisons if c["equal"] is not None]
        return bool(compared) and all(c["equal"] for c in compared)


def check_job_inputs(job: dict) -> None:
    """Every input file must still be there with the checksum recorded at the run."""
    for key, val in job.items():
        for f in cwl_file_objects(val):
            p = pv.uri_path(str(f.get("location", "")))
            want = str(f.get("checksum", "")).split("$")[-1]
            if p is None:
                continue
            if not p.is_file():
                raise InputError(f"input file {p} no longer exists", field=key)
            if want and pv.sha1_file(p) != want:
                raise InputError(f"input file {p} changed since the run (sha1 differs)", field=key)


def rerun(path: str | os.PathLike, workdir: str | os.PathLike | None = None, runner: str | None = None,
          on_line=None) -> RerunReport:
    """Rebuild workflow + job from the file's NXprocess notes, run them again, compare outputs.

    The re-run goes through the one run pipeline (:func:`panosc_cwl.api.run_workflow`), with its own
    provenance bundle; pre-flight validation is skipped (the recorded workflow is a packed ``$graph``).
    """
    from ..api import run_workflow

    prov = read_nexus(path)
    for key in ("workflow", "job", "outputs"):
        if key not in prov.notes:
            raise InputError(f"{prov.path} lacks the '{key}' note needed to re-run", field="file")
    job = json.loads(prov.notes["job"])
    check_job_inputs(job)
    recorded = json.loads(prov.notes.get("run", "{}") or "{}")
    wd = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="panosc-rerun-"))
    wd.mkdir(parents=True, exist_ok=True)
    wf = wd / "packed.cwl"
    wf.write_text(prov.notes["workflow"], encoding="utf-8")
    job_file = wd / "job.json"
    job_file.write_text(json.dumps(job, indent=1), encoding="utf-8")
    res = run_workflow(wf, job_file, outdir=wd / "out", runner=runner or recorded.get("runner"),
                       batch_system=recorded.get("batch_system") or "single_machine", preflight=False,
                       overwrite=True, on_event=(lambda kind, v: on_line(v) if kind == "line" else None)
                       if on_line else None)
    report = RerunReport(wd / "out")
    expected = json.loads(prov.notes["outputs"])
    own = data_checksum(prov.path)  # the file itself as it is now (its provenance groups excluded)
    produced = output_paths(res.outputs)
    by_basename = {p.name: p for p in produced.values()}
    for name, exp in sorted(expected.items()):
        got_path = by_basename.get(exp.get("basename") or "") or produced.get(name)
        if got_path is None:
            report.comparisons.append({"output": name, "equal": False, "detail": "not produced by the re-run"})
            continue
        if got_path.suffix.lower() in NOT_COMPARED:
            report.comparisons.append({"output": name, "basename": exp.get("basename"), "checksum": None,
                                       "equal": None, "path": str(got_path),
                                       "detail": "rendered HTML report: not compared (embeds staging paths)"})
            continue
        got = compare_checksum(got_path)
        kind = next((k for k in ("data_sha256", "notebook_sha256") if exp.get(k) and k in got), "sha1")
        report.comparisons.append({"output": name, "basename": exp.get("basename"), "checksum": kind,
                                   "expected": exp.get(kind), "got": got[kind],
                                   "equal": exp.get(kind) == got[kind], "path": str(got_path)})
    for c in report.comparisons:
        if c.get("basename") == prov.path.name and c["checksum"] == "data_sha256" and c["expected"] != own:
            c["equal"] = False
            c["detail"] = f"{prov.path.name} itself has changed since provenance was written"
    return report
