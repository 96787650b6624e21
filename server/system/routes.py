"""Operations and the installable shell: health check, manifest, service worker, offline page."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from litestar import Request, Response, Router, get
from litestar.response import Redirect

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
async def service_worker() -> Response:
    body = (WEB / "sw.js").read_text().replace("__FIELDPACE_VERSION__", shell_version())
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


router = Router(path="/", route_handlers=[healthz, manifest, service_worker, offline, favicon])
