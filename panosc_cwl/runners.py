"""One registry of workflow back ends behind one :func:`run` function.

Each back end is a :class:`Backend` subclass that owns everything runner-specific: its command,
how it asks for provenance and completes the bundle, how its log reports steps (and batch job ids),
whether it can restart, how it cancels. Code outside this module never tests runner names.
Each back end turns a :class:`RunRequest` into the exact command line of a stock runner
(``toil-cwl-runner``; for cwltool, ``python -m panosc_cwl.cwltool_parallel --parallel``: cwltool's own
``main`` with its multi-threaded executor made to record every step's provenance); :func:`run` starts
it, streams its log lines to a callback (for progress), keeps the full log, and returns the outputs
the runner reported as JSON. Nothing here re-implements a runner: the printed command can be pasted
into a shell.
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
import time
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
    #: stock ``--overrides`` file with the GPU requests (panosc_cwl.gpu), where a GPU can be had
    gpu_overrides: Path | None = None
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


@dataclass
class StepEvent:
    """What one runner log line says about a workflow step (for progress and ``Run.steps``)."""

    name: str
    state: str  # "running", "success", "failed"
    batch_id: str | None = None  # the batch system's own job id (SLURM), when the line names one
    job_id: str | None = None  # the runner's own id of the job (Toil's batch system ID)
    kind: str | None = None  # cwltool: "step" (a workflow step) or "job" (a tool run)


@dataclass
class Failure:
    """Why a run failed, as data: the failing step, the real cause (a tool's last error line, or the
    requirement the runner could not meet) and the full log."""

    step: str | None
    cause: str
    log_path: Path
    returncode: int | None = None

    def one_line(self) -> str:
        where = f"step {self.step} failed: " if self.step else ""
        return " ".join(f"{where}{self.cause} (log: {self.log_path})".split())


class RunFailedError(RunnerError):
    """The runner ran and failed; :attr:`failure` says where and why."""

    def __init__(self, failure: Failure):
        self.failure = failure
        super().__init__(failure.one_line(), field="run")


#: A line that states a cause, best first: our tools' one-line errors, runner refusals, exceptions.
_CAUSES = [
    re.compile(r"panosc-cwl: error: (.+)"),
    re.compile(r"(Could not satisfy \w+)"),
    re.compile(r"(requesting \[.*\] accelerators.*could not be provided\.?)"),
    re.compile(r"(cannot be run, requests more resources.*)"),
    re.compile(r"^((?:[\w.]+\.)?(?!WorkflowException)\w*(?:Error|Exception): .+)"),
    re.compile(r"(?:Job error:|Workflow error[^:]*:|\bERROR\b)\s*(.+)"),
]
_LOG_PREFIX = re.compile(r"^\s*(\[[^\]]*\]\s*)+(?=\S)")  # Toil's "[time] [thread] [E] [logger] "
_NOISE = re.compile(r"permanentFail|temporaryFail|try again with --debug|Final process status|"
                    r"Output is missing expected field|Exiting the worker|Worker crashed|contains \d+ failed jobs")


def failure_cause(lines: list[str]) -> str | None:
    """The most telling cause in a runner's log lines (ANSI already stripped), or None."""
    clean = [_LOG_PREFIX.sub("", ln).strip() if not ln.lstrip().startswith("panosc-cwl:") else ln.strip()
             for ln in lines]
    for rx in _CAUSES:
        for i in range(len(clean) - 1, -1, -1):
            m = rx.search(clean[i])
            if not m or _NOISE.search(clean[i]):
                continue
            cause = m.group(1).strip()
            if cause.endswith(":") and i + 1 < len(clean) and clean[i + 1]:
                cause = f"{cause} {clean[i + 1]}"  # "Job error:" / "Workflow error:" name the cause next
            return cause[:400]
    return None


