"""An order of a closed month corrected, on SQLite and PostgreSQL: the difference lands on the day of the
correction, credited per rep as the new allocation less what each was credited, so the month the order
was reported in stays as it was, to the cent, for every rep and team; the order page shows the figures
now and the change history, and the explain view names the correction."""

from __future__ import annotations

import re
from datetime import date
from uuid import uuid4

from server import clock, db
from server.sales import analytics
from server.sales.tables import Collection, CollectionSplit, Order, OrderReturn, OrderSplit
from server.targets import actuals
from tests.integration.test_money import _actor, _board_actual, _create, _csv, _order_form

MAY = "2026-05"


def _revenue(client, start, end, reps, kpi="revenue"):
    k = client.run(actuals.kpi_by_code(kpi))
    return {r: round(v[0] * 100) for r, v in client.run(actuals.actuals(k, start, end, reps)).items()}


def _edit_form(client, oid) -> dict:
    page = client.get(f"/orders/{oid}/edit")
    assert page.status_code == 200
    return {"version": re.search(r'name="version" value="([^"]+)"', page.text).group(1), "closed": "1"}


def test_a_closed_months_order_corrected_posts_the_difference_on_the_day(client, world):
    run = client.run
    today = clock.today()
    now_period = today.strftime("%Y-%m")
    reps = [world.rep, world.other_rep]
    client.login("mgr_a")
    oid = _create(client, world, "100.01", {world.rep: "60", world.other_rep: "40"}, date(2026, 5, 12), cost="40")
    may = (date(2026, 5, 1), date(2026, 5, 31))
    month = (today.replace(day=1), today)
    assert _revenue(client, *may, reps) == {world.rep: 6001, world.other_rep: 4000}
    may_margin = _revenue(client, *may, reps, "gross_margin")
    assert may_margin == {world.rep: 3601, world.other_rep: 2400}
    form = client.get(f"/orders/{oid}/edit").text
    assert "Reason for the correction" in form and "dated correction" in form
    edit = {**_order_form(world, "120.00", {world.rep: "50", world.other_rep: "50"}, date(2026, 5, 12), cost="50"),
            "id": oid, "reason": "Price agreed after delivery", **_edit_form(client, oid)}
    # The date of a closed month's order stays: refused, what was typed kept.
    moved = client.post_form(f"/orders/{oid}", {**edit, "order_date": today.isoformat()})
    assert moved.status_code == 422 and "month is closed" in moved.text and "Price agreed after delivery" in moved.text
    assert client.post_form(f"/orders/{oid}", edit).status_code == 303
    # The order as reported in May is kept: its row and split rows, and May for every rep and the team.
    row = run(Order.select(Order.amount_cents, Order.cost_cents).where(Order.id == oid).first())
    assert row == {"amount_cents": 10001, "cost_cents": 4000}
    assert {s["rep"]: s["amount_cents"] for s in run(OrderSplit.select(OrderSplit.rep, OrderSplit.amount_cents)
                                                      .where(OrderSplit.sales_order == oid))} == {
        world.rep: 6001, world.other_rep: 4000}
    assert _revenue(client, *may, reps) == {world.rep: 6001, world.other_rep: 4000}
    assert _revenue(client, *may, reps, "gross_margin") == may_margin
    assert _board_actual(client, MAY, "team", "Team A") == 10001
    # The difference lands today: the new allocation (6000 / 6000, margin 3500 / 3500) less May's credit.
    assert _revenue(client, *month, reps) == {world.rep: -1, world.other_rep: 2000}
    assert _revenue(client, *month, reps, "gross_margin") == {world.rep: -101, world.other_rep: 1100}
    assert _board_actual(client, now_period, "team", "Team A") == 12000 - 10001
    [fix] = run(OrderReturn.select(OrderReturn.number, OrderReturn.return_date, OrderReturn.amount_cents,
                                   OrderReturn.reason).where(OrderReturn.sales_order == oid))
    assert fix["return_date"] == today and fix["amount_cents"] == -1999 and fix["reason"] == "Price agreed after delivery"
    # The explain view and its records name it; the drill-down rows add up to the board's number.
    explain = client.get(f"/dashboard/explain?kpi=revenue&scope=team:{world.team_a}&period={now_period}").text
    assert re.search(rf"Includes a correction of [^<]*19\.99 dated [^<]*{re.escape(fix['number'])}", explain)
    drill = _csv(client.get(f"/dashboard/explain?kpi=revenue&scope=team:{world.team_a}&period={now_period}&format=csv"))
    assert {r[1] for r in drill[1:]} == {fix["number"]}
    adjustments = run(analytics.adjustments("revenue", *month, reps))
    assert [(a.kind, a.cents) for a in adjustments] == [("order_correction", 1999)]
    # The order page shows the figures now, as reported, and the change history.
    page = client.get(f"/orders/{oid}").text
    assert "¥120.00" in page and "¥100.01 as reported in its month" in page and fix["number"] in page
    assert "Order corrected" in page and "Price agreed after delivery" in page and "¥60.00" in page
    assert "120.00" in client.get(f"/orders/{oid}/edit").text
    # What is due follows the figures now; a receipt is credited by the new split.
    assert client.post_form("/collections", {"id": str(uuid4()), "order": oid, "amount": "120.01",
                                             "received_on": today.isoformat()}).status_code == 422
    assert client.post_form("/collections", {"id": str(uuid4()), "order": oid, "amount": "120.00",
                                             "received_on": today.isoformat()}).status_code == 303
    [receipt] = run(Collection.select(Collection.id))
    credits = run(CollectionSplit.select(CollectionSplit.rep, CollectionSplit.amount_cents)
                  .where(CollectionSplit.collection == receipt["id"]))
    assert {c["rep"]: c["amount_cents"] for c in credits} == {world.rep: 6000, world.other_rep: 6000}


