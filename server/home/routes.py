"""The landing pages: where each role starts its day."""

from __future__ import annotations

from litestar import Router, get

from server import clock
from server.accounts.permissions import Actor
from server.reports import services as reports
from server.visits import services as visits
from server.web import page, redirect


@get("/")
async def start(actor: Actor) -> object:
    return redirect("/home" if actor.is_rep else "/manager/queue")


@get("/home")
async def rep_home(actor: Actor) -> object:
    """Today at a glance: visits logged, today's report, this week's report."""
    if not actor.is_rep:
        return redirect("/")
    today = clock.today()
    todays = await visits.for_rep_day(actor.id, today)
    daily = await reports.find(actor.id, "daily", today)
    weekly = await reports.find(actor.id, "weekly", clock.week_start(today))
    return page(
        "home/rep.html", actor=actor, today=today, visits=todays, daily=daily, weekly=weekly,
        purpose_labels=visits.PURPOSE_LABELS, status_labels=reports.STATUS_LABELS,
    )


router = Router(path="/", route_handlers=[start, rep_home])
