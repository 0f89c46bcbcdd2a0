"""The project's environment keeps stock cwltool working: orjson must not be importable in .venv.

With orjson importable, rdflib's JSON-LD writer uses orjson.dumps, which cannot serialise the
ruamel.yaml floats (``ScalarFloat``) of a YAML job file: every ``cwltool --provenance`` run with a float
input then loses its output object and its ``primary.cwlprov.jsonld``. h5grove (the web page's HDF5
server) needs orjson, so the web page lives in .venv-web (.ci/install-web); this test is the guard.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path


TOOL = """cwlVersion: v1.2
class: CommandLineTool
baseCommand: echo
inputs:
  threshold: {type: float, inputBinding: {position: 1}}
outputs:
  echoed: stdout
stdout: echoed.txt
"""


def test_orjson_is_not_importable_in_the_project_environment():
    assert importlib.util.find_spec("orjson") is None, (
        "orjson is installed in .venv: it breaks `cwltool --provenance` (rdflib JSON-LD); "
        "the web stack belongs in .venv-web (.ci/install-web)")


def test_stock_cwltool_provenance_with_a_float_from_a_yaml_job(tmp_path):
    (tmp_path / "echo.cwl").write_text(TOOL)
    (tmp_path / "job.yml").write_text("threshold: 1.5\n")
    # stock cwltool, as `cwltool --provenance` from this environment runs it
    res = subprocess.run([sys.executable, "-m", "cwltool", "--provenance", str(tmp_path / "ro"),
                          "--outdir", str(tmp_path / "out"),
                          str(tmp_path / "echo.cwl"), str(tmp_path / "job.yml")],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "not JSON serializable" not in res.stderr and "ERROR" not in res.stderr, res.stderr
    out = json.loads(res.stdout)  # the output object: missing when finalising the provenance failed
    assert Path(out["echoed"]["path"]).read_text().strip() == "1.5"
    jsonld = tmp_path / "ro" / "metadata" / "provenance" / "primary.cwlprov.jsonld"
    graph = json.loads(jsonld.read_text())
    assert "1.5" in json.dumps(graph)  # the float input is recorded in the JSON-LD provenance
