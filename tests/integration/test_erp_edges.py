"""ERP files at the edges, on SQLite and PostgreSQL: order numbers in full-width characters are the same
orders, a re-imported return with another amount is a row error naming the earlier document, negative
receipts are refunds (collection reversals, idempotent by document number), receipts for a voided order
are refused and collections are limited to the amount less the returns."""

from __future__ import annotations

import re

from server import clock
from server.sales.tables import AuditEvent, Collection, Order, OrderReturn
from tests.integration.test_erp_imports import cents, day_in_month, gbk_csv, import_customers, results_rows, set_names
from tests.integration.test_imports import preview, run
from tests.integration.test_order_corrections import _revenue

ORDER_HEADERS = ["单据编号", "日期", "客户编码", "价税合计", "业务员", "源单编号"]
RECEIPT_HEADERS = ["单据编号", "日期", "源单编号", "收款金额"]


def _orders(return_amount: str = "-100.00", number: str = "ＸＳ００１") -> bytes:
    d1, d2 = day_in_month(5).isoformat(), day_in_month(6).isoformat()
    return gbk_csv([ORDER_HEADERS,
                    [number, d1, "KH001", "1,000.00", "rep_a1", ""],
                    ["XS-R1", d2, "KH001", return_amount, "rep_a1", "ＸＳ００１"]])


def _receipts(*rows: list[str]) -> bytes:
    return gbk_csv([RECEIPT_HEADERS, *rows])


def _counts(client, batch_id) -> dict[str, int]:
    page = client.get(f"/imports/{batch_id}").text
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', page)}


def _page(client, batch_id) -> str:
    return client.get(f"/imports/{batch_id}").text


def test_full_width_numbers_match_and_a_changed_return_is_a_row_error(client, world):
    set_names(client, world)
    client.login("boss")
    import_customers(client)
    batch = preview(client, "orders", _orders())
    assert _counts(client, batch)["create"] == 2, _page(client, batch)[:3000]
    assert run(client, batch)["status"] == "done"
    [order] = client.run(Order.select(Order.id, Order.number))
    assert order["number"] == "XS001"  # stored as NFKC makes it
    [ret] = client.run(OrderReturn.select(OrderReturn.sales_order, OrderReturn.amount_cents))
    assert ret == {"sales_order": order["id"], "amount_cents": 10000}
    before = results_rows(client)
    # The same file again, and the order number in ASCII: the same order and return, nothing changes.
    for data in (_orders(), _orders(number="XS001")):
        batch = preview(client, "orders", data)
        assert _counts(client, batch)["unchanged"] == 2, _page(client, batch)[:3000]
        assert run(client, batch)["status"] == "done"
        assert results_rows(client) == before
    # The return re-exported with another amount: a row error naming the earlier document.
    batch = preview(client, "orders", _orders(return_amount="-150.00"))
    page = _page(client, batch)
    assert _counts(client, batch)["error"] == 1
    assert "Return XS-R1 was imported already, ¥100.00 against order XS001" in page.replace("CN¥", "¥")
    assert client.post_form(f"/imports/{batch}/run").status_code == 422
    assert results_rows(client) == before


