"""Evaluation by rep kind: the kind of a rep (field or key account, on `app_user`), the kind a scorecard
template applies to (empty: every kind), and which template each rep of a cycle was assigned
(`evaluation_member`, with the reason: its team, its kind, or the default)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import UUID, ForeignKey, Varchar
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-12-03T04:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Evaluation: app_user rep_kind, scorecard_template rep_kind, evaluation_member"


def _stub(class_name: str, tablename: str) -> type[Table]:
    """A table as this migration knows it: its name and primary key only."""
    return type(class_name, (Table,), {"id": UUID(primary_key=True)}, tablename=tablename, schema=None)


User = _stub("User", "app_user")
ScorecardTemplate = _stub("ScorecardTemplate", "scorecard_template")
EvaluationCycle = _stub("EvaluationCycle", "evaluation_cycle")

COMMON = {"unique": False, "index": False, "index_method": IndexMethod.btree, "choices": None,
          "db_column_name": None, "secret": False, "primary_key": False, "null": False}


def fk(references: type[Table], on_delete: OnDelete, index: bool = False) -> tuple:
    return ForeignKey, {"references": references, "on_delete": on_delete, "on_update": OnUpdate.cascade,
                        "target_column": None, "null": False, "index": index}


ADDED = (
    ("User", "app_user", "rep_kind", Varchar, {"default": "field", "length": 16}),
    ("ScorecardTemplate", "scorecard_template", "rep_kind", Varchar, {"default": "", "length": 16}),
)
MEMBER = {"table_class_name": "EvaluationMember", "tablename": "evaluation_member", "schema": None}
MEMBER_COLUMNS = (
    ("id", (UUID, {"default": UUID4(), "primary_key": True})),
    ("cycle", fk(EvaluationCycle, OnDelete.cascade, index=True)),
    ("rep", fk(User, OnDelete.restrict, index=True)),
    ("template", fk(ScorecardTemplate, OnDelete.restrict)),
    ("basis", (Varchar, {"default": "default", "length": 8})),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)
    for class_name, tablename, name, column_class, params in ADDED:
        manager.add_column(table_class_name=class_name, tablename=tablename, column_name=name, db_column_name=name,
                           column_class_name=column_class.__name__, column_class=column_class,
                           params={**COMMON, **params}, schema=None)
    manager.add_table(class_name="EvaluationMember", tablename="evaluation_member", schema=None, columns=None)
    for name, (column_class, params) in MEMBER_COLUMNS:
        manager.add_column(**MEMBER, column_name=name, db_column_name=name, column_class_name=column_class.__name__,
                           column_class=column_class, params={**COMMON, **params})
    return manager
