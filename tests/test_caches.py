"""Caches kept in the account's home between steps run with a temporary HOME (panosc_cwl.caches):
Matplotlib's font list, GPU libraries' compiled kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panosc_cwl.caches import MatplotlibFontCache, account_home, cache_dir, gpu_kernel_cache_env

BIN = Path(sys.executable).parent


def test_cache_dir_is_the_accounts_unless_moved_or_off():
    assert cache_dir({}) == account_home() / ".cache" / "panosc-cwl"
    assert cache_dir({"PANOSC_CWL_CACHE": "/scratch/c"}) == Path("/scratch/c")
    assert cache_dir({"PANOSC_CWL_CACHE": "off"}) is None


def test_a_step_home_shares_the_accounts_font_cache(tmp_path):
    account, step_home = tmp_path / "user", tmp_path / "job-outdir"
    step_home.mkdir()
    fonts = MatplotlibFontCache.for_step({"HOME": str(step_home)}, home=account, root=account / ".cache/panosc-cwl")
    assert fonts.step_cache == step_home / ".cache" / "matplotlib"  # Matplotlib's own default there
    assert fonts.shared == account / ".cache" / "panosc-cwl" / "matplotlib"


@pytest.mark.parametrize("case", ["MPLCONFIGDIR", "XDG_CACHE_HOME", "home is the account's", "no HOME",
                                  "caching off"])
def test_no_sharing_where_the_user_or_a_lasting_home_decides(tmp_path, case):
    account = tmp_path / "user"
    env = {"HOME": str(tmp_path / "job-outdir")}
    if case in ("MPLCONFIGDIR", "XDG_CACHE_HOME"):
        env[case] = str(tmp_path / "chosen")
    elif case == "home is the account's":
        env["HOME"] = str(account)
    elif case == "no HOME":
        del env["HOME"]
    else:
        env["PANOSC_CWL_CACHE"] = "off"
    assert MatplotlibFontCache.for_step(env, home=account) is None


def test_seed_copies_what_the_step_lacks_and_keep_shares_only_whole_new_lists(tmp_path):
    fonts = MatplotlibFontCache(tmp_path / "step", tmp_path / "shared")
    assert fonts.seed() == [] and fonts.keep() == []  # nothing anywhere yet: nothing done, no error
    fonts.shared.mkdir()
    (fonts.shared / "fontlist-v1.json").write_text('{"from": "shared"}')
    os.utime(fonts.shared / "fontlist-v1.json", (1e9, 1e9))
    assert fonts.seed() == [fonts.step_cache / "fontlist-v1.json"]
    assert (fonts.step_cache / "fontlist-v1.json").stat().st_mtime == 1e9  # a copy, not a rebuild
    (fonts.step_cache / "fontlist-v1.json").write_text('{"from": "step"}')
    assert fonts.seed() == []  # the step's own list is never overwritten
    (fonts.step_cache / "fontlist-v2.json").write_text('{"built": "by the step"}')
    (fonts.step_cache / "fontlist-v3.json").write_text('{"half a li')  # a kernel killed while writing
    assert fonts.keep() == [fonts.shared / "fontlist-v2.json"]
    assert json.loads((fonts.shared / "fontlist-v1.json").read_text()) == {"from": "shared"}  # kept as it was
    assert json.loads((fonts.shared / "fontlist-v2.json").read_text()) == {"built": "by the step"}
    assert sorted(p.name for p in fonts.shared.iterdir()) == ["fontlist-v1.json", "fontlist-v2.json"]


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
def test_steps_under_new_homes_build_the_font_list_once_and_draw_the_same(reduced, tmp_path):
    """As cwltool runs steps (HOME = a new empty folder each time): the first step builds Matplotlib's
    font list and leaves it in the shared cache, the next step starts from that copy instead of
    building it again, and both draw byte for byte what Matplotlib draws with its own fresh cache."""
    root = tmp_path / "panosc-cache"

    def plot(home: Path, out: Path, **extra: str) -> None:
        home.mkdir()
        env = {"HOME": str(home), "PATH": f"{BIN}:/usr/bin:/bin", "TMPDIR": str(tmp_path),
               "PANOSC_CWL_CACHE": str(root), **extra}
        proc = subprocess.run([str(BIN / "panosc-cwl"), "powder", "plot", str(reduced), "--calibrant", "Si",
                               "-o", str(out)], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr

    plot(tmp_path / "step-1", tmp_path / "step-1.png")
    shared = sorted((root / "matplotlib").glob("fontlist-v*.json"))
    assert len(shared) == 1
    started = time.time()
    plot(tmp_path / "step-2", tmp_path / "step-2.png")
    seeded = tmp_path / "step-2" / ".cache" / "matplotlib" / shared[0].name
    assert seeded.read_bytes() == shared[0].read_bytes()
    assert seeded.stat().st_mtime == shared[0].stat().st_mtime < started  # read, not written again
    own = tmp_path / "own-cache"
    plot(tmp_path / "plain-home", tmp_path / "plain.png", MPLCONFIGDIR=str(own))
    assert list(own.glob("fontlist-*.json"))  # Matplotlib built its own list here: the reference
    for step in ("step-1", "step-2"):
        assert (tmp_path / f"{step}.png").read_bytes() == (tmp_path / "plain.png").read_bytes()


def test_a_step_keeps_its_gpu_kernels_in_the_accounts_cache(tmp_path):
    account, step, root = tmp_path / "user", tmp_path / "job-outdir", tmp_path / "user/.cache/panosc-cwl"
    step.mkdir()
    assert gpu_kernel_cache_env({"HOME": str(step)}, home=account, root=root) == {
        "CUPY_CACHE_DIR": str(root / "cupy-kernels"), "CUDA_CACHE_PATH": str(root / "nv-compute-cache")}
    # the user's own choice stays; a lasting HOME keeps the libraries' own caches; caching off
    assert gpu_kernel_cache_env({"HOME": str(step), "CUPY_CACHE_DIR": "/mine"}, home=account, root=root) == {
        "CUDA_CACHE_PATH": str(root / "nv-compute-cache")}
    account.mkdir()
    assert gpu_kernel_cache_env({"HOME": str(account)}, home=account, root=root) == {}
    assert gpu_kernel_cache_env({"HOME": str(step), "PANOSC_CWL_CACHE": "off"}, home=account) == {}


def test_the_cli_run_as_a_step_passes_the_kernel_caches_to_what_it_starts(tmp_path, monkeypatch):
    """Every panosc-cwl command run as a step (nabu is started by `tomo reconstruct`) gets the variables."""
    from panosc_cwl.cli import main

    monkeypatch.setenv("HOME", str(tmp_path / "job-outdir"))
    monkeypatch.setenv("PANOSC_CWL_CACHE", str(tmp_path / "shared"))
    for var in ("CUPY_CACHE_DIR", "CUDA_CACHE_PATH", "MPLCONFIGDIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)  # also restores them after the test
    (tmp_path / "job-outdir").mkdir()
    assert main(["powder", "chunks", "--frames", "100", "--nodes", "1", "--cores-per-node", "2"]) == 0
    assert os.environ["CUPY_CACHE_DIR"] == str(tmp_path / "shared/cupy-kernels")
    assert os.environ["CUDA_CACHE_PATH"] == str(tmp_path / "shared/nv-compute-cache")
