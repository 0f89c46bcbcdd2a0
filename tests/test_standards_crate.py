"""The community's own validators on our provenance, offline: roc-validator (RO-Crate 1.3 and
Provenance Run Crate 0.5) on the crates of real cwltool and Toil runs of the powder and the
calibration workflows, ``cwlprov validate`` on both runners' bundles, and cwltool's own EDAM
format check refusing a wrongly wired file before the tool runs.

Known roc-validator 0.13.0 bugs are excepted by name (panosc_cwl.crate_check.KNOWN_VALIDATOR_BUGS).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from panosc_cwl import crate_check
from panosc_cwl import provenance as pv

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
POWDER = ROOT / "cwl/workflows/powder-xrd.cwl"
CALIBRATION = ROOT / "cwl/workflows/detector-calibration-simulated.cwl"
EDAM = "http://edamontology.org/"


def _cli(*args: str, cwd: Path | None = None, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    res = subprocess.run([str(BIN / "panosc-cwl"), *args], capture_output=True, text=True, env=ENV, cwd=cwd,
                         timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"panosc-cwl {' '.join(args)} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return res


def _powder_job(folder: Path) -> Path:
    from panosc_cwl.simulate import PowderSimulation, simulate_powder

    sim = simulate_powder(folder / "data", PowderSimulation(n_frames=3, seed=4), edf_frames=0, tiff_frames=0)
    job = folder / "job.yml"
    job.write_text(f"frames: [{{class: File, path: {sim.stack}}}]\ndataset: {sim.dataset}\n"
                   f"poni: {{class: File, path: {sim.poni}}}\nnpt: 300\ncalibrant: CeO2\n")
    return job


def _calibration_job(folder: Path) -> Path:
    job = folder / "job.yml"  # jobs/detector-calibration-simulated.yml, smaller
    job.write_text((ROOT / "jobs/detector-calibration-simulated.yml").read_text()
                   .replace("modules: 4", "modules: 2").replace("[64, 64]", "[32, 32]").replace("n_darks: 50", "n_darks: 20"))
    return job


_RUNS: dict[tuple[str, str], dict] = {}


def _run(which: str, runner: str, factory) -> dict:
    """One real run (and its crate) per workflow and runner, shared by this module's tests."""
    key = (which, runner)
    if key not in _RUNS:
        tmp = factory.mktemp(f"{which}-{runner}")
        workflow, job = (POWDER, _powder_job(tmp)) if which == "powder" else (CALIBRATION, _calibration_job(tmp))
        out = tmp / "out"
        _cli("run", str(workflow), str(job), "--runner", runner, "--outdir", str(out), cwd=tmp)
        crate = tmp / "crate"
        _cli("provenance", "to-rocrate", str(out / "provenance"), "-o", str(crate))
        _RUNS[key] = {"workflow": workflow, "bundle": out / "provenance", "crate": crate,
                      "graph": json.loads((crate / "ro-crate-metadata.json").read_text())["@graph"]}
    return _RUNS[key]


RUNS = [pytest.param(w, r, marks=[pytest.mark.xdist_group(f"standards-{w}-{r}")] + ([pytest.mark.toil] if r == "toil" else []),
                     id=f"{w}-{r}") for w in ("powder", "calibration") for r in ("cwltool", "toil")]


def _types(e: dict) -> list[str]:
    return e["@type"] if isinstance(e["@type"], list) else [e["@type"]]


def _of(graph: list[dict], t: str) -> list[dict]:
    return [e for e in graph if t in _types(e)]


