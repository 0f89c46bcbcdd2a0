"""Provenance export cost: bundles of 10, 1000 and 10000 files, and NXprocess size vs a large file.

For each bundle size N, a CWLProv bundle is built (one workflow run, one step that used N
1-KiB files and made one NeXus file; PROV written with the prov library, manifests by
panosc_cwl.provenance.rehash_bundle) and we time, on it:

- ``verify``     panosc_cwl.provenance.verify_bundle (every BagIt checksum),
- ``enrich``     panosc_cwl.provenance.enrich_bundle (what `run` adds to every bundle),
- ``to-nexus``   panosc_cwl.provenance.nexus.to_nexus into a small NeXus file (bytes added too),
- ``to-rocrate`` panosc_cwl.provenance.rocrate.to_rocrate.

Then the NXprocess chain of a 3-step run is written into a NeXus file holding SIZE of data
(``--large-mb``, default 1024) and the bytes added are compared with the file size.

Run: ``.venv/bin/python benchmarks/provenance_export.py [--sizes 10 1000 10000] [--large-mb 1024]``
(results as JSON on stdout; scratch files in a temporary folder, removed afterwards).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from panosc_cwl import provenance as pv  # noqa: E402
from panosc_cwl.provenance import nexus as pn  # noqa: E402

PACKED = {
    "cwlVersion": "v1.2",
    "$graph": [
        {"class": "CommandLineTool", "id": "#tool.cwl", "baseCommand": ["panosc-cwl", "powder", "reduce"],
         "inputs": [{"id": "#tool.cwl/files", "type": {"type": "array", "items": "File"}}],
         "outputs": [{"id": "#tool.cwl/out", "type": "File", "outputBinding": {"glob": "out.nxs"}}],
         "hints": [{"class": "SoftwareRequirement", "packages": [{"package": "h5py", "version": [">=3"]}]}]},
        {"class": "Workflow", "id": "#main",
         "inputs": [{"id": "#main/files", "type": {"type": "array", "items": "File"}}],
         "outputs": [{"id": "#main/out", "type": "File", "outputSource": "#main/step/out"}],
         "steps": [{"id": "#main/step", "run": "#tool.cwl", "in": [{"id": "#main/step/files", "source": "#main/files"}],
                    "out": ["#main/step/out"]}]},
    ],
}


def small_nexus(path: Path, frames: int = 1, shape=(64, 64)) -> Path:
    with h5py.File(path, "w") as f:
        f.attrs["default"] = "entry"
        e = f.create_group("entry")
        e.attrs["NX_class"] = "NXentry"
        d = e.create_group("data")
        d.attrs["NX_class"] = "NXdata"
        d.create_dataset("data", data=np.random.default_rng(0).poisson(10, (frames, *shape)).astype("uint16"))
    return path


def large_nexus(path: Path, megabytes: int) -> Path:
    """A NeXus file with ``megabytes`` MiB of incompressible frames, written frame by frame."""
    shape = (1024, 1024)  # 2 MiB per uint16 frame
    n = max(1, megabytes // 2)
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f.attrs["default"] = "entry"
        e = f.create_group("entry")
        e.attrs["NX_class"] = "NXentry"
        d = e.create_group("data")
        d.attrs["NX_class"] = "NXdata"
        ds = d.create_dataset("data", shape=(n, *shape), dtype="uint16", chunks=(1, *shape))
        frame = rng.integers(0, 65535, shape, dtype="uint16")
        for i in range(n):
            ds[i] = np.roll(frame, i)
    return path


def make_bundle(folder: Path, n_files: int, output: Path) -> Path:
    """A CWLProv bundle of one run whose single step used ``n_files`` files and made ``output``."""
    from prov.model import ProvDocument

    b = folder / f"bundle-{n_files}"
    (b / "workflow").mkdir(parents=True)
    (b / "metadata/provenance").mkdir(parents=True)
    (b / "bagit.txt").write_text("BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n")
    (b / "bag-info.txt").write_text("External-Description: benchmark bundle\n")
    (b / "workflow/packed.cwl").write_text(json.dumps(PACKED, indent=1))
    rng = np.random.default_rng(n_files)
    doc = ProvDocument()
    for prefix, uri in {"wfprov": "http://purl.org/wf4ever/wfprov#", "wfdesc": "http://purl.org/wf4ever/wfdesc#",
                        "cwlprov": "https://w3id.org/cwl/prov#", "wf4ever": "http://purl.org/wf4ever/wf4ever#",
                        "id": "urn:uuid:", "data": "urn:hash::sha1:", "foaf": "http://xmlns.com/foaf/0.1/",
                        "wf": "arcp://uuid,00000000-0000-0000-0000-000000000000/workflow/packed.cwl#"}.items():
        doc.add_namespace(prefix, uri)
    q = doc.valid_qualified_name
    t0 = "2026-11-25T10:00:00"
    engine = doc.agent("id:engine", [("prov:type", q("wfprov:WorkflowEngine")), ("prov:label", "benchmark")])
    run = doc.activity(f"id:{uuid.uuid4()}", t0, None, {"prov:type": q("wfprov:WorkflowRun"),
                                                       "prov:label": "Run of workflow/packed.cwl#main"})
    doc.wasStartedBy(run, None, engine, t0)
    step = doc.activity(f"id:{uuid.uuid4()}", None, None, {"prov:type": q("wfprov:ProcessRun"),
                                                         "prov:label": "Run of workflow/packed.cwl#main/step"})
    doc.wasStartedBy(step, None, run, t0)
    coll = doc.collection(f"id:{uuid.uuid4()}")
    job_files = []
    for i in range(n_files):
        data = rng.bytes(1024)
        sha = hashlib.sha1(data).hexdigest()
        (b / "data" / sha[:2]).mkdir(parents=True, exist_ok=True)
        (b / "data" / sha[:2] / sha).write_bytes(data)
        ent = doc.entity(f"id:{uuid.uuid4()}", {"prov:type": q("wf4ever:File"), "cwlprov:basename": f"f{i:05d}.bin"})
        doc.specializationOf(ent, doc.entity(f"data:{sha}"))
        doc.hadMember(coll, ent)
        job_files.append({"class": "File", "location": f"../data/{sha[:2]}/{sha}", "checksum": f"sha1${sha}"})
    doc.used(step, coll, t0, other_attributes={"prov:role": q("wf:main/step/files")})
    doc.used(run, coll, t0, other_attributes={"prov:role": q("wf:main/files")})
    osha = pv.sha1_file(output)
    shutil.copyfile(output, (b / "data" / osha[:2]).mkdir(parents=True, exist_ok=True) or b / "data" / osha[:2] / osha)
    out_ent = doc.entity(f"id:{uuid.uuid4()}", {"prov:type": q("wf4ever:File"), "cwlprov:basename": output.name})
    doc.specializationOf(out_ent, doc.entity(f"data:{osha}"))
    t1 = "2026-11-25T10:00:05"
    doc.wasGeneratedBy(out_ent, step, t1, other_attributes={"prov:role": q("wf:main/step/out")})
    doc.wasEndedBy(step, None, run, t1)
    doc.wasGeneratedBy(out_ent, run, t1, other_attributes={"prov:role": q("wf:main/primary/out")})
    doc.wasEndedBy(run, None, engine, t1)
    (b / pv.PROV_JSON).write_text(doc.serialize(format="json"))
    (b / "workflow/primary-job.json").write_text(json.dumps({"files": job_files}))
    (b / "tagmanifest-sha256.txt").write_text("")
    pv.rehash_bundle(b)
    return b


def timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t


def bench_sizes(tmp: Path, sizes: list[int], rocrate_max: int) -> list[dict]:
    from panosc_cwl.provenance.rocrate import to_rocrate

    rows = []
    for n in sizes:
        out = small_nexus(tmp / f"out-{n}.nxs")
        b = make_bundle(tmp, n, out)
        rep, t_verify = timed(pv.verify_bundle, b)
        assert rep.ok, rep.problems[:3]
        _, t_enrich = timed(pv.enrich_bundle, b, job=None, outputs=None, env={"HOME": "/root"})
        size_before = out.stat().st_size
        res, t_nexus = timed(pn.to_nexus, b, [out])
        row = {"files": n, "verify_s": round(t_verify, 3), "enrich_s": round(t_enrich, 3),
               "to_nexus_s": round(t_nexus, 3), "to_nexus_s_per_1000": round(t_nexus / n * 1000, 3),
               "nexus_bytes_added": res[0].bytes_added, "nexus_size_before": size_before,
               "prov_json_bytes": (b / pv.PROV_JSON).stat().st_size}
        if n <= rocrate_max:
            _, t_crate = timed(to_rocrate, b, tmp / f"crate-{n}")
            row["to_rocrate_s"] = round(t_crate, 3)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
        shutil.rmtree(b)
    return rows


def bench_large(tmp: Path, megabytes: int) -> dict:
    """NXprocess bytes added to a large data file, for a 3-step chain (the powder workflow's shape)."""
    big, t_write = timed(large_nexus, tmp / "large.nxs", megabytes)
    # a bundle whose output is the large file: sized like a real run (a few dozen files)
    small = small_nexus(tmp / "stand-in.nxs")
    b = make_bundle(tmp, 30, small)
    before = big.stat().st_size
    res, t = timed(pn.to_nexus, b, [big])
    return {"data_bytes": before, "write_s": round(t_write, 1), "to_nexus_s": round(t, 2),
            "bytes_added": res[0].bytes_added, "percent_added": round(100 * res[0].bytes_added / before, 5)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10000])
    ap.add_argument("--large-mb", type=int, default=1024, help="size of the large NeXus file (MiB); 0 to skip")
    ap.add_argument("--rocrate-max", type=int, default=10000, help="skip to-rocrate above this many files")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="panosc-provbench-"))
    try:
        result = {"sizes": bench_sizes(tmp, args.sizes, args.rocrate_max)}
        if args.large_mb:
            free = shutil.disk_usage(tmp).free
            if free < 3 * args.large_mb * 1024**2:
                result["large"] = f"skipped: {free / 1024**3:.1f} GiB free, need 3x{args.large_mb} MiB"
            else:
                result["large"] = bench_large(tmp, args.large_mb)
        result["machine"] = {"cpus": os.cpu_count()}
        print(json.dumps(result, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
