"""ERP files as they are exported (Kingdee K/3 and 金蝶云星空, 用友 U8, Excel "另存为 CSV"), through HTTP on both
engines: GBK, Chinese headers, thousands separators, Excel serial dates, a 合计 row, detail lines, reps by
ERP code or name, customers by full-width code or name, the column mapping saved per source and reused.
Every imported total is compared with a total computed here from the file itself."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

from server import clock
from server.accounts.tables import User
from server.customers.tables import Customer
from server.imports.tables import ImportBatch, ImportSource
from server.sales.tables import Collection, Order, OrderReturn, OrderSplit, ReturnSplit
from server.targets import actuals
from tests.integration.test_imports import business_rows, preview, run

EPOCH = date(1899, 12, 30)


def serial(day: date) -> str:
    """The Excel date number a date cell becomes in a CSV saved without formats."""
    return str((day - EPOCH).days)


def gbk_csv(rows: list[list[str]]) -> bytes:
    """A CSV as a Chinese Excel's "另存为 CSV" writes it: GBK, CRLF, quotes only where needed."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("gbk")


def cents(text: str) -> int:
    """The file's amount cell, computed here independently: 1,234.56 -> 123456, -50 -> -5000."""
    return int(Decimal(text.replace(",", "")) * 100)


def set_names(client, world) -> None:
    """The ERP writes 业务员 as a name or its own code: the reps get both."""
    client.run(User.update({User.display_name: "张伟", User.erp_code: "Z001"}).where(User.id == world.rep))
    client.run(User.update({User.display_name: "李娜", User.erp_code: "Z002"}).where(User.id == world.other_rep))


def day_in_month(n: int) -> date:
    """A day of last month (never in the future, whatever today is)."""
    first = clock.today().replace(day=1)
    last_month = (first - timedelta(days=1)).replace(day=1)
    return last_month + timedelta(days=n - 1)


CUSTOMER_HEADERS = ["客户编码", "客户名称", "专营业务员", "建档日期", "联系人"]


def customers_file() -> list[list[str]]:
    return [
        CUSTOMER_HEADERS,
        ["ＫＨ００１", "上海华东贸易有限公司", "张伟", "2024-05-10", "王经理"],  # full-width code, rep by name
        ["KH002", "苏州湖鲜食品", "Z002", serial(date(2023, 1, 16)), ""],  # rep by ERP code, serial date
        ["KH003", "杭州新客户商行", "rep_a1", serial(day_in_month(3)), ""],  # rep by username, new last month
        ["合计", "", "", "", ""],
    ]


def order_rows() -> list[list[str]]:
    """A K/3 销售出库单 export: one order over several product lines (the header cells repeated or blank),
    amounts including tax with thousands separators, the tax and the ERP's gross margin, serial dates,
    customers by code (one in full-width characters) or by name, two 红字 documents (returns: one with
    negative amounts, one marked 红字 in 红蓝字 with positive ones) naming the order they return in 源单编号,
    and a 合计 row at the end (K/3 sums the red documents in, negative)."""
    d1, d2, d3 = serial(day_in_month(5)), serial(day_in_month(9)), serial(day_in_month(20))
    d4, d5 = serial(day_in_month(22)), serial(day_in_month(23))
    return [
        ["单据编号", "日期", "客户编码", "客户名称", "业务员", "物料名称", "价税合计", "金额", "税额", "毛利", "源单编号", "红蓝字"],
        ["XSCKD000101", d1, "KH001", "上海华东贸易有限公司", "张伟", "冷冻虾仁", "11,300.00", "10,000.00", "1,300.00", "2,500.00", "", "蓝字"],
        ["XSCKD000101", d1, "KH001", "上海华东贸易有限公司", "张伟", "鱼丸", "2,260.00", "2,000.00", "260.00", "400.50", "", "蓝字"],
        ["XSCKD000101", "", "", "", "", "包装费", "113.00", "100.00", "13.00", "100.00", "", ""],
        ["XSCKD000102", d2, "ＫＨ００２", "", "李娜", "冷冻虾仁", "1,130,000.00", "1,000,000.00", "130,000.00", "180,000.00", "", "蓝字"],
        ["XSCKD000103", d3, "", "杭州新客户商行", "Z001:60;Z002:40", "鱼丸", "5,650.55", "5,000.49", "650.06", "1,000.01", "", "蓝字"],
        ["XSCKD000103", d3, "", "杭州新客户商行", "Z001:60;Z002:40", "赠品", "0.00", "0.00", "0.00", "-20.00", "", "蓝字"],
        ["XSCKD-R0001", d4, "KH001", "上海华东贸易有限公司", "张伟", "冷冻虾仁", "-1,130.00", "-1,000.00", "-130.00", "-250.00",
         "XSCKD000101", "红字"],
        ["XSCKD-R0002", d5, "KH002", "苏州湖鲜食品", "李娜", "冷冻虾仁", "113.00", "100.00", "13.00", "25.00", "XSCKD000102", "红字"],
        ["合计", "", "", "", "", "", "1,148,080.55", "1,015,999.49", "132,080.06", "183,705.51", "", ""],
    ]


