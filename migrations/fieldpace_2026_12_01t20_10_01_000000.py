"""Fill the customer match keys for existing rows; index them and the merge log."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.querystring import QueryString

ID = "2026-12-01T20:10:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Customer match keys: backfill and indexes"

INDEXES = (
    "CREATE INDEX customer_name_key ON customer (name_key)",
    "CREATE INDEX customer_phone_key ON customer (phone_key)",
)


async def backfill(engine) -> int:
    """Fill the keys of customers that have none. The normaliser is Python (NFKC, suffixes), so the backfill
    is too: one UPDATE per customer, once. Returns how many were filled."""
    from server.customers.keys import name_key, phone_key

    rows = await engine.run_querystring(QueryString(
        "SELECT id, name, phone FROM customer WHERE name_key = '' AND phone_key = ''"))
    for row in rows or []:
        await engine.run_querystring(QueryString(
            "UPDATE customer SET name_key = {}, phone_key = {} WHERE id = {}",
            name_key(row["name"] or ""), phone_key(row["phone"] or ""), row["id"],
        ))
    return len(rows or [])


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        await backfill(engine)
        for sql in INDEXES:
            await engine.run_ddl(sql)

    manager.add_raw(run)
    return manager
