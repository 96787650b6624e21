"""Returns and credit notes (红字) through the service the form and the ERP import share, on SQLite and
PostgreSQL: each lands in its own period, for the reps of the order's split, in stored cents."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from litestar.exceptions import PermissionDeniedException

from server import clock
from server.accounts.permissions import load_actor
from server.sales import returns
from server.sales.tables import AuditEvent, OrderReturn, ReturnSplit
from server.targets import actuals
from server.web import FieldErrors
from tests import factories


def _actor(client, user_id):
    return client.run(load_actor(str(user_id)))


def _revenue(client, start, end, reps):
    kpi = client.run(actuals.kpi_by_code("revenue"))
    return client.run(actuals.actuals(kpi, start, end, reps))


def test_a_return_reduces_revenue_in_its_own_month_by_the_original_split(client, world):
    run = client.run
    may = date(2026, 5, 12)
    oid = run(factories.order(world.customer, {world.rep: 6000, world.other_rep: 4000}, amount=100.01, cost=40,
                              day=may))
    admin = _actor(client, world.admin)
    rid, created = run(returns.record_return(admin, oid, amount_cents=3333, margin_cents=None,
                                             return_date=date(2026, 6, 3), reason="Damaged in transit",
                                             kind="credit_note", external_ref="HZ-0001"))
    assert created
    # Re-importing the same credit note changes nothing.
    assert run(returns.record_return(admin, oid, amount_cents=3333, margin_cents=None, return_date=date(2026, 6, 3),
                                     reason="Damaged in transit", external_ref="HZ-0001")) == (rid, False)
    parts = run(ReturnSplit.select(ReturnSplit.rep, ReturnSplit.amount_cents, ReturnSplit.margin_cents)
                .where(ReturnSplit.order_return == rid))
    by_rep = {p["rep"]: (p["amount_cents"], p["margin_cents"]) for p in parts}
    [ret] = run(OrderReturn.select(OrderReturn.margin_cents).where(OrderReturn.id == rid))
    # Margin taken back in proportion: 6001 x 3333 / 10001 = 2000.0 -> 2000 cents.
    assert ret["margin_cents"] == 2000
    assert by_rep == {world.rep: (-2000, -1200), world.other_rep: (-1333, -800)}
    # May keeps the order as it was earned; June carries the return.
    may_rev = _revenue(client, date(2026, 5, 1), date(2026, 5, 31), [world.rep, world.other_rep])
    june_rev = _revenue(client, date(2026, 6, 1), date(2026, 6, 30), [world.rep, world.other_rep])
    assert {r: round(v[0], 2) for r, v in may_rev.items()} == {world.rep: 60.01, world.other_rep: 40.0}
    assert {r: round(v[0], 2) for r, v in june_rev.items()} == {world.rep: -20.0, world.other_rep: -13.33}
    [event] = run(AuditEvent.select(AuditEvent.action, AuditEvent.reason, AuditEvent.effective_on))
    assert event == {"action": "credit_note_recorded", "reason": "Damaged in transit", "effective_on": date(2026, 6, 3)}


def test_returns_are_refused_beyond_the_order_in_the_future_without_a_reason(client, world):
    run = client.run
    oid = run(factories.order(world.customer, {world.rep: 10000}, amount=500, day=date(2026, 3, 1)))
    admin = _actor(client, world.admin)

    def attempt(**kw):
        args = {"amount_cents": 10000, "margin_cents": None, "return_date": date(2026, 3, 5), "reason": "x", **kw}
        with pytest.raises(FieldErrors) as e:
            run(returns.record_return(admin, oid, **args))
        return e.value.errors

    assert "amount" in attempt(amount_cents=50001)
    assert "amount" in attempt(amount_cents=0)
    assert "return_date" in attempt(return_date=clock.today() + timedelta(days=1))
    assert "return_date" in attempt(return_date=date(2026, 2, 28))
    assert "reason" in attempt(reason="  ")
    run(returns.record_return(admin, oid, amount_cents=40000, margin_cents=0, return_date=date(2026, 3, 5), reason="x"))
    assert "100.00" in attempt(amount_cents=10001)["amount"]


def test_who_may_record_a_return(client, world):
    run = client.run
    oid = run(factories.order(world.customer, {world.rep: 10000}, amount=500, day=date(2026, 3, 1)))
    shared = run(factories.order(world.customer, {world.rep: 5000, world.rep_b: 5000}, amount=500, day=date(2026, 3, 1)))
    args = {"amount_cents": 100, "margin_cents": None, "return_date": date(2026, 3, 2), "reason": "r"}
    with pytest.raises(PermissionDeniedException):
        run(returns.record_return(_actor(client, world.rep), oid, **args))
    with pytest.raises(LookupError):
        run(returns.record_return(_actor(client, world.other_manager), oid, **args))
    with pytest.raises(FieldErrors):  # shared with a rep of team B: an admin records it
        run(returns.record_return(_actor(client, world.manager), shared, **args))
    assert run(returns.record_return(_actor(client, world.manager), oid, **args))[1]
    assert run(returns.record_return(_actor(client, world.admin), shared, **args))[1]
