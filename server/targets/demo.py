"""Demo data for the targets domain: the approved plan of the current year, company, teams and reps x
year, quarters and months. Called by server/demo.py's generator with what it wrote (the Stats)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from server.targets import formulas
from server.targets.tables import COMPANY_SCOPE_ID, Kpi, Target, TargetPlan

if TYPE_CHECKING:
    from server.demo import Ids, Stats, Writer


async def plan(w: Writer, new_id: Ids, stats: Stats, admin: UUID, teams: list, members: list[list[int]],
               rep_ids: list, ability: list[float], energy: list[float], today: date, days: int, *,
               season: list[float], improver: int) -> None:
    """An approved plan for the current year: every active built-in KPI, company/team/rep x year/quarters/
    months. Sum KPIs: the company year is last twelve months' actual x 1.1, spread by that history's
    seasonality (the generator's own curve when the span is shorter than a year), then each month split to
    teams and reps by weights (formulas.split, so every parent is exactly the sum of its children, in
    both directions). Rate KPIs: every cell carries the company's value."""
    year = today.year
    kpis = await Kpi.select(Kpi.id, Kpi.code, Kpi.unit, Kpi.kind).where(
        (Kpi.builtin == True) & (Kpi.active == True)  # noqa: E712 - Piccolo builds SQL from ==
    ).order_by(Kpi.position)
    plan = new_id()
    created = datetime(year - 1, 12, 15, 2, 0, tzinfo=UTC)
    approved = datetime(year - 1, 12, 20, 8, 0, tzinfo=UTC)
    w.add(TargetPlan, {"id": plan, "name": f"{year} 年度销售目标", "year": year, "status": "approved",
                       "created_by": admin, "created_at": created, "updated_at": approved,
                       "approved_by": admin, "approved_at": approved})
    full_year = days >= 365
    annualise = 1.0 if full_year else 365 / days
    month_working = [formulas.working_days(date(year, m, 1), formulas.month_end(year, m)) for m in range(1, 13)]
    model = formulas.seasonality([season[m] * month_working[m] for m in range(12)])
    # The manager's assessment of each rep when the plan was made: their form, with the extremes toned
    # down (so the best beat it and the weakest fall short); rep3 was expected to have a good year (they
    # fall short early on, catch up by mid-year and end well ahead).
    assessed = [1.1 if i == improver else a ** 0.3 for i, a in enumerate(ability)]
    busy = [0.5 + 0.5 * e for e in energy]
    weights = {"revenue": assessed, "gross_margin": assessed, "collections": assessed, "visits": busy,
               "new_customers": [1.0] * len(rep_ids)}
    periods = formulas.year_periods(year)
    bounds = {p: formulas.parse_period(p) for p in periods}
    company = UUID(COMPANY_SCOPE_ID)
    won_rate = 100.0 * stats.won / stats.closed if stats.closed else 30.0
    revenue_total = sum(sum(r) for r in stats.sums["revenue"])
    margin_total = sum(sum(r) for r in stats.sums["gross_margin"])
    rates = {
        "conversion_rate": round(won_rate + 3, 1),
        "gross_margin_pct": round(100.0 * margin_total / revenue_total + 1, 1) if revenue_total else 30.0,
        "satisfaction": round(min(5.0, stats.sat_sum / stats.sat_count + 0.1), 1) if stats.sat_count else 4.3,
    }

    def cell(kpi, period: str, scope_kind: str, scope_id: UUID, value: float) -> None:
        kind, start, end = bounds[period]
        w.add(Target, {"id": new_id(), "plan": plan, "kpi": kpi["id"], "period": period, "period_kind": kind,
                       "period_start": start, "period_end": end, "scope_kind": scope_kind, "scope_id": scope_id,
                       "value": value, "updated_by": admin, "updated_at": approved})

    for kpi in kpis:
        code = kpi["code"]
        if kpi["kind"] == "rate" or code not in stats.sums:
            value = rates.get(code)
            if value is None:
                continue
            for period in periods:
                cell(kpi, period, "company", company, value)
                for team in teams:
                    cell(kpi, period, "team", team, value)
                for rep in rep_ids:
                    cell(kpi, period, "rep", rep, value)
            continue
        decimals = formulas.decimals_for(kpi["unit"])
        scale = 10 ** decimals
        history = [sum(r[m] for r in stats.sums[code]) for m in range(12)]
        season = formulas.seasonality(history) if full_year else model
        year_value = round(sum(history) * annualise * 1.1, decimals)
        # Integer units (cents, whole counts) per scope and month; quarters and years are sums of them.
        company_months = [round(v * scale) for v in formulas.split(year_value, season, decimals)]
        rep_w = weights[code]
        team_w = [sum(rep_w[i] for i in group) for group in members]
        team_months = [[0] * 12 for _ in teams]
        rep_months = [[0] * 12 for _ in rep_ids]
        for m in range(12):
            for t, part in enumerate(formulas.split(company_months[m], team_w, 0)):
                team_months[t][m] = int(part)
                for i, share in zip(members[t], formulas.split(part, [rep_w[i] for i in members[t]], 0)):
                    rep_months[i][m] = int(share)
        for scope_kind, scope_ids, grid in (("company", [company], [company_months]), ("team", teams, team_months),
                                            ("rep", rep_ids, rep_months)):
            for scope_id, row in zip(scope_ids, grid):
                cell(kpi, periods[0], scope_kind, scope_id, sum(row) / scale)
                for q in range(4):
                    cell(kpi, periods[1 + q], scope_kind, scope_id, sum(row[3 * q:3 * q + 3]) / scale)
                for m in range(12):
                    cell(kpi, periods[5 + m], scope_kind, scope_id, row[m] / scale)
        await w.flush_if_full()
