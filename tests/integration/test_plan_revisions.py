"""Plans in and out, over HTTP on SQLite and PostgreSQL: a plan as CSV, last year's plan copied as the start
of a new one, and a revision approved mid-year that takes over from its date while the old plan stays for
the months before it."""

from __future__ import annotations

import csv
import io
from datetime import date
from uuid import UUID

import pytest

from server import clock
from server.accounts.permissions import load_actor
from server.targets import actuals, pace
from server.targets.tables import Target, TargetPlan
from tests.integration.test_targets import _create_plan, _split_org, _split_period

TODAY = date(2026, 9, 15)


@pytest.fixture
def approved(client, world, monkeypatch):
    """The admin's approved 2026 plan: 12,000.00 for the year, split equally: 1,000 a month for the
    company, half of it for each team."""
    monkeypatch.setattr(clock, "today", lambda: TODAY)
    client.login("boss")
    plan_id = _create_plan(client, value="12,000.00")
    split(client, plan_id)
    assert client.post_form(f"/targets/{plan_id}/approve", {}).status_code == 303
    return plan_id


def split(client, plan_id) -> None:
    assert _split_period(client, plan_id, method="equal").status_code in (200, 303)
    assert _split_org(client, plan_id, method="equal", period="all").status_code in (200, 303)


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200, response.text[:300]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def company_target(client, admin_id, period):
    admin = client.run(load_actor(str(admin_id)))
    board = client.run(pace.compute(admin, period, kpi_codes=["revenue"], today=TODAY))
    assert board.total is not None
    return board.total.cells["revenue"].target


def set_cell(client, plan_id, period, value):
    client.run(Target.update({Target.value: value}).where(
        (Target.plan == plan_id) & (Target.period == period) & (Target.scope_kind == "company")))


def test_a_plan_exports_to_csv(client, world, approved):
    rows = rows_of(client.get(f"/targets/{approved}/export"))
    assert rows[0] == ["KPI code", "KPI", "Period", "Scope", "Name", "Id", "Target"]
    body = [r for r in rows[1:]]
    assert ["revenue", "Revenue", "2026", "company", "Company", "", "12000.00"] in body
    assert ["revenue", "Revenue", "2026", "team", "Team A", str(world.team_a), "6000.00"] in body
    assert ["revenue", "Revenue", "2026-08", "company", "Company", "", "1000.00"] in body
    # Parents before children, the year first, then quarters and months; the months add up to the year.
    company = [r for r in body if r[3] == "company"]
    assert [r[2] for r in company][:3] == ["2026", "2026-Q1", "2026-Q2"] and len(company) == 17
    assert sum(float(r[6]) for r in company if len(r[2]) == 7 and "Q" not in r[2]) == 12000
    client.login("mgr_b")  # reads the company row and team B's, not team A's
    rows = rows_of(client.get(f"/targets/{approved}/export"))
    assert {r[4] for r in rows[1:]} == {"Company", "Team B"}
    client.login("rep_a1")
    assert client.get(f"/targets/{approved}/export").status_code == 403


def _xlsx_rows(response) -> list[list]:
    from openpyxl import load_workbook

    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    sheet = load_workbook(io.BytesIO(response.content)).active
    return [[cell for cell in row] for row in sheet.iter_rows()]


def test_a_plan_exports_to_xlsx_cell_for_cell_as_the_csv(client, world, approved):
    for language in ("en", "zh-CN"):
        headers = {"Accept-Language": language}
        csv_rows = rows_of(client.get(f"/targets/{approved}/export", headers=headers))
        xlsx = _xlsx_rows(client.get(f"/targets/{approved}/export.xlsx", headers=headers))
        assert len(xlsx) == len(csv_rows) > 20
        # The header in the user's language, as the CSV's.
        assert [c.value for c in xlsx[0]] == csv_rows[0]
        if language == "zh-CN":
            assert csv_rows[0][-1] != "Target" and csv_rows[0][0] != "KPI code"
        for got, want in zip(xlsx[1:], csv_rows[1:], strict=True):
            assert [c.value or "" for c in got[:-1]] == want[:-1]
            target = got[-1]
            # The target a number, the CSV's value to the cent, money formatted as money.
            assert isinstance(target.value, int | float) and f"{target.value:.2f}" == want[-1]
            assert target.number_format == "#,##0.00"
    client.login("mgr_b")  # the rows the manager may read, as in the CSV
    assert {r[4].value for r in _xlsx_rows(client.get(f"/targets/{approved}/export.xlsx"))[1:]} == {"Company", "Team B"}
    client.login("rep_a1")
    assert client.get(f"/targets/{approved}/export.xlsx").status_code == 403


