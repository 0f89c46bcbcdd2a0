"""What does the run catalogue cost? 1000 run records written and queried, on SQLite and PostgreSQL.

Each record looks like a real powder run: 3 inputs with SHA-1s, 4 steps with SLURM job ids, 2 outputs,
5 status changes. Per back end (a new SQLite file; a new database on the project's PostgreSQL from
.ci/pg-up, skipped if it is not up):

1. write: ``Catalogue.record_run`` once per record, one transaction each (what the recorder does at a
   run's change): time per record;
2. rewrite: the same 1000 runs again with a newer snapshot (status change: the record is replaced);
3. query: ``panosc_cwl.runs.query`` by status, workflow, since, input SHA-1 (each over all 1000),
   time per query and per returned record; ``runs.get`` of one id;
4. claim: ``Catalogue.claim_dataset`` for 1000 new datasets (the watcher's exactly-once ledger);
5. bare: the same 1000 rows of the ``runs`` table alone through SQLAlchemy Core, one transaction each
   (no inputs/steps/outputs, no ORM): the database's own floor for comparison.

Usage: ``.venv/bin/python benchmarks/catalogue.py [--records 1000]``
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_record(i: int, t0: float, revision: int = 1, status: str = "running") -> dict:
    sub = t0 + i
    return {
        "id": f"bench-{i:05d}", "revision": revision, "user": "bench", "host": "node01",
        "workflow_path": f"/opt/cwl/workflows/{'powder-xrd' if i % 2 else 'saxs'}.cwl",
        "workflow_sha1": ("a" if i % 2 else "b") * 40, "job_path": f"/data/p2222/r{i:04d}/job.yml",
        "job": {"frames": [{"class": "File", "path": f"/data/p2222/r{i:04d}/master.h5"}], "npt": 1000},
        "runner": "toil", "batch_system": "slurm", "profile": "desy-maxwell", "status": status,
        "submitted": sub, "started": sub + 1, "ended": sub + 60 if status != "running" else None,
        "outdir": f"/data/p2222/proc/r{i:04d}", "provenance": f"/data/p2222/proc/r{i:04d}/provenance",
        "log": f"/data/p2222/proc/r{i:04d}/runner.log", "error": None,
        "inputs": [{"name": n, "path": f"/data/p2222/r{i:04d}/{n}", "sha1": f"{i:08x}{k:032x}", "size": 10**9}
                   for k, n in enumerate(("frames", "poni", "mask"))],
        "outputs": [{"name": n, "path": f"/data/p2222/proc/r{i:04d}/{n}.nxs", "sha1": secrets.token_hex(20),
                     "size": 10**6} for n in ("integrated", "report")],
        "steps": [{"name": n, "status": "success", "start": sub + 2 + k, "end": sub + 3 + k,
                   "batch_job_id": str(100000 + 4 * i + k)}
                  for k, n in enumerate(("integrate", "reduce", "plot_pattern", "make_report"))],
        "status_changes": [{"status": s, "at": sub + k} for k, s in enumerate(("queued", "running"))]
                          + ([{"status": status, "at": sub + 60}] if status != "running" else []),
    }


def bench(name: str, url: str, n: int) -> list[tuple]:
    from sqlalchemy import insert

    from panosc_cwl.catalogue import open_catalogue
    from panosc_cwl.catalogue.models import RunRecord
    from panosc_cwl.catalogue.records import to_dt
    from panosc_cwl.runs import get, query

    rows = []
    t_open = time.perf_counter()
    cat = open_catalogue(url)  # creates the schema (Alembic)
    rows.append((name, "open + create schema", 1, time.perf_counter() - t_open, 1))
    t0 = time.time() - n - 3600
    recs = [make_record(i, t0) for i in range(n)]
    t = time.perf_counter()
    for r in recs:
        cat.record_run(r)
    rows.append((name, "write (record_run, 1 transaction each)", n, time.perf_counter() - t, n))
    finals = [make_record(i, t0, 2, "failed" if i % 10 == 0 else "success") for i in range(n)]
    t = time.perf_counter()
    for r in finals:
        cat.record_run(r)
    rows.append((name, "rewrite (newer snapshot replaces)", n, time.perf_counter() - t, n))

    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0 + n / 2))
    for label, kw in (("query status=failed", {"status": "failed"}),
                      ("query workflow=powder-xrd", {"workflow": "powder-xrd"}),
                      ("query since (half)", {"since": since}),
                      ("query input_sha1", {"input_sha1": f"{n // 3:08x}{0:032x}"}),
                      ("query all", {})):
        t = time.perf_counter()
        found = query(catalogue=cat, **kw)
        rows.append((name, label, 1, time.perf_counter() - t, len(found)))
    t = time.perf_counter()
    rec = get(f"bench-{n // 2:05d}", catalogue=cat)
    assert rec.status in ("success", "failed") and len(rec.steps) == 4 and len(rec.inputs) == 3
    rows.append((name, "get one run by id", 1, time.perf_counter() - t, 1))

    t = time.perf_counter()
    got = sum(cat.claim_dataset("bench", f"raw/r{i:05d}", "c" * 40, max_attempts=3, owner="bench") is not None
              for i in range(n))
    assert got == n
    rows.append((name, "claim_dataset (new)", n, time.perf_counter() - t, n))
    t = time.perf_counter()
    again = sum(cat.claim_dataset("bench", f"raw/r{i:05d}", "c" * 40, max_attempts=3, owner="bench") is not None
                for i in range(n))
    assert again == 0
    rows.append((name, "claim_dataset (already claimed)", n, time.perf_counter() - t, n))

    t = time.perf_counter()
    for r in recs:
        with cat.engine.begin() as conn:
            conn.execute(insert(RunRecord), [{
                "id": "bare-" + r["id"], "workflow_path": r["workflow_path"], "workflow_sha1": r["workflow_sha1"],
                "status": r["status"], "submitted": to_dt(r["submitted"]), "revision": 1}])
    rows.append((name, "bare: runs row alone, SQLAlchemy Core", n, time.perf_counter() - t, n))
    cat.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1000)
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="catalogue-bench-") as tmp:
        import os

        os.environ["XDG_DATA_HOME"] = tmp  # the outbox, if anything were queued
        results += bench("SQLite", str(Path(tmp) / "catalogue.sqlite"), args.records)
        url_file = ROOT / ".pg" / "url"
        if url_file.is_file():
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            base = make_url(url_file.read_text().strip())
            db = f"bench_{secrets.token_hex(3)}"
            admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{db}"'))
            try:
                results += bench("PostgreSQL", base.set(database=db).render_as_string(hide_password=False),
                                 args.records)
            finally:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE "{db}" WITH (FORCE)'))
                admin.dispose()
        else:
            print(f"PostgreSQL skipped: no {url_file} (run .ci/pg-up)")
    print(f"\n| back end | operation | n | total (s) | ms per call | records | ms per record |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, op, calls, total, nrec in results:
        print(f"| {name} | {op} | {calls} | {total:.3f} | {1000 * total / calls:.2f} | {nrec} | "
              f"{1000 * total / max(nrec, 1):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
