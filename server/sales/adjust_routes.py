"""Pages that change recorded results: a return or credit note, voiding an order, correcting or reversing
a collection. Thin handlers over `returns` and `corrections`, which own the rules and the ownership."""

from __future__ import annotations

from uuid import UUID, uuid4

from litestar import Request, get, post
from litestar.exceptions import NotFoundException

from server import clock
from server.accounts.permissions import Actor
from server.i18n import _
from server.sales import corrections, orders, returns
from server.web import FieldErrors, flash, form_data, page, redirect


async def _order(actor: Actor, order_id: UUID) -> dict:
    try:
        await returns.adjustable_order(actor, order_id)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors:
        pass  # shown on the form: the page itself is readable
    row = await orders.get_order(actor, order_id)
    if not row:
        raise NotFoundException()
    return row


def _form(actor: Actor, mode: str, order: dict, values: dict, errors: dict, status_code: int = 200,
          receipt: dict | None = None):
    return page("sales/adjust_form.html", status_code=status_code, actor=actor, mode=mode, order=order,
                values=values, errors=errors, receipt=receipt, today=clock.today(), kinds=returns.KINDS)


@get("/orders/{order_id:uuid}/return")
async def return_new(actor: Actor, order_id: UUID) -> object:
    order = await _order(actor, order_id)
    return _form(actor, "return", order, {"id": str(uuid4()), "return_date": clock.today().isoformat(),
                                          "kind": "return"}, {})


@post("/orders/{order_id:uuid}/returns")
async def return_create(request: Request, actor: Actor, order_id: UUID) -> object:
    data = await form_data(request)
    try:
        _rid, created = await returns.create_return(actor, order_id, data)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors as e:
        return _form(actor, "return", await _order(actor, order_id), data, e.errors, 422)
    flash(request, _("Return recorded.") if created else _("This return was recorded already."))
    return redirect(f"/orders/{order_id}", request)


@get("/orders/{order_id:uuid}/void")
async def void_new(actor: Actor, order_id: UUID) -> object:
    return _form(actor, "void", await _order(actor, order_id), {}, {})


@post("/orders/{order_id:uuid}/void")
async def void_create(request: Request, actor: Actor, order_id: UUID) -> object:
    data = await form_data(request)
    try:
        done = await corrections.void_order(actor, order_id, data)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors as e:
        return _form(actor, "void", await _order(actor, order_id), data, e.errors, 422)
    flash(request, _("Order voided.") if done else _("This order was void already."))
    return redirect(f"/orders/{order_id}", request)


async def _receipt(actor: Actor, collection_id: UUID) -> tuple[dict, dict]:
    try:
        receipt = await corrections.receipt_for(actor, collection_id)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors as e:
        raise NotFoundException() from e
    order = await orders.get_order(actor, receipt["sales_order"])
    if not order:
        raise NotFoundException()
    return receipt, order


@get("/collections/{collection_id:uuid}/correct")
async def correction_new(actor: Actor, collection_id: UUID) -> object:
    receipt, order = await _receipt(actor, collection_id)
    values = {"amount": f"{receipt['net_cents'] / 100:.2f}", "corrected_on": clock.today().isoformat()}
    return _form(actor, "correct", order, values, {}, receipt=receipt)


@post("/collections/{collection_id:uuid}/correct")
async def correction_create(request: Request, actor: Actor, collection_id: UUID) -> object:
    data = await form_data(request)
    receipt, order = await _receipt(actor, collection_id)
    try:
        await corrections.correct_collection(actor, collection_id, data)
    except LookupError:
        raise NotFoundException() from None
    except FieldErrors as e:
        return _form(actor, "correct", order, data, e.errors, 422, receipt=receipt)
    flash(request, _("Collection corrected."))
    return redirect(f"/orders/{order['id']}", request)


HANDLERS = [return_new, return_create, void_new, void_create, correction_new, correction_create]
