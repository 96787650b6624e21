"""History stays where it was earned, over HTTP on SQLite and PostgreSQL: a rep moved from team A to team B
in July. The plan check groups each month's rep cells by the team of that month; a team's funnel and
ageing of a past period follow the membership at the record's date; the orders list shows the effective
credit after a re-split; and the right to correct an order stays with the team where it was earned."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from server import clock
from server.accounts.permissions import load_actor
from server.sales import analytics
from server.targets import plans
from server.targets.org import load_org
from tests import factories
from tests.integration.test_targets import _create_plan, _split_org, _split_period

TODAY = date(2026, 9, 15)
MOVE = "2026-07-01"


@pytest.fixture
def in_september(monkeypatch):
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def move(client, w) -> None:
    client.login("boss")
    moved = client.post_form(f"/admin/users/{w.rep}/team", {"team": str(w.team_b), "effective": MOVE})
    assert moved.status_code == 303, moved.text[:300]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.text[:300]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


# --- 1. The plan adds up in every month, for both teams ---------------------------------------------


def test_a_plan_split_before_and_after_a_move_adds_up_every_month(client, world, in_september):
    w = world
    client.login("boss")
    plan_id = _create_plan(client, value="12,000.00")  # 1,000 a month, 500 for each team
    assert _split_period(client, plan_id, method="equal").status_code == 303
    assert _split_org(client, plan_id, method="equal").status_code == 303
    assert _split_org(client, plan_id, "team", w.team_a, method="equal").status_code == 303  # 250 each
    assert _split_org(client, plan_id, "team", w.team_b, method="equal").status_code == 303  # rep_b 500
    move(client, w)
    # From July: team B shares its 500 between rep_b and the mover, team A's 500 go to the rep who stayed.
    for team in (w.team_b, w.team_a):
        r = _split_org(client, plan_id, "team", team, method="equal", from_month="2026-07", reason="The move")
        assert r.status_code == 303, r.text[:300]
    admin = client.run(load_actor(str(w.admin)))
    org = client.run(load_org(plan_id))
    assert client.run(plans.plan_mismatches(plan_id, 2026, org)) == []  # January to December, both teams
    grid = client.get(f"/targets/{plan_id}")
    assert grid.status_code == 200
    assert client.post_form(f"/targets/{plan_id}/approve", {}).status_code == 303
    assert admin is not None


def test_the_plan_check_still_finds_a_month_that_does_not_add_up(client, world, in_september):
    w = world
    client.login("boss")
    plan_id = _create_plan(client, value="12,000.00")
    assert _split_period(client, plan_id, method="equal").status_code == 303
    assert _split_org(client, plan_id, method="equal").status_code == 303
    assert _split_org(client, plan_id, "team", w.team_a, method="equal").status_code == 303
    assert _split_org(client, plan_id, "team", w.team_b, method="equal").status_code == 303
    move(client, w)
    # Team B is re-split from July, team A is not: A's July to December still count the mover's 250.
    assert _split_org(client, plan_id, "team", w.team_b, method="equal", from_month="2026-07").status_code == 303
    org = client.run(load_org(plan_id))
    found = client.run(plans.plan_mismatches(plan_id, 2026, org))
    where = {(m.period, m.scope) for m in found}
    assert ("2026-07", ("team", w.team_a)) in where and ("2026-12", ("team", w.team_a)) in where
    assert not any(m.period in ("2026-01", "2026-06", "2026-Q1", "2026-Q2") for m in found)
    assert not any(m.scope == ("team", w.team_b) for m in found)


# --- 2. Funnel and ageing by the membership at the record's date ------------------------------------


@pytest.fixture
def deals(client, world, in_september):
    """The mover's deals: won in April and May, lost in August, one opened in February and still open;
    an order of 1,000.00 in May (nothing collected) and one of 300.00 in August."""
    from datetime import UTC, datetime

    from server.sales.tables import Opportunity

    w = world
    run = client.run
    opened = datetime(2026, 2, 3, 2, 0, tzinfo=UTC)
    ids = [run(factories.opportunity(w.rep, w.customer, stage="won", closed_on=date(2026, 4, 10))),
           run(factories.opportunity(w.rep, w.customer, stage="won", closed_on=date(2026, 5, 20))),
           run(factories.opportunity(w.rep, w.customer, stage="lost", closed_on=date(2026, 8, 5))),
           run(factories.opportunity(w.rep, w.customer, stage="proposal"))]
    run(Opportunity.update({Opportunity.created_at: opened}).where(Opportunity.id.is_in(ids)))
    w.may_order = run(factories.order(w.customer, {w.rep: 10000}, amount=1000.0, day=date(2026, 5, 12)))
    w.august_order = run(factories.order(w.customer, {w.rep: 10000}, amount=300.0, day=date(2026, 8, 12)))
    return w


def funnel(client, team, period) -> dict[str, tuple[str, str]]:
    rows = csv_rows(client.get(f"/dashboard?period={period}&team={team}&table=funnel&format=csv"))
    return {r[0]: (r[1], r[2]) for r in rows[1:]}  # stage -> (open now, reached)


def ageing_total(client, period, team=None) -> str:
    url = f"/dashboard?period={period}&table=ageing&format=csv" + (f"&team={team}" if team else "")
    return csv_rows(client.get(url))[-1][-1]


def test_a_teams_funnel_of_the_first_half_keeps_the_movers_deals(client, deals):
    w = deals
    client.login("boss")
    before = {(t, p): funnel(client, t, p) for t in (w.team_a, w.team_b) for p in ("2026-Q2", "2026-Q3")}
    assert before[(w.team_a, "2026-Q2")]["Won"] == ("2", "2")
    move(client, w)
    # The second quarter (the mover in team A): team A keeps the two won deals and the open one.
    a_q2 = funnel(client, w.team_a, "2026-Q2")
    assert a_q2 == before[(w.team_a, "2026-Q2")]
    assert a_q2["Won"] == ("2", "2") and a_q2["Proposal"][0] == "1"
    b_q2 = funnel(client, w.team_b, "2026-Q2")
    assert b_q2["Won"] == ("0", "0") and b_q2["Proposal"][0] == "0" and b_q2["Lost"][0] == "0"
    # The third quarter (the mover in team B): the August loss and the deal still open are team B's.
    b_q3 = funnel(client, w.team_b, "2026-Q3")
    assert b_q3["Lost"][0] == "1" and b_q3["Proposal"][0] == "1"
    a_q3 = funnel(client, w.team_a, "2026-Q3")
    assert a_q3["Lost"][0] == "0" and a_q3["Proposal"][0] == "0"
    # The old manager sees the first half as it was, without naming a team.
    client.login("mgr_a")
    rows = csv_rows(client.get("/dashboard?period=2026-Q2&table=funnel&format=csv"))
    assert {r[0]: (r[1], r[2]) for r in rows[1:]}["Won"] == ("2", "2")


def test_a_teams_ageing_follows_the_order_date(client, deals):
    w = deals
    client.login("boss")
    before_a, before_b = ageing_total(client, "2026-Q2", w.team_a), ageing_total(client, "2026-Q2", w.team_b)
    assert before_a == "1000.00" and before_b == "0.00"
    move(client, w)
    # As of 30 June: the May order is team A's receivable, as it was; team B holds none of it.
    assert ageing_total(client, "2026-Q2", w.team_a) == "1000.00"
    assert ageing_total(client, "2026-Q2", w.team_b) == "0.00"
    # As of today: May's order stays with team A, where it was earned; August's is team B's.
    assert ageing_total(client, "2026-09", w.team_a) == "1000.00"
    assert ageing_total(client, "2026-09", w.team_b) == "300.00"
    assert ageing_total(client, "2026-09") == "1300.00"  # the company: every order once
    client.login("mgr_b")
    assert ageing_total(client, "2026-Q2") == "0.00"
    client.login("mgr_a")
    assert ageing_total(client, "2026-Q2") == "1000.00"
    # The manager's team is the one they lead: another team's ageing is not theirs to read.
    assert client.get(f"/dashboard?period=2026-Q2&team={w.team_b}&table=ageing&format=csv").status_code == 404
    # The sales pages' ageing is about the reps of today's teams, as before.
    actor = client.run(load_actor(str(w.manager)))
    assert client.run(analytics.ageing(actor, TODAY, team_ids=[w.team_b])) == []


# --- 3. The orders list shows the credit in effect ----------------------------------------------------


def correct(client, order_id, splits: dict, reason="Re-split", **changes):
    """POST the order's edit form as the signed-in user, with a new split."""
    from server.sales import orders

    admin = client.run(load_actor(str(client.world.admin)))
    values = orders.order_form_values(client.run(orders.get_order(admin, order_id)))
    values = {k: v for k, v in values.items() if not k.startswith("split_")}
    for i, (rep, pct) in enumerate(splits.items()):
        values[f"split_rep_{i}"], values[f"split_pct_{i}"] = str(rep), str(pct)
    return client.post_form(f"/orders/{order_id}", {**values, "reason": reason, **changes})


