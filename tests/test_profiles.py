"""Facility profiles: packaged defaults, user overrides, validation, and what they give Toil (no SLURM needed)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from panosc_cwl.exceptions import InputError
from panosc_cwl.profiles import get_profile, load_profiles
from panosc_cwl.runners import RunRequest, build_command

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "panosc_cwl"]
WORKFLOW = ROOT / "cwl/workflows/powder-xrd.cwl"


@pytest.fixture
def no_user_file(tmp_path, monkeypatch):
    monkeypatch.delenv("PANOSC_CWL_PROFILES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def test_packaged_profiles(no_user_file):
    profiles = load_profiles()
    assert {"generic", "desy-maxwell", "ci-local"} <= set(profiles)
    maxwell = profiles["desy-maxwell"]
    assert maxwell.batch_system == "slurm" and maxwell.partition and maxwell.gpu_partition
    assert maxwell.retry_count and maxwell.retry_count >= 1 and maxwell.allowed_roots
    ci = profiles["ci-local"]
    assert ci.toil_args() == ["--slurmPartition", "main", "--slurmGPUPartition", "main", "--slurmTime", "00:30:00",
                              "--defaultMemory", "1Gi"]
    assert ci.toil_env() == {"TOIL_SLURM_ARGS": "--nice=0"}


def test_user_file_overrides_field_by_field_and_adds(tmp_path, monkeypatch):
    user = tmp_path / "profiles.yaml"
    user.write_text("profiles:\n"
                    "  desy-maxwell: {partition: upex, sbatch_args: '--account=p1234 --qos=normal'}\n"
                    "  mine: {partition: short, time_limit: '1-00:00:00', memory: 8Gi, job_store: '${HOME}/js',\n"
                    "         allowed_roots: [/data], retry_count: 0}\n")
    monkeypatch.setenv("PANOSC_CWL_PROFILES", str(user))
    profiles = load_profiles()
    maxwell = profiles["desy-maxwell"]
    assert maxwell.partition == "upex"
    assert maxwell.gpu_partition == "allgpu"  # kept from the packaged profile
    assert maxwell.toil_env() == {"TOIL_SLURM_ARGS": "--account=p1234 --qos=normal"}
    assert str(user) in maxwell.source
    mine = profiles["mine"]
    assert mine.retry_count == 0 and mine.roots() == [Path("/data")]
    store = mine.new_job_store("cwl/workflows/powder-xrd.cwl")
    assert store.startswith(os.path.join(os.environ["HOME"], "js", "powder-xrd-"))


@pytest.mark.parametrize("record, field, words", [
    ("{memory: lots}", "profiles.bad.memory", "not a size"),
    ("{time_limit: 'soon'}", "profiles.bad.time_limit", "[DD-]HH:MM:SS"),
    ("{sbatch_args: ['--mem=4G']}", "profiles.bad.sbatch_args", "set by Toil"),
    ("{partiton: main}", "profiles.bad.partiton", "unknown setting"),
    ("{retry_count: -1}", "profiles.bad.retry_count", ">= 0"),
    ("{batch_system: pbs}", "profiles.bad.batch_system", "unknown batch system"),
])
def test_bad_user_profile_names_the_field(tmp_path, record, field, words):
    user = tmp_path / "p.yaml"
    user.write_text(f"profiles:\n  bad: {record}\n")
    with pytest.raises(InputError) as err:
        load_profiles(user)
    assert err.value.field == field and words in str(err.value)


def test_unknown_profile_lists_known_ones(no_user_file):
    with pytest.raises(InputError) as err:
        get_profile("maxwel")
    assert err.value.field == "profile"
    assert "ci-local, desy-maxwell, generic" in str(err.value)


def test_missing_user_file_named_by_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PANOSC_CWL_PROFILES", str(tmp_path / "nope.yaml"))
    with pytest.raises(InputError, match="not a file"):
        load_profiles()


def test_toil_command_carries_profile(no_user_file, tmp_path, monkeypatch):
    # sbatch only has to exist for the command to be built; the SLURM tests run it for real.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sbatch").write_text("#!/bin/sh\nexit 1\n")
    (fake / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    prof = get_profile("desy-maxwell")
    monkeypatch.setenv("USER", "alice")
    object.__setattr__(prof, "job_store", str(tmp_path / "stores/${USER}"))
    req = RunRequest(workflow=WORKFLOW, job=None, outdir=tmp_path / "out", runner="toil", batch_system="slurm")
    req.profile = prof
    cmd = build_command(req)
    argv = cmd.argv
    assert argv[argv.index("--batchSystem") + 1] == "slurm"
    assert argv[argv.index("--retryCount") + 1] == "3"
    assert argv[argv.index("--slurmPartition") + 1] == "allcpu"
    assert argv[argv.index("--slurmGPUPartition") + 1] == "allgpu"
    assert argv[argv.index("--slurmTime") + 1] == "08:00:00"
    assert Path(argv[argv.index("--jobStore") + 1]).parent == tmp_path / "stores/alice"
    assert cmd.env["TOIL_SLURM_ARGS"] == "--nodes=1 --mail-type=FAIL"
    shell = cmd.shell()
    assert "TOIL_SLURM_ARGS='--nodes=1 --mail-type=FAIL'" in shell
    assert f"PATH={Path(sys.executable).parent}:$PATH" in shell
    # an explicit --retry-count wins over the profile's
    req.retry_count = 0
    argv = build_command(req).argv
    assert argv[argv.index("--retryCount") + 1] == "0"


def _cli(*args, env=None):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, env=env, timeout=60)


def test_profiles_cli_lists_and_shows(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    env.pop("PANOSC_CWL_PROFILES", None)
    res = _cli("profiles", env=env)
    assert res.returncode == 0, res.stderr
    names = [line.split()[0] for line in res.stdout.splitlines()]
    assert names == ["ci-local", "desy-maxwell", "generic"]
    res = _cli("profiles", "desy-maxwell", env=env)
    assert res.returncode == 0 and "--slurmPartition allcpu" in res.stdout and "TOIL_SLURM_ARGS=" in res.stdout


def test_cli_unknown_profile_is_one_line(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    env.pop("PANOSC_CWL_PROFILES", None)
    for args in (["profiles", "nope"], ["run", str(WORKFLOW), "--profile", "nope", "--outdir", str(tmp_path)]):
        res = _cli(*args, env=env)
        assert res.returncode == 2
        assert res.stderr.strip() == ("panosc-cwl: error: profile: unknown profile 'nope'; "
                                      "known profiles: ci-local, desy-maxwell, generic")


TRIVIAL_TOOL = """cwlVersion: v1.2
class: CommandLineTool
baseCommand: "true"
inputs: []
outputs: []
"""


def test_cli_slurm_without_sbatch_is_one_line(tmp_path):
    tool = tmp_path / "true.cwl"
    tool.write_text(TRIVIAL_TOOL)
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "XDG_CONFIG_HOME": str(tmp_path)}
    res = _cli("run", str(tool), "--runner", "toil", "--batch-system", "slurm", "--outdir", str(tmp_path / "o"),
               env=env)
    assert res.returncode == 1
    assert res.stderr.strip().startswith("panosc-cwl: error: batch_system: sbatch not found"), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
