"""``provenance show|verify|to-nexus|rerun|to-rocrate``."""

from __future__ import annotations

from pathlib import Path

from .common import PROG, _err, command, group

def cmd_provenance(args) -> int:
    import json

    from .. import provenance as pv

    if args.action == "show":
        src = Path(args.source)
        if src.is_dir():
            rec = pv.load_run(src)
            chain = None
        else:
            from ..provenance.nexus import read_nexus

            nx = read_nexus(src)
            rec, chain = nx.run(), nx.groups
        if args.json:
            out = rec.to_json()
            if chain is not None:
                out["nxprocess"] = chain
            print(json.dumps(out, indent=1, default=str))
            return 0
        print("\n".join(pv.summary_lines(rec)))
        for g in chain or []:
            print(f"NXprocess {g['group']}: #{g['sequence_index']} {g.get('program')} | {g.get('version')} | {g.get('date')}")
        return 0
    if args.action == "verify":
        rep = pv.verify_bundle(args.bundle, check_external=args.external)
        for prob in rep.problems:
            _err(f"{PROG}: verify: {prob}")
        ext = f"; {len(rep.external)} file(s) referenced, not copied" if rep.external else ""
        print(f"{rep.bundle}: {'valid' if rep.ok else 'INVALID'} ({rep.files_checked} checksums{ext})")
        return 0 if rep.ok else 1
    if args.action == "to-nexus":
        from ..provenance.nexus import to_nexus

        for e in to_nexus(args.bundle, args.files):
            print(f"{e.path}: {len(e.groups)} NXprocess group(s), +{e.bytes_added} bytes")
        return 0
    if args.action == "rerun":
        from ..provenance.nexus import rerun

        rep = rerun(args.file, workdir=args.workdir, runner=args.runner)
        if args.json:
            print(json.dumps({"outdir": str(rep.outdir), "ok": rep.ok, "comparisons": rep.comparisons}, indent=1))
        else:
            for c in rep.comparisons:
                state = {True: "same", False: "DIFFERENT", None: "not compared"}[c["equal"]]
                print(f"{c['output']}: {state} ({c.get('checksum') or ''} {c.get('got', c.get('detail', ''))})")
            print(f"re-run outputs in {rep.outdir}")
        return 0 if rep.ok else 1
    if args.action == "to-rocrate":
        from ..provenance.rocrate import to_rocrate

        out = args.output or str(Path(args.bundle).resolve()) + "-rocrate"
        print(to_rocrate(args.bundle, out))
        return 0
    return 2



def add_parsers(sub) -> None:
    prv = group(sub, "provenance",
                "research-object bundles and NXprocess provenance: show, verify, to-nexus, rerun, to-rocrate",
                ["panosc-cwl run cwl/workflows/powder-xrd.cwl jobs/powder-xrd-ceo2.yml --outdir out/ceo2",
                 "panosc-cwl provenance show out/ceo2/provenance"])
    p = command(prv, "show", example="panosc-cwl provenance show out/ceo2/provenance",
                help="who, when, which workflow, steps with tool versions, data with checksums")
    p.add_argument("source", help="bundle folder or NeXus file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_provenance)
    p = command(prv, "verify", example="panosc-cwl provenance verify out/ceo2/provenance",
                help="check a bundle's BagIt checksums; names every file that fails")
    p.add_argument("bundle")
    p.add_argument("--external", action="store_true", help="also re-hash data referenced outside the bundle")
    p.set_defaults(func=cmd_provenance)
    p = command(prv, "to-nexus", example="panosc-cwl provenance to-nexus out/ceo2/provenance other.nxs",
                help="write one NXprocess per workflow step into NeXus files (atomically)")
    p.add_argument("bundle")
    p.add_argument("files", nargs="+", help="NeXus/HDF5 files")
    p.set_defaults(func=cmd_provenance)
    p = command(prv, "rerun", example="panosc-cwl provenance rerun out/ceo2/reduced.nxs",
                help="re-run the workflow recorded in a NeXus file and compare output checksums")
    p.add_argument("file", help="NeXus file with an NXprocess chain")
    p.add_argument("--workdir", help="where to re-run (default: a new temporary folder)")
    p.add_argument("--runner", help="override the recorded runner (cwltool, toil)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_provenance)
    p = command(prv, "to-rocrate", example="panosc-cwl provenance to-rocrate out/ceo2/provenance -o out/ceo2/crate",
                help="Provenance Run Crate 0.5 of a bundle (rocrate library)")
    p.add_argument("bundle")
    p.add_argument("-o", "--output", help="crate folder or .zip (default BUNDLE-rocrate)")
    p.set_defaults(func=cmd_provenance)

