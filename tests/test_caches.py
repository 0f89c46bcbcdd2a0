"""Caches kept in the account's home between steps run with a temporary HOME (panosc_cwl.caches):
Matplotlib's font cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from panosc_cwl.caches import account_home, cache_dir, share_matplotlib_cache

BIN = Path(sys.executable).parent


def test_temporary_home_gets_the_accounts_cache_folder(tmp_path):
    account, job_home = tmp_path / "user", tmp_path / "job-outdir"
    job_home.mkdir()
    root = account / ".cache" / "panosc-cwl"
    env = {"HOME": str(job_home), "PATH": "/usr/bin"}
    assert share_matplotlib_cache(env, home=account, root=root) == root / "matplotlib"
    assert env["MPLCONFIGDIR"] == str(root / "matplotlib") and (root / "matplotlib").is_dir()
    assert not list(account.glob("**/matplotlibrc"))  # a cache folder, no settings: plots look as before


def test_cache_dir_is_the_accounts_unless_moved_or_off():
    assert cache_dir({}) == account_home() / ".cache" / "panosc-cwl"
    assert cache_dir({"PANOSC_CWL_CACHE": "/scratch/c"}) == Path("/scratch/c")
    assert cache_dir({"PANOSC_CWL_CACHE": "off"}) is None


@pytest.mark.parametrize("case", ["MPLCONFIGDIR", "XDG_CACHE_HOME", "home is the account's", "home has a cache",
                                  "no HOME", "cache folder cannot be made", "caching off"])
def test_nothing_changes_where_the_user_or_a_persistent_home_decides(tmp_path, case):
    account, job_home = tmp_path / "user", tmp_path / "job-outdir"
    job_home.mkdir()
    env = {"HOME": str(job_home)}
    if case in ("MPLCONFIGDIR", "XDG_CACHE_HOME"):
        env[case] = str(tmp_path / "chosen")
    elif case == "home is the account's":
        env["HOME"] = str(account)
    elif case == "home has a cache":
        (job_home / ".cache" / "matplotlib").mkdir(parents=True)
        (job_home / ".cache" / "matplotlib" / "fontlist-v390.json").write_text("{}")
    elif case == "no HOME":
        del env["HOME"]
    elif case == "caching off":
        env["PANOSC_CWL_CACHE"] = "off"
    else:
        account.write_text("a file where the home folder should be")
    before = dict(env)
    root = None if case == "caching off" else account / ".cache" / "panosc-cwl"
    assert share_matplotlib_cache(env, home=account, root=root) is None
    assert env == before


@pytest.fixture(scope="module")
def reduced(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fontcache")
    cli = str(BIN / "panosc-cwl")
    for args in (["powder", "simulate", "--calibrant", "Si", "--frames", "1", "--detector", "Eiger1M", "-o", d],
                 ["powder", "integrate1d", "--frames", d / "si.h5", "--dataset", "/entry/data/data", "--poni",
                  d / "si.poni", "-o", d / "i.nxs", "-q"],
                 ["powder", "reduce", d / "i.nxs", "-o", d / "r.nxs"]):
        proc = subprocess.run([cli, *map(str, args)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    return d / "r.nxs"


@pytest.mark.skipif(account_home() is None, reason="this account has no home folder")
def test_plot_under_a_temporary_home_uses_the_shared_cache_and_draws_the_same(reduced, tmp_path):
    """As cwltool runs a step (HOME = a new empty folder, nothing else set): Matplotlib's font list
    goes to (or comes from) the account's cache, not rebuilt in the step's HOME, and the PNG is
    byte for byte the one drawn with Matplotlib's own, freshly built cache."""
    def plot(home: Path, out: Path, **extra: str) -> None:
        home.mkdir()
        env = {"HOME": str(home), "PATH": f"{BIN}:/usr/bin:/bin", "TMPDIR": str(tmp_path), **extra}
        proc = subprocess.run([str(BIN / "panosc-cwl"), "powder", "plot", str(reduced), "--calibrant", "Si",
                               "-o", str(out)], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr

    plot(tmp_path / "step-home", tmp_path / "step.png")
    assert not list((tmp_path / "step-home").glob("**/fontlist-*.json"))
    assert list((cache_dir({}) / "matplotlib").glob("fontlist-*.json"))  # the account default: env has no PANOSC_CWL_CACHE
    own = tmp_path / "own-cache"
    plot(tmp_path / "plain-home", tmp_path / "plain.png", MPLCONFIGDIR=str(own))
    assert list(own.glob("fontlist-*.json"))  # matplotlib built its own here: the reference
    assert (tmp_path / "step.png").read_bytes() == (tmp_path / "plain.png").read_bytes()
