"""KPIs, target plans and their cells, changes after locking, pace thresholds and the work calendar."""

from piccolo.columns import UUID, Boolean, Date, DoublePrecision, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.accounts.tables import User

UNITS = ("money", "count", "percent", "score")
DIRECTIONS = ("higher", "lower")
# sum: accumulates over a period (revenue, visits): children add up to the parent, expected-to-date grows
# with elapsed time. rate: a ratio or average (conversion, satisfaction): children inherit the parent's
# value and the whole target applies from day one.
KINDS = ("sum", "rate")
SOURCES = ("visits", "customers", "orders", "collections", "opportunities")
PERIOD_KINDS = ("year", "quarter", "month")
SCOPES = ("company", "team", "rep")
PLAN_STATUSES = ("draft", "approved")


class Kpi(Table, tablename="kpi"):
    id = UUID(primary_key=True)
    code = Varchar(length=40, unique=True)
    # Built-in KPIs are named by the translation layer from their code; custom ones by the admin.
    name = Varchar(length=100, default="")
    unit = Varchar(length=16)
    direction = Varchar(length=8, default="higher")
    kind = Varchar(length=8, default="sum")
    builtin = Boolean(default=False)
    # Custom KPIs: a count or a sum over a record type, with one optional equality filter.
    source = Varchar(length=20, default="")
    measure = Varchar(length=40, default="count")  # count | sum:<field>
    filter_field = Varchar(length=40, default="")
    filter_value = Varchar(length=100, default="")
    # Lower-is-better KPIs: the worst acceptable value (attainment 0 there, 100 % at the target).
    floor = DoublePrecision(null=True, default=None)
    definition = Text(default="")
    active = Boolean(default=True)
    position = Integer(default=0)
    created_at = Timestamptz()


class TargetPlan(Table, tablename="target_plan"):
    id = UUID(primary_key=True)
    name = Varchar(length=120)
    year = Integer()
    status = Varchar(length=12, default="draft")  # draft | approved (approved plans are locked)
    created_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    approved_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    approved_at = Timestamptz(null=True, default=None)
    # A revised plan takes over from this date: for periods ending before it, the plan approved before
    # stays in force (None: the whole year).
    effective_from = Date(null=True, default=None)


COMPANY_SCOPE_ID = "00000000-0000-0000-0000-000000000000"


class Target(Table, tablename="kpi_target"):
    """One cell of a plan: a KPI's target for one period and one scope (the company, a team, a rep).

    `period` is a code: "2026", "2026-Q1" or "2026-03". `scope_id` is the team's or rep's id, or
    COMPANY_SCOPE_ID for the company (so one unique index covers every cell)."""

    id = UUID(primary_key=True)
    plan = ForeignKey(references=TargetPlan, null=False, on_delete=OnDelete.cascade, index=True)
    kpi = ForeignKey(references=Kpi, null=False, on_delete=OnDelete.restrict)
    period = Varchar(length=10)
    period_kind = Varchar(length=8)
    period_start = Date()
    period_end = Date()  # inclusive
    scope_kind = Varchar(length=8)
    scope_id = UUID()
    value = DoublePrecision()
    updated_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    updated_at = Timestamptz()


class TargetChange(Table, tablename="target_change"):
    """A change to a cell of an approved (locked) plan: who, when, from what, to what, and why."""

    id = UUID(primary_key=True)
    plan = ForeignKey(references=TargetPlan, null=False, on_delete=OnDelete.cascade, index=True)
    target = ForeignKey(references=Target, null=False, on_delete=OnDelete.cascade)
    old_value = DoublePrecision(null=True, default=None)  # None: the cell had no target before
    new_value = DoublePrecision()
    reason = Text(default="")
    changed_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    changed_at = Timestamptz()


class PaceSetting(Table, tablename="pace_setting"):
    """The admin's thresholds on the pace index (actual / expected-to-date): one row, id 1."""

    id = Integer(primary_key=True)
    on_track_min = DoublePrecision(default=0.95)
    at_risk_min = DoublePrecision(default=0.8)
    updated_at = Timestamptz()


class WorkCalendar(Table, tablename="work_calendar"):
    """Exceptions to Monday-to-Friday: public holidays (working False) and make-up working days
    (调休, working True)."""

    id = UUID(primary_key=True)
    day = Date(unique=True)
    working = Boolean(default=False)
    note = Varchar(length=100, default="")


class PaceSnapshot(Table, tablename="pace_snapshot"):
    """The pace of one KPI for one scope (rep, team, the company) in one period, as the `pace.refresh` job
    last computed it with `server.targets.pace.compute`. One row per (scope_kind, scope_id, kpi, period):
    a refresh is an upsert. A cache for readers that may take a figure some minutes old, never the source
    of truth (the engine is)."""

    id = UUID(primary_key=True)
    scope_kind = Varchar(length=8)  # rep | team | company
    scope_id = UUID()  # the company: COMPANY_SCOPE_ID
    kpi = Varchar(length=40)  # the KPI's code
    period = Varchar(length=10)  # "2026-12", "2026-Q4"
    actual = DoublePrecision(null=True, default=None)
    target = DoublePrecision(null=True, default=None)
    expected = DoublePrecision(null=True, default=None)
    pace_index = DoublePrecision(null=True, default=None)
    projection = DoublePrecision(null=True, default=None)
    status = Varchar(length=12, default="")
    elapsed = DoublePrecision(default=0.0)
    computed_at = Timestamptz()
