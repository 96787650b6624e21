"""Drill-downs that answer the question, over HTTP on SQLite and PostgreSQL: a rate's records marked as the
numerator's or the denominator's, and a zero target shown as "target 0" with its rule."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from server import clock
from server.targets.tables import COMPANY_SCOPE_ID
from tests import factories
from tests.integration.test_pace import approved_plan

TODAY = date(2026, 3, 13)


@pytest.fixture
def deals(client, world, monkeypatch):
    """The rep won 2 and lost 3 deals in March; one open deal (in neither); a lost deal in February."""
    monkeypatch.setattr(clock, "today", lambda: TODAY)
    run = client.run
    w = world
    for n in range(2):
        run(factories.opportunity(w.rep, w.customer, stage="won", closed_on=date(2026, 3, 2 + n), name=f"Won {n}"))
    for n in range(3):
        run(factories.opportunity(w.rep, w.customer, stage="lost", closed_on=date(2026, 3, 5 + n), name=f"Lost {n}"))
    run(factories.opportunity(w.rep, w.customer, stage="proposal", name="Still open"))
    run(factories.opportunity(w.rep, w.customer, stage="lost", closed_on=date(2026, 2, 20), name="Lost in February"))
    return w


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200, response.text[:300]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_conversion_drilldown_marks_won_as_numerator_and_lost_as_denominator(client, deals):
    w = deals
    client.login("mgr_a")
    for scope in (f"rep:{w.rep}", f"team:{w.team_a}"):
        rows = rows_of(client.get(f"/dashboard/explain?kpi=conversion_rate&period=2026-03&scope={scope}&format=csv"))
        assert rows[0][-1] == "Counts in"
        parts = sorted((r[1], r[-1]) for r in rows[1:])
        assert parts == [("Lost 0", "Lost: denominator only"), ("Lost 1", "Lost: denominator only"),
                         ("Lost 2", "Lost: denominator only"), ("Won 0", "Won: numerator and denominator"),
                         ("Won 1", "Won: numerator and denominator")]
        # The marks add up to the rate shown: 2 numerators of 5 denominators = 40 %.
        numerators = sum(1 for r in rows[1:] if r[-1].startswith("Won"))
        assert numerators / (len(rows) - 1) == pytest.approx(0.4)
    page = client.get(f"/dashboard/explain?kpi=conversion_rate&period=2026-03&scope=rep:{w.rep}")
    assert page.status_code == 200
    assert page.text.count("Won: numerator and denominator") == 2 and page.text.count("Lost: denominator only") == 3
    assert "Still open" not in page.text and "Lost in February" not in page.text
    assert "200.00 / 5.00" in page.text  # the sums the rate divides (a won deal counts 100 in the numerator)
    # A sum KPI has no parts: no column.
    revenue = rows_of(client.get(f"/dashboard/explain?kpi=revenue&period=2026-03&scope=rep:{w.rep}&format=csv"))
    assert "Counts in" not in revenue[0]


def test_the_drilldown_speaks_chinese(client, deals):
    w = deals
    client.login("mgr_a")
    client.post_form("/settings/language", {"locale": "zh_CN"})
    page = client.get(f"/dashboard/explain?kpi=conversion_rate&period=2026-03&scope=rep:{w.rep}")
    assert "赢单：计入分子和分母" in page.text and "输单：仅计入分母" in page.text


def test_a_zero_target_shows_target_0_and_its_rule(client, deals):
    w = deals
    client.run(factories.order(w.customer, {w.rep: 10000}, amount=123.45, day=date(2026, 3, 3)))
    client.run(approved_plan(2026, [
        ("revenue", "2026-03", "rep", w.rep, 0), ("revenue", "2026-03", "team", w.team_a, 0),
        ("revenue", "2026-03", "company", COMPANY_SCOPE_ID, 0),
        ("visits", "2026-03", "rep", w.other_rep, 10),
    ]))
    client.login("mgr_a")
    board = client.get("/dashboard?period=2026-03")
    assert board.status_code == 200
    assert "target 0" in board.text and "Target 0" in board.text
    # Visits of the rep have no target at all: still "no target".
    assert "no target" in board.text
    explain = client.get(f"/dashboard/explain?kpi=revenue&period=2026-03&scope=rep:{w.rep}")
    assert "The target is 0: any result meets it." in explain.text
    assert "No target in an approved plan" not in explain.text
    rows = rows_of(client.get("/dashboard?period=2026-03&format=csv"))
    mine = [r for r in rows[1:] if r[3] == "Revenue" and r[0] == "team"]
    assert mine and mine[0][4] == "123.45" and mine[0][5] == "0.00" and mine[0][6] == "" and mine[0][-1] == "Target 0"
