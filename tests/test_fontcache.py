"""Matplotlib's font cache kept between steps run with a temporary HOME (panosc_cwl.fontcache)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from panosc_cwl.fontcache import CACHE_SUBDIR, _account_home, share_matplotlib_cache

BIN = Path(sys.executable).parent


def test_temporary_home_gets_the_accounts_cache_folder(tmp_path):
    account, job_home = tmp_path / "user", tmp_path / "job-outdir"
    job_home.mkdir()
    env = {"HOME": str(job_home), "PATH": "/usr/bin"}
    assert share_matplotlib_cache(env, account_home=account) == account / CACHE_SUBDIR
    assert env["MPLCONFIGDIR"] == str(account / CACHE_SUBDIR) and (account / CACHE_SUBDIR).is_dir()
    assert not list(account.glob("**/matplotlibrc"))  # a cache folder, no settings: plots look as before


@pytest.mark.parametrize("case", ["MPLCONFIGDIR", "XDG_CACHE_HOME", "home is the account's", "home has a cache",
                                  "no HOME", "cache folder cannot be made"])
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
    else:
        account.write_text("a file where the home folder should be")
    before = dict(env)
    assert share_matplotlib_cache(env, account_home=account) is None
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


@pytest.mark.skipif(_account_home() is None, reason="this account has no home folder")
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
    assert list((_account_home() / CACHE_SUBDIR).glob("fontlist-*.json"))
    own = tmp_path / "own-cache"
    plot(tmp_path / "plain-home", tmp_path / "plain.png", MPLCONFIGDIR=str(own))
    assert list(own.glob("fontlist-*.json"))  # matplotlib built its own here: the reference
    assert (tmp_path / "step.png").read_bytes() == (tmp_path / "plain.png").read_bytes()
