"""Mid-year joins and re-splits, over HTTP on SQLite and PostgreSQL: a rep who joins a team in July gets
targets only from July, a re-split from October keeps January to September as they were, and the plan
still adds up (it approves)."""

from __future__ import annotations

from datetime import date

import pytest

from server import clock
from server.targets.tables import Target
from tests import factories
from tests.integration.test_targets import _create_plan, _kpi, _split_org, _split_period

TODAY = date(2026, 9, 15)


@pytest.fixture
def plan(client, world, monkeypatch):
    """12,000.00 for 2026, split equally by month and between the two teams (500 a month each); a rep
    from team B joins team A from 1 July."""
    monkeypatch.setattr(clock, "today", lambda: TODAY)
    w = world
    w.joiner = client.run(factories.user("rep", w.team_b, username="rep_joiner"))
    client.login("boss")
    assert client.post_form(f"/admin/users/{w.joiner}/team",
                            {"team": str(w.team_a), "effective": "2026-07-01"}).status_code == 303
    plan_id = _create_plan(client, value="12,000.00")
    assert _split_period(client, plan_id, method="equal").status_code in (200, 303)
    assert _split_org(client, plan_id, method="equal", period="all").status_code in (200, 303)
    return plan_id


def cells(client, plan_id, kpi_id, rep) -> dict[str, float]:
    rows = client.run(Target.select(Target.period, Target.value).where(
        (Target.plan == plan_id) & (Target.kpi == kpi_id) & (Target.scope_kind == "rep") & (Target.scope_id == rep)))
    return {r["period"]: r["value"] for r in rows}


def test_a_rep_who_joins_in_july_has_targets_from_july(client, world, plan):
    w = world
    r = _split_org(client, plan, scope_kind="team", scope_id=w.team_a, method="equal", period="all")
    assert r.status_code in (200, 303), r.text[:300]
    kpi = _kpi(client)
    joiner = cells(client, plan, kpi.id, w.joiner)
    rep = cells(client, plan, kpi.id, w.rep)
    other = cells(client, plan, kpi.id, w.other_rep)
    assert all(joiner[f"2026-{m:02d}"] == 0 for m in range(1, 7))
    assert joiner["2026-Q1"] == 0 and joiner["2026-Q2"] == 0
    for m in range(1, 13):
        code = f"2026-{m:02d}"
        assert round(rep[code] + other[code] + joiner[code], 2) == 500  # every month adds up to the team's
    assert rep["2026-03"] == 250 and joiner["2026-08"] > 0
    assert round(joiner["2026"], 2) == round(sum(joiner[f"2026-{m:02d}"] for m in range(7, 13)), 2)
    assert client.post_form(f"/targets/{plan}/approve", {}).status_code == 303  # nothing fails to add up


def test_a_resplit_from_october_keeps_the_months_before(client, world, plan):
    w = world
    _split_org(client, plan, scope_kind="team", scope_id=w.team_a, method="equal", period="all")
    kpi = _kpi(client)
    before = {rep: cells(client, plan, kpi.id, rep) for rep in (w.rep, w.other_rep, w.joiner)}
    r = _split_org(client, plan, scope_kind="team", scope_id=w.team_a, method="weights", period="all",
                   from_month="2026-10", **{f"w_rep_{w.rep}": "2", f"w_rep_{w.other_rep}": "1",
                                            f"w_rep_{w.joiner}": "1"})
    assert r.status_code in (200, 303), r.text[:300]
    after = {rep: cells(client, plan, kpi.id, rep) for rep in (w.rep, w.other_rep, w.joiner)}
    for rep in before:
        for m in range(1, 10):
            assert after[rep][f"2026-{m:02d}"] == before[rep][f"2026-{m:02d}"]
        assert after[rep]["2026-Q3"] == before[rep]["2026-Q3"]
    assert after[w.rep]["2026-11"] == 250 and after[w.joiner]["2026-11"] == 125
    for rep in after:  # each rep's year is still the sum of their months
        assert round(after[rep]["2026"], 2) == round(sum(after[rep][f"2026-{m:02d}"] for m in range(1, 13)), 2)
    assert client.post_form(f"/targets/{plan}/approve", {}).status_code == 303
    bad = _split_org(client, plan, scope_kind="team", scope_id=w.team_a, method="equal", period="2026-Q4",
                     from_month="2026-10", reason="Re-split")
    assert bad.status_code == 422 and "whole year" in bad.text
