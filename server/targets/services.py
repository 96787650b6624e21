"""KPI catalogue, pace settings, work calendar and target plans: queries and transactions.

Formulas (splits, seasonality, suggestions, SMART) live in server/targets/formulas.py and actuals in
server/targets/actuals.py; this module fetches, checks ownership and writes. Every function that a page
calls takes the Actor. `thresholds()`, `calendar_overrides()`, `approved_plan()` and `targets_for()` are
for the other domains (pace, dashboards) and trust their caller.

Ownership of cells: admin writes any cell; a manager the rows of the teams they lead and of those teams'
reps (the company row and other teams are read-only, or hidden); reps have no access to plans. An
approved plan is locked: only an admin changes it, with a reason, and every change is a TargetChange row.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID, uuid4

from litestar.exceptions import NotFoundException, PermissionDeniedException

from server import clock, db, validation
from server.accounts.permissions import Actor
from server.accounts.tables import Team, User
from server.db import is_sqlite
from server.i18n import N_, _, fmt_number
from server.targets import actuals, formulas
from server.targets.tables import (
    COMPANY_SCOPE_ID,
    DIRECTIONS,
    KINDS,
    UNITS,
    Kpi,
    PaceSetting,
    Target,
    TargetChange,
    TargetPlan,
    WorkCalendar,
)
from server.web import Conflict, FieldErrors

COMPANY_ID = UUID(COMPANY_SCOPE_ID)
MAX_VALUE = 1e12
STATUS_LABELS = {"draft": N_("Draft"), "approved": N_("Approved (locked)")}
PERIOD_METHODS = {"equal": N_("Equal months"), "percentages": N_("Custom percentages"),
                  "seasonality": N_("Seasonality from last year's actuals")}
ORG_METHODS = {"equal": N_("Equal shares"), "weights": N_("Weights typed per child"),
               "share": N_("Share of last year's result")}


# --- Parsing -----------------------------------------------------------------------------------

_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def parse_value(raw: object, decimals: int, errors: dict, name: str, *, required: bool = True,
                high: float = MAX_VALUE) -> float | None:
    """A target value as typed: "1234.56" or "1,234.56"; not negative, at most `decimals` decimals."""
    text = "" if raw is None else str(raw).strip().replace(",", "").replace(" ", "").replace("\u00a0", "")
    if not text:
        if required:
            errors[name] = _("This field is required.")
        return None
    if text.startswith("-") and _NUMBER.match(text[1:]):
        errors[name] = _("Enter zero or more.")
        return None
    if not _NUMBER.match(text):
        errors[name] = _("Enter a number, such as 1234.56.")
        return None
    if "." in text and len(text.split(".")[1].rstrip("0")) > decimals:
        errors[name] = (_("Enter a whole number.") if decimals == 0
                        else _("At most %(n)s decimals.", n=decimals))
        return None
    value = float(text)
    if not math.isfinite(value) or value > high:
        errors[name] = _("Enter a number from %(low)s to %(high)s.", low=0, high=fmt_number(high))
        return None
    return value


def _weight(raw: object, errors: dict, name: str) -> float | None:
    text = "" if raw is None else str(raw).strip().replace(",", "")
    if not text:
        errors[name] = _("This field is required.")
        return None
    if not _NUMBER.match(text):
        errors[name] = _("Enter zero or more, such as 12.5.")
        return None
    value = float(text)
    if value > MAX_VALUE:
        errors[name] = _("Enter a number from %(low)s to %(high)s.", low=0, high=fmt_number(MAX_VALUE))
        return None
    return value


def _now():
    return clock.now()


# --- KPI catalogue ---------------------------------------------------------------------------


async def kpi_catalogue() -> list[actuals.KpiDef]:
    """Every KPI, active first (everyone signed in may read the catalogue)."""
    return sorted(await actuals.kpis(active_only=False), key=lambda k: (not k.active, k.position, k.code))


async def kpi_get(kpi_id: UUID) -> actuals.KpiDef | None:
    for kpi in await actuals.kpis(active_only=False):
        if kpi.id == kpi_id:
            return kpi
    return None


def slug(name: str) -> str:
    """An ASCII code from a KPI's name ("Demo visits" -> "demo_visits"); "" when nothing ASCII is left."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    code = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    return code[:32].strip("_")


def validate_kpi(data: dict) -> dict:
    """A custom KPI's definition from a form: every choice from the whitelists of actuals.SOURCES."""
    errors: dict[str, str] = {}
    clean = {
        "name": validation.text(data, "name", errors, required=True, max_len=100),
        "unit": validation.choice(data, "unit", UNITS, errors, default="count"),
        "direction": validation.choice(data, "direction", DIRECTIONS, errors, default="higher"),
        "kind": validation.choice(data, "kind", KINDS, errors, default="sum"),
        "source": validation.choice(data, "source", tuple(actuals.SOURCES), errors),
        "definition": validation.text(data, "definition", errors, max_len=1000),
        "filter_field": validation.text(data, "filter_field", errors, max_len=40),
        "filter_value": validation.text(data, "filter_value", errors, max_len=100),
        "measure": validation.text(data, "measure", errors, max_len=40) or "count",
    }
    source = actuals.SOURCES.get(clean["source"])
    if source is not None:
        measure = clean["measure"]
        if measure != "count" and not (measure.startswith("sum:") and measure[4:] in source["sums"]):
            errors["measure"] = _("Choose a count, or a sum of one of this record type's amounts: %(fields)s.",
                                  fields=", ".join(source["sums"]) or "—")
        if clean["filter_field"]:
            if clean["filter_field"] not in source["filters"]:
                errors["filter_field"] = _("This record type can be filtered on: %(fields)s.",
                                           fields=", ".join(source["filters"]) or "—")
            elif not clean["filter_value"]:
                errors["filter_value"] = _("Enter the value to count.")
            elif clean["filter_field"] == "satisfaction" and clean["filter_value"] not in ("1", "2", "3", "4", "5"):
                errors["filter_value"] = _("Satisfaction is a whole number from 1 to 5.")
        else:
            clean["filter_value"] = ""
        if clean["kind"] == "rate" and measure == "count":
            errors["measure"] = _("A rate averages an amount per record: choose a sum.")
    floor_raw = str(data.get("floor") or "").strip()
    clean["floor"] = None
    if floor_raw:
        if clean["direction"] != "lower":
            errors["floor"] = _("A floor applies to lower-is-better KPIs only.")
        else:
            clean["floor"] = parse_value(floor_raw, 2, errors, "floor")
    if errors:
        raise FieldErrors(errors)
    return clean