class Backend:
    """A workflow runner. Everything that differs between runners lives in a subclass of this.

    Adding a back end (another runner, Toil on Kubernetes...) is one new subclass, decorated with
    :func:`register`; the pipeline (:mod:`panosc_cwl.api`) only calls these methods.
    """

    name: str = ""
    title: str = ""  # as written in messages
    executable: str = ""
    description: str = ""
    #: ``--restart`` of a killed run from its job store
    can_restart: bool = False
    #: facility profiles (partition, time, memory, job store) configure this back end
    uses_profiles: bool = False

    def __init__(self, batch_system: str = "single_machine"):
        self.batch_system = batch_system

    # -- command
    def build(self, req: RunRequest) -> Command:
        raise NotImplementedError

    # -- provenance
    def provenance_refusal(self, req: RunRequest) -> str | None:
        """Why this run cannot record provenance (printed as a note), or None."""
        return None

    def provenance_args(self, req: RunRequest) -> list[str]:
        """Runner options, besides ``--provenance DIR``, that make its bundle complete."""
        return []

    def provenance_notes(self, req: RunRequest) -> list[str]:
        """Lines for the user about what this run's bundle will lack (it is still recorded)."""
        return []

    def complete_bundle(self, bundle: Path, *, workflow: str | os.PathLike, job: dict, outputs: dict,
                        log_path: Path, reference_above: int | None) -> None:
        """Bring the runner's bundle up to what cwltool writes (nothing to do for cwltool)."""

    @property
    def batch_system_label(self) -> str | None:
        """The batch system to record in provenance (None: the runner has no such notion)."""
        return None

    # -- progress
    def step_event(self, line: str) -> StepEvent | None:
        """A step start/end (and batch job id) in one log line of this runner, else None."""
        return None

    # -- failure
    def failure(self, lines: list[str], returncode: int, log_path: Path) -> Failure:
        """Where and why a failed run failed, from its log lines: the first step that failed (else the
        last one still running) and :func:`failure_cause`."""
        running: list[str] = []
        failed = None
        for line in lines:
            ev = self.step_event(line)
            if ev is None:
                continue
            if ev.state == "running" and ev.name not in running:
                running.append(ev.name)
            elif ev.state == "failed" and failed is None:
                failed = ev.name
            elif ev.state == "success" and ev.name in running:
                running.remove(ev.name)
        cause = failure_cause(lines) or f"{self.executable} exited with {returncode}"
        return Failure(failed or (running[-1] if running else None), cause, log_path, returncode)

    # -- cancel
    def cancel(self, pgid: int | None, batch_ids: list[str], *, grace: float = 30.0) -> list[str]:
        """Stop a run: SIGTERM to the runner's process group, SIGKILL after ``grace`` seconds.

        Returns the batch job ids that had to be cancelled by hand (none for local runners).
        """
        if pgid and group_alive(pgid):
            signal_group(pgid, signal.SIGTERM)
            if not wait_group_gone(pgid, grace):
                signal_group(pgid, signal.SIGKILL)
                wait_group_gone(pgid, 5.0)
        return []


