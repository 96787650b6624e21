"""Dashboards: the team and company boards, trends, the funnel and ageing, explanations, CSV.

Every function takes the signed-in Actor and narrows to what they may see: a rep their own numbers, a
manager the teams they lead, admin everything. Numbers come from the pace engine
(server/targets/pace.py), the SQL actuals (server/targets/actuals.py) and the sales aggregates
(server/sales/analytics.py); nothing here loops over records in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

from litestar.exceptions import NotFoundException, PermissionDeniedException

from server import clock, db
from server.accounts import hierarchy
from server.accounts.permissions import Actor, can_see_rep, rep_scope
from server.accounts.tables import Team, User
from server.i18n import N_, _, fmt_number
from server.reports.tables import Report
from server.sales import analytics
from server.sales.tables import OPEN_STAGES, Opportunity
from server.targets import actuals, formulas, pace
from server.targets.tables import Target
from server.validation import optional_uuid
from server.visits.tables import Visit
from server.web import FieldErrors, csv_download

STATUS_LABELS = {
    formulas.ON_TRACK: N_("On track"),
    formulas.AT_RISK: N_("At risk"),
    formulas.BEHIND: N_("Behind"),
    formulas.NO_TARGET: N_("No target"),
    formulas.ZERO_TARGET: N_("Target 0"),
    formulas.NO_DATA: N_("No data"),
}
# A symbol beside the colour, so the status never rests on colour alone.
STATUS_ICONS = {formulas.ON_TRACK: "✓", formulas.AT_RISK: "!", formulas.BEHIND: "✕",
                formulas.NO_TARGET: "–", formulas.ZERO_TARGET: "0", formulas.NO_DATA: "–"}
PERIOD_KIND_LABELS = {formulas.MONTH: N_("Month"), formulas.QUARTER: N_("Quarter"), formulas.YEAR: N_("Year")}
TREND_PERIODS = 12
RECORDS_PAGE = 50
CSV_RECORDS = 10_000  # the explain CSV's cap: every record behind a month's or a team's number
MAX_PAGE = 200
# Follow-ups come from visits of the last 90 days: older next steps are stale (and the home stays fast).
FOLLOW_UP_DAYS = 90


# --- Formatting ----------------------------------------------------------------------------------


def fmt_index(value: float | None) -> str:
    return "–" if value is None else fmt_number(value, 2)


def csv_number(value: float | None, digits: int = 2) -> str:
    """Numbers in CSV: plain, dot decimal, no grouping, so spreadsheets read them in any locale."""
    if value is None:
        return ""
    return f"{value:.{digits}f}"


# A CSV download: UTF-8 with a BOM (Excel opens Chinese text right), an ASCII file name.
csv_response = csv_download


# --- Parameters ----------------------------------------------------------------------------------


def period_param(raw: str | None, today: date | None = None) -> str:
    """A period code from the query string, the current month when empty; FieldErrors when malformed."""
    today = today or clock.today()
    raw = (raw or "").strip()
    if not raw:
        return formulas.period_of(today, formulas.MONTH)
    try:
        formulas.parse_period(raw)
    except ValueError:
        raise FieldErrors({"period": _("Choose a month, quarter or year.")}) from None
    return raw


def period_choices(current: str, today: date | None = None) -> list[dict]:
    """The period picker: this and the last 11 months, this and the last 3 quarters, this and last year."""
    today = today or clock.today()
    out = []
    for kind, back in ((formulas.MONTH, 11), (formulas.QUARTER, 3), (formulas.YEAR, 1)):
        code = formulas.period_of(today, kind)
        for c in [code, *reversed(formulas.previous_periods(code, back))]:
            out.append({"code": c, "kind": kind, "label": period_label(c)})
    if current not in {c["code"] for c in out}:
        kind, _s, _e = formulas.parse_period(current)
        out.append({"code": current, "kind": kind, "label": period_label(current)})
    return out


def period_label(code: str) -> str:
    kind, start, _end = formulas.parse_period(code)
    if kind == formulas.MONTH:
        return start.strftime("%Y-%m")
    return code



# --- Boards --------------------------------------------------------------------------------------


@dataclass
class Scope:
    """What a board or an explanation covers: its pace line and the reps behind it."""

    kind: str  # rep | team | teams | company
    id: UUID | None
    name: str
    rep_ids: list[UUID] | None  # None: every rep (the company)
    # A team's or a manager's teams' scope: the teams whose records are those dated while their rep was
    # in one of them (trends, drill-downs, funnel and ageing); None: by rep (`rep_ids`).
    team_ids: list[UUID] | None = None

    @property
    def ids(self) -> list[UUID]:
        """[id] of a rep's or a team's scope; [] for the company or a manager's teams together."""
        return [] if self.id is None else [self.id]


