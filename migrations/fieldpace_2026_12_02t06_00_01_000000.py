"""ERP imports: one saved source per (kind, name)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-02T06:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "ERP imports: unique (kind, name) of import_source"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        await engine_finder().run_ddl("CREATE UNIQUE INDEX import_source_key ON import_source (kind, name)")

    manager.add_raw(run)
    return manager