ORDER_MAPPING = {"number": 0, "date": 1, "customer_code": 2, "customer_name": 3, "reps": 4, "amount": 6,
                 "amount_excl": 7, "tax": 8, "margin": 9, "original": 10, "red": 11}


def signed(row: list[str], column: int) -> int:
    """A cell's cents with the sign the document has: a 红字 document's amounts are negative."""
    value = cents(row[column])
    return -abs(value) if row[11] == "红字" else value


def file_totals(rows: list[list[str]]) -> dict[str, dict[str, int]]:
    """Per document number, the signed sums of the amount including tax and of the margin, from the cells."""
    out: dict[str, dict[str, int]] = {}
    for row in rows[1:]:
        if row[0] == "合计":
            continue
        doc = out.setdefault(row[0], {"amount": 0, "margin": 0, "original": row[10]})
        doc["amount"] += signed(row, 6)
        doc["margin"] += signed(row, 9)
    return out


def results_rows(client) -> dict[str, list]:
    """Every results row, returns included: a re-import must leave them all as they were."""
    out = business_rows(client)
    for table in (OrderReturn, ReturnSplit):
        out[table._meta.tablename] = sorted(repr(sorted(r.items())) for r in client.run(table.select()))
    return out


def map_columns(client, batch_id, mapping: dict[str, int], *, line_level: bool = False, source: str = ""):
    body = {f"col-{k}": str(v) for k, v in mapping.items()}
    if line_level:
        body["line_level"] = "1"
    body["source"] = source
    return client.post_form(f"/imports/{batch_id}/mapping", body)


def reimport_changes_nothing(client, kind: str, data: bytes, unchanged: int) -> None:
    before = business_rows(client)
    batch_id = preview(client, kind, data)
    assert f'data-count="unchanged">{unchanged}<' in client.get(f"/imports/{batch_id}").text
    assert run(client, batch_id)["status"] == "done"
    assert business_rows(client) == before


def import_customers(client):
    batch_id = preview(client, "customers", gbk_csv(customers_file()), "客户.csv")
    page = client.get(f"/imports/{batch_id}").text
    assert 'data-count="create">3<' in page and 'data-count="skip">1<' in page and 'data-count="error">0<' in page
    assert "A total row (“合计”): skipped." in page
    state = run(client, batch_id)
    assert state["status"] == "done" and state["created"] == "3", state["html"][:2000]


def test_k3_customers_keep_their_erp_creation_date_and_match_reps_by_name_code_or_username(client, world):
    set_names(client, world)
    client.login("boss")
    import_customers(client)
    rows = {c["code"]: c for c in client.run(Customer.select().where(Customer.code.is_not_null()))}
    # The full-width code is stored as its half-width form.
    assert set(rows) == {"KH001", "KH002", "KH003"}
    assert (rows["KH001"]["owner"], rows["KH002"]["owner"], rows["KH003"]["owner"]) == (world.rep, world.other_rep, world.rep)
    created = {code: clock.local_date(row["created_at"]) for code, row in rows.items()}
    assert created == {"KH001": date(2024, 5, 10), "KH002": date(2023, 1, 16), "KH003": day_in_month(3)}

    # "New customers" counts by that date: of the three, only KH003 is new last month; this month counts
    # only the customers the test's world made today, not the two imported today but created years ago.
    new_customers = client.run(actuals.kpi_by_code("new_customers"))
    reps = [world.rep, world.other_rep]
    last_month = client.run(actuals.actuals(new_customers, day_in_month(1), clock.today().replace(day=1) - timedelta(days=1), reps))
    assert {rep: pair[0] for rep, pair in last_month.items()} == {world.rep: 1.0}
    this_month = client.run(actuals.actuals(new_customers, clock.today().replace(day=1), clock.today(), reps))
    assert {rep: pair[0] for rep, pair in this_month.items()} == {world.rep: 1.0, world.other_rep: 1.0}

    # The same file again changes nothing; a customer typed with a full-width code matches the stored one.
    reimport_changes_nothing(client, "customers", gbk_csv(customers_file()), 3)