async def team_for(actor: Actor, raw: str | None) -> dict | None:
    """The team named by `raw` if the actor may open it (a manager: a team they lead; admin: any);
    NotFoundException otherwise, None when none is asked for."""
    if not raw:
        return None
    tid = optional_uuid(raw)
    if tid is None or not (actor.is_admin or tid in actor.led_team_ids):
        raise NotFoundException()
    row = await Team.select(Team.id, Team.name).where(Team.id == tid).first()
    if not row:
        raise NotFoundException()
    return row


async def teams_for(actor: Actor) -> list[dict]:
    """Teams the actor may open, by name (the admin's team picker)."""
    query = Team.select(Team.id, Team.name)
    if not actor.is_admin:
        if not actor.led_team_ids:
            return []
        query = query.where(Team.id.is_in(list(actor.led_team_ids)))
    return await query.order_by(Team.name)


async def board(actor: Actor, period: str, team: dict | None = None, today: date | None = None) -> pace.PaceBoard:
    """The pace board of a manager (their teams), an admin (the company, or one team when `team`)."""
    if actor.is_rep:
        raise PermissionDeniedException()
    if team is not None:
        return await pace.compute(actor, period, team_ids=[team["id"]], today=today)
    if actor.is_admin:
        # The company view: teams x KPIs and the company total (no rep lines to read through).
        return await pace.compute(actor, period, today=today)
    return await pace.compute(actor, period, today=today)


async def board_scope(actor: Actor, team: dict | None) -> Scope:
    """The scope of a dashboard: one team, the admin's company, or a manager's teams (one query)."""
    if actor.is_rep:
        raise PermissionDeniedException()
    if team is None and actor.is_admin:
        return Scope(pace.COMPANY, None, _("Company"), None)
    team_ids = await hierarchy.with_descendants([team["id"]]) if team is not None else list(actor.led_team_ids)
    rep_ids = (await rep_scope(actor, teams=team_ids, reps_only=True)).ids() or []
    if team is not None:
        return Scope(pace.TEAM, team["id"], team["name"], rep_ids, team_ids)
    if len(team_ids) == 1:
        return Scope(pace.TEAM, team_ids[0], "", rep_ids, team_ids)
    return Scope(pace.TEAMS, None, _("My teams"), rep_ids, team_ids)


def board_csv(board: pace.PaceBoard, lines: list[pace.Line]) -> tuple[list[str], list[list]]:
    header = [_("Scope"), _("Name"), _("Team"), _("KPI"), _("Actual"), _("Target"), _("Attainment %%"),
              _("Expected to date"), _("Pace index"), _("Projection"), _("Status")]
    rows = []
    for ln in lines:
        for kpi in board.kpis:
            c = ln.cells.get(kpi.code)
            if c is None:
                continue
            p = c.pace
            rows.append([ln.kind, line_name(ln), ln.team_name, kpi.label, csv_number(p.actual), csv_number(p.target),
                         csv_number(None if p.attainment is None else p.attainment * 100, 1), csv_number(p.expected),
                         csv_number(p.index, 3), csv_number(p.projection), _(STATUS_LABELS[p.status])])
    return header, rows


def line_name(line: pace.Line) -> str:
    if line.kind == pace.COMPANY:
        return _("Company")
    if line.kind == pace.TEAMS:
        return _("My teams")
    return line.name


# --- Trends --------------------------------------------------------------------------------------


