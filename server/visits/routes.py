"""Visit pages (log a visit, the rep's list, the team feed) and the JSON API."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException

from server import clock, geo, validation
from server.accounts.permissions import Actor, require_role
from server.customers import services as customers
from server.i18n import _
from server.visits import photos, services
from server.visits.tables import PURPOSES
from server.web import FieldErrors, flash, form_data, page, redirect


def _form(actor: Actor, values: dict, errors: dict, customer: dict | None, status_code: int = 200):
    return page(
        "visits/form.html", status_code=status_code, actor=actor, values=values, errors=errors,
        customer=customer, purposes=PURPOSES, purpose_labels=services.PURPOSE_LABELS,
    )


@get("/visits")
async def visit_list(actor: Actor) -> object:
    if not actor.is_rep:
        return redirect("/team/visits")
    return page(
        "visits/list.html", actor=actor, visits=await services.recent_for_rep(actor, limit=100),
        purpose_labels=services.PURPOSE_LABELS,
    )


@get("/visits/new")
async def visit_new(actor: Actor, customer: str = "") -> object:
    require_role(actor, "rep")
    picked = None
    if customer:
        try:
            picked = await customers.get(actor, UUID(customer))
        except ValueError:
            picked = None
    now = clock.now()
    values = {"id": str(uuid4()), "checkin_at": clock.to_local_input(now), "purpose": "follow_up",
              "rendered_ms": str(int(now.timestamp() * 1000))}
    if picked:
        values["customer"] = str(picked["id"])
    return _form(actor, values, {}, picked)


@post("/visits")
async def visit_create(request: Request, actor: Actor) -> object:
    require_role(actor, "rep")
    data = await form_data(request)
    try:
        await services.create(actor, data)
    except FieldErrors as e:
        picked = None
        try:
            picked = await customers.get(actor, UUID(data.get("customer", "")))
        except ValueError:
            pass
        return _form(actor, data, e.errors, picked, status_code=422)
    flash(request, _("Visit saved."))
    return redirect("/home", request)


@get("/visits/{visit_id:uuid}")
async def visit_detail(actor: Actor, visit_id: UUID) -> object:
    row = await services.get(actor, visit_id)
    if not row:
        raise NotFoundException()
    return page("visits/detail.html", actor=actor, visit=row, purpose_labels=services.PURPOSE_LABELS,
                radius_m=geo.radius_m())


@post("/visits/{visit_id:uuid}/use-location")
async def visit_use_location(request: Request, actor: Actor, visit_id: UUID) -> object:
    """Manager/admin: "use this check-in as the customer's location"."""
    require_role(actor, "manager", "admin")
    try:
        customer_id = await services.use_as_customer_location(actor, visit_id)
    except FieldErrors as e:
        flash(request, e.errors.get("", ""), kind="error")
        return redirect(f"/visits/{visit_id}", request)
    if customer_id is None:
        raise NotFoundException()
    flash(request, _("The customer's location is now this check-in's."))
    return redirect(f"/visits/{visit_id}", request)


@get("/team/visits")
async def team_feed(actor: Actor) -> object:
    require_role(actor, "manager", "admin")
    return page(
        "visits/feed.html", actor=actor, visits=await services.team_feed(actor, limit=100),
        purpose_labels=services.PURPOSE_LABELS,
    )


@get("/api/v1/visits")
async def api_visits(actor: Actor, day: date | None = None) -> dict:
    if day is not None and actor.is_rep:
        rows = await services.for_rep_day(actor.id, day)
    elif actor.is_rep:
        rows = await services.recent_for_rep(actor, limit=200)
    else:
        rows = await services.team_feed(actor, limit=200)
    return {"visits": rows}


@post("/api/v1/visits", status_code=200)
async def api_visit_create(actor: Actor, data: dict) -> dict:
    if not actor.is_rep:
        raise FieldErrors({"": _("Only reps log visits.")})
    vid, created = await services.create(actor, data)
    return {"id": str(vid), "result": "applied" if created else "duplicate"}


@get("/api/v1/visits/{visit_id:uuid}")
async def api_visit(actor: Actor, visit_id: UUID) -> dict:
    row = await services.get(actor, visit_id)
    if not row:
        raise NotFoundException()
    return row


async def _file_bytes(value: object) -> bytes | None:
    if isinstance(value, UploadFile):
        return await value.read()
    return None


@post("/api/v1/visits/{visit_id:uuid}/photos", status_code=200, request_max_body_size=photos.UPLOAD_LIMIT)
async def api_visit_photo(request: Request, actor: Actor, visit_id: UUID) -> dict:
    """One photo of the rep's visit, as multipart: `id` (the phone's UUID for it), `photo`, optional `thumb`.
    Idempotent: the same id again answers "duplicate". See docs/sync-protocol.md, "Photos"."""
    form = await request.form()
    errors: dict[str, str] = {}
    raw_id = form.get("id")
    photo_id = validation.uuid({"id": raw_id if isinstance(raw_id, str) else None}, "id", errors)
    if errors:
        raise FieldErrors(errors)
    photo = await _file_bytes(form.get("photo")) or b""
    thumb = await _file_bytes(form.get("thumb"))
    try:
        result = await photos.upload(actor, visit_id, photo_id, photo, thumb)
    except LookupError:
        raise NotFoundException() from None
    return {"id": str(photo_id), "result": result}


@get("/visits/{visit_id:uuid}/photos/{photo_id:uuid}")
async def visit_photo(actor: Actor, visit_id: UUID, photo_id: UUID, size: str = "") -> Response:
    found = await photos.open_photo(actor, visit_id, photo_id, thumb=size == "thumb")
    if found is None:
        raise NotFoundException()
    data, content_type = found
    # A photo never changes under its id: the browser keeps it, privately (it is someone's visit).
    return Response(content=data, media_type=content_type,
                    headers={"Cache-Control": "private, max-age=86400", "Content-Disposition": "inline"})


router = Router(
    path="/",
    route_handlers=[visit_list, visit_new, visit_create, visit_detail, visit_use_location, team_feed, api_visits,
                    api_visit_create, api_visit, api_visit_photo, visit_photo],
)
