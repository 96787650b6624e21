"""Sales pages (hub, opportunities, orders, collections) and their JSON API. Handlers are thin: the
services own queries and ownership checks."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from litestar import Request, Router, get, post
from litestar.exceptions import NotFoundException, PermissionDeniedException

from server import clock
from server.accounts.permissions import Actor
from server.i18n import _
from server.sales import adjust_routes, analytics, collections, forms, hub, opportunities, orders, scope
from server.sales.tables import OPEN_STAGES, STAGES
from server.validation import optional_uuid
from server.web import Conflict, FieldErrors, flash, form_data, page, redirect

LABELS: dict[str, Any] = {"stage_labels": opportunities.STAGE_LABELS, "ageing_buckets": analytics.AGEING_BUCKETS,
                          "stages": STAGES, "open_stages": OPEN_STAGES}



def _month(raw: str) -> str:
    return raw if raw and orders.month_range(raw) else ""


# ------------------------------------------------------------------------------------------ hub


@get("/sales")
async def sales_hub(actor: Actor, rep: str = "") -> object:
    rep_id = None if actor.is_rep else optional_uuid(rep)
    data = await hub.hub(actor, rep_id)
    return page(
        "sales/hub.html", actor=actor, rep=str(rep_id or ""), reps=await scope.rep_choices(actor),
        totals=analytics.ageing_totals(data["ageing"]), **data, **LABELS,
    )


# ------------------------------------------------------------------------------------------ opportunities


async def _opportunity_form(actor: Actor, values: dict, errors: dict, status_code: int = 200):
    return page(
        "sales/opportunity_form.html", status_code=status_code, actor=actor, values=values, errors=errors,
        customers=await scope.customer_choices(actor), **LABELS,
    )


@get("/opportunities")
async def opportunity_list(actor: Actor, stage: str = "", rep: str = "") -> object:
    rep_id = None if actor.is_rep else optional_uuid(rep)
    stage = stage if stage in STAGES else ""
    rows = await opportunities.opportunities(actor, stage=stage, rep=rep_id)
    return page("sales/opportunity_list.html", actor=actor, opportunities=rows, stage=stage, rep=str(rep_id or ""),
                reps=await scope.rep_choices(actor), **LABELS)


@get("/opportunities/new")
async def opportunity_new(actor: Actor, customer: str = "") -> object:
    return await _opportunity_form(actor, {"id": str(uuid4()), "customer": customer, "stage": "lead"}, {})


@post("/opportunities")
async def opportunity_create(request: Request, actor: Actor) -> object:
    data = await form_data(request)
    try:
        oid, created = await opportunities.create_opportunity(actor, data)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors as e:
        return await _opportunity_form(actor, data, e.errors, status_code=422)
    flash(request, _("Opportunity saved.") if created else _("This opportunity was saved already."))
    return redirect(f"/opportunities/{oid}", request)


async def _opportunity_page(actor: Actor, opportunity_id: UUID, errors: dict | None = None, status_code: int = 200,
                            values: dict | None = None):
    row = await opportunities.get_opportunity(actor, opportunity_id)
    if not row:
        raise NotFoundException()
    return page("sales/opportunity_detail.html", status_code=status_code, actor=actor, opp=row,
                errors=errors or {}, values=values or {}, **LABELS)


@get("/opportunities/{opportunity_id:uuid}")
async def opportunity_detail(actor: Actor, opportunity_id: UUID) -> object:
    return await _opportunity_page(actor, opportunity_id)


@post("/opportunities/{opportunity_id:uuid}/stage")
async def opportunity_stage(request: Request, actor: Actor, opportunity_id: UUID) -> object:
    data = await form_data(request)
    try:
        stage = await opportunities.move_stage(actor, opportunity_id, data)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors as e:
        return await _opportunity_page(actor, opportunity_id, e.errors, 422, data)
    except Conflict as e:
        return await _opportunity_page(actor, opportunity_id, {"": e.message}, 409, data)
    flash(request, _("Stage changed to %(stage)s.", stage=_(opportunities.STAGE_LABELS[stage])))
    return redirect(f"/opportunities/{opportunity_id}", request)


# ------------------------------------------------------------------------------------------ orders


async def _order_form(actor: Actor, values: dict, errors: dict, status_code: int = 200,
                      editing: UUID | None = None):
    # A correction may keep the reps who were in the manager's teams on the order's date.
    try:
        on = date.fromisoformat(str(values.get("order_date") or "")) if editing else None
    except ValueError:
        on = None
    return page(
        "sales/order_form.html", status_code=status_code, actor=actor, values=values, errors=errors,
        customers=await scope.customer_choices(actor, keep=await orders.customer_of(actor, editing) if editing else None),
        split_reps=await scope.split_choices(actor, on),
        split_rows=range(forms.MAX_SPLITS), today=clock.today(), editing=editing, **LABELS,
    )


@get("/orders")
async def order_list(actor: Actor, rep: str = "", month: str = "") -> object:
    rep_id = None if actor.is_rep else optional_uuid(rep)
    month = _month(month)
    rows = await orders.orders(actor, rep=rep_id, month=month)
    return page("sales/order_list.html", actor=actor, orders=rows, rep=str(rep_id or ""), month=month,
                reps=await scope.rep_choices(actor), **LABELS)


@get("/orders/new")
async def order_new(actor: Actor, opportunity: str = "", customer: str = "") -> object:
    values: dict = {"id": str(uuid4()), "order_date": clock.today().isoformat(), "customer": customer}
    if actor.is_rep:
        values.update({"split_rep_0": str(actor.id), "split_pct_0": "100"})
    if opportunity:
        opp_id = optional_uuid(opportunity)
        prefill = await orders.opportunity_prefill(actor, opp_id) if opp_id else None
        if not prefill:
            raise NotFoundException()
        values.update(prefill)
    return await _order_form(actor, values, {})


@post("/orders")
async def order_create(request: Request, actor: Actor) -> object:
    data = await form_data(request)
    try:
        oid, created = await orders.create_order(actor, data)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors as e:
        return await _order_form(actor, data, e.errors, status_code=422)
    flash(request, _("Order saved.") if created else _("This order was saved already."))
    return redirect(f"/orders/{oid}", request)


@get("/orders/{order_id:uuid}/edit")
async def order_edit(actor: Actor, order_id: UUID) -> object:
    row = await orders.get_order(actor, order_id)
    if not row:
        raise NotFoundException()
    if not row["editable"]:
        raise PermissionDeniedException()
    return await _order_form(actor, orders.order_form_values(row), {}, editing=order_id)


@post("/orders/{order_id:uuid}")
async def order_update(request: Request, actor: Actor, order_id: UUID) -> object:
    data = await form_data(request)
    try:
        await orders.update_order(actor, order_id, data)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors as e:
        return await _order_form(actor, data, e.errors, status_code=422, editing=order_id)
    except Conflict as e:
        return await _order_form(actor, data, {"": e.message}, status_code=409, editing=order_id)
    flash(request, _("Order corrected."))
    return redirect(f"/orders/{order_id}", request)


@get("/orders/{order_id:uuid}")
async def order_detail(actor: Actor, order_id: UUID) -> object:
    row = await orders.get_order(actor, order_id)
    if not row:
        raise NotFoundException()
    return page("sales/order_detail.html", actor=actor, order=row, **LABELS)


# ------------------------------------------------------------------------------------------ collections


async def _collection_form(actor: Actor, order_id: UUID | None, values: dict, errors: dict, status_code: int = 200):
    order = await orders.get_order(actor, order_id) if order_id else None
    if not order:
        raise NotFoundException()
    return page("sales/collection_form.html", status_code=status_code, actor=actor, order=order, values=values,
                errors=errors, today=clock.today(), **LABELS)


@get("/collections")
async def collection_list(actor: Actor, rep: str = "", as_of: str = "") -> object:
    rep_id = None if actor.is_rep else optional_uuid(rep)
    try:
        day = date.fromisoformat(as_of) if as_of else clock.today()
    except ValueError:
        day = clock.today()
    rep_ids = await scope.scope_rep_ids(actor, rep_id)
    rows = [] if rep_ids == [] else await analytics.ageing(actor, day, rep_ids)
    return page(
        "sales/collection_list.html", actor=actor, collections=await collections.collections(actor, rep=rep_id),
        ageing=rows, totals=analytics.ageing_totals(rows), as_of=day, rep=str(rep_id or ""),
        reps=await scope.rep_choices(actor), **LABELS,
    )


@get("/collections/new")
async def collection_new(actor: Actor, order: str = "") -> object:
    order_id = optional_uuid(order)
    return await _collection_form(actor, order_id, {"id": str(uuid4()), "order": order,
                                                    "received_on": clock.today().isoformat()}, {})


@post("/collections")
async def collection_create(request: Request, actor: Actor) -> object:
    data = await form_data(request)
    try:
        _cid, order_id, created = await collections.create_collection(actor, data)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors as e:
        return await _collection_form(actor, optional_uuid(data.get("order", "")), data, e.errors, status_code=422)
    flash(request, _("Collection saved.") if created else _("This collection was saved already."))
    return redirect(f"/orders/{order_id}", request)


# ------------------------------------------------------------------------------------------ JSON API


def _api_rep(actor: Actor, rep: str) -> UUID | None:
    return None if actor.is_rep else optional_uuid(rep)


@get("/api/v1/opportunities")
async def api_opportunities(actor: Actor, stage: str = "", rep: str = "") -> dict:
    rows = await opportunities.opportunities(actor, stage=stage if stage in STAGES else "", rep=_api_rep(actor, rep))
    return {"opportunities": rows}


@post("/api/v1/opportunities", status_code=200)
async def api_opportunity_create(actor: Actor, data: dict) -> dict:
    try:
        oid, created = await opportunities.create_opportunity(actor, data)
    except LookupError:
        raise NotFoundException() from None
    return {"id": str(oid), "result": "applied" if created else "duplicate"}


@get("/api/v1/orders")
async def api_orders(actor: Actor, rep: str = "", month: str = "") -> dict:
    rows = await orders.orders(actor, rep=_api_rep(actor, rep), month=_month(month))
    return {"orders": rows}


@post("/api/v1/orders", status_code=200)
async def api_order_create(actor: Actor, data: dict) -> dict:
    try:
        oid, created = await orders.create_order(actor, data)
    except LookupError:
        raise NotFoundException() from None
    return {"id": str(oid), "result": "applied" if created else "duplicate"}


router = Router(
    path="/",
    route_handlers=[
        sales_hub, opportunity_list, opportunity_new, opportunity_create, opportunity_detail, opportunity_stage,
        order_list, order_new, order_create, order_edit, order_update, order_detail,
        collection_list, collection_new, collection_create,
        api_opportunities, api_opportunity_create, api_orders, api_order_create, *adjust_routes.HANDLERS,
    ],
)
