"""Provenance end to end: real cwltool and Toil runs of the powder workflow, real bundles, real
NeXus files read back with h5py, real re-runs.

Each runner's run is made once per xdist group (module-scoped fixture) and shared by its tests.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from panosc_cwl import provenance as pv
from panosc_cwl.exceptions import InputError
from panosc_cwl.provenance import nexus as pn

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLI = [str(BIN / "panosc-cwl")]
POWDER = ROOT / "cwl" / "workflows" / "powder-xrd.cwl"
def _workflow_steps(path: Path) -> list[str]:
    from ruamel.yaml import YAML

    return list(YAML(typ="safe", pure=True).load(path.read_text())["steps"])


POWDER_STEPS = _workflow_steps(POWDER)  # integrate, reduce, plot_pattern (+ whatever the workflow adds)
SECRET_NAME = "PANOSC_TEST_API_TOKEN"
SECRET_VALUE = "tok-" + secrets.token_hex(12)


def cli(*args: str, env: dict | None = None, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    res = subprocess.run(CLI + list(args), capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and res.returncode != 0:
        raise AssertionError(f"panosc-cwl {' '.join(args)} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return res


def _powder_data(folder: Path):
    from panosc_cwl.simulate import PowderSimulation, simulate_powder

    sim = simulate_powder(folder / "data", PowderSimulation(n_frames=4, seed=3), edf_frames=0, tiff_frames=0)
    job = folder / "job.yml"
    job.write_text(f"frames: [{{class: File, path: {sim.stack}}}]\ndataset: {sim.dataset}\n"
                   f"poni: {{class: File, path: {sim.poni}}}\nnpt: 500\ncalibrant: CeO2\n")
    return sim, job


def _run(tmp: Path, runner: str):
    sim, job = _powder_data(tmp)
    out = tmp / "out"
    # the 4-frame stack (~4 MB) is above the threshold: referenced, not copied; the PONI is copied
    res = cli("run", str(POWDER), str(job), "--runner", runner, "--outdir", str(out), "--reference-above", "1M",
              env={SECRET_NAME: SECRET_VALUE, "DB_PASSWORD": SECRET_VALUE + "-pw"})
    return {"sim": sim, "job": job, "out": out, "bundle": out / "provenance", "stderr": res.stderr, "runner": runner}


_RUNS: dict[str, dict] = {}


def get_run(runner: str, tmp_path_factory) -> dict:
    """One real run per runner per worker (tests of a runner share an xdist group)."""
    if runner not in _RUNS:
        _RUNS[runner] = _run(tmp_path_factory.mktemp(f"prov-{runner}"), runner)
    return _RUNS[runner]


RUNNERS = [  # parametrize marks (unlike fixture-param marks) reach xdist's loadgroup scheduler
    pytest.param("cwltool", marks=pytest.mark.xdist_group("provenance-cwltool")),
    pytest.param("toil", marks=[pytest.mark.xdist_group("provenance-toil"), pytest.mark.toil]),
]


@pytest.fixture
def powder_run(runner, tmp_path_factory):
    return get_run(runner, tmp_path_factory)


# ------------------------------------------------------------------ unit: secrets, sizes
def test_secret_filter_drops_secret_names_and_masks_url_credentials():
    env = {"GITHUB_TOKEN": "a", "DB_PASSWORD": "b", "AWS_SECRET_ACCESS_KEY": "c", "api_key": "d", "PASSWD": "e",
           "HOME": "/home/x", "SLURM_JOB_ID": "42", "PROXY": "http://user:pw@proxy:3128", "KEYWORDS": "z"}
    safe = pv.safe_environment(env)
    assert set(safe) == {"HOME", "SLURM_JOB_ID", "PROXY"}  # KEYWORDS looks like KEY: dropped, on the safe side
    assert safe["PROXY"] == "http://***@proxy:3128"
    assert pv.redact_text("x a1b2c3d4 y", pv.secret_values({"MY_TOKEN": "a1b2c3d4"})) == "x *** y"


def test_parse_size():
    assert pv.parse_size("100M") == 100 * 1024**2 and pv.parse_size("2G") == 2 * 1024**3 and pv.parse_size("10") == 10
    res = cli("run", str(POWDER), "--reference-above", "lots", check=False)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "reference-above" in res.stderr


def test_bad_inputs_are_one_line_errors(tmp_path):
    res = cli("provenance", "verify", str(tmp_path / "nope"), check=False)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "bundle" in res.stderr
    plain = tmp_path / "plain.nxs"
    with h5py.File(plain, "w") as f:
        f.create_group("entry").attrs["NX_class"] = "NXentry"
    res = cli("provenance", "show", str(plain), check=False)
    assert res.returncode == 2 and "no workflow provenance" in res.stderr and "Traceback" not in res.stderr


# ------------------------------------------------------------------ bundles from both runners
@pytest.mark.parametrize("runner", RUNNERS)
def test_bundle_verifies_and_holds_every_step(powder_run):
    res = cli("provenance", "verify", str(powder_run["bundle"]))
    assert "valid" in res.stdout and "INVALID" not in res.stdout
    rec = pv.load_run(powder_run["bundle"])
    assert sorted(s.name for s in rec.steps) == sorted(POWDER_STEPS)
    order = [s.name for s in rec.steps]  # execution order follows the data flow
    assert order[:2] == ["integrate", "reduce"] and order.index("plot_pattern") > 1
    import pyFAI

    sim = powder_run["sim"]
    for s in rec.steps:
        assert s.started and s.ended and s.started <= s.ended
        assert s.software["pyFAI"] == pyFAI.version
    integrate, reduce_ = rec.steps[:2]
    plot = next(s for s in rec.steps if s.name == "plot_pattern")
    frames = [m for a in integrate.inputs if a.role.endswith("/frames") for m in a.members]
    assert [m.sha1 for m in frames] == [pv.sha1_file(sim.stack)]
    assert [a.sha1 for a in integrate.inputs if a.role.endswith("/poni")] == [pv.sha1_file(sim.poni)]
    # the chain: reduce used exactly what integrate made, plot what reduce made
    assert {a.sha1 for a in reduce_.inputs if a.sha1} == {a.sha1 for a in integrate.outputs}
    assert {a.sha1 for a in plot.inputs if a.sha1} == {a.sha1 for a in reduce_.outputs}
    assert plot.outputs[0].sha1 == pv.sha1_file(powder_run["out"] / "pattern.png")
    if powder_run["runner"] == "cwltool":  # plot and report ran side by side (--parallel), each recorded whole
        report = next(s for s in rec.steps if s.name == "make_report")
        assert plot.started < report.ended and report.started < plot.ended, (plot, report)
        assert {a.sha1 for a in report.inputs if a.role.endswith("/reduced")} == {a.sha1 for a in reduce_.outputs}
        assert len(report.outputs) == 3 and all(a.sha1 for a in report.outputs)
    # size threshold: the frame stack is referenced (location + checksum), the PONI is in the bag
    b = powder_run["bundle"]
    stack_sha = pv.sha1_file(sim.stack)
    assert not (b / "data" / stack_sha[:2] / stack_sha).exists()
    assert [(e["sha1"], Path(e["path"])) for e in rec.external] == [(stack_sha, sim.stack.resolve())]
    poni_sha = pv.sha1_file(sim.poni)
    assert (b / "data" / poni_sha[:2] / poni_sha).read_bytes() == sim.poni.read_bytes()
    assert pv.verify_bundle(b, check_external=True).ok


@pytest.mark.parametrize("runner", RUNNERS[1:])
def test_toil_bundle_is_built_whole_on_our_side(powder_run):
    """Toil runs without its --provenance (thin, and it crashes with --restart): the bundle is
    ours, in cwltool's layout, with a ProcessRun per step, and the community validator accepts it."""
    b, sim, out = powder_run["bundle"], powder_run["sim"], powder_run["out"]
    command = next(line for line in (out / "runner.log").read_text().splitlines() if line.startswith("$ "))
    assert "toil-cwl-runner" in command and "--provenance" not in command
    assert not list(b.rglob("*toil-original*"))
    ours = json.loads((b / pv.PROV_JSON).read_text())
    types = [str(a.get("prov:type", {}).get("$")) for a in ours["activity"].values()]
    assert sorted(types) == sorted(["wfprov:WorkflowRun"] + ["wfprov:ProcessRun"] * len(POWDER_STEPS))
    assert "Toil" in pv.load_run(b).engine
    packed = pv.load_packed(b)
    assert sorted(pv.step_tools(packed)) == sorted(POWDER_STEPS)
    job = json.loads((b / "workflow/primary-job.json").read_text())
    poni_sha = pv.sha1_file(sim.poni)
    assert job["poni"]["location"] == f"../data/{poni_sha[:2]}/{poni_sha}" and job["npt"] == 500
    produced = json.loads((b / "workflow/primary-output.json").read_text())
    png = produced["plot"]["location"]
    assert (b / "workflow" / png).resolve().read_bytes() == (out / "pattern.png").read_bytes()
    manifest = json.loads((b / "metadata/manifest.json").read_text())
    assert manifest["conformsTo"] == "https://w3id.org/cwl/prov/0.6.0"
    res = subprocess.run([str(BIN / "cwlprov"), "-d", str(b), "validate"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and "Valid CWLProv RO" in res.stdout, res.stdout + res.stderr


@pytest.mark.parametrize("runner", RUNNERS)
def test_every_nexus_output_has_the_nxprocess_chain(powder_run):
    out, sim = powder_run["out"], powder_run["sim"]
    expected = {"integrated.nxs": ["integrate"], "reduced.nxs": ["integrate", "reduce"]}
    for name, steps in expected.items():
        with h5py.File(out / name, "r") as f:
            groups = sorted(n for n in f["entry"] if n.startswith(pn.GROUP_PREFIX))
            assert groups == [f"{pn.GROUP_PREFIX}{i:02d}_{s}" for i, s in enumerate(steps, 1)]
            for i, g in enumerate(groups, 1):
                grp = f["entry"][g]
                assert grp.attrs["NX_class"] == "NXprocess"
                assert int(grp["sequence_index"][()]) == i
                assert grp["program"][()].decode().startswith("panosc-cwl ")
                assert "pyFAI" in grp["version"][()].decode() and grp["date"][()].decode().startswith("20")
                types = {k: grp[k]["type"][()].decode() for k in ("workflow", "job", "prov", "outputs", "step")}
                assert types == {"workflow": "application/yaml", "job": "application/json",
                                 "prov": "application/json", "outputs": "application/json",
                                 "step": "application/json"}
                assert all(grp[k].attrs["NX_class"] == "NXnote" for k in types)
            first, last = f["entry"][groups[0]], f["entry"][groups[-1]]
            assert first["prov"].id == last["prov"].id  # run-wide notes stored once, hard-linked
            job = json.loads(first["job"]["data"][()])
            assert job["frames"][0]["checksum"] == "sha1$" + pv.sha1_file(sim.stack)
            assert "cwlVersion" in first["workflow"]["data"][()].decode()
            step = json.loads(last["step"]["data"][()])
            assert step["step"] == steps[-1]
            # the science is untouched: the recorded data checksum is the file's, the pattern is CeO2's
            outputs = json.loads(first["outputs"]["data"][()])
            assert outputs[name.split(".")[0]]["data_sha256"] == pn.data_checksum(out / name)
        if name == "reduced.nxs":
            with h5py.File(out / name, "r") as f:
                x, y = f["entry/mean/two_theta"][()], f["entry/mean/I"][()]
            peak = x[np.argmax(y)]
            assert min(abs(peak - t) for t in sim.truth["two_theta_deg"]) < 0.2
    shown = json.loads(cli("provenance", "show", str(out / "reduced.nxs"), "--json").stdout)
    assert sorted(s["name"] for s in shown["steps"]) == sorted(POWDER_STEPS)
    assert [g["sequence_index"] for g in shown["nxprocess"]] == [1, 2]


@pytest.mark.parametrize("runner", RUNNERS)
def test_rerun_reproduces_output_checksums(powder_run, tmp_path):
    res = cli("provenance", "rerun", str(powder_run["out"] / "reduced.nxs"), "--workdir", str(tmp_path / "re"), "--json")
    rep = json.loads(res.stdout)
    assert rep["ok"], rep
    kinds = {c["output"]: c["checksum"] for c in rep["comparisons"]}
    assert kinds["integrated"] == kinds["reduced"] == "data_sha256" and kinds["plot"] == "sha1"
    for c in rep["comparisons"]:  # every output compared except rendered HTML (its notebook is)
        assert c["equal"] is True or (c["equal"] is None and c["path"].endswith(".html")), c


@pytest.mark.parametrize("runner", RUNNERS)
def test_no_secret_in_bundle_or_nexus(powder_run):
    b = powder_run["bundle"]
    run_json = json.loads((b / pv.PANOSC_DIR / "run.json").read_text())
    assert "HOME" in run_json["environment"] or "PATH" in run_json["environment"]
    assert SECRET_NAME not in run_json["environment"] and "DB_PASSWORD" not in run_json["environment"]
    places = [p for p in b.rglob("*") if p.is_file()] + list(powder_run["out"].glob("*.nxs"))
    for p in places:
        data = p.read_bytes()
        assert SECRET_VALUE.encode() not in data, p
        assert SECRET_NAME.encode() not in data, p


@pytest.mark.parametrize("runner", RUNNERS)
def test_rocrate(powder_run, tmp_path):
    out = tmp_path / "crate"
    cli("provenance", "to-rocrate", str(powder_run["bundle"]), "-o", str(out))
    graph = {e["@id"]: e for e in json.loads((out / "ro-crate-metadata.json").read_text())["@graph"]}
    actions = [e for e in graph.values() if e["@type"] == "CreateAction"]
    assert len(actions) == 1 + len(POWDER_STEPS)  # the run + one per step
    assert graph["./"]["mainEntity"]["@id"] == "packed.cwl"
    assert (out / "data" / "reduced.nxs").exists()
    assert any(i.startswith("file://") for i in graph)  # the large stack: referenced by location


# ------------------------------------------------------------------ tampering and failed writes
@pytest.mark.xdist_group("provenance-cwltool")
def test_tampered_file_is_named(tmp_path_factory, tmp_path):
    runs = [get_run("cwltool", tmp_path_factory)["bundle"]]
    b = shutil.copytree(runs[0], tmp_path / "bundle")
    rec = pv.load_run(b)
    reduced = next(a for a in rec.outputs if a.basename == "reduced.nxs")
    victim = b / "data" / reduced.sha1[:2] / reduced.sha1
    with open(victim, "r+b") as fh:
        fh.seek(victim.stat().st_size // 2)
        fh.write(b"\x00tampered\x00")
    res = cli("provenance", "verify", str(b), check=False)
    assert res.returncode == 1
    assert f"data/{reduced.sha1[:2]}/{reduced.sha1} (reduced.nxs): sha1 checksum mismatch" in res.stderr
    assert "INVALID" in res.stdout
    # a tag file too (the PROV itself)
    shutil.copytree(runs[0], tmp_path / "bundle2")
    prov = tmp_path / "bundle2" / pv.PROV_JSON
    prov.write_text(prov.read_text().replace("integrate", "integrat3"))
    res = cli("provenance", "verify", str(tmp_path / "bundle2"), check=False)
    assert res.returncode == 1 and pv.PROV_JSON in res.stderr


@pytest.mark.xdist_group("provenance-cwltool")
@pytest.mark.parametrize("where", ["hdf5-write", "rename"])
def test_failed_nexus_write_leaves_file_byte_identical(tmp_path_factory, tmp_path, monkeypatch, where):
    runs = [get_run("cwltool", tmp_path_factory)["out"]]
    target = shutil.copy(runs[0] / "reduced.nxs", tmp_path / "reduced.nxs")
    before = Path(target).read_bytes()
    if where == "hdf5-write":  # an HDF5 error in the middle of writing the groups
        real = h5py.Group.create_dataset
        calls = {"n": 0}

        def failing(self, *a, **k):
            calls["n"] += 1
            if calls["n"] == 7:
                raise OSError("simulated HDF5 write error (disk full)")
            return real(self, *a, **k)

        monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    else:  # the process dies just before the rename
        def no_rename(*a, **k):
            raise KeyboardInterrupt

        monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises((OSError, KeyboardInterrupt)):
        pn.to_nexus(runs[0] / "provenance", [target])
    monkeypatch.undo()
    assert Path(target).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reduced.nxs"]  # no temporary file left


# ------------------------------------------------------------------ detector calibration (sub-workflow + scatter)
CALIBRATION = ROOT / "cwl" / "workflows" / "detector-calibration-simulated.cwl"


@pytest.fixture
def calibration_run(runner, tmp_path_factory):
    if not CALIBRATION.exists():
        pytest.skip("cwl/workflows/detector-calibration-simulated.cwl not in this tree")
    tmp = tmp_path_factory.mktemp(f"prov-cal-{runner}")
    job = tmp / "job.yml"
    job.write_text("modules: 2\nmodule_shape: [16, 16]\nn_darks: 10\nseed: 1\n")
    out = tmp / "out"
    cli("run", str(CALIBRATION), str(job), "--runner", runner, "--outdir", str(out), timeout=600)
    return {"out": out, "bundle": out / "provenance", "runner": runner}


@pytest.mark.parametrize("runner", [
    pytest.param("cwltool", marks=pytest.mark.xdist_group("provenance-cal-cwltool")),
    pytest.param("toil", marks=[pytest.mark.xdist_group("provenance-cal-toil"), pytest.mark.toil]),
])
def test_calibration_bundle_chain_and_rerun(calibration_run, tmp_path):
    out, b = calibration_run["out"], calibration_run["bundle"]
    assert "INVALID" not in cli("provenance", "verify", str(b)).stdout
    rec = pv.load_run(b)
    names = [s.name for s in rec.steps]
    assert names[0] == "simulate" and "calibration" in names
    if calibration_run["runner"] == "cwltool":  # cwltool keeps the sub-workflow's own PROV: its steps too
        assert sum(n.startswith("calibration/calibrate") for n in names) == 2
        assert sum(n.startswith("calibration/correct") for n in names) == 2
    else:  # Toil: the sub-workflow is one activity holding every Toil job it ran
        cal = json.loads(next(iter(v for v in json.loads((b / pv.PROV_JSON).read_text())["activity"].values()
                                   if "calibration" in str(v.get("prov:label")))).get("panosc:toilJobs", "[]"))
        assert len(cal) == 4  # 2 modules x (calibrate, correct)
    nexus = sorted(out.glob("*-constants.nxs")) + sorted(out.glob("*-corrected.h5"))
    assert len(nexus) == 4
    for f in nexus:
        chain = pn.read_nexus(f).groups
        assert [g["sequence_index"] for g in chain] == list(range(1, len(chain) + 1))
        assert chain[0]["group"].endswith("_simulate")  # the chain reaches back to the simulated darks
        if f.name.endswith("-corrected.h5"):
            assert len(chain) >= 2
    # rerun from one corrected file: Toil's file is re-run with cwltool (same checksums across runners)
    res = cli("provenance", "rerun", str(out / "data_m00-corrected.h5"), "--workdir", str(tmp_path / "re"),
              "--runner", "cwltool", "--json", check=False, timeout=600)
    rep = json.loads(res.stdout)
    assert res.returncode == 0 and rep["ok"], rep
    compared = {c["output"] for c in rep["comparisons"] if c["equal"]}
    assert {"constants[0]", "corrected[0]", "corrected[1]", "truth[0]"} <= compared


# ------------------------------------------------------------------ SLURM job ids (project's single-node SLURM)
@pytest.mark.slurm
@pytest.mark.toil
@pytest.mark.xdist_group("provenance-slurm")
def test_toil_slurm_bundle_records_slurm_job_ids(slurm_env, tmp_path):
    sim, job = _powder_data(tmp_path)
    out = tmp_path / "out"
    cli("run", str(POWDER), str(job), "--runner", "toil", "--batch-system", "slurm", "--outdir", str(out),
        env={"SLURM_CONF": slurm_env["SLURM_CONF"]}, timeout=600)
    assert "INVALID" not in cli("provenance", "verify", str(out / "provenance")).stdout
    rec = pv.load_run(out / "provenance")
    assert sorted(s.name for s in rec.steps) == sorted(POWDER_STEPS)
    for s in rec.steps:
        assert len(s.slurm_job_ids) == 1, s
        shown = subprocess.run(["scontrol", "show", "job", "--oneliner", s.slurm_job_ids[0]], env=slurm_env,
                               capture_output=True, text=True, timeout=30).stdout
        # the SLURM job Toil submitted for this step: its name carries Toil's batch id and the step
        assert f"JobName=toil_job_{s.batch_job_ids[0]}_" in shown and f".{s.name}." in shown, shown
    with h5py.File(out / "reduced.nxs", "r") as f:
        step = json.loads(f["entry"][f"{pn.GROUP_PREFIX}01_integrate"]["step"]["data"][()])
    assert step["slurm_job_ids"] == rec.steps[0].slurm_job_ids


def test_rerun_refuses_changed_or_missing_inputs(tmp_path):
    f = tmp_path / "frames.h5"
    f.write_bytes(b"original")
    job = {"frames": [{"class": "File", "location": f.as_uri()}]}
    pv.job_with_checksums(job)
    pn.check_job_inputs(job)  # unchanged: fine
    f.write_bytes(b"changed!")
    with pytest.raises(InputError, match="changed since the run") as exc:
        pn.check_job_inputs(job)
    assert exc.value.field == "frames"
    f.unlink()
    with pytest.raises(InputError, match="no longer exists"):
        pn.check_job_inputs(job)


# ------------------------------------------------------------------ Toil log of a killed run + --restart
_ISSUE = ("[{t}] [MainThread] [I] [toil.leader] Issued job 'CWLJob' powder-xrd.{step}.{tool} kind-CWLJob/instance-x v1 "
          "with job batch system ID: {id} and disk: 2.0 Gi, memory: 2.0 Gi, cores: 1, accelerators: [], preemptible: False")
_DONE = ("[{t}] [Thread-4 (statsAndLoggingAggregator)] [I] [toil.statsAndLogging] Got message from job at time "
         "12-03-2026 00:00:00: CWL step complete: powder-xrd.{step}.{tool}")


def test_restart_log_counts_the_killed_runs_finished_steps_and_the_completed_attempts(tmp_path):
    """runner.log after a kill and a --restart (lines as Toil 9.6 writes them): the bundle reads
    both runs of the job store; reduce, killed while running in the first run, counts once, from
    the attempt that completed. A later run with another job store starts afresh."""
    from panosc_cwl.provenance.toil import run_log, steps_from_log

    first = "$ toil-cwl-runner --batchSystem single_machine --jobStore /js/a --outdir out wf.cwl job.yml\n"
    log = tmp_path / "runner.log"
    log.write_text("\n".join([
        "$ toil-cwl-runner --jobStore /js/old --outdir out wf.cwl job.yml",
        _ISSUE.format(t="2026-12-03T09:00:00+0000", step="integrate", tool="pyfai-integrate1d", id=1),
        _DONE.format(t="2026-12-03T09:00:09+0000", step="integrate", tool="pyfai-integrate1d"),
        first.rstrip(),
        _ISSUE.format(t="2026-12-03T10:00:00+0000", step="integrate", tool="pyfai-integrate1d", id=2),
        _DONE.format(t="2026-12-03T10:00:10+0000", step="integrate", tool="pyfai-integrate1d"),
        _ISSUE.format(t="2026-12-03T10:00:11+0000", step="reduce", tool="powder-reduce", id=3),
        "$ PATH=/venv/bin:$PATH toil-cwl-runner --batchSystem single_machine --jobStore /js/a --outdir out --restart "
        "wf.cwl job.yml",
        _ISSUE.format(t="2026-12-03T10:05:00+0000", step="reduce", tool="powder-reduce", id=1),
        _DONE.format(t="2026-12-03T10:05:04+0000", step="reduce", tool="powder-reduce"),
        _ISSUE.format(t="2026-12-03T10:05:05+0000", step="plot_pattern", tool="powder-plot", id=2),
        _DONE.format(t="2026-12-03T10:05:09+0000", step="plot_pattern", tool="powder-plot"),
    ]) + "\n")
    text = run_log(log)
    assert text.startswith(first) and "/js/old" not in text
    jobs = steps_from_log(text, ["integrate", "reduce", "plot_pattern"])
    assert (jobs["integrate"].batch_ids, str(jobs["integrate"].started)) == (["2"], "2026-12-03 10:00:00+00:00")
    assert (jobs["reduce"].batch_ids, str(jobs["reduce"].started), str(jobs["reduce"].ended)) == \
        (["1"], "2026-12-03 10:05:00+00:00", "2026-12-03 10:05:04+00:00")
    assert jobs["plot_pattern"].batch_ids == ["2"] and len(jobs["reduce"].jobs) == 1
    # killed right after integrate finished, before Toil's logging thread wrote "CWL step complete"
    # (seen in a real run): the restart does not issue integrate again, so it counts, ended by the
    # killed run's last logged time; reduce, issued again, counts from its completed attempt only
    raced = steps_from_log("\n".join([
        first.rstrip(),
        _ISSUE.format(t="2026-12-03T10:00:00+0000", step="integrate", tool="pyfai-integrate1d", id=2),
        _ISSUE.format(t="2026-12-03T10:00:10+0000", step="reduce", tool="powder-reduce", id=3),
        "$ toil-cwl-runner --batchSystem single_machine --jobStore /js/a --outdir out --restart wf.cwl job.yml",
        _ISSUE.format(t="2026-12-03T10:05:00+0000", step="reduce", tool="powder-reduce", id=1),
        _DONE.format(t="2026-12-03T10:05:04+0000", step="reduce", tool="powder-reduce"),
    ]), ["integrate", "reduce"])
    assert (raced["integrate"].batch_ids, str(raced["integrate"].started), str(raced["integrate"].ended)) == \
        (["2"], "2026-12-03 10:00:00+00:00", "2026-12-03 10:00:10+00:00")
    assert (raced["reduce"].batch_ids, str(raced["reduce"].started)) == (["1"], "2026-12-03 10:05:00+00:00")
    # the first run alone (no restart after it) is just that run
    log.write_text(first + _ISSUE.format(t="2026-12-03T10:00:00+0000", step="integrate", tool="pyfai-integrate1d",
                                         id=2) + "\n")
    assert run_log(log).startswith(first)
