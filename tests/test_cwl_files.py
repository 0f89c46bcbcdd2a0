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
