"""Check a crate with the community's validator (``roc-validator``), offline.

roc-validator fetches the RO-Crate 1.3 JSON-LD context from https://w3id.org/ro/crate/1.3/context
while it reads a crate; these machines and CI have no network. The ``rocrate`` package ships that
very context (``rocrate/data/ro-crate.jsonld``), so a ``requests`` transport adapter answers that
one URL from it (every other URL goes to the network as usual). The adapter is mounted on every
``requests`` session created after :func:`serve_contexts_locally` (the validator builds its
session lazily), so call it before validating.

Usage: ``python -m panosc_cwl.crate_check CRATE [PROFILE ...]`` (needs ``pip install panosc-cwl[test]``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

PROFILES = ("ro-crate-1.3", "provenance-run-crate-0.5")
#: Failures of roc-validator 0.13.0 itself, seen on every 1.3 crate (ours and runcrate's):
#: - ro-crate-1.1_5.3: the wfrun profiles inherit RO-Crate 1.1 and demand 1.1 in the descriptor of a 1.3 crate;
#: - workflow-ro-crate-1.0_2.1: the 1.3 context maps ComputationalWorkflow to bioschemas.org/terms/..., the
#:   shape expects bioschemas.org/ComputationalWorkflow.
KNOWN_VALIDATOR_BUGS = frozenset({"ro-crate-1.1_5.3", "workflow-ro-crate-1.0_2.1"})
LOCAL_CONTEXTS = {"https://w3id.org/ro/crate/1.3/context": "ro-crate.jsonld"}


@dataclass(frozen=True)
class Failure:
    """One check the crate fails: ``ident`` as the validator names it (``ro-crate-1.1_5.3``)."""

    ident: str
    severity: str
    name: str
    messages: tuple[str, ...]

    def line(self) -> str:
        return f"{self.ident} [{self.severity}] {self.name}: {'; '.join(self.messages)[:300]}"


_installed = False


def serve_contexts_locally() -> None:
    """Answer the RO-Crate context URLs from the copies inside the ``rocrate`` package."""
    global _installed
    if _installed:
        return
    import requests
    from requests.adapters import HTTPAdapter
    from requests.models import Response
    import rocrate

    data = Path(rocrate.__file__).parent / "data"

    class LocalContextAdapter(HTTPAdapter):
        def send(self, request, **kwargs):
            name = LOCAL_CONTEXTS.get(str(request.url).rstrip("/"))
            if name is None:
                return super().send(request, **kwargs)
            resp = Response()
            resp.status_code = 200
            resp._content = (data / name).read_bytes()
            resp.headers["Content-Type"] = "application/ld+json"
            resp.url = request.url
            resp.request = request
            resp.encoding = "utf-8"
            resp.reason = "OK"
            return resp

    original_init = requests.Session.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        adapter = LocalContextAdapter()
        for url in LOCAL_CONTEXTS:
            self.mount(url, adapter)

    requests.Session.__init__ = init
    _installed = True


def validate(crate: str | Path, profile: str, severity: str = "REQUIRED") -> list[Failure]:
    """Every check of ``profile`` (and of the profiles it inherits) that ``crate`` fails at ``severity``."""
    serve_contexts_locally()
    from rocrate_validator import services

    result = services.validate({"rocrate_uri": str(Path(crate).resolve()), "profile_identifier": profile,
                                "requirement_severity": severity, "no_cache": True})
    out = []
    for check in sorted(result.failed_checks, key=lambda c: c.identifier):
        issues = [i for i in result.get_issues() if i.check is check]
        level = max(i.severity for i in issues).name if issues else severity
        out.append(Failure(check.identifier, level, f"{check.requirement.name}: {check.name}",
                           tuple(sorted({str(i.message) for i in issues}))))
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m panosc_cwl.crate_check CRATE [PROFILE ...]", file=sys.stderr)
        return 2
    crate, profiles = args[0], args[1:] or list(PROFILES)
    if not (Path(crate) / "ro-crate-metadata.json").is_file():
        print(f"panosc-cwl: error: crate: no ro-crate-metadata.json in {crate}", file=sys.stderr)
        return 2
    try:
        import rocrate_validator  # noqa: F401
    except ImportError:
        print("panosc-cwl: error: crate_check needs roc-validator (pip install 'panosc-cwl[test]')", file=sys.stderr)
        return 2
    bad = 0
    for profile in profiles:
        fails = validate(crate, profile)
        real = [f for f in fails if f.ident not in KNOWN_VALIDATOR_BUGS]
        print(f"{profile}: {len(real)} REQUIRED failure(s)"
              + (f" (+ known validator bugs: {', '.join(f.ident for f in fails if f not in real)})"
                 if len(real) < len(fails) else ""))
        for f in real:
            print("  " + f.line())
        bad += len(real)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
