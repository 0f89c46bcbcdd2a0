"""CWLProv provenance of a run, one module per concern.

- :mod:`.bundle`: the BagIt bag: check, verify, re-hash, redact secrets, write PROV serialisations
- :mod:`.model`: what a bundle says (:class:`RunRecord`, :class:`StepRun`, :class:`Artifact`), summary
- :mod:`.enrich`: what we add to every bundle (job with checksums, tool versions, large data referenced)
- :mod:`.toil`: the whole bundle of a Toil run, built on our side (Toil's own is not used)
- :mod:`.nexus`: the NXprocess chain inside NeXus outputs; read it back; re-run from it
- :mod:`.rocrate`: Workflow Run RO-Crate export
- :mod:`.record`: what ``panosc-cwl run`` does before and after the runner

The names below resolve on first use, so ``from panosc_cwl import provenance as pv`` costs
nothing until a function is called (the CLI parser imports it; NeXus export needs numpy/h5py).
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "bundle": ["PANOSC_NS", "PROV_FORMATS", "PROV_JSON", "PANOSC_DIR", "DEFAULT_REFERENCE_ABOVE", "BundleError",
               "is_secret_name", "safe_environment", "secret_values", "redact_text", "file_digests", "sha1_file",
               "check_bundle", "VerifyReport", "verify_bundle", "rehash_bundle", "load_packed", "nested_provs",
               "load_prov_document", "save_prov_document", "default_bundle_dir", "prepare_bundle_dir", "parse_size"],
    "model": ["Artifact", "StepRun", "RunRecord", "run_from_prov", "processes", "main_process", "step_tools",
              "installed_version", "declared_software", "load_run", "summary_lines"],
    "enrich": ["resolve_job", "known_checksums", "job_with_checksums", "enrich_bundle"],
    "_util": ["uri_path"],
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}
_SUBMODULES = {"bundle", "model", "enrich", "toil", "nexus", "rocrate", "record"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return import_module(f"{__name__}.{name}")
    if name in _WHERE:
        return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE, *_SUBMODULES])
