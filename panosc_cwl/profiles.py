"""Facility profiles: how to run Toil on a site's batch system, in one named YAML record.

Users say ``--profile desy-maxwell`` instead of remembering partitions, time limits and where a
job store may live. The packaged ``profiles.yaml`` holds examples; a user file
(``$PANOSC_CWL_PROFILES`` or ``~/.config/panosc-cwl/profiles.yaml``) overrides them field by field
or adds new ones. A profile only produces ``toil-cwl-runner`` options and environment variables
(Toil's own ``--slurmPartition``, ``--slurmTime``, ``TOIL_SLURM_ARGS``...): Toil does the work.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path

from .exceptions import InputError

PACKAGED = "profiles.yaml"
ENV_VAR = "PANOSC_CWL_PROFILES"
BATCH_SYSTEMS = ("slurm", "single_machine", "grid_engine", "lsf", "torque", "htcondor")
#: sbatch options Toil sets itself for every job (it refuses them in TOIL_SLURM_ARGS).
_TOIL_OWNS = re.compile(r"^(--mem|--mem-per-cpu|--mem-per-gpu|--cpus-per-task|-c|--cpus-per-gpu)(=|$)")


@dataclass(frozen=True)
class Profile:
    """One facility's settings for Toil; every field maps to one Toil option (see profiles.yaml)."""

    name: str
    description: str = ""
    batch_system: str = "slurm"
    partition: str | None = None
    gpu_partition: str | None = None
    time_limit: str | None = None
    memory: str | None = None
    sbatch_args: tuple[str, ...] = ()
    job_store: str | None = None
    retry_count: int | None = None
    allowed_roots: tuple[str, ...] = ()
    source: str = field(default="", compare=False)

    def toil_args(self) -> list[str]:
        """``toil-cwl-runner`` options for this profile (job store and retries excluded)."""
        argv: list[str] = []
        if self.partition:
            argv += ["--slurmPartition", self.partition]
        if self.gpu_partition:
            argv += ["--slurmGPUPartition", self.gpu_partition]
        if self.time_limit:
            argv += ["--slurmTime", self.time_limit]
        if self.memory:
            argv += ["--defaultMemory", self.memory]
        return argv

    def toil_env(self) -> dict[str, str]:
        """Environment for Toil: the extra sbatch arguments as ``TOIL_SLURM_ARGS``."""
        return {"TOIL_SLURM_ARGS": shlex.join(self.sbatch_args)} if self.sbatch_args else {}

    def new_job_store(self, workflow: str | Path) -> str | None:
        """A fresh job-store path under the profile's ``job_store`` folder (None: Toil's default)."""
        if not self.job_store:
            return None
        base = Path(_expand(self.job_store, "job_store"))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return str(base / f"{Path(workflow).stem}-{stamp}-{os.getpid()}")

    def roots(self) -> list[Path]:
        """``allowed_roots`` with ``~`` and ``${VAR}`` expanded."""
        return [Path(_expand(r, "allowed_roots")) for r in self.allowed_roots]


def _expand(value: str, field_name: str) -> str:
    out = os.path.expanduser(os.path.expandvars(value))
    if "$" in out:
        raise InputError(f"'{value}' uses an environment variable that is not set", field=field_name)
    return out


# ---------------------------------------------------------------- loading
def _read_yaml(text: str, where: str) -> dict:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{where} is not valid YAML{at}", field="profiles") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("profiles", {}), dict):
        raise InputError(f"{where}: expected a mapping 'profiles: {{NAME: {{...}}}}'", field="profiles")
    return data.get("profiles") or {}


_FIELDS = {f.name: f for f in fields(Profile) if f.name not in ("name", "source")}


