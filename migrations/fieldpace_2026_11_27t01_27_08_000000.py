"""Composite indexes for the hot reads (Piccolo's auto migrations only make single-column ones)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-11-27T01:27:08:000000"
VERSION = "1.38.0"
DESCRIPTION = "Composite indexes: visits by rep and day, one report per rep, kind and period"

INDEXES = (
    "CREATE INDEX visit_rep_date ON visit (rep, visit_date)",
    "CREATE INDEX visit_date_idx ON visit (visit_date)",
    "CREATE UNIQUE INDEX report_rep_kind_period ON report (rep, kind, period_start)",
    "CREATE INDEX report_status_submitted ON report (status, submitted_at)",
    "CREATE UNIQUE INDEX team_manager_unique ON team_manager (team, manager)",
    "CREATE INDEX customer_owner_name ON customer (owner, name)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def create_indexes():
        engine = engine_finder()
        for sql in INDEXES:
            await engine.run_ddl(sql)

    manager.add_raw(create_indexes)
    return manager
