"""Returns and credit notes (红字) against an order: entered on a form or imported.

A return is a row of its own, dated when it happened: it reduces revenue and margin in its own period,
for the reps credited by the order's split (its cents allocated over the split's shares by largest
remainder and stored, negative, in `order_return_split`), and leaves the order's own period as it was.

Who: admin, or a manager who leads every rep the order is credited to (the rule of order corrections);
reps do not record returns. `record_return` is the one service the form and the ERP import call.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor, require_role
from server.i18n import _, fmt_money
from server.sales import audit, credits
from server.sales.forms import day_ok, is_unique_violation, record_number
from server.sales.money import proportional
from server.sales.scope import can_adjust, not_earned_here, order_visible
from server.sales.tables import Collection, Order, OrderReturn, ReturnSplit
from server.web import FieldErrors

KINDS = ("return", "credit_note")


async def adjustable_order(actor: Actor, order_id: UUID) -> dict:
    """The order if the actor may record a return, void or collection correction on it.

    LookupError when they cannot see it (404); PermissionDeniedException for a rep (403); FieldErrors when
    a manager's order was earned (its effective split, on its date) outside the teams they lead
    (`scope.can_adjust`: the manager of the team where it was earned, or an admin, records it)."""
    if not await order_visible(actor, order_id):
        raise LookupError(order_id)
    require_role(actor, "admin", "manager")
    row = await Order.select(Order.id, Order.number, Order.order_date, Order.amount_cents, Order.cost_cents,
                             Order.voided_at).where(Order.id == order_id).first()
    if row is None:
        raise LookupError(order_id)
    if not await can_adjust(actor, order_id, row["order_date"]):
        raise FieldErrors({"": not_earned_here(row["order_date"])})
    return row


async def returned_cents(order_id: UUID, *, corrections: bool = True) -> int:
    """What the order's returns take off its amount; with `corrections` (the default) less what its dated
    corrections add (`order_corrections`), so amount - returned_cents is what is due on it now."""
    only = "" if corrections else f" AND kind <> '{credits.CORRECTION}'"
    rows = await OrderReturn.raw(
        f"SELECT COALESCE(SUM(amount_cents), 0) AS n FROM order_return WHERE sales_order = {{}}{only}", order_id)
    return int(rows[0]["n"] or 0)


async def correction_totals(order_id: UUID) -> tuple[int, int]:
    """What the order's dated corrections add to its amount and to its margin, in cents."""
    rows = await OrderReturn.raw(
        "SELECT COALESCE(SUM(amount_cents), 0) AS a, COALESCE(SUM(margin_cents), 0) AS m FROM order_return"
        " WHERE sales_order = {} AND kind = {}", order_id, credits.CORRECTION)
    return -int(rows[0]["a"] or 0), -int(rows[0]["m"] or 0)


async def current_amounts(order: dict) -> tuple[int, int]:
    """An order row's (amount, cost) cents as corrected by its dated corrections."""
    added, added_margin = await correction_totals(order["id"])
    amount = order["amount_cents"] + added
    return amount, amount - (order["amount_cents"] - order["cost_cents"] + added_margin)


