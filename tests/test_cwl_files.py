"""Every CWL file is a documented contract: valid, labelled, typed, with authorship, licence and versions."""

import io
import logging
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
CWL_FILES = sorted((ROOT / "cwl").rglob("*.cwl"))


def _load(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text())


def test_there_are_tools_and_workflows():
    assert any(p.parent.name == "tools" for p in CWL_FILES)
    assert (ROOT / "cwl/workflows/powder-xrd.cwl") in CWL_FILES


@pytest.mark.parametrize("path", CWL_FILES, ids=lambda p: p.name)
def test_validates_without_warnings(path):
    from cwltool.main import main as cwltool_main

    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    rc = cwltool_main(["--enable-ext", "--validate", str(path)], stdout=out, stderr=err, logger_handler=handler)
    text = err.getvalue() + out.getvalue()
    assert rc == 0, text
    assert "is valid CWL" in text
    assert "Warning" not in text and "WARNING" not in text, text


def _requirements(doc: dict) -> dict:
    found = {}
    for section in ("requirements", "hints"):
        value = doc.get(section) or {}
        if isinstance(value, list):
            value = {item["class"]: item for item in value}
        found.update(value)
    return found


@pytest.mark.parametrize("path", CWL_FILES, ids=lambda p: p.name)
def test_metadata_contract(path):
    doc = _load(path)
    assert doc.get("label"), "label missing"
    assert doc.get("doc") and len(doc["doc"]) > 40, "doc missing or too short"
    assert doc.get("s:license"), "s:license missing"
    assert doc.get("s:author"), "s:author missing"
    sw = _requirements(doc).get("SoftwareRequirement")
    assert sw and sw["packages"], "SoftwareRequirement missing"
    packages = sw["packages"]
    items = packages.values() if isinstance(packages, dict) else packages
    for pkg in items:
        assert pkg.get("version"), f"no version for {pkg}"
    inputs = doc.get("inputs") or {}
    items = inputs.items() if isinstance(inputs, dict) else [(i["id"], i) for i in inputs]
    for name, spec in items:
        assert isinstance(spec, dict) and spec.get("type"), f"input {name} untyped"
        assert spec.get("doc"), f"input {name} has no doc"
        assert spec.get("label"), f"input {name} has no label"


# ------------------------------------------------------------------ EDAM formats (issue 13)
EDAM_PREFIX = "edam:"


def _is_file(t) -> bool:
    if isinstance(t, str):
        return t.rstrip("?").replace("[]", "") in ("File", "stdout")
    if isinstance(t, list):
        return any(_is_file(x) for x in t)
    if isinstance(t, dict):
        return t.get("type") == "array" and _is_file(t.get("items"))
    return False


def _params(doc: dict, section: str) -> dict:
    items = doc.get(section) or {}
    return dict(items) if isinstance(items, dict) else {i["id"]: i for i in items}


def _formats(spec) -> list[str]:
    fmt = spec.get("format") if isinstance(spec, dict) else None
    return [] if not fmt else fmt if isinstance(fmt, list) else [fmt]


@pytest.mark.parametrize("path", CWL_FILES, ids=lambda p: p.name)
def test_every_file_input_and_output_has_an_edam_format(path):
    """cwltool checks a File against its input's format (EDAM subclasses count), so a wrong file is
    refused before the tool runs; outputs say what they are for the next step and the crate."""
    from panosc_cwl import edam

    doc = _load(path)
    files = {f"{section[:-1]} {n}": s for section in ("inputs", "outputs") for n, s in _params(doc, section).items()
             if _is_file(s if isinstance(s, str) else s.get("type"))}
    for name, spec in files.items():
        fmts = _formats(spec)
        assert fmts, f"{name}: no format"
        for fmt in fmts:
            assert fmt.startswith(EDAM_PREFIX) and edam.term_of(fmt), f"{name}: {fmt} is not an EDAM term we ship"
        default = spec.get("default") if isinstance(spec, dict) else None
        if isinstance(default, dict) and default.get("class") == "File":  # cwltool checks defaults too
            assert edam.accepts(fmts, edam.term_of(default.get("format", "")) or ""), f"{name}: default without format"
    if files:
        assert doc["$namespaces"].get("edam") == edam.EDAM
        assert doc.get("$schemas") == ["../edam-subset.owl"]  # cwltool loads it: no network needed


