"""Customer pages (list, search as you type, add in the field) and the JSON API."""

from __future__ import annotations

from uuid import UUID, uuid4

from litestar import Request, Router, get, post
from litestar.exceptions import NotFoundException

from server.accounts.permissions import Actor, visible_rep_ids
from server.accounts.tables import User
from server.customers import services
from server.i18n import _
from server.visits import services as visits
from server.web import FieldErrors, flash, form_data, is_htmx, page, redirect


async def _owner_choices(actor: Actor) -> list[dict]:
    if actor.is_rep:
        return []
    rep_ids = await visible_rep_ids(actor)
    query = User.select(User.id, User.display_name).where((User.role == "rep") & (User.active == True))  # noqa: E712
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
async def customer_new(actor: Actor, next: str = "") -> object:  # noqa: A002
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
        return page(
            "customers/form.html", status_code=422, actor=actor, values=data, errors=e.errors, next=nxt,
            owners=await _owner_choices(actor),
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
        "customers/detail.html", actor=actor, customer=row, visits=recent, purpose_labels=visits.PURPOSE_LABELS
    )


@get("/api/v1/customers")
async def api_customers(actor: Actor, q: str = "", limit: int = 50) -> dict:
    rows = await services.search(actor, q, limit=max(1, min(limit, 500)))
    return {"customers": rows}


@post("/api/v1/customers", status_code=200)
async def api_customer_create(actor: Actor, data: dict) -> dict:
    cid, created = await services.create(actor, data)
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
        customer_list, customer_pick, customer_new, customer_create, customer_detail,
        api_customers, api_customer_create, api_customer,
    ],
)
