"""A Workflow Run RO-Crate (https://w3id.org/ro/wfrun/workflow) from a CWLProv bundle.

Written with the ``rocrate`` library (``runcrate``, which does this conversion itself, pins
``cwl-utils<0.41`` and breaks cwltool 3.3, so it is not used). The crate holds the packed
workflow as the main ``ComputationalWorkflow``, one ``CreateAction`` for the run and one per
step (the Provenance Run Crate shape), and the data files kept in the bundle under their
original names; files above the bundle's size threshold are referenced by location.
Checksums are kept as ``identifier`` ``urn:hash::sha1:<hex>``, the form CWLProv uses.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from .. import provenance as pv
from ._util import as_list

PROFILES = ["https://w3id.org/ro/wfrun/process/0.5", "https://w3id.org/ro/wfrun/workflow/0.5",
            "https://w3id.org/ro/wfrun/provenance/0.5", "https://w3id.org/workflowhub/workflow-ro-crate/1.0"]


def to_rocrate(bundle: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the crate into folder ``out`` (or a zip file if ``out`` ends in .zip)."""
    from rocrate.model.contextentity import ContextEntity
    from rocrate.rocrate import ROCrate

    b = pv.check_bundle(bundle)
    rec = pv.load_run(b)
    crate = ROCrate()
    crate.root_dataset["name"] = f"Run of {rec.workflow}"
    crate.root_dataset["conformsTo"] = [{"@id": p} for p in PROFILES]
    for p in PROFILES:
        crate.add(ContextEntity(crate, p, properties={"@type": "CreativeWork", "name": p.rsplit("/", 2)[-2]}))
    wf = crate.add_workflow(b / "workflow" / "packed.cwl", "packed.cwl", main=True, lang="cwl")
    engine = crate.add(ContextEntity(crate, "#engine", properties={"@type": "SoftwareApplication", "name": rec.engine}))
    agent = crate.add(ContextEntity(crate, "#agent", properties={"@type": "Person", "name": rec.user or "unknown"}))

    files: dict[str, object] = {}
    external = {e["sha1"]: e for e in rec.external}
    used_names: set[str] = set()
    counter = itertools.count(1)

    def entity(a: pv.Artifact):
        if a.members:
            return [x for m in a.members for x in as_list(entity(m))]
        if not a.sha1:
            if a.value is None:
                return []
            return [crate.add(ContextEntity(crate, f"#value-{next(counter)}", properties={
                "@type": "PropertyValue", "name": a.role.rsplit("/", 1)[-1], "value": str(a.value)}))]
        if a.sha1 in files:
            return [files[a.sha1]]
        props = {"identifier": f"urn:hash::sha1:{a.sha1}", "name": a.basename or a.sha1}
        src = b / "data" / a.sha1[:2] / a.sha1
        if src.exists():
            name = a.basename or a.sha1
            if name in used_names:
                name = f"{a.sha1[:8]}-{name}"
            used_names.add(name)
            props["contentSize"] = src.stat().st_size
            f = crate.add_file(src, f"data/{name}", properties=props)
        else:
            ext = external.get(a.sha1, {})
            loc = ext.get("path") or f"urn:hash::sha1:{a.sha1}"
            props["contentSize"] = ext.get("size")
            f = crate.add_file(Path(loc).as_uri() if loc.startswith("/") else loc, properties=props)
        files[a.sha1] = f
        return [f]

    def ids(arts):
        return [x for a in arts for x in entity(a)]

    run_action = crate.add_action(wf, identifier="#run", object=ids(rec.inputs), result=ids(rec.outputs), properties={
        "name": f"Run of {rec.workflow}", "startTime": rec.started, "endTime": rec.ended})
    run_action["agent"] = agent
    steps = []
    for i, s in enumerate(rec.steps, 1):
        tool = crate.add(ContextEntity(crate, f"#tool-{s.tool or s.name}", properties={
            "@type": "SoftwareApplication", "name": s.tool or s.name,
            "softwareRequirements": ", ".join(f"{k} {v}" for k, v in sorted(s.software.items()))}))
        act = crate.add_action(tool, identifier=f"#step-{i}-{s.name}", object=ids(s.inputs), result=ids(s.outputs),
                               properties={"name": f"Run of step {s.name}", "startTime": s.started, "endTime": s.ended})
        if s.slurm_job_ids:
            act["description"] = "SLURM job(s) " + ", ".join(s.slurm_job_ids)
        steps.append(act)
    run_action["instrument"] = wf
    engine["description"] = "workflow engine that ran the steps"
    target = Path(out)
    if target.suffix == ".zip":
        crate.write_zip(target)
    else:
        crate.write(target)
    return target