async def trend(actor: Actor, kpi: actuals.KpiDef, period: str, scope: Scope) -> list[dict]:
    """The last 12 periods (of `period`'s kind, ending with it) of `kpi` for `scope`: actual (one grouped
    by-month query) and target (one query over the approved plans' cells)."""
    codes = [*formulas.previous_periods(period, TREND_PERIODS - 1), period]
    first = formulas.parse_period(codes[0])[1]
    last = formulas.parse_period(codes[-1])[2]
    rep_ids, team_ids = _records_of(scope)
    months = await actuals.by_month(kpi, first, last, rep_ids, team_ids=team_ids)
    targets = await _trend_targets(kpi, codes, scope)
    out = []
    for code in codes:
        pair = actuals.total(months[(None, m)] for m in formulas.months(code) if (None, m) in months)
        value = actuals.value_of(kpi, pair if pair != (0.0, 0.0) else None)
        out.append({"period": code, "label": _short_label(code), "actual": value, "target": targets.get(code)})
    return out


def _records_of(scope: Scope) -> tuple[list[UUID] | None, list[UUID] | None]:
    """(rep_ids, team_ids) for the actuals of a scope: a team's records by membership on their date."""
    if scope.team_ids is not None:
        return None, scope.team_ids
    return scope.rep_ids, None


def _short_label(code: str) -> str:
    kind, start, _end = formulas.parse_period(code)
    if kind == formulas.MONTH:
        return f"{start.month:02d}" if start.month != 1 else f"{start.year % 100:02d}/01"
    if kind == formulas.QUARTER:
        return f"{start.year % 100:02d}Q{code[-1]}"
    return code


async def _trend_targets(kpi: actuals.KpiDef, codes: list[str], scope: Scope) -> dict[str, float]:
    if scope.kind == pace.COMPANY:
        kinds, ids = pace.COMPANY, [pace.COMPANY_ID]
    elif scope.kind == pace.REP:
        kinds, ids = pace.REP, scope.ids
    elif scope.kind == pace.TEAM:
        kinds, ids = pace.TEAM, scope.ids
    else:
        return {}  # a manager's several teams: no single target line
    rows = pace.in_force(await Target.select(
        Target.period, Target.value, Target.plan.approved_at.as_alias("approved_at"),
        Target.plan.effective_from.as_alias("effective_from"), Target.period_end,
    ).where(
        (Target.kpi == kpi.id) & (Target.plan.status == "approved") & Target.period.is_in(codes)
        & (Target.scope_kind == kinds) & Target.scope_id.is_in(ids)
    ))
    return {r["period"]: float(r["value"]) for r in rows}


# --- Funnel and ageing ---------------------------------------------------------------------------


async def funnel(actor: Actor, start: date, end: date, scope: Scope) -> analytics.Funnel:
    """A board's funnel: a team's deals by the membership at their date, as the board's numbers."""
    rep_ids, team_ids = _records_of(scope)
    return await analytics.funnel(actor, start, end, rep_ids, team_ids)


async def ageing(actor: Actor, as_of: date, scope: Scope) -> analytics.Ageing:
    """A board's ageing: a team's orders by the membership at the order's date, as the board's numbers."""
    rep_ids, team_ids = _records_of(scope)
    rows = [] if rep_ids == [] else await analytics.ageing(actor, as_of, rep_ids, team_ids)
    return analytics.Ageing(rows, analytics.ageing_totals(rows), as_of)


# --- Explanations --------------------------------------------------------------------------------


async def resolve_scope(actor: Actor, raw: str) -> Scope:
    """rep:ID, team:ID, teams (a manager's teams together) or company, if the actor may see it; else 404."""
    raw = (raw or "").strip()
    kind, _sep, ident = raw.partition(":")
    if kind == pace.REP:
        rid = optional_uuid(ident)
        if rid is None or not await can_see_rep(actor, rid):
            raise NotFoundException()
        row = await User.select(User.display_name, User.role).where(User.id == rid).first()
        if not row:
            raise NotFoundException()
        return Scope(pace.REP, rid, row["display_name"], [rid])
    if kind == pace.TEAM:
        team = await team_for(actor, ident)
        if team is None:
            raise NotFoundException()
        reps = await rep_scope(actor, teams=[team["id"]], reps_only=True)
        return Scope(pace.TEAM, team["id"], team["name"], reps.ids() or [],
                     await hierarchy.with_descendants([team["id"]]))
    if kind == pace.TEAMS and actor.is_manager:
        reps = await rep_scope(actor, reps_only=True)
        return Scope(pace.TEAMS, None, _("My teams"), reps.ids() or [], list(actor.led_team_ids))
    if kind == pace.COMPANY and actor.is_admin:
        return Scope(pace.COMPANY, None, _("Company"), None)
    raise NotFoundException()