def test_k3_line_level_orders_roll_up_and_their_totals_equal_the_files(client, world):
    set_names(client, world)
    client.login("boss")
    import_customers(client)
    rows = order_rows()
    data = gbk_csv(rows)
    batch_id = preview(client, "orders", data, "销售出库单.csv")
    page = client.get(f"/imports/{batch_id}").text
    # Guessed from the headers: 价税合计 is the amount including tax, 金额 the amount excluding it.
    assert 'id="m-amount"' in page and 'value="6" selected' in page and 'value="7" selected' in page
    # Not yet line-level: the repeated document numbers are errors.
    assert "This key is already in line 2 of the file" in page
    r = map_columns(client, batch_id, ORDER_MAPPING, line_level=True, source="K/3 销售出库")
    assert r.status_code == 303, r.text[:2000]
    page = client.get(f"/imports/{batch_id}").text
    assert 'data-count="create">5<' in page and 'data-count="skip">1<' in page and 'data-count="error">0<' in page, page[page.find("import-rows"):][:3000]
    assert 'data-lines="2,3,4"' in page and "Return of XSCKD000101" in page
    state = run(client, batch_id)
    assert state["status"] == "done", state["html"][:2000]

    expected = file_totals(rows)
    sales = {n: t for n, t in expected.items() if t["amount"] > 0}
    credit = {n: t for n, t in expected.items() if t["amount"] < 0}
    orders = {o["number"]: o for o in client.run(Order.select().where(Order.number.like("XSCKD%")))}
    assert set(orders) == set(sales) and len(credit) == 2
    for number, order in orders.items():
        assert order["amount_cents"] == sales[number]["amount"], number
        assert order["amount_cents"] - order["cost_cents"] == sales[number]["margin"], number
    # The 红字 documents are returns against the orders they name, under their own numbers.
    returned = {r["number"]: r for r in client.run(OrderReturn.select())}
    assert set(returned) == set(credit)
    for number, doc in credit.items():
        r = returned[number]
        assert (r["sales_order"], r["amount_cents"], r["margin_cents"], r["source"]) == (
            orders[doc["original"]]["id"], -doc["amount"], -doc["margin"], "import"), number
    assert returned["XSCKD-R0001"]["return_date"] == day_in_month(22)
    # The file's own 合计 row says the same: sales less returns.
    total_row = rows[-1]
    net = sum(o["amount_cents"] for o in orders.values()) - sum(r["amount_cents"] for r in returned.values())
    assert net == cents(total_row[6])
    net_margin = (sum(o["amount_cents"] - o["cost_cents"] for o in orders.values())
                  - sum(r["margin_cents"] for r in returned.values()))
    assert net_margin == cents(total_row[9])
    # Dates from Excel serial numbers, customers by code, full-width code and name, reps by name and code.
    customers = {c["code"]: c["id"] for c in client.run(Customer.select(Customer.id, Customer.code))}
    assert orders["XSCKD000101"]["order_date"] == day_in_month(5) and orders["XSCKD000101"]["customer"] == customers["KH001"]
    assert orders["XSCKD000102"]["customer"] == customers["KH002"]
    assert orders["XSCKD000103"]["customer"] == customers["KH003"]
    splits = client.run(OrderSplit.select().where(OrderSplit.sales_order == orders["XSCKD000103"]["id"]))
    assert sorted((s["rep"] == world.rep, s["share_bp"]) for s in splits) == [(False, 4000), (True, 6000)]
    # The month's revenue and margin, credited to the reps, add up to the file's total row, returns taken off.
    revenue = client.run(actuals.kpi_by_code("revenue"))
    month = client.run(actuals.actuals(revenue, day_in_month(1), clock.today().replace(day=1) - timedelta(days=1)))
    assert round(sum(pair[0] for pair in month.values()) * 100) == cents(total_row[6])
    margin = client.run(actuals.kpi_by_code("gross_margin"))
    month = client.run(actuals.actuals(margin, day_in_month(1), clock.today().replace(day=1) - timedelta(days=1)))
    assert round(sum(pair[0] for pair in month.values()) * 100) == cents(total_row[9])

    # The mapping was saved under its source; the next file with these headers is read with it, unasked.
    source = client.run(ImportSource.select().where(ImportSource.name == "K/3 销售出库").first())
    assert source and source["kind"] == "orders"
    before = results_rows(client)
    again = preview(client, "orders", data, "销售出库单 (2).csv")
    page = client.get(f"/imports/{again}").text
    assert 'data-source="K/3 销售出库"' in page and 'data-count="unchanged">5<' in page and 'data-count="error">0<' in page
    state = run(client, again)
    assert (state["status"], state["created"], state["updated"], state["unchanged"]) == ("done", "0", "0", "5")
    assert results_rows(client) == before
    batch = client.run(ImportBatch.select(ImportBatch.skipped_count).where(ImportBatch.id == again).first())
    assert batch["skipped_count"] == 1


