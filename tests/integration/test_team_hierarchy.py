"""Teams renamed and arranged under regions, over HTTP on SQLite and PostgreSQL: a region manager sees every
team below, a region's line adds up its teams, and a plan splits company → region → team → rep."""

from __future__ import annotations

import csv
import io
from datetime import date
from uuid import UUID

import pytest

from server import clock
from server.accounts.permissions import load_actor, rep_scope
from server.accounts.tables import Team
from server.targets import org as org_module
from server.targets.tables import COMPANY_SCOPE_ID, Target
from tests import factories
from tests.integration.test_targets import _create_plan, _kpi, _split_org

TODAY = date(2026, 3, 13)


@pytest.fixture
def region(client, world, monkeypatch):
    """Region East over teams A and B (made so by the admin), with its own manager; March orders."""
    monkeypatch.setattr(clock, "today", lambda: TODAY)
    run = client.run
    w = world
    w.region = run(factories.team("Region East"))
    w.region_manager = run(factories.user("manager", username="mgr_east", leads=[w.region]))
    client.login("boss")
    for team, name in ((w.team_a, "Team A"), (w.team_b, "Team B")):
        r = client.post_form(f"/admin/teams/{team}", {"name": name, "parent": str(w.region)})
        assert r.status_code == 303, r.text[:300]
    run(factories.order(w.customer, {w.rep: 6000, w.other_rep: 4000}, amount=100.01, day=date(2026, 3, 2)))
    run(factories.order(w.customer_b, {w.rep_b: 10000}, amount=55.55, day=date(2026, 3, 3)))
    return w


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.text[:300]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_a_region_manager_sees_every_team_below(client, region):
    w = region
    actor = client.run(load_actor(str(w.region_manager)))
    assert set(actor.led_team_ids) == {w.region, w.team_a, w.team_b}
    scope = client.run(rep_scope(actor, reps_only=True))
    assert set(scope.ids() or []) == {w.rep, w.other_rep, w.rep_b}
    # A team's manager still sees only their team.
    mgr_a = client.run(load_actor(str(w.manager)))
    assert set(client.run(rep_scope(mgr_a)).ids() or []) == {w.rep, w.other_rep}
    client.login("mgr_east")
    board = client.get("/dashboard?period=2026-03")
    assert board.status_code == 200 and "Team A" in board.text and "Team B" in board.text
    rows = csv_rows(client.get("/dashboard?period=2026-03&format=csv"))
    revenue = {(r[0], r[1]): r[4] for r in rows[1:] if r[3] == "Revenue"}
    assert revenue[("team", "Team A")] == "100.01" and revenue[("team", "Team B")] == "55.55"
    assert revenue[("team", "Region East")] == "155.56"  # the region adds up its teams, to the cent
    assert revenue[("teams", "My teams")] == "155.56"  # not 311.12: each record once
    assert client.get(f"/dashboard?period=2026-03&team={w.team_b}").status_code == 200
    assert client.get(f"/dashboard/explain?kpi=revenue&period=2026-03&scope=rep:{w.rep_b}").status_code == 200
    region_rows = csv_rows(client.get(f"/dashboard/explain?kpi=revenue&period=2026-03&scope=team:{w.region}&format=csv"))
    assert len(region_rows) == 4  # header + two splits of the shared order + team B's order
    client.login("mgr_a")
    assert client.get(f"/dashboard?period=2026-03&team={w.region}").status_code == 404
    assert client.get(f"/dashboard/explain?kpi=revenue&period=2026-03&scope=rep:{w.rep_b}").status_code == 404