async def _name_taken(name: str, except_id: UUID | None) -> bool:
    wanted = name.casefold()
    for kpi in await actuals.kpis(active_only=False):
        if kpi.id == except_id:
            continue
        names = {kpi.name.casefold(), kpi.label.casefold()}
        if kpi.builtin and kpi.code in actuals.BUILTIN_NAMES:
            names.add(actuals.BUILTIN_NAMES[kpi.code].casefold())
        if wanted in names:
            return True
    return False


async def _unique_code(name: str) -> str:
    base = slug(name) or f"kpi_{uuid4().hex[:8]}"
    taken = {r["code"] for r in await Kpi.select(Kpi.code)}
    code, n = base, 2
    while code in taken:
        code = f"{base}_{n}"
        n += 1
    return code


async def create_kpi(actor: Actor, data: dict) -> UUID:
    _admin(actor)
    clean = validate_kpi(data)
    async with db.write_transaction():
        if await _name_taken(clean["name"], None):
            raise FieldErrors({"name": _("A KPI with this name exists already.")})
        position = (await Kpi.select(Kpi.position).order_by(Kpi.position, ascending=False).first() or {}).get(
            "position", 0)
        kid = uuid4()
        await Kpi.insert(Kpi(id=kid, code=await _unique_code(clean["name"]), builtin=False, active=True,
                             position=(position or 0) + 1, created_at=_now(), **clean))
    return kid


async def update_kpi(actor: Actor, kpi_id: UUID, data: dict) -> None:
    """Edit a custom KPI (its code stays: targets and links keep pointing at it)."""
    _admin(actor)
    kpi = await kpi_get(kpi_id)
    if kpi is None:
        raise NotFoundException()
    if kpi.builtin:
        raise PermissionDeniedException(_("Built-in KPIs are defined by the product; you can deactivate them."))
    clean = validate_kpi(data)
    async with db.write_transaction():
        if await _name_taken(clean["name"], kpi_id):
            raise FieldErrors({"name": _("A KPI with this name exists already.")})
        await Kpi.update({getattr(Kpi, k): v for k, v in clean.items()}).where(Kpi.id == kpi_id)


async def set_kpi_active(actor: Actor, kpi_id: UUID, active: bool) -> actuals.KpiDef:
    _admin(actor)
    kpi = await kpi_get(kpi_id)
    if kpi is None:
        raise NotFoundException()
    await Kpi.update({Kpi.active: active}).where(Kpi.id == kpi_id)
    return kpi


def kpi_form_values(kpi: actuals.KpiDef) -> dict:
    return {"name": kpi.name, "unit": kpi.unit, "direction": kpi.direction, "kind": kpi.kind, "source": kpi.source,
            "measure": kpi.measure, "filter_field": kpi.filter_field, "filter_value": kpi.filter_value,
            "floor": "" if kpi.floor is None else fmt_plain(kpi.floor, 2), "definition": kpi.definition}


def fmt_plain(value: float | None, decimals: int) -> str:
    """A value as an input shows it: no grouping, no trailing zeros beyond what the unit needs."""
    if value is None:
        return ""
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDeniedException()


# --- Pace thresholds and the work calendar ------------------------------------------------------


async def thresholds() -> formulas.Thresholds:
    """The admin's pace thresholds (defaults when the row is missing)."""
    row = await PaceSetting.select(PaceSetting.on_track_min, PaceSetting.at_risk_min).where(PaceSetting.id == 1).first()
    if not row:
        return formulas.Thresholds()
    return formulas.Thresholds(on_track_min=row["on_track_min"], at_risk_min=row["at_risk_min"])


def validate_thresholds(data: dict) -> tuple[float, float]:
    errors: dict[str, str] = {}
    on_track = validation.number(data, "on_track_min", errors, low=0, high=2)
    at_risk = validation.number(data, "at_risk_min", errors, low=0, high=2)
    for name, value in (("on_track_min", on_track), ("at_risk_min", at_risk)):
        if value is None and name not in errors:
            errors[name] = _("This field is required.")
    if not errors and not on_track > at_risk:  # type: ignore[operator]
        errors["on_track_min"] = _("“On track” must start above “at risk”.")
    if errors:
        raise FieldErrors(errors)
    return on_track, at_risk  # type: ignore[return-value]


async def save_thresholds(actor: Actor, data: dict) -> None:
    _admin(actor)
    on_track, at_risk = validate_thresholds(data)
    async with db.write_transaction():
        if await PaceSetting.exists().where(PaceSetting.id == 1):
            await PaceSetting.update({PaceSetting.on_track_min: on_track, PaceSetting.at_risk_min: at_risk,
                                      PaceSetting.updated_at: _now()}).where(PaceSetting.id == 1)
        else:
            await PaceSetting.insert(PaceSetting(id=1, on_track_min=on_track, at_risk_min=at_risk, updated_at=_now()))


async def calendar_overrides(start: date, end: date) -> dict[date, bool]:
    """Exceptions to Monday-to-Friday between `start` and `end`: day -> working."""
    rows = await WorkCalendar.select(WorkCalendar.day, WorkCalendar.working).where(
        (WorkCalendar.day >= start) & (WorkCalendar.day <= end))
    return {r["day"]: bool(r["working"]) for r in rows}


async def calendar_days(actor: Actor) -> list[dict]:
    _admin(actor)
    return await WorkCalendar.select(WorkCalendar.id, WorkCalendar.day, WorkCalendar.working,
                                     WorkCalendar.note).order_by(WorkCalendar.day)


async def add_calendar_day(actor: Actor, data: dict) -> date:
    _admin(actor)
    errors: dict[str, str] = {}
    day = validation.day(data, "day", errors, required=True)
    kind = validation.choice(data, "working", ("holiday", "workday"), errors, default="holiday")
    note = validation.text(data, "note", errors, max_len=100)
    if day and not 2000 <= day.year <= 2100:
        errors["day"] = _("Enter a date between 2000 and 2100.")
    if errors:
        raise FieldErrors(errors)
    async with db.write_transaction():
        if await WorkCalendar.exists().where(WorkCalendar.day == day):
            raise FieldErrors({"day": _("This day is in the calendar already: remove it first.")})
        await WorkCalendar.insert(WorkCalendar(id=uuid4(), day=day, working=kind == "workday", note=note))
    return day  # type: ignore[return-value]


