"""Plans in and out: a plan as CSV or XLSX, last year's plan copied as the start of a new one, and a revised plan
that takes over from a date while the plan approved before stays in force for the months before it.

A copy and a revision are new draft plans with every cell of their source (the revision keeps the source's
year; a copy moves each period code to the new year). Which approved plan is in force for a period is
`pace.in_force`'s rule: a revision's cells count for periods ending on or after its date.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor, require_role
from server.i18n import _
from server.targets import actuals, formulas
from server.targets.org import COMPANY, can_read_scope, load_org
from server.targets.plans import plan_get
from server.targets.tables import Target, TargetPlan
from server.web import FieldErrors, xlsx_bytes

CELL_COLUMNS = (Target.kpi, Target.period, Target.period_kind, Target.scope_kind, Target.scope_id, Target.value)


async def _export_rows(actor: Actor, plan_id: UUID) -> tuple[dict, list[str], list[tuple[list, float, str]]]:
    """(plan, header, rows) of a plan's cells the actor may read, in the grid's order: KPI, row (company,
    region, team, rep), period; each row its text columns, the target and the KPI's unit."""
    plan = await plan_get(actor, plan_id)
    org = await load_org(plan_id)
    kpis = {k.id: k for k in await actuals.kpis(active_only=False)}
    order = {scope: i for i, scope in enumerate(org.scopes())}
    periods = {code: i for i, code in enumerate(formulas.year_periods(plan["year"]))}
    rows = []
    for cell in await Target.select(*CELL_COLUMNS).where(Target.plan == plan_id):
        kpi = kpis.get(db.as_uuid(cell["kpi"]) or cell["kpi"])
        sid = db.as_uuid(cell["scope_id"])
        scope = COMPANY if cell["scope_kind"] == "company" or sid is None else (cell["scope_kind"], sid)
        if kpi is None or not can_read_scope(actor, org, scope):
            continue
        rows.append(((kpi.position, kpi.code), order.get(scope, len(order)), periods.get(cell["period"], 99),
                     ([kpi.code, kpi.label, cell["period"], cell["scope_kind"], org.names.get(scope, ""),
                       "" if scope == COMPANY else str(scope[1])], float(cell["value"]), kpi.unit)))
    rows.sort(key=lambda r: r[:3])
    header = [_("KPI code"), _("KPI"), _("Period"), _("Scope"), _("Name"), _("Id"), _("Target")]
    return plan, header, [r[3] for r in rows]


async def export(actor: Actor, plan_id: UUID) -> tuple[str, list[str], list[list]]:
    """(file name, header, rows) of the plan as CSV: the target written to its unit's decimals."""
    plan, header, rows = await _export_rows(actor, plan_id)
    return (f"fieldpace-plan-{plan['year']}.csv", header,
            [[*text, f"{value:.{formulas.decimals_for(unit)}f}"] for text, value, unit in rows])


# The number format of a target per unit: money to the cent with thousands separators, counts whole.
XLSX_FORMATS = {"money": "#,##0.00", "count": "0"}


async def export_xlsx(actor: Actor, plan_id: UUID) -> tuple[str, bytes]:
    """(file name, XLSX bytes) of the plan: the CSV's columns and rows, the target a number cell rounded to
    its unit's decimals as the CSV writes it, formatted by unit (`XLSX_FORMATS`, else one decimal)."""
    plan, header, rows = await _export_rows(actor, plan_id)
    cells, formats = [], []
    for text, value, unit in rows:
        decimals = formulas.decimals_for(unit)
        number = round(value, decimals)
        cells.append([*text, int(number) if decimals == 0 else number])
        formats.append([None] * len(text) + [XLSX_FORMATS.get(unit, "0.0")])
    content = xlsx_bytes(_("Targets"), header, cells, formats)
    return f"fieldpace-plan-{plan['year']}.xlsx", content


def _moved(code: str, year: int) -> str:
    """A period code of one year as the same period of `year` ("2026-Q3" -> "2027-Q3")."""
    return f"{year:04d}{code[4:]}"


async def _clone(actor: Actor, source: dict, name: str, year: int, effective: date | None) -> UUID:
    pid, now = uuid4(), clock.now()
    cells = await Target.select(*CELL_COLUMNS).where(Target.plan == source["id"])
    rows = []
    for c in cells:
        code = _moved(c["period"], year)
        _kind, start, end = formulas.parse_period(code)
        rows.append({"id": uuid4(), "plan": pid, "kpi": c["kpi"], "period": code, "period_kind": c["period_kind"],
                     "period_start": start, "period_end": end, "scope_kind": c["scope_kind"],
                     "scope_id": c["scope_id"], "value": c["value"], "updated_by": actor.id, "updated_at": now})
    async with db.write_transaction():
        await TargetPlan.insert(TargetPlan(id=pid, name=name, year=year, status="draft", created_by=actor.id,
                                           created_at=now, updated_at=now, effective_from=effective))
        if rows:
            await db.insert_rows(Target, rows)
    return pid


async def copy_plan(actor: Actor, plan_id: UUID, data: dict) -> UUID:
    """A new draft plan for `year` (default: the next one) with every target of this plan, each period
    moved to that year (admin). Adjust it, then approve it as usual."""
    require_role(actor, "admin")
    source = await plan_get(actor, plan_id)
    errors: dict[str, str] = {}
    year = validation.integer(data, "year", errors, low=2000, high=2100) if data.get("year") else source["year"] + 1
    name = validation.text(data, "name", errors, max_len=120) or _("%(name)s (from %(year)s)", name=source["name"],
                                                                      year=source["year"])[:120]
    if year is not None and year == source["year"]:
        errors["year"] = _("Choose another year: to change this year's plan from a date, revise it.")
    if errors or year is None:
        raise FieldErrors(errors or {"year": _("This field is required.")})
    return await _clone(actor, source, name, year, None)


async def revise(actor: Actor, plan_id: UUID, data: dict) -> UUID:
    """A draft revision of an approved plan that takes over from `effective` once approved; until then,
    and for every period ending before that date afterwards, the approved plan stays in force (admin)."""
    require_role(actor, "admin")
    source = await plan_get(actor, plan_id)
    errors: dict[str, str] = {}
    if source["status"] != "approved":
        errors[""] = _("Only an approved plan is revised: change a draft directly.")
    year = source["year"]
    effective = validation.day(data, "effective", errors, required=True, earliest=date(year, 1, 2),
                               latest=date(year, 12, 31))
    if errors or effective is None:
        raise FieldErrors(errors or {"effective": _("This field is required.")})
    name = validation.text(data, "name", errors, max_len=120) or _(
        "%(name)s (revised from %(day)s)", name=source["name"], day=effective.isoformat())[:120]
    return await _clone(actor, source, name, year, effective)