def test_last_years_plan_copied_as_the_start_of_a_new_one(client, world, approved):
    copied = client.post_form(f"/targets/{approved}/copy", {"year": "2027"})
    assert copied.status_code == 303
    new_id = UUID(copied.headers["location"].rsplit("/", 1)[1])
    plan = client.run(TargetPlan.select(TargetPlan.year, TargetPlan.status).where(TargetPlan.id == new_id).first())
    assert plan == {"year": 2027, "status": "draft"}
    old = rows_of(client.get(f"/targets/{approved}/export"))
    new = rows_of(client.get(f"/targets/{new_id}/export"))
    assert [[c.replace("2026", "2027") if i == 2 else c for i, c in enumerate(r)] for r in old] == new
    cell = client.run(Target.select(Target.period_start, Target.period_end).where(
        (Target.plan == new_id) & (Target.period == "2027-08")).first())
    assert (str(cell["period_start"]), str(cell["period_end"])) == ("2027-08-01", "2027-08-31")
    same = client.post_form(f"/targets/{approved}/copy", {"year": "2026"})
    assert same.status_code == 422 and "revise it" in same.text
    bad = client.post_form(f"/targets/{approved}/copy", {"year": "20x7"})
    assert bad.status_code == 422
    assert client.post_form(f"/targets/{world.rep}/copy", {"year": "2027"}).status_code == 404


def test_a_revision_takes_over_from_its_date_and_the_old_plan_stays_before(client, world, approved):
    w = world
    revised = client.post_form(f"/targets/{approved}/revise", {"effective": "2026-07-01"})
    assert revised.status_code == 303
    rev = UUID(revised.headers["location"].rsplit("/", 1)[1])
    assert "takes over from" in client.get(f"/targets/{rev}").text
    set_cell(client, rev, "2026", 15000)
    split(client, rev)  # 1,250 a month in the revision, March's included (never in force: before its date)
    # A draft revision changes nothing.
    assert company_target(client, w.admin, "2026-08") == 1000
    assert client.post_form(f"/targets/{rev}/approve", {}).status_code == 303
    assert company_target(client, w.admin, "2026-03") == 1000  # the old plan, before July
    assert company_target(client, w.admin, "2026-Q2") == 3000  # Q2 ends before July: the old plan
    assert company_target(client, w.admin, "2026-08") == 1250  # the revision, from July
    assert company_target(client, w.admin, "2026") == 15000  # the year ends after July: the revision's
    # The trend's target line follows the same rule.
    rows = rows_of(client.get("/dashboard?period=2026-08&table=trend&kpi=revenue&format=csv"))
    targets = {r[0]: r[2] for r in rows[1:]}
    assert targets["2026-03"] == "1000.00" and targets["2026-08"] == "1250.00"
    # A plan for the whole year cannot join them; a revision cannot start before the approved one's.
    other = _create_plan(client, name="Another 2026")
    conflict = client.post_form(f"/targets/{other}/approve", {})
    assert conflict.status_code == 409 and "only one plan per year" in conflict.text
    earlier = client.post_form(f"/targets/{approved}/revise", {"effective": "2026-05-01"})
    assert earlier.status_code == 303
    earlier_id = UUID(earlier.headers["location"].rsplit("/", 1)[1])
    assert client.post_form(f"/targets/{earlier_id}/approve", {}).status_code == 409


def test_revisions_are_checked(client, world, approved):
    draft = _create_plan(client, name="Draft 2026")
    r = client.post_form(f"/targets/{draft}/revise", {"effective": "2026-07-01"})
    assert r.status_code == 422 and "Only an approved plan is revised" in r.text
    r = client.post_form(f"/targets/{approved}/revise", {"effective": "2027-02-01"})
    assert r.status_code == 422 and 'value="2027-02-01"' in r.text
    r = client.post_form(f"/targets/{approved}/revise", {"effective": ""})
    assert r.status_code == 422
    client.login("mgr_a")
    assert client.post_form(f"/targets/{approved}/revise", {"effective": "2026-07-01"}).status_code == 403
    kpi = client.run(actuals.kpi_by_code("revenue"))
    assert kpi is not None
