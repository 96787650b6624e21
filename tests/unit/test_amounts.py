"""The one amount parser and the one share parser (server/validation.py): hand cases, both locales."""

from __future__ import annotations

import pytest

from server import validation
from server.validation import MAX_CENTS, NumberError, parse_amount, parse_share


@pytest.mark.parametrize("raw, cents", [
    ("1234.56", 123456), ("1,234.56", 123456), ("1,234", 123400), ("1,000,000", 100000000), ("12", 1200),
    ("0", 0), ("0.5", 50), (".5", 50), ("1.230", 123), (" 12.30 ", 1230), ("¥1234.56", 123456),
    ("￥1,234.56", 123456), ("RMB 12", 1200), ("12元", 1200), ("１２３", 12300), ("１，２３４．５", 123450),
    (12, 1200), (12.5, 1250), ("-0", 0), ("100000000000", MAX_CENTS),
])
@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_amounts_read(raw, cents, locale):
    assert parse_amount(raw, locale=locale) == cents


@pytest.mark.parametrize("raw, reason", [
    ("1,2,34", "format"), ("12,34", "format"), ("1234,56", "format"), ("1,2345", "format"), ("1 234,56", "format"),
    ("1.234,56", "format"), ("1e3", "format"), ("1E3", "format"), ("nan", "format"), ("NaN", "format"),
    ("inf", "format"), ("Infinity", "format"), ("1_000", "format"), ("١٢٣", "format"), ("+5", "format"),
    ("abc", "format"), ("", "format"), (None, "format"), (True, "format"), (".", "format"), (",", "format"),
    ("(5)", "format"), ("-5", "negative"), ("¥-5", "negative"), ("-¥5", "negative"), ("1.234", "decimals"),
    ("0.001", "decimals"), ("100000000000.01", "range"), ("99999999999999999999", "range"), ("9" * 40, "range"),
    ("9" * 40 + ".123", "range"),
])
def test_amounts_refused(raw, reason):
    with pytest.raises(NumberError) as e:
        parse_amount(raw, locale="zh_CN")
    assert e.value.reason == reason


def test_zero_may_be_refused():
    assert parse_amount("0") == 0
    with pytest.raises(NumberError) as e:
        parse_amount("0.00", allow_zero=False)
    assert e.value.reason == "zero"


def test_the_cap_fits_a_bigint_times_a_full_share():
    assert MAX_CENTS * validation.FULL_SHARE_BP < 2**63 - 1


@pytest.mark.parametrize("raw, bp", [
    ("60", 6000), ("33.33", 3333), ("100", 10000), ("0.01", 1), ("50%", 5000), ("50 %", 5000), ("６０％", 6000),
    (40, 4000), (12.5, 1250),
])
def test_shares_read(raw, bp):
    assert parse_share(raw) == bp


@pytest.mark.parametrize("raw, reason", [
    ("0", "range"), ("-5", "range"), ("100.01", "range"), ("1,000", "range"), ("33.333", "decimals"),
    ("abc", "format"), ("1e2", "format"), ("nan", "format"), ("", "format"), (None, "format"), (True, "format"),
    ("9" * 40, "range"), ("100.001", "range"),
    ("5,0", "format"),
])
def test_shares_refused(raw, reason):
    with pytest.raises(NumberError) as e:
        parse_share(raw)
    assert e.value.reason == reason


def test_form_fields_give_translated_messages():
    errors: dict = {}
    assert validation.money({"a": "1,234.56"}, "a", errors) == 123456 and not errors
    assert validation.money({"a": ""}, "a", errors) is None and not errors
    assert validation.money({"a": ""}, "a", errors, required=True) is None and "required" in errors["a"]
    for raw, message in (("1,2,34", "such as 1234.56"), ("0", "above zero"), ("1.234", "two decimals"),
                         ("99999999999999999999", "too large"), ("-1", "above zero")):
        errors = {}
        assert validation.money({"a": raw}, "a", errors) is None and message in errors["a"], raw
    errors = {}
    assert validation.money({"a": "-1"}, "a", errors, positive=False) is None and "negative" in errors["a"]
    assert validation.money({"a": "0"}, "a", {}, positive=False) == 0
    errors = {}
    assert validation.share_bp({"p": "60"}, "p", errors) == 6000 and not errors
    for raw, message in (("abc", "such as 60"), ("0", "above 0"), ("33.333", "two decimals")):
        errors = {}
        assert validation.share_bp({"p": raw}, "p", errors) is None and message in errors["p"], raw