BACKENDS: dict[str, type[Backend]] = {}
#: the back end used when none is named, and the one used with a facility profile
DEFAULT_RUNNER = "cwltool"
PROFILE_RUNNER = "toil"


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make ``cls`` available as ``--runner cls.name``."""
    BACKENDS[cls.name] = cls
    return cls


def signal_group(pgid: int, signum: int) -> bool:
    """Signal a whole process group; False if it is gone already."""
    try:
        os.killpg(pgid, signum)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def group_alive(pgid: int) -> bool:
    """Does any (non-zombie) process of group ``pgid`` still exist?"""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
        except (OSError, ValueError):
            continue
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def wait_group_gone(pgid: int, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not group_alive(pgid):
            return True
        time.sleep(0.1)
    return not group_alive(pgid)


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


_CWLTOOL_STEP = re.compile(r"\[(step|job) ([^\]]+)\] (start|completed (\w+))")


@register
class Cwltool(Backend):
    name = "cwltool"
    title = "cwltool"
    executable = "cwltool"
    description = "the CWL reference runner, on this machine"

    def build(self, req: RunRequest) -> Command:
        # cwltool itself, with an executor whose --parallel also records each step's provenance
        # (panosc_cwl.cwltool_parallel): independent steps (the README job's plot and report) run at once
        argv = [sys.executable, "-m", "panosc_cwl.cwltool_parallel", "--parallel", "--outdir", str(req.outdir)]
        if req.provenance:
            argv += ["--provenance", str(req.provenance)]
        if req.gpu_overrides:
            argv += ["--overrides", str(req.gpu_overrides)]
        argv += req.extra_args + [str(req.workflow)]
        if req.job:
            argv.append(str(req.job))
        env = _bin_path_env()
        env.update(req.env)
        return Command(argv, env)

    def provenance_args(self, req: RunRequest) -> list[str]:
        return ["--enable-user-provenance", "--enable-host-provenance"]

    def step_event(self, line: str) -> StepEvent | None:
        m = _CWLTOOL_STEP.search(line)
        if not m:
            return None
        kind, name, what, how = m.groups()
        state = "running" if what == "start" else ("success" if how == "success" else "failed")
        # "[job x] completed" also ends a single tool's run; a workflow's steps say "[step x]"
        return StepEvent(name.strip(), state, kind=kind)


_TOIL_ISSUED = re.compile(r"Issued job 'CWLJob' (\S+) \S+ v\d+ with job batch system ID: (\d+)")
_TOIL_QUEUED = re.compile(r"Job (\S+) with batch system ID (\d+) queued as job (\S+)")
_TOIL_DONE = re.compile(r"CWL step complete: (\S+)")
_TOIL_FAILED = re.compile(r"Job failed with exit value [^:]*: '[^']*' (\S+)|Job '[^']*' (\S+) \S+ v\d+ is completely failed"
                          r"|Log from job \"'CWLJob' (\S+)")


def _toil_step(job_name: str) -> str:
    # Toil names CWL jobs WORKFLOW.STEP.TOOL (nested: ...STEP.TOOL); a lone tool is just its name
    parts = job_name.split(".")
    return parts[-2] if len(parts) >= 3 else parts[-1]


@register
class Toil(Backend):
    name = "toil"
    title = "Toil"
    executable = "toil-cwl-runner"
    description = "Toil; --batch-system single_machine (default) or slurm"
    can_restart = True
    uses_profiles = True

    def build(self, req: RunRequest) -> Command:
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
        if req.gpu_overrides:
            argv += ["--overrides", str(req.gpu_overrides)]
        # no --provenance: Toil 9.6 fails with --restart --provenance, and its bag is thin; the bundle
        # is built after the run (complete_bundle), the same for a first run and a restart
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

    def complete_bundle(self, bundle: Path, *, workflow: str | os.PathLike, job: dict, outputs: dict,
                        log_path: Path, reference_above: int | None) -> None:
        """Toil's own bag is not used: the whole bundle is built from the run's log, job and outputs."""
        from .provenance.toil import build_toil_bundle, run_log

        build_toil_bundle(bundle, workflow=workflow, job=job, outputs=outputs, log_text=run_log(log_path),
                          batch_system=self.batch_system, reference_above=reference_above)

    @property
    def batch_system_label(self) -> str | None:
        return self.batch_system

    def step_event(self, line: str) -> StepEvent | None:
        if m := _TOIL_ISSUED.search(line):
            return StepEvent(_toil_step(m.group(1)), "running", job_id=m.group(2))
        if m := _TOIL_QUEUED.search(line):
            return StepEvent(_toil_step(m.group(1)), "running", batch_id=m.group(3), job_id=m.group(2))
        if m := _TOIL_DONE.search(line):
            return StepEvent(_toil_step(m.group(1)), "success")
        if m := _TOIL_FAILED.search(line):
            return StepEvent(_toil_step(m.group(1) or m.group(2) or m.group(3)), "failed")
        return None

    def cancel(self, pgid: int | None, batch_ids: list[str], *, grace: float = 30.0) -> list[str]:
        """Toil's leader kills its batch jobs when it gets SIGTERM; any it left are scancelled here."""
        super().cancel(pgid, batch_ids, grace=grace)
        if self.batch_system != "slurm" or not batch_ids:
            return []
        left = slurm_queued(batch_ids)
        if left:
            subprocess.run(["scancel", *left], capture_output=True, text=True, timeout=60)
            end = time.monotonic() + 30
            while slurm_queued(left) and time.monotonic() < end:
                time.sleep(0.5)
        return left


def slurm_queued(ids: list[str]) -> list[str]:
    """The ids among ``ids`` that ``squeue`` still lists (pending, running, completing)."""
    if not ids:
        return []
    proc = subprocess.run(["squeue", "-h", "-o", "%i", "-j", ",".join(ids)], capture_output=True, text=True,
                          timeout=60)
    listed = set(proc.stdout.split())
    return [i for i in ids if i in listed]


def default_runner(profile: object | None) -> str:
    """The runner used when none is named: the profiles' back end with a profile, else cwltool."""
    return PROFILE_RUNNER if profile is not None else DEFAULT_RUNNER