def test_refunds_are_reversals_and_receipts_respect_voids_and_returns(client, world):
    set_names(client, world)
    client.login("boss")
    import_customers(client)
    assert run(client, preview(client, "orders", _orders()))["status"] == "done"
    [order] = client.run(Order.select(Order.id))
    day = day_in_month(10).isoformat()
    # Full-width 源单编号 on a receipt; a refund (negative receipt) against the same order.
    first = _receipts(["SK1", day, "ＸＳ００１", "500.00"], ["SK2", day, "XS001", "-200.00"])
    batch = preview(client, "collections", first)
    assert _counts(client, batch)["create"] == 2 and _counts(client, batch)["error"] == 0, _page(client, batch)[:3000]
    assert "Refund on" in _page(client, batch)
    assert run(client, batch)["status"] == "done"
    rows = {c["number"]: c for c in client.run(Collection.select(Collection.number, Collection.kind,
                                                                  Collection.amount_cents))}
    assert rows["SK1"]["amount_cents"] == 50000 and rows["SK2"] == {"number": "SK2", "kind": "correction",
                                                                     "amount_cents": -20000}
    events = client.run(AuditEvent.select(AuditEvent.action).where(AuditEvent.sales_order == order["id"]))
    assert [e["action"] for e in events].count("collection_reversed") == 1
    # Re-importing changes nothing; the refund with another amount is a row error.
    before = results_rows(client)
    batch = preview(client, "collections", first)
    assert _counts(client, batch)["unchanged"] == 2
    assert run(client, batch)["status"] == "done" and results_rows(client) == before
    changed = _receipts(["SK2", day, "XS001", "-250.00"])
    assert "Refund SK2 was imported already" in _page(client, preview(client, "collections", changed))
    # A refund of more than was collected (300.00 net) is refused.
    text = _page(client, preview(client, "collections", _receipts(["SK3", day, "XS001", "-300.01"])))
    assert "takes back more than was collected on order XS001" in text
    # Collected may not pass the amount less the return: 1,000 - 100 - 300 = 600.00 left.
    text = _page(client, preview(client, "collections", _receipts(["SK4", day, "XS001", "600.01"])))
    assert "Collections of order XS001 would total" in text
    ok = preview(client, "collections", _receipts(["SK4", day, "XS001", "600.00"]))
    assert _counts(client, ok)["create"] == 1
    # A voided order takes no receipts.
    assert client.post_form(f"/orders/{order['id']}/void", {"reason": "Cancelled"}).status_code == 303
    text = _page(client, preview(client, "collections", _receipts(["SK5", day, "XS001", "1.00"])))
    assert "Order XS001 is void" in text


def test_a_re_export_changing_a_closed_months_order_posts_a_dated_correction(client, world):
    set_names(client, world)
    client.login("boss")
    import_customers(client)
    assert run(client, preview(client, "orders", _orders()))["status"] == "done"  # dated last month: closed
    [order] = client.run(Order.select(Order.id, Order.order_date))
    last = (order["order_date"].replace(day=1), order["order_date"].replace(day=28))
    today = clock.today()
    month = (today.replace(day=1), today)
    assert _revenue(client, *last, [world.rep]) == {world.rep: 100000 - 10000}
    changed = _orders().replace("1,000.00".encode("gbk"), "1,200.00".encode("gbk"))
    batch = preview(client, "orders", changed)
    assert _counts(client, batch)["update"] == 1
    assert run(client, batch)["status"] == "done"
    assert client.run(Order.select(Order.amount_cents).where(Order.id == order["id"]).first())["amount_cents"] == 100000
    assert _revenue(client, *last, [world.rep]) == {world.rep: 100000 - 10000}
    assert _revenue(client, *month, [world.rep]) == {world.rep: 20000}
    fix = client.run(OrderReturn.select(OrderReturn.amount_cents, OrderReturn.return_date).where(
        OrderReturn.kind == "correction"))
    assert fix == [{"amount_cents": -20000, "return_date": today}]
    # The same re-export again changes nothing; moving the order to another month is a row error.
    before = results_rows(client)
    batch = preview(client, "orders", changed)
    assert _counts(client, batch)["unchanged"] == 2, _page(client, batch)[:3000]
    assert run(client, batch)["status"] == "done" and results_rows(client) == before
    moved = changed.replace(order["order_date"].isoformat().encode(), today.isoformat().encode(), 1)
    assert "month is closed" in _page(client, preview(client, "orders", moved))


# A 用友 U8 收款单 list as exported (GBK, its own headers, thousands separators, a 合计 row): one receipt
# line per order it settles (销售订单号), the amount written off against that order (本次核销金额).
U8_HEADERS = ["单据编号", "单据日期", "客户名称", "部门", "业务员", "销售订单号", "本次核销金额", "摘要"]


def _u8_receipts(parts: list[tuple[str, str, str]]) -> list[list[str]]:
    day = day_in_month(25).isoformat()
    rows = [[receipt, day, "上海华东贸易有限公司", "销售一部", "张伟", order, amount, "货款"] for receipt, order, amount in parts]
    total = sum(cents(amount) for _r, _o, amount in parts)
    return [U8_HEADERS, *rows, ["合计", "", "", "", "", "", f"{total / 100:,.2f}", ""]]


