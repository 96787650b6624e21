"""Field basics: visit photos, report threads (replies) and read receipts."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import UUID, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-12-02T04:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Visit photos, report replies and read receipts"


class User(Table, tablename="app_user", schema=None):
    id = UUID(default=UUID4(), null=False, primary_key=True, unique=False, index=False,
              index_method=IndexMethod.btree, choices=None, db_column_name=None, secret=False)


class Report(Table, tablename="report", schema=None):
    id = UUID(default=UUID4(), null=False, primary_key=True, unique=False, index=False,
              index_method=IndexMethod.btree, choices=None, db_column_name=None, secret=False)


COMMON = {"unique": False, "index": False, "index_method": IndexMethod.btree, "choices": None,
          "db_column_name": None, "secret": False}


def _fk(references, on_delete, index=False):
    return (ForeignKey, {"references": references, "on_delete": on_delete, "on_update": OnUpdate.cascade,
                         "target_column": None, "null": False, "primary_key": False, "index": index})


ID_COLUMN = ("id", UUID, {"default": UUID4(), "null": False, "primary_key": True})
TABLES = {
    ("VisitPhoto", "visit_photo"): (
        ID_COLUMN,
        ("visit", UUID, {"default": UUID4(), "null": False, "primary_key": False, "index": True}),
        ("rep", *_fk(User, OnDelete.restrict)),
        ("content_type", Varchar, {"default": "", "null": False, "primary_key": False, "length": 16}),
        ("size_bytes", Integer, {"default": 0, "null": False, "primary_key": False}),
        ("thumb_bytes", Integer, {"default": 0, "null": False, "primary_key": False}),
        ("created_at", Timestamptz, {"default": TimestamptzNow(), "null": False, "primary_key": False}),
    ),
    ("ReportReply", "report_reply"): (
        ID_COLUMN,
        ("report", *_fk(Report, OnDelete.cascade, index=True)),
        ("author", *_fk(User, OnDelete.restrict)),
        ("body", Text, {"default": "", "null": False, "primary_key": False}),
        ("created_at", Timestamptz, {"default": TimestamptzNow(), "null": False, "primary_key": False}),
    ),
    ("ReportRead", "report_read"): (
        ID_COLUMN,
        ("report", *_fk(Report, OnDelete.cascade, index=True)),
        ("reader", *_fk(User, OnDelete.restrict)),
        ("receipt_key", Varchar, {"default": "", "null": False, "primary_key": False, "length": 80, "unique": True}),
        ("read_at", Timestamptz, {"default": TimestamptzNow(), "null": False, "primary_key": False}),
    ),
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)
    for (class_name, tablename), columns in TABLES.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params in columns:
            manager.add_column(table_class_name=class_name, tablename=tablename, schema=None, column_name=name,
                               db_column_name=name, column_class_name=column_class.__name__,
                               column_class=column_class, params={**COMMON, **params})
    return manager
