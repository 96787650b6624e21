"""Voiding an order and correcting or reversing a collection, each with a reason and an audit event.

A voided order is kept (its page shows it struck through) and counted nowhere: not in actuals, pace,
boards, ageing or CSV totals, nor are its collections and returns. A collection is never edited: a
correction is a row of its own dated the day it is made, holding the difference (a reversal takes the
whole receipt back), so the period the receipt counted in stays as it was reported.

Who: as for returns (`returns.adjustable_order`): admin, or a manager leading every credited rep.
"""

from __future__ import annotations

import secrets
from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor
from server.i18n import _, fmt_money
from server.sales import audit, credits
from server.sales.forms import day_ok
from server.sales.returns import adjustable_order, net_collected_cents, returned_cents
from server.sales.tables import Collection, CollectionSplit, Order
from server.web import FieldErrors


def _reason(data: dict, errors: dict) -> str:
    reason = validation.text(data, "reason", errors, max_len=2000)
    if not reason.strip() and "reason" not in errors:
        errors["reason"] = _("Give a reason.")
    return reason.strip()


async def void_order(actor: Actor, order_id: UUID, data: dict) -> bool:
    """Void an order with a reason (`data["reason"]`). Returns False when it was void already.
    Raises LookupError, PermissionDeniedException, FieldErrors as `adjustable_order` does."""
    order = await adjustable_order(actor, order_id)
    if order["voided_at"] is not None:
        return False
    errors: dict[str, str] = {}
    reason = _reason(data, errors)
    if errors:
        raise FieldErrors(errors)
    now = clock.now()
    async with db.write_transaction():
        await db.lock_row("sales_order", order_id)
        fresh = await Order.select(Order.voided_at).where(Order.id == order_id).first()
        if fresh is None or fresh["voided_at"] is not None:
            return False
        await Order.update({Order.voided_at: now, Order.voided_by: actor.id, Order.void_reason: reason,
                            Order.updated_at: now}).where(Order.id == order_id)
        await audit.record("order", order_id, "order_voided", actor_id=actor.id, reason=reason,
                           detail={"number": order["number"], "amount_cents": order["amount_cents"],
                                   "order_date": order["order_date"].isoformat()},
                           effective_on=clock.today(), sales_order=order_id)
    return True


async def receipt_for(actor: Actor, collection_id: UUID) -> dict:
    """A receipt (not a correction) the actor may correct, with what it comes to after earlier
    corrections (`net_cents`). LookupError, PermissionDeniedException, FieldErrors."""
    row = await Collection.select(Collection.id, Collection.number, Collection.sales_order, Collection.received_on,
                                  Collection.amount_cents, Collection.kind).where(Collection.id == collection_id).first()
    if row is None or row["kind"] != "receipt":
        raise LookupError(collection_id)
    order = await adjustable_order(actor, row["sales_order"])
    corrections = await Collection.raw(
        "SELECT COALESCE(SUM(amount_cents), 0) AS n FROM collection WHERE corrects = {}", collection_id)
    row["net_cents"] = row["amount_cents"] + int(corrections[0]["n"] or 0)
    row["order"] = order
    return row


async def correct_collection(actor: Actor, collection_id: UUID, data: dict) -> UUID:
    """Correct a receipt to `data["amount"]` (yuan; 0 or `data["reverse"]` reverses it) with a reason, dated
    `data["corrected_on"]` (today when empty; not before the receipt, not in the future). Writes a
    correction row holding the difference. Returns the correction's id."""
    receipt = await receipt_for(actor, collection_id)
    order = receipt["order"]
    errors: dict[str, str] = {}
    reason = _reason(data, errors)
    reverse = str(data.get("reverse") or "") in ("1", "on", "true")
    amount = 0 if reverse else validation.money(data, "amount", errors, required=True, positive=False)
    day = validation.day(data, "corrected_on", errors) or clock.today()
    if day_ok(day, "corrected_on", errors) is not None:
        if day > clock.today():
            errors["corrected_on"] = _("This date is in the future.")
        elif day < receipt["received_on"]:
            errors["corrected_on"] = _("A correction cannot be dated before the receipt it corrects.")
    if order["voided_at"] is not None:
        errors[""] = _("This order is void: nothing more can be recorded against it.")
    if errors or amount is None:
        raise FieldErrors(errors)
    delta = amount - receipt["net_cents"]
    if delta == 0:
        raise FieldErrors({"amount": _("This is what the receipt comes to already.")})
    cid = uuid4()
    async with db.write_transaction():
        await db.lock_row("sales_order", order["id"])
        paid = await net_collected_cents(order["id"])
        due = order["amount_cents"] - await returned_cents(order["id"])
        if paid + delta > due:
            raise FieldErrors({"amount": _("Only %(left)s is still outstanding on this order.",
                                           left=fmt_money(max(0, due - paid) / 100))})
        await post_correction(actor.id, receipt, amount, day, reason, cid=cid)
    return cid


