"""Money to the cent, on SQLite and PostgreSQL: an order's split is allocated in cents once (largest
remainder) and stored; the order page, the drill-down, its CSV, the boards and the ageing all sum those
cents, so every number equals the rows listed under it. Voids and collection corrections with reasons."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server import clock
from server.accounts.permissions import load_actor
from server.sales import analytics, orders, returns
from server.sales.money import allocate
from server.sales.tables import AuditEvent, CollectionSplit, Order, OrderSplit, ReturnSplit
from server.settings import ROOT
from server.targets import actuals
from tests import factories

MAY, JUNE = "2026-05", "2026-06"


def _actor(client, user_id):
    return client.run(load_actor(str(user_id)))


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.text[:300]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def _order_form(world, amount: str, shares: dict, day: date, cost: str = "0") -> dict:
    form = {"id": str(uuid4()), "customer": str(world.customer), "order_date": day.isoformat(), "amount": amount,
            "cost": cost}
    for i, (rep, pct) in enumerate(shares.items()):
        form[f"split_rep_{i}"], form[f"split_pct_{i}"] = str(rep), pct
    return form


def _create(client, world, amount: str, shares: dict, day: date, cost: str = "0"):
    r = client.post_form("/orders", _order_form(world, amount, shares, day, cost))
    assert r.status_code == 303, r.text[:500]
    return r.headers["location"].rsplit("/", 1)[1]


def _cents(text: str) -> int:
    return int((Decimal(text) * 100).to_integral_value())


def _board_actual(client, period: str, scope: str, name: str, kpi: str = "Revenue") -> int:
    rows = _csv(client.get(f"/dashboard?period={period}&format=csv&table=board"))
    [actual] = [r[4] for r in rows[1:] if r[0] == scope and r[1] == name and r[3] == kpi]
    return _cents(actual)


# --- The three reported bugs ---------------------------------------------------------------------


def test_a_100_01_order_split_60_40_is_credited_the_same_cents_on_its_page_and_in_the_drill_down(client, world):
    client.login("mgr_a")
    oid = _create(client, world, "100.01", {world.rep: "60", world.other_rep: "40"}, date(2026, 5, 12))
    stored = client.run(OrderSplit.select(OrderSplit.rep, OrderSplit.amount_cents).where(OrderSplit.sales_order == oid))
    assert {s["rep"]: s["amount_cents"] for s in stored} == {world.rep: 6001, world.other_rep: 4000}
    page = client.get(f"/orders/{oid}").text
    assert "¥60.01" in page and "¥40.00" in page and "¥60.00" not in page
    drill = _csv(client.get(f"/dashboard/explain?kpi=revenue&scope=rep:{world.rep}&period={MAY}&format=csv"))
    assert [r[6] for r in drill[1:]] == ["60.01"]
    other = _csv(client.get(f"/dashboard/explain?kpi=revenue&scope=rep:{world.other_rep}&period={MAY}&format=csv"))
    assert [r[6] for r in other[1:]] == ["40.00"]
    listing = client.get("/orders?month=2026-05").text
    assert "¥100.01" in listing
    client.login("rep_a1")
    assert re.search(r"60\s?% · (CN)?¥60\.01", client.get("/orders").text)


def test_the_drill_down_csv_adds_up_to_the_board_figure_to_the_cent(client, world):
    client.login("mgr_a")
    amounts = ["100.01", "0.05", "10.01", "1.01", "99.99", "0.03", "333.33"]
    for i, amount in enumerate(amounts):
        _create(client, world, amount, {world.rep: "50" if i % 2 else "66.67", world.other_rep: "50" if i % 2 else "33.33"},
                date(2026, 5, 3 + i), cost="0.01")
    total = sum(_cents(a) for a in amounts)
    for kpi, label in (("revenue", "Revenue"), ("gross_margin", "Gross margin")):
        team = _board_actual(client, MAY, "team", "Team A", label)
        drill = _csv(client.get(f"/dashboard/explain?kpi={kpi}&scope=team:{world.team_a}&period={MAY}&format=csv"))
        assert sum(_cents(r[6]) for r in drill[1:]) == team, kpi
        reps = [_board_actual(client, MAY, "rep", n, label) for n in client.run(_names(world.rep, world.other_rep))]
        assert sum(reps) == team, kpi
    assert _board_actual(client, MAY, "team", "Team A") == total


async def _names(*ids):
    from server.accounts.tables import User

    rows = await User.select(User.id, User.display_name).where(User.id.is_in(list(ids)))
    by_id = {r["id"]: r["display_name"] for r in rows}
    return [by_id[i] for i in ids]


def test_the_company_ageing_total_equals_the_money_outstanding(client, world):
    run = client.run
    as_of = date(2026, 6, 30)
    specs = [(100.01, {world.rep: 6000, world.other_rep: 4000}, 33.33), (0.05, {world.rep: 5000, world.rep_b: 5000}, 0),
             (10.01, {world.rep: 3333, world.other_rep: 3333, world.rep_b: 3334}, 5.01),
             (99.99, {world.other_rep: 7000, world.rep_b: 3000}, 0.01), (1.01, {world.rep: 5000, world.other_rep: 5000}, 1.01)]
    outstanding = 0
    for i, (amount, shares, paid) in enumerate(specs):
        oid = run(factories.order(world.customer, shares, amount=amount, cost=0, day=date(2026, 4, 1 + i)))
        if paid:
            run(factories.collection(oid, paid, day=date(2026, 5, 2)))
        outstanding += round(amount * 100) - round(paid * 100)
    ret = run(factories.order(world.customer, {world.rep: 6000, world.rep_b: 4000}, amount=50.05, cost=0,
                              day=date(2026, 4, 20)))
    run(returns.record_return(_actor(client, world.admin), ret, amount_cents=1001, margin_cents=0,
                              return_date=date(2026, 5, 5), reason="Short delivery"))
    outstanding += 5005 - 1001
    rows = run(analytics.ageing(_actor(client, world.admin), as_of))
    totals = analytics.ageing_totals(rows)
    assert totals.total == outstanding
    assert sum(r.total for r in rows) == totals.total
    # The company's ageing CSV: the total row is the sum of the rows and the money outstanding.
    client.login("boss")
    table = _csv(client.get("/dashboard?period=2026-06&format=csv&table=ageing"))
    assert table[-1][0] == "Total"
    assert sum(_cents(r[-1]) for r in table[1:-1]) == _cents(table[-1][-1])


# --- Allocation and the property test (a real database round trip) ------------------------------


def test_allocate_by_largest_remainder():
    assert allocate(10001, [6000, 4000]) == [6001, 4000]
    assert allocate(5, [5000, 5000]) == [3, 2]
    assert allocate(-10001, [6000, 4000]) == [-6001, -4000]
    assert allocate(100, [3333, 3333, 3334]) == [33, 33, 34]
    assert allocate(2, [3333, 3334, 3333]) == [1, 1, 0]


def _shares(weights: list[int]) -> list[int]:
    total = sum(weights)
    bp = [w * 10_000 // total for w in weights]
    bp[0] += 10_000 - sum(bp)
    return bp


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(1, 10**11), cost_part=st.integers(0, 100), weights=st.lists(st.integers(1, 50), min_size=1,
                                                                                       max_size=3),
       returned_part=st.integers(0, 100), paid_part=st.integers(0, 100))
def test_credited_cents_add_up_to_the_order_through_the_database(client, world, amount, cost_part, weights,
                                                                   returned_part, paid_part):
    run = client.run
    admin = _actor(client, world.admin)
    reps = [world.rep, world.other_rep, world.rep_b][:len(weights)]
    bp = _shares(weights)
    cost = amount * cost_part // 100
    form = {"id": str(uuid4()), "customer": str(world.customer), "order_date": date(2026, 3, 2).isoformat(),
            "amount": f"{amount // 100}.{amount % 100:02d}", "cost": f"{cost // 100}.{cost % 100:02d}"}
    for i, (rep, share) in enumerate(zip(reps, bp, strict=True)):
        form[f"split_rep_{i}"], form[f"split_pct_{i}"] = str(rep), f"{share // 100}.{share % 100:02d}"
    oid, created = run(orders.create_order(admin, form))
    assert created
    splits = run(OrderSplit.select(OrderSplit.amount_cents, OrderSplit.margin_cents).where(OrderSplit.sales_order == oid))
    assert sum(s["amount_cents"] for s in splits) == amount
    assert sum(s["margin_cents"] for s in splits) == amount - cost
    back = amount * returned_part // 100
    if back:
        rid, _new = run(returns.record_return(admin, oid, amount_cents=back, margin_cents=None,
                                              return_date=date(2026, 3, 3), reason="Property"))
        parts = run(ReturnSplit.select(ReturnSplit.amount_cents).where(ReturnSplit.order_return == rid))
        assert sum(p["amount_cents"] for p in parts) == -back
    paid = (amount - back) * paid_part // 100
    if paid:
        cid = run(factories.collection(oid, paid / 100, day=date(2026, 3, 4)))
        received = run(CollectionSplit.select(CollectionSplit.amount_cents).where(CollectionSplit.collection == cid))
        assert sum(r["amount_cents"] for r in received) == round(paid / 100 * 100)
    page = run(orders.get_order(admin, oid))
    assert page["outstanding_cents"] == amount - back - round(paid / 100 * 100)


def test_the_migration_fills_the_stored_cents_of_existing_orders(client, world):
    path = ROOT / "migrations" / "fieldpace_2026_12_02t05_00_01_000000.py"
    spec = importlib.util.spec_from_file_location("money_backfill", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    oid = client.run(factories.order(world.customer, {world.rep: 6000, world.other_rep: 4000}, amount=100.01, cost=0.02))
    client.run(factories.collection(oid, 0.05))
    # As an order stored before the columns existed: no cents on its split, no credits of its collection.
    client.run(OrderSplit.update({OrderSplit.amount_cents: 0, OrderSplit.margin_cents: 0}, force=True))
    client.run(CollectionSplit.delete(force=True))
    assert client.run(module.backfill(Order._meta.db)) >= 1
    stored = client.run(OrderSplit.select(OrderSplit.rep, OrderSplit.amount_cents, OrderSplit.margin_cents))
    assert {s["rep"]: (s["amount_cents"], s["margin_cents"]) for s in stored} == {
        world.rep: (6001, 5999), world.other_rep: (4000, 4000)}
    received = client.run(CollectionSplit.select(CollectionSplit.rep, CollectionSplit.amount_cents))
    assert {r["rep"]: r["amount_cents"] for r in received} == {world.rep: 3, world.other_rep: 2}


# --- Returns, voids and collection corrections over HTTP ----------------------------------------


def test_a_return_on_the_form_lands_in_its_own_month_and_the_explain_view_says_so(client, world):
    client.login("mgr_a")
    oid = _create(client, world, "1000.00", {world.rep: "60", world.other_rep: "40"}, date(2026, 5, 12), cost="600")
    form = client.get(f"/orders/{oid}/return")
    assert form.status_code == 200 and "Record a return or credit note" in form.text
    bad = client.post_form(f"/orders/{oid}/returns", {"amount": "1,2,3", "reason": "Broken seals", "kind": "credit_note"})
    assert bad.status_code == 422 and "Broken seals" in bad.text
    ok = client.post_form(f"/orders/{oid}/returns", {"id": str(uuid4()), "amount": "100.01", "reason": "Broken seals",
                                                     "kind": "credit_note", "number": "HZ-77",
                                                     "return_date": "2026-06-03"})
    assert ok.status_code == 303
    assert _board_actual(client, MAY, "team", "Team A") == 100000  # May as it was reported
    assert _board_actual(client, JUNE, "team", "Team A") == -10001
    drill = _csv(client.get(f"/dashboard/explain?kpi=revenue&scope=team:{world.team_a}&period={JUNE}&format=csv"))
    assert sorted(_cents(r[6]) for r in drill[1:]) == [-6001, -4000] and {r[1] for r in drill[1:]} == {"HZ-77"}
    explain = client.get(f"/dashboard/explain?kpi=revenue&scope=team:{world.team_a}&period={JUNE}").text
    assert re.search(r"Includes a credit note of [^<]*100\.01 dated [^<]*HZ-77", explain)
    page = client.get(f"/orders/{oid}").text
    assert "HZ-77" in page and "Broken seals" in page and "Credit note recorded" in page
    # Margin taken back in proportion: 400 x 100.01 / 1000 = 40.00 (cents: 4000).
    assert _board_actual(client, JUNE, "team", "Team A", "Gross margin") == -4000
    client.login("rep_a1")
    assert client.get(f"/orders/{oid}/return").status_code == 403


def test_a_voided_order_is_kept_struck_through_and_counted_nowhere(client, world):
    run = client.run
    client.login("mgr_a")
    oid = _create(client, world, "500.00", {world.rep: "50", world.other_rep: "50"}, date(2026, 5, 6))
    keep = _create(client, world, "200.00", {world.rep: "100"}, date(2026, 5, 7))
    run(factories.collection(oid, 100, day=date(2026, 5, 20)))
    assert _board_actual(client, MAY, "team", "Team A") == 70000
    empty = client.post_form(f"/orders/{oid}/void", {"reason": "  "})
    assert empty.status_code == 422 and "Give a reason." in empty.text
    r = client.post_form(f"/orders/{oid}/void", {"reason": "Entered twice"})
    assert r.status_code == 303
    assert _board_actual(client, MAY, "team", "Team A") == 20000
    assert _board_actual(client, MAY, "team", "Team A", "Collections") == 0
    drill = _csv(client.get(f"/dashboard/explain?kpi=revenue&scope=team:{world.team_a}&period={MAY}&format=csv"))
    assert [_cents(r[6]) for r in drill[1:]] == [20000]
    explain = client.get(f"/dashboard/explain?kpi=revenue&scope=team:{world.team_a}&period={MAY}").text
    assert "it was voided" in explain
    ageing = run(analytics.ageing(_actor(client, world.manager), date(2026, 6, 30)))
    assert analytics.ageing_totals(ageing).total == 20000
    page = client.get(f"/orders/{oid}").text
    assert "<s>" in page and "Entered twice" in page and "Order voided" in page
    assert re.search(r"<s><a href=\"/orders/" + oid, client.get("/orders").text)
    assert keep in client.get("/orders").text
    # Nothing more is recorded against it; the void is audited once.
    again = client.post_form(f"/orders/{oid}/returns", {"amount": "1", "reason": "late"})
    assert again.status_code == 422 and "void" in again.text
    assert client.post_form(f"/orders/{oid}/void", {"reason": "Twice"}).status_code == 303
    events = run(AuditEvent.select(AuditEvent.action, AuditEvent.reason).where(AuditEvent.sales_order == oid))
    assert events == [{"action": "order_voided", "reason": "Entered twice"}]
    kpi = run(actuals.kpi_by_code("revenue"))
    assert run(actuals.actuals(kpi, date(2026, 5, 1), date(2026, 5, 31), [world.other_rep])) == {}


def test_a_collection_corrected_later_leaves_its_month_and_counts_the_difference_on_the_correction_day(client, world):
    run = client.run
    client.login("mgr_a")
    oid = _create(client, world, "2000.00", {world.rep: "60", world.other_rep: "40"}, date(2026, 5, 6))
    cid = run(factories.collection(oid, 1000.01, day=date(2026, 5, 20)))
    form = client.get(f"/collections/{cid}/correct")
    assert form.status_code == 200 and "1000.01" in form.text
    too_much = client.post_form(f"/collections/{cid}/correct", {"amount": "2500", "reason": "Typo",
                                                                "corrected_on": "2026-06-10"})
    assert too_much.status_code == 422 and "outstanding" in too_much.text
    r = client.post_form(f"/collections/{cid}/correct", {"amount": "800", "reason": "Bank said 800",
                                                         "corrected_on": "2026-06-10"})
    assert r.status_code == 303
    assert _board_actual(client, MAY, "team", "Team A", "Collections") == 100001
    assert _board_actual(client, JUNE, "team", "Team A", "Collections") == -20001
    drill = _csv(client.get(f"/dashboard/explain?kpi=collections&scope=team:{world.team_a}&period={JUNE}&format=csv"))
    assert sum(_cents(r[6]) for r in drill[1:]) == -20001
    assert "Includes a collection correction" in client.get(
        f"/dashboard/explain?kpi=collections&scope=team:{world.team_a}&period={JUNE}").text
    assert run(orders.get_order(_actor(client, world.manager), oid))["outstanding_cents"] == 120000
    # Reversed altogether on a later day: the receipt comes to nothing, the order is owed in full.
    r = client.post_form(f"/collections/{cid}/correct", {"reverse": "1", "reason": "Cheque bounced",
                                                         "corrected_on": clock.today().isoformat()})
    assert r.status_code == 303
    assert run(orders.get_order(_actor(client, world.manager), oid))["outstanding_cents"] == 200000
    actions = [e["action"] for e in run(AuditEvent.select(AuditEvent.action).where(AuditEvent.sales_order == oid)
                                        .order_by(AuditEvent.at))]
    assert actions == ["collection_corrected", "collection_reversed"]
    client.login("rep_a1")
    assert client.get(f"/collections/{cid}/correct").status_code == 403


@pytest.mark.parametrize("path", ["return", "void"])
def test_a_manager_cannot_change_an_order_shared_outside_their_teams(client, world, path):
    oid = client.run(factories.order(world.customer, {world.rep: 5000, world.rep_b: 5000}, amount=100,
                                     day=date(2026, 5, 2)))
    client.login("mgr_a")
    body = {"reason": "x", "amount": "1"}
    r = client.post_form(f"/orders/{oid}/{'returns' if path == 'return' else 'void'}", body)
    assert r.status_code == 422 and "an admin can correct it" in r.text
    client.login("boss")
    assert client.post_form(f"/orders/{oid}/{'returns' if path == 'return' else 'void'}", body).status_code == 303