async def remove_calendar_day(actor: Actor, day_id: UUID) -> bool:
    _admin(actor)
    if not await WorkCalendar.exists().where(WorkCalendar.id == day_id):
        return False
    await WorkCalendar.delete().where(WorkCalendar.id == day_id)
    return True


# --- The organisation a plan splits over ---------------------------------------------------------

Scope = tuple[str, UUID]  # (scope kind, id)
COMPANY: Scope = ("company", COMPANY_ID)


@dataclass
class Org:
    """Teams and reps, as the rows of a plan: the company, each team, each rep under their team (reps
    without a team sit directly under the company)."""

    teams: list[dict]
    reps: dict[UUID, list[dict]]  # team id (or None) -> reps
    names: dict[Scope, str] = field(default_factory=dict)
    team_of: dict[UUID, UUID | None] = field(default_factory=dict)

    def children(self, scope: Scope) -> list[Scope]:
        kind, sid = scope
        if kind == "company":
            return [("team", t["id"]) for t in self.teams] + [("rep", r["id"]) for r in self.reps.get(None, [])]
        if kind == "team":
            return [("rep", r["id"]) for r in self.reps.get(sid, [])]
        return []

    def parent(self, scope: Scope) -> Scope | None:
        kind, sid = scope
        if kind == "rep":
            team = self.team_of.get(sid)
            return ("team", team) if team else COMPANY
        if kind == "team":
            return COMPANY
        return None

    def scopes(self) -> list[Scope]:
        """Every row, parents before children, in display order."""
        out = [COMPANY]
        for team in self.teams:
            out.append(("team", team["id"]))
            out.extend(("rep", r["id"]) for r in self.reps.get(team["id"], []))
        out.extend(("rep", r["id"]) for r in self.reps.get(None, []))
        return out

    def rep_ids(self, scope: Scope) -> list[UUID] | None:
        """The reps whose results make up a scope's actuals (None: everyone, for the company)."""
        kind, sid = scope
        if kind == "company":
            return None
        if kind == "team":
            return [r["id"] for r in self.reps.get(sid, [])]
        return [sid]

    def knows(self, scope: Scope) -> bool:
        return scope == COMPANY or scope in self.names


async def load_org(plan_id: UUID | None = None) -> Org:
    """Teams by name; active reps (and inactive ones who still have cells in the plan) by name."""
    teams = await Team.select(Team.id, Team.name).order_by(Team.name)
    reps = await User.select(User.id, User.display_name, User.team, User.active).where(User.role == "rep").order_by(
        User.display_name)
    with_cells: set[UUID] = set()
    if plan_id is not None and any(not r["active"] for r in reps):
        rows = await Target.select(Target.scope_id).where((Target.plan == plan_id) & (Target.scope_kind == "rep")).distinct()
        with_cells = {r["scope_id"] for r in rows}
    team_ids = {t["id"] for t in teams}
    org = Org(teams=teams, reps={})
    org.names[COMPANY] = _("Company")
    for t in teams:
        org.names[("team", t["id"])] = t["name"]
    for r in reps:
        if not r["active"] and r["id"] not in with_cells:
            continue
        team = r["team"] if r["team"] in team_ids else None
        org.reps.setdefault(team, []).append({"id": r["id"], "name": r["display_name"], "active": r["active"]})
        org.names[("rep", r["id"])] = r["display_name"]
        org.team_of[r["id"]] = team
    return org


def can_read_scope(actor: Actor, org: Org, scope: Scope) -> bool:
    if actor.is_admin or scope == COMPANY:
        return True
    if not actor.is_manager:
        return False
    kind, sid = scope
    if kind == "team":
        return sid in actor.led_team_ids
    return org.team_of.get(sid) in actor.led_team_ids and org.team_of.get(sid) is not None


def can_write_scope(actor: Actor, org: Org, scope: Scope) -> bool:
    if actor.is_admin:
        return True
    return scope != COMPANY and can_read_scope(actor, org, scope)


def _check_scope(actor: Actor, org: Org, scope: Scope) -> None:
    """A scope the actor may write: unknown or another manager's → 404, the company row → 403."""
    if not org.knows(scope) or not can_read_scope(actor, org, scope):
        raise NotFoundException()
    if not can_write_scope(actor, org, scope):
        raise PermissionDeniedException(_("Only an admin changes the company's targets."))


def parse_scope(kind: str, raw_id: str) -> Scope | None:
    if kind == "company":
        return COMPANY
    if kind not in ("team", "rep"):
        return None
    try:
        return kind, UUID(str(raw_id))
    except (ValueError, TypeError, AttributeError):
        return None


def scope_key(scope: Scope) -> str:
    return f"{scope[0]}:{scope[1]}"


# --- Plans ---------------------------------------------------------------------------------------

PLAN_COLUMNS = (TargetPlan.id, TargetPlan.name, TargetPlan.year, TargetPlan.status, TargetPlan.created_at,
                TargetPlan.updated_at, TargetPlan.approved_at)


def _reader(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_manager):
        raise PermissionDeniedException()


async def plans(actor: Actor) -> list[dict]:
    _reader(actor)
    rows = await TargetPlan.select(*PLAN_COLUMNS, TargetPlan.approved_by.display_name.as_alias("approved_by_name")).order_by(
        TargetPlan.year, ascending=False).order_by(TargetPlan.created_at, ascending=False)
    return rows


async def plan_get(actor: Actor, plan_id: UUID) -> dict:
    _reader(actor)
    row = await TargetPlan.select(*PLAN_COLUMNS, TargetPlan.approved_by.display_name.as_alias("approved_by_name")).where(
        TargetPlan.id == plan_id).first()
    if not row:
        raise NotFoundException()
    return row


async def plan_kpis(plan_id: UUID) -> list[actuals.KpiDef]:
    """The KPIs a plan has cells for, in catalogue order."""
    used = {r["kpi"] for r in await Target.select(Target.kpi).where(Target.plan == plan_id).distinct()}
    return [k for k in await actuals.kpis(active_only=False) if k.id in used]


