"""An order of a closed month corrected: the difference is posted as a dated correction.

A change to the amount, cost (so margin) or split of an order dated before the current month does not
rewrite that month. The order row and its split rows stay as they were reported; a correction (an
`order_return` row of kind `correction`, dated the day it is made, numbered after the order) holds the
difference, and its rows per rep hold the new allocation (largest remainder over the new split) less what
the rep was credited so far, with the new share. Every rep's and team's earlier months stay as they were,
to the cent; the order page, its list and its edit form show the figures with the corrections applied, and
later collections and returns follow the new split (`credits.current_split`). Orders of the current month
are still corrected in place (`orders.update_order`), with an audit event either way.
"""

from __future__ import annotations

import secrets
from datetime import date
from uuid import UUID, uuid4

from server import clock, db
from server.accounts.tables import User
from server.sales import credits
from server.sales.tables import OrderReturn, OrderSplit, ReturnSplit


def is_closed(day: date) -> bool:
    """Whether `day` is in a month before the current one (a period already reported)."""
    return day < clock.today().replace(day=1)


async def credited(order_id: UUID) -> dict[UUID, list[int]]:
    """Each rep's credit of the order so far, [amount, margin] cents: the split row plus its corrections."""
    out: dict[UUID, list[int]] = {}
    for r in await OrderSplit.select(OrderSplit.rep, OrderSplit.amount_cents, OrderSplit.margin_cents).where(
            OrderSplit.sales_order == order_id):
        out[r["rep"]] = [r["amount_cents"], r["margin_cents"]]
    rows = await ReturnSplit.select(ReturnSplit.rep, ReturnSplit.amount_cents, ReturnSplit.margin_cents).where(
        (ReturnSplit.sales_order == order_id) & (ReturnSplit.order_return.kind == credits.CORRECTION))
    for r in rows:
        have = out.setdefault(r["rep"], [0, 0])
        have[0] += r["amount_cents"]
        have[1] += r["margin_cents"]
    return out


async def current_credits(order_id: UUID) -> list[dict]:
    """The order's split now, as its page shows it: rep, name, share and credited cents, largest share first."""
    split = await credits.current_split(order_id)
    have = await credited(order_id)
    names = {u["id"]: u["display_name"] for u in await User.select(User.id, User.display_name).where(
        User.id.is_in([rep for rep, _bp in split]))} if split else {}
    return [{"rep": rep, "rep_name": names.get(rep, ""), "share_bp": bp, "amount_cents": have.get(rep, [0, 0])[0],
             "margin_cents": have.get(rep, [0, 0])[1]} for rep, bp in split]


async def post(actor_id: UUID, order_id: UUID, order_number: str, *, amount_cents: int, cost_cents: int,
               splits: credits.Split, reason: str) -> str | None:
    """Post the difference between the order as credited so far and `amount_cents`/`cost_cents` over
    `splits`, dated today, inside the caller's write transaction. Returns the correction's number, or None
    when nothing about the money or the split changed."""
    today = clock.today()
    new_split = credits.ordered(splits)
    target = {r["rep"]: r for r in credits.split_rows(order_id, today, amount_cents, cost_cents, new_split)}
    have = await credited(order_id)
    shares = dict(new_split)
    reps = [rep for rep, _bp in new_split] + sorted((r for r in have if r not in shares), key=str)
    rows = []
    for rep in reps:
        now = have.get(rep, [0, 0])
        want = target.get(rep, {"amount_cents": 0, "margin_cents": 0})
        rows.append({"rep": rep, "share_bp": shares.get(rep, 0), "amount_cents": want["amount_cents"] - now[0],
                     "margin_cents": want["margin_cents"] - now[1]})
    unchanged = all(r["amount_cents"] == 0 and r["margin_cents"] == 0 for r in rows)
    if unchanged and new_split == await credits.current_split(order_id):
        return None
    rid = uuid4()
    number = f"{order_number[:52]}-K{secrets.token_hex(3).upper()}"
    await db.insert_rows(OrderReturn, [{
        "id": rid, "number": number, "sales_order": order_id, "kind": credits.CORRECTION, "return_date": today,
        "amount_cents": -sum(r["amount_cents"] for r in rows), "margin_cents": -sum(r["margin_cents"] for r in rows),
        "reason": reason, "source": "manual", "created_by": actor_id, "created_at": clock.now(),
    }])
    await db.insert_rows(ReturnSplit, [{
        "id": uuid4(), "order_return": rid, "sales_order": order_id, "return_date": today, **r} for r in rows])
    return number
