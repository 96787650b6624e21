"""Results data through HTTP and the services: orders with splits, collections, opportunities and their
stage history, and the two aggregates the dashboards reuse (ageing, funnel), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from server import clock, validation
from server.accounts.permissions import load_actor
from server.sales import analytics, opportunities, orders
from server.sales.tables import Collection, Opportunity, OpportunityStage, Order, OrderSplit
from server.web import FieldErrors
from tests import factories


def _order_form(world, **extra) -> dict:
    return {"id": str(uuid4()), "customer": str(world.customer), "number": "", "order_date": clock.today().isoformat(),
            "due_date": "", "amount": "1,000.00", "cost": "600", "note": "Twenty units", **extra}


def _orders(client) -> list[dict]:
    return client.run(Order.select(Order.id, Order.number, Order.amount_cents, Order.cost_cents))


def _splits(client, order_id) -> dict:
    rows = client.run(OrderSplit.select(OrderSplit.rep, OrderSplit.share_bp).where(OrderSplit.sales_order == order_id))
    return {r["rep"]: r["share_bp"] for r in rows}


def _actor(client, user_id):
    return client.run(load_actor(str(user_id)))


# --- Orders ----------------------------------------------------------------------------------------


def test_order_split_60_40_between_two_reps(client, world):
    client.login("rep_a1")
    form = client.get("/orders/new")
    assert form.status_code == 200
    oid = re.search(r'name="id" value="([0-9a-f-]{36})"', form.text).group(1)
    r = client.post_form("/orders", _order_form(world, id=oid, split_rep_0=str(world.rep), split_pct_0="60",
                                                  split_rep_1=str(world.other_rep), split_pct_1="40"))
    assert r.status_code == 303 and r.headers["location"] == f"/orders/{oid}"
    [order] = _orders(client)
    assert order["id"] == UUID(oid) and order["amount_cents"] == 100000 and order["cost_cents"] == 60000
    assert re.fullmatch(rf"SO-{clock.today():%Y%m%d}-[0-9A-F]{{4}}", order["number"])
    assert _splits(client, UUID(oid)) == {world.rep: 6000, world.other_rep: 4000}
    dates = client.run(OrderSplit.select(OrderSplit.order_date).where(OrderSplit.sales_order == UUID(oid)))
    assert {d["order_date"] for d in dates} == {clock.today()}
    page = client.get(f"/orders/{oid}").text
    assert "Acme Shanghai" in page and "60%" in page and "40%" in page
    assert "¥400.00" in page and "¥600.00" in page  # shares of the amount; margin 400 (40.0 %)
    assert "40.0%" in page
    # The other rep sees it (they hold a share), with their own share in the list.
    client.login("rep_a2")
    listing = client.get("/orders").text
    assert order["number"] in listing and "40%" in listing
    assert client.get(f"/orders/{oid}").status_code == 200


def test_default_split_is_the_customers_rep_and_a_manager_splits_in_their_teams(client, world):
    client.login("mgr_a")
    r = client.post_form("/orders", _order_form(world, number="ERP-1"))
    assert r.status_code == 303
    oid = UUID(r.headers["location"].rsplit("/", 1)[1])
    assert _splits(client, oid) == {world.rep: 10000}
    # A share to a rep of team B (not led by mgr_a) is refused.
    r = client.post_form("/orders", _order_form(world, split_rep_0=str(world.rep), split_pct_0="50",
                                                  split_rep_1=str(world.rep_b), split_pct_1="50"))
    assert r.status_code == 422 and "only among reps of the teams you lead" in r.text
    assert len(_orders(client)) == 1


def test_splits_not_adding_up_to_100_are_refused_and_the_form_keeps_everything(client, world):
    client.login("rep_a1")
    data = _order_form(world, number="PO-77", due_date=(clock.today() + timedelta(days=30)).isoformat(),
                       note="Keep this note", split_rep_0=str(world.rep), split_pct_0="60.5",
                       split_rep_1=str(world.other_rep), split_pct_1="39.49")
    r = client.post_form("/orders", data)
    assert r.status_code == 422
    assert "The shares add up to 99.99 %; they must add up to exactly 100 %." in r.text
    for kept in ('value="PO-77"', 'value="1,000.00"', 'value="600"', "Keep this note", 'value="60.5"',
                 'value="39.49"', f'value="{data["id"]}"', f'value="{data["due_date"]}"'):
        assert kept in r.text, kept
    assert re.search(rf'<option value="{world.other_rep}" selected>', r.text)
    assert _orders(client) == []
    # Three decimals or a share above 100 are field errors, not 500s.
    r = client.post_form("/orders", {**data, "split_pct_0": "60.555"})
    assert r.status_code == 422 and "At most two decimals." in r.text
    r = client.post_form("/orders", {**data, "split_pct_0": "nan", "amount": "1e400"})
    assert r.status_code == 422 and _orders(client) == []


def test_a_rep_cannot_order_for_another_reps_customer_or_split_outside_their_team(client, world):
    client.login("rep_a1")
    r = client.post_form("/orders", _order_form(world, customer=str(world.other_customer)))
    assert r.status_code == 404
    assert "Beta Suzhou" not in r.text
    r = client.post_form("/orders", _order_form(world, split_rep_0=str(world.rep), split_pct_0="50",
                                                  split_rep_1=str(world.rep_b), split_pct_1="50"))
    assert r.status_code == 422 and "only with reps of your team" in r.text
    # ... and must keep a share for themself.
    r = client.post_form("/orders", _order_form(world, split_rep_0=str(world.other_rep), split_pct_0="100"))
    assert r.status_code == 422 and "Keep a share of the order for yourself." in r.text
    assert _orders(client) == []
    r = client.post_json("/api/v1/orders", {"customer": str(world.other_customer), "amount": 10})
    assert r.status_code == 404


def test_the_same_client_id_twice_is_one_order(client, world):
    client.login("rep_a1")
    data = _order_form(world, number="ERP-42")
    first = client.post_form("/orders", data)
    second = client.post_form("/orders", data)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"] == f"/orders/{data['id']}"
    assert len(_orders(client)) == 1
    api = client.post_json("/api/v1/orders", {**data, "amount": "1000"})
    assert api.status_code == 200 and api.json() == {"id": data["id"], "result": "duplicate"}
    # A different id with a number that exists is a field error.
    r = client.post_form("/orders", {**data, "id": str(uuid4())})
    assert r.status_code == 422 and "An order with this number exists already." in r.text
    assert len(_orders(client)) == 1
    # Someone else's order id is not taken over.
    client.login("rep_b1")
    r = client.post_json("/api/v1/orders", {"id": data["id"], "customer": str(world.customer_b), "amount": 5})
    assert r.status_code == 422 and "id" in r.json()["errors"]


def test_api_order_with_splits_list(client, world):
    client.login("rep_a1")
    oid = str(uuid4())
    r = client.post_json("/api/v1/orders", {"id": oid, "customer": str(world.customer), "amount": 250.5,
                                            "splits": [{"rep": str(world.rep), "percent": "33.33"},
                                                       {"rep": str(world.other_rep), "percent": 66.67}]})
    assert r.status_code == 200 and r.json() == {"id": oid, "result": "applied"}
    assert _splits(client, UUID(oid)) == {world.rep: 3333, world.other_rep: 6667}
    r = client.post_json("/api/v1/orders", {"customer": str(world.customer), "amount": -5, "splits": "x"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert set(r.json()["errors"]) >= {"amount", "splits"}
    listing = client.get("/api/v1/orders").json()["orders"]
    assert [o["amount_cents"] for o in listing] == [25050] and listing[0]["share_bp"] == 3333


def test_an_order_from_an_opportunity_marks_it_won(client, world):
    opp = client.run(factories.opportunity(world.rep, world.customer, stage="negotiation", amount=8000))
    client.login("rep_a1")
    form = client.get(f"/orders/new?opportunity={opp}")
    assert form.status_code == 200 and 'value="8000.00"' in form.text
    assert client.get("/orders/new?opportunity=not-an-id").status_code == 404
    r = client.post_form("/orders", _order_form(world, opportunity=str(opp), amount="8000"))
    assert r.status_code == 303
    row = client.run(Opportunity.select(Opportunity.stage, Opportunity.closed_on).where(Opportunity.id == opp).first())
    assert row == {"stage": "won", "closed_on": clock.today()}
    history = client.run(OpportunityStage.select(OpportunityStage.from_stage, OpportunityStage.to_stage).where(
        OpportunityStage.opportunity == opp).order_by(OpportunityStage.changed_at))
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [("", "negotiation"), ("negotiation", "won")]
    # Someone else's opportunity cannot be attached.
    other = client.run(factories.opportunity(world.other_rep, world.other_customer))
    r = client.post_form("/orders", _order_form(world, opportunity=str(other)))
    assert r.status_code == 404


# --- Collections -----------------------------------------------------------------------------------


def test_collections_may_not_exceed_the_order(client, world):
    oid = client.run(factories.order(world.customer, {world.rep: 10000}, amount=1000,
                                     day=clock.today() - timedelta(days=40)))
    client.login("rep_a1")
    assert client.get(f"/collections/new?order={oid}").status_code == 200
    first = {"id": str(uuid4()), "order": str(oid), "amount": "600", "received_on": clock.today().isoformat()}
    r = client.post_form("/collections", first)
    assert r.status_code == 303 and r.headers["location"] == f"/orders/{oid}"
    assert client.post_form("/collections", first).status_code == 303  # a retried submit: no second row
    r = client.post_form("/collections", {**first, "id": str(uuid4()), "amount": "400.01", "number": "R-9"})
    assert r.status_code == 422 and "Only 400.00 is still outstanding on this order." in r.text
    assert 'value="R-9"' in r.text and 'value="400.01"' in r.text
    r = client.post_form("/collections", {**first, "id": str(uuid4()), "amount": "400"})
    assert r.status_code == 303
    amounts = sorted(c["amount_cents"] for c in client.run(Collection.select(Collection.amount_cents)))
    assert amounts == [40000, 60000]
    numbers = [c["number"] for c in client.run(Collection.select(Collection.number))]
    assert all(re.fullmatch(rf"RC-{clock.today():%Y%m%d}-[0-9A-F]{{4}}", n) for n in numbers)
    page = client.get(f"/orders/{oid}").text
    assert "¥0.00" in page and "days overdue" not in page  # fully collected
    r = client.post_form("/collections", {**first, "id": str(uuid4()), "amount": "1"})
    assert r.status_code == 422
    # Someone else's order: 404, malformed order ids too.
    client.login("rep_a2")
    assert client.post_form("/collections", {**first, "id": str(uuid4()), "amount": "1"}).status_code == 404
    assert client.get("/collections/new?order=nope").status_code == 404


def test_correcting_an_order_replaces_its_amount_and_split(client, world):
    # An order of the current month is corrected in place (a closed month's: test_order_corrections.py).
    run = client.run
    month_start = clock.today().replace(day=1)
    order_id = run(factories.order(world.customer, {world.rep: 10_000}, amount=1000, cost=600, day=month_start))
    run(factories.collection(order_id, 300))
    client.login("rep_a1")
    form = client.get(f"/orders/{order_id}/edit")
    assert form.status_code == 200 and 'name="version"' in form.text and "1000.00" in form.text
    version = re.search(r'name="version" value="([^"]+)"', form.text).group(1)
    edited = {**_order_form(world), "id": str(order_id), "version": version, "amount": "1,200.00", "cost": "700",
              "split_rep_0": str(world.rep), "split_pct_0": "70", "split_rep_1": str(world.other_rep),
              "split_pct_1": "30", "order_date": clock.today().isoformat()}
    assert client.post_form(f"/orders/{order_id}", edited).status_code == 303
    row = run(Order.select(Order.amount_cents, Order.cost_cents, Order.number).where(Order.id == order_id).first())
    assert row["amount_cents"] == 120_000 and row["cost_cents"] == 70_000
    assert _splits(client, order_id) == {world.rep: 7000, world.other_rep: 3000}
    dates = run(OrderSplit.select(OrderSplit.order_date).where(OrderSplit.sales_order == order_id))
    assert {d["order_date"] for d in dates} == {clock.today()}
    # The form it came from is now stale: a second save with the old version is a conflict, text kept.
    stale = client.post_form(f"/orders/{order_id}", {**edited, "amount": "1,300.00"})
    assert stale.status_code == 409 and "1,300.00" in stale.text
    # Below what was collected: refused, typed values kept.
    fresh = re.search(r'name="version" value="([^"]+)"', client.get(f"/orders/{order_id}/edit").text).group(1)
    low = client.post_form(f"/orders/{order_id}", {**edited, "version": fresh, "amount": "200", "note": "Typed note"})
    assert low.status_code == 422 and "has been collected" in low.text and "Typed note" in low.text
    # A teammate who holds a share sees the order but may not correct it; another team's manager cannot see it.
    client.login("rep_a2")
    assert client.get(f"/orders/{order_id}").status_code == 200
    assert client.get(f"/orders/{order_id}/edit").status_code == 403
    assert client.post_form(f"/orders/{order_id}", {**edited, "version": fresh}).status_code == 422
    client.login("mgr_b")
    assert client.get(f"/orders/{order_id}/edit").status_code == 404
    assert client.post_form(f"/orders/{order_id}", {**edited, "version": fresh}).status_code == 404
    client.login("mgr_a")
    assert client.post_form(f"/orders/{order_id}", {**edited, "version": fresh, "amount": "1,250"}).status_code == 303
    assert run(Order.select(Order.amount_cents).where(Order.id == order_id).first())["amount_cents"] == 125_000


def test_imported_orders_are_corrected_by_managers_not_reps(client, world):
    order_id = client.run(factories.order(world.customer, {world.rep: 10_000}, amount=500))
    client.run(Order.update({Order.source: "import"}).where(Order.id == order_id))
    client.login("rep_a1")
    assert "/edit" not in client.get(f"/orders/{order_id}").text
    refused = client.post_form(f"/orders/{order_id}", {**_order_form(world), "amount": "600"})
    assert refused.status_code == 422 and "ask your manager" in refused.text
    client.login("boss")
    assert client.post_form(f"/orders/{order_id}", {**_order_form(world), "amount": "600"}).status_code == 303


def test_order_page_shows_outstanding_and_days_overdue(client, world):
    due = clock.today() - timedelta(days=12)
    oid = client.run(factories.order(world.customer, {world.rep: 10000}, amount=500, day=due - timedelta(days=30), due=due))
    client.run(factories.collection(oid, 120))
    client.login("mgr_a")
    page = client.get(f"/orders/{oid}").text
    assert "¥380.00" in page and "12 days overdue" in page


# --- Opportunities ---------------------------------------------------------------------------------


def _history(client, opp) -> list[tuple[str, str]]:
    rows = client.run(OpportunityStage.select(OpportunityStage.from_stage, OpportunityStage.to_stage).where(
        OpportunityStage.opportunity == opp).order_by(OpportunityStage.changed_at))
    return [(h["from_stage"], h["to_stage"]) for h in rows]


def test_stage_changes_are_recorded_and_only_a_manager_reopens(client, world):
    client.login("rep_a1")
    oid = str(uuid4())
    data = {"id": oid, "name": "Twenty forklifts", "customer": str(world.customer), "stage": "lead", "amount": "50000"}
    assert client.post_form("/opportunities", data).status_code == 303
    assert client.post_form("/opportunities", data).status_code == 303  # a retry: not a second one
    assert client.run(Opportunity.count()) == 1
    assert client.post_form(f"/opportunities/{oid}/stage", {"stage": "qualified", "from_stage": "lead"}).status_code == 303
    assert client.post_form(f"/opportunities/{oid}/stage", {"stage": "lost", "from_stage": "qualified"}).status_code == 303
    row = client.run(Opportunity.select(Opportunity.stage, Opportunity.closed_on, Opportunity.owner).where(
        Opportunity.id == UUID(oid)).first())
    assert row == {"stage": "lost", "closed_on": clock.today(), "owner": world.rep}
    r = client.post_form(f"/opportunities/{oid}/stage", {"stage": "negotiation", "from_stage": "lost"})
    assert r.status_code == 422 and "Only a manager can change a won or lost opportunity." in r.text
    client.login("mgr_a")
    assert client.post_form(f"/opportunities/{oid}/stage", {"stage": "negotiation", "from_stage": "lost"}).status_code == 303
    row = client.run(Opportunity.select(Opportunity.stage, Opportunity.closed_on).where(Opportunity.id == UUID(oid)).first())
    assert row == {"stage": "negotiation", "closed_on": None}
    assert _history(client, UUID(oid)) == [("", "lead"), ("lead", "qualified"), ("qualified", "lost"),
                                           ("lost", "negotiation")]
    page = client.get(f"/opportunities/{oid}").text
    assert "Twenty forklifts" in page and page.count("<td>Lost</td>") == 2  # to lost, then from lost
    # A rep cannot open one for another rep's customer; a manager's goes to the customer's owner.
    client.login("rep_a1")
    r = client.post_form("/opportunities", {**data, "id": str(uuid4()), "customer": str(world.other_customer)})
    assert r.status_code == 404
    client.login("mgr_a")
    mid = str(uuid4())
    assert client.post_form("/opportunities", {**data, "id": mid, "customer": str(world.other_customer)}).status_code == 303
    owner = client.run(Opportunity.select(Opportunity.owner).where(Opportunity.id == UUID(mid)).first())["owner"]
    assert owner == world.other_rep
    client.login("mgr_b")
    assert client.post_form("/opportunities", {**data, "id": str(uuid4())}).status_code == 404
    r = client.post_form("/opportunities", {**data, "id": str(uuid4()), "name": "", "amount": "12.345",
                                             "customer": str(world.customer_b)})
    assert r.status_code == 422 and "At most two decimals." in r.text


def test_a_stale_stage_form_is_a_conflict(client, world):
    opp = client.run(factories.opportunity(world.rep, world.customer, stage="lead"))
    client.login("rep_a1")
    assert client.post_form(f"/opportunities/{opp}/stage", {"stage": "proposal", "from_stage": "lead"}).status_code == 303
    # A second tab still showing "lead" tries to move it to qualified.
    r = client.post_form(f"/opportunities/{opp}/stage", {"stage": "qualified", "from_stage": "lead"})
    assert r.status_code == 409 and "moved to Proposal meanwhile" in r.text
    assert client.run(Opportunity.select(Opportunity.stage).where(Opportunity.id == opp).first())["stage"] == "proposal"
    assert _history(client, opp) == [("", "lead"), ("lead", "proposal")]
    assert client.post_form(f"/opportunities/{opp}/stage", {"stage": "bogus", "from_stage": "proposal"}).status_code == 422
    client.login("rep_a2")
    assert client.post_form(f"/opportunities/{opp}/stage", {"stage": "won", "from_stage": "proposal"}).status_code == 404


async def _opportunity_with_history(owner, customer, steps: list[tuple[str, float]], now: datetime) -> UUID:
    """An opportunity whose history is `steps` of (stage, days before now); closed_on from the last step."""
    oid = uuid4()
    at = [now - timedelta(days=d) for _s, d in steps]
    last_stage = steps[-1][0]
    closed = clock.local_date(at[-1]) if last_stage in ("won", "lost") else None
    await Opportunity.insert(Opportunity(
        id=oid, name=f"Deal {oid.hex[:6]}", customer=customer, owner=owner, stage=last_stage, amount_cents=100000,
        stage_changed_at=at[-1], closed_on=closed, created_by=owner, created_at=at[0], updated_at=at[-1]))
    before = ""
    for (stage, _d), when in zip(steps, at):
        await OpportunityStage.insert(OpportunityStage(id=uuid4(), opportunity=oid, from_stage=before, to_stage=stage,
                                                       changed_at=when, changed_by=owner))
        before = stage
    return oid


def test_time_in_each_stage_on_the_detail_page(client, world):
    now = clock.now()
    opp = client.run(_opportunity_with_history(world.rep, world.customer, [("lead", 10), ("qualified", 4)], now))
    row = client.run(opportunities.get_opportunity(_actor(client, world.rep), opp))
    assert [(h["to_stage"], round(h["days"], 2)) for h in row["history"]] == [("lead", 6.0), ("qualified", 4.0)]
    client.login("rep_a1")
    page = client.get(f"/opportunities/{opp}").text
    assert "6.0" in page and "4.0" in page and "so far" in page
    won = client.run(_opportunity_with_history(world.rep, world.customer, [("lead", 3), ("won", 1)], now))
    row = client.run(opportunities.get_opportunity(_actor(client, world.rep), won))
    assert [h["days"] is None for h in row["history"]] == [False, True] and round(row["history"][0]["days"], 2) == 2.0
    assert row["stage_choices"] == []  # a rep cannot reopen


# --- Aggregates for the dashboards -----------------------------------------------------------------


def test_ageing_buckets_hand_computed(client, world):
    as_of = date(2026, 6, 30)
    f, w, run = factories, world, client.run
    # Not yet due (due 10 July): 1000 - 200 collected = 800.
    a = run(f.order(w.customer, {w.rep: 10000}, amount=1000, day=date(2026, 6, 20), due=date(2026, 7, 10)))
    run(f.collection(a, 200, day=date(2026, 6, 25)))
    # Shared 60/40, due on its order date 1 May: 60 days past due -> 31-60. 500 collected by as_of (100 after).
    b = run(f.order(w.customer, {w.rep: 6000, w.other_rep: 4000}, amount=1000, day=date(2026, 5, 1)))
    run(f.collection(b, 500, day=date(2026, 6, 1)))
    run(f.collection(b, 100, day=date(2026, 7, 5)))
    run(f.order(w.customer, {w.rep: 10000}, amount=300, day=date(2026, 3, 1), due=date(2026, 3, 31)))  # 91 days
    run(f.order(w.customer, {w.rep: 10000}, amount=250, day=date(2026, 6, 1), due=date(2026, 6, 29)))  # 1 day
    run(f.order(w.customer, {w.rep: 10000}, amount=400, day=date(2026, 3, 1), due=date(2026, 4, 1)))  # 90 days
    paid = run(f.order(w.customer, {w.rep: 10000}, amount=100, day=date(2026, 6, 1)))
    run(f.collection(paid, 100, day=date(2026, 6, 2)))  # fully paid: not outstanding
    run(f.order(w.customer, {w.rep: 10000}, amount=999, day=date(2026, 7, 2)))  # after as_of
    run(f.order(w.customer_b, {w.rep_b: 10000}, amount=700, day=date(2026, 6, 10)))  # team B: 20 days

    rows = run(analytics.ageing(_actor(client, w.manager), as_of))
    by_rep = {r.rep: r for r in rows}
    assert set(by_rep) == {w.rep, w.other_rep}
    buckets = ("not_due", "d1_30", "d31_60", "d61_90", "d90_plus", "total")
    assert tuple(getattr(by_rep[w.rep], k) for k in buckets) == (80000, 25000, 30000, 40000, 30000, 205000)
    assert tuple(getattr(by_rep[w.other_rep], k) for k in buckets) == (0, 0, 20000, 0, 0, 20000)
    assert by_rep[w.rep].orders == 5
    assert analytics.ageing_totals(rows).total == 225000
    # The rep sees only their own row; the admin narrowed to rep_b1 sees team B's order.
    assert [r.rep for r in run(analytics.ageing(_actor(client, w.rep), as_of))] == [w.rep]
    admin_b = run(analytics.ageing(_actor(client, w.admin), as_of, [w.rep_b]))
    assert [(r.rep, r.d1_30, r.total) for r in admin_b] == [(w.rep_b, 70000, 70000)]
    assert run(analytics.ageing(_actor(client, w.other_manager), as_of, [w.rep])) == []
    # The page shows the same figures.
    client.login("mgr_a")
    page = client.get("/collections?as_of=2026-06-30").text
    assert "¥2,050.00" in page and "¥400.00" in page and "¥200.00" in page and "¥700.00" not in page


def test_funnel_conversion_and_time_in_stage_hand_computed(client, world):
    now = clock.now()
    w, run = world, client.run
    steps = [
        [("lead", 20), ("qualified", 15), ("proposal", 10), ("won", 5)],
        [("lead", 20), ("qualified", 18), ("lost", 8)],
        [("lead", 10), ("proposal", 4)],  # skipped qualified: it passed through it
        [("lead", 2)],
        [("lead", 100), ("lost", 90)],  # closed before the window: not counted
    ]
    for s in steps:
        run(_opportunity_with_history(w.rep, w.customer, s, now))
    run(_opportunity_with_history(w.rep_b, w.customer_b, [("lead", 5), ("won", 1)], now))  # team B
    today = clock.today()
    result = run(analytics.funnel(_actor(client, w.manager), today - timedelta(days=30), today))
    stages = {s.stage: s for s in result.stages}
    assert result.total == 4 and (result.won, result.lost, result.win_rate) == (1, 1, 0.5)
    assert {k: v.count for k, v in stages.items()} == {
        "lead": 1, "qualified": 0, "proposal": 1, "negotiation": 0, "won": 1, "lost": 1}
    assert [stages[s].reached for s in analytics.LADDER] == [4, 3, 2, 1, 1]
    assert stages["lead"].conversion == pytest.approx(3 / 4)
    assert stages["qualified"].conversion == pytest.approx(2 / 3)
    assert stages["proposal"].conversion == pytest.approx(1 / 2)
    assert stages["negotiation"].conversion == pytest.approx(1.0)
    assert stages["won"].conversion is None
    # lead: 5, 2, 6, and 2 so far -> 3.75; qualified: 5, 10 -> 7.5; proposal: 5, 4 so far -> 4.5.
    assert stages["lead"].avg_days == pytest.approx(3.75, abs=0.01)
    assert stages["qualified"].avg_days == pytest.approx(7.5, abs=0.01)
    assert stages["proposal"].avg_days == pytest.approx(4.5, abs=0.01)
    assert stages["won"].avg_days is None and stages["lost"].avg_days is None
    assert stages["negotiation"].avg_days is None
    # A rep's funnel is their own; the other manager's excludes team A.
    other = run(analytics.funnel(_actor(client, w.other_manager), today - timedelta(days=30), today))
    assert other.total == 1 and other.won == 1
    assert run(analytics.funnel(_actor(client, w.other_rep), today - timedelta(days=30), today)).total == 0


# --- Pages -------------------------------------------------------------------------------------------


def test_hub_scopes_and_filters_by_rep(client, world):
    client.run(factories.opportunity(world.rep, world.customer, stage="proposal", name="Acme deal"))
    client.run(factories.opportunity(world.other_rep, world.other_customer, stage="lead", name="Beta deal"))
    client.run(factories.order(world.customer, {world.rep: 10000}, number="SO-ACME"))
    client.login("rep_a1")
    page = client.get("/sales").text
    assert "Acme deal" in page and "SO-ACME" in page and "Beta deal" not in page
    client.login("mgr_a")
    page = client.get("/sales").text
    assert "Acme deal" in page and "Beta deal" in page
    page = client.get(f"/sales?rep={world.other_rep}").text
    assert "Acme deal" not in page and "Beta deal" in page
    assert client.get("/sales?rep=garbage").status_code == 200
    page = client.get(f"/opportunities?stage=proposal&rep={world.rep}").text
    assert "Acme deal" in page and "Beta deal" not in page
    assert client.get("/orders?month=2026-13").status_code == 200
    month = clock.today().strftime("%Y-%m")
    assert "SO-ACME" in client.get(f"/orders?month={month}").text
    client.login("mgr_b")
    page = client.get("/sales").text
    assert "Acme deal" not in page and "SO-ACME" not in page
    assert "Acme deal" not in client.get(f"/opportunities?rep={world.rep}").text


def test_money_parser():
    errors: dict = {}
    assert validation.money({"a": "1,234.56"}, "a", errors) == 123456
    assert validation.money({"a": "12"}, "a", errors) == 1200 and not errors
    for bad in ("1.234", "-5", "0", "nan", "inf", "1e400", "abc", "99999999999999999999"):
        errors = {}
        assert validation.money({"a": bad}, "a", errors) is None and "a" in errors, bad
    with pytest.raises(FieldErrors):
        orders.validate_order({"customer": "x", "amount": ""})
