"""Customer pages (list, search as you type, add in the field) and the JSON API."""

from __future__ import annotations

from uuid import UUID, uuid4

from litestar import Request, Response, Router, get, post
from litestar.exceptions import NotFoundException

from server import validation
from server.accounts.permissions import Actor, require_role, visible_rep_ids
from server.accounts.tables import User
from server.customers import services
from server.i18n import _
from server.visits import services as visits
from server.web import FieldErrors, flash, form_data, is_htmx, page, redirect


async def _owner_choices(actor: Actor) -> list[dict]:
    if actor.is_rep:
        return []
    rep_ids = await visible_rep_ids(actor)
    query = User.select(User.id, User.display_name).where((User.role == "rep") & (User.active == True))  # noqa: E712 - Piccolo builds SQL from ==
    if rep_ids is not None:
        if not rep_ids:
            return []
        query = query.where(User.id.is_in(rep_ids))
    return await query.order_by(User.display_name)


@get("/customers")
async def customer_list(request: Request, actor: Actor, q: str = "") -> object:
    rows = await services.search(actor, q, limit=100)
    if is_htmx(request):
        return page("customers/_results.html", customers=rows, q=q)
    return page("customers/list.html", actor=actor, customers=rows, q=q)


@get("/customers/pick")
async def customer_pick(actor: Actor, q: str = "", selected: str = "") -> object:
    """The fragment under the visit form's customer search: one radio button per match."""
    rows = await services.search(actor, q, limit=20)
    return page("customers/_pick.html", customers=rows, q=q, selected=selected)


@get("/customers/new")
async def customer_new(actor: Actor, next: str = "") -> object:
    return page(
        "customers/form.html", actor=actor, values={"id": str(uuid4())}, errors={}, next=next,
        owners=await _owner_choices(actor),
    )


@post("/customers")
async def customer_create(request: Request, actor: Actor) -> object:
    data = await form_data(request)
    nxt = data.pop("next", "")
    try:
        cid, _created = await services.create(actor, data)
    except FieldErrors as e:
        # A possible duplicate: the form again, everything typed kept, the matches and "save anyway".
        found = e.matches if isinstance(e, services.PossibleDuplicates) else []
        return page(
            "customers/form.html", status_code=422, actor=actor, values=data, errors=e.errors, next=nxt,
            owners=await _owner_choices(actor), matches=found,
        )
    flash(request, _("Customer %(name)s saved.", name=data.get("name", "")))
    if nxt == "visit":
        return redirect(f"/visits/new?customer={cid}", request)
    return redirect(f"/customers/{cid}", request)


@get("/customers/{customer_id:uuid}")
async def customer_detail(actor: Actor, customer_id: UUID) -> object:
    row = await services.get(actor, customer_id)
    if not row:
        raise NotFoundException()
    recent = await visits.for_customer(actor, customer_id)
    return page(
        "customers/detail.html", actor=actor, customer=row, visits=recent, purpose_labels=visits.PURPOSE_LABELS,
        errors={},
    )


@post("/customers/{customer_id:uuid}/location")
async def customer_location(request: Request, actor: Actor, customer_id: UUID) -> object:
    """Admin sets (or clears) the customer's location on its page (a manager confirms a visit's instead)."""
    require_role(actor, "admin")
    data = await form_data(request)
    errors: dict[str, str] = {}
    lat = validation.number(data, "latitude", errors, low=-90, high=90)
    lng = validation.number(data, "longitude", errors, low=-180, high=180)
    if not errors and (lat is None) != (lng is None):
        errors["latitude"] = _("Enter both latitude and longitude, or neither.")
    row = await services.get(actor, customer_id)
    if not row:
        raise NotFoundException()
    if errors:
        recent = await visits.for_customer(actor, customer_id)
        return page("customers/detail.html", status_code=422, actor=actor, customer=row, visits=recent,
                    purpose_labels=visits.PURPOSE_LABELS, errors=errors, location=data)
    await services.set_location(actor, customer_id, lat, lng)
    flash(request, _("Location saved."))
    return redirect(f"/customers/{customer_id}", request)


@get("/customers/near")
async def customers_near(actor: Actor) -> object:
    """The rep's customers by distance from where the phone is: computed on the phone from the customers it
    keeps offline (web/static/nearby.js), so the page works without a network."""
    require_role(actor, "rep")
    return page("customers/near.html", actor=actor)


@get("/customers/{customer_id:uuid}/merge")
async def customer_merge_form(actor: Actor, customer_id: UUID, other: str = "") -> object:
    require_role(actor, "admin")
    row = await services.get(actor, customer_id)
    if not row:
        raise NotFoundException()
    candidates = await services.matches(actor, row["name"], row["phone"], exclude=customer_id, limit=20)
    return page("customers/merge.html", actor=actor, customer=row, candidates=candidates, other=other, errors={})


@post("/customers/{customer_id:uuid}/merge")
async def customer_merge(request: Request, actor: Actor, customer_id: UUID) -> object:
    """Fold another customer into this one (`drop` = the other's id) or this one into it (`keep` = other)."""
    require_role(actor, "admin")
    data = await form_data(request)
    row = await services.get(actor, customer_id)
    if not row:
        raise NotFoundException()
    other = validation.optional_uuid(data.get("other"))
    try:
        if other is None:
            raise FieldErrors({"other": _("Choose the customer to merge with.")})
        keep, drop = (other, customer_id) if data.get("keep") == "other" else (customer_id, other)
        summary = await services.merge(actor, keep, drop)
    except FieldErrors as e:
        candidates = await services.matches(actor, row["name"], row["phone"], exclude=customer_id, limit=20)
        return page("customers/merge.html", status_code=422, actor=actor, customer=row, candidates=candidates,
                    other=data.get("other", ""), errors=e.errors)
    flash(request, _("Customers merged: %(visits)s visits, %(orders)s orders and %(opportunities)s opportunities moved.",
                     **summary))
    return redirect(f"/customers/{keep}", request)


@get("/api/v1/customers")
async def api_customers(actor: Actor, q: str = "", limit: int = 50) -> dict:
    rows = await services.search(actor, q, limit=max(1, min(limit, 500)))
    return {"customers": rows}


@post("/api/v1/customers", status_code=200)
async def api_customer_create(actor: Actor, data: dict) -> object:
    """A name or phone matching a visible customer answers 409 with the matches; `"confirmed": true` saves."""
    try:
        cid, created = await services.create(actor, data)
    except services.PossibleDuplicates as e:
        return Response(content={
            "type": "about:blank", "title": _("Possible duplicate"), "status": 409, "errors": e.errors,
            "matches": [{"id": str(m["id"]), "name": m["name"], "phone": m["phone"]} for m in e.matches],
        }, status_code=409, media_type="application/problem+json")
    return {"id": str(cid), "result": "applied" if created else "duplicate"}


@get("/api/v1/customers/{customer_id:uuid}")
async def api_customer(actor: Actor, customer_id: UUID) -> dict:
    row = await services.get(actor, customer_id)
    if not row:
        raise NotFoundException()
    return row


router = Router(
    path="/",
    route_handlers=[
        customer_list, customer_pick, customer_new, customer_create, customer_detail, customer_location,
        customers_near, customer_merge_form, customer_merge,
        api_customers, api_customer_create, api_customer,
    ],
)
