"""Pace snapshots: the `pace.refresh` job's figures per (scope kind, scope id, KPI, period), one row each (the
unique key is the next migration: raw statements run before the tables are made)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID, DoublePrecision, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T20:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Pace snapshots"

TABLE = {"table_class_name": "PaceSnapshot", "tablename": "pace_snapshot", "schema": None}
COMMON = {"unique": False, "index": False, "index_method": IndexMethod.btree, "choices": None,
          "db_column_name": None, "secret": False}

# name, class, params
COLUMNS = (
    ("id", UUID, {"default": UUID4(), "null": False, "primary_key": True}),
    ("scope_kind", Varchar, {"default": "", "null": False, "primary_key": False, "length": 8}),
    ("scope_id", UUID, {"default": UUID4(), "null": False, "primary_key": False}),
    ("kpi", Varchar, {"default": "", "null": False, "primary_key": False, "length": 40}),
    ("period", Varchar, {"default": "", "null": False, "primary_key": False, "length": 10}),
    ("actual", DoublePrecision, {"default": None, "null": True, "primary_key": False}),
    ("target", DoublePrecision, {"default": None, "null": True, "primary_key": False}),
    ("expected", DoublePrecision, {"default": None, "null": True, "primary_key": False}),
    ("pace_index", DoublePrecision, {"default": None, "null": True, "primary_key": False}),
    ("projection", DoublePrecision, {"default": None, "null": True, "primary_key": False}),
    ("status", Varchar, {"default": "", "null": False, "primary_key": False, "length": 12}),
    ("elapsed", DoublePrecision, {"default": 0.0, "null": False, "primary_key": False}),
    ("computed_at", Timestamptz, {"default": TimestamptzNow(), "null": False, "primary_key": False}),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)
    manager.add_table(class_name="PaceSnapshot", tablename="pace_snapshot", schema=None, columns=None)
    for name, column_class, params in COLUMNS:
        manager.add_column(**TABLE, column_name=name, db_column_name=name, column_class_name=column_class.__name__,
                           column_class=column_class, params={**COMMON, **params})
    return manager
