"""The pure half of CSV imports: decoding, delimiter sniffing, header aliases, cell parsers and planning."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from server.imports.columns import (
    example_csv,
    map_headers,
    normalise_header,
)
from server.imports.parsing import (
    MAX_BYTES,
    CellError,
    ImportFileError,
    decode,
    parse_amount,
    parse_date,
    parse_split,
    read_table,
    sniff_delimiter,
)
from server.imports.planning import Lookups, counts, plan_rows
from server.imports.records import parse_file

# --- decoding -------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, text, encoding", [
    (b"a,b\n1,2\n", "a,b\n1,2\n", "utf-8"),
    ("客户,b\n".encode(), "客户,b\n", "utf-8"),
    ("\ufeff客户,b\n".encode("utf-8"), "客户,b\n", "utf-8-sig"),
    ("客户\tb\r\n".encode("utf-16"), "客户\tb\r\n", "utf-16"),  # Excel's "Unicode text": UTF-16 LE with BOM
    ("客户\tb\r\n".encode("utf-16-be").join([b"\xfe\xff", b""]), "客户\tb\r\n", "utf-16"),
    ("客户编码,名称\n".encode("gbk"), "客户编码,名称\n", "gb18030"),
    ("䶮,𠀀\n".encode("gb18030"), "䶮,𠀀\n", "gb18030"),  # beyond GBK: GB18030's four-byte forms
])
def test_decode_recognises_the_encodings_excel_writes(data, text, encoding):
    assert decode(data) == (text, encoding)


def test_utf8_is_tried_before_gb18030():
    # These bytes are valid in both; strict UTF-8 wins (GB18030 would give mojibake).
    data = "é,ü\n".encode()
    assert decode(data) == ("é,ü\n", "utf-8")


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"  \r\n\n ", "empty"),
    ("\ufeff".encode("utf-8"), "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a text"),
    (b"PK\x03\x04\x14\x00\x06\x00", "not a text"),  # an .xlsx (a zip)
    (b"a,b\n\x81\x30\xff,1\n", "neither UTF-8 nor GBK"),
    (b"\xff\xfe\x00\xd8", "cannot be read"),  # UTF-16 BOM, then a lone surrogate
    (b"a" * (MAX_BYTES + 1), "larger than 2 MB"),
])
def test_decode_refuses_what_is_not_csv_text(data, message):
    with pytest.raises(ImportFileError) as e:
        decode(data)
    assert message in e.value.message


# --- delimiter and table ------------------------------------------------------------------------


@pytest.mark.parametrize("line, delimiter", [
    ("a,b,c", ","), ("a;b;c", ";"), ("a\tb\tc", "\t"), ("single", ","),
    ('"a;b",c', ","),  # a delimiter inside quotes does not count
    ('"1,2";"3,4";x', ";"),
    ("金额\t日期\t备注,说明", "\t"),
])
def test_sniff_delimiter(line, delimiter):
    assert sniff_delimiter(line) == delimiter


def test_read_table_keeps_file_line_numbers_and_skips_blank_lines():
    text = '\r\n\r\nh1,h2\r\n1,"two\r\nlines"\r\n\r\n,\r\n3,4\r5,6\n'
    table = read_table(text)
    assert table.header_line == 3 and table.headers == ["h1", "h2"]
    assert table.rows == [(4, ["1", "two\nlines"]), (8, ["3", "4"]), (9, ["5", "6"])]


def test_read_table_tab_separated():
    table = read_table("a\tb\n1\t2,5\n")
    assert table.delimiter == "\t" and table.rows == [(2, ["1", "2,5"])]


# --- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, normal", [
    ("Customer Code", "customercode"), (" customer_code ", "customercode"), ("CUSTOMER-CODE", "customercode"),
    ("\ufeffcustomer_code", "customercode"), ("ｃｕｓｔｏｍｅｒ＿ｃｏｄｅ", "customercode"), ("客户编码 *", "客户编码"),
])
def test_normalise_header(raw, normal):
    assert normalise_header(raw) == normal


def test_headers_in_english_or_chinese_any_order_and_case():
    index, written, ignored = map_headers("orders", ["业务员", "Amount", "日期", "订单号", "客户编码", "Remark", "ERP id"])
    assert index == {"reps": 0, "amount": 1, "date": 2, "number": 3, "customer_code": 4, "note": 5}
    assert written["amount"] == "Amount" and ignored == ["ERP id"]
    index, _w, _i = map_headers("collections", ["回款单号", "订单号", "日期", "金额"])
    assert index == {"number": 0, "order_number": 1, "date": 2, "amount": 3}


def test_missing_and_duplicate_headers_are_file_errors():
    with pytest.raises(ImportFileError) as e:
        map_headers("customers", ["customer_code", "name"])
    assert "业务员 / rep" in e.value.message
    with pytest.raises(ImportFileError) as e:
        map_headers("customers", ["customer_code", "客户编码", "name", "rep"])
    assert "both mean customer_code" in e.value.message


def test_example_files_parse_with_their_own_headers():
    for kind in ("customers", "orders", "collections"):
        for chinese in (True, False):
            data = example_csv(kind, chinese)
            assert data.startswith(b"\xef\xbb\xbf")
            text, encoding = decode(data)
            parsed = parse_file(kind, text)
            assert encoding == "utf-8-sig" and len(parsed.table.rows) == 2 and not parsed.ignored


# --- cells ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, value", [
    ("2026-03-05", date(2026, 3, 5)), ("2026/3/5", date(2026, 3, 5)), ("2026年3月5日", date(2026, 3, 5)),
    ("2026年03月05日", date(2026, 3, 5)), (" 2026.3.5 ", date(2026, 3, 5)), ("20260305", date(2026, 3, 5)),
    ("2026/3/5 0:00", date(2026, 3, 5)), ("2026-03-05 13:45:00", date(2026, 3, 5)), ("２０２６－０３－０５", date(2026, 3, 5)),
    ("2024-02-29", date(2024, 2, 29)),
    ("46086", date(2026, 3, 5)), ("46357", date(2026, 12, 1)), ("46086.75", date(2026, 3, 5)),  # Excel date numbers
    ("４６０８６", date(2026, 3, 5)),
])
def test_parse_date(raw, value):
    assert parse_date(raw) == value


@pytest.mark.parametrize("raw", ["", "05/03/2026", "3/5/2026", "2026-02-30", "2026-13-01", "2025-02-29", "yesterday",
                                 "12345", "0001-01-01", "2026-3"])
def test_parse_date_refuses_ambiguous_or_impossible_dates(raw):
    with pytest.raises(CellError):
        parse_date(raw)


@pytest.mark.parametrize("raw, cents", [
    ("1234.56", 123456), ("1,234.56", 123456), ("¥1234.56", 123456), ("￥1,234.56", 123456), ("RMB 12", 1200),
    ("12元", 1200), ("1,000,000", 100000000), ("0", 0), ("0.5", 50), (".5", 50), ("7", 700), (" 12.30 ", 1230),
    ("1.230", 123), ("１２３", 12300),
])
def test_parse_amount(raw, cents):
    assert parse_amount(raw) == cents


@pytest.mark.parametrize("raw, message", [
    ("1 234,56", "not an amount"), ("1.234,56", "not an amount"), ("1234,56", "not an amount"), ("12,34", "not an amount"),
    ("1,2345", "not an amount"), ("-5", "negative"), ("¥-5", "negative"), ("-¥5", "negative"), ("1.234", "two decimals"),
    ("nan", "not an amount"), ("inf", "not an amount"), ("1e5", "not an amount"), ("", "not an amount"),
    ("99999999999999999", "too large"),
])
def test_parse_amount_refuses_guesses(raw, message):
    with pytest.raises(CellError) as e:
        parse_amount(raw)
    assert message in e.value.message


def test_zero_amount_may_be_refused():
    with pytest.raises(CellError):
        parse_amount("0.00", allow_zero=False)


@pytest.mark.parametrize("raw, split", [
    ("rep1", [("rep1", 10000)]),
    ("rep1:100", [("rep1", 10000)]),
    ("rep1:60;rep2:40", [("rep1", 6000), ("rep2", 4000)]),
    ("rep1：60；rep2：40", [("rep1", 6000), ("rep2", 4000)]),
    ("rep1:60%; rep2:40%", [("rep1", 6000), ("rep2", 4000)]),
    ("a:33.33;b:33.33;c:33.34", [("a", 3333), ("b", 3333), ("c", 3334)]),
    ("a:50、b:50", [("a", 5000), ("b", 5000)]),
])
def test_parse_split(raw, split):
    assert parse_split(raw) == split


@pytest.mark.parametrize("raw, message", [
    ("", "Name the rep"), ("rep1:60;rep2:30", "add up to 90"), ("rep1:60;rep2", "each rep with a share"),
    ("rep1:60;rep1:40", "twice"), ("rep1:0;rep2:100", "not a share"), ("rep1:x;rep2:40", "not a share"),
    ("rep1:33.333;rep2:66.667", "not a share"), ("rep1:150;rep2:-50", "not a share"),
])
def test_parse_split_refuses(raw, message):
    with pytest.raises(CellError) as e:
        parse_split(raw)
    assert message in e.value.message


# --- planning (no database) -------------------------------------------------------------------------


def _users(*names):
    return {n: {"id": uuid4(), "username": n, "role": "rep", "active": True} for n in names}


def test_plan_customers_create_update_unchanged_and_errors():
    users = _users("ann", "bob")
    users["old"] = {"id": uuid4(), "username": "old", "role": "rep", "active": False}
    users["boss"] = {"id": uuid4(), "username": "boss", "role": "admin", "active": True}
    existing = {"C-1": {"id": uuid4(), "code": "C-1", "name": "One", "owner": users["ann"]["id"], "phone": "1"},
                "C-2": {"id": uuid4(), "code": "C-2", "name": "Two", "owner": users["ann"]["id"], "phone": ""}}
    parsed = parse_file("customers", "code,name,rep,phone\nC-1,One,ann,1\nC-2,Two,bob,\nC-3,Three,ANN,3\n"
                                     "C-4,,ann,\nC-5,Five,old,\nC-6,Six,boss,\nC-3,Again,ann,\n")
    plans = plan_rows(parsed, Lookups(users=users, customers=existing))
    assert [(p.line, p.action) for p in plans] == [(2, "unchanged"), (3, "update"), (4, "create"), (5, "error"),
                                                   (6, "error"), (7, "error"), (8, "error")]
    assert plans[1].changed == ["owner"] and plans[2].values["owner"] == users["ann"]["id"]
    assert plans[3].errors == [("name", "This field is required.")]
    assert "deactivated" in plans[4].errors[0][1] and "No rep has the username “boss”" in plans[5].errors[0][1]
    assert plans[6].errors == [("code", "This key is already in line 4 of the file.")]
    assert counts(plans) == {"create": 1, "update": 1, "unchanged": 1, "skip": 0, "error": 4}


def test_plan_orders_compares_splits_as_a_set_and_keeps_absent_columns():
    users = _users("ann", "bob")
    customer = {"id": uuid4(), "code": "C-1"}
    order = {"id": uuid4(), "number": "SO-1", "customer": customer["id"], "order_date": date(2026, 3, 5),
             "due_date": None, "amount_cents": 10000, "cost_cents": 500, "note": "",
             "splits": frozenset({(users["ann"]["id"], 6000), (users["bob"]["id"], 4000)})}
    lookups = Lookups(users=users, customers={"C-1": customer}, orders={"SO-1": order})
    # No cost column: the stored cost is kept, so the row is unchanged.
    same = parse_file("orders", "订单号,客户编码,日期,金额,业务员\nSO-1,C-1,2026/3/5,100.00,bob:40;ann:60\n")
    assert [p.action for p in plan_rows(same, lookups)] == ["unchanged"]
    moved = parse_file("orders", "订单号,客户编码,日期,金额,业务员\nSO-1,C-1,2026/3/5,100.00,ann:50;bob:50\n")
    plan = plan_rows(moved, lookups)[0]
    assert plan.action == "update" and plan.changed == ["splits"]
    bad_due = parse_file("orders", "订单号,客户编码,日期,到期日,金额,业务员\nSO-2,C-1,2026-03-05,2026-03-01,1,ann\n")
    assert "before the order date" in plan_rows(bad_due, lookups)[0].errors[0][1]


def test_plan_collections_checks_the_cumulative_total_per_order():
    order = {"id": uuid4(), "number": "SO-1", "amount_cents": 10000}
    old = {"id": uuid4(), "number": "RC-1", "sales_order": order["id"], "received_on": date(2026, 3, 1), "amount_cents": 4000}
    lookups = Lookups(orders={"SO-1": order}, collections={"RC-1": old}, collected={order["id"]: 7000})  # RC-1 + 3000 more
    # RC-1 drops from 40 to 10 yuan: room for 60 more (3000 + 1000 + 6000 = 10000), then one fen too many.
    parsed = parse_file("collections", "number,order_number,date,amount\nRC-1,SO-1,2026-03-01,10\n"
                                       "RC-2,SO-1,2026-03-02,60\nRC-3,SO-1,2026-03-03,0.01\n")
    plans = plan_rows(parsed, lookups)
    assert [p.action for p in plans] == ["update", "create", "error"]
    assert "would total" in plans[2].errors[0][1] and plans[2].errors[0][0] == "amount"
