"""Dates, weekdays, percentages, money and KPI values in the locale's own forms (server/i18n.py), and the
one KPI value formatter shared by dashboards, the home and notifications."""

from __future__ import annotations

from datetime import date

import pytest

from server import i18n
from server.notifications import messages

DAY = date(2026, 12, 2)  # a Wednesday


@pytest.fixture
def locale():
    def use(code: str) -> None:
        tokens.append(i18n.set_locale(code))

    tokens: list = []
    yield use
    for token in reversed(tokens):
        i18n._locale.reset(token)


def test_a_day_with_its_weekday(locale):
    locale("zh_CN")
    assert i18n.fmt_day_long(DAY) == "2026年12月2日 星期三"
    locale("en")
    assert i18n.fmt_day_long(DAY) == "Wednesday, December 2, 2026"
    assert i18n.fmt_day_long(None) == ""


@pytest.mark.parametrize("code", ["zh_CN", "en"])
def test_percentages_have_no_space_before_the_sign(locale, code):
    locale(code)
    assert i18n.fmt_percent(21) == "21%"
    assert i18n.fmt_percent(34.56, 1) == "34.6%"
    assert i18n.fmt_percent(1234) == "1,234%"
    assert i18n.fmt_share(0.213) == "21%"
    assert i18n.fmt_share(None) == "–"


def test_kpi_values_in_their_units(locale):
    locale("zh_CN")
    assert i18n.fmt_value(123456.5, "money") == "¥123,456.50"
    assert i18n.fmt_value(35.2, "percent") == "35.2%"
    assert i18n.fmt_value(12.0, "count") == "12"
    assert i18n.fmt_value(12.5, "count") == "12.5"
    assert i18n.fmt_value(4.756, "score") == "4.76"
    assert i18n.fmt_value(None, "money") == "–"
    locale("en")
    assert i18n.fmt_value(123456.5, "money") == "CN¥123,456.50"


def test_notifications_say_values_as_the_dashboards_do(locale):
    """messages.render formats through i18n.fmt_value / fmt_share: the same text as the dashboard shows."""
    params = {"kpi": "revenue", "builtin": True, "status": "behind", "unit": "money", "actual": 123456.5,
              "expected": 234567.0, "target": 500000.0, "elapsed": 0.47, "index": 0.53}
    for code in ("zh_CN", "en"):
        locale(code)
        _title, body = messages.render("lagging", params)
        for part in (i18n.fmt_value(123456.5, "money"), i18n.fmt_value(500000.0, "money"), i18n.fmt_share(0.47),
                     i18n.fmt_share(0.53)):
            assert part in body, (code, part, body)
        assert " %" not in body
    assert not hasattr(messages, "_value")
