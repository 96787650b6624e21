"""The stored credits of an order: each split row's revenue and margin cents, each collection's and each
return's cents per rep, all allocated by largest remainder over the order's split (`money.allocate`).

Whoever writes an order's split, a collection or a return writes its credits in the same transaction
with these functions; `reallocate()` recomputes all of an order's credits after its split or amounts were
corrected (or for the migration's backfill), so the stored cents always add up to the order.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from server import db
from server.sales.money import allocate
from server.sales.tables import Collection, CollectionSplit, Order, OrderReturn, OrderSplit, ReturnSplit

Split = list[tuple[UUID, int]]  # (rep, share_bp)
CORRECTION = "correction"  # the OrderReturn kind of a closed month's order correction (`order_corrections`)


def ordered(splits: Split) -> Split:
    """The stable order every allocation uses (ties of remainder and share go to the earlier row): largest
    share first, then rep id, so the same split always gives the same cents to the same reps."""
    return sorted(splits, key=lambda s: (-s[1], str(s[0])))


def split_rows(order_id: UUID, order_date: date, amount_cents: int, cost_cents: int, splits: Split) -> list[dict]:
    """The order_split rows of an order, with their credited cents."""
    splits = ordered(splits)
    shares = [bp for _rep, bp in splits]
    amounts = allocate(amount_cents, shares)
    margins = allocate(amount_cents - cost_cents, shares)
    return [{"id": uuid4(), "sales_order": order_id, "rep": rep, "share_bp": bp, "order_date": order_date,
             "amount_cents": amounts[i], "margin_cents": margins[i]} for i, (rep, bp) in enumerate(splits)]


def collection_rows(collection_id: UUID, order_id: UUID, received_on: date, amount_cents: int,
                    splits: Split) -> list[dict]:
    splits = ordered(splits)
    parts = allocate(amount_cents, [bp for _rep, bp in splits])
    return [{"id": uuid4(), "collection": collection_id, "sales_order": order_id, "rep": rep,
             "received_on": received_on, "amount_cents": parts[i]} for i, (rep, _bp) in enumerate(splits)]


def return_rows(return_id: UUID, order_id: UUID, return_date: date, amount_cents: int, margin_cents: int,
                splits: Split) -> list[dict]:
    """A return's rows per rep: negative cents (the return reduces their revenue and margin)."""
    splits = ordered(splits)
    shares = [bp for _rep, bp in splits]
    amounts = allocate(-amount_cents, shares)
    margins = allocate(-margin_cents, shares)
    return [{"id": uuid4(), "order_return": return_id, "sales_order": order_id, "rep": rep, "share_bp": bp,
             "return_date": return_date, "amount_cents": amounts[i], "margin_cents": margins[i]}
            for i, (rep, bp) in enumerate(splits)]


async def current_split(order_id: UUID) -> Split:
    """An order's split now, in a stable order (largest share first, then rep id): the split of its latest
    dated correction (`order_corrections`) if it has one, else the split stored with the order."""
    latest = await OrderReturn.select(OrderReturn.id).where(
        (OrderReturn.sales_order == order_id) & (OrderReturn.kind == CORRECTION)).order_by(
        OrderReturn.created_at, ascending=False).first()
    if latest is not None:
        parts = await ReturnSplit.select(ReturnSplit.rep, ReturnSplit.share_bp).where(
            (ReturnSplit.order_return == latest["id"]) & (ReturnSplit.share_bp > 0))
        return ordered([(r["rep"], r["share_bp"]) for r in parts])
    rows = await OrderSplit.select(OrderSplit.rep, OrderSplit.share_bp).where(OrderSplit.sales_order == order_id)
    return ordered([(r["rep"], r["share_bp"]) for r in rows])


async def write_split(order_id: UUID, splits: Split) -> None:
    """Replace an order's split (after its row was written) and recompute every credit hanging off it,
    inside the caller's write transaction."""
    await OrderSplit.delete().where(OrderSplit.sales_order == order_id)
    order = await Order.select(Order.order_date, Order.amount_cents, Order.cost_cents).where(
        Order.id == order_id).first()
    if order is None:
        return
    await db.insert_rows(OrderSplit, split_rows(order_id, order["order_date"], order["amount_cents"],
                                                order["cost_cents"], splits))
    await reallocate(order_id, ordered(splits))


async def reallocate(order_id: UUID, splits: Split | None = None) -> None:
    """Recompute the stored cents of an order's split rows, collections and returns from its split."""
    splits = splits if splits is not None else await current_split(order_id)
    if not splits:
        return
    order = await Order.select(Order.order_date, Order.amount_cents, Order.cost_cents).where(
        Order.id == order_id).first()
    if order is None:
        return
    rows = split_rows(order_id, order["order_date"], order["amount_cents"], order["cost_cents"], splits)
    for row in rows:
        await OrderSplit.update({OrderSplit.amount_cents: row["amount_cents"], OrderSplit.margin_cents: row["margin_cents"],
                                 OrderSplit.order_date: order["order_date"]}).where(
            (OrderSplit.sales_order == order_id) & (OrderSplit.rep == row["rep"]))
    await CollectionSplit.delete().where(CollectionSplit.sales_order == order_id)
    receipts = await Collection.select(Collection.id, Collection.received_on, Collection.amount_cents).where(
        Collection.sales_order == order_id)
    await db.insert_rows(CollectionSplit, [
        row for k in receipts for row in collection_rows(k["id"], order_id, k["received_on"], k["amount_cents"], splits)])
    # A dated correction's rows are differences per rep, not an allocation: they stay as written.
    returns = await OrderReturn.select(OrderReturn.id, OrderReturn.return_date, OrderReturn.amount_cents,
                                       OrderReturn.margin_cents).where(
        (OrderReturn.sales_order == order_id) & (OrderReturn.kind != CORRECTION))
    if returns:
        await ReturnSplit.delete().where(ReturnSplit.order_return.is_in([r["id"] for r in returns]))
    await db.insert_rows(ReturnSplit, [
        row for r in returns
        for row in return_rows(r["id"], order_id, r["return_date"], r["amount_cents"], r["margin_cents"], splits)])
