"""Jobs and notifications: the unique and composite indexes, and the alert rules with their defaults."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-12-01T18:54:21:000000"
VERSION = "1.38.0"
DESCRIPTION = "Jobs and notifications: unique run slots, dedup and queue indexes, default alert rules"

INDEXES = (
    # A scheduled slot runs once across every process: the second INSERT of (job, slot) does nothing.
    "CREATE UNIQUE INDEX job_run_job_slot ON job_run (job, slot)",
    "CREATE INDEX job_run_job_started ON job_run (job, started_at)",
    "CREATE INDEX notification_recipient_created ON notification (recipient, created_at)",
    "CREATE INDEX notification_recipient_unread ON notification (recipient, read_at)",
    "CREATE UNIQUE INDEX push_delivery_once ON push_delivery (notification, subscription)",
    "CREATE INDEX push_delivery_due ON push_delivery (state, next_attempt_at)",
)

# code, enabled, params (JSON), to_rep, to_manager
RULES = (
    ("lagging", '{"min_elapsed": 0.25}'),
    ("inactivity", '{"days": 3}'),
    ("anomaly", '{"fraction": 0.5}'),
    ("missing_report", '{"cutoff": "18:00"}'),
    ("feedback", "{}"),
)
CREATED = "2026-12-01 00:00:00+00:00"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for sql in INDEXES:
            await engine.run_ddl(sql)
        for number, (code, params) in enumerate(RULES, start=1):
            await engine.run_ddl(
                "INSERT INTO alert_rule (id, code, enabled, params, to_rep, to_manager, updated_at) VALUES"
                f" ('00000000-0000-0000-0001-0000000000{number:02d}', '{code}', TRUE, '{params}', TRUE, TRUE,"
                f" '{CREATED}')"
            )

    manager.add_raw(run)
    return manager