WORKFLOWS = [p for p in CWL_FILES if p.parent.name == "workflows"]


def _sources(src) -> list[str]:
    sources = src if isinstance(src, list) else [src] if isinstance(src, str) else src.get("source") or []
    return sources if isinstance(sources, list) else [sources]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_step_wiring_is_format_checked(path):
    """Every File a step receives (from another step or from the workflow's own inputs) has a declared
    format its target input takes, EDAM subclasses counting as cwltool counts them. cwltool itself
    checks this only when the step is about to run (``--validate`` does not), so this is the static
    check; ``panosc-cwl validate`` makes the same one before a run (test_standards_crate)."""
    from panosc_cwl import edam

    doc = _load(path)
    steps, wf_inputs = doc["steps"], _params(doc, "inputs")
    checked = 0
    for sname, step in steps.items():
        targets = _params(_load(path.parent / step["run"]), "inputs")
        for iname, src in step["in"].items():
            target = targets.get(iname)
            if target is None or not _is_file(target if isinstance(target, str) else target.get("type")):
                continue
            want = _formats(target)
            assert want, f"{sname}.{iname} declares no format"
            for s in _sources(src):
                if "/" in s:
                    up_step, up_out = s.split("/")
                    given = _formats(_params(_load(path.parent / steps[up_step]["run"]), "outputs")[up_out])
                else:
                    given = _formats(wf_inputs[s])
                assert given, f"{sname}.{iname} is fed by {s}, which declares no format"
                for g in given:  # every format the source may carry must be taken
                    assert edam.accepts(want, edam.term_of(g)), f"{sname}.{iname} wants {want}, {s} may give {g}"
                checked += 1
    assert checked


def test_edam_subset_matches_the_table():
    from panosc_cwl import edam
    from rdflib import Graph, RDFS, URIRef

    owl = ROOT / "cwl/edam-subset.owl"
    assert owl.read_text() == edam.owl_subset()
    g = Graph().parse(owl, format="xml")
    for f in edam.FORMATS.values():
        assert str(g.value(URIRef(f.iri), RDFS.label)) == f.label
        assert {str(o) for o in g.objects(URIRef(f.iri), RDFS.subClassOf)} == {edam.EDAM + p for p in f.parents}


def test_edam_hierarchy_lets_cwltool_accept_subformats():
    """With the subset loaded, cwltool's own check takes a TIFF or HDF5 file where Binary format is
    asked, a CSV where Textual format is, and refuses HDF5 where TIFF is (cwl_utils.file_formats)."""
    from cwl_utils.file_formats import check_format
    from rdflib import Graph
    from schema_salad.exceptions import ValidationException

    from panosc_cwl import edam

    g = Graph().parse(ROOT / "cwl/edam-subset.owl", format="xml")
    e = edam.EDAM
    for fmt, asked in [("format_3591", "format_2333"), ("format_3590", "format_2333"), ("format_3752", "format_2330"),
                       ("format_3464", "format_3750"), ("format_4003", "format_2333")]:
        check_format({"class": "File", "format": e + fmt}, [e + asked], g)
        assert edam.is_a(fmt, asked)
    for fmt, asked in [("format_3590", "format_3591"), ("format_3603", "format_3590"), ("format_3464", "format_2330")]:
        with pytest.raises(ValidationException):
            check_format({"class": "File", "format": e + fmt}, [e + asked], g)
        assert not edam.is_a(fmt, asked)
