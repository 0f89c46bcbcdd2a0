"""Shared fixtures: the project's single-node SLURM (.ci/slurm-up) and a stand-in for nvidia-smi."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SLURM_ENV_FILE = ROOT / ".slurm" / "env"
BIN = Path(sys.executable).parent

#: What cwltool/cuda.py reads from ``nvidia-smi -q -x`` (attached_gpus, cuda_version).
_NVIDIA_SMI = """#!/bin/sh
# Stand-in for nvidia-smi on GPU-less test machines: only cwltool's CUDA check reads it.
cat <<'XML'
<?xml version="1.0" ?>
<nvidia_smi_log>
  <driver_version>0.0 (panosc-cwl test stand-in)</driver_version>
  <cuda_version>12.0</cuda_version>
  <attached_gpus>1</attached_gpus>
</nvidia_smi_log>
XML
"""


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Make ``--dist loadgroup`` honour ``xdist_group`` again under pytest >= 9.2.

    pytest-xdist 3.8 groups tests by appending ``@group`` to ``item._nodeid``; pytest 9.2 keeps the
    node id in ``item._id``, so that write is lost and a group's tests are spread over workers (each
    then repeating the group's session fixtures, e.g. a whole SLURM run). Same suffix, set where
    pytest 9.2 reads it; a no-op where xdist's own write worked.
    """
    if not getattr(config.option, "loadgroup", False):
        return
    try:
        from _pytest.nodes import coerce_node_id
    except ImportError:  # pytest < 9.2: xdist's own suffix works
        return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(names)}")


def _slurm_conf() -> str | None:
    """SLURM_CONF from the environment, else from the env file .ci/slurm-up writes."""
    if os.environ.get("SLURM_CONF"):
        return os.environ["SLURM_CONF"]
    if SLURM_ENV_FILE.is_file():
        for line in SLURM_ENV_FILE.read_text().splitlines():
            words = shlex.split(line, comments=True)
            if len(words) == 2 and words[0] == "export" and words[1].startswith("SLURM_CONF="):
                return words[1].split("=", 1)[1]
    return None


@pytest.fixture(scope="session")
def slurm_env() -> dict[str, str]:
    """Environment for subprocesses that talk to the project's SLURM (SLURM_CONF, venv bin first on PATH).

    Skips (with the reason) when SLURM is not installed or not running: start it with .ci/slurm-up.
    """
    if not shutil.which("sbatch") or not shutil.which("sinfo"):
        pytest.skip("SLURM client commands not installed (run .ci/slurm-up, which installs slurm-wlm)")
    conf = _slurm_conf()
    if not conf or not Path(conf).is_file():
        pytest.skip(f"SLURM is not up: no {SLURM_ENV_FILE} (run .ci/slurm-up)")
    env = {**os.environ, "SLURM_CONF": conf, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], env=env, capture_output=True, text=True,
                             timeout=20)
    except subprocess.TimeoutExpired:
        pytest.skip(f"SLURM is not up: sinfo did not answer in 20 s (SLURM_CONF={conf}; run .ci/slurm-up)")
    states = out.stdout.split()
    if out.returncode != 0 or not any(s.rstrip("*~#") in ("idle", "mix", "alloc") for s in states):
        reason = " ".join((out.stderr or out.stdout).split())[:200] or "no node"
        pytest.skip(f"SLURM is not up: sinfo says {reason!r} (SLURM_CONF={conf}; run .ci/slurm-up)")
    return env


@pytest.fixture(scope="session")
def slurm_jobs(slurm_env):
    """``slurm_jobs(workdir)``: SLURM's own record (``scontrol show job``) of every job submitted from
    ``workdir`` (one Toil leader per folder), oldest first; kept an hour by MinJobAge."""

    def jobs_in(workdir: Path) -> list[dict]:
        out = subprocess.run(["scontrol", "-o", "show", "job"], env=slurm_env, capture_output=True, text=True,
                             timeout=30)
        jobs = []
        for line in out.stdout.splitlines():
            rec = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if Path(rec.get("WorkDir", "/nonexistent")) == Path(workdir):
                jobs.append(rec)
        return sorted(jobs, key=lambda r: int(r["JobId"]))

    return jobs_in


@pytest.fixture
def fake_nvidia_smi(tmp_path) -> Path:
    """A folder holding an ``nvidia-smi`` that reports one CUDA 12 GPU; prepend it to PATH yourself.

    Only cwltool's in-job CUDA check is stood in for: SLURM still schedules the GPU (gres) for real.
    """
    folder = tmp_path / "fake-gpu-bin"
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text(_NVIDIA_SMI)
    script.chmod(0o755)
    return folder


# ------------------------------------------------------------------ run catalogue
PG_URL_FILE = ROOT / ".pg" / "url"


@pytest.fixture(scope="session", autouse=True)
def private_catalogue(tmp_path_factory):
    """Every test (and every subprocess it starts) records runs into a throw-away SQLite catalogue and a
    throw-away data folder (catalogue outbox, run states), never into the user's ~/.local/share."""
    data = tmp_path_factory.mktemp("panosc-data")
    saved = {k: os.environ.get(k) for k in ("PANOSC_CWL_CATALOGUE", "XDG_DATA_HOME")}
    os.environ["PANOSC_CWL_CATALOGUE"] = str(data / "catalogue.sqlite")
    os.environ["XDG_DATA_HOME"] = str(data)
    yield data / "catalogue.sqlite"
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """SQLAlchemy URL of the project's PostgreSQL server (.ci/pg-up writes it into .pg/url)."""
    if not PG_URL_FILE.is_file():
        pytest.skip(f"PostgreSQL is not up: no {PG_URL_FILE} (run .ci/pg-up, which installs Debian's postgresql)")
    return PG_URL_FILE.read_text().strip()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalogue_url(request, tmp_path) -> str:
    """A catalogue URL on each back end: a new SQLite file, or a new empty database on the project's PostgreSQL."""
    if request.param == "sqlite":
        yield str(tmp_path / "catalogue.sqlite")
        return
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(request.getfixturevalue("postgres_url"))
    name = f"test_{secrets.token_hex(4)}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    yield url
    from panosc_cwl.catalogue import _MIGRATED

    _MIGRATED.discard(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