def test_a_second_correction_moves_the_whole_order_to_one_rep_and_sums_hold(client, world):
    today = clock.today()
    reps = [world.rep, world.other_rep]
    client.login("boss")
    oid = _create(client, world, "999.99", {world.rep: "33.33", world.other_rep: "66.67"}, date(2026, 4, 30), cost="1")
    april = (date(2026, 4, 1), date(2026, 4, 30))
    before = _revenue(client, *april, reps)
    base = {**_order_form(world, "999.99", {world.rep: "100"}, date(2026, 4, 30), cost="1"), "id": oid, "reason": "Split"}
    assert client.post_form(f"/orders/{oid}", {**base, **_edit_form(client, oid)}).status_code == 303
    assert client.post_form(f"/orders/{oid}", {**base, "amount": "1,000.00", **_edit_form(client, oid)}).status_code == 303
    # Nothing changed: no third correction.
    assert client.post_form(f"/orders/{oid}", {**base, "amount": "1,000.00", **_edit_form(client, oid)}).status_code == 303
    assert client.run(OrderReturn.count().where(OrderReturn.sales_order == oid)) == 2
    assert _revenue(client, *april, reps) == before
    month = _revenue(client, today.replace(day=1), today, reps)
    assert month == {world.rep: 100000 - before[world.rep], world.other_rep: -before[world.other_rep]}
    page = client.get(f"/orders/{oid}").text
    assert "¥1,000.00" in page and "Rep" in page
    # The ageing of the reps adds up to what is outstanding on the order.
    client.login("boss")
    actor = _actor(client, world.admin)
    rows = client.run(analytics.ageing(actor, today, reps))
    assert sum(r.total for r in rows) == 100000
    assert {r.rep: r.total for r in rows} == {world.rep: 100000}


def test_the_bench_floor_sums_the_stored_cents_as_the_boards_do(client, world):
    from bench.pace import FLOOR_ORDERS
    run = client.run
    client.login("boss")
    oid = _create(client, world, "100.01", {world.rep: "60", world.other_rep: "40"}, date(2026, 5, 12))
    _create(client, world, "0.03", {world.rep: "50", world.other_rep: "50"}, date(2026, 5, 13))
    voided = _create(client, world, "50.00", {world.rep: "100"}, date(2026, 5, 14))
    assert client.post_form(f"/orders/{voided}/void", {"reason": "Duplicate"}).status_code == 303
    assert client.post_form(f"/orders/{oid}/returns", {"id": str(uuid4()), "amount": "10.00", "reason": "Broken",
                                                       "return_date": "2026-05-20"}).status_code == 303
    start, end = date(2026, 5, 1), date(2026, 5, 31)
    rows = run(Order.raw(FLOOR_ORDERS.replace("{reps}", ""), start, end))
    floor = {db.as_uuid(r["rep"]): int(r["v"]) for r in rows}
    assert floor == _revenue(client, start, end, [world.rep, world.other_rep])
    assert sum(floor.values()) == 10001 + 3 - 1000


def test_a_rep_a_correction_credits_sees_the_order(client, world):
    client.login("mgr_a")
    oid = _create(client, world, "300.00", {world.rep: "100"}, date(2026, 3, 3))
    client.login("rep_b1")
    assert client.get(f"/orders/{oid}").status_code == 404
    client.login("boss")
    assert client.get(f"/orders/{oid}").status_code == 200
    client.login("rep_a2")
    assert client.get(f"/orders/{oid}").status_code == 404
    client.login("mgr_a")
    edit = {**_order_form(world, "300.00", {world.rep: "50", world.other_rep: "50"}, date(2026, 3, 3)), "id": oid,
            **_edit_form(client, oid)}
    assert client.post_form(f"/orders/{oid}", edit).status_code == 303
    client.login("rep_a2")
    page = client.get(f"/orders/{oid}")
    assert page.status_code == 200 and "¥150.00" in page.text
    assert oid in client.get("/orders").text
    client.login("rep_b1")
    assert client.get(f"/orders/{oid}").status_code == 404