@pytest.fixture
def earned(client, world, in_september):
    """The mover's May order of 100.01 (all theirs) and August order of 50.00; a May order of team A's
    rep who stayed; the mover moved to team B from July."""
    w = world
    client.world = w
    w.may = client.run(factories.order(w.customer, {w.rep: 10000}, amount=100.01, cost=40.0, day=date(2026, 5, 12)))
    w.august = client.run(factories.order(w.customer, {w.rep: 10000}, amount=50.0, cost=10.0, day=date(2026, 8, 12)))
    w.stayer = client.run(factories.order(w.other_customer, {w.other_rep: 10000}, amount=80.0, cost=10.0,
                                          day=date(2026, 5, 20)))
    move(client, w)
    return w


def test_the_orders_list_shows_the_effective_credit_after_a_resplit(client, earned):
    from server.sales import orders
    from server.sales.money import allocate

    w = earned
    client.login("boss")
    # May is closed: the re-split is posted today as a dated correction, May stays as reported.
    r = correct(client, w.may, {w.rep: 60, w.other_rep: 40})
    assert r.status_code == 303, r.text[:500]
    mover_cents, other_cents = allocate(10001, [6000, 4000])
    rows = {}
    for rep in (w.rep, w.other_rep):
        actor = client.run(load_actor(str(rep)))
        rows[rep] = next(o for o in client.run(orders.orders(actor)) if o["id"] == w.may)
    assert (rows[w.rep]["share_bp"], rows[w.rep]["credited_cents"]) == (6000, mover_cents)
    assert (rows[w.other_rep]["share_bp"], rows[w.other_rep]["credited_cents"]) == (4000, other_cents)
    assert rows[w.rep]["split_count"] == 2
    client.login("rep_a2")
    page = client.get("/orders")
    assert page.status_code == 200 and f"{other_cents / 100:.2f}" in page.text
    # The boards credit the same cents: May the whole order, September the correction's difference.
    client.login("boss")
    year = csv_rows(client.get(f"/dashboard?period=2026&team={w.team_a}&format=csv"))
    name = {r[1] for r in year[1:] if r[0] == "rep"}
    assert name  # the team board lists its reps
    others = next(r[4] for r in year[1:] if r[0] == "rep" and r[3] == "Revenue" and r[4] == f"{(other_cents + 8000) / 100:.2f}")
    assert others


