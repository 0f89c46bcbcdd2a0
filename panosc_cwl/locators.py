"""Facility data locators: name a run as ``facility:EuXFEL/v1/p2222/r0013`` in a job file.

A job file that says where the data *are* (``/gpfs/exfel/exp/SPB/202501/p002222/raw/r0013``)
only works at one site and breaks when data move. A locator names the data instead:
facility, locator-scheme version (``v1``), proposal, run and optionally the data kind. A
facility table (packaged ``facilities.yaml``, overridable) maps it to a folder. ``panosc-cwl run``
rewrites every ``File``/``Directory`` whose ``location`` (or ``path``) is a locator into a plain
``file://`` location and hands the rewritten job to the stock runner, so cwltool and Toil never see
the scheme; ``panosc-cwl locate --job`` writes the same resolved job for use with a runner directly.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .exceptions import InputError
from .iorw import atomic_path, require_file

SCHEME = "facility:"
PACKAGED = "facilities.yaml"
ENV_VAR = "PANOSC_CWL_FACILITIES"
USER_FILE = Path("~/.config/panosc-cwl/facilities.yaml")
_LOCATOR = re.compile(r"^(?P<facility>[A-Za-z][\w.-]*)/v(?P<version>\d+)/p(?P<proposal>\d+)/r(?P<run>\d+)"
                      r"(?:/(?P<kind>[A-Za-z]\w*))?/?$")
SUPPORTED_VERSIONS = {1}


@dataclass(frozen=True)
class Locator:
    facility: str
    proposal: int
    run: int
    kind: str | None = None
    version: int = 1

    def __str__(self) -> str:
        text = f"{self.facility}/v{self.version}/p{self.proposal}/r{self.run:04d}"
        return text + (f"/{self.kind}" if self.kind else "")


def parse(text: str) -> Locator:
    """``[facility:]FACILITY/v1/pPROPOSAL/rRUN[/KIND]`` -> :class:`Locator`; anything else is a one-line error."""
    body = text[len(SCHEME):] if text.startswith(SCHEME) else text
    m = _LOCATOR.match(body.strip())
    if not m:
        raise InputError(f"'{text}' is not a data locator FACILITY/v1/pPROPOSAL/rRUN[/KIND] "
                         "(e.g. EuXFEL/v1/p2222/r0013)", field="locator")
    version = int(m["version"])
    if version not in SUPPORTED_VERSIONS:
        raise InputError(f"'{text}': locator version v{version} is not supported (use v1)", field="locator")
    return Locator(m["facility"], int(m["proposal"]), int(m["run"]), m["kind"], version)


def _read_yaml(path: Path) -> dict:
    from ruamel.yaml import YAML, YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text()) or {}
    except (OSError, YAMLError) as exc:
        raise InputError(f"cannot read facility table {path}: {' '.join(str(exc).split())}", field="facilities") from None
    if not isinstance(data, dict) or not isinstance(data.get("facilities", {}), dict):
        raise InputError(f"{path} must hold a 'facilities:' mapping", field="facilities")
    return data.get("facilities") or {}


def facility_table() -> dict[str, dict]:
    """Packaged facilities, updated field by field from the user file (``$PANOSC_CWL_FACILITIES`` or ~/.config)."""
    table = _read_yaml(Path(str(resources.files("panosc_cwl") / PACKAGED)))
    env = os.environ.get(ENV_VAR)
    user = Path(env) if env else USER_FILE.expanduser()
    if env and not user.is_file():
        raise InputError(f"${ENV_VAR} names {user}, which does not exist", field="facilities")
    if user.is_file():
        for name, fields in _read_yaml(user).items():
            table[name] = {**table.get(name, {}), **(fields or {})}
    return table


def resolve(locator: str | Locator, table: dict[str, dict] | None = None) -> Path:
    """The folder a locator names; unknown facility, proposal, run or kind -> one-line error."""
    loc = parse(locator) if isinstance(locator, str) else locator
    table = facility_table() if table is None else table
    if loc.facility not in table:
        raise InputError(f"unknown facility '{loc.facility}' (known: {', '.join(sorted(table)) or 'none'}; "
                         f"add it to ${ENV_VAR})", field="locator")
    fac = table[loc.facility]
    for key in ("root", "proposal", "run"):
        if not fac.get(key):
            raise InputError(f"facility {loc.facility} has no '{key}' template", field="facilities")
    kinds = list(fac.get("kinds") or ["raw"])
    kind = loc.kind or kinds[0]
    if kind not in kinds:
        raise InputError(f"{loc}: unknown data kind '{kind}' for {loc.facility} (choose {', '.join(kinds)})",
                         field="locator")
    root = os.path.expanduser(os.path.expandvars(str(fac["root"])))
    try:
        pattern = str(fac["proposal"]).format(root=root, proposal=loc.proposal)
    except (KeyError, ValueError, IndexError) as exc:
        raise InputError(f"bad proposal template of {loc.facility}: {exc}", field="facilities") from None
    found = sorted(p for p in glob.glob(pattern) if os.path.isdir(p))
    if not found:
        raise InputError(f"{loc}: proposal {loc.proposal} not found at {loc.facility} ({pattern})", field="locator")
    if len(found) > 1:
        raise InputError(f"{loc}: proposal {loc.proposal} matches {len(found)} folders ({', '.join(found[:3])})",
                         field="locator")
    try:
        run_dir = Path(str(fac["run"]).format(proposal_dir=found[0], kind=kind, run=loc.run, proposal=loc.proposal,
                                              root=root))
    except (KeyError, ValueError, IndexError) as exc:
        raise InputError(f"bad run template of {loc.facility}: {exc}", field="facilities") from None
    if not run_dir.is_dir():
        raise InputError(f"{loc}: run {loc.run} not found in proposal {loc.proposal} ({run_dir})", field="locator")
    return run_dir


def is_locator(value) -> bool:
    return isinstance(value, str) and value.startswith(SCHEME)


def resolve_job(job: dict, base: Path, table: dict[str, dict] | None = None) -> tuple[dict, dict[str, str]]:
    """A copy of a CWL job object with locators replaced by ``file://`` locations.

    Relative ``path``/``location`` values of other Files/Directories are made absolute against
    ``base`` (the job file's folder), so the resolved job works from any folder. Returns the job
    and a map locator -> resolved path.
    """
    resolved: dict[str, str] = {}
    table = facility_table() if table is None else table

    def fix(value: str) -> str:
        if is_locator(value):
            path = resolve(value, table)
            resolved[value] = str(path)
            return path.resolve().as_uri()
        if "://" in value or value.startswith("_:") or value.startswith("$("):
            return value
        return (base / value).resolve().as_uri() if not os.path.isabs(value) else Path(value).as_uri()

    def walk(obj):
        if isinstance(obj, dict):
            out = {k: walk(v) for k, v in obj.items()}
            if obj.get("class") in ("File", "Directory"):
                for key in ("location", "path"):
                    if isinstance(out.get(key), str):
                        value = fix(out.pop(key))
                        out["location"] = value
                        break
            return out
        if isinstance(obj, list):
            return [walk(v) for v in obj]
        return obj

    return walk(job), resolved


def job_has_locators(job: dict) -> bool:
    from .runners import cwl_file_objects

    return any(is_locator(obj.get("location")) or is_locator(obj.get("path"))
               for obj in cwl_file_objects(job, ("File", "Directory")))


def read_job(path: str | Path) -> dict:
    from ruamel.yaml import YAML, YAMLError

    p = require_file(path, "job")
    try:
        data = YAML(typ="safe", pure=True).load(p.read_text())  # pure: IRIs in flow mappings, as cwltool reads them
    except YAMLError as exc:
        raise InputError(f"cannot read job {p.name}: {' '.join(str(exc).split())}", field="job") from None
    if not isinstance(data, dict):
        raise InputError(f"job {p.name} must be a mapping of input names to values", field="job")
    return data


def write_resolved_job(job_path: str | Path, output: str | Path, *, overwrite: bool = True) -> dict[str, str]:
    """Resolve the locators of a job file and write the runnable job (YAML) to ``output``."""
    from ruamel.yaml import YAML

    job_path = Path(job_path)
    job, resolved = resolve_job(read_job(job_path), job_path.resolve().parent)
    yaml = YAML()
    yaml.default_flow_style = False
    with atomic_path(output, overwrite=overwrite) as tmp:
        with open(tmp, "w") as fh:
            fh.write(f"# resolved from {job_path.resolve()} by panosc-cwl (facility locators)\n")
            for loc, path in resolved.items():
                fh.write(f"#   {loc} -> {path}\n")
            yaml.dump(job, fh)
    return resolved


def resolve_for_run(job_path: str | Path, outdir: str | Path) -> tuple[Path, dict[str, str]]:
    """For ``panosc-cwl run``: a job with locators -> ``<outdir>/<name>.resolved.yml``; others unchanged."""
    job_path = Path(job_path)
    if not job_path.is_file() or not job_has_locators(read_job(job_path)):
        return job_path, {}
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{job_path.stem}.resolved.yml"
    return target, write_resolved_job(job_path, target, overwrite=True)
