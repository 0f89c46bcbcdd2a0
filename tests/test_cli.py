"""The command line: one-line errors naming the field, exit 2, no traceback; progress; nothing overwritten."""

import subprocess
import sys
from pathlib import Path

import pytest

from panosc_cwl.simulate import PowderSimulation, simulate_powder

BIN = Path(sys.executable).parent / "panosc-cwl"


def cli(*args, cwd=None):
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return simulate_powder(tmp_path_factory.mktemp("cli"), PowderSimulation(n_frames=2))


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("panosc-cwl: error:")
    for frag in fragments:
        assert frag in lines[0]


def test_missing_poni(data, tmp_path):
    proc = cli("powder", "integrate1d", "--frames", data.stack, "--dataset", data.dataset, "--poni", tmp_path / "nope.poni",
               "-o", tmp_path / "o.nxs")
    assert_one_line_error(proc, "poni", "nope.poni")


def test_wrong_dataset_lists_the_right_one(data, tmp_path):
    proc = cli("powder", "integrate1d", "--frames", data.stack, "--dataset", "/entry/data/frames", "--poni", data.poni,
               "-o", tmp_path / "o.nxs")
    assert_one_line_error(proc, "dataset", "/entry/data/frames", "/entry/data/data")


def test_unknown_unit_suggests(data, tmp_path):
    proc = cli("powder", "integrate1d", "--frames", data.stack, "--dataset", data.dataset, "--poni", data.poni,
               "--unit", "q_nm", "-o", tmp_path / "o.nxs")
    assert_one_line_error(proc, "unit", "q_nm^-1")


def test_not_hdf5_not_image(data, tmp_path):
    bad = tmp_path / "frames.h5"
    bad.write_bytes(b"not really hdf5")
    proc = cli("powder", "integrate1d", "--frames", bad, "--dataset", "/x", "--poni", data.poni, "-o", tmp_path / "o.nxs")
    assert_one_line_error(proc, "frames", "frames.h5")


def test_argparse_errors_are_one_line():
    assert_one_line_error(cli("powder", "integrate1d", "--npt", "many"), "--npt")
    assert_one_line_error(cli("no-such-command"))


def test_existing_output_is_kept(data, tmp_path):
    out = tmp_path / "o.nxs"
    out.write_bytes(b"precious")
    proc = cli("powder", "integrate1d", "--frames", data.stack, "--dataset", data.dataset, "--poni", data.poni, "-o", out)
    assert_one_line_error(proc, "exists", "--overwrite")
    assert out.read_bytes() == b"precious"


def test_progress_and_overwrite(data, tmp_path):
    out = tmp_path / "o.nxs"
    out.write_bytes(b"old")
    proc = cli("powder", "integrate1d", "--frames", data.stack, "--dataset", data.dataset, "--poni", data.poni,
               "-o", out, "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert "integrate1d: 2/2 frames" in proc.stderr
    assert out.read_bytes()[:4] == b"\x89HDF"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_simulate_reduce_plot_chain(tmp_path):
    proc = cli("powder", "simulate", "--calibrant", "Si", "--frames", "2", "--detector", "Eiger1M", "-o", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "si.h5").exists() and (tmp_path / "si.poni").exists()
    assert cli("powder", "integrate1d", "--frames", tmp_path / "si.h5", "--dataset", "/entry/data/data", "--poni",
               tmp_path / "si.poni", "-o", tmp_path / "i.nxs", "-q").returncode == 0
    assert cli("powder", "reduce", tmp_path / "i.nxs", "-o", tmp_path / "r.nxs").returncode == 0
    proc = cli("powder", "plot", tmp_path / "r.nxs", "--calibrant", "Si", "-o", tmp_path / "p.png")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_unknown_detector(tmp_path):
    assert_one_line_error(cli("powder", "simulate", "--detector", "Pilatus9000", "-o", tmp_path), "detector")
