"""The sync API (push the outbox, pull offline data) and the page listing what has not synced yet."""

from __future__ import annotations

from litestar import Request, Response, Router, get, post
from litestar.exceptions import ServiceUnavailableException
from litestar.params import Parameter

from server.accounts.permissions import Actor
from server.i18n import _
from server.syncing import services
from server.web import page, problem
from sync.protocol import MAX_BODY_BYTES, PROTOCOL_VERSION, SCHEMA_VERSION, ProtocolError, decode_push


@post("/api/v1/sync/push", status_code=200, request_max_body_size=MAX_BODY_BYTES + 1)
async def sync_push(request: Request, actor: Actor) -> Response:
    try:
        push = decode_push(await request.body())
    except ProtocolError as e:
        if e.code == "update_required":
            # Not an error for the queue: the client keeps every mutation and updates first.
            return Response({"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION, "status": "update_required",
                             "detail": _("A newer version of the app is needed. It is updating; nothing you logged is lost.")},
                            status_code=200)
        status = 413 if e.code == "too_large" else 400
        return problem(status, _("The sync request could not be read."), detail=e.detail)
    try:
        body = await services.push(actor, push, request.headers.get("user-agent", ""))
    except ServiceUnavailableException as e:
        # A transient database fault: nothing was applied; the device keeps its queue and retries.
        response = problem(503, str(e.detail))
        response.headers["Retry-After"] = str(services.RETRY_AFTER_SECONDS)
        return response
    return Response(body, status_code=200)


# Server sequence numbers are 64-bit signed integers on both engines: a larger cursor is a 400.
MAX_CURSOR = 2**63 - 1


@get("/api/v1/sync/pull")
async def sync_pull(actor: Actor, cursor: int = Parameter(default=0, ge=0, le=MAX_CURSOR),
                    limit: int = Parameter(default=500, ge=1, le=services.MAX_PULL)) -> Response:
    body = await services.pull(actor, max(0, cursor), limit)
    return Response(body, status_code=200)


@get("/sync")
async def outbox_page(actor: Actor) -> object:
    """The list of items waiting on this device; filled in from the device's outbox by outbox.js."""
    return page("syncing/outbox.html", actor=actor)


router = Router(path="/", route_handlers=[sync_push, sync_pull, outbox_page])
