"""Provenance for ``panosc-cwl run``: a bundle for every run (cwltool's own, or built by us for
Toil), completed the same way, then written into every NeXus/HDF5 output.

Before the run (:func:`prepare`): choose the bundle folder; cwltool gets ``--provenance`` (with
the user and host) from its back end. After the run
(:func:`record`): Toil's bundle is built on our side (:mod:`panosc_cwl.provenance.toil`; Toil's
own ``--provenance`` is not used, so a ``--restart`` gets a bundle too), both kinds are enriched
the same way (:func:`panosc_cwl.provenance.enrich.enrich_bundle`), and each NeXus output gets its
NXprocess chain (:func:`panosc_cwl.provenance.nexus.to_nexus`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import provenance as pv


@dataclass
class Recorded:
    bundle: Path
    nexus: list = field(default_factory=list)
    seconds: float = 0.0


def prepare(req, bundle: str | os.PathLike | None, *, overwrite: bool = False,
            notes: list[str] | None = None) -> Path:
    """Set ``req.provenance`` (default ``<outdir>/provenance``) and the runner options for it.

    An earlier bundle there is replaced if incomplete, or with ``overwrite`` (lines for the user in ``notes``).
    """
    from ..runners import backend_for
    from .bundle import claim_bundle_dir

    path = Path(bundle).resolve() if bundle else pv.default_bundle_dir(Path(req.outdir), overwrite)
    note = claim_bundle_dir(path, overwrite)
    if notes is not None:
        if note:
            notes.append(note)
        if path.name != "provenance" and not bundle:
            notes.append(f"note: {path.parent / 'provenance'} holds an earlier run's bundle (kept); this run's "
                         f"bundle: {path} (--overwrite replaces the earlier one)")
    req.provenance = pv.prepare_bundle_dir(path)
    req.extra_args = [*backend_for(req).provenance_args(req), *req.extra_args]
    return req.provenance


def record(req, result, reference_above: int | None = pv.DEFAULT_REFERENCE_ABOVE) -> Recorded:
    """Complete the bundle of a finished run and write it into its NeXus outputs."""
    import time

    from ..iorw import is_hdf5
    from .nexus import has_nxentry, output_paths, to_nexus
    from ..runners import backend_for, output_files

    t0 = time.monotonic()
    bundle = Path(req.provenance)
    # input checksums once (cwltool's are reused; Toil's bundle lacks the inputs, so they are hashed)
    job = pv.job_with_checksums(pv.resolve_job(req.job), pv.known_checksums(bundle))
    backend = backend_for(req)
    backend.complete_bundle(bundle, workflow=req.workflow, job=job, outputs=result.outputs,
                            log_path=Path(result.log_path), reference_above=reference_above)
    pv.enrich_bundle(bundle, job=job, outputs=result.outputs, reference_above=reference_above,
                     runner=backend.name, batch_system=backend.batch_system_label)
    # NeXus outputs get the chain; bare HDF5 (no NXentry) has nowhere NeXus-conform to hold it
    nexus = [p for p in output_files(result.outputs) if p.is_file() and is_hdf5(p) and has_nxentry(p)]
    exports = to_nexus(bundle, nexus, output_paths(result.outputs)) if nexus else []
    return Recorded(bundle, exports, time.monotonic() - t0)