# --- 4. Who may correct an order: the team where it was earned ---------------------------------------


def test_the_old_teams_manager_keeps_the_right_to_correct_what_was_earned_there(client, earned):
    w = earned
    client.login("mgr_a")
    # The mover's May order, earned in team A: its manager corrects it, keeping the mover in the split.
    assert client.get(f"/orders/{w.may}").status_code == 200
    assert client.get(f"/orders/{w.may}/edit").status_code == 200
    r = correct(client, w.may, {w.rep: 50, w.other_rep: 50})
    assert r.status_code == 303, r.text[:500]
    r = client.post_form(f"/orders/{w.may}/returns", {"amount": "10.00", "return_date": "2026-09-10",
                                                     "kind": "return", "reason": "Damaged"})
    assert r.status_code == 303, r.text[:500]
    # Not the August order: the mover earned it in team B.
    r = client.post_form(f"/orders/{w.august}/void", {"reason": "Typo"})
    assert r.status_code in (404, 422)
    # The new team's manager: the August order is theirs, May's is not (nor are its buttons, if they see it).
    client.login("mgr_b")
    page = client.get(f"/orders/{w.august}")
    assert page.status_code == 200 and f"/orders/{w.august}/void" in page.text and f"/orders/{w.august}/edit" in page.text
    page = client.get(f"/orders/{w.may}")  # they see it (the mover is theirs now), and no button to change it
    assert page.status_code == 200
    assert f"/orders/{w.may}/void" not in page.text and f"/orders/{w.may}/return" not in page.text
    assert f"/orders/{w.may}/edit" not in page.text
    r = client.post_form(f"/orders/{w.may}/void", {"reason": "Typo"})
    assert r.status_code == 422 and "earned on 2026-05-12" in r.text
    r = correct(client, w.may, {w.rep: 100})
    assert r.status_code == 422 and "earned on 2026-05-12" in r.text
    r = client.post_form(f"/orders/{w.august}/returns", {"amount": "5.00", "return_date": "2026-09-10",
                                                        "kind": "return", "reason": "Damaged"})
    assert r.status_code == 303, r.text[:500]
    # An admin always may.
    client.login("boss")
    assert client.post_form(f"/orders/{w.may}/void", {"reason": "Entered twice"}).status_code == 303


def test_the_right_to_correct_follows_the_effective_split(client, earned):
    w = earned
    client.login("boss")
    # The stayer's May order re-split with team B's rep: no longer team A's alone.
    assert correct(client, w.stayer, {w.other_rep: 50, w.rep_b: 50}).status_code == 303
    client.login("mgr_a")
    r = client.post_form(f"/orders/{w.stayer}/void", {"reason": "Typo"})
    assert r.status_code == 422 and "earned on 2026-05-20" in r.text
    # Back to team A's rep alone: team A's manager may again.
    client.login("boss")
    assert correct(client, w.stayer, {w.other_rep: 100}).status_code == 303
    client.login("mgr_a")
    assert client.post_form(f"/orders/{w.stayer}/void", {"reason": "Typo"}).status_code == 303