async def create_plan(actor: Actor, data: dict) -> UUID:
    """A plan: name, year, and for each chosen KPI the company's year target (`use_<code>`, `year_<code>`)."""
    _admin(actor)
    errors: dict[str, str] = {}
    name = validation.text(data, "name", errors, required=True, max_len=120)
    year = validation.integer(data, "year", errors, low=2000, high=2100)
    if year is None and "year" not in errors:
        errors["year"] = _("This field is required.")
    chosen: list[tuple[actuals.KpiDef, float]] = []
    for kpi in await actuals.kpis(active_only=True):
        if data.get(f"use_{kpi.code}"):
            value = parse_value(data.get(f"year_{kpi.code}"), formulas.decimals_for(kpi.unit), errors,
                                f"year_{kpi.code}", high=_high(kpi))
            if value is not None:
                chosen.append((kpi, value))
    if not chosen and not any(k.startswith("year_") for k in errors):
        errors["kpis"] = _("Choose at least one KPI and enter the company's target for the year.")
    if errors:
        raise FieldErrors(errors)
    pid, now = uuid4(), _now()
    start, end = date(year, 1, 1), date(year, 12, 31)  # type: ignore[arg-type]
    async with db.write_transaction():
        await TargetPlan.insert(TargetPlan(id=pid, name=name, year=year, status="draft", created_by=actor.id,
                                           created_at=now, updated_at=now))
        await db.insert_rows(Target, [
            {"id": uuid4(), "plan": pid, "kpi": kpi.id, "period": formulas.year_code(year), "period_kind": "year",
             "period_start": start, "period_end": end, "scope_kind": "company", "scope_id": COMPANY_ID,
             "value": value, "updated_by": actor.id, "updated_at": now}
            for kpi, value in chosen])
    return pid


def _high(kpi: actuals.KpiDef) -> float:
    return 100.0 if kpi.unit == "percent" else MAX_VALUE


# --- Cells ---------------------------------------------------------------------------------------

Cell = tuple[str, str, UUID]  # (period, scope kind, scope id)


async def _cells(plan_id: UUID, kpi_id: UUID) -> dict[Cell, dict]:
    rows = await Target.select(Target.id, Target.period, Target.scope_kind, Target.scope_id, Target.value).where(
        (Target.plan == plan_id) & (Target.kpi == kpi_id))
    return {(r["period"], r["scope_kind"], r["scope_id"]): r for r in rows}


async def _lock_plan(plan_id: UUID) -> dict | None:
    """The plan row, locked for this write transaction on PostgreSQL (SQLite's writer lock covers it)."""
    if is_sqlite(TargetPlan._meta.db):
        return await TargetPlan.select(*PLAN_COLUMNS).where(TargetPlan.id == plan_id).first()
    rows = await TargetPlan.raw("SELECT id, name, year, status FROM target_plan WHERE id = {} FOR UPDATE", plan_id)
    return rows[0] if rows else None


def _check_lock(actor: Actor, plan: dict, reason: str) -> str:
    """Draft plans are free to edit; an approved one only by an admin, with a reason."""
    if plan["status"] != "approved":
        return ""
    if not actor.is_admin:
        raise PermissionDeniedException(_("This plan is approved and locked: only an admin can change it."))
    reason = (reason or "").strip()
    if not reason:
        raise FieldErrors({"reason": _("The plan is approved: give a reason for this change.")})
    if len(reason) > 1000:
        raise FieldErrors({"reason": _("At most %(n)s characters.", n=1000)})
    return reason


async def _write_cells(actor: Actor, plan_id: UUID, kpi: actuals.KpiDef, values: dict[Cell, float | None],
                       reason: str) -> int:
    """Set cells in one write transaction (None deletes a cell of a draft plan). On an approved plan every
    change is recorded with its reason. Returns how many cells changed."""
    async with db.write_transaction():
        plan = await _lock_plan(plan_id)
        if plan is None:
            raise NotFoundException()
        reason = _check_lock(actor, plan, reason)
        locked = plan["status"] == "approved"
        existing = await _cells(plan_id, kpi.id)
        now = _now()
        new_rows, changes, changed = [], [], 0
        for (period, kind, sid), value in values.items():
            current = existing.get((period, kind, sid))
            if value is None:
                if current is not None:
                    if locked:
                        raise FieldErrors({"value": _("A target of an approved plan cannot be removed; set it to 0.")})
                    await Target.delete().where(Target.id == current["id"])
                    changed += 1
                continue
            if current is None:
                pkind, start, end = formulas.parse_period(period)
                tid = uuid4()
                new_rows.append({"id": tid, "plan": plan_id, "kpi": kpi.id, "period": period, "period_kind": pkind,
                                 "period_start": start, "period_end": end, "scope_kind": kind, "scope_id": sid,
                                 "value": value, "updated_by": actor.id, "updated_at": now})
                if locked:
                    changes.append((tid, None, value))
                changed += 1
            elif abs(current["value"] - value) > 1e-9:
                await Target.update({Target.value: value, Target.updated_by: actor.id, Target.updated_at: now}).where(
                    Target.id == current["id"])
                if locked:
                    changes.append((current["id"], current["value"], value))
                changed += 1
        await db.insert_rows(Target, new_rows)
        await db.insert_rows(TargetChange, [
            {"id": uuid4(), "plan": plan_id, "target": tid, "old_value": old, "new_value": new, "reason": reason,
             "changed_by": actor.id, "changed_at": now} for tid, old, new in changes])
        if changed:
            await TargetPlan.update({TargetPlan.updated_at: now}).where(TargetPlan.id == plan_id)
    return changed


async def _plan_kpi(plan_id: UUID, raw_kpi: object, errors: dict) -> actuals.KpiDef | None:
    try:
        kid = UUID(str(raw_kpi))
    except (ValueError, TypeError, AttributeError):
        errors["kpi"] = _("Choose a KPI.")
        return None
    kpi = await kpi_get(kid)
    if kpi is None:
        errors["kpi"] = _("Choose a KPI.")
    return kpi


def _period(plan: dict, raw: object, errors: dict, name: str = "period") -> str:
    code = str(raw or "").strip()
    if code not in formulas.year_periods(plan["year"]):
        errors[name] = _("Choose a period of the plan's year.")
        return ""
    return code


