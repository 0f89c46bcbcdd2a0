"""What we add to every bundle, whichever runner made it (:func:`enrich_bundle`): the job with
absolute locations and checksums (for ``rerun``), the runner and environment (secret names
dropped), tool versions per step, large data referenced instead of copied, secrets redacted.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from ..runners import cwl_file_objects
from ._util import uri_path
from .bundle import (DEFAULT_REFERENCE_ABOVE, PANOSC_DIR, PANOSC_NS, check_bundle, load_packed, load_prov_document,
                     rehash_bundle, redact_text, safe_environment, save_prov_document, secret_values, sha1_file)
from .model import declared_software


def resolve_job(job_path: Path | None) -> dict:
    """The job file as data, with every File's location made an absolute ``file://`` URI."""
    if job_path is None:
        return {}
    from ruamel.yaml import YAML

    from ..edam import expand

    job = YAML(typ="safe", pure=True).load(Path(job_path).read_text(encoding="utf-8")) or {}
    namespaces = job.pop("$namespaces", None) or {}  # not an input: it spells the Files' format CURIEs
    job = {k: v for k, v in job.items() if not str(k).startswith("$")}
    base = Path(job_path).resolve().parent
    for f in cwl_file_objects(job):
        if f.get("format"):
            f["format"] = expand(f["format"], namespaces)
        loc = f.pop("path", None) or f.get("location")
        if loc and not re.match(r"^\w+://", str(loc)):
            f["location"] = (base / loc).resolve().as_uri()
        elif loc:
            f["location"] = str(loc)
    return job


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
