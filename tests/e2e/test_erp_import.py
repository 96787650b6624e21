"""An ERP export end to end in real Chromium: the admin uploads a K/3-style GBK file unedited, maps the
columns the guess could not place, marks it line-level, previews and imports; the team board's month
figure equals the file's sales less its 红字 returns, computed here from the file; the same file again
changes nothing."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from server import clock
from server.targets import formulas
from tests.e2e.conftest import PASSWORD, TABLET, _run, sign_in
from tests.integration.test_erp_imports import gbk_csv, serial

TEAM = "ERP 华东二部"
ADMIN = "erpadmin"
REPS = (("zhangwei_erp", "张伟"), ("liuna_erp", "刘娜"))

SEED = f"""
import asyncio
import os
import sys
from server import cli, db
from server.settings import Settings
from tests import factories

db.bind(db.make_engine(Settings.from_env().effective_database_url))
asyncio.run(factories.team({TEAM!r}))
users = [["create-user", {ADMIN!r}, "--name", "ERP Admin", "--role", "admin"]]
users += [["create-user", u, "--name", n, "--role", "rep", "--team", {TEAM!r}] for u, n in {REPS!r}]
for args in users:
    assert cli.main([*args, "--password", factories.PASSWORD]) == 0, args
sys.stdout.flush()
os._exit(0)
"""


def _last_month(day: int) -> date:
    first = clock.today().replace(day=1)
    return (first - timedelta(days=1)).replace(day=day)


CUSTOMERS = [
    ["客户编码", "客户名称", "专营业务员", "建档日期"],
    ["E2E-KH1", "宁波海鲜批发", "张伟", "2024-03-01"],
    ["E2E-KH2", "温州冷链超市", "刘娜", "2025-07-15"],
    ["合计", "", "", ""],
]
# K/3 销售出库单, line level: "价税合计(本位币)" and "销售员名称" are headers the guess does not know. The last
# document is a 红字 return of the first (源单编号), and K/3's 合计 row sums it in, negative.
HEADERS = ["单据编号", "日期", "客户编码", "客户名称", "销售员名称", "物料名称", "价税合计(本位币)", "金额", "税额", "毛利", "源单编号",
           "红蓝字"]
ORDERS = [
    HEADERS,
    ["E2E-XS001", serial(_last_month(3)), "E2E-KH1", "宁波海鲜批发", "张伟", "带鱼", "22,600.00", "20,000.00", "2,600.00",
     "5,000.00", "", "蓝字"],
    ["E2E-XS001", serial(_last_month(3)), "E2E-KH1", "宁波海鲜批发", "张伟", "黄鱼", "1,130.50", "1,000.44", "130.06", "250.10",
     "", "蓝字"],
    ["E2E-XS002", serial(_last_month(12)), "Ｅ２Ｅ－ＫＨ２", "温州冷链超市", "刘娜", "虾仁", "113,000.00", "100,000.00",
     "13,000.00", "18,000.00", "", "蓝字"],
    ["E2E-XS003", serial(_last_month(20)), "E2E-KH2", "温州冷链超市", "张伟:50;刘娜:50", "鱼丸", "3,390.01", "3,000.01", "390.00",
     "600.00", "", "蓝字"],
    ["E2E-XS-R01", serial(_last_month(25)), "E2E-KH1", "宁波海鲜批发", "张伟", "带鱼", "-2,260.00", "-2,000.00", "-260.00",
     "-500.00", "E2E-XS001", "红字"],
    ["合计", "", "", "", "", "", "137,860.51", "122,000.45", "15,860.06", "23,350.10", "", ""],
]


def _amount(row: list[str]) -> Decimal:
    return Decimal(row[6].replace(",", ""))


def _file_sales() -> Decimal:
    """The file's sales, from its cells: the amounts including tax of the blue documents."""
    return sum((_amount(row) for row in ORDERS[1:] if row[11] == "蓝字"), Decimal(0))


def _file_returns() -> Decimal:
    return sum((-_amount(row) for row in ORDERS[1:] if row[11] == "红字"), Decimal(0))