def test_one_receipt_settles_several_orders_checked_against_the_tax_inclusive_amount(client, world):
    set_names(client, world)
    client.login("boss")
    import_customers(client)
    batch_id = preview(client, "orders", gbk_csv(order_rows()))
    assert map_columns(client, batch_id, ORDER_MAPPING, line_level=True, source="K/3 销售出库").status_code == 303
    assert run(client, batch_id)["status"] == "done"
    day = serial(day_in_month(25))
    # A K/3 收款单: one receipt, one line per order it settles (源单编号), amounts including tax.
    receipt = [
        ["单据编号", "日期", "客户", "源单编号", "收款金额"],
        ["SKD0001", day, "上海华东贸易有限公司", "XSCKD000101", "12,543.00"],  # settles 101 in full: incl. tax, less its return
        ["SKD0001", day, "杭州新客户商行", "XSCKD000103", "1,000.00"],
        ["SKD0002", day, "苏州湖鲜食品", "XSCKD000102", "1,129,887.00"],
        ["合计", "", "", "", "1,143,430.00"],
    ]
    batch_id = preview(client, "collections", gbk_csv(receipt), "收款单.csv")
    page = client.get(f"/imports/{batch_id}").text
    assert 'data-count="create">3<' in page and 'data-count="skip">1<' in page and 'data-count="error">0<' in page, page[page.find("import-rows"):][:3000]
    assert run(client, batch_id)["status"] == "done"
    rows = {c["number"]: c for c in client.run(Collection.select())}
    assert set(rows) == {"SKD0001/XSCKD000101", "SKD0001/XSCKD000103", "SKD0002"}
    assert sum(c["amount_cents"] for c in rows.values()) == cents(receipt[-1][4])
    # What 101 owes: its amount including tax (13,673.00) less its return (1,130.00), to the fen.
    assert rows["SKD0001/XSCKD000101"]["amount_cents"] == 1_367_300 - 113_000

    # One fen more than that is refused.
    over = [receipt[0], ["SKD0003", day, "", "XSCKD000101", "0.01"]]
    text = client.get(f"/imports/{preview(client, 'collections', gbk_csv(over))}").text
    assert "Collections of order XSCKD000101 would total" in text and 'data-count="error">1<' in text
    # Re-importing the receipts changes nothing.
    reimport_changes_nothing(client, "collections", gbk_csv(receipt), 3)


def test_future_dated_orders_and_receipts_are_refused(client, world):
    set_names(client, world)
    client.login("boss")
    import_customers(client)
    tomorrow = clock.today() + timedelta(days=1)
    orders = ("订单号,客户编码,日期,价税合计,业务员\n"
              f"F-1,KH001,{tomorrow.isoformat()},100,rep_a1\n"
              f"F-2,KH001,{serial(tomorrow)},100,rep_a1\n"
              f"F-3,KH001,{clock.today().isoformat()},100,rep_a1\n")
    batch_id = preview(client, "orders", orders)
    text = client.get(f"/imports/{batch_id}").text
    assert text.count("This date is in the future.") == 2 and 'data-count="create">1<' in text
    assert client.post_form(f"/imports/{batch_id}/run").status_code == 422
    assert client.run(Order.count()) == 0
    import_orders = preview(client, "orders", orders.replace(f"F-1,KH001,{tomorrow.isoformat()},100,rep_a1\n", "")
                            .replace(f"F-2,KH001,{serial(tomorrow)},100,rep_a1\n", ""))
    assert run(client, import_orders)["status"] == "done"
    receipts = f"回款单号,订单号,日期,金额\nR-1,F-3,{tomorrow.isoformat()},10\n"
    text = client.get(f"/imports/{preview(client, 'collections', receipts)}").text
    assert "This date is in the future." in text and 'data-count="error">1<' in text


