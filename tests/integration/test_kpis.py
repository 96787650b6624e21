"""The KPI catalogue, custom KPIs without code, pace thresholds and the work calendar, on both engines."""

from __future__ import annotations

from datetime import date

from server.targets import actuals, calendar, formulas
from server.targets.tables import Kpi, PaceSetting, WorkCalendar
from tests import factories

DEMO = {"name": "Demo visits", "unit": "count", "direction": "higher", "kind": "sum", "source": "visits",
        "measure": "count", "filter_field": "purpose", "filter_value": "demo", "definition": "Visits to demo."}


def test_everyone_signed_in_reads_the_catalogue(client, world):
    client.login("rep_a1")
    r = client.get("/kpis")
    assert r.status_code == 200
    assert "Revenue" in r.text and "Opportunities won as a percentage" in r.text and "Lower is better" not in r.text
    assert 'action="/kpis"' not in r.text  # no admin form for a rep
    assert client.post_form("/kpis", DEMO).status_code == 403
    assert client.run(Kpi.count().where(Kpi.builtin == False)) == 0  # noqa: E712


def test_admin_adds_a_custom_kpi_that_is_measured(client, world):
    client.login("boss")
    r = client.post_form("/kpis", DEMO)
    assert r.status_code == 303, r.text[:500]
    kpi = client.run(actuals.kpi_by_code("demo_visits"))
    assert kpi and kpi.measurable and kpi.filter_value == "demo" and kpi.label == "Demo visits"
    client.run(factories.visit(world.rep, world.customer))  # follow_up: not counted
    assert client.run(actuals.actuals(kpi, date(2000, 1, 1), date(2100, 1, 1))) == {}
    # The same name again is refused; a Chinese name gets a generated code.
    r = client.post_form("/kpis", {**DEMO, "name": "demo VISITS"})
    assert r.status_code == 422 and "exists already" in r.text
    r = client.post_form("/kpis", {**DEMO, "name": "演示拜访", "filter_value": "follow_up"})
    assert r.status_code == 303
    chinese = client.run(Kpi.select(Kpi.code).where(Kpi.name == "演示拜访").first())
    assert chinese["code"].startswith("kpi_") and len(chinese["code"]) == 12
    r = client.post_form("/kpis", {**DEMO, "name": "Order revenue sum", "source": "orders", "measure": "sum:amount",
                                   "filter_field": "", "filter_value": ""})
    assert r.status_code == 303
    assert client.run(actuals.kpi_by_code("order_revenue_sum")).measurable


def test_custom_kpi_outside_the_whitelist_is_refused(client, world):
    client.login("boss")
    cases = [
        ({"filter_field": "password_hash"}, "filter_field"),
        ({"measure": "sum:password_hash"}, "measure"),
        ({"source": "app_user"}, "source"),
        ({"source": "customers", "measure": "sum:amount"}, "measure"),
        ({"kind": "rate"}, "measure"),  # a rate of a count is meaningless
        ({"filter_field": "satisfaction", "filter_value": "1; DROP TABLE kpi"}, "filter_value"),
        ({"floor": "5"}, "floor"),  # a floor on a higher-is-better KPI
        ({"name": ""}, "name"),
    ]
    for change, field in cases:
        r = client.post_form("/kpis", {**DEMO, **change})
        assert r.status_code == 422, change
        assert f'id="e-{field}"' in r.text or "field-error" in r.text, change
        assert 'value="Demo visits"' in r.text or field == "name"
    assert client.run(Kpi.count().where(Kpi.builtin == False)) == 0  # noqa: E712


