"""Dashboards, the rep home and explanations over HTTP on SQLite and PostgreSQL: numbers, scope, CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from server import clock
from server.accounts.tables import User
from server.sales.tables import Opportunity
from server.visits.tables import Visit
from tests import factories
from tests.integration.test_pace import MARCH, TODAY, march  # noqa: F401  (the March 2026 fixture)


@pytest.fixture
def on_march_13(monkeypatch):
    """The company's today is Friday 13 March 2026 (9 of 21 working days of March elapsed)."""
    monkeypatch.setattr(clock, "today", lambda: TODAY)


def names(client, *ids):
    rows = client.run(User.select(User.id, User.display_name).where(User.id.is_in(list(ids))))
    by_id = {r["id"]: r["display_name"] for r in rows}
    return [by_id[i] for i in ids]


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and disposition.isascii() and ".csv" in disposition
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_manager_dashboard_shows_their_team_only(client, march, on_march_13):
    w = march
    rep, other, rep_b = names(client, w.rep, w.other_rep, w.rep_b)
    client.login("mgr_a")
    page = client.get(f"/dashboard?period={MARCH}")
    assert page.status_code == 200
    text = page.text
    assert rep in text and other in text and rep_b not in text and "Team B" not in text
    assert "8,100.00" in text and "39%" in text  # the rep's revenue and attainment 8,100 / 21,000
    assert "11,100.00" in text  # team A once per shared order
    assert "At risk" in text and f"scope=rep%3A{w.rep}" in text.replace(":", "%3A")
    # The sections under the board load as htmx fragments; section=all puts them in the page (no JS).
    assert 'hx-get="/dashboard?period=2026-03&amp;kpi=revenue&amp;section=trend"' in text
    full = client.get(f"/dashboard?period={MARCH}&section=all").text
    assert '<svg class="chart"' in full and 'role="img"' in full and "<details>" in full
    assert "Opportunity funnel" in full and "Collections ageing" in full
    fragment = client.get(f"/dashboard?period={MARCH}&section=ageing", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and 'id="sec-ageing"' in fragment.text
    assert rep_b not in fragment.text and "11,100.00" in fragment.text  # outstanding of team A's orders
    assert client.get(f"/dashboard?period={MARCH}&team={w.team_b}").status_code == 404
    assert client.get("/dashboard?team=not-a-uuid").status_code == 404
    bad = client.get("/dashboard?period=2026-13")
    assert bad.status_code == 422 and "Choose a month, quarter or year." in bad.text


def test_admin_sees_the_company_and_opens_any_team(client, march, on_march_13):
    w = march
    client.login("boss")
    text = client.get(f"/dashboard?period={MARCH}").text
    assert "Team A" in text and "Team B" in text and "Company" in text
    assert "11,300.00" in text  # the company: 11,100 + 200
    team_b = client.get(f"/dashboard?period={MARCH}&team={w.team_b}")
    assert team_b.status_code == 200 and names(client, w.rep_b)[0] in team_b.text
    assert names(client, w.rep)[0] not in team_b.text
    for period in ("2026-Q1", "2026"):
        assert client.get(f"/dashboard?period={period}").status_code == 200


def test_reps_get_their_home_not_the_dashboard(client, march, on_march_13):
    w = march
    run = client.run
    # A follow-up due two days ago from the rep's latest visit to Acme; a deal closing this week.
    visit = run(factories.visit(w.rep, w.customer))
    run(Visit.update({Visit.next_step_date: TODAY - timedelta(days=2), Visit.next_step: "Send the quote"})
        .where(Visit.id == visit))
    deal = run(factories.opportunity(w.rep, w.customer, stage="proposal", name="Acme line 2"))
    run(Opportunity.update({Opportunity.expected_close: TODAY}).where(Opportunity.id == deal))
    client.login("rep_a1")
    assert client.get("/dashboard").status_code == 403
    home = client.get("/home")
    assert home.status_code == 200
    text = home.text
    assert "My pace this month" in text and "8,100.00" in text and "21,000.00" in text and "At risk" in text
    assert 'class="progress' in text and 'class="marker"' in text
    assert "Send the quote" in text and "Overdue since" in text and "Acme line 2" in text
    other_name, rep_b = names(client, w.other_rep, w.rep_b)
    assert other_name not in text and "3,000.00" not in text  # the other rep's share of the shared order
    rows = read_csv(client.get("/home?format=csv"))
    assert rows[0][0] == "Scope" and any(r[3] == "Revenue" and r[4] == "8100.00" for r in rows[1:])
    # Another rep's home shows none of it.
    client.login("rep_a2")
    text = client.get("/home").text
    assert "Send the quote" not in text and "Acme Shanghai" not in text and "3,000.00" in text


def test_explain_fills_in_the_formula_and_lists_the_records(client, march, on_march_13):
    w = march
    client.login("mgr_a")
    url = f"/dashboard/explain?kpi=revenue&scope=rep:{w.rep}&period={MARCH}"
    page = client.get(url)
    assert page.status_code == 200
    text = page.text
    assert "8,100.00 / " in text and "21,000.00" in text and "39%" in text
    assert "9 / 21" in text and "9,000.00" in text and "0.90" in text  # elapsed, expected, pace index
    assert "18,900.00" in text  # projection 8,100 / (9 / 21)
    assert "Acme Shanghai" in text and "60%" in text  # the shared order, with the rep's share
    assert "2 records in all" in text
    rows = read_csv(client.get(url + "&format=csv"))
    assert rows[0] == ["Date", "Reference", "Customer", "Rep", "Amount", "Share %", "Credited"]
    assert sorted(r[5] for r in rows[1:]) == ["100.00", "60.00"]
    assert sorted(r[4] for r in rows[1:]) == ["3600.00", "7500.00"]
    assert sorted(r[6] for r in rows[1:]) == ["3600.00", "4500.00"]  # 60 % of 7,500 + 3,600 = 8,100
    team = client.get(f"/dashboard/explain?kpi=conversion_rate&scope=team:{w.team_a}&period={MARCH}")
    assert team.status_code == 200 and "200.00 / 5.00" in team.text  # 2 won x 100 over 5 closed


def test_explain_ownership(client, march, on_march_13):
    w = march
    cases = {
        "rep_a1": {f"rep:{w.rep}": 200, f"rep:{w.other_rep}": 404, f"team:{w.team_a}": 404, "company": 404},
        "rep_a2": {f"rep:{w.rep}": 404, f"rep:{w.other_rep}": 200},
        "mgr_a": {f"rep:{w.rep}": 200, f"rep:{w.rep_b}": 404, f"team:{w.team_a}": 200, f"team:{w.team_b}": 404,
                  "company": 404, "teams": 200},
        "mgr_b": {f"rep:{w.rep}": 404, f"team:{w.team_a}": 404, f"team:{w.team_b}": 200},
        "boss": {f"rep:{w.rep}": 200, f"team:{w.team_b}": 200, "company": 200, "rep:garbage": 404, "": 404},
    }
    for user, scopes in cases.items():
        client.login(user)
        for scope, status in scopes.items():
            response = client.get(f"/dashboard/explain?kpi=revenue&scope={scope}&period={MARCH}")
            assert response.status_code == status, (user, scope, response.status_code)
            if status == 404:
                assert "Acme Shanghai" not in response.text and "8,100" not in response.text
    client.login("boss")
    assert client.get(f"/dashboard/explain?kpi=nope&scope=company&period={MARCH}").status_code == 404
    assert client.get("/dashboard/explain?kpi=revenue&scope=company&period=99").status_code == 422
    company = client.get(f"/dashboard/explain?kpi=revenue&scope=company&period={MARCH}&page=abc")
    assert company.status_code == 200 and "11,300.00" in company.text


def test_dashboard_csv_downloads(client, march, on_march_13):
    w = march
    rep = names(client, w.rep)[0]
    client.login("mgr_a")
    base = f"/dashboard?period={MARCH}&format=csv"
    rows = read_csv(client.get(base + "&table=board"))
    assert rows[0][:5] == ["Scope", "Name", "Team", "KPI", "Actual"]
    revenue = {(r[0], r[1]): r for r in rows[1:] if r[3] == "Revenue"}
    assert revenue[("rep", rep)][4:7] == ["8100.00", "21000.00", "38.6"]
    assert revenue[("rep", rep)][8] == "0.900" and revenue[("rep", rep)][10] == "At risk"
    assert revenue[("team", "Team A")][4] == "11100.00"
    assert not any(r[1] == names(client, w.rep_b)[0] for r in rows)
    trend = read_csv(client.get(base + "&table=trend&kpi=revenue"))
    assert trend[0] == ["Period", "Revenue", "Target"] and len(trend) == 13
    assert trend[-1] == ["2026-03", "11100.00", "40000.00"] and trend[1][0] == "2025-04"
    funnel = read_csv(client.get(base + "&table=funnel"))
    assert funnel[0][0] == "Stage" and [r[0] for r in funnel[1:]] == ["Lead", "Qualified", "Proposal", "Negotiation",
                                                                       "Won", "Lost"]
    ageing = read_csv(client.get(base + "&table=ageing"))
    assert ageing[-1][0] == "Total" and float(ageing[-1][-1]) == pytest.approx(7500 + 3600)


def test_explain_credits_shared_orders_by_share_and_adds_up(client, march, on_march_13):
    w = march
    client.login("mgr_a")
    rows = read_csv(client.get(f"/dashboard/explain?kpi=revenue&scope=team:{w.team_a}&period={MARCH}&format=csv"))
    assert rows[0] == ["Date", "Reference", "Customer", "Rep", "Amount", "Share %", "Credited"]
    # Every record behind the team's 11,100.00, a shared order once per rep at their share: the credited
    # column adds up to the number on the board, the amounts do not.
    assert sum(float(r[6]) for r in rows[1:]) == pytest.approx(11100.0)
    assert any(float(r[5]) < 100 for r in rows[1:])
    page = client.get(f"/dashboard/explain?kpi=gross_margin&scope=rep:{w.rep}&period={MARCH}")
    assert page.status_code == 200 and "Credited" in page.text


def test_bad_periods_are_refused_not_crashed(client, march, on_march_13):
    client.login("boss")
    assert client.get("/dashboard?period=2026-11%20%20%20zz").status_code == 422
    assert client.get("/dashboard/explain?kpi=revenue&scope=company&period=2026%20%20x").status_code == 422
    # A trend that would reach back before 2000 shows what there is.
    assert client.get("/dashboard?period=2000-01&section=all").status_code == 200
    assert client.get("/dashboard?period=2001-Q1&format=csv&table=trend").status_code == 200