def _check_record(name: str, rec: object, where: str) -> dict:
    """Validate one profile record from YAML; errors name the profile and the field."""
    if not isinstance(rec, dict):
        raise InputError(f"{where}: profile '{name}' must be a mapping of settings", field="profiles")
    out: dict = {}
    for key, value in rec.items():
        loc = f"profiles.{name}.{key}"
        if key not in _FIELDS:
            raise InputError(f"{where}: unknown setting '{key}' (known: {', '.join(_FIELDS)})", field=loc)
        if value is None:
            out[key] = None
            continue
        if key in ("sbatch_args", "allowed_roots"):
            if isinstance(value, str):
                value = shlex.split(value) if key == "sbatch_args" else [value]
            if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
                raise InputError(f"{where}: expected a list of strings", field=loc)
            value = tuple(str(v) for v in value)
            if key == "sbatch_args":
                for arg in value:
                    if _TOIL_OWNS.match(arg):
                        raise InputError(f"{where}: {arg} is set by Toil for every job from the tool's "
                                         "ResourceRequirement; use 'memory' or the tool instead", field=loc)
        elif key == "retry_count":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{where}: expected a whole number >= 0, got {value!r}", field=loc)
        else:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise InputError(f"{where}: expected a string, got {value!r}", field=loc)
            value = str(value)
            if key == "time_limit":
                _check_time(value, f"{where}", loc)
            elif key == "memory":
                _check_memory(value, f"{where}", loc)
            elif key == "batch_system" and value not in BATCH_SYSTEMS:
                raise InputError(f"{where}: unknown batch system '{value}'; choose {', '.join(BATCH_SYSTEMS)}",
                                 field=loc)
        out[key] = value
    return out


def _check_time(value: str, where: str, loc: str) -> None:
    from toil.batchSystems.slurm import parse_slurm_time

    try:
        parse_slurm_time(value)
    except (ValueError, TypeError):
        raise InputError(f"{where}: time limit '{value}' is not [DD-]HH:MM:SS", field=loc) from None


def _check_memory(value: str, where: str, loc: str) -> None:
    from toil.lib.conversions import human2bytes

    try:
        if human2bytes(value) <= 0:
            raise ValueError
    except (ValueError, KeyError, TypeError, RuntimeError):  # toil raises RuntimeError for bad units
        raise InputError(f"{where}: memory '{value}' is not a size such as 4Gi or 4096Mi", field=loc) from None


def user_file() -> Path | None:
    """The user's profile file: ``$PANOSC_CWL_PROFILES`` (must exist) or the XDG config file if present."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise InputError(f"${ENV_VAR} names {p}, which is not a file", field="profiles")
        return p
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    p = base / "panosc-cwl" / "profiles.yaml"
    return p if p.is_file() else None


def load_profiles(user: Path | None | bool = True) -> dict[str, Profile]:
    """All profiles: the packaged ones, with the user file's records laid over them field by field.

    ``user``: True (default) finds the user file, a Path uses that file, None/False none.
    """
    packaged = resources.files("panosc_cwl").joinpath(PACKAGED)
    records: dict[str, dict] = {}
    sources: dict[str, str] = {}
    layers = [(packaged.read_text(encoding="utf-8"), f"packaged {PACKAGED}")]
    path = user_file() if user is True else (user or None)
    if path is not None:
        try:
            layers.append((Path(path).read_text(encoding="utf-8"), str(path)))
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror}", field="profiles") from None
    for text, where in layers:
        for name, rec in _read_yaml(text, where).items():
            name = str(name)
            records.setdefault(name, {}).update(_check_record(name, rec, where))
            sources[name] = where if name not in sources else f"{sources[name]} + {where}"
    return {name: Profile(name=name, source=sources[name], **rec) for name, rec in sorted(records.items())}


def get_profile(name: str, user: Path | None | bool = True) -> Profile:
    """The profile ``name``; an unknown name is a one-line error listing the known ones."""
    profiles = load_profiles(user)
    if name not in profiles:
        raise InputError(f"unknown profile '{name}'; known profiles: {', '.join(profiles)}", field="profile")
    return profiles[name]