def _by_order(rows: list[list[str]]) -> dict[str, int]:
    """What the file says each order has received, in cents, computed here from its cells."""
    out: dict[str, int] = {}
    for row in rows[1:]:
        if row[0] != "合计":
            out[row[5]] = out.get(row[5], 0) + cents(row[6])
    return out


def _collected(client, world) -> tuple[dict[str, int], int]:
    """Net collected per order (receipts and their corrections) and the collections board figure."""
    from server.targets import actuals

    numbers = {o["id"]: o["number"] for o in client.run(Order.select(Order.id, Order.number))}
    out: dict[str, int] = {}
    for c in client.run(Collection.select(Collection.sales_order, Collection.amount_cents)):
        out[numbers[c["sales_order"]]] = out.get(numbers[c["sales_order"]], 0) + c["amount_cents"]
    kpi = client.run(actuals.kpi_by_code("collections"))
    found = client.run(actuals.actuals(kpi, day_in_month(1), clock.today(), [world.rep]))
    return {k: v for k, v in out.items() if v}, round(found.get(world.rep, (0.0, 0))[0] * 100)


def test_a_u8_receipt_settling_several_orders_re_imported_and_re_allocated_counts_once(client, world):
    set_names(client, world)
    client.login("boss")
    import_customers(client)
    d = day_in_month(5).isoformat()
    orders = gbk_csv([ORDER_HEADERS, *[[n, d, "KH001", a, "rep_a1", ""] for n, a in
                                       (("XS101", "50,000.00"), ("XS102", "20,000.00"), ("XS103", "8,000.00"))]])
    assert run(client, preview(client, "orders", orders))["status"] == "done"
    first = _u8_receipts([("SKD0001", "XS101", "12,345.67"), ("SKD0001", "XS102", "5,000.00"),
                          ("SKD0002", "XS103", "1,000.00")])
    batch = preview(client, "collections", gbk_csv(first), "收款单.csv")
    assert _counts(client, batch)["create"] == 3 and _counts(client, batch)["skip"] == 1, _page(client, batch)[:3000]
    assert run(client, batch)["status"] == "done"
    expected = _by_order(first)
    assert _collected(client, world) == (expected, sum(expected.values())) == ({"XS101": 1234567, "XS102": 500000,
                                                                              "XS103": 100000}, 1834567)
    # The same file again: nothing changes.
    before = results_rows(client)
    batch = preview(client, "collections", gbk_csv(first))
    assert _counts(client, batch)["unchanged"] == 3
    assert run(client, batch)["status"] == "done" and results_rows(client) == before
    assert _collected(client, world) == (expected, sum(expected.values()))
    # The ERP re-allocated: SKD0001 no longer settles XS102 (its 5,000.00 moved: part to XS103), SKD0002 now
    # settles two orders (its XS103 part is the collection stored as "SKD0002", not a second one).
    second = _u8_receipts([("SKD0001", "XS101", "10,000.00"), ("SKD0001", "XS103", "7,345.67"),
                           ("SKD0002", "XS103", "500.00"), ("SKD0002", "XS102", "500.00")])
    batch = preview(client, "collections", gbk_csv(second))
    counted = _counts(client, batch)
    assert (counted["create"], counted["update"], counted["error"]) == (2, 2, 0), _page(client, batch)[:3000]
    assert "reverses SKD0001/XS102 on order XS102" in _page(client, batch)
    assert run(client, batch)["status"] == "done"
    expected = _by_order(second)
    assert _collected(client, world) == (expected, sum(expected.values())) == ({"XS101": 1000000, "XS102": 50000,
                                                                              "XS103": 784567}, 1834567)
    numbers = {c["number"] for c in client.run(Collection.select(Collection.number).where(Collection.kind == "receipt"))}
    assert numbers == {"SKD0001/XS101", "SKD0001/XS102", "SKD0001/XS103", "SKD0002", "SKD0002/XS102"}
    events = client.run(AuditEvent.select(AuditEvent.action).where(AuditEvent.action == "collection_reversed"))
    assert len(events) == 1
    # And that file again: nothing changes, the reversal is not repeated.
    before = results_rows(client)
    batch = preview(client, "collections", gbk_csv(second))
    assert _counts(client, batch)["unchanged"] == 4, _page(client, batch)[:3000]
    assert run(client, batch)["status"] == "done" and results_rows(client) == before
    assert _collected(client, world) == (expected, sum(expected.values()))