async def record_return(actor: Actor, order_id: UUID, *, amount_cents: int, margin_cents: int | None,
                        return_date: date, reason: str, kind: str = "return", external_ref: str | None = None,
                        source: str = "manual", return_id: UUID | None = None) -> tuple[UUID, bool]:
    """Record a return or credit note of `amount_cents` (> 0) against an order, dated `return_date`.

    `margin_cents` is the margin it takes back (None: the order's margin in proportion to the amount).
    `external_ref` is the credit note's number (an ERP document number): a second call with the same
    reference changes nothing and answers (its id, False), so a re-import is a no-op; without one a number
    such as RT-20261201-9B1C is made. Returns (return id, created).

    Refused with FieldErrors: amount not positive or more than is left to return, a date in the future or
    before the order date, a voided order, no reason, a reference already used for another order.
    LookupError for an order the actor cannot see; PermissionDeniedException for a rep."""
    order = await adjustable_order(actor, order_id)
    number = (external_ref or "").strip()[:64]
    if number:
        existing = await OrderReturn.select(OrderReturn.id, OrderReturn.sales_order).where(
            OrderReturn.number == number).first()
        if existing:
            if existing["sales_order"] == order_id:
                return existing["id"], False
            raise FieldErrors({"number": _("A return with this number exists already.")})
    errors: dict[str, str] = {}
    kind = kind if kind in KINDS else "return"
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = _("Give a reason.")
    elif len(reason) > 2000:
        errors["reason"] = _("At most %(n)s characters.", n=2000)
    if amount_cents <= 0:
        errors["amount"] = _("Enter an amount greater than zero.")
    if day_ok(return_date, "return_date", errors) is not None:
        if return_date > clock.today():
            errors["return_date"] = _("This date is in the future.")
        elif return_date < order["order_date"]:
            errors["return_date"] = _("A return cannot be dated before its order.")
    if order["voided_at"] is not None:
        errors[""] = _("This order is void: nothing more can be recorded against it.")
    if errors:
        raise FieldErrors(errors)
    if margin_cents is None:
        amount_now, cost_now = await current_amounts(order)
        margin_cents = proportional(amount_cents, amount_now, amount_now - cost_now)
    rid = return_id or uuid4()
    for attempt in range(5):
        doc_number = number or record_number("RT", return_date)
        try:
            async with db.write_transaction():
                await db.lock_row("sales_order", order_id)
                if await OrderReturn.exists().where(OrderReturn.id == rid):
                    return rid, False
                left = order["amount_cents"] - await returned_cents(order_id)
                if amount_cents > left:
                    raise FieldErrors({"amount": _("Only %(left)s of this order is left to return.",
                                                   left=fmt_money(max(0, left) / 100))})
                splits = await credits.current_split(order_id)
                await db.insert_rows(OrderReturn, [{
                    "id": rid, "number": doc_number, "sales_order": order_id, "kind": kind,
                    "return_date": return_date, "amount_cents": amount_cents, "margin_cents": margin_cents,
                    "reason": reason, "source": source, "created_by": actor.id, "created_at": clock.now(),
                }])
                await db.insert_rows(ReturnSplit, credits.return_rows(
                    rid, order_id, return_date, amount_cents, margin_cents, splits))
                await audit.record("order_return", rid, f"{kind}_recorded", actor_id=actor.id, reason=reason,
                                   detail={"number": doc_number, "amount_cents": amount_cents,
                                           "margin_cents": margin_cents, "source": source},
                                   effective_on=return_date, sales_order=order_id)
            return rid, True
        except FieldErrors:
            raise
        except Exception as exc:  # a number taken between the check and the insert
            if not is_unique_violation(exc):
                raise
            found = await OrderReturn.select(OrderReturn.id, OrderReturn.sales_order).where(
                (OrderReturn.id == rid) | (OrderReturn.number == doc_number)).first()
            if found and found["sales_order"] == order_id and (found["id"] == rid or number):
                return found["id"], False
            if number or attempt == 4:
                raise FieldErrors({"number": _("A return with this number exists already.")}) from None
    raise AssertionError("unreachable")


def validate_return_form(data: dict) -> dict[str, Any]:
    """The return form's fields: amount (and optional margin) in yuan, date, kind, reason, number."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {
        "id": validation.uuid(data, "id", errors, required=False),
        "number": validation.text(data, "number", errors, max_len=64),
        "return_date": validation.day(data, "return_date", errors) or clock.today(),
        "amount_cents": validation.money(data, "amount", errors, required=True),
        "margin_cents": validation.money(data, "margin", errors, positive=False),
        "kind": validation.choice(data, "kind", KINDS, errors, default="return"),
        "reason": validation.text(data, "reason", errors, required=True, max_len=2000),
    }
    if errors:
        raise FieldErrors(errors)
    return clean


async def create_return(actor: Actor, order_id: UUID, data: dict) -> tuple[UUID, bool]:
    """The return form: parse, then `record_return`. Raises as it does."""
    if not await order_visible(actor, order_id):
        raise LookupError(order_id)
    clean = validate_return_form(data)
    return await record_return(
        actor, order_id, amount_cents=clean["amount_cents"], margin_cents=clean["margin_cents"],
        return_date=clean["return_date"], reason=clean["reason"], kind=clean["kind"],
        external_ref=clean["number"] or None, return_id=clean["id"])


async def returns_of(order_id: UUID) -> list[dict]:
    """An order's returns and credit notes (not its dated corrections), oldest first."""
    return await OrderReturn.select(
        OrderReturn.id, OrderReturn.number, OrderReturn.kind, OrderReturn.return_date, OrderReturn.amount_cents,
        OrderReturn.margin_cents, OrderReturn.reason, OrderReturn.source,
        OrderReturn.created_by.display_name.as_alias("created_by_name"),
    ).where((OrderReturn.sales_order == order_id) & (OrderReturn.kind != credits.CORRECTION)).order_by(
        OrderReturn.return_date)


async def net_collected_cents(order_id: UUID) -> int:
    rows = await Collection.raw(
        "SELECT COALESCE(SUM(amount_cents), 0) AS n FROM collection WHERE sales_order = {}", order_id)
    return int(rows[0]["n"] or 0)
