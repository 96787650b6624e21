"""Target plans through HTTP on both engines: the cascade adds up to the cent, splits, mismatches, approval,
locking with recorded changes, and who may edit which rows."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from server.accounts.tables import User
from server.targets import actuals, plans
from server.targets.tables import COMPANY_SCOPE_ID, Target, TargetChange, TargetPlan
from tests import factories

YEAR = 2026
COMPANY = COMPANY_SCOPE_ID


def _kpi(client, code="revenue"):
    return client.run(actuals.kpi_by_code(code))


def _cells(client, plan_id, code="revenue") -> dict[tuple[str, str, str], int]:
    """(period, scope kind, scope id) -> value in cents."""
    kpi = _kpi(client, code)
    rows = client.run(Target.select(Target.period, Target.scope_kind, Target.scope_id, Target.value).where(
        (Target.plan == plan_id) & (Target.kpi == kpi.id)))
    return {(r["period"], r["scope_kind"], str(r["scope_id"])): round(r["value"] * 100) for r in rows}


def _history(client, world):
    """Last year's revenue: team A 6,000 (Jan 1,000 and Feb 3,000 for rep_a1, Mar 2,000 shared 50/50),
    team B 4,000 in December. Company seasonality: Jan .1, Feb .3, Mar .2, Dec .4."""
    run = client.run
    run(factories.order(world.customer, {world.rep: 10000}, amount=1000, day=date(YEAR - 1, 1, 15)))
    run(factories.order(world.customer, {world.rep: 10000}, amount=3000, day=date(YEAR - 1, 2, 10)))
    run(factories.order(world.customer, {world.rep: 5000, world.other_rep: 5000}, amount=2000, day=date(YEAR - 1, 3, 5)))
    run(factories.order(world.customer_b, {world.rep_b: 10000}, amount=4000, day=date(YEAR - 1, 12, 1)))


def _create_plan(client, name="Plan 2026", value="12,345.67") -> UUID:
    r = client.post_form("/targets", {"name": name, "year": str(YEAR), "use_revenue": "on", "year_revenue": value})
    assert r.status_code == 303, r.text[:800]
    return UUID(r.headers["location"].rsplit("/", 1)[1])


def _split_period(client, plan_id, scope_kind="company", scope_id=COMPANY, method="seasonality", **extra):
    return client.post_form(f"/targets/{plan_id}/split/period", {
        "kpi": str(_kpi(client).id), "scope_kind": scope_kind, "scope_id": str(scope_id), "method": method, **extra})


def _split_org(client, plan_id, scope_kind="company", scope_id=COMPANY, method="share", period="all", **extra):
    return client.post_form(f"/targets/{plan_id}/split/org", {
        "kpi": str(_kpi(client).id), "scope_kind": scope_kind, "scope_id": str(scope_id), "method": method,
        "period": period, **extra})


def _cascade(client, world) -> UUID:
    _history(client, world)
    client.login("boss")
    plan_id = _create_plan(client)
    assert _split_period(client, plan_id).status_code == 303
    assert _split_org(client, plan_id).status_code == 303
    for team in (world.team_a, world.team_b):
        assert _split_org(client, plan_id, "team", team, method="equal").status_code == 303
    return plan_id


def _assert_adds_up(cells, world):
    """Every parent equals the sum of its children exactly (in cents), both ways."""
    teams = {str(world.team_a): [str(world.rep), str(world.other_rep)], str(world.team_b): [str(world.rep_b)]}
    scopes = [("company", COMPANY)] + [("team", t) for t in teams] + [("rep", r) for reps in teams.values() for r in reps]
    quarters = {f"{YEAR}-Q{q}": [f"{YEAR}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)] for q in range(1, 5)}
    for kind, sid in scopes:
        assert cells[(str(YEAR), kind, sid)] == sum(cells[(q, kind, sid)] for q in quarters), (kind, sid)
        for q, months in quarters.items():
            assert cells[(q, kind, sid)] == sum(cells[(m, kind, sid)] for m in months), (q, kind, sid)
    periods = [str(YEAR)] + list(quarters) + [m for ms in quarters.values() for m in ms]
    for p in periods:
        assert cells[(p, "company", COMPANY)] == sum(cells[(p, "team", t)] for t in teams), p
        for t, reps in teams.items():
            assert cells[(p, "team", t)] == sum(cells[(p, "rep", r)] for r in reps), (p, t)


def test_cascade_adds_up_to_the_cent_and_approval_locks_the_plan(client, world):
    plan_id = _cascade(client, world)
    cells = _cells(client, plan_id)
    company = lambda p: cells[(p, "company", COMPANY)]  # noqa: E731
    # Seasonality .1/.3/.2/.4 of 1,234,567 cents, largest remainder: Dec (.8) and Jan (.7) get the 2 cents left.
    assert [company(f"{YEAR}-{m:02d}") for m in (1, 2, 3, 12)] == [123457, 370370, 246913, 493827]
    assert all(company(f"{YEAR}-{m:02d}") == 0 for m in range(4, 12))
    assert [company(f"{YEAR}-Q{q}") for q in range(1, 5)] == [740740, 0, 0, 493827]
    # Teams by last year's share (A 6,000 : B 4,000): January 123,457 cents -> 74,074.2 / 49,382.8 -> B gets the cent.
    assert cells[(f"{YEAR}-01", "team", str(world.team_a))] == 74074
    assert cells[(f"{YEAR}-01", "team", str(world.team_b))] == 49383
    # Reps of team A equally; team B's only rep takes it all.
    assert cells[(f"{YEAR}-01", "rep", str(world.rep))] == 37037
    assert cells[(f"{YEAR}-01", "rep", str(world.other_rep))] == 37037
    assert cells[(f"{YEAR}-01", "rep", str(world.rep_b))] == 49383
    _assert_adds_up(cells, world)
    page = client.get(f"/targets/{plan_id}?kpi=revenue")
    assert page.status_code == 200 and "tg-delta\"" not in page.text and "SMART" in page.text
    r = client.post_form(f"/targets/{plan_id}/approve", {})
    assert r.status_code == 303, r.text[:500]
    row = client.run(TargetPlan.select(TargetPlan.status, TargetPlan.approved_by, TargetPlan.approved_at).where(
        TargetPlan.id == plan_id).first())
    assert row["status"] == "approved" and row["approved_by"] == world.admin and row["approved_at"] is not None
    assert client.run(plans.approved_plan(YEAR))["id"] == plan_id
    jan = client.run(plans.targets_for(plan_id, f"{YEAR}-01"))
    assert round(jan[(_kpi(client).id, "rep", world.rep)] * 100) == 37037


def test_custom_percentages_must_add_up_to_100_and_typed_values_are_kept(client, world):
    client.login("boss")
    plan_id = _create_plan(client, value="1200")
    bad = {f"p{m}": "8.5" for m in range(1, 13)}  # 102 %
    r = _split_period(client, plan_id, method="percentages", **bad)
    assert r.status_code == 422
    assert "not 100" in r.text and 'value="8.5"' in r.text and 'id="pm-percentages" name="method" value="percentages" checked' in r.text
    assert set(_cells(client, plan_id)) == {(str(YEAR), "company", COMPANY)}
    good = {f"p{m}": "10" if m <= 4 else "7.5" for m in range(1, 13)}  # 40 + 60
    assert _split_period(client, plan_id, method="percentages", **good).status_code == 303
    cells = _cells(client, plan_id)
    assert cells[(f"{YEAR}-01", "company", COMPANY)] == 12000 and cells[(f"{YEAR}-12", "company", COMPANY)] == 9000
    assert cells[(f"{YEAR}-Q1", "company", COMPANY)] == 36000 and cells[(f"{YEAR}-Q2", "company", COMPANY)] == 30000


def test_seasonality_without_history_falls_back_to_working_days(client, world):
    client.login("boss")
    plan_id = _create_plan(client, value="2610")  # 2026 has 261 weekdays: 10 per working day
    r = _split_period(client, plan_id, method="seasonality")
    assert r.status_code == 303
    assert "working days" in client.get(r.headers["location"]).text
    cells = _cells(client, plan_id)
    assert cells[(f"{YEAR}-01", "company", COMPANY)] == 22000  # 22 weekdays in January 2026
    assert cells[(f"{YEAR}-02", "company", COMPANY)] == 20000


def test_a_manual_edit_shows_a_mismatch_and_blocks_approval_until_fixed(client, world):
    plan_id = _cascade(client, world)
    kpi = _kpi(client)
    r = client.post_form(f"/targets/{plan_id}/cells", {"kpi": str(kpi.id), "period": f"{YEAR}-01", "scope_kind": "rep",
                                                        "scope_id": str(world.rep), "value": "400"})
    assert r.status_code == 303, r.text[:500]
    page = client.get(f"/targets/{plan_id}?kpi=revenue").text
    # Team A's January: reps add up to 400 + 370.37 = 770.37, 29.63 more than the team's 740.74.
    assert "Δ -29.63" in page
    r = client.post_form(f"/targets/{plan_id}/approve", {})
    assert r.status_code == 409
    assert "Targets that do not add up" in r.text and "Team A" in r.text
    assert client.run(TargetPlan.select(TargetPlan.status).where(TargetPlan.id == plan_id).first())["status"] == "draft"
    client.post_form(f"/targets/{plan_id}/cells", {"kpi": str(kpi.id), "period": f"{YEAR}-01", "scope_kind": "rep",
                                                   "scope_id": str(world.rep), "value": "370.37"})
    assert "tg-delta\"" not in client.get(f"/targets/{plan_id}?kpi=revenue").text
    assert client.post_form(f"/targets/{plan_id}/approve", {}).status_code == 303


def test_only_one_approved_plan_per_year(client, world):
    client.login("boss")
    first = _create_plan(client, "First")
    second = _create_plan(client, "Second")
    assert client.post_form(f"/targets/{first}/approve", {}).status_code == 303
    r = client.post_form(f"/targets/{second}/approve", {})
    assert r.status_code == 409 and "only one plan per year" in r.text
    assert client.run(TargetPlan.select(TargetPlan.status).where(TargetPlan.id == second).first())["status"] == "draft"
    client.login("mgr_a")
    assert client.post_form(f"/targets/{second}/approve", {}).status_code == 403


def test_locked_plan_edits_need_an_admin_and_a_reason_and_are_recorded(client, world):
    client.login("boss")
    plan_id = _create_plan(client, value="1000")
    assert _split_org(client, plan_id, method="equal", period=str(YEAR)).status_code == 303
    assert client.post_form(f"/targets/{plan_id}/approve", {}).status_code == 303
    kpi = _kpi(client)
    cell = {"kpi": str(kpi.id), "period": str(YEAR), "scope_kind": "team", "scope_id": str(world.team_a), "value": "600"}
    r = client.post_form(f"/targets/{plan_id}/cells", {**cell, "from": "cell"})
    assert r.status_code == 422 and "give a reason" in r.text and 'value="600"' in r.text
    assert client.run(TargetChange.count()) == 0
    client.login("mgr_a")
    r = client.post_form(f"/targets/{plan_id}/cells", {**cell, "reason": "Big deal"})
    assert r.status_code == 403
    client.login("boss")
    r = client.post_form(f"/targets/{plan_id}/cells", {**cell, "reason": "New key account"})
    assert r.status_code == 303
    changes = client.run(TargetChange.select(TargetChange.old_value, TargetChange.new_value, TargetChange.reason,
                                             TargetChange.changed_by))
    assert changes == [{"old_value": 500.0, "new_value": 600.0, "reason": "New key account", "changed_by": world.admin}]
    assert _cells(client, plan_id)[(str(YEAR), "team", str(world.team_a))] == 60000
    page = client.get(f"/targets/{plan_id}/changes")
    assert page.status_code == 200 and "New key account" in page.text
    # A split of a locked plan is recorded cell by cell too (team B's 500 does not change).
    r = _split_org(client, plan_id, method="equal", period=str(YEAR), reason="Rebalance")
    assert r.status_code == 303
    rebalanced = client.run(TargetChange.select(TargetChange.old_value, TargetChange.new_value).where(
        TargetChange.reason == "Rebalance"))
    assert rebalanced == [{"old_value": 600.0, "new_value": 500.0}]


def test_a_manager_edits_only_their_teams_rows(client, world):
    client.login("boss")
    plan_id = _create_plan(client, value="1000")
    assert _split_org(client, plan_id, method="equal", period=str(YEAR)).status_code == 303
    kpi = _kpi(client)

    def edit(scope_kind, scope_id, value="10"):
        return client.post_form(f"/targets/{plan_id}/cells", {
            "kpi": str(kpi.id), "period": f"{YEAR}-01", "scope_kind": scope_kind, "scope_id": str(scope_id),
            "value": value})

    client.login("mgr_a")
    page = client.get(f"/targets/{plan_id}?kpi=revenue")
    assert page.status_code == 200
    assert "Team A" in page.text and "Team B" not in page.text
    assert edit("team", world.team_a).status_code == 303
    assert edit("rep", world.rep).status_code == 303
    assert edit("team", world.team_b).status_code == 404
    assert edit("rep", world.rep_b).status_code == 404
    assert edit("company", COMPANY).status_code == 403
    assert _split_org(client, plan_id, method="equal", period=str(YEAR)).status_code == 403
    assert _split_org(client, plan_id, "team", world.team_b, method="equal", period=str(YEAR)).status_code == 404
    r = _split_org(client, plan_id, "team", world.team_a, method="equal", period=str(YEAR))
    assert r.status_code == 303
    cells = _cells(client, plan_id)
    assert cells[(f"{YEAR}-01", "team", str(world.team_a))] == 1000
    assert (f"{YEAR}-01", "team", str(world.team_b)) not in cells
    assert cells[(str(YEAR), "rep", str(world.rep))] == 25000 and cells[(str(YEAR), "rep", str(world.other_rep))] == 25000
    client.login("rep_a1")
    assert client.get("/targets").status_code == 403
    assert client.get(f"/targets/{plan_id}").status_code == 403
    assert edit("rep", world.rep, "99").status_code == 403


def test_bad_cell_values_are_refused_and_kept(client, world):
    client.login("boss")
    plan_id = _create_plan(client, value="1000")
    kpi = _kpi(client)
    for value in ("-5", "abc", "1.234", "nan", "1e400", "9" * 40):
        r = client.post_form(f"/targets/{plan_id}/cells", {"kpi": str(kpi.id), "period": f"{YEAR}-01",
                                                           "scope_kind": "company", "scope_id": COMPANY, "value": value})
        assert r.status_code == 422, value
        assert f'value="{value}"' in r.text
    for bad in ({"period": "2031-01"}, {"scope_kind": "galaxy"}, {"scope_id": "not-a-uuid", "scope_kind": "rep"},
                {"kpi": "zzz"}):
        r = client.post_form(f"/targets/{plan_id}/cells", {"kpi": str(kpi.id), "period": f"{YEAR}-01",
                                                           "scope_kind": "company", "scope_id": COMPANY, "value": "1",
                                                           **bad})
        assert r.status_code in (404, 422), bad
    assert client.post_form("/targets", {"name": "", "year": "20x6", "use_revenue": "on",
                                         "year_revenue": "1.001"}).status_code == 422
    assert set(_cells(client, plan_id)) == {(str(YEAR), "company", COMPANY)}


def test_rate_kpis_are_copied_not_summed(client, world):
    client.login("boss")
    r = client.post_form("/targets", {"name": "Rates", "year": str(YEAR), "use_conversion_rate": "on",
                                      "year_conversion_rate": "35.5"})
    plan_id = UUID(r.headers["location"].rsplit("/", 1)[1])
    kpi = _kpi(client, "conversion_rate")
    assert client.post_form(f"/targets/{plan_id}/split/period", {"kpi": str(kpi.id), "scope_kind": "company",
                                                                  "scope_id": COMPANY, "method": "equal"}).status_code == 303
    assert client.post_form(f"/targets/{plan_id}/split/org", {"kpi": str(kpi.id), "scope_kind": "company",
                                                               "scope_id": COMPANY, "method": "equal",
                                                               "period": "all"}).status_code == 303
    cells = _cells(client, plan_id, "conversion_rate")
    assert len(cells) == 17 * 3 and set(cells.values()) == {3550}
    page = client.get(f"/targets/{plan_id}?kpi=conversion_rate").text
    assert "it is not summed" in page
    assert client.post_form(f"/targets/{plan_id}/approve", {}).status_code == 303


def test_htmx_cell_edit_answers_with_the_grid_and_pages_render(client, world):
    client.login("boss")
    plan_id = _create_plan(client, value="1000")
    kpi = _kpi(client)
    cell = {"kpi": str(kpi.id), "period": f"{YEAR}-Q1", "scope_kind": "company", "scope_id": COMPANY}
    r = client.post_form(f"/targets/{plan_id}/cells", {**cell, "value": "250"}, headers={"hx-request": "true"})
    assert r.status_code == 200 and r.text.lstrip().startswith('<div id="grid">') and 'value="250"' in r.text
    assert "<html" not in r.text and 'class="tg-delta"' in r.text  # Q1 alone does not add up to the year
    r = client.post_form(f"/targets/{plan_id}/cells", {**cell, "value": "12.345"}, headers={"hx-request": "true"})
    assert r.status_code == 422 and 'value="12.345"' in r.text and "At most 2 decimals." in r.text
    for url in (f"/targets/{plan_id}/split?kpi=revenue&scope_kind=company&scope_id={COMPANY}",
                f"/targets/{plan_id}/split?kpi=revenue&scope_kind=team&scope_id={world.team_a}",
                f"/targets/{plan_id}/cell?kpi=revenue&period={YEAR}-Q1&scope_kind=company&scope_id={COMPANY}",
                f"/targets/{plan_id}/changes", "/targets", "/kpis", "/kpis/settings"):
        assert client.get(url).status_code == 200, url
    assert client.get(f"/targets/{plan_id}/cell?kpi=revenue&period=1999&scope_kind=company&scope_id={COMPANY}").status_code == 404
    assert client.get(f"/targets/{plan_id}/split?kpi=nope&scope_kind=company&scope_id={COMPANY}").status_code == 404


def test_a_large_plan_shows_one_teams_reps_at_a_time(client, world, monkeypatch):
    from server.targets import grid as target_grid

    monkeypatch.setattr(target_grid, "REPS_INLINE", 1)  # World has 3 reps: "large" for this test
    client.login("boss")
    plan_id = _create_plan(client, value="1000")
    names = {r["id"]: r["display_name"] for r in client.run(User.select(User.id, User.display_name))}
    folded = client.get(f"/targets/{plan_id}?kpi=revenue").text
    assert "Team A" in folded and "Team B" in folded and "Show reps" in folded
    assert names[world.rep] not in folded and names[world.rep_b] not in folded
    team_a = client.get(f"/targets/{plan_id}?kpi=revenue&team={world.team_a}").text
    assert names[world.rep] in team_a and names[world.other_rep] in team_a and names[world.rep_b] not in team_a
    # Saving a cell from the team's view comes back to the same view.
    kpi = _kpi(client)
    saved = client.post(f"/targets/{plan_id}/cells", data={
        "kpi": str(kpi.id), "period": f"{YEAR}-01", "scope_kind": "rep", "scope_id": str(world.rep), "value": "5",
        "view_team": str(world.team_a), "_csrf_token": client.csrf()}, headers={"HX-Request": "true", "X-CSRFToken": client.csrf()})
    assert saved.status_code == 200 and names[world.rep] in saved.text and names[world.rep_b] not in saved.text
    assert client.get(f"/targets/{plan_id}?kpi=revenue&team=not-a-uuid").status_code == 200