async def post_correction(actor_id: UUID, receipt: dict, amount_cents: int, day, reason: str, *,
                          source: str = "manual", cid: UUID | None = None) -> UUID:
    """Write the correction that brings `receipt` (id, number, sales_order, net_cents: what it comes to
    now) to `amount_cents` (0: a reversal), dated `day`, credited over the order's split, with its audit
    event, inside the caller's write transaction (the collection form and the ERP import, which reverses
    the part of a receipt the ERP moved to another order). The caller checks the amounts."""
    cid = cid or uuid4()
    delta = amount_cents - receipt["net_cents"]
    number = f"{receipt['number'][:52]}-C{secrets.token_hex(2).upper()}"
    await db.insert_rows(Collection, [{
        "id": cid, "number": number, "sales_order": receipt["sales_order"], "received_on": day, "amount_cents": delta,
        "source": source, "created_by": actor_id, "created_at": clock.now(), "kind": "correction",
        "corrects": receipt["id"], "reason": reason,
    }])
    await db.insert_rows(CollectionSplit, credits.collection_rows(
        cid, receipt["sales_order"], day, delta, await credits.current_split(receipt["sales_order"])))
    detail = {"number": receipt["number"], "from_cents": receipt["net_cents"], "to_cents": amount_cents,
              "difference_cents": delta, "correction": number}
    if source != "manual":
        detail["source"] = source
    await audit.record("collection", receipt["id"], "collection_reversed" if amount_cents == 0 else "collection_corrected",
                       actor_id=actor_id, reason=reason, detail=detail, effective_on=day,
                       sales_order=receipt["sales_order"])
    return cid



async def record_refund(actor: Actor, order_id: UUID, *, number: str, amount_cents: int, day, reason: str,
                        source: str = "import") -> tuple[UUID, bool]:
    """A refund (an ERP receipt with a negative amount) against an order: a reversal of what was collected,
    as a correction row of its own under the document's number, dated `day`, credited over the order's
    split. The same number again for the same order and amount changes nothing and answers (its id, False).
    Refused with FieldErrors: not negative, more than was collected, a void order, a number used already."""
    order = await adjustable_order(actor, order_id)
    number = number.strip()[:64]
    existing = await Collection.select(Collection.id, Collection.sales_order, Collection.amount_cents).where(
        Collection.number == number).first()
    if existing is not None:
        if existing["sales_order"] == order_id and existing["amount_cents"] == amount_cents:
            return existing["id"], False
        raise FieldErrors({"number": _("A receipt with this number exists already.")})
    if amount_cents >= 0:
        raise FieldErrors({"amount": _("A refund is a negative amount.")})
    if order["voided_at"] is not None:
        raise FieldErrors({"": _("This order is void: nothing more can be recorded against it.")})
    cid = uuid4()
    async with db.write_transaction():
        await db.lock_row("sales_order", order_id)
        paid = await net_collected_cents(order_id)
        if paid + amount_cents < 0:
            raise FieldErrors({"amount": _("The refund takes back more than was collected on order %(number)s (%(paid)s).",
                                           number=order["number"], paid=fmt_money(paid / 100))})
        await db.insert_rows(Collection, [{
            "id": cid, "number": number, "sales_order": order_id, "received_on": day, "amount_cents": amount_cents,
            "source": source, "created_by": actor.id, "created_at": clock.now(), "kind": "correction",
            "corrects": None, "reason": reason,
        }])
        await db.insert_rows(CollectionSplit, credits.collection_rows(
            cid, order_id, day, amount_cents, await credits.current_split(order_id)))
        await audit.record("collection", cid, "collection_reversed", actor_id=actor.id, reason=reason,
                           detail={"number": number, "difference_cents": amount_cents, "source": source},
                           effective_on=day, sales_order=order_id)
    return cid, True
