"""``panosc-cwl serve``: the read-only web page over a catalogue holding real runs (a powder run, a
detector calibration, one failed run), started with uvicorn on a free port and driven by Debian's
headless chromium through playwright's Python package (no browser download). The server is started
as a user would: ``.venv/bin/panosc-cwl serve``, which re-runs itself in the web page's own
environment (.venv-web, made by .ci/install-web: h5grove's orjson must stay out of .venv).

* the runs table lists the runs; the workflow/status/text filters work;
* a run page shows its step timeline and the pattern PNG; the failed run shows its error;
* the H5Web view of integrated.nxs draws a plot (a non-empty canvas) when the front end is built;
* path traversal in at least 10 forms gets 404 and a secret planted next to the outputs never leaks;
* nothing can be changed: POST/PUT/DELETE get 405;
* screenshots of every page land in the test's folder (and in $PANOSC_TEST_ARTEFACTS if set).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

import panosc_cwl
from panosc_cwl.api import RunFailed
from panosc_cwl.simulate import PowderSimulation, simulate_powder

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POWDER = ROOT / "cwl/workflows/powder-xrd.cwl"
CALIB = ROOT / "cwl/workflows/detector-calibration-simulated.cwl"
TOOL1D = ROOT / "cwl/tools/pyfai-integrate1d.cwl"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SECRET = "top-secret-do-not-serve"


def _web_python():
    from panosc_cwl.cli.serve import web_python

    return web_python()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A catalogue with three real runs and a server on it: (base URL, runs by name, folder)."""
    if _web_python() is None:
        pytest.skip("the web page's environment .venv-web is not installed (bash .ci/install-web installs it)")
    tmp = tmp_path_factory.mktemp("web")
    mp = pytest.MonkeyPatch()
    mp.setenv("PANOSC_CWL_RUNS", str(tmp / "runs"))
    mp.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    cat = f"sqlite:///{tmp / 'catalogue.sqlite'}"
    small = simulate_powder(tmp / "data", PowderSimulation(calibrant="CeO2", detector="Pilatus100k", n_frames=4, seed=3),
                            edf_frames=0, tiff_frames=0)
    runs = {}
    powder = panosc_cwl.submit(POWDER, {"frames": [small.stack], "dataset": small.dataset, "poni": str(small.poni),
                                        "npt": 400, "calibrant": "CeO2"}, outdir=tmp / "out-powder", catalogue=cat)
    calib = panosc_cwl.submit(CALIB, {"modules": 2, "module_shape": [32, 32], "n_darks": 10},
                              outdir=tmp / "out-calib", catalogue=cat, provenance=False)
    failing = panosc_cwl.submit(TOOL1D, {"frames": [small.stack], "dataset": "/no/such/data", "poni": str(small.poni)},
                                outdir=tmp / "out-fail", preflight=False, provenance=False, catalogue=cat)
    runs["powder"] = powder.wait(timeout=600)
    runs["calib"] = calib.wait(timeout=600)
    with pytest.raises(RunFailed):
        failing.wait(timeout=300)
    runs["failed"] = failing
    # a secret next to the outputs, and a symlink inside the outputs pointing at it
    (tmp / "secret.txt").write_text(SECRET)
    (tmp / "out-powder" / "escape.txt").symlink_to(tmp / "secret.txt")

    port = _free_port()
    # from .venv, as in the README: serve hands itself over to .venv-web's python
    log = tmp / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([str(BIN / "panosc-cwl"), "serve", "--catalogue", cat, "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if server.poll() is not None:
            pytest.fail(f"panosc-cwl serve exited: {log.read_text()}")
        try:
            if _get(base + "/")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        pytest.fail("panosc-cwl serve did not answer within 30 s")
    yield base, runs, tmp
    server.terminate()
    server.wait(10)
    mp.undo()


def _get(url: str, method: str = "GET") -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _raw_get(base: str, raw_path: str) -> tuple[int, bytes]:
    """GET with the path sent exactly as written (no client-side normalisation of ../ or %2e)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(f"GET {raw_path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _artefact(path: Path) -> None:
    dest = os.environ.get("PANOSC_TEST_ARTEFACTS")
    if dest:
        Path(dest).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(dest) / path.name)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/install-chromium installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    p = ctx.new_page()
    yield p
    ctx.close()


def _shot(page, tmp: Path, name: str) -> Path:
    path = tmp / "screenshots" / f"web-{name}.png"
    path.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000
    _artefact(path)
    return path


# ------------------------------------------------------------------ the pages in a real browser

def test_runs_table_lists_and_filters(site, page):
    base, runs, tmp = site
    page.goto(base + "/")
    rows = page.locator("#runs tbody tr[data-run]")
    assert rows.count() == 3
    statuses = {r.get_attribute("data-run"): r.locator(".status").inner_text() for r in rows.all()}
    assert statuses == {runs["powder"].id: "success", runs["calib"].id: "success", runs["failed"].id: "failed"}
    assert "powder-xrd.cwl" in page.locator("#runs").inner_text()
    _shot(page, tmp, "runs")
    # filters are query parameters, set through the form
    page.select_option("select[name=status]", "failed")
    page.click("button[type=submit]")
    page.wait_for_url("**status=failed**")
    assert [r.get_attribute("data-run") for r in page.locator("#runs tbody tr[data-run]").all()] == [runs["failed"].id]
    page.goto(base + "/?workflow=detector-calibration")
    assert [r.get_attribute("data-run") for r in page.locator("#runs tbody tr[data-run]").all()] == [runs["calib"].id]
    page.goto(base + "/?q=poni")  # text search on input names: the calibration run has no poni file
    assert {r.get_attribute("data-run") for r in page.locator("#runs tbody tr[data-run]").all()} == {
        runs["powder"].id, runs["failed"].id}
    page.goto(base + "/?since=2000-01-01")
    assert page.locator("#runs tbody tr[data-run]").count() == 3
    page.goto(base + "/?since=2999-01-01")
    assert page.locator("#runs tbody tr[data-run]").count() == 0
    page.goto(base + "/?since=yesterday-ish")
    assert "not a date" in page.locator("#filter-error").inner_text()


def test_run_page_timeline_plot_provenance(site, page):
    base, runs, tmp = site
    run = runs["powder"]
    page.goto(f"{base}/runs/{run.id}")
    steps = page.locator("#steps tbody tr")
    names = {r.locator("td").first.inner_text() for r in steps.all()}
    assert {"integrate", "reduce", "plot_pattern"} <= names, names
    bars = page.locator("#steps rect.bar")
    assert bars.count() == steps.count() and all(float(b.get_attribute("width")) > 0 for b in bars.all())
    # the pattern PNG is shown and decoded by the browser (a real image, not a broken link)
    img = page.locator("img.plot").first
    img.wait_for()
    assert page.evaluate("(i) => i.complete && i.naturalWidth", img.element_handle()) > 100
    # outputs carry checksums and sizes; integrated.nxs links to H5Web
    outputs = page.locator("#outputs").inner_text()
    assert "integrated.nxs" in outputs and any(len(w) == 40 for w in outputs.split())
    # provenance verified; the workflow drawn as a graph with its steps
    assert "OK" in page.locator("#verify").inner_text()
    graph = page.locator("#graph").text_content()
    assert "integrate" in graph and "plot_pattern" in graph
    assert page.locator("#graph line").count() >= 4  # the data between the steps
    assert page.locator("#log").inner_text().strip()
    _shot(page, tmp, "run-powder")

    page.goto(f"{base}/runs/{runs['failed'].id}")
    assert "/no/such/data" in page.locator("#run-error").inner_text()
    assert page.locator("#steps .status-failed").count() >= 1
    _shot(page, tmp, "run-failed")
    page.goto(f"{base}/runs/{runs['calib'].id}")
    assert page.locator("#steps tbody tr").count() >= 2
    _shot(page, tmp, "run-calibration")


def test_h5web_draws_the_default_plot(site, page):
    base, runs, tmp = site
    from panosc_cwl.web import h5web_built

    run = runs["powder"]
    page.goto(f"{base}/runs/{run.id}")
    href = page.locator("a.h5web").first.get_attribute("href")
    assert "integrated.nxs" in href
    page.goto(base + href)
    if not h5web_built():
        assert "install-h5web" in page.locator("#h5web-missing").inner_text()
        pytest.skip("H5Web front end not built (.ci/install-h5web)")
    # H5Web follows the NeXus default attributes: a plot with no clicks
    page.wait_for_selector("canvas", timeout=60_000)
    page.wait_for_timeout(1500)
    canvas = page.locator("canvas").first
    box = canvas.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 100
    shot = _shot(page, tmp, "h5web")
    import numpy as np
    from PIL import Image

    pix = np.asarray(Image.open(shot).convert("L"))
    crop = pix[int(box["y"]):int(box["y"] + box["height"]), int(box["x"]):int(box["x"] + box["width"])]
    assert crop.std() > 5  # not a blank canvas: the curve and axes are drawn


# ------------------------------------------------------------------ safety

def test_downloads_bundle_and_crate(site):
    base, runs, _tmp = site
    run = runs["powder"]
    code, body = _get(f"{base}/runs/{run.id}/bundle.zip")
    assert code == 200
    names = zipfile.ZipFile(BytesIO(body)).namelist()
    assert any(n.endswith("bagit.txt") for n in names)
    code, body = _get(f"{base}/runs/{run.id}/rocrate.zip")
    assert code == 200 and "ro-crate-metadata.json" in zipfile.ZipFile(BytesIO(body)).namelist()


def test_path_traversal_gets_404(site):
    base, runs, tmp = site
    rid = runs["powder"].id
    ok_code, ok = _get(f"{base}/runs/{rid}/files/out/integrated.nxs")
    assert ok_code == 200 and ok[:8] == b"\x89HDF\r\n\x1a\n"
    attempts = [
        f"/runs/{rid}/files/out/../secret.txt",
        f"/runs/{rid}/files/out/%2e%2e/secret.txt",
        f"/runs/{rid}/files/out/%2E%2E%2Fsecret.txt",
        f"/runs/{rid}/files/out/..%2fsecret.txt",
        f"/runs/{rid}/files/out/%252e%252e/secret.txt",
        f"/runs/{rid}/files/out/%252e%252e%252fsecret.txt",
        f"/runs/{rid}/files/out/{tmp}/secret.txt",
        f"/runs/{rid}/files/out//{tmp}/secret.txt",
        f"/runs/{rid}/files/out/%2F{str(tmp).lstrip('/')}/secret.txt",
        f"/runs/{rid}/files/out/escape.txt",  # a symlink pointing out
        f"/runs/{rid}/files/out/integrated.nxs%00.png",
        f"/runs/{rid}/files/out/..\\secret.txt",
        f"/runs/{rid}/files/out/./../secret.txt",
        f"/runs/{rid}/files/etc/passwd",
        f"/runs/{rid}/files/prov/../../secret.txt",
        "/runs/..%2f..%2fsecret.txt/files/out/x",
        f"/h5grove/meta?file={rid}/out/../secret.txt&path=/",
        f"/h5grove/meta?file={rid}/out/%2e%2e/secret.txt&path=/",
        f"/h5grove/meta?file={tmp}/secret.txt&path=/",
        f"/h5grove/data?file=/etc/passwd&path=/",
        f"/runs/{rid}/h5web?file={rid}/out/escape.txt",
    ]
    for path in attempts:
        code, body = _raw_get(base, path)
        assert code in (404, 400), (path, code)  # 400: the HTTP server itself refused the request line
        assert SECRET.encode() not in body and b"root:" not in body, path
    assert sum(_raw_get(base, p)[0] == 404 for p in attempts) >= 10


def test_nothing_can_be_changed(site):
    base, runs, _tmp = site
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert _get(f"{base}/runs/{runs['powder'].id}", method)[0] == 405
    assert _get(f"{base}/", "HEAD")[0] == 200


def test_a_lost_run_is_shown_lost_and_the_catalogue_left_as_it_was(site):
    """A run whose process died reads 'lost' in the table, its filter and its page; the page only
    reads: the record still says 'running', at the same revision, with the same history."""
    from panosc_cwl.catalogue import open_catalogue
    from panosc_cwl.catalogue.models import RunRecord
    from panosc_cwl.catalogue.records import read_run

    base, runs, tmp = site
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    cat = open_catalogue(f"sqlite:///{tmp / 'catalogue.sqlite'}")
    cat.record_run({"id": "dead-run-0001", "revision": 3, "host": socket.gethostname(), "owner_pid": int(dead.stdout),
                    "owner_start": "1", "workflow_path": str(POWDER), "status": "running", "submitted": time.time(),
                    "started": time.time(), "status_changes": [{"status": "running", "at": time.time()}]})
    try:
        code, body = _get(base + "/")
        assert code == 200 and re.search(rb'data-run="dead-run-0001".*?status-lost', body, re.S), body[:2000]
        assert b"dead-run-0001" in _get(base + "/?status=lost")[1]
        assert b"dead-run-0001" not in _get(base + "/?status=running")[1]
        code, body = _get(f"{base}/runs/dead-run-0001")
        assert code == 200 and b"status-lost" in body and f"pid {int(dead.stdout)}".encode() in body
        with cat.session() as s:
            rec = read_run(s.get(RunRecord, "dead-run-0001"))
        assert (rec["status"], rec["revision"], rec["ended"]) == ("running", 3, None), rec
        assert [c["status"] for c in rec["status_changes"]] == ["running"]
    finally:
        with cat.session() as s:
            s.delete(s.get(RunRecord, "dead-run-0001"))
        cat.close()


def test_serve_binds_localhost_by_default():
    from panosc_cwl.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1"


def test_runs_in_progress_update_without_reload(site, page):
    """Last: it adds a run to the catalogue. A running run's row turns 'success' by itself."""
    import copy

    from panosc_cwl.catalogue import open_catalogue
    from panosc_cwl.catalogue.models import RunRecord
    from panosc_cwl.catalogue.records import read_run, write_run

    base, runs, tmp = site
    cat = open_catalogue(f"sqlite:///{tmp / 'catalogue.sqlite'}")
    with cat.session() as s:
        rec = copy.deepcopy(read_run(s.get(RunRecord, runs["powder"].id)))
    rec.update(id="live-run-0001", revision=1, status="running", ended=None, submitted=time.time(),
               started=time.time(), status_changes=[{"status": "running", "at": time.time()}])
    with cat.session() as s:
        write_run(s, rec)
    page.goto(base + "/")
    row = page.locator('tr[data-run="live-run-0001"] .status')
    assert row.inner_text() == "running"
    rec.update(revision=2, status="success", ended=time.time() + 1,
               status_changes=rec["status_changes"] + [{"status": "success", "at": time.time() + 1}])
    with cat.session() as s:
        write_run(s, rec)
    page.wait_for_function("() => document.querySelector('tr[data-run=\"live-run-0001\"] .status')"
                           ".textContent === 'success'", timeout=10_000)
    cat.close()


def test_serve_on_a_busy_port_is_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = subprocess.run([str(BIN / "panosc-cwl"), "serve", "--port", str(port)], capture_output=True, text=True,
                             timeout=60)
    assert res.returncode == 2
    assert res.stderr == f"panosc-cwl: error: port: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_serve_without_the_web_environment_is_one_line(tmp_path):
    """No .venv-web and no $PANOSC_CWL_WEB_PYTHON: one line saying how to install it and why."""
    env = {**os.environ, "PANOSC_CWL_WEB_PYTHON": str(tmp_path / "no-such-python")}
    res = subprocess.run([str(BIN / "panosc-cwl"), "serve", "--port", str(_free_port())], capture_output=True,
                         text=True, timeout=60, env=env)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith("panosc-cwl: error: serve: the web page's environment is not installed")
    assert "bash .ci/install-web" in res.stderr and "orjson" in res.stderr and "cwltool --provenance" in res.stderr
