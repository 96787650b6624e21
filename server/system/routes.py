"""Operations and the installable shell: health check, manifest, service worker, offline page."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from litestar import Request, Response, Router, get
from litestar.handlers import asgi
from litestar.response import Redirect
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from server import assets
from server.accounts.tables import User
from server.settings import ROOT
from server.web import page

WEB = ROOT / "web"
MANIFEST = ROOT / "manifest"
OFFLINE_TEMPLATE = Path(__file__).resolve().parent / "templates" / "system" / "offline.html"


@lru_cache(maxsize=1)
def shell_version() -> str:
    """A hash of everything the service worker precaches: a changed asset makes a new worker."""
    digest = hashlib.sha256()
    files = sorted([*(WEB / "static").rglob("*"), *MANIFEST.rglob("*"), OFFLINE_TEMPLATE, WEB / "templates" / "base.html"])
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@get("/healthz", exclude_from_auth=True)
async def healthz() -> Response:
    try:
        await User.raw("SELECT 1")
        return Response({"status": "ok", "database": "ok"}, status_code=200)
    except Exception as exc:  # noqa: BLE001 - the health check reports any database failure
        return Response({"status": "error", "database": type(exc).__name__}, status_code=503)


@get("/manifest.webmanifest")
async def manifest() -> Response:
    return Response(
        (MANIFEST / "manifest.webmanifest").read_bytes(),
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@get("/sw.js")
async def service_worker(request: Request) -> Response:
    body = (WEB / "sw.js").read_text().replace("__FIELDPACE_VERSION__", shell_version())
    timeout = max(0, int(request.app.state.settings.page_timeout_ms))
    body = body.replace("__FIELDPACE_PAGE_TIMEOUT_MS__", str(timeout))
    # The precache list and the worker's static lookups use the content-hashed names (server/assets.py).
    body = body.replace("__FIELDPACE_STATIC_URLS__", json.dumps(assets.catalog().urls(), sort_keys=True))
    return Response(
        body,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@get("/offline")
async def offline(request: Request) -> object:
    """The page the service worker shows for a page it does not hold. Rendered for nobody (it is
    precached and shown to whoever is signed in on the phone later): no name, no user header."""
    state = request.scope.get("state", {})
    state.pop("actor", None)
    state.pop("unread", None)
    return page("system/offline.html")


@get("/favicon.ico")
async def favicon() -> Redirect:
    return Redirect("/icons/favicon-32.png", status_code=301)


@asgi("/static", is_static=True, copy_scope=True)
async def static_files(scope: Scope, receive: Receive, send: Send) -> None:
    """web/static, from memory: the hashed name immutable for a year, any other name revalidated by ETag;
    brotli or gzip as the client accepts, compressed once at start-up (server/assets.py)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    method = str(scope.get("method", "GET"))
    found = assets.catalog().find(scope["path"].lstrip("/")) if method in {"GET", "HEAD"} else None
    if found is None:
        status = 404 if method in {"GET", "HEAD"} else 405
        await _send(send, status, [(b"content-type", b"text/plain; charset=utf-8")], b"Not found" if status == 404 else b"")
        return
    asset, immutable = found
    encoding = assets.choose_encoding(asset, headers.get("accept-encoding", ""))
    body = asset.bodies[encoding]
    response_headers = [
        (b"content-type", asset.content_type.encode()),
        (b"cache-control", (assets.IMMUTABLE if immutable else assets.REVALIDATE).encode()),
        (b"etag", asset.etag(encoding).encode()),
        (b"vary", b"Accept-Encoding"),
    ]
    if encoding != "identity":
        response_headers.append((b"content-encoding", encoding.encode()))
    asked = {tag.strip().removeprefix("W/") for tag in headers.get("if-none-match", "").split(",")}
    if asked & asset.etags() or "*" in asked:
        await _send(send, 304, response_headers, b"")
        return
    response_headers.append((b"content-length", str(len(body)).encode()))
    await _send(send, 200, response_headers, b"" if method == "HEAD" else body)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


router = Router(path="/", route_handlers=[healthz, manifest, service_worker, offline, favicon, static_files])
