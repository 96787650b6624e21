"""The sign-in limit's composite index (Piccolo's auto migrations make single-column ones only)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-01T18:53:10:000000"
VERSION = "1.38.0"
DESCRIPTION = "Sign-in failures: index on key and time"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        # The rate limit counts one key's failures inside the window; the sessions of a user are revoked together.
        await engine.run_ddl("CREATE INDEX login_failure_key_at ON login_failure (key, failed_at)")

    manager.add_raw(run)
    return manager
