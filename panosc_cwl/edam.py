"""EDAM file formats (http://edamontology.org/) of the files our tools read and write.

One table serves four readers: the CWL files' ``format:`` fields (checked by tests), the
Provenance Run Crate's ``encodingFormat`` (EDAM IRI + MIME type), ``cwl/edam-subset.owl`` (the
ontology cwltool reads from ``$schemas`` to decide that, say, a TIFF is a Binary format: these
machines are offline), and the job pre-flight of ``panosc-cwl run``/``validate``: a job File that
states no ``format`` gets the one its content shows (:func:`sniff`), and a File whose content
contradicts the format it states is refused (:func:`contradiction`) before anything runs.

Terms and ``rdfs:subClassOf`` links are EDAM 1.25's. EDAM has no NeXus term (its ``Nexus format``
is the phylogenetics NEXUS; format_3549 is NIfTI), no EDF/CBF term and no Jupyter notebook term:
NeXus files (NXmx, NXazint1d ...) are HDF5 (format_3590, as Galaxy's NeXus datatypes do), EDF and
CBF frames Binary format (format_2333, of which HDF5, TIFF, PNG and NumPy are subclasses),
notebooks JSON (format_3464, as Galaxy's ``ipynb`` does).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

EDAM = "http://edamontology.org/"


@dataclass(frozen=True)
class Format:
    """One EDAM format term: ``term`` (``format_3590``), its label, a MIME type, file suffixes."""

    term: str
    label: str
    mime: str
    suffixes: tuple[str, ...]
    parents: tuple[str, ...] = ("format_1915",)  # EDAM superclasses (rdfs:subClassOf), EDAM 1.25

    @property
    def iri(self) -> str:
        return EDAM + self.term

    @property
    def curie(self) -> str:
        return "edam:" + self.term


FORMATS: dict[str, Format] = {f.term: f for f in [
    Format("format_3590", "HDF5", "application/x-hdf5", (".h5", ".hdf5", ".hdf", ".cxi", ".nxs", ".nx5", ".nx", ".nexus"),
           ("format_2333",)),
    Format("format_3591", "TIFF", "image/tiff", (".tif", ".tiff"), ("format_2333", "format_3547")),
    Format("format_3603", "PNG", "image/png", (".png",), ("format_2333", "format_3547")),
    Format("format_4003", "NumPy format", "application/x-npy", (".npy",), ("format_2333",)),
    Format("format_3752", "CSV", "text/csv", (".csv",), ("format_3751",)),
    Format("format_3464", "JSON", "application/json", (".json", ".ipynb"), ("format_1915", "format_3750")),
    Format("format_3750", "YAML", "application/yaml", (".yml", ".yaml")),
    Format("format_2331", "HTML", "text/html", (".html", ".htm")),
    Format("format_2330", "Textual format", "text/plain", (".txt", ".poni", ".geom", ".cfg", ".conf", ".log", ".dat")),
    Format("format_2333", "Binary format", "application/octet-stream", (".edf", ".cbf", ".bin")),
    # classes above the ones we declare, so that the subset keeps EDAM's hierarchy
    Format("format_3751", "DSV", "text/plain", (), ("format_2330",)),
    Format("format_3547", "Image format", "application/octet-stream", (), ("format_2350",)),
    Format("format_2350", "Format (by type of data)", "application/octet-stream", ()),
]}
HDF5, TIFF, PNG, NUMPY, CSV, JSON, YAML, HTML, TEXT, BINARY = (
    "format_3590", "format_3591", "format_3603", "format_4003", "format_3752", "format_3464", "format_3750",
    "format_2331", "format_2330", "format_2333")
NEXUS, NOTEBOOK = HDF5, JSON  # no EDAM terms of their own (see the module doc)
ROOT = "format_1915"

_SIGNED = (HDF5, PNG, TIFF, NUMPY)  # formats whose files always start with a signature
_MAGIC = [  # leading bytes -> term (content wins over the name)
    (b"\x89HDF\r\n\x1a\n", HDF5),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"II*\x00", TIFF), (b"MM\x00*", TIFF), (b"II+\x00", TIFF), (b"MM\x00+", TIFF),
    (b"\x93NUMPY", NUMPY),
    (b"###CBF", BINARY), (b"###_CIF", BINARY),  # CBF (binary sections): no EDAM term
]
_TEXTUAL = (TEXT, JSON, YAML, HTML, CSV, "format_3751")
_JSON_LIMIT = 64 * 2**20  # parse text files up to this size to tell JSON


def term_of(value: str) -> str | None:
    """``format_3590`` from an IRI, a CURIE (``edam:format_3590``) or the bare term."""
    tail = str(value).rsplit("/", 1)[-1].rsplit(":", 1)[-1].rsplit("#", 1)[-1]
    return tail if tail in FORMATS else None


def by_suffix(name: str) -> Format | None:
    suffix = Path(name).suffix.lower()
    return next((f for f in FORMATS.values() if suffix in f.suffixes), None)


def is_a(term: str, ancestor: str) -> bool:
    """``term`` is ``ancestor`` or one of its EDAM subclasses (what cwltool's format check asks)."""
    if term == ancestor or ancestor == ROOT:
        return True
    f = FORMATS.get(term)
    return f is not None and any(is_a(p, ancestor) for p in f.parents if p != ROOT)


def accepts(declared: list[str] | tuple[str, ...], term: str) -> bool:
    """An input declaring ``declared`` (IRIs, CURIEs or terms) takes a File of format ``term``."""
    return any(is_a(term, t) for t in (term_of(d) for d in declared) if t)


def _hdf5_signature(fh, size: int) -> bool:
    offset = 0  # HDF5 allows a user block: the signature sits at 0, 512, 1024, 2048 ...
    while offset < min(size, 2**20):
        fh.seek(offset)
        if fh.read(8) == b"\x89HDF\r\n\x1a\n":
            return True
        offset = 512 if offset == 0 else offset * 2
    return False


def sniff(path: str | os.PathLike) -> Format | None:
    """The EDAM format a file's content shows: by signature (HDF5, PNG, TIFF, NumPy, CBF), EDF by its
    header, else Binary format (NUL bytes or not UTF-8) or a textual one (JSON if it parses, else
    by suffix: CSV, YAML, HTML, else Textual format). None for an unreadable or empty file."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(65536)
            if not head:
                return None
            for magic, term in _MAGIC:
                if head.startswith(magic):
                    return FORMATS[term]
            if _hdf5_signature(fh, size):
                return FORMATS[HDF5]
    except OSError:
        return None
    if head.startswith(b"{") and b"}" in head[:65536] and any(k in head[:4096] for k in (b"HeaderID", b"EDF_", b"ByteOrder")):
        return FORMATS[BINARY]  # ESRF Data Format: a text header in braces, then binary data
    if b"\x00" in head:
        return FORMATS[BINARY]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut by the 64 KiB read
            return FORMATS[BINARY]
    named = by_suffix(p.name)
    if head.lstrip()[:1] in (b"{", b"[") and size <= _JSON_LIMIT:
        try:
            json.loads(p.read_bytes())
            return FORMATS[JSON]
        except (ValueError, OSError):
            pass
    if named is not None and named.term in (CSV, YAML, HTML):
        return named
    if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        return FORMATS[HTML]
    return FORMATS[TEXT]


def contradiction(path: str | os.PathLike, stated: str) -> str | None:
    """Why the content of ``path`` is not of the ``stated`` format (an IRI or CURIE), or None.

    Decisive only where content can tell: formats with a signature (HDF5, TIFF, PNG, NumPy), JSON
    (it parses or not), and text against binary. A format we do not know is not judged.
    """
    term = term_of(stated)
    if term is None:
        return None
    found = sniff(path)
    if found is None:
        return None
    label = FORMATS[term].label
    if is_a(found.term, term):
        return None
    if any(is_a(term, s) for s in _SIGNED):
        return f"{Path(path).name} is not {label} (its content is {found.label})"
    if is_a(term, JSON):
        return f"{Path(path).name} is not {label}" + (" (it does not parse as JSON)" if found.term in _TEXTUAL else
                                                        f" (its content is {found.label})")
    textual_stated = any(is_a(term, t) for t in _TEXTUAL)
    textual_found = any(is_a(found.term, t) for t in _TEXTUAL)
    if textual_stated != textual_found and (textual_stated or is_a(term, BINARY)):
        return f"{Path(path).name} is not {label} (its content is {found.label})"
    return None


@dataclass(frozen=True)
class Verdict:
    """What :func:`check_file` found: the File's EDAM term, whether it came from the content, or why not."""

    term: str | None
    inferred: bool = False
    error: str | None = None


def expand(value: str, namespaces: dict | None = None) -> str:
    """A format as cwltool reads it: a CURIE expanded with the job's ``$namespaces`` (``edam:`` always)."""
    text = str(value)
    prefix, sep, rest = text.partition(":")
    if sep and not rest.startswith("//"):
        base = (namespaces or {}).get(prefix) or (EDAM if prefix == "edam" else None)
        if base:
            return str(base) + rest
    return text


def describe(declared) -> str:
    """``HDF5 (http://edamontology.org/format_3590) or TIFF (...)`` for an input's declared formats."""
    out = []
    for d in declared:
        t = term_of(d)
        out.append(f"{FORMATS[t].label} ({FORMATS[t].iri})" if t and str(d).startswith(EDAM) else str(d))
    return " or ".join(out)


def check_file(path: str | os.PathLike | None, stated: str | None, declared, namespaces: dict | None = None) -> Verdict:
    """A job File (local ``path``, or None when remote) against an input declaring ``declared`` formats.

    Stated format: it must be ``declared`` or an EDAM subclass of it (what cwltool checks), and the
    content must not contradict it. No stated format: the content's (:func:`sniff`), if the input takes it.
    """
    declared = [str(d) for d in declared]
    wanted = describe(declared)
    if stated:
        iri = expand(stated, namespaces)
        term = term_of(iri) if iri.startswith(EDAM) else None
        if term is None:  # a vocabulary we do not ship: cwltool compares the IRIs
            ok = iri in declared
            return Verdict(None, error=None if ok else f"format {iri} given where {wanted} is expected")
        if not accepts(declared, term):
            return Verdict(term, error=f"format {FORMATS[term].label} ({FORMATS[term].iri}) given where {wanted} is expected")
        why = contradiction(path, term) if path is not None else None
        if why:
            return Verdict(term, error=f"{why}: correct the File's format ({stated}) or its path")
        return Verdict(term)
    if path is None:
        first = term_of(declared[0]) if declared else None
        hint = FORMATS[first].curie if first else declared[0] if declared else "..."
        return Verdict(None, error=f"this input takes {wanted}: add format: {hint} to the File")
    found = sniff(path)
    name = Path(path).name
    if found is None:
        return Verdict(None, error=f"{name} is empty or unreadable, so its format cannot be told; this input takes {wanted}")
    if not accepts(declared, found.term):
        return Verdict(found.term, error=f"{name} is {found.label} (from its content); this input takes {wanted}")
    return Verdict(found.term, inferred=True)


def owl_subset() -> str:
    """RDF/XML of the EDAM classes in :data:`FORMATS` (labels, EDAM's subclass links): ``cwl/edam-subset.owl``."""
    lines = ['<?xml version="1.0"?>',
             '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"',
             '         xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#"',
             '         xmlns:owl="http://www.w3.org/2002/07/owl#">',
             '  <owl:Ontology rdf:about="http://edamontology.org/">',
             '    <rdfs:comment>Subset of EDAM 1.25 (http://edamontology.org/, CC BY-SA 4.0): the formats panosc-cwl '
             'declares, with their EDAM superclasses. Generated by panosc_cwl.edam.owl_subset().</rdfs:comment>',
             '  </owl:Ontology>']
    for f in FORMATS.values():
        lines.append(f'  <owl:Class rdf:about="{f.iri}">')
        lines.append(f'    <rdfs:label>{f.label}</rdfs:label>')
        for parent in f.parents:
            lines.append(f'    <rdfs:subClassOf rdf:resource="{EDAM + parent}"/>')
        lines.append('  </owl:Class>')
    lines += ['  <owl:Class rdf:about="http://edamontology.org/format_1915">',
              '    <rdfs:label>Format</rdfs:label>', '  </owl:Class>', '</rdf:RDF>', '']
    return "\n".join(lines)