def _upload(page, kind: str, name: str, data: bytes) -> None:
    from playwright.sync_api import expect

    page.goto("/imports")
    page.locator("#f-kind").select_option(kind)
    page.locator("#f-file").set_input_files({"name": name, "mimeType": "text/csv", "buffer": data})
    page.get_by_role("button", name="Preview").click()
    expect(page).to_have_url(re.compile(r"/imports/[0-9a-f-]{36}$"))


def _import(page) -> None:
    from playwright.sync_api import expect

    page.locator("form[action$='/run'] button").click()
    expect(page.locator("#import-progress")).to_have_attribute("data-status", "done", timeout=30_000)


def _board_revenue(page, period: str) -> Decimal:
    """The team's revenue for the month on the admin's board: its total row."""
    from playwright.sync_api import expect

    page.goto(f"/dashboard?period={period}")
    page.locator("#team").select_option(label=TEAM)
    page.locator("form", has=page.locator("#team")).get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"team=[0-9a-f-]{36}"))
    headers = [t.strip() for t in page.locator("table.board thead th").all_inner_texts()]
    column = headers.index("Revenue")
    total = page.locator("table.board tfoot tr.total", has=page.locator("th", has_text=TEAM))
    cell = total.locator("td").nth(column - 1).locator(".pace-actual")
    return Decimal(re.sub(r"[^\d.\-]", "", cell.inner_text()))


def test_admin_maps_a_k3_export_imports_it_and_the_board_shows_the_files_total(new_context, live_env):
    from playwright.sync_api import expect

    _run(["-c", SEED], live_env)
    page = new_context(**TABLET).new_page()
    sign_in(page, ADMIN, PASSWORD)

    # The customers: every header known, the 合计 row skipped, reps matched by their names.
    _upload(page, "customers", "客户.csv", gbk_csv(CUSTOMERS))
    expect(page.locator("[data-count='create']")).to_have_text("2")
    expect(page.locator("[data-count='skip']")).to_have_text("1")
    _import(page)

    # The K/3 sales file: the guess leaves the rep unmapped, so the page asks for the mapping.
    _upload(page, "orders", "销售出库单.csv", gbk_csv(ORDERS))
    expect(page.locator("[data-missing]")).to_contain_text("业务员 / rep")
    expect(page.locator("form[action$='/run']")).to_have_count(0)
    page.locator("#m-reps").select_option(label="销售员名称")
    page.locator("#m-amount").select_option(label="价税合计(本位币)")
    page.locator("#m-amount_excl").select_option(label="金额")
    page.get_by_label(re.compile("Line-level file")).check()
    page.locator("#m-source").fill("K/3 销售出库")
    page.get_by_role("button", name="Apply and preview").click()
    expect(page.locator("[data-count='create']")).to_have_text("4")  # three orders and a return
    expect(page.locator("[data-count='skip']")).to_have_text("1")
    expect(page.locator("[data-count='error']")).to_have_text("0")
    expect(page.locator("[data-lines='2,3']")).to_have_count(1)  # one order over two product lines
    expect(page.locator(".import-rows")).to_contain_text("Return of E2E-XS001")
    _import(page)

    period = formulas.period_of(_last_month(1), formulas.MONTH)
    expected = _file_sales() - _file_returns()
    assert _file_returns() > 0 and expected == _amount(ORDERS[-1])  # the file's own 合计 row agrees
    assert _board_revenue(page, period) == expected

    # The next upload of the same export is read with the saved mapping, unasked, and changes nothing.
    _upload(page, "orders", "销售出库单 (2).csv", gbk_csv(ORDERS))
    expect(page.locator("[data-source='K/3 销售出库']")).to_have_count(1)
    expect(page.locator("[data-count='unchanged']")).to_have_text("4")
    expect(page.locator("[data-count='create']")).to_have_text("0")
    expect(page.locator("[data-count='update']")).to_have_text("0")
    _import(page)
    expect(page.locator("#import-progress")).to_have_attribute("data-unchanged", "4")
    assert _board_revenue(page, period) == expected
