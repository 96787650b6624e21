"""The rep's home puts today's work first: today's visits, the report due and the follow-ups due, then the
month's KPI cards; the day is written the locale's way."""

from __future__ import annotations

from datetime import timedelta

from server import clock, i18n
from tests import factories


def test_todays_work_comes_before_the_kpi_cards(client, world):
    client.run(factories.visit(world.rep, world.customer, outcome="Met the buyer"))
    client.login("rep_a1")
    page = client.get("/home", headers={"Accept-Language": "zh-CN"}).text
    order = [page.find(marker) for marker in (
        'class="todays-visits"', 'class="card today-report"', 'class="card todays-plan"', 'class="card my-pace"')]
    assert -1 not in order, order
    assert order == sorted(order), "today's visits, the report, the plan, then the KPI cards"
    assert "Met the buyer" in page[order[0]:order[1]]
    assert _day("zh_CN") in page


def test_the_day_in_english(client, world):
    client.login("rep_a1")
    page = client.get("/home", headers={"Accept-Language": "en"}).text
    assert _day("en") in page
    assert _day("en", clock.today() - timedelta(days=1)) not in page


def _day(locale: str, day=None) -> str:
    token = i18n.set_locale(locale)
    try:
        return i18n.fmt_day_long(day or clock.today())
    finally:
        i18n._locale.reset(token)
