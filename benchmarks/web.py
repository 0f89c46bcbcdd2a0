"""What does ``panosc-cwl serve`` cost? The runs table over a big catalogue, and a big NeXus file in H5Web.

1. runs table: a new SQLite catalogue with N run records (default 10 000; each like a real powder run:
   3 inputs, 4 steps with SLURM job ids, 2 outputs, status history, written in one transaction by the
   catalogue's own ``write_run``); the server time of ``GET /`` (the newest 500, the default page),
   ``GET /?limit=N`` (all of them in one page), a filtered page, and ``GET /api/runs`` (the JSON the
   live status polls), through the ASGI app in-process (httpx), median of 5. Goal: all runs < 0.5 s.
   Baseline for comparison: ``panosc_cwl.runs.query`` alone for the same rows.
2. big NeXus: an NXdata of SIZE (default 1 GiB: float32 frames, chunked per frame) recorded as the
   output of one run; a real uvicorn server in a child process; the requests H5Web makes on opening
   it (meta and attrs down the tree, then the default signal's first frame as binary, then the
   stats of the frame) — the server's RSS before and after. Goal: growth < 100 MB.

Usage: ``.venv-web/bin/python benchmarks/web.py [--runs 10000] [--size-mib 1024]`` (the web page's own
environment, made by ``.ci/install-web``: h5grove's orjson is kept out of .venv)
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalogue import make_record  # noqa: E402  (benchmarks/catalogue.py: one realistic record)


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_table(tmp: Path, n: int) -> list[tuple]:
    import asyncio

    import httpx

    from panosc_cwl.catalogue import open_catalogue
    from panosc_cwl.catalogue.records import write_run
    from panosc_cwl.runs import query
    from panosc_cwl.web import create_app

    url = f"sqlite:///{tmp / 'big.sqlite'}"
    cat = open_catalogue(url)
    t0 = time.time() - n - 100
    w0 = time.perf_counter()
    with cat.session() as s:
        for i in range(n):
            write_run(s, make_record(i, t0, status="success" if i % 7 else "failed"))
    print(f"wrote {n} run records in {time.perf_counter() - w0:.1f} s", file=sys.stderr)
    app = create_app(cat)

    async def timed(path: str) -> tuple[float, int, int]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            times = []
            for _ in range(5):
                a = time.perf_counter()
                r = await c.get(path)
                times.append(time.perf_counter() - a)
                assert r.status_code == 200, (path, r.status_code)
            return statistics.median(times), len(r.content), r.text.count("<tr data-run=")

    rows = []
    for label, path in (("runs table, default page (newest 1000)", "/"),
                        (f"runs table, all {n} runs", f"/?limit={n}"),
                        ("runs table, status=failed", "/?status=failed"),
                        ("runs table, input name text search", "/?q=mask"),
                        ("/api/runs (live status JSON)", "/api/runs")):
        t, size, count = asyncio.run(timed(path))
        rows.append((label, f"{t * 1000:.0f} ms", count if path != "/api/runs" else "-", f"{size / 1024:.0f} KiB",
                     "OK" if t < 0.5 else "SLOW"))
    a = time.perf_counter()
    got = query(catalogue=cat, limit=n)
    rows.append((f"bare runs.query of {n} runs (baseline)", f"{(time.perf_counter() - a) * 1000:.0f} ms", len(got),
                 "-", "-"))
    cat.close()
    return rows


SERVER = """
import sys, uvicorn
from panosc_cwl.web import create_app
uvicorn.run(create_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def bench_nexus(tmp: Path, size_mib: int) -> list[tuple]:
    import h5py
    import numpy as np

    from panosc_cwl.catalogue import open_catalogue
    from panosc_cwl.catalogue.records import write_run

    out = tmp / "out"
    out.mkdir()
    nxs = out / "big.nxs"
    frame = (1024, 1024)
    n_frames = max(1, size_mib * 2**20 // (4 * frame[0] * frame[1]))
    rng = np.random.default_rng(0)
    block = rng.random((16, *frame), dtype=np.float32)
    with h5py.File(nxs, "w") as f:
        f.attrs["default"] = "entry"
        e = f.create_group("entry")
        e.attrs.update(NX_class="NXentry", default="data")
        d = e.create_group("data")
        d.attrs.update(NX_class="NXdata", signal="frames")
        ds = d.create_dataset("frames", shape=(n_frames, *frame), dtype="f4", chunks=(1, *frame))
        for i in range(0, n_frames, 16):
            k = min(16, n_frames - i)
            ds[i:i + k] = block[:k]
    size = nxs.stat().st_size
    url = f"sqlite:///{tmp / 'nexus.sqlite'}"
    cat = open_catalogue(url)
    rec = make_record(0, time.time() - 100, status="success")
    rec.update(id="big-nexus", outdir=str(out), provenance=None, log=None,
               outputs=[{"name": "big", "path": str(nxs), "sha1": None, "size": size}])
    with cat.session() as s:
        write_run(s, rec)
    cat.close()
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/h5grove/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        urllib.request.urlopen(base + "/", timeout=30).read()  # templates and routes warmed up
        before = _rss_mib(proc.pid)
        f = "file=big-nexus/out/big.nxs"
        a = time.perf_counter()
        for path in ("/", "/entry", "/entry/data"):
            urllib.request.urlopen(f"{base}/h5grove/meta/?{f}&path={path}", timeout=60).read()
            urllib.request.urlopen(f"{base}/h5grove/attr/?{f}&path={path}", timeout=60).read()
        body = urllib.request.urlopen(f"{base}/h5grove/data/?{f}&path=/entry/data/frames&selection=0&format=bin"
                                      "&dtype=safe", timeout=120).read()
        urllib.request.urlopen(f"{base}/h5grove/stats/?{f}&path=/entry/data/frames&selection=0", timeout=120).read()
        took = time.perf_counter() - a
        after = _rss_mib(proc.pid)
        peak = max(after, _rss_mib(proc.pid))
    finally:
        proc.terminate()
        proc.wait(10)
    assert len(body) == 4 * frame[0] * frame[1]
    growth = after - before
    return [(f"open {size / 2**20:.0f} MiB NeXus ({n_frames} frames of 1024x1024 float32) as H5Web does",
             f"{took * 1000:.0f} ms", f"RSS {before:.0f} -> {peak:.0f} MiB", f"+{growth:.0f} MiB",
             "OK" if growth < 100 else "TOO MUCH")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--size-mib", type=int, default=1024)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="panosc-web-bench-") as d:
        tmp = Path(d)
        print(f"{'what':58s} {'server time':>12s} {'rows':>6s} {'page':>9s}  goal")
        for row in bench_table(tmp, args.runs):
            print(f"{row[0]:58s} {row[1]:>12s} {row[2]!s:>6s} {row[3]:>9s}  {row[4]}")
        print()
        for row in bench_nexus(tmp, args.size_mib):
            print(f"{row[0]}: {row[1]}, {row[2]}, growth {row[3]}  {row[4]}")


if __name__ == "__main__":
    try:
        import fastapi  # noqa: F401
        import h5grove  # noqa: F401
    except ImportError:
        sys.exit("benchmarks/web.py: run it with the web page's python, .venv-web/bin/python "
                 "(made by bash .ci/install-web)")
    os.environ.setdefault("PANOSC_CWL_RUNS", tempfile.mkdtemp(prefix="panosc-web-bench-runs-"))
    main()
