"""The database reads an import plans against: the rows a file's records point at, by natural key, in a
few set-based reads (`load_lookups`)."""

from __future__ import annotations

from piccolo.columns.combination import Combinable

from server import clock
from server.accounts.tables import User
from server.customers.tables import Customer
from server.imports.parsing import nfkc
from server.imports.records import Lookups, Parsed, natural_keys, receipt_parts, records
from server.sales.credits import CORRECTION
from server.sales.tables import Collection, Order, OrderReturn, OrderSplit, ReturnSplit


async def chunked(make_query, values, size: int = 500) -> list[dict]:
    values = list(values)
    out: list[dict] = []
    for start in range(0, len(values), size):
        out.extend(await make_query(values[start:start + size]))
    return out


async def load_lookups(parsed: Parsed) -> Lookups:
    """The rows of the database the file's rows point at (by natural key), in a few set-based reads."""
    kind = parsed.kind
    lookups = Lookups(today=clock.today())
    rows = parsed.table.rows
    keys = natural_keys(parsed)

    def cells(column: str) -> set[str]:
        raw = {(parsed.cell(c, column) or "").strip() for _l, c in rows}
        return (raw | {nfkc(v) for v in raw}) - {""}

    if kind in ("customers", "orders"):
        users = await User.select(User.id, User.username, User.role, User.active, User.display_name, User.erp_code)
        lookups.users = {u["username"].lower(): u for u in users}
    if kind == "customers":
        found = await chunked(lambda part: Customer.select(
            Customer.id, Customer.code, Customer.name, Customer.owner, Customer.contact_name, Customer.phone,
            Customer.address, Customer.latitude, Customer.longitude, Customer.created_at).where(Customer.code.is_in(part)), keys)
        lookups.customers = {r["code"]: {**r, "created_on": clock.local_date(r["created_at"])} for r in found}
    elif kind == "orders":
        codes, names = cells("customer_code"), cells("customer_name")
        found = await chunked(lambda part: Customer.select(Customer.id, Customer.code, Customer.name)
                               .where(Customer.code.is_in(part)), codes)
        found += await chunked(lambda part: Customer.select(Customer.id, Customer.code, Customer.name)
                                .where(Customer.name.is_in(part)), names)
        lookups.customers = {r["code"] or f"id:{r['id']}": r for r in found}
        # The orders the file's rows are, and those its returns name (源单编号).
        orders = await chunked(lambda part: Order.select(
            Order.id, Order.number, Order.customer, Order.order_date, Order.due_date, Order.amount_cents,
            Order.cost_cents, Order.note, Order.voided_at).where(Order.number.is_in(part)), keys | cells("original"))
        by_id = {o["id"]: {**o, "splits": set()} for o in orders}
        splits = await chunked(lambda part: OrderSplit.select(OrderSplit.sales_order, OrderSplit.rep, OrderSplit.share_bp)
                                .where(OrderSplit.sales_order.is_in(part)), by_id)
        for s in splits:
            by_id[s["sales_order"]]["splits"].add((s["rep"], s["share_bp"]))
        await _corrected(by_id)
        # Keyed by the number as NFKC makes it (full-width digits and letters as ASCII), as the planner looks
        # numbers up, so an order stored under a full-width number is still found.
        lookups.orders = {nfkc(o["number"]): {**o, "splits": frozenset(o["splits"])} for o in by_id.values()}
        # What has been collected against the orders the file changes: an amount may not drop below it.
        paid = await chunked(lambda part: Collection.select(Collection.sales_order, Collection.amount_cents)
                              .where(Collection.sales_order.is_in(part)), by_id)
        for p in paid:
            lookups.collected[p["sales_order"]] = lookups.collected.get(p["sales_order"], 0) + p["amount_cents"]
        found_returns = await chunked(lambda part: OrderReturn.select(
            OrderReturn.id, OrderReturn.number, OrderReturn.sales_order, OrderReturn.amount_cents)
            .where(OrderReturn.number.is_in(part)), keys)
        lookups.returns = {nfkc(r["number"]): r for r in found_returns}
        returned = await chunked(lambda part: OrderReturn.select(OrderReturn.sales_order, OrderReturn.amount_cents)
                                  .where(OrderReturn.sales_order.is_in(part) & (OrderReturn.kind != CORRECTION)), by_id)
        for r in returned:
            lookups.returned[r["sales_order"]] = lookups.returned.get(r["sales_order"], 0) + r["amount_cents"]
    else:
        orders = await chunked(lambda part: Order.select(Order.id, Order.number, Order.amount_cents, Order.voided_at)
                                .where(Order.number.is_in(part)), cells("order_number"))
        lookups.orders = {nfkc(o["number"]): o for o in orders}
        existing = await chunked(lambda part: Collection.select(
            Collection.id, Collection.number, Collection.sales_order, Collection.received_on, Collection.amount_cents)
            .where(Collection.number.is_in(part)), keys)
        lookups.collections = {c["number"]: c for c in existing}
        await _receipts(lookups, {receipt for receipt, _order in receipt_parts(parsed, records(parsed)).values()})
        paid = await chunked(lambda part: Collection.select(Collection.sales_order, Collection.amount_cents)
                              .where(Collection.sales_order.is_in(part)), [o["id"] for o in orders])
        for p in paid:
            lookups.collected[p["sales_order"]] = lookups.collected.get(p["sales_order"], 0) + p["amount_cents"]
        # What was returned of them: receipts settle what is left owing, as the collection form counts it.
        returned = await chunked(lambda part: OrderReturn.select(OrderReturn.sales_order, OrderReturn.amount_cents)
                                  .where(OrderReturn.sales_order.is_in(part)), [o["id"] for o in orders])
        for r in returned:
            lookups.returned[r["sales_order"]] = lookups.returned.get(r["sales_order"], 0) + r["amount_cents"]
    return lookups


