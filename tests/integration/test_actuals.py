"""KPI actuals in SQL on both engines: shared orders by share, rates from sums, months, drill-down rows."""

from __future__ import annotations

from datetime import date, timedelta

from server import clock
from server.targets import actuals
from server.targets.tables import Kpi
from tests import factories


def _kpi(client, code):
    return client.run(actuals.kpi_by_code(code))


def test_shared_orders_count_by_share_and_rates_roll_up(client, world):
    run = client.run
    day = date(2026, 3, 10)
    run(factories.order(world.customer, {world.rep: 6000, world.other_rep: 4000}, amount=1000, cost=600, day=day))
    run(factories.order(world.customer, {world.rep: 10000}, amount=500, cost=100, day=day + timedelta(days=30)))
    order = run(factories.order(world.customer_b, {world.rep_b: 10000}, amount=200, cost=0, day=day))
    run(factories.collection(order, 150, day=day + timedelta(days=3)))
    revenue = _kpi(client, "revenue")
    march = run(actuals.actuals(revenue, date(2026, 3, 1), date(2026, 3, 31)))
    assert march[world.rep][0] == 600.0 and march[world.other_rep][0] == 400.0 and march[world.rep_b][0] == 200.0
    scoped = run(actuals.actuals(revenue, date(2026, 3, 1), date(2026, 4, 30), [world.rep]))
    assert list(scoped) == [world.rep] and scoped[world.rep][0] == 1100.0
    pct = _kpi(client, "gross_margin_pct")
    pairs = run(actuals.actuals(pct, date(2026, 3, 1), date(2026, 4, 30), [world.rep, world.other_rep]))
    # rep: margin 240 + 400 over revenue 600 + 500; other: 160 over 400; together 800 / 1500.
    assert round(actuals.value_of(pct, pairs[world.rep]), 4) == round(640 / 1100 * 100, 4)
    assert round(actuals.value_of(pct, actuals.total(pairs.values())), 4) == round(800 / 1500 * 100, 4)
    months = run(actuals.by_month(revenue, date(2026, 1, 1), date(2026, 12, 31), [world.rep], per_rep=True))
    assert months == {(world.rep, "2026-03"): (600.0, 1.0), (world.rep, "2026-04"): (500.0, 1.0)}
    collected = run(actuals.actuals(_kpi(client, "collections"), date(2026, 3, 1), date(2026, 3, 31)))
    assert collected == {world.rep_b: (150.0, 1.0)}
    rows = run(actuals.records(revenue, date(2026, 3, 1), date(2026, 3, 31), [world.other_rep]))
    assert len(rows) == 1 and rows[0]["share_bp"] == 4000 and rows[0]["customer"] == "Acme Shanghai"


def test_visit_and_customer_kpis_and_a_custom_kpi(client, world):
    run = client.run
    today = clock.today()
    run(factories.visit(world.rep, world.customer))
    run(factories.visit(world.rep, world.customer))
    visits = run(actuals.actuals(_kpi(client, "visits"), today, today))
    assert visits[world.rep] == (2.0, 2.0)
    new = run(actuals.actuals(_kpi(client, "new_customers"), today, today))
    assert new == {world.rep: (1.0, 1.0), world.other_rep: (1.0, 1.0), world.rep_b: (1.0, 1.0)}
    assert run(actuals.by_month(_kpi(client, "new_customers"), today, today)) == {(None, today.strftime("%Y-%m")): (3.0, 3.0)}
    run(Kpi.insert(Kpi(code="demo_visits", name="Demo visits", unit="count", direction="higher", kind="sum",
                       builtin=False, source="visits", measure="count", filter_field="purpose",
                       filter_value="follow_up", created_at=clock.now())))
    custom = _kpi(client, "demo_visits")
    assert custom.measurable
    assert run(actuals.actuals(custom, today, today)) == {world.rep: (2.0, 2.0)}
    won = run(factories.opportunity(world.rep, world.customer, stage="won", closed_on=today))
    run(factories.opportunity(world.rep, world.customer, stage="lost", closed_on=today))
    run(factories.opportunity(world.rep, world.customer, stage="proposal"))
    conversion = _kpi(client, "conversion_rate")
    pair = run(actuals.actuals(conversion, today, today))[world.rep]
    assert actuals.value_of(conversion, pair) == 50.0
    assert [r["id"] for r in run(actuals.records(conversion, today, today, [world.rep]))].count(won) == 1


def test_many_kpis_at_once_equal_one_by_one(client, world):
    run = client.run
    day = clock.today()
    run(factories.order(world.customer, {world.rep: 6000, world.other_rep: 4000}, amount=1000, cost=600, day=day))
    order = run(factories.order(world.customer_b, {world.rep_b: 10000}, amount=200, cost=50, day=day))
    run(factories.collection(order, 150, day=day))
    run(factories.visit(world.rep, world.customer))
    run(factories.opportunity(world.rep, world.customer, stage="won", closed_on=day))
    kpis = run(actuals.kpis())
    assert len(kpis) == 8
    for reps in (None, [world.rep, world.rep_b]):
        together = run(actuals.actuals_many(kpis, day, day, reps))
        for kpi in kpis:
            assert together[kpi.code] == run(actuals.actuals(kpi, day, day, reps)), kpi.code
    assert together["revenue"][world.rep] == (600.0, 1.0) and world.other_rep not in together["revenue"]
