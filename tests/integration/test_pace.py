"""The pace engine on SQLite and PostgreSQL: hand-computed figures, shared orders, rate roll-ups, scope."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest

from server import clock
from server.accounts.permissions import load_actor
from server.targets import pace
from server.targets.tables import COMPANY_SCOPE_ID, Kpi, Target, TargetPlan, WorkCalendar
from tests import factories

MARCH = "2026-03"
TODAY = date(2026, 3, 13)  # a Friday
HOLIDAY = date(2026, 3, 9)  # a Monday made a holiday: March 2026 has 22 weekdays, so 21 working days


async def approved_plan(year: int, cells: list[tuple[str, str, str, UUID | str, float]], status: str = "approved") -> UUID:
    """A plan with `cells` (kpi code, period, scope kind, scope id, value)."""
    pid = uuid4()
    now = clock.now()
    await TargetPlan.insert(TargetPlan(id=pid, name=f"Plan {year}", year=year, status=status, created_at=now,
                                       updated_at=now, approved_at=now if status == "approved" else None))
    kpis = {r["code"]: r["id"] for r in await Kpi.select(Kpi.id, Kpi.code)}
    from server.targets import formulas

    rows = []
    for code, period, scope_kind, scope_id, value in cells:
        kind, start, end = formulas.parse_period(period)
        rows.append(Target(id=uuid4(), plan=pid, kpi=kpis[code], period=period, period_kind=kind, period_start=start,
                           period_end=end, scope_kind=scope_kind, scope_id=UUID(str(scope_id)), value=value,
                           updated_at=now))
    await Target.insert(*rows)
    return pid


async def holiday(day: date) -> None:
    await WorkCalendar.insert(WorkCalendar(id=uuid4(), day=day, working=False, note="Holiday"))


def actor(client, user_id):
    return client.run(load_actor(str(user_id)))


@pytest.fixture
def march(client, world):
    """Orders, deals and a plan for March 2026 (see the figures in each test)."""
    run = client.run
    w = world
    # Shared order 7,500: rep 60 % (4,500), other rep 40 % (3,000). Solo order of the rep 3,600.
    run(factories.order(w.customer, {w.rep: 6000, w.other_rep: 4000}, amount=7500, cost=5000, day=date(2026, 3, 3)))
    run(factories.order(w.customer, {w.rep: 10000}, amount=3600, cost=1600, day=date(2026, 3, 10)))
    run(factories.order(w.customer_b, {w.rep_b: 10000}, amount=200, cost=100, day=date(2026, 3, 11)))
    # Outside the period: never counted.
    run(factories.order(w.customer, {w.rep: 10000}, amount=999, day=date(2026, 4, 1)))
    # Conversion: rep 1 won of 1 closed (100 %); other rep 1 won of 4 closed (25 %); team 2 / 5 = 40 %.
    run(factories.opportunity(w.rep, w.customer, stage="won", closed_on=date(2026, 3, 5)))
    run(factories.opportunity(w.other_rep, w.other_customer, stage="won", closed_on=date(2026, 3, 5)))
    for _ in range(3):
        run(factories.opportunity(w.other_rep, w.other_customer, stage="lost", closed_on=date(2026, 3, 6)))
    run(holiday(HOLIDAY))
    run(approved_plan(2026, [
        ("revenue", MARCH, "rep", w.rep, 21000), ("revenue", MARCH, "rep", w.other_rep, 9000),
        ("revenue", MARCH, "team", w.team_a, 40000), ("revenue", MARCH, "team", w.team_b, 1000),
        ("revenue", MARCH, "company", COMPANY_SCOPE_ID, 50000),
        ("conversion_rate", MARCH, "team", w.team_a, 50),
    ]))
    return w


def test_a_reps_pace_matches_the_hand_computed_figures(client, march):
    w = march
    board = client.run(pace.compute(actor(client, w.rep), MARCH, today=TODAY))
    assert [ln.id for ln in board.reps] == [w.rep] and board.teams == [] and board.total is None
    p = board.reps[0].cells["revenue"].pace
    # Rep: 60 % of 7,500 + 3,600 = 8,100. Elapsed: Mar 2-6 (5) + Mar 10-13 (4) = 9 of 21 working days.
    assert p.actual == pytest.approx(8100)
    assert p.target == 21000
    assert p.elapsed == pytest.approx(9 / 21)
    assert p.expected == pytest.approx(9000)
    assert p.attainment == pytest.approx(8100 / 21000)
    assert p.index == pytest.approx(0.9)
    assert p.status == "at_risk"  # 0.8 <= 0.9 < 0.95
    assert p.projection == pytest.approx(8100 * 21 / 9)
    # No target for visits: a value, no status.
    assert board.reps[0].cells["visits"].pace.status == "no_target"


def test_shared_orders_count_by_share_without_double_counting_in_teams(client, march):
    w = march
    board = client.run(pace.compute(actor(client, w.admin), MARCH, today=TODAY))
    reps = {ln.id: ln.cells["revenue"].actual for ln in board.reps}
    assert reps[w.rep] == pytest.approx(8100) and reps[w.other_rep] == pytest.approx(3000)
    assert reps[w.rep_b] == pytest.approx(200)
    teams = {ln.id: ln for ln in board.teams}
    # Team A: 7,500 + 3,600 once each, not 7,500 twice.
    assert teams[w.team_a].cells["revenue"].actual == pytest.approx(11100)
    assert teams[w.team_a].cells["revenue"].target == 40000
    assert board.total.kind == "company"
    assert board.total.cells["revenue"].actual == pytest.approx(11300)
    assert board.total.cells["revenue"].target == 50000
    assert board.total.cells["revenue"].pace.expected == pytest.approx(50000 * 9 / 21)


def test_a_rate_kpi_rolls_up_from_sums_not_an_average_of_rates(client, march):
    w = march
    board = client.run(pace.compute(actor(client, w.manager), MARCH, today=TODAY))
    reps = {ln.id: ln.cells["conversion_rate"].actual for ln in board.reps}
    assert reps[w.rep] == pytest.approx(100.0) and reps[w.other_rep] == pytest.approx(25.0)
    team = board.teams[0].cells["conversion_rate"].pace
    assert team.actual == pytest.approx(40.0)  # 2 won of 5 closed; the average of the rates would be 62.5
    assert team.target == 50 and team.expected == 50  # a rate's whole target applies from day one
    assert team.index == pytest.approx(0.8) and team.status == "at_risk"
    gm = board.teams[0].cells["gross_margin_pct"].actual
    # Margin (2,500 + 2,000) over revenue (7,500 + 3,600) for the team.
    assert gm == pytest.approx(4500 / 11100 * 100)


def test_each_actor_sees_only_their_scope(client, march):
    w = march
    rep_board = client.run(pace.compute(actor(client, w.rep), MARCH, rep_ids=[w.other_rep, w.rep_b], today=TODAY))
    assert rep_board.reps == [] and rep_board.teams == [] and rep_board.total is None
    mgr = client.run(pace.compute(actor(client, w.manager), MARCH, today=TODAY))
    assert {ln.id for ln in mgr.reps} == {w.rep, w.other_rep}
    assert [ln.id for ln in mgr.teams] == [w.team_a] and mgr.total is None
    # Asking for another team's reps or team gives nothing of theirs.
    other = client.run(pace.compute(actor(client, w.manager), MARCH, team_ids=[w.team_b], today=TODAY))
    assert other.reps == [] and other.teams == []
    narrowed = client.run(pace.compute(actor(client, w.manager), MARCH, rep_ids=[w.rep_b, w.rep], today=TODAY))
    assert [ln.id for ln in narrowed.reps] == [w.rep]


def test_a_manager_of_two_teams_gets_their_sum(client, march):
    w = march
    run = client.run
    from server.accounts.tables import TeamManager

    run(TeamManager.insert(TeamManager(id=uuid4(), team=w.team_b, manager=w.manager)))
    board = run(pace.compute(actor(client, w.manager), MARCH, today=TODAY))
    assert board.total is not None and board.total.kind == "teams"
    cell = board.total.cells["revenue"]
    assert cell.actual == pytest.approx(11300) and cell.target == 41000  # the teams' targets added up


def test_no_approved_plan_means_no_target_and_drafts_do_not_count(client, world):
    w = world
    run = client.run
    run(factories.order(w.customer, {w.rep: 10000}, amount=500, day=date(2026, 3, 3)))
    run(approved_plan(2026, [("revenue", MARCH, "rep", w.rep, 1000)], status="draft"))
    board = run(pace.compute(actor(client, w.rep), MARCH, today=TODAY))
    p = board.reps[0].cells["revenue"].pace
    assert p.actual == 500 and p.target is None and p.status == "no_target" and not board.has_plan


def test_a_quarter_uses_last_years_seasonality(client, world):
    w = world
    run = client.run
    # Last year: January 1,000, February 3,000, nothing else: Q1 weights Jan 0.25, Feb 0.75, Mar 0.
    run(factories.order(w.customer, {w.rep: 10000}, amount=1000, day=date(2025, 1, 15)))
    run(factories.order(w.customer, {w.rep: 10000}, amount=3000, day=date(2025, 2, 15)))
    board = run(pace.compute(actor(client, w.admin), "2026-Q1", kpi_codes=["revenue"], today=date(2026, 1, 31)))
    assert board.weights["revenue"]["2026-01"] == pytest.approx(0.25)
    # January fully elapsed: 0.25 of the quarter's expected work.
    assert board.elapsed["revenue"] == pytest.approx(0.25)
    assert list(board.elapsed) == ["revenue"]


def test_a_malformed_period_is_a_value_error(client, world):
    with pytest.raises(ValueError):
        client.run(pace.compute(actor(client, world.admin), "2026-13"))
