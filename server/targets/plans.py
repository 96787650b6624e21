"""Target plans: creating them, their cells (read, written, locked), approval and the changes after it.

Ownership of cells: admin writes any cell; a manager the rows of the teams they lead and of those teams'
reps (the company row and other teams are read-only, or hidden); reps have no access to plans. An
approved plan is locked: only an admin changes it, with a reason, and every change is a TargetChange row.
`approved_plan()` and `targets_for()` are for the other domains (pace, dashboards) and trust their caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID, uuid4

from litestar.exceptions import NotFoundException, PermissionDeniedException

from server import clock, db, validation
from server.accounts import membership
from server.accounts.permissions import Actor, require_role
from server.i18n import N_, _
from server.targets import actuals, formulas
from server.targets.kpis import kpi_get
from server.targets.org import (
    COMPANY,
    COMPANY_ID,
    Cell,
    Org,
    Scope,
    can_read_scope,
    check_scope,
    load_org,
    mismatches,
    parse_scope,
)
from server.targets.tables import Target, TargetChange, TargetPlan
from server.targets.values import parse_value, value_cap
from server.web import Conflict, FieldErrors

STATUS_LABELS = {"draft": N_("Draft"), "approved": N_("Approved (locked)")}


# --- Plans ---------------------------------------------------------------------------------------

PLAN_COLUMNS = (TargetPlan.id, TargetPlan.name, TargetPlan.year, TargetPlan.status, TargetPlan.created_at,
                TargetPlan.updated_at, TargetPlan.approved_at, TargetPlan.effective_from)


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
    require_role(actor, "admin")
    errors: dict[str, str] = {}
    name = validation.text(data, "name", errors, required=True, max_len=120)
    year = validation.integer(data, "year", errors, low=2000, high=2100)
    if year is None and "year" not in errors:
        errors["year"] = _("This field is required.")
    chosen: list[tuple[actuals.KpiDef, float]] = []
    for kpi in await actuals.kpis(active_only=True):
        if data.get(f"use_{kpi.code}"):
            value = parse_value(data.get(f"year_{kpi.code}"), formulas.decimals_for(kpi.unit), errors,
                                f"year_{kpi.code}", high=value_cap(kpi))
            if value is not None:
                chosen.append((kpi, value))
    if not chosen and not any(k.startswith("year_") for k in errors):
        errors["kpis"] = _("Choose at least one KPI and enter the company's target for the year.")
    if errors or year is None:
        raise FieldErrors(errors)
    pid, now = uuid4(), clock.now()
    start, end = date(year, 1, 1), date(year, 12, 31)
    async with db.write_transaction():
        await TargetPlan.insert(TargetPlan(id=pid, name=name, year=year, status="draft", created_by=actor.id,
                                           created_at=now, updated_at=now))
        await db.insert_rows(Target, [
            {"id": uuid4(), "plan": pid, "kpi": kpi.id, "period": formulas.year_code(year), "period_kind": "year",
             "period_start": start, "period_end": end, "scope_kind": "company", "scope_id": COMPANY_ID,
             "value": value, "updated_by": actor.id, "updated_at": now}
            for kpi, value in chosen])
    return pid



# --- Cells ---------------------------------------------------------------------------------------



async def plan_cells(plan_id: UUID, kpi_id: UUID) -> dict[Cell, dict]:
    rows = await Target.select(Target.id, Target.period, Target.scope_kind, Target.scope_id, Target.value).where(
        (Target.plan == plan_id) & (Target.kpi == kpi_id))
    return {(r["period"], r["scope_kind"], r["scope_id"]): r for r in rows}


async def _lock_plan(plan_id: UUID) -> dict | None:
    """The plan row, locked for this write transaction on PostgreSQL (SQLite's writer lock covers it)."""
    return await db.locked(TargetPlan.select(*PLAN_COLUMNS).where(TargetPlan.id == plan_id)).first()


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


async def write_cells(actor: Actor, plan_id: UUID, kpi: actuals.KpiDef, values: dict[Cell, float | None],
                       reason: str) -> int:
    """Set cells in one write transaction (None deletes a cell of a draft plan). On an approved plan every
    change is recorded with its reason. Returns how many cells changed."""
    async with db.write_transaction():
        plan = await _lock_plan(plan_id)
        if plan is None:
            raise NotFoundException()
        reason = _check_lock(actor, plan, reason)
        locked = plan["status"] == "approved"
        existing = await plan_cells(plan_id, kpi.id)
        now = clock.now()
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


async def plan_kpi(plan_id: UUID, raw_kpi: object, errors: dict) -> actuals.KpiDef | None:
    try:
        kid = UUID(str(raw_kpi))
    except (ValueError, TypeError, AttributeError):
        errors["kpi"] = _("Choose a KPI.")
        return None
    kpi = await kpi_get(kid)
    if kpi is None:
        errors["kpi"] = _("Choose a KPI.")
    return kpi


def plan_period(plan: dict, raw: object, errors: dict, name: str = "period") -> str:
    code = str(raw or "").strip()
    if code not in formulas.year_periods(plan["year"]):
        errors[name] = _("Choose a period of the plan's year.")
        return ""
    return code


async def set_cell(actor: Actor, plan_id: UUID, data: dict) -> dict:
    """One cell typed in the grid. Empty clears the cell (draft plans only)."""
    plan = await plan_get(actor, plan_id)
    errors: dict[str, str] = {}
    kpi = await plan_kpi(plan_id, data.get("kpi"), errors)
    period = plan_period(plan, data.get("period"), errors)
    scope = parse_scope(str(data.get("scope_kind") or ""), str(data.get("scope_id") or ""))
    if scope is None:
        raise NotFoundException()
    if errors or kpi is None:
        raise FieldErrors(errors)
    org = await load_org(plan_id)
    check_scope(actor, org, scope)
    if plan["status"] == "approved" and not actor.is_admin:
        raise PermissionDeniedException(_("This plan is approved and locked: only an admin can change it."))
    value = parse_value(data.get("value"), formulas.decimals_for(kpi.unit), errors, "value",
                        required=plan["status"] == "approved", high=value_cap(kpi))
    if errors:
        raise FieldErrors(errors)
    if not await Target.exists().where((Target.plan == plan_id) & (Target.kpi == kpi.id)):
        # A KPI new to the plan: an admin adds it with the company's target.
        if not actor.is_admin:
            raise PermissionDeniedException()
        if not kpi.active:
            raise FieldErrors({"kpi": _("This KPI is inactive.")})
    await write_cells(actor, plan_id, kpi, {(period, scope[0], scope[1]): value}, str(data.get("reason") or ""))
    return {"kpi": kpi, "period": period, "scope": scope}


@dataclass(frozen=True)
class PlanMismatch:
    """A cell of the plan whose children do not add up (see org.Mismatch), named for the approval page."""

    kpi: actuals.KpiDef
    period: str
    scope: Scope
    name: str
    how: str
    children: float
    difference: float
    missing_parent: bool


async def plan_mismatches(plan_id: UUID, year: int, org: Org) -> list[PlanMismatch]:
    """Every mismatch of the plan's sum KPIs, for the approval check."""
    out: list[PlanMismatch] = []
    month_teams = await membership.teams_by_month(year)
    for kpi in await plan_kpis(plan_id):
        if kpi.kind != "sum":
            continue
        decimals = formulas.decimals_for(kpi.unit)
        values = {k: r["value"] for k, r in (await plan_cells(plan_id, kpi.id)).items()}
        for (period, kind, sid), items in mismatches(values, org, year, decimals, month_teams).items():
            for item in items:
                out.append(PlanMismatch(kpi=kpi, period=period, scope=(kind, sid), name=org.names.get((kind, sid), ""),
                                        how=item.how, children=item.children, difference=item.difference,
                                        missing_parent=item.missing_parent))
    return out


# --- Approval and changes -------------------------------------------------------------------------


async def approve(actor: Actor, plan_id: UUID) -> None:
    """Lock the plan. Refused while a sum KPI does not add up, or when another plan of the same year is
    approved already (Conflict, with the reason)."""
    require_role(actor, "admin")
    org = await load_org(plan_id)
    async with db.write_transaction():
        # Every plan of the year locked, in id order: two approvals of that year at once wait for each other.
        year_rows = await TargetPlan.raw(
            "SELECT id, year, status, effective_from FROM target_plan"
            " WHERE year = (SELECT year FROM target_plan WHERE id = {}) ORDER BY id" + db.for_update(), plan_id)
        plan = next((r for r in year_rows if str(r["id"]) == str(plan_id)), None)
        if plan is None:
            raise NotFoundException()
        if plan["status"] == "approved":
            raise Conflict(_("This plan is approved already."))
        takes_over = db.as_date(plan["effective_from"])
        # A revision takes over from its date: it may join approved plans that took over before that date.
        other = next((r for r in year_rows if r["status"] == "approved" and str(r["id"]) != str(plan_id)
                      and (takes_over is None or (db.as_date(r["effective_from"]) or date.min) >= takes_over)), None)
        if other:
            other = await TargetPlan.select(TargetPlan.name).where(TargetPlan.id == other["id"]).first()
        if other:
            raise Conflict(_("Plan “%(name)s” is already approved for %(year)s: only one plan per year can be approved.",
                             name=other["name"], year=plan["year"]))
        if not await plan_kpis(plan_id):
            raise Conflict(_("The plan has no targets yet."))
        found = await plan_mismatches(plan_id, plan["year"], org)
        if found:
            raise Mismatched(found)
        now = clock.now()
        await TargetPlan.update({TargetPlan.status: "approved", TargetPlan.approved_by: actor.id,
                                 TargetPlan.approved_at: now, TargetPlan.updated_at: now}).where(
            (TargetPlan.id == plan_id) & (TargetPlan.status == "draft"))


class Mismatched(Conflict):
    """Approval refused: the listed cells do not add up."""

    def __init__(self, found: list[PlanMismatch]):
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

