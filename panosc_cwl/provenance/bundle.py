"""CWLProv research-object bundles as BagIt bags: check, verify, re-hash, redact, write PROV.

cwltool (``--provenance``) writes, and :mod:`panosc_cwl.provenance.toil` builds for Toil, a BagIt
bag in the CWLProv layout::

    bagit.txt  bag-info.txt  manifest-sha1.txt  tagmanifest-sha*.txt
    data/<2 hex>/<sha1>                 the files the run used and made, named by content
    workflow/packed.cwl                 the workflow, packed into one document
    workflow/primary-job.json           the job (inputs)
    metadata/provenance/primary.cwlprov.{json,provn,xml,ttl,nt,jsonld}   W3C PROV

Everything reads that one layout, so a bundle passes the same
:func:`panosc_cwl.provenance.model.load_run` and :func:`verify_bundle` whichever runner made it.
After we change a bag (:mod:`panosc_cwl.provenance.enrich`), :func:`rehash_bundle` re-computes
its manifests so it stays valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import InputError, PanoscError
from ._util import as_list, literal, records

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
    """``text`` with every secret value and every credential in a URL replaced by ``***``."""
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
    if bundle_state(b) == "incomplete":
        raise BundleError(f"{b} is an INCOMPLETE bundle: its run was interrupted or failed before the runner "
                          f"wrote {PROV_JSON}; it records nothing valid (delete it, or run again)", field="bundle")
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
    ents = records(prov, "entity")
    for rec in records(prov, "specializationOf").values():
        for r in as_list(rec):
            gen, spec = r.get("prov:generalEntity", ""), r.get("prov:specificEntity", "")
            for attrs in as_list(ents.get(spec, {})):
                if "cwlprov:basename" in attrs and gen.startswith("data:"):
                    out[gen[5:]] = literal(attrs["cwlprov:basename"])
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



def load_packed(bundle: Path) -> dict | None:
    p = bundle / "workflow" / "packed.cwl"
    if not p.exists():
        return None
    text = p.read_text(encoding="utf-8")
    try:  # cwltool writes packed.cwl as JSON: 500x faster than the YAML loader, the same data
        return json.loads(text)
    except ValueError:
        from ruamel.yaml import YAML

        return YAML(typ="safe", pure=True).load(text)


def nested_provs(bundle: Path) -> dict[str, dict]:
    """The sub-workflow PROV documents of a cwltool bundle (file name -> PROV-JSON)."""
    folder = bundle / "metadata" / "provenance"
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.cwlprov.json")
            if p.name != "primary.cwlprov.json" and "toil-original" not in p.name}



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



def default_bundle_dir(outdir: Path, overwrite: bool = False) -> Path:
    """Where ``panosc-cwl run`` puts the bundle: ``<outdir>/provenance``.

    That folder, or the first numbered one (``provenance-2``...) that holds no complete bundle: a
    complete bundle (another tool's run into the same folder) is kept, unless ``overwrite``.
    """
    cand = outdir / "provenance"
    i = 1
    while not overwrite and bundle_state(cand) == "complete":
        i += 1
        cand = outdir / f"provenance-{i}"
    return cand


def bundle_state(path: Path) -> str:
    """absent, empty, incomplete (a runner started it: bagit.txt or data/, no PROV document) or complete."""
    if not path.exists():
        return "absent"
    if path.is_dir() and not any(path.iterdir()):
        return "empty"
    if path.is_dir() and not (path / PROV_JSON).is_file() and ((path / "bagit.txt").exists() or (path / "data").is_dir()):
        return "incomplete"
    return "complete"


def claim_bundle_dir(path: Path, overwrite: bool = False) -> str | None:
    """Make ``path`` free for a new bundle; a note (one line) when an earlier bundle was removed.

    The incomplete bundle of an interrupted run is replaced; a complete one only with ``overwrite``
    (otherwise InputError): a new run never silently writes a second, numbered bundle.
    """
    import shutil

    state = bundle_state(path)
    if state in ("absent", "empty"):
        return None
    if state == "incomplete":
        shutil.rmtree(path)
        return f"removed the incomplete provenance bundle of an earlier interrupted run: {path}"
    if not path.is_dir() or not overwrite:
        raise InputError(f"{path} holds the provenance bundle of an earlier run; use --overwrite to replace it, "
                         "or another --outdir or --provenance DIR", field="provenance")
    shutil.rmtree(path)
    return f"replaced the provenance bundle of an earlier run (--overwrite): {path}"


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
