"""Sync indexes, the counter row, and server sequence numbers for records made before sync existed."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder
from piccolo.engine.sqlite import SQLiteEngine

ID = "2026-11-27T01:39:31:000000"
VERSION = "1.38.0"
DESCRIPTION = "Sync indexes, counter row, backfilled server_seq"

INDEXES = (
    "CREATE INDEX customer_owner_seq ON customer (owner, server_seq)",
    "CREATE INDEX visit_rep_seq ON visit (rep, server_seq)",
    "CREATE INDEX report_rep_seq ON report (rep, server_seq)",
    "CREATE INDEX tombstone_owner_seq ON sync_tombstone (owner, server_seq)",
)
# Existing rows get sequence numbers after one another, table by table; the counter continues after them.
SYNCED = ("customer", "visit", "report")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for sql in INDEXES:
            await engine.run_ddl(sql)
        offset = 0
        for table in SYNCED:
            if isinstance(engine, SQLiteEngine):
                await engine.run_ddl(
                    f"UPDATE {table} SET server_seq = {offset} + s.rn FROM "
                    f"(SELECT rowid AS r, ROW_NUMBER() OVER (ORDER BY rowid) AS rn FROM {table}) AS s "
                    f"WHERE {table}.rowid = s.r"
                )
            else:
                await engine.run_ddl(
                    f"UPDATE {table} SET server_seq = {offset} + s.rn FROM "
                    f"(SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS rn FROM {table}) AS s "
                    f"WHERE {table}.id = s.id"
                )
            rows = await engine.run_ddl(f"SELECT COUNT(*) AS n FROM {table}")
            offset += rows[0]["n"]
        await engine.run_ddl(f"INSERT INTO sync_counter (id, value) VALUES (1, {offset})")

    manager.add_raw(run)
    return manager
