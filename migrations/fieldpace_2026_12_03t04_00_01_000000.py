"""Evaluation by rep kind: one template per rep and cycle; the two ready templates apply to their kind
(field reps, key account reps), every version of them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-03T04:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "Evaluation: evaluation_member unique key, the ready templates' rep kinds"

STATEMENTS = (
    "CREATE UNIQUE INDEX evaluation_member_once ON evaluation_member (cycle, rep)",
    "UPDATE scorecard_template SET rep_kind = code WHERE code IN ('field', 'key_account')",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for sql in STATEMENTS:
            await engine.run_ddl(sql)

    manager.add_raw(run)
    return manager
