"""The read-only web page over the run catalogue (``panosc-cwl serve``): FastAPI with server-rendered
Jinja2 pages; NeXus outputs through h5grove for H5Web.

Nothing here changes anything: only GET and HEAD are answered (405 otherwise), and files come only
from a recorded run's output folder or provenance bundle (:mod:`.files`), streamed.
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
import zipfile
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.background import BackgroundTask

from ..catalogue import Catalogue, open_catalogue
from ..exceptions import InputError
from ..runs import STATUSES, RecordedRun, get
from . import H5WEB, H5WEB_BUILD_HINT
from .files import relative_to_root, run_roots, safe_file

HERE = Path(__file__).parent
LOG_TAIL_BYTES = 16_384
MAX_EXTRA_FILES = 24  # plots and reports in the outdir that are not outputs, shown inline
NEXUS_SUFFIXES = (".nxs", ".h5", ".hdf5", ".nx5")


class ReadOnly:
    """405 for every method that could change something; HEAD answered as GET without the body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            resp = PlainTextResponse("read-only: only GET and HEAD", status_code=405, headers={"Allow": "GET, HEAD"})
            return await resp(scope, receive, send)
        path = scope["path"]
        if path.startswith("/h5grove/") and path.endswith("/") and path != "/h5grove/":
            scope = {**scope, "path": path.rstrip("/")}  # H5Web asks for /meta/, h5grove routes /meta
        if method == "GET":
            return await self.app(scope, receive, send)

        async def no_body(message):
            if message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)
        await self.app({**scope, "method": "GET"}, receive, no_body)


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None:
        return None
    return ((b or datetime.now(UTC)) - a).total_seconds()


def _fmt_time(t: datetime | None) -> str:
    return t.astimezone().isoformat(" ", "seconds")[:19] if t else "-"


