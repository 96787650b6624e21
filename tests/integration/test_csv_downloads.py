"""Every CSV download neutralises spreadsheet formulas (OWASP CSV injection) and keeps numbers numbers."""

from __future__ import annotations

import csv
import inspect
import io
from datetime import timedelta

import pytest

from server import clock
from server.accounts.tables import Team, User
from server.customers.tables import Customer
from server.web import FORMULA_START, PLAIN_NUMBER, csv_cell
from tests import factories
from tests.integration.test_authorization import app_routes

HOSTILE = {
    "rep": "@SUM(1+1)*cmd|' /C calc'!A0",
    "customer": '=HYPERLINK("http://evil.example","open")',
    "order": "+1+cmd|' /C calc'!A0",
    "collection": "-2+3+cmd|' /C calc'!A0",
    "team": "\t=1+2 team",
    "kpi": "=1+1 visits",
    "opportunity": "\r=2*3",
}


def test_csv_cell_neutralises_text_and_keeps_numbers():
    assert csv_cell("=1+1") == "'=1+1"
    assert csv_cell("+86 138") == "'+86 138"
    assert csv_cell("-cmd") == "'-cmd"
    assert csv_cell("@x") == "'@x"
    assert csv_cell("\tx") == "'\tx" and csv_cell("\rx") == "'\rx"
    assert csv_cell("-12.50") == "-12.50" and csv_cell("-3") == "-3"  # negative amounts stay numbers
    assert csv_cell(-12.5) == -12.5 and csv_cell(-3) == -3
    assert csv_cell("Acme = Co") == "Acme = Co" and csv_cell(None) == ""


# (method, path) of every route that can answer CSV -> the URLs to fetch and as whom.
def csv_urls(w, kpi_code: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    month = clock.today().strftime("%Y-%m")
    rep = f"rep:{w.rep}"
    return {
        ("GET", "/dashboard"): [
            (who, f"/dashboard?format=csv&table={t}&period={month}&kpi={kpi_code}")
            for who in ("boss", "mgr_a") for t in ("board", "trend", "funnel", "ageing")
        ] + [("boss", f"/dashboard?format=csv&table=board&period={month}&team={w.team_a}")],
        ("GET", "/dashboard/explain"): [
            ("boss", f"/dashboard/explain?format=csv&kpi={k}&scope={rep}&period={month}")
            for k in ("revenue", "collections", "visits", "new_customers", "gross_margin", kpi_code)
        ],
        ("GET", "/home"): [("rep_a1", "/home?format=csv")],
        ("GET", "/imports/template/{filename:str}"): [
            ("boss", f"/imports/template/{k}.csv") for k in ("customers", "orders", "collections")
        ],
    }


def _answers_csv(handler) -> bool:
    try:
        source = inspect.getsource(handler.fn)
    except (OSError, TypeError):
        return False
    return "csv_response" in source or "text/csv" in source or "_csv(" in source


def test_every_csv_route_is_covered(client):
    """A new CSV route must be added to `csv_urls` (found by its handler mentioning CSV)."""
    found = set()
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", ()):  # the static files' ASGI route has none
            for method in getattr(handler, "http_methods", None) or ():
                if (method, route.path) in app_routes(client.app) and _answers_csv(handler):
                    found.add((method, route.path))
    assert found == set(csv_urls(_FakeWorld(), "x")), found


class _FakeWorld:
    rep = team_a = "00000000-0000-0000-0000-000000000000"


def _cells(text: str) -> list[str]:
    assert text.startswith("\ufeff")
    return [cell for row in csv.reader(io.StringIO(text[1:], newline="")) for cell in row]


def test_csv_downloads_neutralise_formulas_in_every_route(client, world):
    w = world
    run = client.run
    run(User.update({User.display_name: HOSTILE["rep"]}).where(User.id == w.rep))
    run(Customer.update({Customer.name: HOSTILE["customer"]}).where(Customer.id == w.customer))
    run(Team.update({Team.name: HOSTILE["team"]}).where(Team.id == w.team_a))
    today = clock.today()
    order = run(factories.order(w.customer, {w.rep: 10_000}, amount=1200, day=today, number=HOSTILE["order"]))
    run(factories.order(w.customer, {w.rep: 10_000}, amount=-50, cost=-30, day=today, number="CN-1"))  # a credit note
    run(factories.collection(order, 300, day=today, number=HOSTILE["collection"]))
    run(factories.opportunity(w.rep, w.customer, stage="proposal", name=HOSTILE["opportunity"]))
    run(factories.visit(w.rep, w.customer))
    kpi_id = run(factories.custom_kpi(HOSTILE["kpi"]))
    from server.targets.tables import Kpi

    kpi_code = run(Kpi.select(Kpi.code).where(Kpi.id == kpi_id).first())["code"]
    run(factories.plan(today.year, targets={"revenue": 120000.0, kpi_code: 10.0}, status="approved"))
    # Some history for the ageing table: an unpaid order with a due date in the past.
    run(factories.order(w.customer, {w.rep: 10_000}, amount=500, day=today - timedelta(days=70),
                        due=today - timedelta(days=40), number="=OLD()"))

    seen: set[str] = set()
    failures = []
    for route, requests in csv_urls(w, kpi_code).items():
        for who, url in requests:
            client.login(who)
            r = client.get(url)
            if r.status_code != 200 or not r.headers["content-type"].startswith("text/csv"):
                failures.append(f"{route} {url} as {who}: {r.status_code} {r.headers.get('content-type')}")
                continue
            for cell in _cells(r.text):
                if cell.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(cell):
                    failures.append(f"{route} {url} as {who}: formula cell {cell!r}")
                for name, value in HOSTILE.items():
                    if cell == "'" + value:
                        seen.add(name)
                if cell == "-50.00":
                    seen.add("negative amount")
    assert not failures, "\n" + "\n".join(failures)
    # Each hostile value reached a download (neutralised), and the credit note's amount stayed a number.
    assert seen >= {"rep", "customer", "order", "collection", "team", "kpi", "negative amount"}, seen


@pytest.mark.parametrize("text", list(HOSTILE.values()))
def test_every_hostile_value_is_neutralised(text):
    assert str(csv_cell(text)).startswith("'")