async def explain(actor: Actor, kpi_code: str, scope_raw: str, period: str, page: int = 1,
                  today: date | None = None, page_size: int = 0) -> dict:
    """One number opened: the KPI, the pace with every input filled in, and the records behind it."""
    kpi = await actuals.kpi_by_code((kpi_code or "").strip()[:40])
    if kpi is None:
        raise NotFoundException()
    scope = await resolve_scope(actor, scope_raw)
    today = today or clock.today()
    if scope.kind == pace.REP:
        b = await pace.compute(actor, period, rep_ids=scope.ids, kpi_codes=[kpi.code], today=today)
        line = b.line(f"rep:{scope.id}")
    elif scope.kind == pace.TEAM:
        b = await pace.compute(actor, period, team_ids=scope.ids, kpi_codes=[kpi.code], today=today)
        line = b.line(f"team:{scope.id}")
    else:
        b = await pace.compute(actor, period, kpi_codes=[kpi.code], today=today)
        line = b.total
        if line is None and scope.kind == pace.TEAMS and len(b.teams) == 1:
            line = b.teams[0]
    if line is None or kpi.code not in line.cells:
        raise NotFoundException()
    cell = line.cells[kpi.code]
    start, end = b.start, b.end
    upto = min(max(today, start - timedelta(days=1)), end)
    worked_total = formulas.working_days(start, end, b.overrides)
    worked_done = formulas.working_days(start, upto, b.overrides) if today >= start else 0
    holidays = sorted(d for d, working in b.overrides.items() if start <= d <= end)
    page = max(1, min(page, MAX_PAGE))
    size = page_size or RECORDS_PAGE
    rep_ids, team_ids = _records_of(scope)
    fetched = await actuals.records(kpi, start, end, rep_ids, limit=page * size + 1, team_ids=team_ids)
    rows = fetched[(page - 1) * size: page * size]
    names = await _rep_names({r["rep"] for r in rows})
    for r in rows:
        r["rep_name"] = names.get(r["rep"], "")
        r["share"] = (r.get("share_bp") or 0) / 10000
    count = _record_count(kpi, cell.pair)
    for r in rows:
        r["part_label"] = part_label(kpi, r.get("part"))
    weights = b.weights.get(kpi.code)
    return {
        "kpi": kpi, "scope": scope, "line": line, "cell": cell, "pace": cell.pace, "board": b,
        "period": period, "start": start, "end": end, "today": today,
        "working_total": worked_total, "working_done": worked_done, "overrides": holidays,
        "weights": [(m, weights[m]) for m in formulas.months(period)] if weights else None,
        "records": rows, "page": page, "has_more": len(fetched) > page * size, "count": count,
        "first_index": (page - 1) * size + 1, "credited": any(r.get("credited") is not None for r in rows),
        "adjustments": await analytics.adjustments(kpi.code, start, end, scope.rep_ids) if kpi.builtin else [],
    }


def _record_count(kpi: actuals.KpiDef, pair: actuals.Pair) -> int | None:
    """How many records a number came from, when its denominator counts them (COUNT(*) in actuals)."""
    if kpi.builtin and kpi.code != "gross_margin_pct":
        return int(round(pair[1]))
    if not kpi.builtin and kpi.kind == "sum":
        return int(round(pair[1]))
    return None


async def _rep_names(ids: set[UUID]) -> dict[UUID, str]:
    if not ids:
        return {}
    rows = await User.select(User.id, User.display_name).where(User.id.is_in(list(ids)))
    return {r["id"]: r["display_name"] for r in rows}