async def _receipts(lookups: Lookups, receipts: set[str]) -> None:
    """Every stored part of the file's receipts (`Lookups.receipts`): the receipts stored under the
    receipt's number or as "<receipt>/<order>", with their order's number and what they come to after
    corrections; each is in `lookups.collections` too."""
    receipts -= {""}

    def query(part: list[str]):
        where: Combinable = Collection.number.is_in(part)
        for receipt in part:  # LIKE's wildcards in a number only widen the read; the prefix is checked below
            where = where | Collection.number.like(f"{receipt}/%")
        return Collection.select(Collection.id, Collection.number, Collection.sales_order, Collection.received_on,
                                 Collection.amount_cents, Collection.sales_order.number.as_alias("order_number")
                                 ).where(where & (Collection.kind == "receipt"))

    found = await chunked(query, receipts, size=100)
    fixes = await chunked(lambda part: Collection.select(Collection.corrects, Collection.amount_cents)
                          .where(Collection.corrects.is_in(part)), [c["id"] for c in found])
    net: dict = {}
    for f in fixes:
        net[f["corrects"]] = net.get(f["corrects"], 0) + f["amount_cents"]
    for c in found:
        receipt = c["number"] if c["number"] in receipts else c["number"].rsplit("/", 1)[0]
        while receipt and receipt not in receipts and "/" in receipt:  # a receipt number holding "/" itself
            receipt = receipt.rsplit("/", 1)[0]
        if receipt not in receipts or not (c["number"] == receipt or c["number"].startswith(receipt + "/")):
            continue
        row = {"id": c["id"], "number": c["number"], "sales_order": c["sales_order"], "received_on": c["received_on"],
               "amount_cents": c["amount_cents"]}
        lookups.collections.setdefault(c["number"], row)
        lookups.receipts.setdefault(receipt, []).append(
            {**row, "order_number": c["order_number"], "net_cents": c["amount_cents"] + net.get(c["id"], 0)})


async def _corrected(by_id: dict) -> None:
    """Orders of a closed month as their dated corrections left them (server/sales/order_corrections.py):
    the file is compared with the figures now, and the split is the latest correction's."""
    fixes = await chunked(lambda part: OrderReturn.select(
        OrderReturn.id, OrderReturn.sales_order, OrderReturn.amount_cents, OrderReturn.margin_cents,
        OrderReturn.created_at).where(OrderReturn.sales_order.is_in(part) & (OrderReturn.kind == CORRECTION)), by_id)
    latest: dict = {}
    for f in fixes:
        order = by_id[f["sales_order"]]
        order["amount_cents"] -= f["amount_cents"]
        order["cost_cents"] += f["margin_cents"] - f["amount_cents"]
        if f["sales_order"] not in latest or f["created_at"] > latest[f["sales_order"]]["created_at"]:
            latest[f["sales_order"]] = f
    parts = await chunked(lambda part: ReturnSplit.select(ReturnSplit.sales_order, ReturnSplit.rep, ReturnSplit.share_bp)
                          .where(ReturnSplit.order_return.is_in(part) & (ReturnSplit.share_bp > 0)),
                          [f["id"] for f in latest.values()])
    for order_id in latest:
        by_id[order_id]["splits"] = set()
    for p in parts:
        by_id[p["sales_order"]]["splits"].add((p["rep"], p["share_bp"]))