async def set_cell(actor: Actor, plan_id: UUID, data: dict) -> dict:
    """One cell typed in the grid. Empty clears the cell (draft plans only)."""
    plan = await plan_get(actor, plan_id)
    errors: dict[str, str] = {}
    kpi = await _plan_kpi(plan_id, data.get("kpi"), errors)
    period = _period(plan, data.get("period"), errors)
    scope = parse_scope(str(data.get("scope_kind") or ""), str(data.get("scope_id") or ""))
    if scope is None:
        raise NotFoundException()
    if errors:
        raise FieldErrors(errors)
    org = await load_org(plan_id)
    _check_scope(actor, org, scope)
    if plan["status"] == "approved" and not actor.is_admin:
        raise PermissionDeniedException(_("This plan is approved and locked: only an admin can change it."))
    value = parse_value(data.get("value"), formulas.decimals_for(kpi.unit), errors, "value",
                        required=plan["status"] == "approved", high=_high(kpi))
    if errors:
        raise FieldErrors(errors)
    if not await Target.exists().where((Target.plan == plan_id) & (Target.kpi == kpi.id)):
        # A KPI new to the plan: an admin adds it with the company's target.
        if not actor.is_admin:
            raise PermissionDeniedException()
        if not kpi.active:
            raise FieldErrors({"kpi": _("This KPI is inactive.")})
    await _write_cells(actor, plan_id, kpi, {(period, scope[0], scope[1]): value}, str(data.get("reason") or ""))
    return {"kpi": kpi, "period": period, "scope": scope}


async def cell_view(actor: Actor, plan_id: UUID, kpi_id: str, period: str, scope_kind: str, scope_id: str) -> dict:
    """One cell with its suggestion and SMART check (the page a tap on a locked cell opens)."""
    plan = await plan_get(actor, plan_id)
    errors: dict[str, str] = {}
    kpi = next((k for k in await plan_kpis(plan_id) if kpi_id in (k.code, str(k.id))), None)
    period = _period(plan, period, errors)
    scope = parse_scope(scope_kind, scope_id)
    if errors or scope is None or kpi is None:
        raise NotFoundException()
    org = await load_org(plan_id)
    if not org.knows(scope) or not can_read_scope(actor, org, scope):
        raise NotFoundException()
    grid_data = await grid(actor, plan_id, kpi.code, plan=plan, org=org)
    row = next((r for r in grid_data["rows"] if r["scope"] == scope), None)
    if row is None:
        raise NotFoundException()
    return {**grid_data, "row": row, "cell": row["cells"][period], "period": period}


# --- Mismatches, suggestions, SMART: the grid -------------------------------------------------------


def mismatches(values: dict[Cell, float], org: Org, year: int, decimals: int) -> dict[Cell, list[dict]]:
    """Where a sum KPI's children do not add up to their parent: quarters vs the year, months vs their
    quarter (per row), teams vs the company and reps vs their team (per period). A group is checked once
    any child has a value (a parent not yet split is not a mismatch); missing cells count as 0."""
    out: dict[Cell, list[dict]] = {}
    tolerance = 0.5 * 10 ** -decimals
    scopes = org.scopes()

    def check(parent: Cell, kids: list[Cell], how: str) -> None:
        present = [values[k] for k in kids if k in values]
        if not present:
            return
        total = sum(present)
        parent_value = values.get(parent)
        difference = (parent_value or 0.0) - total
        if parent_value is None or abs(difference) > tolerance:
            out.setdefault(parent, []).append({"how": how, "children": round(total, decimals),
                                               "difference": round(difference, decimals),
                                               "missing_parent": parent_value is None})

    for kind, sid in scopes:
        year_code = formulas.year_code(year)
        check((year_code, kind, sid), [(q, kind, sid) for q in formulas.children(year_code)], "period")
        for quarter in formulas.children(year_code):
            check((quarter, kind, sid), [(m, kind, sid) for m in formulas.children(quarter)], "period")
    for period in formulas.year_periods(year):
        for scope in scopes:
            kids = org.children(scope)
            if kids:
                check((period, scope[0], scope[1]), [(period, k, i) for k, i in kids], "org")
    return out


@dataclass
class History:
    """Two years of monthly (numerator, denominator) pairs per rep, from one by_month query."""

    kpi: actuals.KpiDef
    year: int  # the plan year
    per_rep: dict[tuple[UUID | None, str], actuals.Pair]

    def monthly(self, rep_ids: list[UUID] | None) -> dict[str, actuals.Pair]:
        keep = None if rep_ids is None else set(rep_ids)
        out: dict[str, list[float]] = {}
        for (rep, month), (n, d) in self.per_rep.items():
            if keep is None or rep in keep:
                acc = out.setdefault(month, [0.0, 0.0])
                acc[0] += n
                acc[1] += d
        return {m: (v[0], v[1]) for m, v in out.items()}

    def year_pairs(self, monthly: dict[str, actuals.Pair], year: int) -> list[actuals.Pair]:
        return [monthly.get(formulas.month_code(year, m), (0.0, 0.0)) for m in range(1, 13)]

    def year_values(self, monthly: dict[str, actuals.Pair], year: int) -> list[float]:
        return [actuals.value_of(self.kpi, monthly.get(formulas.month_code(year, m))) or 0.0 for m in range(1, 13)]


async def history(kpi: actuals.KpiDef, year: int) -> History:
    pairs = await actuals.by_month(kpi, date(year - 2, 1, 1), date(year - 1, 12, 31), per_rep=True)
    return History(kpi, year, pairs)


