"""One registry of workflow back ends behind one :func:`run` function.

Each back end turns a :class:`RunRequest` into the exact command line of a stock runner
(``cwltool``, ``toil-cwl-runner``); :func:`run` starts it, streams its log lines to a callback
(for progress), keeps the full log, and returns the outputs the runner reported as JSON.
Nothing here re-implements a runner: the printed command can be pasted into a shell.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .exceptions import InputError, RunnerError

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class RunRequest:
    """What the user asked to run, and how."""

    workflow: Path
    job: Path | None
    outdir: Path
    runner: str = "cwltool"
    batch_system: str = "single_machine"
    provenance: Path | None = None
    job_store: str | None = None
    restart: bool = False
    retry_count: int | None = None
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    #: a facility profile (panosc_cwl.profiles.Profile): partition, time, memory, sbatch args, job store
    profile: object | None = None


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str]

    def shell(self) -> str:
        """The command as a user would type it (environment settings first)."""
        parts = []
        for key, value in self.env.items():
            rest = os.environ.get(key, "")
            if key == "PATH" and rest and value.endswith(os.pathsep + rest):
                parts.append(f"PATH={shlex.quote(value[: -len(rest) - 1])}:$PATH")
            else:
                parts.append(f"{key}={shlex.quote(value)}")
        env = " ".join(parts)
        return (env + " " if env else "") + shlex.join(self.argv)


@dataclass
class RunResult:
    command: Command
    returncode: int
    outputs: dict
    log_path: Path


@dataclass(frozen=True)
class Backend:
    name: str
    executable: str
    description: str
    build: Callable[[RunRequest], Command]


BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    BACKENDS[backend.name] = backend
    return backend


def tool_path(name: str) -> str:
    """The runner executable next to this Python (the project's venv), else the one on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise RunnerError(f"{name} not found: install it (pip install 'toil[cwl]' cwltool)", field="runner")
    return found


def _bin_path_env() -> dict[str, str]:
    # Toil's workers (also inside SLURM jobs) and our tools are looked up on PATH: put this venv first.
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] == bindir:
        return {}
    return {"PATH": bindir + os.pathsep + path}


def _build_cwltool(req: RunRequest) -> Command:
    argv = [tool_path("cwltool"), "--outdir", str(req.outdir)]
    if req.provenance:
        argv += ["--provenance", str(req.provenance)]
    argv += req.extra_args + [str(req.workflow)]
    if req.job:
        argv.append(str(req.job))
    env = _bin_path_env()
    env.update(req.env)
    return Command(argv, env)


