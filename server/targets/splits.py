"""Splitting a row's target by period (equal, percentages, seasonality) and among its teams and reps.

The arithmetic (largest-remainder splits, quarters and years from their months) is pure, in
server/targets/formulas.py; this module reads the forms and the history and writes the cells."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from litestar.exceptions import NotFoundException, PermissionDeniedException

from server import validation
from server.accounts import membership
from server.accounts.permissions import Actor
from server.i18n import N_, _, fmt_number
from server.targets import actuals, formulas
from server.targets.calendar import calendar_overrides
from server.targets.org import Org, Scope, can_write_scope, check_scope, load_org, parse_scope
from server.targets.plans import Cell, plan_cells, plan_get, plan_kpi, plan_kpis, plan_period, write_cells
from server.targets.values import parse_weight
from server.web import FieldErrors

PERIOD_METHODS = {"equal": N_("Equal months"), "percentages": N_("Custom percentages"),
                  "seasonality": N_("Seasonality from last year's actuals")}
ORG_METHODS = {"equal": N_("Equal shares"), "weights": N_("Weights typed per child"),
               "share": N_("Share of last year's result")}


# --- Splitting ---------------------------------------------------------------------------------------


async def period_form(actor: Actor, plan_id: UUID, data: dict) -> tuple[dict, actuals.KpiDef, Org, Scope]:
    plan = await plan_get(actor, plan_id)
    errors: dict[str, str] = {}
    kpi = await plan_kpi(plan_id, data.get("kpi"), errors)
    scope = parse_scope(str(data.get("scope_kind") or ""), str(data.get("scope_id") or ""))
    if scope is None or kpi is None:
        raise NotFoundException()
    org = await load_org(plan_id)
    check_scope(actor, org, scope)
    if plan["status"] == "approved" and not actor.is_admin:
        raise PermissionDeniedException(_("This plan is approved and locked: only an admin can change it."))
    return plan, kpi, org, scope


async def split_by_period(actor: Actor, plan_id: UUID, data: dict) -> str:
    """Split a row's year target into quarters and months: equal, custom monthly percentages, or
    seasonality from last year's actuals (working days without history). Quarters are the sums of their
    months, so everything adds up exactly. Rate KPIs: every period inherits the year's value.
    Returns the message to show."""
    plan, kpi, org, scope = await period_form(actor, plan_id, data)
    errors: dict[str, str] = {}
    method = validation.choice(data, "method", tuple(PERIOD_METHODS), errors, default="equal")
    year = plan["year"]
    year_code = formulas.year_code(year)
    cells = await plan_cells(plan_id, kpi.id)
    current = cells.get((year_code, scope[0], scope[1]))
    if current is None:
        errors[""] = _("Set this row's target for the year first.")
    percentages: list[float] = []
    if method == "percentages":
        for m in range(1, 13):
            value = parse_weight(data.get(f"p{m}"), errors, f"p{m}")
            percentages.append(value or 0.0)
        if not any(k.startswith("p") and k[1:].isdigit() for k in errors) and abs(sum(percentages) - 100) > 0.01:
            errors["percentages"] = _("The percentages add up to %(total)s %%, not 100 %%.",
                                      total=fmt_number(sum(percentages), 2))
    if errors or current is None:
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
        quarters = formulas.derive_quarters(months, decimals)
    values: dict[Cell, float | None] = {}
    for q in range(4):
        values[(formulas.quarter_code(year, q + 1), scope[0], scope[1])] = quarters[q]
    for m in range(12):
        values[(formulas.month_code(year, m + 1), scope[0], scope[1])] = months[m]
    await write_cells(actor, plan_id, kpi, values, str(data.get("reason") or ""))
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
    plan, kpi, org, parent = await period_form(actor, plan_id, data)
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
        which = plan_period(plan, which, errors)
    weights = [1.0] * len(kids)
    if method == "weights":
        weights = [(parse_weight(data.get(f"w_{k}_{i}"), errors, f"w_{k}_{i}") or 0.0) for k, i in kids]
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
    start_month = _from_month(data, year, which, errors)
    if errors:
        raise FieldErrors(errors)
    decimals = formulas.decimals_for(kpi.unit)
    cells = await plan_cells(plan_id, kpi.id)
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
        keep = None
        if start_month is not None:
            # A re-split from a month: the months before it stay as they are.
            keep = {m: [float(cells[(m, k, i)]["value"]) if (m, k, i) in cells else 0.0 for k, i in kids]
                    for m in formulas.year_periods(year) if len(m) == 7 and "Q" not in m and m < start_month}
        months_in = await member_months(parent, kids, year)
        month_weights = {m: [w * f for w, f in zip(weights, factors, strict=True)] for m, factors in months_in.items()}
        done = formulas.split_among(parent_values, weights, year, which, decimals, month_weights=month_weights,
                                    keep=keep)
        for period, parts in done.items():
            for (k, i), part in zip(kids, parts):
                values[(period, k, i)] = part
    await write_cells(actor, plan_id, kpi, values, str(data.get("reason") or ""))
    return message


def _from_month(data: dict, year: int, which: str, errors: dict) -> str | None:
    """The month a whole-year re-split starts from ("YYYY-MM" of the plan's year), None: January."""
    raw = str(data.get("from_month") or "").strip()
    if not raw:
        return None
    months = [formulas.month_code(year, m) for m in range(1, 13)]
    if raw not in months or which != "all":
        errors["from_month"] = _("Choose a month of the plan's year (with the whole year split).")
        return None
    return None if raw == months[0] else raw


async def member_months(parent: Scope, kids: list[Scope], year: int) -> dict[str, list[float]]:
    """For a team's reps, each month's weight factors: 1 for the months that are the rep's in this team
    (`membership.month_teams`: their team on the month's first day, or the one they joined during it),
    0 for the others, so a rep who joins or leaves mid-year has targets only for the months they are in,
    and each month of a rep is planned in one team. Other parents, or teams below a region: every month 1."""
    if parent[0] != "team" or not any(k == "rep" for k, _i in kids):
        return {}
    by_month = await membership.teams_by_month(year)
    return {month: [1.0 if k != "rep" or teams.get(i) == parent[1] else 0.0 for k, i in kids]
            for month, teams in by_month.items()}


async def split_view(actor: Actor, plan_id: UUID, kpi_code: str, scope_kind: str, scope_id: str) -> dict:
    """What the split page of one row needs: the row, its children, last year's results per child."""
    plan = await plan_get(actor, plan_id)
    kpis = await plan_kpis(plan_id)
    kpi = next((k for k in kpis if k.code == kpi_code), None)
    scope = parse_scope(scope_kind, scope_id)
    if kpi is None or scope is None:
        raise NotFoundException()
    org = await load_org(plan_id)
    check_scope(actor, org, scope)
    kids = [k for k in org.children(scope)]
    last = await last_year_results(kpi, plan["year"], org, kids) if kids else []
    cells = await plan_cells(plan_id, kpi.id)
    values = {p: cells[(p, scope[0], scope[1])]["value"] for p in formulas.year_periods(plan["year"])
              if (p, scope[0], scope[1]) in cells}
    return {"plan": plan, "kpi": kpi, "scope": scope, "name": org.names.get(scope, ""),
            "children": [{"kind": k, "id": i, "name": org.names.get((k, i), ""), "last": v}
                         for (k, i), v in zip(kids, last)],
            "row_values": values, "periods": formulas.year_periods(plan["year"]), "locked": plan["status"] == "approved",
            "decimals": formulas.decimals_for(kpi.unit)}