def backend_for(req: RunRequest) -> Backend:
    """The back end object of ``req`` (its runner and batch system)."""
    if req.runner not in BACKENDS:
        raise InputError(f"unknown runner '{req.runner}'; choose {', '.join(BACKENDS)}", field="runner")
    return BACKENDS[req.runner](req.batch_system)


def build_command(req: RunRequest) -> Command:
    """The exact runner command (and extra environment) for ``req``."""
    backend = backend_for(req)
    if not Path(req.workflow).is_file():
        raise InputError(f"workflow not found: {req.workflow}", field="workflow")
    if req.job is not None and not Path(req.job).is_file():
        raise InputError(f"job file not found: {req.job}", field="job")
    return backend.build(req)


class RunnerProcess:
    """One runner process: started in its own session, its stderr streamed line by line.

    :meth:`stop` (from a signal handler or another thread) signals the runner's whole process group;
    :meth:`wait` then raises KeyboardInterrupt, as a stopped run must not look like a failed one.
    """

    def __init__(self, req: RunRequest, command: Command | None = None,
                 on_line: Callable[[str], None] | None = None):
        self.req = req
        self.command = command or build_command(req)
        self.on_line = on_line
        self.log_path = Path(req.outdir) / "runner.log"
        self.proc: subprocess.Popen | None = None
        self.stopped: list[int] = []
        self.t0 = 0.0
        self.seconds = 0.0  # wall time of the runner process (start to exit)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        Path(self.req.outdir).mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.command.env)
        self._log = open(self.log_path, "a", encoding="utf-8", buffering=1)  # a SIGKILLed run keeps its log (--restart reads it)
        self._out = tempfile.TemporaryFile("w+")
        self._log.write("$ " + self.command.shell() + "\n")
        self._log.flush()
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.command.argv, stdout=self._out, stderr=subprocess.PIPE, env=env, text=True,
                                     errors="replace", stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self, signum: int = signal.SIGTERM) -> None:
        # The runner and the tools it started share the runner's own session: signal them all,
        # so a running tool stops now (cwltool alone would wait 10 s for it, then kill it).
        self.stopped.append(signum)
        if self.proc is not None:
            signal_group(self.proc.pid, signum)

    def wait(self) -> RunResult:
        """Stream the log to the end; the outputs, or RunnerError / KeyboardInterrupt."""
        proc, log, cmd = self.proc, self._log, self.command
        assert proc is not None and proc.stderr is not None
        lines: list[str] = []
        try:
            for line in proc.stderr:
                log.write(line)
                line = ANSI.sub("", line.rstrip("\n"))
                lines.append(line)
                if len(lines) > 20000:  # the cause is near the end, or in the first failed step's lines
                    del lines[1000:11000]
                if self.on_line:
                    self.on_line(line)
            rc = proc.wait()
            self.seconds = time.monotonic() - self.t0
            self._out.seek(0)
            stdout = self._out.read()
        finally:
            log.close()
            self._out.close()
        log_path = self.log_path
        if self.stopped:
            log_note = f"stopped by {signal.Signals(self.stopped[0]).name} (runner exit code {rc})"
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write(log_note + "\n")
            raise KeyboardInterrupt(log_note)
        outputs: dict = {}
        if stdout.strip():
            try:
                outputs = json.loads(stdout)
            except json.JSONDecodeError:
                outputs = {}
        if rc != 0:
            raise RunFailedError(backend_for(self.req).failure(lines, rc, log_path))
        return RunResult(cmd, rc, outputs, log_path)


def run(req: RunRequest, on_line: Callable[[str], None] | None = None, command: Command | None = None) -> RunResult:
    """Run ``req`` with its back end; raise :class:`RunnerError` if the runner fails.

    The runner's stderr goes line by line to ``on_line`` and into ``<outdir>/runner.log``.
    SIGINT/SIGTERM (in the main thread) are forwarded to the runner, which then stops its own jobs.
    """
    rp = RunnerProcess(req, command, on_line)
    handlers = {}

    def forward(signum, _frame):
        rp.stop(signum)

    rp.start()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            handlers[sig] = signal.signal(sig, forward)
        except ValueError:  # not in the main thread
            pass
    try:
        return rp.wait()
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)


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
