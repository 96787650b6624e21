"""The landing pages: where each role starts its day."""

from __future__ import annotations

from litestar import Router, get

from server import clock
from server.accounts.permissions import Actor
from server.dashboards import charts
from server.dashboards import services as dashboards
from server.evaluation import views as evaluation
from server.i18n import fmt_share, fmt_value
from server.reports import services as reports
from server.sales.opportunities import STAGE_LABELS
from server.visits import services as visits
from server.web import page, redirect


@get("/")
async def start(actor: Actor) -> object:
    return redirect("/home" if actor.is_rep else "/manager/queue")


@get("/home")
async def rep_home(actor: Actor, format: str = "") -> object:
    """Today at a glance: this month's pace per KPI, today's plan, visits logged, today's report."""
    if not actor.is_rep:
        return redirect("/")
    today = clock.today()
    board = await dashboards.rep_pace(actor, today)
    line = board.reps[0] if board.reps else None
    if format == "csv":
        header, rows = dashboards.board_csv(board, [line] if line else [])
        return dashboards.csv_response(f"fieldpace-my-pace-{board.period}.csv", header, rows)
    plan = await dashboards.todays_plan(actor, today)
    todays = await visits.for_rep_day(actor.id, today)
    daily = await reports.find(actor.id, "daily", today)
    weekly = await reports.find(actor.id, "weekly", clock.week_start(today))
    return page(
        "home/rep.html", actor=actor, today=today, visits=todays, daily=daily, weekly=weekly,
        purpose_labels=visits.PURPOSE_LABELS, status_labels=reports.STATUS_LABELS, board=board, line=line,
        plan=plan, stage_labels=STAGE_LABELS, kind_labels=reports.KIND_LABELS, charts=charts,
        fmt_value=fmt_value, fmt_share=fmt_share, fmt_index=dashboards.fmt_index,
        pace_labels=dashboards.STATUS_LABELS, pace_icons=dashboards.STATUS_ICONS,
        evaluation=await evaluation.home_summary(actor),
    )


router = Router(path="/", route_handlers=[start, rep_home])
