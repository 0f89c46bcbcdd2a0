"""Every example in README.md runs (issue 18).

The ```bash, ```sh and ```python blocks are collected from the README itself, so a new section's
examples are tested without touching this file. They run in order, section by section, in one
scratch copy of the project (outputs of earlier blocks are reused by later ones, as a reader
following the README would), with ``.venv/bin`` first on PATH; a bash/sh block runs as one
``bash -e -o pipefail`` script; the python blocks of a section share one interpreter session. A block
is skipped only when the line before its fence says why: ``<!-- not-tested: reason -->``.
Other fences (yaml, plain output listings) are not commands and are not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VENV = ROOT / ".venv" if (ROOT / ".venv" / "bin").is_dir() else Path(sys.prefix)  # what .ci/install made
RUN_LANGS = {"bash": "shell", "sh": "shell", "shell": "shell", "python": "python", "py": "python"}
NOT_TESTED = re.compile(r"^\s*<!--\s*not-tested:\s*(?P<why>\S.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>`{3,})(?P<lang>[\w+-]*)\s*$")
BLOCK_TIMEOUT = 900


@dataclass
class Block:
    section: str
    lang: str  # shell or python
    code: str
    line: int  # first line of the code in README.md
    skip: str | None  # reason, from <!-- not-tested: ... -->


def in_the_suite(code: str) -> str:
    """A shell block as the suite runs it: the README's first lines install (``bash .ci/install && ...``)
    and run the suite (``bash .ci/test``); inside the suite the environment is already made."""
    kept = [re.sub(r"^bash \.ci/install && ", "", ln) for ln in code.splitlines()
            if ln.strip() not in ("bash .ci/test", "bash .ci/install")]
    return "\n".join(kept)


def collect(text: str) -> list[Block]:
    """The runnable fenced blocks of a markdown text, with their section (## heading) and skip marks."""
    lines = text.splitlines()
    blocks: list[Block] = []
    section = "(top)"
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:].strip()
        m = FENCE.match(line)
        if not m:
            i += 1
            continue
        indent, ticks, lang = m.group("indent"), m.group("ticks"), m.group("lang").lower()
        end = i + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        body = textwrap.dedent("\n".join(ln[len(indent):] if ln.startswith(indent) else ln
                                         for ln in lines[i + 1:end]))
        prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = NOT_TESTED.match(prev)
        if lang in RUN_LANGS:
            if RUN_LANGS[lang] == "shell":
                body = in_the_suite(body)
            blocks.append(Block(section, RUN_LANGS[lang], body + "\n", i + 2, mark.group("why") if mark else None))
        i = end + 1
    return blocks


BLOCKS = collect(README.read_text(encoding="utf-8"))
SECTIONS = list(dict.fromkeys(b.section for b in BLOCKS))


def test_collector_finds_blocks_and_marks():
    sample = ("# T\n```bash\necho top\n```\n## One\n<!-- not-tested: needs a cluster -->\n\n```sh\nsqueue\n```\n"
              "  ```python\n  x = 1\n  ```\n```yaml\na: 1\n```\n```\n$ output\n```\n")
    got = collect(sample)
    assert [(b.section, b.lang, b.code, b.line, b.skip) for b in got] == [
        ("(top)", "shell", "echo top\n", 3, None),
        ("One", "shell", "squeue\n", 9, "needs a cluster"),
        ("One", "python", "x = 1\n", 12, None)]
    assert len(BLOCKS) >= 15 and sum(b.skip is not None for b in BLOCKS) <= 6  # marks used sparingly
    top = collect("```bash\nbash .ci/install && panosc-cwl run a.cwl b.yml\nbash .ci/test\n```\n")
    assert [b.code for b in top] == ["panosc-cwl run a.cwl b.yml\n"]  # the suite runs in what the installer made
    assert BLOCKS[0].section == "(top)" and "panosc-cwl run cwl/workflows/powder-xrd.cwl" in BLOCKS[0].code


_SESSION = r'''
import json, sys, traceback
ns = {"__name__": "__main__"}
for request in sys.stdin:
    req = json.loads(request)
    try:
        exec(compile(req["code"], req["name"], "exec"), ns)
        ok, err = True, ""
    except BaseException:
        ok, err = False, traceback.format_exc()
    sys.stdout.flush(); sys.stderr.flush()
    print("\n" + req["sentinel"] + json.dumps({"ok": ok, "error": err}), flush=True)
'''


class PythonSession:
    """One interpreter for the python blocks of a section (names defined in one block stay for the next)."""

    def __init__(self, cwd: Path, env: dict):
        self.proc = subprocess.Popen([str(VENV / "bin" / "python"), "-u", "-c", _SESSION], cwd=cwd,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)

    def run(self, block: Block) -> tuple[bool, str]:
        sentinel = f"@@README-BLOCK-DONE-{block.line}@@"
        self.proc.stdin.write(json.dumps({"code": block.code, "name": f"README.md:{block.line}",
                                          "sentinel": sentinel}) + "\n")
        self.proc.stdin.flush()
        out = []
        for line in self.proc.stdout:
            if line.startswith(sentinel):
                res = json.loads(line[len(sentinel):])
                return res["ok"], "".join(out) + res["error"]
            out.append(line)
        return False, "".join(out) + "\n(interpreter exited)"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A scratch copy of the tracked project files, the project's .venv linked in."""
    ws = tmp_path_factory.mktemp("readme") / "panosc-cwl"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout:
        for rel in filter(None, listed.stdout.split("\0")):
            src = ROOT / rel
            if src.is_file():
                (ws / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, ws / rel)
    else:  # not a git checkout: everything but outputs
        shutil.copytree(ROOT, ws, ignore=shutil.ignore_patterns(".venv", ".git", "out", "data", "__pycache__"))
    (ws / ".venv").symlink_to(VENV)
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PANOSC_CWL_RUNS"] = str(ws.parent / "runs")  # run records stay out of the user's data folder
    env["MPLBACKEND"] = "Agg"
    env.pop("PYTHONPATH", None)
    return ws, env


@pytest.mark.xdist_group("readme")  # one worker, sections in README order, sharing the workspace
@pytest.mark.parametrize("section", SECTIONS)
def test_readme_section_runs(section, workspace):
    ws, env = workspace
    session = None
    ran = 0
    try:
        for block in (b for b in BLOCKS if b.section == section):
            if block.skip:
                continue
            started = time.monotonic()
            if block.lang == "shell":
                proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.code], cwd=ws, env=env,
                                      capture_output=True, text=True, timeout=BLOCK_TIMEOUT)
                ok, output = proc.returncode == 0, proc.stdout + proc.stderr
            else:
                session = session or PythonSession(ws, env)
                ok, output = session.run(block)
            print(f"README.md:{block.line} ({section}): {time.monotonic() - started:.1f} s")  # shown by -rA
            tail = "\n".join(output.strip().splitlines()[-40:])
            assert ok, f"README.md:{block.line} ({section}) failed:\n{block.code}\n--- output (tail) ---\n{tail}"
            ran += 1
    finally:
        if session is not None:
            session.close()
    if ran == 0:
        pytest.skip(f"every block of '{section}' is marked not-tested")
