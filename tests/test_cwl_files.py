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


@pytest.mark.parametrize("path", CWL_FILES, ids=lambda p: p.name)
def test_every_file_output_has_an_edam_format(path):
    from panosc_cwl import edam

    doc = _load(path)
    outs = {n: s for n, s in _params(doc, "outputs").items() if _is_file(s if isinstance(s, str) else s.get("type"))}
    for name, spec in outs.items():
        fmt = spec.get("format") if isinstance(spec, dict) else None
        assert fmt, f"output {name}: no format"
        assert fmt.startswith(EDAM_PREFIX) and edam.term_of(fmt), f"output {name}: {fmt} is not an EDAM term we ship"
    for name, spec in _params(doc, "inputs").items():
        fmt = spec.get("format") if isinstance(spec, dict) else None
        if fmt:
            assert fmt.startswith(EDAM_PREFIX) and edam.term_of(fmt), f"input {name}: {fmt} is not an EDAM term we ship"
    if outs or any(isinstance(s, dict) and s.get("format") for s in _params(doc, "inputs").values()):
        assert doc["$namespaces"].get("edam") == edam.EDAM
        assert doc.get("$schemas") == ["../edam-subset.owl"]  # cwltool loads it: no network needed


WORKFLOWS = [p for p in CWL_FILES if p.parent.name == "workflows"]


def _user_fed() -> set[tuple[Path, str]]:
    """(tool file, input) pairs some workflow feeds straight from its own inputs (the user's job)."""
    out = set()
    for wf in WORKFLOWS:
        for step in _load(wf)["steps"].values():
            for iname, src in step["in"].items():
                sources = src if isinstance(src, list) else [src] if isinstance(src, str) else src.get("source") or []
                if any("/" not in s for s in (sources if isinstance(sources, list) else [sources])):
                    out.add(((wf.parent / step["run"]).resolve(), iname))
    return out


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_step_wiring_is_format_checked(path):
    """Every File a step receives from another step goes into an input that declares the format the
    upstream output declares, so cwltool refuses a wrong wiring before the step runs. Inputs that
    some workflow feeds from its own inputs are the user's (jobs/ and every hand-written job): a
    declared format there would make every job state it, so those stay open."""
    doc = _load(path)
    steps = doc["steps"]
    user_fed = _user_fed()
    for sname, step in steps.items():
        run = _load(path.parent / step["run"])
        targets = _params(run, "inputs")
        for iname, src in step["in"].items():
            sources = src if isinstance(src, list) else [src] if isinstance(src, str) else src.get("source") or []
            sources = sources if isinstance(sources, list) else [sources]
            target = targets.get(iname)
            if target is None or not _is_file(target if isinstance(target, str) else target.get("type")):
                continue
            if ((path.parent / step["run"]).resolve(), iname) in user_fed:
                continue  # pyfai-integrate1d's frames: a user's file in powder-xrd, a step's in euxfel-agipd
            for s in sources:
                if "/" not in s:
                    continue
                up_step, up_out = s.split("/")
                up = _params(_load(path.parent / steps[up_step]["run"]), "outputs")[up_out]
                want = target.get("format") if isinstance(target, dict) else None
                assert want, f"{sname}.{iname} (fed by {s}) declares no format"
                assert up.get("format") in ([want] if isinstance(want, str) else want), \
                    f"{sname}.{iname} wants {want}, {s} gives {up.get('format')}"


def test_edam_subset_matches_the_table():
    from panosc_cwl import edam
    from rdflib import Graph, RDFS, URIRef

    owl = ROOT / "cwl/edam-subset.owl"
    assert owl.read_text() == edam.owl_subset()
    g = Graph().parse(owl, format="xml")
    for f in edam.FORMATS.values():
        assert str(g.value(URIRef(f.iri), RDFS.label)) == f.label
