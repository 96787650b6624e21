"""Collections: money received against an order, never more than its amount less its returns; each
credited to the order's reps in stored cents (`collection_split`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor
from server.i18n import _
from server.sales import credits, returns
from server.sales.forms import day_ok, is_unique_violation, not_future, record_number
from server.sales.scope import order_visibility, order_visible, scope_rep_ids
from server.sales.tables import Collection, CollectionSplit, Order
from server.web import FieldErrors


async def create_collection(actor: Actor, data: dict) -> tuple[UUID, UUID, bool]:
    """Record money received against an order the actor may see. Returns (collection id, order id, created).

    The collections of an order may not add up to more than its amount."""
    errors: dict[str, str] = {}
    order_id = validation.uuid(data, "order", errors, required=True)
    if errors or order_id is None:
        raise FieldErrors(errors)
    if not await order_visible(actor, order_id):
        raise LookupError(order_id)
    given = validation.optional_uuid(data.get("id") if isinstance(data.get("id"), str) else None)
    if given is not None:
        existing = await Collection.select(Collection.sales_order).where(Collection.id == given).first()
        if existing:
            if existing["sales_order"] == order_id:
                return given, order_id, False
            raise FieldErrors({"id": _("This identifier belongs to another record.")})
    clean: dict[str, Any] = {
        "id": validation.uuid(data, "id", errors, required=False),
        "number": validation.text(data, "number", errors, max_len=64),
        "received_on": validation.day(data, "received_on", errors) or clock.today(),
        "amount_cents": validation.money(data, "amount", errors, required=True),
    }
    day_ok(clean["received_on"], "received_on", errors)
    not_future(clean, "received_on", errors)
    if errors:
        raise FieldErrors(errors)
    if clean["number"] and await Collection.exists().where(Collection.number == clean["number"]):
        raise FieldErrors({"number": _("A receipt with this number exists already.")})
    rid: UUID = clean["id"] or uuid4()
    for attempt in range(5):
        number = clean["number"] or record_number("RC", clean["received_on"])
        try:
            async with db.write_transaction():
                # Two receipts for one order at once: the second waits, then sees the first in its sum.
                await db.lock_row("sales_order", order_id)
                order = await Order.select(Order.amount_cents, Order.voided_at).where(Order.id == order_id).first()
                if order is None:
                    raise LookupError(order_id)
                if order["voided_at"] is not None:
                    raise FieldErrors({"amount": _("This order is void: nothing more can be recorded against it.")})
                paid_cents = await returns.net_collected_cents(order_id)
                due_cents = order["amount_cents"] - await returns.returned_cents(order_id)
                if paid_cents + clean["amount_cents"] > due_cents:
                    left = max(0, due_cents - paid_cents)
                    raise FieldErrors({"amount": _("Only %(left)s is still outstanding on this order.",
                                                   left=f"{Decimal(left) / 100:,.2f}")})
                await Collection.insert(Collection(
                    id=rid, number=number, sales_order=order_id, received_on=clean["received_on"],
                    amount_cents=clean["amount_cents"], source="manual", created_by=actor.id, created_at=clock.now(),
                ))
                await db.insert_rows(CollectionSplit, credits.collection_rows(
                    rid, order_id, clean["received_on"], clean["amount_cents"], await credits.current_split(order_id)))
            return rid, order_id, True
        except FieldErrors:
            raise
        except Exception as exc:
            if not is_unique_violation(exc):
                raise
            if await Collection.exists().where(Collection.id == rid):
                return rid, order_id, False
            if clean["number"] or attempt == 4:
                raise FieldErrors({"number": _("A receipt with this number exists already.")}) from None
    raise AssertionError("unreachable")


async def collections(actor: Actor, rep: UUID | None = None, limit: int = 100) -> list[dict]:
    """Recent collections on orders the actor may see."""
    rep_ids = await scope_rep_ids(actor, rep)
    if rep_ids == []:
        return []
    args: list = []
    where = "1 = 1"
    if rep_ids is not None:
        where = order_visibility(rep_ids, args)
    rows = await Collection.raw(
        "SELECT k.id, k.number, k.received_on, k.amount_cents, o.id AS order_id, o.number AS order_number, "
        "c.name AS customer_name FROM collection k JOIN sales_order o ON o.id = k.sales_order "
        f"JOIN customer c ON c.id = o.customer WHERE {where} ORDER BY k.received_on DESC, k.created_at DESC "
        f"LIMIT {int(limit)}", *args)
    for r in rows:
        r["received_on"] = db.as_date(r["received_on"])
        r["amount_cents"] = int(r["amount_cents"])
    return rows