def test_the_admin_opens_a_region_and_renames_a_team(client, region):
    w = region
    client.login("boss")
    rows = csv_rows(client.get(f"/dashboard?period=2026-03&team={w.region}&format=csv"))
    revenue = {(r[0], r[1]): r[4] for r in rows[1:] if r[3] == "Revenue"}
    assert revenue[("team", "Region East")] == "155.56" and revenue[("team", "Team B")] == "55.55"
    before = csv_rows(client.get(f"/dashboard?period=2026-03&team={w.team_a}&format=csv"))
    renamed = client.post_form(f"/admin/teams/{w.team_a}", {"name": "华东一部", "parent": str(w.region)})
    assert renamed.status_code == 303
    after = csv_rows(client.get(f"/dashboard?period=2026-03&team={w.team_a}&format=csv"))
    assert [[c.replace("Team A", "华东一部") for c in r] for r in before] == after
    page = client.get("/admin/teams")
    assert "华东一部" in page.text and "under Region East" in page.text


def test_team_edits_are_checked(client, region):
    w = region
    client.login("boss")
    loop = client.post_form(f"/admin/teams/{w.region}", {"name": "Region East", "parent": str(w.team_a)})
    assert loop.status_code == 422 and "cannot sit under itself" in loop.text
    itself = client.post_form(f"/admin/teams/{w.team_a}", {"name": "Team A", "parent": str(w.team_a)})
    assert itself.status_code == 422
    taken = client.post_form(f"/admin/teams/{w.team_a}", {"name": "Team B", "parent": ""})
    assert taken.status_code == 422 and "A team with this name exists." in taken.text
    assert 'value="Team B"' in taken.text  # what was typed is kept
    bad = client.post_form(f"/admin/teams/{w.team_a}", {"name": "Team A", "parent": "nope"})
    assert bad.status_code == 422 and "Choose a team." in bad.text
    assert client.post_form(f"/admin/teams/{w.rep}", {"name": "X", "parent": ""}).status_code == 404
    assert client.post_form("/admin/teams/not-an-id", {"name": "X", "parent": ""}).status_code == 404
    made = client.post_form("/admin/teams", {"name": "Team C", "parent": str(w.region)})
    assert made.status_code == 303
    row = client.run(Team.select(Team.parent).where(Team.name == "Team C").first())
    assert row["parent"] == w.region
    client.login("mgr_east")
    assert client.post_form(f"/admin/teams/{w.team_a}", {"name": "Mine", "parent": ""}).status_code == 403


def test_a_plan_splits_company_region_team_rep(client, region):
    w = region
    client.login("boss")
    org = client.run(org_module.load_org())
    company = org_module.COMPANY
    assert org.children(company) == [("team", w.region)]
    assert set(org.children(("team", w.region))) == {("team", w.team_a), ("team", w.team_b)}
    assert org.parent(("team", w.team_a)) == ("team", w.region)
    assert set(org.rep_ids(("team", w.region)) or []) == {w.rep, w.other_rep, w.rep_b}
    plan_id = _create_plan(client, value="10,000.01")
    for kind, sid in (("company", COMPANY_SCOPE_ID), ("team", w.region), ("team", w.team_a), ("team", w.team_b)):
        r = _split_org(client, plan_id, scope_kind=kind, scope_id=sid, method="equal", period="2026")
        assert r.status_code in (200, 303), r.text[:500]
    kpi = _kpi(client)
    cells = client.run(Target.select(Target.scope_kind, Target.scope_id, Target.value).where(
        (Target.plan == plan_id) & (Target.kpi == kpi.id) & (Target.period == "2026")))
    value = {(c["scope_kind"], UUID(str(c["scope_id"]))): c["value"] for c in cells}
    assert value[("team", w.region)] == pytest.approx(10000.01)
    assert value[("team", w.team_a)] + value[("team", w.team_b)] == pytest.approx(10000.01)
    assert value[("rep", w.rep)] + value[("rep", w.other_rep)] == pytest.approx(value[("team", w.team_a)])
    assert value[("rep", w.rep_b)] == pytest.approx(value[("team", w.team_b)])
    # Every level adds up: no mismatch on the grid.
    grid = client.get(f"/targets/{plan_id}?kpi=revenue")
    assert grid.status_code == 200 and "Region East" in grid.text
