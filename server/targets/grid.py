"""A plan's grid for one KPI: every readable row's cells with suggestions, SMART checks and mismatches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from litestar.exceptions import NotFoundException

from server.accounts import membership
from server.accounts.permissions import Actor
from server.targets import actuals, formulas
from server.targets.org import (
    COMPANY,
    Mismatch,
    Org,
    Scope,
    can_read_scope,
    can_write_scope,
    load_org,
    mismatches,
    parse_scope,
    scope_key,
)
from server.targets.plans import plan_cells, plan_get, plan_kpis, plan_period
from server.targets.values import fmt_plain


async def cell_view(actor: Actor, plan_id: UUID, kpi_id: str, period: str, scope_kind: str, scope_id: str) -> dict:
    """One cell with its suggestion and SMART check (the page a tap on a locked cell opens)."""
    plan = await plan_get(actor, plan_id)
    errors: dict[str, str] = {}
    kpi = next((k for k in await plan_kpis(plan_id) if kpi_id in (k.code, str(k.id))), None)
    period = plan_period(plan, period, errors)
    scope = parse_scope(scope_kind, scope_id)
    if errors or scope is None or kpi is None:
        raise NotFoundException()
    org = await load_org(plan_id)
    if not org.knows(scope) or not can_read_scope(actor, org, scope):
        raise NotFoundException()
    grid_data = await grid(actor, plan_id, kpi.code, plan=plan, org=org)
    row = next((r for r in rows_of(grid_data) if r.scope == scope), None)
    if row is None:
        raise NotFoundException()
    return {**grid_data, "row": row, "cell": row.cells[period], "period": period}


def rows_of(grid_data: dict) -> list[GridRow]:
    rows: list[GridRow] = grid_data["rows"]
    return rows



# --- Mismatches, suggestions, SMART: the grid -------------------------------------------------------


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


@dataclass
class GridCell:
    """One cell of the grid: its value (None: not set), as the input shows it, the suggestion from
    history, the SMART checks of a set value and where its children do not add up."""

    value: float | None
    input: str
    suggestion: formulas.Suggestion | None
    smart: list[formulas.Check] | None
    smart_ok: bool
    mismatch: list[Mismatch]
    kind: str  # month | quarter | year


@dataclass
class GridRow:
    """One row of the grid: the company, a team or a rep, with a cell per period."""

    scope: Scope
    key: str
    kind: str
    id: UUID
    name: str
    depth: int  # 0 company, 1 team (or a rep directly under the company), 2 rep
    writable: bool
    inline: bool  # edited in place (a writable row of a draft plan)
    cells: dict[str, GridCell]
    has_children: bool
    reps_folded: bool


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
    rows: list[GridRow] = []
    out = {"plan": plan, "kpis": kpis, "kpi": kpi, "periods": periods, "rows": rows, "mismatch_count": 0,
           "locked": plan["status"] == "approved", "org": org}
    if kpi is None:
        return out
    decimals = formulas.decimals_for(kpi.unit)
    cells = await plan_cells(plan_id, kpi.id)
    values = {key: row["value"] for key, row in cells.items()}
    found = mismatches(values, org, year, decimals, await membership.teams_by_month(year)) if kpi.kind == "sum" else {}
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
        row_cells: dict[str, GridCell] = {}
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
            row_cells[period] = GridCell(
                value=value, input=fmt_plain(value, decimals), suggestion=suggestion, smart=checks,
                smart_ok=checks is not None and all(c.ok for c in checks),
                mismatch=found.get((period, scope[0], scope[1]), []), kind=pkind,
            )
        writable = can_write_scope(actor, org, scope) and (not locked or actor.is_admin)
        rows.append(GridRow(
            scope=scope, key=scope_key(scope), kind=scope[0], id=scope[1], name=org.names.get(scope, ""),
            depth=0 if scope == COMPANY else 1 if scope[0] == "team" or parent == COMPANY else 2,
            writable=writable, inline=writable and not locked, cells=row_cells,
            has_children=bool(org.children(scope)),
            reps_folded=collapsed and scope[0] == "team" and scope != shown_team and bool(org.children(scope)),
        ))
    out["decimals"] = decimals
    return out