def _best(kpi: actuals.KpiDef, monthly: dict[str, actuals.Pair], year: int) -> dict[str, float | None]:
    """The best value of each period kind (month, quarter, year) over the two years before `year`. For a
    sum KPI only whole periods compare: a quarter or year that began before the first month with data
    (history that starts during it) is not a comparable period."""
    groups: dict[str, dict[str, list[float]]] = {"month": {}, "quarter": {}, "year": {}}
    # History starts with the first month that has data; a period that began before it is incomplete.
    first = min(monthly, default="")
    for month, (n, d) in monthly.items():
        y, m = int(month[:4]), int(month[5:7])
        if y not in (year - 1, year - 2):
            continue
        quarter_start = f"{y:04d}-{(m - 1) // 3 * 3 + 1:02d}"
        for kind, code, begins in (("month", month, month),
                                   ("quarter", formulas.quarter_code(y, (m - 1) // 3 + 1), quarter_start),
                                   ("year", formulas.year_code(y), f"{y:04d}-01")):
            if kpi.kind == "sum" and begins < first:
                continue
            acc = groups[kind].setdefault(code, [0.0, 0.0])
            acc[0] += n
            acc[1] += d
    best: dict[str, float | None] = {}
    for kind, codes in groups.items():
        values = [v for v in (actuals.value_of(kpi, (n, d)) for n, d in codes.values()) if v is not None]
        if kpi.direction == "lower":
            values = [v for v in values if v > 0]
            best[kind] = min(values) if values else None
        else:
            best[kind] = max(values) if values else None
    return best


REPS_INLINE = 60  # beyond this many readable reps, rep rows show one team at a time


async def grid(actor: Actor, plan_id: UUID, kpi_code: str = "", *, plan: dict | None = None,
               org: Org | None = None, team: UUID | None = None) -> dict:
    """The plan's grid for one KPI: rows the actor may read, 17 period columns, each cell with its value,
    suggestion, SMART check and mismatch. With more than REPS_INLINE readable reps, the reps' rows are
    those of `team` only (the company and team rows always show): a 1,000-rep grid would be 17,000 cells."""
    plan = plan or await plan_get(actor, plan_id)
    kpis = await plan_kpis(plan_id)
    kpi = next((k for k in kpis if k.code == kpi_code), kpis[0] if kpis else None)
    org = org or await load_org(plan_id)
    year = plan["year"]
    periods = formulas.year_periods(year)
    out = {"plan": plan, "kpis": kpis, "kpi": kpi, "periods": periods, "rows": [], "mismatch_count": 0,
           "locked": plan["status"] == "approved", "org": org}
    if kpi is None:
        return out
    decimals = formulas.decimals_for(kpi.unit)
    cells = await _cells(plan_id, kpi.id)
    values = {key: row["value"] for key, row in cells.items()}
    found = mismatches(values, org, year, decimals) if kpi.kind == "sum" else {}
    # Only the rows the actor may read count: a manager does not learn of other teams' gaps.
    out["mismatch_count"] = sum(1 for (_p, kind, sid) in found if can_read_scope(actor, org, (kind, sid)))
    hist = await history(kpi, year)
    locked = out["locked"]
    readable = [sc for sc in org.scopes() if can_read_scope(actor, org, sc)]
    collapsed = sum(1 for kind, _sid in readable if kind == "rep") > REPS_INLINE
    shown_team = ("team", team) if team else None
    out.update(collapsed=collapsed, team=team if collapsed else None)
    for scope in readable:
        if collapsed and scope[0] == "rep" and org.parent(scope) != shown_team:
            continue
        monthly = hist.monthly(org.rep_ids(scope))
        last = hist.year_values(monthly, year - 1)
        before = hist.year_values(monthly, year - 2)
        last_pairs = hist.year_pairs(monthly, year - 1)
        before_pairs = hist.year_pairs(monthly, year - 2)
        best = _best(kpi, monthly, year)
        parent = org.parent(scope)
        row_cells = {}
        for period in periods:
            pkind, start, end = formulas.parse_period(period)
            months = [int(m[5:7]) for m in formulas.months(period)]
            if kpi.kind == "rate":
                suggestion = formulas.suggest_rate(last_pairs, before_pairs, decimals)
            else:
                suggestion = formulas.suggest(last, before if any(before) else None, months, kpi.kind, decimals)
            value = values.get((period, scope[0], scope[1]))
            checks = None
            if value is not None:
                parent_value = values.get((period, parent[0], parent[1])) if parent else None
                checks = formulas.smart(
                    kpi_active=kpi.active, kpi_defined=bool(kpi.explanation), measurable=kpi.measurable, value=value,
                    direction=kpi.direction, kind=kpi.kind, best=best[pkind], is_company=scope == COMPANY,
                    parent_value=parent_value, period_start=start, period_end=end, plan_year=year)
            row_cells[period] = {
                "value": value, "input": fmt_plain(value, decimals), "suggestion": suggestion, "smart": checks,
                "smart_ok": checks is not None and all(c.ok for c in checks),
                "mismatch": found.get((period, scope[0], scope[1]), []), "kind": pkind,
            }
        writable = can_write_scope(actor, org, scope) and (not locked or actor.is_admin)
        out["rows"].append({
            "scope": scope, "key": scope_key(scope), "kind": scope[0], "id": scope[1], "name": org.names.get(scope, ""),
            "depth": 0 if scope == COMPANY else 1 if scope[0] == "team" or parent == COMPANY else 2,
            "writable": writable, "inline": writable and not locked, "cells": row_cells,
            "has_children": bool(org.children(scope)),
            "reps_folded": collapsed and scope[0] == "team" and scope != shown_team and bool(org.children(scope)),
        })
    out["decimals"] = decimals
    return out


async def plan_mismatches(plan_id: UUID, year: int, org: Org) -> list[dict]:
    """Every mismatch of the plan's sum KPIs, for the approval check."""
    out = []
    for kpi in await plan_kpis(plan_id):
        if kpi.kind != "sum":
            continue
        decimals = formulas.decimals_for(kpi.unit)
        values = {k: r["value"] for k, r in (await _cells(plan_id, kpi.id)).items()}
        for (period, kind, sid), items in mismatches(values, org, year, decimals).items():
            for item in items:
                out.append({"kpi": kpi, "period": period, "scope": (kind, sid),
                            "name": org.names.get((kind, sid), ""), **item})
    return out


# --- Splitting ---------------------------------------------------------------------------------------


def _derive_quarters(months: list[float], decimals: int) -> list[float]:
    return [round(sum(months[3 * q:3 * q + 3]), decimals) for q in range(4)]


async def _period_form(actor: Actor, plan_id: UUID, data: dict) -> tuple[dict, actuals.KpiDef, Org, Scope]:
    plan = await plan_get(actor, plan_id)
    errors: dict[str, str] = {}
    kpi = await _plan_kpi(plan_id, data.get("kpi"), errors)
    scope = parse_scope(str(data.get("scope_kind") or ""), str(data.get("scope_id") or ""))
    if scope is None or kpi is None:
        raise NotFoundException()
    org = await load_org(plan_id)
    _check_scope(actor, org, scope)
    if plan["status"] == "approved" and not actor.is_admin:
        raise PermissionDeniedException(_("This plan is approved and locked: only an admin can change it."))
    return plan, kpi, org, scope


async def split_by_period(actor: Actor, plan_id: UUID, data: dict) -> str:
    """Split a row's year target into quarters and months: equal, custom monthly percentages, or
    seasonality from last year's actuals (working days without history). Quarters are the sums of their
    months, so everything adds up exactly. Rate KPIs: every period inherits the year's value.
    Returns the message to show."""
    plan, kpi, org, scope = await _period_form(actor, plan_id, data)
    errors: dict[str, str] = {}
    method = validation.choice(data, "method", tuple(PERIOD_METHODS), errors, default="equal")
    year = plan["year"]
    year_code = formulas.year_code(year)
    cells = await _cells(plan_id, kpi.id)
    current = cells.get((year_code, scope[0], scope[1]))
    if current is None:
        errors[""] = _("Set this row's target for the year first.")
    percentages: list[float] = []
    if method == "percentages":
        for m in range(1, 13):
            value = _weight(data.get(f"p{m}"), errors, f"p{m}")
            percentages.append(value or 0.0)
        if not any(k.startswith("p") and k[1:].isdigit() for k in errors) and abs(sum(percentages) - 100) > 0.01:
            errors["percentages"] = _("The percentages add up to %(total)s %%, not 100 %%.",
                                      total=fmt_number(sum(percentages), 2))
    if errors:
        raise FieldErrors(errors)
    total = current["value"]
    decimals = formulas.decimals_for(kpi.unit)
    message = _("Split by period.")
    if kpi.kind == "rate":
        months = [total] * 12
        quarters = [total] * 4
        message = _("A rate applies to every period as it is: each quarter and month now has the year's value.")
    else:
        if method == "percentages":
            months = formulas.split_percentages(total, percentages, decimals)
        elif method == "seasonality":
            monthly = await actuals.by_month(kpi, date(year - 1, 1, 1), date(year - 1, 12, 31), org.rep_ids(scope))
            last = [actuals.value_of(kpi, monthly.get((None, formulas.month_code(year - 1, m)))) or 0.0
                    for m in range(1, 13)]
            overrides = await calendar_overrides(date(year, 1, 1), date(year, 12, 31))
            working = [formulas.working_days(*formulas.parse_period(formulas.month_code(year, m))[1:], overrides)
                       for m in range(1, 13)]
            weights = formulas.seasonality(last, working)
            usable = all(v >= 0 for v in last) and sum(last) > 0
            message = (_("Split by last year's seasonality.") if usable else
                       _("No usable history for last year: split by working days instead."))
            months = formulas.split(total, weights, decimals)
        else:
            months = formulas.split_equal(total, 12, decimals)
        quarters = _derive_quarters(months, decimals)
    values: dict[Cell, float | None] = {}
    for q in range(4):
        values[(formulas.quarter_code(year, q + 1), scope[0], scope[1])] = quarters[q]
    for m in range(12):
        values[(formulas.month_code(year, m + 1), scope[0], scope[1])] = months[m]
    await _write_cells(actor, plan_id, kpi, values, str(data.get("reason") or ""))
    return message


async def last_year_results(kpi: actuals.KpiDef, year: int, org: Org, kids: list[Scope]) -> list[float]:
    """Each child's result over the year before the plan (one grouped query)."""
    pairs = await actuals.actuals(kpi, date(year - 1, 1, 1), date(year - 1, 12, 31))
    out = []
    for kid in kids:
        reps = org.rep_ids(kid) or []
        value = actuals.value_of(kpi, actuals.total(pairs[r] for r in reps if r in pairs))
        out.append(value or 0.0)
    return out


async def split_by_org(actor: Actor, plan_id: UUID, data: dict) -> str:
    """Split a parent row (the company or a team) among its children for one period or the whole year:
    equal, weights typed per child (`w_<kind>_<id>`), or each child's share of last year's result (equal
    when nobody has history). For the whole year the months are split and each child's quarters and
    year are the sums of its months, so rows and columns both add up. Rate KPIs: children copy."""
    plan, kpi, org, parent = await _period_form(actor, plan_id, data)
    kids = org.children(parent)
    if not kids:
        raise FieldErrors({"": _("This row has no teams or reps under it.")})
    for kid in kids:
        if not can_write_scope(actor, org, kid):
            raise PermissionDeniedException()
    errors: dict[str, str] = {}
    method = validation.choice(data, "method", tuple(ORG_METHODS), errors, default="equal")
    year = plan["year"]
    which = str(data.get("period") or "all")
    if which != "all":
        which = _period(plan, which, errors)
    weights = [1.0] * len(kids)
    if method == "weights":
        weights = [(_weight(data.get(f"w_{k}_{i}"), errors, f"w_{k}_{i}") or 0.0) for k, i in kids]
        if not any(k.startswith("w_") for k in errors) and sum(weights) <= 0:
            errors["weights"] = _("Give at least one team or rep a weight above zero.")
    if errors:
        raise FieldErrors(errors)
    message = _("Split among the teams and reps.")
    if method == "share" and kpi.kind == "sum":
        weights = await last_year_results(kpi, year, org, kids)
        if sum(w for w in weights if w > 0) <= 0:
            message = _("Nobody has results last year: split equally instead.")
        else:
            message = _("Split by each one's share of last year's result.")
    decimals = formulas.decimals_for(kpi.unit)
    cells = await _cells(plan_id, kpi.id)
    parent_values = {p: cells[(p, parent[0], parent[1])]["value"] for p in formulas.year_periods(year)
                     if (p, parent[0], parent[1]) in cells}
    periods = formulas.year_periods(year) if which == "all" else [which]
    if not any(p in parent_values for p in periods):
        raise FieldErrors({"period": _("This row has no target for that period yet.")})
    values: dict[Cell, float | None] = {}
    if kpi.kind == "rate":
        message = _("A rate is not divided: every team and rep inherits the parent's value.")
        for period in periods:
            if period in parent_values:
                for k, i in kids:
                    values[(period, k, i)] = parent_values[period]
    else:
        def share(period: str) -> list[float]:
            return formulas.split(parent_values[period], weights, decimals)

        done: dict[str, list[float]] = {}
        for period in periods:
            if formulas.parse_period(period)[0] == "month" and period in parent_values:
                done[period] = share(period)
        if which == "all":
            for q in formulas.children(formulas.year_code(year)):
                ms = formulas.children(q)
                if all(m in done for m in ms):
                    done[q] = [round(sum(done[m][c] for m in ms), decimals) for c in range(len(kids))]
                elif q in parent_values:
                    done[q] = share(q)
            y = formulas.year_code(year)
            qs = formulas.children(y)
            if all(q in done for q in qs):
                done[y] = [round(sum(done[q][c] for q in qs), decimals) for c in range(len(kids))]
            elif y in parent_values:
                done[y] = share(y)
        elif which in parent_values and which not in done:
            done[which] = share(which)
        for period, parts in done.items():
            for (k, i), part in zip(kids, parts):
                values[(period, k, i)] = part
    await _write_cells(actor, plan_id, kpi, values, str(data.get("reason") or ""))
    return message


async def split_view(actor: Actor, plan_id: UUID, kpi_code: str, scope_kind: str, scope_id: str) -> dict:
    """What the split page of one row needs: the row, its children, last year's results per child."""
    plan = await plan_get(actor, plan_id)
    kpis = await plan_kpis(plan_id)
    kpi = next((k for k in kpis if k.code == kpi_code), None)
    scope = parse_scope(scope_kind, scope_id)
    if kpi is None or scope is None:
        raise NotFoundException()
    org = await load_org(plan_id)
    _check_scope(actor, org, scope)
    kids = [k for k in org.children(scope)]
    last = await last_year_results(kpi, plan["year"], org, kids) if kids else []
    cells = await _cells(plan_id, kpi.id)
    values = {p: cells[(p, scope[0], scope[1])]["value"] for p in formulas.year_periods(plan["year"])
              if (p, scope[0], scope[1]) in cells}
    return {"plan": plan, "kpi": kpi, "scope": scope, "name": org.names.get(scope, ""),
            "children": [{"kind": k, "id": i, "name": org.names.get((k, i), ""), "last": v}
                         for (k, i), v in zip(kids, last)],
            "row_values": values, "periods": formulas.year_periods(plan["year"]), "locked": plan["status"] == "approved",
            "decimals": formulas.decimals_for(kpi.unit)}


# --- Approval and changes -------------------------------------------------------------------------


async def approve(actor: Actor, plan_id: UUID) -> None:
    """Lock the plan. Refused while a sum KPI does not add up, or when another plan of the same year is
    approved already (Conflict, with the reason)."""
    _admin(actor)
    org = await load_org(plan_id)
    async with db.write_transaction():
        if is_sqlite(TargetPlan._meta.db):
            plan = await TargetPlan.select(*PLAN_COLUMNS).where(TargetPlan.id == plan_id).first()
        else:
            year_rows = await TargetPlan.raw(
                "SELECT id, year, status FROM target_plan WHERE year = (SELECT year FROM target_plan WHERE id = {})"
                " ORDER BY id FOR UPDATE", plan_id)
            plan = next((r for r in year_rows if str(r["id"]) == str(plan_id)), None)
        if plan is None:
            raise NotFoundException()
        if plan["status"] == "approved":
            raise Conflict(_("This plan is approved already."))
        other = await TargetPlan.select(TargetPlan.name).where(
            (TargetPlan.year == plan["year"]) & (TargetPlan.status == "approved") & (TargetPlan.id != plan_id)).first()
        if other:
            raise Conflict(_("Plan “%(name)s” is already approved for %(year)s: only one plan per year can be approved.",
                             name=other["name"], year=plan["year"]))
        if not await plan_kpis(plan_id):
            raise Conflict(_("The plan has no targets yet."))
        found = await plan_mismatches(plan_id, plan["year"], org)
        if found:
            raise Mismatched(found)
        now = _now()
        await TargetPlan.update({TargetPlan.status: "approved", TargetPlan.approved_by: actor.id,
                                 TargetPlan.approved_at: now, TargetPlan.updated_at: now}).where(
            (TargetPlan.id == plan_id) & (TargetPlan.status == "draft"))


class Mismatched(Conflict):
    """Approval refused: the listed cells do not add up."""

    def __init__(self, found: list[dict]):
        super().__init__(ngettext_mismatch(len(found)))
        self.found = found


def ngettext_mismatch(count: int) -> str:
    from server.i18n import ngettext

    return ngettext("%(num)s target does not add up: fix it before approving.",
                    "%(num)s targets do not add up: fix them before approving.", count)


async def changes(actor: Actor, plan_id: UUID) -> dict:
    """Changes made after approval, newest first, for the rows the actor may read."""
    plan = await plan_get(actor, plan_id)
    org = await load_org(plan_id)
    rows = await TargetChange.select(
        TargetChange.id, TargetChange.old_value, TargetChange.new_value, TargetChange.reason, TargetChange.changed_at,
        TargetChange.changed_by.display_name.as_alias("who"), TargetChange.target.period.as_alias("period"),
        TargetChange.target.scope_kind.as_alias("scope_kind"), TargetChange.target.scope_id.as_alias("scope_id"),
        TargetChange.target.kpi.as_alias("kpi"),
    ).where(TargetChange.plan == plan_id).order_by(TargetChange.changed_at, ascending=False)
    kpis = {k.id: k for k in await actuals.kpis(active_only=False)}
    out = []
    for r in rows:
        scope = (r["scope_kind"], r["scope_id"]) if r["scope_kind"] != "company" else COMPANY
        if not can_read_scope(actor, org, scope):
            continue
        out.append({**r, "kpi": kpis.get(r["kpi"]), "name": org.names.get(scope, "—")})
    return {"plan": plan, "changes": out}


# --- For other domains (pace, dashboards) ---------------------------------------------------------------


async def approved_plan(year: int) -> dict | None:
    """The approved (locked) plan of `year`, or None."""
    return await TargetPlan.select(*PLAN_COLUMNS, TargetPlan.approved_by).where(
        (TargetPlan.year == year) & (TargetPlan.status == "approved")).first()


async def targets_for(plan_id: UUID, period: str, kpi_ids: list[UUID] | None = None
                      ) -> dict[tuple[UUID, str, UUID], float]:
    """(kpi id, scope kind, scope id) -> target of one period of a plan (the company's scope id is
    COMPANY_SCOPE_ID as a UUID). One query."""
    if kpi_ids == []:
        return {}
    query = Target.select(Target.kpi, Target.scope_kind, Target.scope_id, Target.value).where(
        (Target.plan == plan_id) & (Target.period == period))
    if kpi_ids is not None:
        query = query.where(Target.kpi.is_in(list(kpi_ids)))
    return {(r["kpi"], r["scope_kind"], r["scope_id"]): r["value"] for r in await query}