def _build_toil(req: RunRequest) -> Command:
    prof = req.profile
    if req.batch_system == "slurm" and not shutil.which("sbatch"):
        raise RunnerError("sbatch not found on PATH: --batch-system slurm needs a SLURM submit host",
                          field="batch_system")
    job_store = req.job_store or (prof.new_job_store(req.workflow) if prof else None)
    if job_store:
        Path(job_store).parent.mkdir(parents=True, exist_ok=True)
    else:
        job_store = str(Path(tempfile.mkdtemp(prefix="panosc-toil-")) / "jobstore")
    argv = [tool_path("toil-cwl-runner"), "--batchSystem", req.batch_system, "--jobStore", job_store,
            "--outdir", str(req.outdir)]
    if req.restart:
        argv.append("--restart")
    retry_count = req.retry_count if req.retry_count is not None else (prof.retry_count if prof else None)
    if retry_count is not None:
        argv += ["--retryCount", str(retry_count)]
    if prof:
        argv += prof.toil_args()
    # no --provenance: Toil 9.6 fails with --restart --provenance, and its bag is thin; the bundle
    # is built after the run (panosc_cwl.provenance.toil), the same for a first run and a restart
    argv += req.extra_args + [str(req.workflow)]
    if req.job:
        argv.append(str(req.job))
    env = _bin_path_env()
    if req.batch_system != "single_machine" and not env:
        # Batch jobs find Toil's worker on PATH: keep the venv first in the printed (pasteable) command.
        env = {"PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    if prof:
        env.update(prof.toil_env())
    if req.batch_system == "slurm" and os.environ.get("SLURM_CONF"):
        env["SLURM_CONF"] = os.environ["SLURM_CONF"]  # a private cluster's config: part of the command
    env.update(req.env)
    return Command(argv, env)


register(Backend("cwltool", "cwltool", "the CWL reference runner, on this machine", _build_cwltool))
register(Backend("toil", "toil-cwl-runner", "Toil; --batch-system single_machine (default) or slurm", _build_toil))


def build_command(req: RunRequest) -> Command:
    """The exact runner command (and extra environment) for ``req``."""
    if req.runner not in BACKENDS:
        raise InputError(f"unknown runner '{req.runner}'; choose {', '.join(BACKENDS)}", field="runner")
    if not Path(req.workflow).is_file():
        raise InputError(f"workflow not found: {req.workflow}", field="workflow")
    if req.job is not None and not Path(req.job).is_file():
        raise InputError(f"job file not found: {req.job}", field="job")
    return BACKENDS[req.runner].build(req)


def run(req: RunRequest, on_line: Callable[[str], None] | None = None, command: Command | None = None) -> RunResult:
    """Run ``req`` with its back end; raise :class:`RunnerError` if the runner fails.

    The runner's stderr goes line by line to ``on_line`` and into ``<outdir>/runner.log``.
    SIGINT/SIGTERM are forwarded to the runner, which then stops its own jobs.
    """
    cmd = command or build_command(req)
    outdir = Path(req.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    log_path = outdir / "runner.log"
    env = dict(os.environ)
    env.update(cmd.env)
    # line-buffered: a run killed with SIGKILL keeps its log to the last line (a --restart reads it)
    with open(log_path, "a", encoding="utf-8", buffering=1) as log, tempfile.TemporaryFile("w+") as out:
        log.write("$ " + cmd.shell() + "\n")
        log.flush()
        proc = subprocess.Popen(cmd.argv, stdout=out, stderr=subprocess.PIPE, env=env, text=True,
                                errors="replace", stdin=subprocess.DEVNULL, start_new_session=True)
        handlers = {}
        stopped: list[int] = []

        def forward(signum, _frame):
            # The runner and the tools it started share the runner's own session: signal them all,
            # so a running tool stops now (cwltool alone would wait 10 s for it, then kill it).
            stopped.append(signum)
            try:
                os.killpg(proc.pid, signum)
            except ProcessLookupError:
                pass

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                handlers[sig] = signal.signal(sig, forward)
            except ValueError:  # not in the main thread
                pass
        first_error = ""
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                log.write(line)
                line = ANSI.sub("", line.rstrip("\n"))
                if not first_error and re.search(r"\b(ERROR|CRITICAL)\b|Error:|Exception", line):
                    first_error = " ".join(line.split())
                if on_line:
                    on_line(line)
            rc = proc.wait()
        finally:
            for sig, h in handlers.items():
                signal.signal(sig, h)
        out.seek(0)
        stdout = out.read()
    if stopped:
        log_note = f"stopped by {signal.Signals(stopped[0]).name} (runner exit code {rc})"
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(log_note + "\n")
        raise KeyboardInterrupt(log_note)
    outputs: dict = {}
    if stdout.strip():
        try:
            outputs = json.loads(stdout)
        except json.JSONDecodeError:
            outputs = {}
    if rc != 0:
        hint = f": {first_error}" if first_error else ""
        raise RunnerError(f"{Path(cmd.argv[0]).name} exited with {rc}{hint} (full log: {log_path})", field="run")
    return RunResult(cmd, rc, outputs, log_path)


def cwl_file_objects(obj, classes: tuple[str, ...] = ("File",)) -> list[dict]:
    """Every CWL File (or ``classes``) object in a job or output object, in document order.

    Nested ones count too (a File's secondaryFiles, a Directory's listing); the dicts are the
    originals, so callers may update them in place.
    """
    found: list[dict] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            if value.get("class") in classes:
                found.append(value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(obj)
    return found


def output_files(outputs: dict) -> list[Path]:
    """Every File path in a runner's output object (nested lists/records included)."""
    return [Path(f["path"]) for f in cwl_file_objects(outputs) if "path" in f]