def _structure(workflow: Path) -> dict:
    """Counts the crate must show, from the CWL sources: steps, parameters, connections."""
    yaml = YAML(typ="safe", pure=True)
    tools: dict[Path, dict] = {}
    counts = {"steps": 0, "connections": 0}

    def walk(path: Path) -> None:
        doc = yaml.load(path.read_text())
        counts["connections"] += sum(1 for o in doc["outputs"].values() if o.get("outputSource"))
        for step in doc["steps"].values():
            counts["steps"] += 1
            for src in step["in"].values():
                srcs = src if isinstance(src, (str, list)) else src.get("source", [])
                counts["connections"] += len(srcs) if isinstance(srcs, list) else 1
            run = (path.parent / step["run"]).resolve()
            if run not in tools:
                tools[run] = yaml.load(run.read_text())
                if tools[run]["class"] == "Workflow":
                    walk(run)

    walk(workflow)
    main = yaml.load(workflow.read_text())
    params = len(main["inputs"]) + len(main["outputs"])
    params += sum(len(t["inputs"]) + len(t["outputs"]) for t in tools.values())
    return {**counts, "parameters": params, "tools": len(tools)}


@pytest.mark.slow
@pytest.mark.parametrize("which,runner", RUNS)
def test_crate_shape_follows_the_workflow(which, runner, tmp_path_factory):
    run = _run(which, runner, tmp_path_factory)
    g, want = run["graph"], _structure(run["workflow"])
    rec = pv.load_run(run["bundle"])
    assert len(_of(g, "HowToStep")) == want["steps"]
    assert len(_of(g, "FormalParameter")) == want["parameters"]
    assert len(_of(g, "ParameterConnection")) == want["connections"]
    ids = {e["@id"]: e for e in g}
    if runner == "cwltool":  # the workflow run + one per step run (Toil's count: test_runners_give_the_same_runs)
        assert len(_of(g, "CreateAction")) == 1 + len(rec.steps)
        # one ControlAction per step that ran (a scattered step's runs share it)
        assert len(_of(g, "ControlAction")) == len({(s.name.rpartition("/")[0], re.sub(r"_\d+$", "", s.name.rpartition("/")[2]))
                                                    for s in rec.steps})
    for ctl in _of(g, "ControlAction"):  # each orchestrates runs of its step's own tool
        step = ids[ctl["instrument"]["@id"]]
        assert "HowToStep" in _types(step)
        objs = ctl["object"] if isinstance(ctl["object"], list) else [ctl["object"]]
        assert objs and all(ids[o["@id"]]["instrument"]["@id"] == step["workExample"]["@id"] for o in objs)
    (organize,) = _of(g, "OrganizeAction")
    engine = ids[organize["instrument"]["@id"]]
    assert engine["name"].lower().startswith(runner) and engine["version"] and engine["url"].startswith("https://")
    root = ids["./"]
    assert root["description"] and root["license"]
    for p in root["conformsTo"]:
        if "wfrun" in p["@id"]:
            assert "Profile" in _types(ids[p["@id"]])
    # every tool run used and made real files: checksums and sizes match the bundle
    for act in _of(g, "CreateAction"):
        for ref in act.get("result", []):
            f = ids[ref["@id"]]
            if "File" in _types(f) and (run["crate"] / f["@id"]).is_file():
                assert pv.sha1_file(run["crate"] / f["@id"]) == f["sha1"]
                assert int(f["contentSize"]) == (run["crate"] / f["@id"]).stat().st_size
                assert any(isinstance(x, dict) and x["@id"].startswith(EDAM) for x in f["encodingFormat"]), f


@pytest.mark.slow
@pytest.mark.toil
@pytest.mark.parametrize("which", ["powder", "calibration"])
def test_runners_give_the_same_runs(which, tmp_path_factory):
    """cwltool and Toil crates of the same workflow and job: the same tool runs (CreateActions per tool),
    Toil's sub-workflow jobs included (its PROV lists them under the top-level step)."""
    from collections import Counter

    def runs(graph: list[dict]) -> Counter:
        return Counter(a["instrument"]["@id"] for a in _of(graph, "CreateAction"))

    assert runs(_run(which, "cwltool", tmp_path_factory)["graph"]) == runs(_run(which, "toil", tmp_path_factory)["graph"])


@pytest.mark.slow
@pytest.mark.parametrize("which,runner", RUNS)
@pytest.mark.parametrize("profile", crate_check.PROFILES)
def test_roc_validator_finds_no_required_failure(which, runner, profile, tmp_path_factory):
    run = _run(which, runner, tmp_path_factory)
    fails = crate_check.validate(run["crate"], profile)
    real = [f.line() for f in fails if f.ident not in crate_check.KNOWN_VALIDATOR_BUGS]
    assert real == []


