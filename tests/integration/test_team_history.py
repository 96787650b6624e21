"""Team membership with effective dates, over HTTP on SQLite and PostgreSQL: a rep moved between teams in
July leaves January to June with the old team, to the cent, on every board, trend, drill-down and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from server import clock
from server.accounts.permissions import load_actor
from server.accounts.tables import TeamMembership, User
from server.customers.tables import Customer
from server.sales.money import allocate
from server.targets import jobs, pace
from server.targets.tables import PaceSnapshot
from tests import factories

TODAY = date(2026, 9, 15)
MOVE = date(2026, 7, 1)
FIRST_HALF = [f"2026-{m:02d}" for m in range(1, 7)]
PERIODS = [*FIRST_HALF, "2026-Q1", "2026-Q2"]


@pytest.fixture
def in_september(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


@pytest.fixture
def year(client, world, in_september):
    """Orders with cents, shared between the mover (rep) and a colleague, every month of 2026; deals won and
    lost; customers created in January (a timestamp-dated KPI)."""
    run = client.run
    w = world
    for month in range(1, 10):
        day = date(2026, month, 10)
        # 100.01 split 60/40, and a solo order with odd cents: the shares do not round to whole yuan.
        run(factories.order(w.customer, {w.rep: 6000, w.other_rep: 4000}, amount=100.01 * month, cost=40.0, day=day))
        run(factories.order(w.customer, {w.rep: 10000}, amount=333.33 + month, cost=100.0, day=day))
        run(factories.order(w.customer_b, {w.rep_b: 10000}, amount=77.77, cost=10.0, day=day))
        run(factories.opportunity(w.rep, w.customer, stage="won" if month % 2 else "lost", closed_on=day))
    created = datetime(2026, 1, 20, 3, 0, tzinfo=UTC)
    for n in range(3):
        cid = run(factories.customer(w.rep, f"New {n}"))
        run(Customer.update({Customer.created_at: created}).where(Customer.id == cid))
    return w


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.text[:300]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def team_boards(client, w) -> dict:
    """Every first-half board, trend and drill-down CSV of both teams, as the admin downloads them."""
    out = {}
    for team in (w.team_a, w.team_b):
        for period in PERIODS:
            out[("board", team, period)] = csv_rows(client.get(f"/dashboard?period={period}&team={team}&format=csv"))
            for kpi in ("revenue", "conversion_rate", "new_customers"):
                # Sorted: the two splits of one order tie in the drill-down's order.
                out[("explain", team, period, kpi)] = sorted(csv_rows(client.get(
                    f"/dashboard/explain?kpi={kpi}&period={period}&scope=team:{team}&format=csv")))
        trend = csv_rows(client.get(f"/dashboard?period=2026-06&team={team}&table=trend&kpi=revenue&format=csv"))
        out[("trend", team)] = trend
    return out


def board_value(rows: list[list[str]], name: str, kpi: str) -> str:
    return next(r[4] for r in rows[1:] if r[1] == name and r[3] == kpi)


def test_a_move_in_july_leaves_january_to_june_with_the_old_team(client, year):
    w = year
    client.login("boss")
    before = team_boards(client, w)
    # The first half really has the mover's results in team A: 60 % of 100.01 x 1 + 334.33 in January.
    assert board_value(before[("board", w.team_a, "2026-01")], "Team A", "Revenue") == "434.34"
    september = csv_rows(client.get(f"/dashboard?period=2026-09&team={w.team_b}&format=csv"))
    assert board_value(september, "Team B", "Revenue") == "77.77"

    moved = client.post_form(f"/admin/users/{w.rep}/team", {"team": str(w.team_b), "effective": MOVE.isoformat()})
    assert moved.status_code == 303
    user = client.run(User.select(User.team).where(User.id == w.rep).first())
    assert user["team"] == w.team_b

    after = team_boards(client, w)
    # Every first-half board, drill-down and the trend to June (twelve months, all before the move): unchanged.
    for key, rows in before.items():
        assert rows == after[key], key
    # From July the mover's results are team B's: September's 60 % of 900.09 + 342.33 join B's 77.77.
    september = csv_rows(client.get(f"/dashboard?period=2026-09&team={w.team_b}&format=csv"))
    assert board_value(september, "Team B", "Revenue") == f"{0.6 * 900.09 + 342.33 + 77.77:.2f}"
    team_a_sept = csv_rows(client.get(f"/dashboard?period=2026-09&team={w.team_a}&format=csv"))
    assert board_value(team_a_sept, "Team A", "Revenue") == f"{0.4 * 900.09:.2f}"
    # The year splits at the move: team A has the mover's January to June, team B July to September.
    year_a = csv_rows(client.get(f"/dashboard?period=2026&team={w.team_a}&format=csv"))
    expected_a = sum(100.01 * m for m in range(1, 10)) * 0.4 + sum(0.6 * 100.01 * m + 333.33 + m for m in range(1, 7))
    assert board_value(year_a, "Team A", "Revenue") == f"{expected_a:.2f}"
    # The company is the company: unchanged by a move.
    company = csv_rows(client.get("/dashboard?period=2026&format=csv"))
    total = sum(100.01 * m + 333.33 + m + 77.77 for m in range(1, 10))
    assert board_value(company, "Company", "Revenue") == f"{total:.2f}"


def test_the_old_manager_keeps_the_first_half_and_sees_nothing_after(client, year):
    w = year
    client.login("boss")
    client.post_form(f"/admin/users/{w.rep}/team", {"team": str(w.team_b), "effective": MOVE.isoformat()})
    client.login("mgr_a")
    rep_name = client.run(User.select(User.display_name).where(User.id == w.rep).first())["display_name"]
    march = client.get("/dashboard?period=2026-03")
    assert march.status_code == 200 and rep_name in march.text  # March: the mover was in team A
    august = client.get("/dashboard?period=2026-08")
    assert rep_name not in august.text
    rows = csv_rows(client.get(f"/dashboard/explain?kpi=revenue&period=2026-08&scope=team:{w.team_a}&format=csv"))
    assert all(r[3] != rep_name for r in rows[1:])
    rows = csv_rows(client.get(f"/dashboard/explain?kpi=revenue&period=2026-03&scope=team:{w.team_a}&format=csv"))
    assert any(r[3] == rep_name for r in rows[1:])
    # The new manager sees the mover from July only.
    client.login("mgr_b")
    rows = csv_rows(client.get(f"/dashboard/explain?kpi=revenue&period=2026&scope=team:{w.team_b}&format=csv"))
    mover = [r for r in rows[1:] if r[3] == rep_name]
    assert mover and all(r[0] >= "2026-07-01" for r in mover)


def test_pace_snapshots_attribute_by_membership(client, year):
    w = year
    client.login("boss")
    client.post_form(f"/admin/users/{w.rep}/team", {"team": str(w.team_b), "effective": MOVE.isoformat()})
    client.run(jobs.refresh(today=TODAY, now=datetime(2026, 9, 15, 4, tzinfo=UTC)))
    rows = client.run(PaceSnapshot.select(PaceSnapshot.scope_id, PaceSnapshot.actual).where(
        (PaceSnapshot.kpi == "revenue") & (PaceSnapshot.period == "2026-Q3") & (PaceSnapshot.scope_kind == "team")))
    by_team = {r["scope_id"]: r["actual"] for r in rows}
    q3 = range(7, 10)
    # Each order's 60/40 split is credited in cents once (largest remainder), as stored.
    mover, other = zip(*(allocate(10001 * m, [6000, 4000]) for m in q3), strict=True)
    assert by_team[w.team_a] == pytest.approx(sum(other) / 100, abs=1e-6)
    assert by_team[w.team_b] == pytest.approx(sum(mover) / 100 + sum(333.33 + m + 77.77 for m in q3), abs=1e-6)
    # The mover's own figure is whole, once.
    mine = client.run(PaceSnapshot.select(PaceSnapshot.actual).where(
        (PaceSnapshot.kpi == "revenue") & (PaceSnapshot.period == "2026-Q3") & (PaceSnapshot.scope_id == w.rep)))
    assert len(mine) == 1 and mine[0]["actual"] == pytest.approx(sum(mover) / 100 + sum(333.33 + m for m in q3))


def test_team_lines_add_up_across_a_move_in_the_board(client, year):
    """The pace engine itself: over the year, team A + team B + nobody = the company, to the cent."""
    w = year
    client.login("boss")
    client.post_form(f"/admin/users/{w.rep}/team", {"team": str(w.team_b), "effective": MOVE.isoformat()})
    admin = client.run(load_actor(str(w.admin)))
    board = client.run(pace.compute(admin, "2026", today=TODAY))
    teams = sum(t.cells["revenue"].pair[0] for t in board.teams)
    assert board.total is not None
    assert round(teams, 2) == round(board.total.cells["revenue"].pair[0], 2)
    mover = [ln for ln in board.reps if ln.id == w.rep]
    assert len(mover) == 1 and mover[0].team_id == w.team_b


def test_moves_are_checked(client, year):
    w = year
    client.login("boss")
    url = f"/admin/users/{w.rep}/team"
    future = client.post_form(url, {"team": str(w.team_b), "effective": "2026-12-01"})
    assert future.status_code == 422 and 'value="2026-12-01"' in future.text
    same = client.post_form(url, {"team": str(w.team_a), "effective": "2026-07-01"})
    assert same.status_code == 422 and "Already in this team" in same.text
    bad = client.post_form(url, {"team": "not-a-team", "effective": "2026-07-01"})
    assert bad.status_code == 422 and "Choose a team." in bad.text
    unknown = client.post_form(url, {"team": str(w.admin), "effective": "2026-07-01"})
    assert unknown.status_code == 422
    assert client.post_form(url, {"team": str(w.team_b), "effective": "2026-07-01"}).status_code == 303
    earlier = client.post_form(url, {"team": "", "effective": "2026-06-01"})
    assert earlier.status_code == 422 and "before the last one" in earlier.text
    # Moved again on the same day: that day's team is the new one, no empty stretch left behind.
    assert client.post_form(url, {"team": "", "effective": "2026-07-01"}).status_code == 303
    rows = client.run(TeamMembership.select(TeamMembership.team, TeamMembership.valid_from, TeamMembership.valid_to)
                      .where(TeamMembership.rep == w.rep).order_by(TeamMembership.valid_from))
    assert [(r["team"], str(r["valid_from"]), str(r["valid_to"])) for r in rows] == [
        (w.team_a, "1970-01-01", "2026-07-01"), (None, "2026-07-01", "None")]
    page = client.get(f"/admin/users/{w.rep}")
    assert "Team history" in page.text and "Team A" in page.text
    assert client.post_form(f"/admin/users/{w.customer}/team", {"team": "", "effective": "2026-07-01"}).status_code == 404
    client.login("mgr_a")
    assert client.post_form(url, {"team": str(w.team_b), "effective": "2026-07-01"}).status_code == 403


def test_a_team_changed_on_the_user_form_moves_from_today(client, year):
    w = year
    client.login("boss")
    before = csv_rows(client.get(f"/dashboard?period=2026-03&team={w.team_a}&format=csv"))
    name = client.run(User.select(User.display_name).where(User.id == w.rep).first())["display_name"]
    saved = client.post_form(f"/admin/users/{w.rep}", {"display_name": name, "role": "rep", "team": str(w.team_b),
                                                        "active": "on"})
    assert saved.status_code == 303
    assert csv_rows(client.get(f"/dashboard?period=2026-03&team={w.team_a}&format=csv")) == before
    rows = client.run(TeamMembership.select(TeamMembership.valid_from).where(
        (TeamMembership.rep == w.rep) & TeamMembership.valid_to.is_null()))
    assert [str(r["valid_from"]) for r in rows] == [TODAY.isoformat()]


def test_new_users_start_with_a_membership(client, world):
    client.login("boss")
    created = client.post_form("/admin/users", {"username": "newrep", "display_name": "New Rep", "role": "rep",
                                                "team": str(world.team_a), "password": "a-long-password-1"})
    assert created.status_code == 303
    uid = client.run(User.select(User.id).where(User.username == "newrep").first())["id"]
    rows = client.run(TeamMembership.select(TeamMembership.team, TeamMembership.valid_from).where(
        TeamMembership.rep == uid))
    assert [(r["team"], str(r["valid_from"])) for r in rows] == [(world.team_a, "1970-01-01")]
