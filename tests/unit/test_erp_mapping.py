"""The pure half of ERP imports: the column mapping (guess, resolve, saved form), total rows, line-level
roll-up, signed amounts, rep and customer matching, returns planning. No database."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from server.imports.columns import (
    Mapping,
    MappingIncomplete,
    guess_mapping,
    header_signature,
    resolve_mapping,
)
from server.imports.parsing import (
    CellError,
    ImportFileError,
    cents_text,
    parse_signed_amount,
    total_marker,
)
from server.imports.planning import Lookups, counts, parse_red, plan_rows
from server.imports.records import parse_file

K3 = ["单据编号", "日期", "客户编码", "客户名称", "业务员", "价税合计", "金额", "税额", "毛利", "源单编号", "红蓝字"]


def test_guess_maps_k3_headers_and_jin_e_is_excluding_tax_beside_jia_shui_he_ji():
    mapping = guess_mapping("orders", K3)
    assert mapping.columns == {"number": "单据编号", "date": "日期", "customer_code": "客户编码", "customer_name": "客户名称",
                               "reps": "业务员", "amount": "价税合计", "amount_excl": "金额", "tax": "税额",
                               "margin": "毛利", "original": "源单编号", "red": "红蓝字"}
    # Without 价税合计, 金额 is the order's amount.
    assert guess_mapping("orders", ["订单号", "金额"]).columns == {"number": "订单号", "amount": "金额"}
    # U8 and 云星空 names, and a receipt file.
    assert guess_mapping("orders", ["单据号", "单据日期", "无税金额", "本位币税额"]).columns == {
        "number": "单据号", "date": "单据日期", "amount_excl": "无税金额", "tax": "本位币税额"}
    assert guess_mapping("collections", ["单据编号", "日期", "源单编号", "收款金额", "客户"]).columns == {
        "number": "单据编号", "date": "日期", "order_number": "源单编号", "amount": "收款金额"}


def test_resolve_a_saved_mapping_against_a_file_in_another_column_order():
    mapping = Mapping(columns={"number": "凭证号", "date": "日期", "customer_code": "往来单位编码", "reps": "经手人",
                               "amount": "应收合计", "note": "不在文件里"}, line_level=True)
    index, written, ignored = resolve_mapping("orders", ["应收合计", "凭证号", "经手人", "往来单位编码", "日期", "摘要"], mapping)
    assert index == {"number": 1, "customer_code": 3, "date": 4, "amount": 0, "reps": 2}
    assert written["amount"] == "应收合计" and ignored == ["摘要"]
    assert Mapping.loads(mapping.dumps()) == mapping
    assert Mapping.loads("not json") is None and Mapping.loads('{"columns": 3}') is None
    with pytest.raises(ImportFileError) as e:
        resolve_mapping("orders", ["a", "b"], Mapping(columns={"number": "a", "amount": "a"}))
    assert "is chosen for both" in e.value.message


def test_signature_ignores_order_case_and_width():
    assert header_signature(["单据编号", "Amount ", "ＤＡＴＥ"]) == header_signature(["date", "amount", "单据编号"])
    assert header_signature(["a", "b"]) != header_signature(["a", "b", "c"])


def test_an_unmapped_required_column_is_reported_by_group():
    with pytest.raises(MappingIncomplete) as e:
        parse_file("orders", "凭证号,日期\nX,2026-01-01\n")
    assert ("number",) in e.value.missing and ("customer_code", "customer_name") in e.value.missing
    assert ("amount", "amount_excl") in e.value.missing and "客户编码 / customer_code or 客户名称 / customer_name" in e.value.message


@pytest.mark.parametrize("cells, key, marker", [
    (["合计", "", "1,000.00"], "", "合计"), (["", "总 计:", "5"], "", "总 计:"), (["小计", "x"], "小计", "小计"),
    (["Total", ""], None, "Total"), (["SO-1", "合计"], "SO-1", None), (["SO-1", "100"], "SO-1", None),
])
def test_total_rows(cells, key, marker):
    assert total_marker(cells, key) == marker


@pytest.mark.parametrize("raw, cents", [
    ("-1,234.56", -123456), ("(1,234.56)", -123456), ("¥-5", -500), ("－１２", -1200), ("1,234.56", 123456), ("0", 0),
])
def test_signed_amounts(raw, cents):
    assert parse_signed_amount(raw) == cents
    assert parse_signed_amount(cents_text(cents)) == cents


@pytest.mark.parametrize("raw", ["--5", "1-2", "(5", "abc"])
def test_signed_amounts_refuse_guesses(raw):
    with pytest.raises(CellError):
        parse_signed_amount(raw)


def test_red_flag():
    assert parse_red("红字") and parse_red(" 红 ") and not parse_red("蓝字") and not parse_red("")
    with pytest.raises(CellError):
        parse_red("紫")


def _lookups():
    ann = {"id": uuid4(), "username": "ann", "role": "rep", "active": True, "display_name": "张伟", "erp_code": "Z001"}
    bob = {"id": uuid4(), "username": "bob", "role": "rep", "active": True, "display_name": "李娜", "erp_code": ""}
    twin = {"id": uuid4(), "username": "bob2", "role": "rep", "active": True, "display_name": "李娜", "erp_code": ""}
    kh1 = {"id": uuid4(), "code": "KH001", "name": "上海华东"}
    kh2 = {"id": uuid4(), "code": "KH002", "name": "苏州湖鲜"}
    return Lookups(users={u["username"]: u for u in (ann, bob, twin)}, customers={"KH001": kh1, "KH002": kh2},
                   today=date(2026, 6, 30)), ann, kh1, kh2


def test_line_level_roll_up_sums_amounts_fills_blanks_and_flags_disagreement():
    lookups, ann, kh1, _kh2 = _lookups()
    text = ("单据编号,日期,客户编码,业务员,价税合计,金额,毛利\n"
            "S1,2026-06-01,KH001,Z001,\"1,130.00\",\"1,000.00\",200\n"
            "S1,,,,113.00,100.00,20.50\n"
            "S2,2026-06-02,KH001,张伟,10,9,1\n"
            "S2,2026-06-03,KH001,张伟,10,9,1\n"
            "合计,,,,\"1,263.00\",,\n")
    parsed = parse_file("orders", text, Mapping(columns=guess_mapping("orders", text.split("\n")[0].split(",")).columns,
                                                line_level=True))
    plans = plan_rows(parsed, lookups)
    assert [(p.line, p.action, p.lines) for p in plans] == [(2, "create", [2, 3]), (4, "error", [4, 5]), (6, "skip", [6])]
    s1 = plans[0].values
    assert (s1["amount_cents"], s1["amount_cents"] - s1["cost_cents"], s1["customer"]) == (124_300, 22_050, kh1["id"])
    assert s1["splits"] == frozenset({(ann["id"], 10_000)})
    assert "Line 5 says “2026-06-03”, line 4 “2026-06-02”" in plans[1].errors[0][1]
    assert counts(plans) == {"create": 1, "update": 0, "unchanged": 0, "skip": 1, "error": 1}


def test_reps_and_customers_are_matched_by_code_name_or_full_width_code():
    lookups, ann, kh1, kh2 = _lookups()
    text = ("订单号,日期,客户编码,客户名称,业务员,价税合计\n"
            "A,2026-06-01,ＫＨ００２,,ann,1\n"         # full-width code, username
            "B,2026-06-01,,上海华东,Z001,1\n"         # name only, ERP code
            "C,2026-06-01,,,张伟,1\n"                 # no customer
            "D,2026-06-01,KH001,,李娜,1\n"            # two reps share the name
            "E,2026-07-01,KH001,,ann,1\n")            # after today
    plans = plan_rows(parse_file("orders", text), lookups)
    assert plans[0].values["customer"] == kh2["id"] and plans[1].values["customer"] == kh1["id"]
    assert plans[1].values["splits"] == frozenset({(ann["id"], 10_000)})
    assert plans[2].errors == [("客户编码", "This field is required.")]
    assert "2 reps are named “李娜”" in plans[3].errors[0][1]
    assert plans[4].errors == [("日期", "This date is in the future.")]


def test_negative_and_red_orders_are_returns_checked_against_their_order():
    lookups, _ann, _kh1, _kh2 = _lookups()
    old = {"id": uuid4(), "number": "OLD", "amount_cents": 50_000, "order_date": date(2026, 5, 1), "customer": None,
           "voided_at": None}
    lookups.orders = {"OLD": old}
    lookups.returned = {old["id"]: 20_000}
    lookups.returns = {"R-DONE": {"id": uuid4(), "number": "R-DONE", "sales_order": old["id"], "amount_cents": 100}}
    text = ("单据编号,日期,客户编码,业务员,价税合计,毛利,源单编号,红蓝字\n"
            "S1,2026-06-01,KH001,ann,1000,300,,\n"
            "R1,2026-06-02,KH001,ann,-400,-120,S1,\n"      # a return of an order in this file
            "R2,2026-06-03,KH001,,250,50,S1,红字\n"        # 红字 with positive amounts; no rep needed
            "R3,2026-06-03,KH001,ann,-400,,S1,\n"          # more than is left of S1 (1000 - 400 - 250)
            "R4,2026-06-03,KH001,ann,-300.01,,OLD,\n"      # more than is left of OLD (500 - 200)
            "R5,2026-06-03,KH001,ann,-1,,,\n"              # names no order
            "R-DONE,2026-06-03,KH001,ann,-1,,OLD,\n"       # recorded already: unchanged
            "R6,2026-04-30,KH001,ann,-1,,OLD,\n")          # before its order
    plans = plan_rows(parse_file("orders", text), lookups)
    actions = [(p.key, p.action) for p in plans]
    assert actions == [("S1", "create"), ("R1", "create"), ("R2", "create"), ("R3", "error"), ("R4", "error"),
                       ("R5", "error"), ("R-DONE", "unchanged"), ("R6", "error")]
    r1, r2 = plans[1].values, plans[2].values
    assert (r1["return"], r1["original"], r1["amount_cents"], r1["margin_cents"]) == (True, "S1", 40_000, 12_000)
    assert (r2["amount_cents"], r2["margin_cents"], r2["return_date"]) == (25_000, 5_000, date(2026, 6, 3))
    assert "Only CN¥350.00 of this order is left" in plans[3].errors[0][1]
    assert "Only CN¥300.00 of this order is left" in plans[4].errors[0][1]
    assert "map the column naming the order it returns" in plans[5].errors[0][1]
    assert "cannot be dated before its order" in plans[7].errors[0][1]