@pytest.mark.slow
@pytest.mark.parametrize("which,runner", RUNS)
def test_cwlprov_validate(which, runner, tmp_path_factory):
    run = _run(which, runner, tmp_path_factory)
    res = subprocess.run([str(BIN / "cwlprov"), "-d", str(run["bundle"]), "validate"], capture_output=True, text=True,
                         env=ENV, timeout=300)
    assert res.returncode == 0 and "Valid CWLProv RO" in res.stdout, res.stdout + res.stderr


def test_validator_catches_a_broken_crate(tmp_path):
    """The offline validator is live: a crate without its workflow's steps fails provenance-run-crate."""
    from rocrate.rocrate import ROCrate

    crate = ROCrate(gen_preview=False)
    crate.root_dataset["name"] = "x"
    crate.root_dataset["conformsTo"] = [{"@id": "https://w3id.org/ro/wfrun/provenance/0.5"}]
    crate.write(tmp_path / "bad")
    fails = crate_check.validate(tmp_path / "bad", "ro-crate-1.3")
    assert any(f.ident.startswith("ro-crate") for f in fails)  # no description, no license


# ------------------------------------------------------------------ EDAM formats: cwltool's own check
def _cwltool(tool: Path, job: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "cwltool"), "--outdir", str(out), str(tool), str(job)], capture_output=True,
                          text=True, env=ENV, timeout=300, cwd=job.parent)


def test_png_given_where_nexus_belongs_is_refused_before_the_tool_runs(tmp_path):
    png = tmp_path / "pattern.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    job = tmp_path / "job.yml"
    job.write_text(f"reduced: {{class: File, path: {png}, format: {EDAM}format_3603}}\ncalibrant: CeO2\n")
    res = _cwltool(ROOT / "cwl/tools/powder-plot.cwl", job, tmp_path / "out")
    assert res.returncode != 0
    assert "Expected value of 'reduced' to have format" in res.stderr and "incompatible format" in res.stderr
    assert "panosc-cwl powder plot" not in res.stderr and not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


WIRED = """cwlVersion: v1.2
class: Workflow
$namespaces: {{edam: "{edam}"}}
$schemas: ["{owl}"]
inputs: []
outputs:
  reduced: {{type: File, outputSource: reduce/reduced}}
steps:
  make_tiff:
    run:
      class: CommandLineTool
      baseCommand: [touch, frame.tif]
      inputs: []
      outputs:
        tiff: {{type: File, format: edam:format_3591, outputBinding: {{glob: frame.tif}}}}
    in: {{}}
    out: [tiff]
  reduce:
    run: {reduce}
    in: {{integrated: make_tiff/tiff}}
    out: [reduced]
"""


def _wired(tmp_path: Path) -> tuple[Path, Path]:
    """A workflow whose TIFF-writing step feeds powder-reduce's NeXus (HDF5) input, and an empty job."""
    wf = tmp_path / "wired.cwl"
    wf.write_text(WIRED.format(edam=EDAM, owl=ROOT / "cwl/edam-subset.owl", reduce=ROOT / "cwl/tools/powder-reduce.cwl"))
    job = tmp_path / "job.yml"
    job.write_text("{}\n")
    return wf, job