def test_mapping_step_for_headers_fieldpace_does_not_know(client, world):
    set_names(client, world)
    client.login("boss")
    import_customers(client)
    # An export with headers of its own (a 用友 U8 report renamed by someone): nothing maps but the date.
    rows = [["凭证号", "日期", "往来单位编码", "经手人", "应收合计"],
            ["U8-0001", serial(day_in_month(2)), "KH001", "张伟", "1,234.50"]]
    batch_id = preview(client, "orders", gbk_csv(rows), "u8.csv")
    page = client.get(f"/imports/{batch_id}").text
    assert "Map these columns to preview the rows" in page and "订单号 / order_number" in page
    refused = client.post_form(f"/imports/{batch_id}/run")
    assert refused.status_code == 422
    # Two fields on one column are refused with the form kept.
    r = map_columns(client, batch_id, {"number": 0, "date": 1, "customer_code": 2, "reps": 3, "amount": 0})
    assert r.status_code == 422 and "is chosen for both" in r.text
    r = map_columns(client, batch_id, {"number": 0, "date": 1, "customer_code": 2, "reps": 3, "amount": 4}, source="U8 应收")
    assert r.status_code == 303
    page = client.get(f"/imports/{batch_id}").text
    assert 'data-count="create">1<' in page
    assert run(client, batch_id)["status"] == "done"
    order = client.run(Order.select().where(Order.number == "U8-0001").first())
    assert order["amount_cents"] == 123_450
    # A second file with these headers in another order: the saved mapping is applied unasked.
    moved = [["应收合计", "凭证号", "经手人", "往来单位编码", "日期"],
             ["99.00", "U8-0002", "Z002", "KH002", "2025/12/31"]]
    page = client.get(f"/imports/{preview(client, 'orders', gbk_csv(moved))}").text
    assert 'data-count="create">1<' in page and 'data-source="U8 应收"' in page
    # One with a column more is another shape: not applied by itself, but when the source is named on upload.
    wider = [row + [extra] for row, extra in zip(moved, ["摘要", "年末"], strict=True)]
    page = client.get(f"/imports/{preview(client, 'orders', gbk_csv(wider))}").text
    assert "Map these columns to preview the rows" in page
    r = client.post("/imports", data={"_csrf_token": client.csrf(), "kind": "orders", "source": "U8 应收"},
                    files={"file": ("u8b.csv", gbk_csv(wider), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert 'data-count="create">1<' in page and 'data-source="U8 应收"' in page


def test_admin_sets_a_reps_erp_code_and_two_users_cannot_share_one(client, world):
    client.login("boss")
    r = client.post_form(f"/admin/users/{world.rep}", {"display_name": "Rep A1", "role": "rep", "team": str(world.team_a),
                                                       "active": "on", "erp_code": "ＹＷ０１"})
    assert r.status_code == 303, r.text[:1000]
    assert client.run(User.select(User.erp_code).where(User.id == world.rep).first())["erp_code"] == "YW01"
    assert 'value="YW01"' in client.get(f"/admin/users/{world.rep}").text
    r = client.post_form(f"/admin/users/{world.other_rep}", {"display_name": "Rep A2", "role": "rep",
                                                             "team": str(world.team_a), "active": "on", "erp_code": "YW01"})
    assert r.status_code == 422 and "Another user has this ERP code." in r.text
    assert client.run(User.select(User.erp_code).where(User.id == world.other_rep).first())["erp_code"] == ""
    # Imports find the rep by it.
    text = ("客户编码,客户名称,业务员\nE-1,Erp Coded Co,YW01\n")
    assert run(client, preview(client, "customers", text))["status"] == "done"
    assert client.run(Customer.select(Customer.owner).where(Customer.code == "E-1").first())["owner"] == world.rep
