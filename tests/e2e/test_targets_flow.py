"""Targets end to end in real Chromium: the admin builds and approves a plan, a rep logs an order, and the
rep's home and the manager's dashboard show the new attainment and pace."""

from __future__ import annotations

import re

from server import clock
from server.targets import formulas
from tests.e2e.conftest import CUSTOMER, MANAGER, PASSWORD, PHONE, REP, TABLET, TEAM, _run, sign_in

ADMIN = {"username": "chenadmin", "name": "Chen Admin"}
YEAR_TARGET = 120_000  # split equally: 10,000 a month for the team and for its one rep
ORDER_AMOUNT = 2_500
STATUS_TEXT = {"on_track": "On track", "at_risk": "At risk", "behind": "Behind"}


def _expected_status() -> str:
    today = clock.today()
    _kind, start, end = formulas.parse_period(formulas.period_of(today, "month"))
    elapsed = formulas.elapsed_share(start, end, today)
    return formulas.pace(ORDER_AMOUNT, YEAR_TARGET / 12, kind="sum", direction="higher", elapsed=elapsed).status


def _weights_for(page, name: str) -> None:
    """On a split page: weight 1 for `name`, 0 for every other team or rep."""
    page.locator("#om-weights").check()
    weights = page.locator("input[name^='w_']")
    for index in range(weights.count()):
        field = weights.nth(index)
        field.fill("1" if field.get_attribute("aria-label").endswith(name) else "0")


def test_plan_approved_order_logged_pace_shown(new_context, live_env):
    from playwright.sync_api import expect

    _run(["-m", "server.cli", "create-user", ADMIN["username"], "--name", ADMIN["name"], "--role", "admin",
          "--password", PASSWORD], live_env)
    year = clock.today().year

    # The admin builds the plan on a tablet: the company's revenue for the year, split by month, then down
    # to the team and its rep, and approves it.
    admin = new_context(**TABLET).new_page()
    sign_in(admin, ADMIN["username"])
    admin.goto("/targets")
    admin.get_by_label("Plan name").fill(f"Plan {year}")
    admin.locator("#f-year").fill(str(year))
    admin.locator("#use-revenue").check()
    admin.locator("#f-year_revenue").fill(str(YEAR_TARGET))
    admin.get_by_role("button", name="Create plan").click()
    expect(admin).to_have_url(re.compile(r"/targets/[0-9a-f-]{36}"))
    admin.locator("a.tg-split").first.click()  # the company row
    admin.get_by_role("button", name="Split by period").click()
    # Other browser tests add teams and reps to this database: weights put the whole target on the
    # rep's team, then on the rep.
    admin.locator("a.tg-split").first.click()
    _weights_for(admin, TEAM)
    admin.get_by_role("button", name="Split among them").click()
    admin.locator("tr", has_text=TEAM).locator("a.tg-split").first.click()
    _weights_for(admin, REP["name"])
    admin.get_by_role("button", name="Split among them").click()
    admin.get_by_role("button", name="Approve and lock").click()
    expect(admin.get_by_text("Approved", exact=False).first).to_be_visible()
    expect(admin.get_by_role("button", name="Approve and lock")).to_have_count(0)

    # The rep logs an order on their phone.
    rep = new_context(**PHONE).new_page()
    sign_in(rep, REP["username"])
    rep.goto("/orders/new")
    rep.get_by_label("Customer").select_option(label=CUSTOMER)
    rep.locator("#f-amount").fill(str(ORDER_AMOUNT))
    rep.locator("#f-split_pct_0").fill("100")
    rep.get_by_role("button", name="Save order").click()
    expect(rep.locator("body")).to_contain_text("2,500")

    # Their home: revenue against this month's target, attainment 25 %, and the pace status.
    status = STATUS_TEXT[_expected_status()]
    rep.goto("/home")
    revenue = rep.locator(".kpi-item", has_text="Revenue")
    expect(revenue).to_contain_text("2,500")
    expect(revenue).to_contain_text("10,000")
    expect(revenue).to_contain_text(re.compile(r"25\s?%"))
    expect(revenue).to_contain_text(status)

    # The manager's dashboard shows the same numbers in the rep's row.
    manager = new_context(**TABLET).new_page()
    sign_in(manager, MANAGER["username"])
    manager.goto("/dashboard")
    row = manager.locator("table.board tbody tr", has_text=REP["name"])
    expect(row).to_contain_text("2,500")
    expect(row).to_contain_text(re.compile(r"25\s?%"))
    expect(row).to_contain_text(status)
    # And the number opens to its formula and the order behind it.
    row.get_by_role("link").filter(has_text="2,500").first.click()
    expect(manager.locator("body")).to_contain_text(CUSTOMER)
    expect(manager.locator("body")).to_contain_text("10,000")
