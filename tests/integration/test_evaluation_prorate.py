"""Pro-rated targets by team membership, on SQLite and PostgreSQL: a rep who joined their team on the 16th
of a 30-day month is scored against the share of the month's working days they were in a team, whatever
the day their account was made."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from server import clock
from server.accounts import membership
from server.evaluation import scoring
from server.targets import formulas
from tests import factories
from tests.integration.test_evaluation import open_cycle, run_job, score_of


def thirty_day_month() -> tuple[str, date, date]:
    """The latest month of 30 days that is over."""
    end = clock.today().replace(day=1) - timedelta(days=1)
    while end.day != 30:
        end = end.replace(day=1) - timedelta(days=1)
    return formulas.month_code(end.year, end.month), end.replace(day=1), end


def test_a_rep_who_joined_on_the_16th_has_the_target_of_their_days_in_the_team(client, world, settings):
    period, start, end = thirty_day_month()
    run = client.run
    # Made without a team, added to Team A from the 16th (an admin's move with that effective date).
    newcomer = run(factories.user("rep", None, username="rep_new", name="New Rep"))
    run(membership.move(None, newcomer, world.team_a, start + timedelta(days=15)))
    plan = run(factories.plan(start.year, targets={}, status="approved"))
    for rep in (world.rep, newcomer):
        run(factories.target(plan, "revenue", period, "rep", rep, 21_000.0))
        run(factories.order(world.customer, {rep: 10_000}, amount=9_000.0, day=start + timedelta(days=20)))
    cycle = open_cycle(client, world.team_a, period)
    run_job(client, settings)

    all_days = formulas.working_days(start, end)
    in_team = formulas.working_days(start + timedelta(days=15), end)
    assert 0 < in_team < all_days
    snap = json.loads(score_of(client, cycle, newcomer)["snapshot"])
    revenue = next(v for v in snap["items"].values() if v.get("kpi") == "revenue")
    prorated = 21_000.0 * in_team / all_days
    assert revenue["target"] == pytest.approx(21_000.0)
    assert revenue["prorated"] == pytest.approx(prorated, abs=0.01)
    assert revenue["target_to_date"] == pytest.approx(prorated, abs=0.01)  # the month is over
    assert revenue["member_days"] == [in_team, all_days] and revenue["joined"] == (start + timedelta(days=15)).isoformat()
    assert revenue["attainment"] == pytest.approx(9_000.0 / prorated, abs=1e-4)
    assert revenue["points"] == pytest.approx(scoring.points(9_000.0 / prorated, revenue["floor"], revenue["cap"]),
                                              abs=0.01)
    # The process measures count the working days in the team too.
    assert snap["summary"]["working_days"] == in_team
    reports = next(v for v in snap["items"].values() if v.get("process") == "reports_on_time")
    assert reports["den"] == in_team

    # rep_a1, in the team all along (no membership rows: User.team on every day), keeps the whole target,
    # although their account was made today.
    mine = json.loads(score_of(client, cycle, world.rep)["snapshot"])
    revenue = next(v for v in mine["items"].values() if v.get("kpi") == "revenue")
    assert revenue["prorated"] == pytest.approx(21_000.0) and "member_days" not in revenue
    assert revenue["attainment"] == pytest.approx(9_000.0 / 21_000.0, abs=1e-4)
    assert mine["summary"]["working_days"] == all_days

    # The scorecard says why the target is smaller.
    client.login("mgr_a")
    page = client.get(f"/evaluation/scores/{score_of(client, cycle, newcomer)['id']}")
    assert page.status_code == 200
    assert f"pro-rated: in a team on {in_team} of {all_days} working days" in page.text