def test_workflow_wiring_a_tiff_into_a_nexus_input_is_refused(tmp_path):
    """What cwltool really checks: ``--validate`` does not look at formats (its checker compares
    types and secondaryFiles only), the run stops at the step whose input gets the wrong format -
    after the steps upstream ran. ``panosc-cwl validate``/``run`` refuse the wiring before anything runs."""
    wf, job = _wired(tmp_path)
    static = subprocess.run([str(BIN / "cwltool"), "--validate", str(wf)], capture_output=True, text=True, env=ENV,
                            timeout=120)
    assert static.returncode == 0 and "is valid CWL" in static.stdout + static.stderr  # not caught statically
    res = _cwltool(wf, job, tmp_path / "out")
    assert res.returncode != 0
    assert "Expected value of 'integrated' to have format" in res.stderr, res.stderr[-2000:]
    assert "[job make_tiff] completed success" in res.stderr and "[job reduce] completed" not in res.stderr
    assert not (tmp_path / "out" / "reduced.nxs").exists()
    # ours: the same check on the declared formats, one line at the wiring's position, before any step
    where = f"{wf}:20:10: reduce.integrated: make_tiff/tiff gives TIFF ({EDAM}format_3591); this input takes HDF5"
    for cmd in (["validate", str(wf), str(job)], ["run", str(wf), str(job), "--outdir", str(tmp_path / "o2")]):
        res = _cli(*cmd, check=False, cwd=tmp_path)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        assert [line for line in res.stderr.splitlines() if "integrated" in line][0].startswith(where), res.stderr
        assert "$ " not in res.stderr and not (tmp_path / "o2").exists()  # no runner started, nothing written


def test_nexus_wired_right_passes_the_format_check(tmp_path, tmp_path_factory):
    """The same check accepts HDF5 where HDF5 belongs (the example job's way of giving the format)."""
    run = _run("powder", "cwltool", tmp_path_factory)
    reduced = next(Path(a.basename) for a in pv.load_run(run["bundle"]).outputs if a.basename == "reduced.nxs")
    src = run["crate"] / "data" / reduced
    job = tmp_path / "job.yml"
    job.write_text(f"reduced: {{class: File, path: {src}, format: {EDAM}format_3590}}\ncalibrant: CeO2\n")
    res = _cwltool(ROOT / "cwl/tools/powder-plot.cwl", job, tmp_path / "out")
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["plot"]["format"] == f"{EDAM}format_3603" and Path(out["plot"]["path"]).read_bytes()[:4] == b"\x89PNG"


def test_preflight_names_a_missing_or_wrong_format(tmp_path):
    """``panosc-cwl validate`` says what cwltool would refuse, one line per File, before anything runs;
    a File without a format gets its content's (a note), so stock cwltool gets a job it accepts."""
    import h5py

    with h5py.File(tmp_path / "reduced.nxs", "w") as h5:
        h5.create_group("entry").attrs["NX_class"] = "NXentry"
    (tmp_path / "pattern.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    for given, words in [
            (", format: " + EDAM + "format_3603", "reduced: format PNG (http://edamontology.org/format_3603) given where "
                                                   "HDF5 (http://edamontology.org/format_3590) is expected"),
            (", format: " + EDAM + "format_3591", "reduced: format TIFF (http://edamontology.org/format_3591) given where "
                                                   "HDF5 (http://edamontology.org/format_3590) is expected"),
            ("PNG", "reduced: pattern.png is PNG (from its content); this input takes HDF5"),
            ("PNG, format: " + EDAM + "format_3590", "reduced: pattern.png is not HDF5 (its content is PNG): correct the "
                                                      "File's format")]:
        name = "pattern.png" if given.startswith("PNG") else "reduced.nxs"
        job = tmp_path / "job.yml"
        job.write_text(f"reduced: {{class: File, path: {name}{given.removeprefix('PNG')}}}\ncalibrant: CeO2\n")
        res = _cli("validate", str(ROOT / "cwl/tools/powder-plot.cwl"), str(job), check=False)
        assert res.returncode == 2 and words in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert sum(1 for line in res.stderr.splitlines() if "reduced" in line) == 1
    job.write_text("reduced: {class: File, path: reduced.nxs}\ncalibrant: CeO2\n")
    res = _cli("validate", str(ROOT / "cwl/tools/powder-plot.cwl"), str(job), check=False)
    assert res.returncode == 0 and "reduced: note: no format stated: HDF5, from the content of the File" in res.stderr
    job.write_text(f"reduced: {{class: File, path: reduced.nxs, format: {EDAM}format_3590}}\ncalibrant: CeO2\n")
    res = _cli("validate", str(ROOT / "cwl/tools/powder-plot.cwl"), str(job), check=False)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr


def test_run_refuses_a_tiff_where_nexus_belongs_before_any_step(tmp_path):
    """``panosc-cwl run`` of the powder workflow with a TIFF frame given as the geometry (PONI, text):
    stated or not, one line naming the input, exit 2, no runner started, no output folder."""
    (tmp_path / "frame.tif").write_bytes(b"II*\x00" + bytes(64))
    import h5py
    import numpy as np

    with h5py.File(tmp_path / "frames.h5", "w") as h5:
        h5["entry/data/data"] = np.zeros((1, 8, 8), np.int32)
    for stated, words in [("", "poni: frame.tif is TIFF (from its content); this input takes Textual format"),
                          (f", format: {EDAM}format_2330", "poni: frame.tif is not Textual format (its content is TIFF)")]:
        job = tmp_path / "job.yml"
        job.write_text(f"frames: [{{class: File, path: frames.h5}}]\ndataset: /entry/data/data\n"
                       f"poni: {{class: File, path: frame.tif{stated}}}\n")
        res = _cli("run", str(POWDER), str(job), "--outdir", str(tmp_path / "out"), check=False, cwd=tmp_path)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        lines = [line for line in res.stderr.splitlines() if "poni" in line]
        assert len(lines) == 1 and words in lines[0], res.stderr
        assert res.stderr.strip().splitlines()[-1].startswith("panosc-cwl: error:")
        assert "$ " not in res.stderr and not (tmp_path / "out").exists()
    # the same job under stock cwltool, TIFF stated: refused by cwltool's own check before the tool runs
    job.write_text(f"frames: [{{class: File, path: frames.h5, format: {EDAM}format_3590}}]\ndataset: /entry/data/data\n"
                   f"poni: {{class: File, path: frame.tif, format: {EDAM}format_3591}}\n")
    res = _cwltool(ROOT / "cwl/tools/pyfai-integrate1d.cwl", job, tmp_path / "out")
    assert res.returncode != 0 and "Expected value of 'poni' to have format" in res.stderr, res.stderr[-2000:]
    assert not (tmp_path / "out" / "integrated.nxs").exists()


def test_run_fills_in_a_missing_format_without_touching_the_job(tmp_path):
    """A job File without a format: ``panosc-cwl run`` takes the content's (one note line), hands the runner
    a completed copy, and leaves the user's job file as it was; stock cwltool refuses the same job."""
    import h5py

    tool = tmp_path / "size.cwl"
    tool.write_text(f"""cwlVersion: v1.2
class: CommandLineTool
$namespaces: {{edam: "{EDAM}"}}
$schemas: ["{ROOT / 'cwl/edam-subset.owl'}"]
baseCommand: [wc, -c]
stdout: size.txt
inputs:
  data: {{type: File, format: ["edam:format_3590", "edam:format_3591"], inputBinding: {{position: 1}}}}
outputs:
  size: {{type: stdout, format: edam:format_2330}}
""")
    with h5py.File(tmp_path / "frames.nxs", "w") as h5:
        h5["entry/data"] = [1, 2, 3]
    job = tmp_path / "job.yml"
    job.write_text("data: {class: File, path: frames.nxs}\n")
    before = job.read_bytes()
    stock = _cwltool(tool, job, tmp_path / "stock")
    assert stock.returncode != 0 and "File has no 'format' defined" in stock.stderr
    res = _cli("run", str(tool), str(job), "--outdir", str(tmp_path / "out"), "--no-provenance", cwd=tmp_path)
    notes = [line for line in res.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "no format stated for data (HDF5)" in notes[0], res.stderr
    assert job.read_bytes() == before
    given = Path(notes[0].rsplit("the runner gets ", 1)[1])
    assert given.parent != tmp_path and f"format: {EDAM}format_3590" not in before.decode()
    assert json.loads("\n".join(l for l in given.read_text().splitlines() if not l.startswith("#")))["data"]["format"] \
        == EDAM + "format_3590"
    assert (tmp_path / "out/size.txt").read_text().split()[0] == str((tmp_path / "frames.nxs").stat().st_size)
