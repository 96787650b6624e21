"""Dashboards: the manager's team board, the admin's company board, trends, funnel, ageing, explanations.

Every table on these pages downloads as CSV from the same URL with `?format=csv` (and `table=` naming
which one on /dashboard).
"""

from __future__ import annotations

from litestar import Request, Router, get
from litestar.exceptions import PermissionDeniedException

from server import clock
from server.accounts.permissions import Actor
from server.dashboards import charts, services
from server.i18n import _, fmt_share, fmt_value
from server.targets import actuals, formulas
from server.web import FieldErrors, is_htmx, page

CSV_TABLES = ("board", "trend", "funnel", "ageing")
# The sections below the board load as htmx fragments after the page (each is its own request), so the
# board shows at once; `section=all` renders them in the page (no JavaScript), as does a CSV download.
SECTIONS = ("trend", "funnel", "ageing")


def _helpers() -> dict:
    return {
        "fmt_value": fmt_value, "fmt_share": fmt_share, "fmt_index": services.fmt_index,
        "status_labels": services.STATUS_LABELS, "status_icons": services.STATUS_ICONS, "charts": charts,
        "line_name": services.line_name,
    }


def _page_int(raw: str | None) -> int:
    try:
        return max(1, min(int(str(raw or "1")[:6]), services.MAX_PAGE))
    except ValueError:
        return 1


@get("/dashboard")
async def dashboard(request: Request, actor: Actor, period: str = "", team: str = "", kpi: str = "",
                    format: str = "", table: str = "", section: str = "") -> object:  # noqa: A002 - the query parameter is named "format"
    """A manager's teams (reps x KPIs), or the admin's company (teams x KPIs) and any team's view."""
    if actor.is_rep:
        raise PermissionDeniedException()
    today = clock.today()
    errors: dict[str, str] = {}
    try:
        code = services.period_param(period, today)
    except FieldErrors as e:
        errors = e.errors
        code = services.period_param("", today)
    chosen_team = await services.team_for(actor, team)
    company_view = actor.is_admin and chosen_team is None
    # Which reps the funnel, ageing and trend cover (None: the whole company, for admin).
    scope = await services.board_scope(actor, chosen_team)
    kpis = await actuals.kpis()
    trend_kpi = next((k for k in kpis if k.code == kpi), kpis[0] if kpis else None)
    kind, start, end = formulas.parse_period(code)
    fragment = is_htmx(request) and section in SECTIONS
    if format == "csv":
        loaded = {table} if table in SECTIONS else set()
    elif section == "all":
        loaded = set(SECTIONS)
    else:
        loaded = {section} if fragment else set()
    trend = await services.trend(actor, trend_kpi, code, scope) if trend_kpi and "trend" in loaded else []
    funnel = await services.funnel(actor, start, end, scope) if "funnel" in loaded else None
    ageing = await services.ageing(actor, min(today, end), scope) if "ageing" in loaded else None
    common = dict(actor=actor, period=code, team=chosen_team, trend=trend, trend_kpi=trend_kpi, funnel=funnel,
                  ageing=ageing, scope=scope, loaded=loaded, section=section, kpis=kpis, **_helpers())
    if fragment:
        return page("dashboards/_section.html", **common)
    if format == "csv" and table in SECTIONS:
        return _dashboard_csv(table, trend, trend_kpi, funnel, ageing, code)
    board = await services.board(actor, code, chosen_team, today)
    if format == "csv":
        header, rows = services.board_csv(board, [
            *(board.teams if company_view else board.reps), *([] if company_view else board.teams),
            *([board.total] if board.total else [])])
        return services.csv_response(f"fieldpace-board-{code}.csv", header, rows)
    lines = (board.teams if company_view else board.reps)
    totals = [*([] if company_view else board.teams), *([board.total] if board.total else [])]
    context = dict(
        board=board, period_kind=kind, choices=services.period_choices(code, today),
        period_kind_labels=services.PERIOD_KIND_LABELS, teams=await services.teams_for(actor),
        company_view=company_view, lines=lines, totals=totals, errors=errors, **common,
    )
    return page("dashboards/dashboard.html", status_code=422 if errors else 200, **context)


def _dashboard_csv(table, trend, trend_kpi, funnel, ageing, code):
    base = f"fieldpace-{table or 'board'}-{code}.csv"
    if table == "trend" and trend_kpi is not None:
        header = [_("Period"), trend_kpi.label, _("Target")]
        rows = [[t["period"], services.csv_number(t["actual"]), services.csv_number(t["target"])] for t in trend]
        return services.csv_response(f"fieldpace-trend-{trend_kpi.code}-{code}.csv", header, rows)
    if table == "funnel" and funnel is not None:
        header = [_("Stage"), _("Open now"), _("Reached"), _("Conversion to next %%"), _("Average days in stage")]
        rows = [[_(s.label), s.count, s.reached,
                 services.csv_number(None if s.conversion is None else s.conversion * 100, 1),
                 services.csv_number(s.avg_days, 1)] for s in funnel.stages]
        return services.csv_response(base, header, rows)
    if table == "ageing" and ageing is not None:
        header = [_("Rep"), *[_(label) for _k, label in ageing.buckets], _("Total")]
        rows = [[r.rep_name, *[services.csv_number(r.bucket(k) / 100) for k, _l in ageing.buckets],
                 services.csv_number(r.total / 100)] for r in ageing.rows]
        rows.append([_("Total"), *[services.csv_number(ageing.totals.bucket(k) / 100) for k, _l in ageing.buckets],
                     services.csv_number(ageing.totals.total / 100)])
        return services.csv_response(base, header, rows)
    return services.csv_response(base, [_("Nothing to export")], [])


@get("/dashboard/explain")
async def explain(request: Request, actor: Actor, kpi: str = "", period: str = "",
                  format: str = "") -> object:  # noqa: A002 - the query parameter is named "format"
    """One number opened: its formula with the values filled in, and the records behind it.
    `scope` (rep:ID, team:ID, teams, company) and `page` are read from the query string: Litestar reserves
    the name `scope` for a handler's parameters."""
    scope = request.query_params.get("scope") or ""
    try:
        code = services.period_param(period)
    except FieldErrors as e:
        return page("dashboards/explain.html", status_code=422, actor=actor, data=None, errors=e.errors,
                    **_helpers())
    csv = format == "csv"
    # The CSV holds every record behind the number (up to CSV_RECORDS), not just the page on screen.
    data = await services.explain(actor, kpi, scope, code, 1 if csv else _page_int(request.query_params.get("page")),
                                  page_size=services.CSV_RECORDS if csv else 0)
    if format == "csv":
        header, rows = services.explain_csv(data)
        return services.csv_response(f"fieldpace-records-{data['kpi'].code}-{code}.csv", header, rows)
    return page("dashboards/explain.html", actor=actor, data=data, errors={}, **_helpers())


router = Router(path="/", route_handlers=[dashboard, explain])
