"""Evaluation: peers nominated by the rep (approved or replaced by the manager); its unique key is the next
migration (Piccolo runs raw SQL before it adds tables)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import UUID, ForeignKey, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-12-02T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Evaluation: peer nominations"


def _stub(class_name: str, tablename: str) -> type[Table]:
    """A table as this migration knows it: its name and primary key only."""
    return type(class_name, (Table,), {"id": UUID(primary_key=True)}, tablename=tablename, schema=None)


User = _stub("User", "app_user")
EvaluationCycle = _stub("EvaluationCycle", "evaluation_cycle")

COMMON = {"unique": False, "index": False, "index_method": IndexMethod.btree, "choices": None,
          "db_column_name": None, "secret": False, "primary_key": False}


def fk(references: type[Table], on_delete: OnDelete, index: bool = False) -> tuple:
    return ForeignKey, {"references": references, "on_delete": on_delete, "on_update": OnUpdate.cascade,
                        "target_column": None, "null": False, "index": index}


COLUMNS = (
    ("id", (UUID, {"default": UUID4(), "null": False, "primary_key": True})),
    ("cycle", fk(EvaluationCycle, OnDelete.cascade, index=True)),
    ("ratee", fk(User, OnDelete.restrict, index=True)),
    ("peer", fk(User, OnDelete.restrict)),
    ("nominated_at", (Timestamptz, {"default": TimestamptzNow(), "null": False})),
    ("decision", (Varchar, {"default": "", "null": False, "length": 10})),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)
    manager.add_table(class_name="PeerNomination", tablename="peer_nomination", schema=None, columns=None)
    for name, (column_class, params) in COLUMNS:
        manager.add_column(table_class_name="PeerNomination", tablename="peer_nomination", schema=None,
                           column_name=name, db_column_name=name, column_class_name=column_class.__name__,
                           column_class=column_class, params={**COMMON, **params})
    return manager
