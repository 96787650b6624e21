"""Revised plans: one approved plan per year becomes one approved whole-year plan per year, plus at most one
approved revision per (year, date it takes over from)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-02T07:00:04:000000"
VERSION = "1.38.0"
DESCRIPTION = "Revised plans: approved plans unique per (year, effective_from)"

STATEMENTS = [
    "DROP INDEX target_plan_one_approved",
    "CREATE UNIQUE INDEX target_plan_one_approved ON target_plan (year)"
    " WHERE status = 'approved' AND effective_from IS NULL",
    "CREATE UNIQUE INDEX target_plan_one_revision ON target_plan (year, effective_from)"
    " WHERE status = 'approved' AND effective_from IS NOT NULL",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager
