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


# ---------------------------------------------------------------- the command tree (issue 18)
def _all_parsers():
    """(command words, parser) of every documented command, the top level included."""
    import argparse

    from panosc_cwl.cli import build_parser

    todo = [((), build_parser())]
    while todo:
        words, parser = todo.pop()
        yield words, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:  # documented ones only (hidden aliases have no help)
                    todo.append((words + (choice.dest,), action.choices[choice.dest]))


def test_every_help_page_ends_with_examples_that_parse():
    import shlex

    from panosc_cwl.cli import build_parser

    pages = list(_all_parsers())
    assert len(pages) > 40
    for words, parser in pages:
        epilog = parser.epilog or ""
        assert epilog.startswith("example:"), words
        commands = [ln.strip() for ln in epilog.splitlines()[1:] if ln.strip().startswith("panosc-cwl ")]
        assert commands, words
        for line in commands:
            argv = shlex.split(line.split(" | ")[0], comments=True)[1:]  # a pipe into another program
            argv = argv[:argv.index("--")] if "--" in argv else argv  # main() gives the rest to the runner
            build_parser().parse_args(argv)  # SystemExit (usage error) fails the test
        if words:  # the page's own command appears in one of its examples
            assert any(" ".join(words) in c for c in commands) or len(words) == 1, (words, commands)


def test_one_rule_for_the_tree():
    from panosc_cwl.cli import build_parser

    top = {w[0] for w, _ in _all_parsers() if len(w) == 1}
    generic = {"run", "validate", "provenance", "profiles", "locate", "notebook-tool", "notebook-run",
               "runs", "watch", "trigger", "serve"}
    techniques = top - generic
    assert techniques == {"powder", "detector", "euxfel", "xrf", "sas", "cdi", "tomo"}
    for tech in techniques:  # every technique makes its test data with `simulate`; nobody says mock
        verbs = {w[1] for w, _ in _all_parsers() if len(w) == 2 and w[0] == tech}
        assert "simulate" in verbs and "mock" not in verbs, tech
    import re

    listing = build_parser().format_help()
    assert "{run,validate,provenance," in listing
    assert not re.search(r"^ {4}(integrate1d|integrate2d|simulate|reduce|plot|merge)\b|[{,](simulate|mock)[,}]",
                         listing, re.M)


@pytest.mark.parametrize("old, new", [
    (["integrate1d", "--help"], "powder integrate1d"),
    (["simulate", "powder", "--help"], "powder simulate"),
    (["euxfel", "mock", "--help"], "euxfel simulate"),
])
def test_old_names_still_parse(old, new):
    proc = cli(*old)
    assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr


def test_old_name_runs_with_one_deprecation_line(tmp_path):
    proc = cli("simulate", "powder", "--frames", "1", "--detector", "Pilatus100k", "--edf", "0", "--tiff", "0",
               "-o", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "panosc-cwl: warning: 'simulate powder' is deprecated, use 'panosc-cwl powder simulate'"]
    assert (tmp_path / "ceo2.h5").read_bytes()[:4] == b"\x89HDF"


def test_powder_simulate_formats(tmp_path):
    proc = cli("powder", "simulate", "--format", "edf-series", "--frames", "2", "--frames-per-file", "2",
               "--detector", "Pilatus100k", "-o", tmp_path)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    edf = sorted(tmp_path.glob("*.edf"))
    assert len(edf) == 1
    import fabio

    assert fabio.open(str(edf[0])).nframes == 2
    assert_one_line_error(cli("powder", "simulate", "--format", "eiger", "--tiff", "2", "-o", tmp_path),
                          "--tiff does not apply to --format eiger")
    assert_one_line_error(cli("powder", "simulate", "--frames-per-file", "2", "-o", tmp_path),
                          "--frames-per-file does not apply to --format stack")