def test_edit_deactivate_and_reactivate(client, world):
    client.login("boss")
    client.post_form("/kpis", DEMO)
    kpi = client.run(actuals.kpi_by_code("demo_visits"))
    r = client.post_form(f"/kpis/{kpi.id}", {**DEMO, "name": "Demos", "direction": "lower", "floor": "10"})
    assert r.status_code == 303
    edited = client.run(actuals.kpi_by_code("demo_visits"))
    assert (edited.name, edited.direction, edited.floor) == ("Demos", "lower", 10.0)
    assert client.post_form(f"/kpis/{kpi.id}", {**DEMO, "filter_field": "nope"}).status_code == 422
    revenue = client.run(actuals.kpi_by_code("revenue"))
    assert client.post_form(f"/kpis/{revenue.id}", DEMO).status_code == 403  # built-ins are not edited
    assert client.post_form(f"/kpis/{revenue.id}/active", {"active": "0"}).status_code == 303
    assert client.run(actuals.kpi_by_code("revenue")).active is False
    assert "revenue" not in [k.code for k in client.run(actuals.kpis())]
    assert client.post_form(f"/kpis/{revenue.id}/active", {"active": "1"}).status_code == 303
    assert client.run(actuals.kpi_by_code("revenue")).active is True
    client.login("mgr_a")
    assert client.post_form(f"/kpis/{revenue.id}/active", {"active": "0"}).status_code == 403
    assert client.get(f"/kpis/{kpi.id}").status_code == 403


def test_thresholds_are_validated_and_saved(client, world):
    client.login("boss")
    for bad in ({"on_track_min": "0.8", "at_risk_min": "0.9"}, {"on_track_min": "0.9", "at_risk_min": "0.9"},
                {"on_track_min": "3", "at_risk_min": "0.5"}, {"on_track_min": "abc", "at_risk_min": "0.5"},
                {"on_track_min": "nan", "at_risk_min": "0.5"}, {"on_track_min": "", "at_risk_min": "-1"}):
        r = client.post_form("/kpis/settings", bad)
        assert r.status_code == 422, bad
        assert f'value="{bad["on_track_min"]}"' in r.text
    assert client.run(calendar.thresholds()) == formulas.Thresholds(0.95, 0.8)
    assert client.post_form("/kpis/settings", {"on_track_min": "1.0", "at_risk_min": "0.7"}).status_code == 303
    assert client.run(calendar.thresholds()) == formulas.Thresholds(1.0, 0.7)
    assert client.run(PaceSetting.count()) == 1
    client.login("mgr_a")
    assert client.get("/kpis/settings").status_code == 403
    assert client.post_form("/kpis/settings", {"on_track_min": "1.5", "at_risk_min": "0.7"}).status_code == 403


def test_work_calendar_holidays_and_make_up_days(client, world):
    client.login("boss")
    assert client.post_form("/kpis/settings/calendar", {"day": "2026-10-01", "working": "holiday",
                                                        "note": "National Day"}).status_code == 303
    assert client.post_form("/kpis/settings/calendar", {"day": "2026-10-10", "working": "workday"}).status_code == 303
    r = client.post_form("/kpis/settings/calendar", {"day": "2026-10-01", "working": "holiday"})
    assert r.status_code == 422 and "already" in r.text
    assert client.post_form("/kpis/settings/calendar", {"day": "2026-13-01", "working": "holiday"}).status_code == 422
    overrides = client.run(calendar.calendar_overrides(date(2026, 10, 1), date(2026, 10, 31)))
    assert overrides == {date(2026, 10, 1): False, date(2026, 10, 10): True}
    # October 2026: 22 weekdays, minus the holiday, plus the make-up Saturday.
    assert formulas.working_days(date(2026, 10, 1), date(2026, 10, 31), overrides) == 22
    page = client.get("/kpis/settings")
    assert page.status_code == 200 and "National Day" in page.text
    day_id = client.run(WorkCalendar.select(WorkCalendar.id).where(WorkCalendar.day == date(2026, 10, 1)).first())["id"]
    assert client.post_form(f"/kpis/settings/calendar/{day_id}/delete", {}).status_code == 303
    assert client.post_form(f"/kpis/settings/calendar/{day_id}/delete", {}).status_code == 404
    assert client.run(calendar.calendar_overrides(date(2026, 1, 1), date(2026, 12, 31))) == {date(2026, 10, 10): True}
