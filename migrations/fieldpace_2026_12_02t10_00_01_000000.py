"""Evaluation: a rep nominates a colleague once per cycle."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-02T10:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Evaluation: peer nominations unique key"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        await engine_finder().run_ddl(
            "CREATE UNIQUE INDEX peer_nomination_once ON peer_nomination (cycle, ratee, peer)")

    manager.add_raw(run)
    return manager
