"""Evaluation: scorecard templates, dimensions and items, cycles, rater assignments, ratings, scores,
calibration adjustments and the audit log (indexes and the two ready templates are the next migrations)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import (
    UUID,
    Boolean,
    Date,
    DoublePrecision,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-12-02T08:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Evaluation tables"


def _stub(class_name: str, tablename: str) -> type[Table]:
    """A table as this migration knows it: its name and primary key only."""
    return type(class_name, (Table,), {"id": UUID(primary_key=True)}, tablename=tablename, schema=None)


User = _stub("User", "app_user")
Team = _stub("Team", "team")
ScorecardTemplate = _stub("ScorecardTemplate", "scorecard_template")
ScorecardDimension = _stub("ScorecardDimension", "scorecard_dimension")
ScorecardItem = _stub("ScorecardItem", "scorecard_item")
EvaluationCycle = _stub("EvaluationCycle", "evaluation_cycle")
RaterAssignment = _stub("RaterAssignment", "rater_assignment")
Score = _stub("Score", "evaluation_score")

COMMON = {"unique": False, "index": False, "index_method": IndexMethod.btree, "choices": None,
          "db_column_name": None, "secret": False, "primary_key": False}
ID_COLUMN = ("id", (UUID, {"default": UUID4(), "null": False, "primary_key": True}))


def text(length: int, default: str = "") -> tuple:
    return Varchar, {"default": default, "null": False, "length": length}


def fk(references: type[Table], on_delete: OnDelete, null: bool = False, index: bool = False) -> tuple:
    return ForeignKey, {"references": references, "on_delete": on_delete, "on_update": OnUpdate.cascade,
                        "target_column": None, "null": null, "index": index}


NOW = (Timestamptz, {"default": TimestamptzNow(), "null": False})
MAYBE_AT = (Timestamptz, {"default": None, "null": True})
LONG_TEXT = (Text, {"default": "", "null": False})


def integer(default: int = 0) -> tuple:
    return Integer, {"default": default, "null": False}


def boolean(default: bool) -> tuple:
    return Boolean, {"default": default, "null": False}


def number(default: float | None) -> tuple:
    return DoublePrecision, {"default": default, "null": default is None}


TABLES = {
    ("ScorecardTemplate", "scorecard_template"): (
        ("code", text(40)), ("version", integer(1)), ("name_zh", text(100)), ("name_en", text(100)),
        ("role", text(16, "rep")), ("team", fk(Team, OnDelete.set_null, null=True)),
        ("current", boolean(True)), ("builtin", boolean(False)), ("created_at", NOW)),
    ("ScorecardDimension", "scorecard_dimension"): (
        ("template", fk(ScorecardTemplate, OnDelete.cascade, index=True)), ("position", integer()),
        ("name_zh", text(100)), ("name_en", text(100)), ("weight_bp", integer())),
    ("ScorecardItem", "scorecard_item"): (
        ("dimension", fk(ScorecardDimension, OnDelete.cascade, index=True)), ("position", integer()),
        ("name_zh", text(100)), ("name_en", text(100)), ("weight_bp", integer()), ("source", text(12)),
        ("kpi_code", text(40)), ("process", text(32)), ("floor", number(0.0)), ("cap", number(1.0)),
        ("band_worst", number(None)), ("norm", number(None)), ("anchors", (Text, {"default": "[]", "null": False}))),
    ("EvaluationCycle", "evaluation_cycle"): (
        ("template", fk(ScorecardTemplate, OnDelete.restrict, index=True)),
        ("team", fk(Team, OnDelete.restrict, index=True)), ("kind", text(8)), ("period", text(10)),
        ("state", text(16, "open")), ("guide", text(20)), ("rating_due", (Date, {"default": None, "null": True})),
        ("opened_by", fk(User, OnDelete.set_null, null=True)), ("opened_at", NOW), ("closed_at", MAYBE_AT),
        ("published_at", MAYBE_AT)),
    ("RaterAssignment", "rater_assignment"): (
        ("cycle", fk(EvaluationCycle, OnDelete.cascade, index=True)),
        ("ratee", fk(User, OnDelete.restrict, index=True)), ("rater", fk(User, OnDelete.restrict, index=True)),
        ("role", text(8)), ("submitted_at", MAYBE_AT)),
    ("Rating", "evaluation_rating"): (
        ("assignment", fk(RaterAssignment, OnDelete.cascade, index=True)),
        ("item", fk(ScorecardItem, OnDelete.restrict)), ("level", integer()), ("comment", LONG_TEXT),
        ("updated_at", NOW)),
    ("Score", "evaluation_score"): (
        ("cycle", fk(EvaluationCycle, OnDelete.cascade, index=True)), ("rep", fk(User, OnDelete.restrict, index=True)),
        ("final", boolean(False)), ("total", number(None)), ("calibrated", number(None)),
        ("formula_version", text(8, "1")), ("snapshot", (Text, {"default": "{}", "null": False})),
        ("computed_at", NOW), ("acknowledged_at", MAYBE_AT), ("reply", LONG_TEXT)),
    ("CalibrationAdjustment", "calibration_adjustment"): (
        ("score", fk(Score, OnDelete.cascade, index=True)), ("adjusted_by", fk(User, OnDelete.restrict)),
        ("before", number(None)), ("after", (DoublePrecision, {"default": 0.0, "null": False})),
        ("reason", LONG_TEXT), ("at", NOW)),
    ("EvaluationAudit", "evaluation_audit"): (
        ("cycle", fk(EvaluationCycle, OnDelete.cascade, null=True, index=True)),
        ("score", fk(Score, OnDelete.cascade, null=True)), ("actor", fk(User, OnDelete.set_null, null=True)),
        ("action", text(24)), ("detail", (Text, {"default": "{}", "null": False})), ("at", NOW)),
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)
    for (class_name, tablename), columns in TABLES.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, (column_class, params) in (ID_COLUMN, *columns):
            manager.add_column(table_class_name=class_name, tablename=tablename, schema=None, column_name=name,
                               db_column_name=name, column_class_name=column_class.__name__,
                               column_class=column_class, params={**COMMON, **params})
    return manager