def _fmt_duration(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _fmt_size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def log_tail(path: str | None, max_bytes: int = LOG_TAIL_BYTES) -> str:
    """The end of the runner log (read from the end, never the whole file)."""
    if not path or not Path(path).is_file():
        return ""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        data = f.read()
    text = data.decode("utf-8", "replace")
    return text if size <= max_bytes else "…" + text[text.find("\n") + 1:]


DEFAULT_ROWS = 1000


def rows_html(rows: list[dict[str, Any]]) -> Markup:
    """The table body, escaped here in one pass: a template loop over 10 000 rows is the page's main cost."""
    e = html.escape
    return Markup("".join(
        f'<tr data-run="{e(r["id"])}"><td><a href="/runs/{quote(r["id"])}">{e(r["id"])}</a></td>'
        f'<td><span class="status status-{e(r["status"])}">{e(r["status"])}</span></td><td>{e(r["workflow"])}</td>'
        f'<td>{e(r["user"])}</td><td>{r["started"]}</td><td class="duration">{r["duration_text"]}</td></tr>\n'
        for r in rows))


def table_rows(cat: Catalogue, workflow: str | None = None, status: str | None = None, since: str | None = None,
               text: str | None = None, limit: int | None = DEFAULT_ROWS) -> list[dict[str, Any]]:
    """The runs table's rows, newest first: only the columns the table shows, in one SQL query (the
    full records of :func:`panosc_cwl.runs.query` cost ~1 ms a run; a page of 10 000 must not).
    Filters as ``runs.query``; ``text``: part of an input's name or path."""
    from sqlalchemy import or_, select

    from ..catalogue.models import InputRecord, RunRecord
    from ..runs import parse_since, workflow_clause

    q = select(RunRecord.id, RunRecord.status, RunRecord.workflow_path, RunRecord.user, RunRecord.submitted,
               RunRecord.started, RunRecord.ended)
    if workflow:
        q = q.where(workflow_clause(workflow))
    lost = cat.lost_runs()  # unfinished runs whose process is gone: shown 'lost', the catalogue unchanged
    if status:
        if status not in STATUSES:
            raise InputError(f"unknown status '{status}'; choose {', '.join(STATUSES)}", field="status")
        if status == "lost":
            q = q.where(or_(RunRecord.status == status, RunRecord.id.in_(list(lost))))
        else:
            q = q.where(RunRecord.status == status, RunRecord.id.not_in(list(lost)))
    if since:
        q = q.where(RunRecord.submitted >= parse_since(since).replace(tzinfo=None))
    if text:
        q = q.where(RunRecord.inputs.any(or_(InputRecord.name.contains(text, autoescape=True),
                                             InputRecord.path.contains(text, autoescape=True))))
    q = q.order_by(RunRecord.submitted.desc(), RunRecord.id.desc())
    if limit:
        q = q.limit(limit)

    def utc(t: datetime | None) -> datetime | None:
        return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t

    with cat.session() as s:
        rows = s.execute(q).all()
    now = datetime.now(UTC).replace(tzinfo=None)
    out = []
    for r in rows:  # the cells as text here (10 000 rows through Jinja filters cost twice as much)
        started = r.started or r.submitted
        duration = None if r.started is None else ((r.ended or now) - r.started).total_seconds()
        out.append({"id": r.id, "status": "lost" if r.id in lost else r.status, "workflow": r.workflow_path.rsplit("/", 1)[-1],
                    "user": r.user or "-", "started": _fmt_time(utc(started)), "duration": duration,
                    "duration_text": _fmt_duration(duration)})
    return out


@lru_cache(maxsize=64)
def workflow_graph(path: str, sha1: str | None) -> dict[str, Any] | None:
    """Steps and the data between them, from cwl-utils' loaded workflow (None: not a readable workflow)."""
    try:
        from cwl_utils.parser import load_document_by_uri

        wf = load_document_by_uri(Path(path))
    except Exception:  # noqa: BLE001 - the page shows "no graph", the rest works
        return None
    if getattr(wf, "class_", None) != "Workflow":
        return None

    top = (wf.id or "").split("#")[-1]

    def rel(ident: str) -> str:  # the fragment below the workflow's own id: "integrate/integrated", "frames"
        frag = ident.split("#")[-1]
        return frag[len(top) + 1:] if top and frag.startswith(top + "/") else frag

    def short(ident: str) -> str:
        return rel(ident).split("/")[-1]

    def owner(src: str) -> str:
        r = rel(src)
        return r.split("/")[0] if "/" in r else "inputs"

    steps = [short(s.id) for s in wf.steps]
    edges = []
    for s in wf.steps:
        for inp in s.in_ or []:
            srcs = inp.source if isinstance(inp.source, list) else [inp.source] if inp.source else []
            for src in srcs:
                edges.append((owner(src), short(s.id), short(src)))
    for o in wf.outputs or []:
        srcs = o.outputSource if isinstance(o.outputSource, list) else [o.outputSource] if o.outputSource else []
        for src in srcs:
            edges.append((owner(src), "outputs", short(src)))
    # layers: longest path from the inputs
    nodes = ["inputs", *steps, "outputs"]
    layer = {n: 0 for n in nodes}
    for _ in nodes:
        for a, b, _label in edges:
            if a in layer and b in layer and layer[b] < layer[a] + 1:
                layer[b] = layer[a] + 1
    by_layer: dict[int, list[str]] = {}
    for n in nodes:
        by_layer.setdefault(layer[n], []).append(n)
    w, h, gx, gy = 150, 34, 70, 24
    pos = {}
    for lx, names in sorted(by_layer.items()):
        for i, n in enumerate(names):
            pos[n] = (20 + lx * (w + gx), 20 + i * (h + gy))
    width = 40 + (max(by_layer) + 1) * (w + gx)
    height = 40 + max(len(v) for v in by_layer.values()) * (h + gy)
    seen = set()
    lines = []
    for a, b, label in edges:
        if (a, b) in seen or a not in pos or b not in pos:
            continue
        seen.add((a, b))
        labels = sorted({lab for x, y, lab in edges if (x, y) == (a, b)})
        (x1, y1), (x2, y2) = pos[a], pos[b]
        lines.append({"x1": x1 + w, "y1": y1 + h / 2, "x2": x2, "y2": y2 + h / 2, "label": ", ".join(labels)})
    return {"nodes": [{"name": n, "x": pos[n][0], "y": pos[n][1], "io": n in ("inputs", "outputs")} for n in nodes],
            "edges": lines, "w": w, "h": h, "width": width, "height": height}


def _file_entry(run: RecordedRun, item: dict) -> dict:
    where = relative_to_root(run, item["path"]) if item.get("path") else None
    url = f"/runs/{run.id}/files/{where[0]}/{where[1]}" if where else None
    suffix = Path(item.get("path") or "").suffix.lower()
    return {**item, "url": url, "size_text": _fmt_size(item.get("size")), "kind": (
        "png" if suffix in (".png", ".jpg", ".jpeg", ".svg") else
        "html" if suffix in (".html", ".htm") else
        "nexus" if suffix in NEXUS_SUFFIXES else "other"),
        "h5web": f"/runs/{run.id}/h5web?file={run.id}/{where[0]}/{where[1]}" if where and suffix in NEXUS_SUFFIXES else None}


def _provenance(run: RecordedRun) -> dict | None:
    if not run.provenance or not Path(run.provenance).is_dir():
        return None
    from .. import provenance as pv

    out: dict[str, Any] = {"path": run.provenance}
    try:
        rep = pv.verify_bundle(run.provenance)
        out.update(ok=rep.ok, files_checked=rep.files_checked, problems=rep.problems[:20])
    except Exception as exc:  # noqa: BLE001 - a broken bundle is a result to show
        out.update(ok=False, files_checked=0, problems=[str(exc)])
    try:
        out["summary"] = pv.summary_lines(pv.load_run(run.provenance))
    except Exception as exc:  # noqa: BLE001
        out["summary"] = [f"summary unavailable: {exc}"]
    return out


def create_app(catalogue: Catalogue | str | os.PathLike | None = None) -> FastAPI:
    """The web application over ``catalogue`` (default ``$PANOSC_CWL_CATALOGUE`` or the user's)."""
    cat = catalogue if isinstance(catalogue, Catalogue) else open_catalogue(catalogue)
    app = FastAPI(title="panosc-cwl runs", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(ReadOnly)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(time=_fmt_time, duration=_fmt_duration, size=_fmt_size)
    templates.env.globals["basename"] = lambda p: Path(p or "").name

    def run_or_404(run_id: str) -> RecordedRun:
        try:
            return get(run_id, catalogue=cat, mark_lost=False)  # shown 'lost', not written: a read-only page
        except InputError:
            raise HTTPException(404, "no such run") from None

    def rows_for(request: Request) -> tuple[list[dict], dict, str | None, int | None]:
        p = request.query_params
        filters = {k: (p.get(k) or "").strip() for k in ("workflow", "status", "since", "q")}
        try:
            limit = int(p.get("limit") or DEFAULT_ROWS)
            rows = table_rows(cat, filters["workflow"] or None, filters["status"] or None, filters["since"] or None,
                              filters["q"] or None, limit=limit)
            return rows, filters, None, limit
        except InputError as exc:
            return [], filters, exc.one_line(), None
        except ValueError:
            return [], filters, f"limit: '{p.get('limit')}' is not a number", None

    @app.get("/", response_class=HTMLResponse)
    def runs_page(request: Request):
        rows, filters, error, limit = rows_for(request)
        live = any(r["status"] in ("queued", "running") for r in rows)
        more = None
        if limit and len(rows) == limit:
            more = str(request.url.include_query_params(limit=limit * 10))
        return templates.TemplateResponse(request, "runs.html", {
            "rows": rows, "rows_html": rows_html(rows), "filters": filters, "statuses": STATUSES, "error": error, "live": live, "more": more})

    @app.get("/api/runs")
    def runs_json(request: Request):
        rows, _filters, error, _limit = rows_for(request)
        if error:
            return JSONResponse({"error": error}, status_code=400)
        return [{"id": r["id"], "status": r["status"], "duration": r["duration_text"]} for r in rows]

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(request: Request, run_id: str):
        run = run_or_404(run_id)
        t_min = min((s["start"] for s in run.steps if s["start"]), default=run.started)
        t_max = max((s["end"] or datetime.now(UTC) for s in run.steps if s["start"]), default=run.ended)
        span = max((t_max - t_min).total_seconds(), 1e-3) if t_min and t_max else 1.0
        steps = []
        for s in run.steps:
            off = (s["start"] - t_min).total_seconds() if s["start"] and t_min else 0.0
            dur = _seconds(s["start"], s["end"]) if s["start"] else 0.0
            steps.append({**s, "duration": dur, "x": 100 * off / span, "w": max(100 * (dur or 0) / span, 0.5)})
        outputs = [_file_entry(run, o) for o in run.outputs]
        extra = []  # reports and plots in the outdir that are not workflow outputs themselves
        root = run_roots(run).get("out")
        if root and root.is_dir():
            listed = {Path(o["path"]).resolve() for o in run.outputs if o.get("path")}
            for p in sorted(root.rglob("*.*")):
                if len(extra) >= MAX_EXTRA_FILES:
                    break
                if p.suffix.lower() in (".png", ".html") and p.is_file() and p.resolve() not in listed \
                        and "provenance" not in p.relative_to(root).parts[:1]:
                    extra.append(_file_entry(run, {"name": p.name, "path": str(p), "sha1": None, "size": p.stat().st_size}))
        return templates.TemplateResponse(request, "run.html", {
            "run": run, "steps": steps, "outputs": outputs, "extra": extra,
            "inputs": [_file_entry(run, i) for i in run.inputs], "log": log_tail(run.log),
            "prov": _provenance(run), "graph": workflow_graph(run.workflow_path, run.workflow_sha1),
            "duration": _seconds(run.started, run.ended) if run.started else None,
            "live": run.status in ("queued", "running")})

    @app.get("/api/runs/{run_id}")
    def run_json(run_id: str):
        return run_or_404(run_id).to_json()

    @app.get("/runs/{run_id}/files/{root}/{rel:path}")
    def run_file(run_id: str, root: str, rel: str):
        run = run_or_404(run_id)
        base = run_roots(run).get(root)
        path = safe_file(base, rel) if base else None
        if path is None:
            raise HTTPException(404, "not found")
        media = "text/plain; charset=utf-8" if path.suffix.lower() in (".log", ".txt", ".cwl", ".yml", ".json") else None
        return FileResponse(path, media_type=media)  # streamed in chunks, never read whole

    def _zip_response(folder: Path, name: str, cleanup: Path | None = None) -> FileResponse:
        tmp = tempfile.NamedTemporaryFile(prefix="panosc-web-", suffix=".zip", delete=False)
        tmp.close()
        with zipfile.ZipFile(tmp.name, "w", zipfile.ZIP_DEFLATED) as z:
            base = folder.resolve()
            for p in sorted(base.rglob("*")):
                if p.is_file() and not p.is_symlink():
                    z.write(p, f"{name}/{p.relative_to(base).as_posix()}")

        def done():
            os.unlink(tmp.name)
            if cleanup:
                shutil.rmtree(cleanup, ignore_errors=True)
        return FileResponse(tmp.name, media_type="application/zip", filename=f"{name}.zip", background=BackgroundTask(done))

    @app.get("/runs/{run_id}/bundle.zip")
    def bundle_zip(run_id: str):
        run = run_or_404(run_id)
        if not run.provenance or not Path(run.provenance).is_dir():
            raise HTTPException(404, "this run has no provenance bundle")
        return _zip_response(Path(run.provenance), f"{run.id}-provenance")

    @app.get("/runs/{run_id}/rocrate.zip")
    def rocrate_zip(run_id: str):
        run = run_or_404(run_id)
        if not run.provenance or not Path(run.provenance).is_dir():
            raise HTTPException(404, "this run has no provenance bundle")
        from ..provenance.rocrate import to_rocrate

        scratch = Path(tempfile.mkdtemp(prefix="panosc-web-crate-"))
        out = to_rocrate(run.provenance, scratch / "run.crate.zip")
        return FileResponse(out, media_type="application/zip", filename=f"{run.id}-run-crate.zip",
                            background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True))

    # ------------------------------------------------------------------ HDF5 through h5grove / H5Web
    from h5grove import fastapi_utils as h5g

    def h5_file(file: str = "") -> str:
        """h5grove's ``file`` parameter is RUN_ID/ROOT/REL, checked like every other file."""
        run_id, _, rest = file.partition("/")
        root, _, rel = rest.partition("/")
        run = run_or_404(run_id) if run_id else None
        base = run_roots(run).get(root) if run else None
        path = safe_file(base, rel) if base else None
        if path is None:
            raise HTTPException(404, "not found")
        return str(path)

    app.dependency_overrides[h5g.add_base_path] = h5_file
    app.include_router(h5g.router, prefix="/h5grove")

    @app.get("/runs/{run_id}/h5web", response_class=HTMLResponse)
    def h5web_page(request: Request, run_id: str, file: str = ""):
        run = run_or_404(run_id)
        h5_file(file)  # 404 unless the file is one this run may serve
        index = H5WEB / "index.html"
        if index.is_file():
            return HTMLResponse(index.read_text())
        return templates.TemplateResponse(request, "h5web_missing.html", {"run": run, "file": file,
                                                                            "hint": H5WEB_BUILD_HINT})

    if H5WEB.is_dir():
        app.mount("/static/h5web", StaticFiles(directory=H5WEB), name="h5web")

    @app.exception_handler(404)
    async def not_found(request: Request, exc):
        return PlainTextResponse("not found", status_code=404)

    app.state.catalogue = cat
    return app