# How a drill-down row of a rate counts: conversion names the stage, other rates the sums.
PART_LABELS = {
    ("conversion_rate", actuals.NUMERATOR): N_("Won: numerator and denominator"),
    ("conversion_rate", actuals.DENOMINATOR): N_("Lost: denominator only"),
    ("", actuals.NUMERATOR): N_("Numerator and denominator"),
    ("", actuals.DENOMINATOR): N_("Denominator only"),
}


def part_label(kpi: actuals.KpiDef, part: str | None) -> str:
    """The "counts in" of a drill-down row, translated ("" for a sum KPI's row)."""
    if part is None:
        return ""
    code = kpi.code if kpi.builtin and (kpi.code, part) in PART_LABELS else ""
    return _(PART_LABELS[(code, part)])


def explain_csv(data: dict) -> tuple[list[str], list[list]]:
    rate = data["kpi"].kind == "rate"
    header = [_("Date"), _("Reference"), _("Customer"), _("Rep"), _("Amount"), _("Share %%"), _("Credited")]
    if rate:
        header.append(_("Counts in"))
    rows = []
    for r in data["records"]:
        day = r["day"]
        day = day.isoformat() if hasattr(day, "isoformat") else str(day or "")
        amount = r.get("amount")
        rows.append([day[:10], r.get("ref") or "", r.get("customer") or "", r.get("rep_name", ""),
                     csv_number(float(amount)) if isinstance(amount, (int, float, Decimal)) else (amount or ""),
                     csv_number(r["share"] * 100, 2),
                     csv_number(r["credited"], 2) if r.get("credited") is not None else ""])
        if rate:
            rows[-1].append(part_label(data["kpi"], r.get("part")))
    return header, rows


# --- The rep's day -------------------------------------------------------------------------------


async def rep_pace(actor: Actor, today: date | None = None) -> pace.PaceBoard:
    """The rep's own KPIs for the current month."""
    today = today or clock.today()
    return await pace.compute(actor, formulas.period_of(today, formulas.MONTH), rep_ids=[actor.id], today=today)


async def todays_plan(actor: Actor, today: date | None = None) -> dict:
    """Customers with a next step due today or overdue (from the rep's latest visit to each), open deals
    expected to close this week, reports waiting for the rep. Three small indexed queries."""
    today = today or clock.today()
    since = today - timedelta(days=FOLLOW_UP_DAYS)
    # The rep's latest visit to each customer (a window over the rep's visits of the last 90 days, read
    # through the (rep, visit_date) index), kept when its next step is due today or earlier.
    follow_ups = await Visit.raw(
        "SELECT x.customer AS customer, cu.name AS customer_name, x.next_step AS next_step,"
        " x.next_step_date AS next_step_date FROM (SELECT v.customer, v.next_step, v.next_step_date,"
        " ROW_NUMBER() OVER (PARTITION BY v.customer ORDER BY v.checkin_at DESC, v.id DESC) AS rn"
        " FROM visit v WHERE v.rep = {} AND v.visit_date >= {}) x JOIN customer cu ON cu.id = x.customer"
        " WHERE x.rn = 1 AND x.next_step_date IS NOT NULL AND x.next_step_date <= {}"
        " ORDER BY x.next_step_date, cu.name LIMIT 20",
        actor.id, since, today,
    )
    for f in follow_ups:
        f["next_step_date"] = db.as_date(f["next_step_date"])
        f["overdue"] = f["next_step_date"] < today
    week = clock.week_start(today)
    deals = await Opportunity.select(
        Opportunity.id, Opportunity.name, Opportunity.stage, Opportunity.amount_cents, Opportunity.expected_close,
        Opportunity.customer.name.as_alias("customer_name"),
    ).where(
        (Opportunity.owner == actor.id) & Opportunity.stage.is_in(list(OPEN_STAGES))
        & (Opportunity.expected_close >= week) & (Opportunity.expected_close <= week + timedelta(days=6))
    ).order_by(Opportunity.expected_close).limit(20)
    returned = await Report.select(Report.id, Report.kind, Report.period_start).where(
        (Report.rep == actor.id) & (Report.status == "returned")
    ).order_by(Report.period_start).limit(10)
    return {"follow_ups": follow_ups, "deals": deals, "returned": returned}
