"""Pace snapshots: the unique key a refresh upserts on."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-01T20:40:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Pace snapshots: unique (scope_kind, scope_id, kpi, period)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        # A refresh is an upsert on this key: running it twice leaves one row per figure.
        await engine_finder().run_ddl(
            "CREATE UNIQUE INDEX pace_snapshot_key ON pace_snapshot (scope_kind, scope_id, kpi, period)")

    manager.add_raw(run)
    return manager
