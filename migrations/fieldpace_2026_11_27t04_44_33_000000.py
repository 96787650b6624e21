"""Indexes for results and targets, the built-in KPIs and the default pace thresholds."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-11-27T04:44:33:000000"
VERSION = "1.38.0"
DESCRIPTION = "Results and targets: composite indexes, built-in KPIs, pace thresholds"

INDEXES = (
    "CREATE UNIQUE INDEX customer_code_unique ON customer (code)",
    "CREATE INDEX customer_owner_created ON customer (owner, created_at)",
    "CREATE INDEX visit_date_rep_sat ON visit (visit_date, rep, satisfaction)",
    "CREATE INDEX order_split_rep_date ON order_split (rep, order_date)",
    "CREATE INDEX order_split_date_rep ON order_split (order_date, rep, share_bp)",
    "CREATE UNIQUE INDEX order_split_unique ON order_split (sales_order, rep)",
    "CREATE INDEX sales_order_date ON sales_order (order_date)",
    "CREATE INDEX collection_received ON collection (received_on)",
    "CREATE INDEX collection_order_paid ON collection (sales_order, received_on, amount_cents)",
    "CREATE INDEX opportunity_owner_stage ON opportunity (owner, stage)",
    "CREATE INDEX opportunity_closed ON opportunity (closed_on, owner)",
    "CREATE UNIQUE INDEX kpi_target_cell ON kpi_target (plan, kpi, period, scope_kind, scope_id)",
    "CREATE INDEX kpi_target_plan_period ON kpi_target (plan, period)",
    "CREATE INDEX target_plan_year ON target_plan (year, status)",
    # One approved (locked) plan per year, whatever two admins click at the same moment.
    "CREATE UNIQUE INDEX target_plan_one_approved ON target_plan (year) WHERE status = 'approved'",
)

# code, unit, direction, kind, position. Names and definitions come from the translation layer.
BUILTIN_KPIS = (
    ("revenue", "money", "higher", "sum", 1),
    ("collections", "money", "higher", "sum", 2),
    ("gross_margin", "money", "higher", "sum", 3),
    ("gross_margin_pct", "percent", "higher", "rate", 4),
    ("visits", "count", "higher", "sum", 5),
    ("new_customers", "count", "higher", "sum", 6),
    ("conversion_rate", "percent", "higher", "rate", 7),
    ("satisfaction", "score", "higher", "rate", 8),
)
CREATED = "2026-11-27 00:00:00+00:00"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)

    async def run():
        engine = engine_finder()
        for sql in INDEXES:
            await engine.run_ddl(sql)
        for number, (code, unit, direction, kind, position) in enumerate(BUILTIN_KPIS, start=1):
            await engine.run_ddl(
                "INSERT INTO kpi (id, code, name, unit, direction, kind, builtin, source, measure, filter_field,"
                " filter_value, floor, definition, active, position, created_at) VALUES"
                f" ('00000000-0000-0000-0000-0000000000{number:02d}', '{code}', '', '{unit}', '{direction}',"
                f" '{kind}', TRUE, '', 'count', '', '', NULL, '', TRUE, {position}, '{CREATED}')"
            )
        await engine.run_ddl(
            f"INSERT INTO pace_setting (id, on_track_min, at_risk_min, updated_at) VALUES (1, 0.95, 0.8, '{CREATED}')"
        )

    manager.add_raw(run)
    return manager
