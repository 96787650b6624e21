"""Money to the cent: fill the stored credits of existing orders, collections and returns (largest
remainder over each order's split, `server/sales/credits.py`), and index what the boards read."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.querystring import QueryString

ID = "2026-12-02T05:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Stored credits in cents: backfill and indexes"

INDEXES = (
    "CREATE INDEX collection_split_rep_day ON collection_split (rep, received_on)",
    "CREATE INDEX order_return_split_rep_day ON order_return_split (rep, return_date)",
)


async def backfill(engine) -> int:
    """Allocate the cents of every order's split rows and of its collections, once, in Python (the one
    largest-remainder rule). Returns how many orders were filled."""
    from uuid import uuid4

    from server.sales.credits import collection_rows, split_rows

    splits: dict = {}
    for row in await engine.run_querystring(QueryString(
            "SELECT sales_order, rep, share_bp FROM order_split")) or []:
        splits.setdefault(str(row["sales_order"]), []).append((row["rep"], row["share_bp"]))
    orders = await engine.run_querystring(QueryString(
        "SELECT id, order_date, amount_cents, cost_cents FROM sales_order")) or []
    receipts: dict = {}
    for row in await engine.run_querystring(QueryString(
            "SELECT id, sales_order, received_on, amount_cents FROM collection")) or []:
        receipts.setdefault(str(row["sales_order"]), []).append(row)
    for order in orders:
        split = splits.get(str(order["id"]))
        if not split:
            continue
        for row in split_rows(order["id"], order["order_date"], order["amount_cents"], order["cost_cents"], split):
            await engine.run_querystring(QueryString(
                "UPDATE order_split SET amount_cents = {}, margin_cents = {} WHERE sales_order = {} AND rep = {}",
                row["amount_cents"], row["margin_cents"], order["id"], row["rep"]))
        for k in receipts.get(str(order["id"]), []):
            for row in collection_rows(k["id"], order["id"], k["received_on"], k["amount_cents"], split):
                await engine.run_querystring(QueryString(
                    "INSERT INTO collection_split (id, collection, sales_order, rep, received_on, amount_cents)"
                    " VALUES ({}, {}, {}, {}, {}, {})", uuid4(), row["collection"], row["sales_order"], row["rep"],
                    row["received_on"], row["amount_cents"]))
    return len(orders)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        await backfill(engine)
        for sql in INDEXES:
            await engine.run_ddl(sql)

    manager.add_raw(run)
    return manager
