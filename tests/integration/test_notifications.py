"""Alert rules over hand-made data on the real databases, the inbox, feedback, settings and subscriptions."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.notifications import alerts, services
from server.notifications.services import NewNotification
from server.notifications.tables import AlertRule, Notification, PushDelivery, PushSubscription
from tests import factories

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), SHANGHAI).astimezone(UTC)


def rows_for(client, user) -> list[dict]:
    return client.run(Notification.select().where(Notification.recipient == user).order_by(Notification.created_at))


def only(client, *codes: str) -> None:
    """Switch every alert rule off but `codes`."""
    client.run(AlertRule.update({AlertRule.enabled: False}, force=True))
    if codes:
        client.run(AlertRule.update({AlertRule.enabled: True}).where(AlertRule.code.is_in(list(codes))))


# --- The rules, on hand-made data --------------------------------------------------------------

def test_inactivity_tells_the_rep_once_and_each_manager_one_digest(client, world):
    only(client, "inactivity")
    friday = date(2026, 11, 27)
    # rep_a1: last visit Monday the 23rd -> Tue, Wed, Thu, Fri = 4 working days without; rep_a2 visited Thursday.
    client.run(factories.visit(world.rep, world.customer, at(date(2026, 11, 23), 10)))
    client.run(factories.visit(world.other_rep, world.other_customer, at(date(2026, 11, 26), 10)))
    client.run(factories.visit(world.rep_b, world.customer_b, at(date(2026, 11, 27), 9)))
    counts = client.run(alerts.evaluate(at(friday, 19)))
    assert counts["inactivity"] == 1
    mine = rows_for(client, world.rep)
    assert [(n["kind"], json.loads(n["params"])) for n in mine] == [("inactivity", {"days": 4, "last": "2026-11-23"})]
    assert mine[0]["url"] == "/visits/new"
    assert rows_for(client, world.other_rep) == []
    digest = rows_for(client, world.manager)
    assert [d["kind"] for d in digest] == ["inactivity_digest"]
    assert json.loads(digest[0]["params"])["people"] == [{"name": _name(client, world.rep), "days": 4}]
    assert rows_for(client, world.other_manager) == []  # team B has nobody inactive
    # An hour later: nothing new (dedup per rule, subject, period and level).
    again = client.run(alerts.evaluate(at(friday, 20)))
    assert again["created"] == 0
    # With a holiday on Thursday and the threshold at 4, nobody is late any more (Tue, Wed, Fri: 3 working days).
    client.run(AlertRule.update({AlertRule.params: '{"days": 4}'}).where(AlertRule.code == "inactivity"))
    client.run(Notification.delete(force=True))
    from uuid import uuid4

    from server.targets.tables import WorkCalendar
    client.run(WorkCalendar.insert(WorkCalendar(id=uuid4(), day=date(2026, 11, 26), working=False, note="test")))
    assert client.run(alerts.evaluate(at(friday, 19)))["inactivity"] == 0


def _name(client, user_id) -> str:
    from server.accounts.tables import User
    return client.run(User.select(User.display_name).where(User.id == user_id).first())["display_name"]


def test_missing_daily_report_after_the_cut_off_on_working_days(client, world):
    only(client, "missing_report")
    day = date(2026, 11, 27)
    client.run(factories.report(world.other_rep, day, status="submitted"))
    client.run(factories.report(world.rep_b, day, status="draft"))  # a draft is still missing
    assert client.run(alerts.evaluate(at(day, 17, 59)))["missing_report"] == 0
    counts = client.run(alerts.evaluate(at(day, 18, 5)))
    assert counts["missing_report"] == 2
    assert [n["kind"] for n in rows_for(client, world.rep)] == ["missing_report"]
    assert rows_for(client, world.rep)[0]["url"] == "/reports/daily/2026-11-27"
    assert rows_for(client, world.other_rep) == []
    assert [n["kind"] for n in rows_for(client, world.manager)] == ["missing_report_digest"]
    assert [p["name"] for p in json.loads(rows_for(client, world.other_manager)[0]["params"])["people"]] == [
        _name(client, world.rep_b)]
    # Saturday is no working day: nothing is due.
    assert client.run(alerts.evaluate(at(date(2026, 11, 28), 19)))["missing_report"] == 0
    # Reps only, when the admin says so.
    client.run(AlertRule.update({AlertRule.to_manager: False}).where(AlertRule.code == "missing_report"))
    client.run(Notification.delete(force=True))
    client.run(alerts.evaluate(at(day, 18, 5)))
    assert rows_for(client, world.manager) == [] and len(rows_for(client, world.rep)) == 1


def test_anomaly_against_the_reps_own_eight_weeks(client, world):
    only(client, "anomaly")
    friday = date(2026, 11, 27)
    monday = date(2026, 11, 23)
    # Eight previous weeks: rep_a1 makes 5 visits a week, rep_a2 one a week.
    for week in range(1, 9):
        for i in range(5):
            client.run(factories.visit(world.rep, world.customer, at(monday - timedelta(weeks=week) + timedelta(days=i), 10)))
        client.run(factories.visit(world.other_rep, world.other_customer, at(monday - timedelta(weeks=week), 10)))
    # This week: rep_a1 only one visit (median 5, half of 5 expected by Friday evening is 2.5); rep_a2 one (as usual).
    client.run(factories.visit(world.rep, world.customer, at(monday, 10)))
    client.run(factories.visit(world.other_rep, world.other_customer, at(monday, 10)))
    counts = client.run(alerts.evaluate(at(friday, 19)))
    assert counts["anomaly"] == 1
    (n,) = rows_for(client, world.rep)
    assert n["kind"] == "anomaly" and n["period"] == "2026-11-23"
    assert json.loads(n["params"]) == {"measure": "visits", "actual": 1.0, "median": 5.0, "expected": 5.0}
    assert rows_for(client, world.other_rep) == []
    # On Monday evening one visit of an expected 1 (5 x 1/5) is no anomaly.
    client.run(Notification.delete(force=True))
    assert client.run(alerts.evaluate(at(monday, 19)))["anomaly"] == 0


def test_lagging_target_to_the_rep_and_one_team_digest_with_level_changes(client, world):
    only(client, "lagging")
    plan = client.run(factories.plan(2026, targets={"visits": 400.0}, status="approved"))
    client.run(factories.target(plan, "visits", "2026-11", "rep", world.rep, 20.0))
    client.run(factories.target(plan, "visits", "2026-11", "rep", world.other_rep, 20.0))
    for d in range(2, 20):  # rep_a2: a visit each day of the month so far, on track
        client.run(factories.visit(world.other_rep, world.other_customer, at(date(2026, 11, d), 10)))
    for d in (2, 3, 4, 5, 6, 9, 10, 11, 12):  # rep_a1: 9 visits by the 12th...
        client.run(factories.visit(world.rep, world.customer, at(date(2026, 11, d), 10)))
    # Tuesday 3 November: 2 of 21 working days gone, under the 25 % the rule waits for.
    assert client.run(alerts.evaluate(at(date(2026, 11, 3), 19)))["lagging"] == 0
    # Friday the 13th: 10 of 21 working days, 20 x 10/21 = 9.52 expected, 9 done: pace 0.945, at risk.
    client.run(alerts.evaluate(at(date(2026, 11, 13), 19)))
    (first,) = rows_for(client, world.rep)
    p = json.loads(first["params"])
    assert (first["kind"], first["level"], p["status"], p["actual"], p["target"]) == ("lagging", "at_risk", "at_risk", 9.0, 20.0)
    assert round(p["expected"], 2) == 9.52 and round(p["index"], 3) == 0.945
    assert first["url"] == f"/dashboard/explain?kpi=visits&scope=rep:{world.rep}&period=2026-11"
    assert rows_for(client, world.other_rep) == []
    (digest,) = rows_for(client, world.manager)
    assert [x["name"] for x in json.loads(digest["params"])["people"]] == [_name(client, world.rep)]
    # Still at risk on Monday morning: nothing new.
    client.run(alerts.evaluate(at(date(2026, 11, 16), 9)))
    assert len(rows_for(client, world.rep)) == 1 and len(rows_for(client, world.manager)) == 1
    # Thursday the 19th, no more visits: 20 x 14/21 = 13.3 expected, pace 0.675, behind: told once more.
    client.run(alerts.evaluate(at(date(2026, 11, 19), 19)))
    assert [n["level"] for n in rows_for(client, world.rep)] == ["at_risk", "behind"]
    assert len(rows_for(client, world.manager)) == 2  # the digest changed (a worse level)
    client.run(alerts.evaluate(at(date(2026, 11, 19), 20)))
    assert len(rows_for(client, world.rep)) == 2


def test_a_rule_switched_off_says_nothing(client, world):
    only(client)  # nobody has visited anyone: inactivity would find every rep
    client.run(alerts.evaluate(at(date(2026, 11, 27), 19)))
    assert client.run(Notification.count()) == 0
    only(client, "inactivity")
    client.run(alerts.evaluate(at(date(2026, 11, 27), 19)))
    assert client.run(Notification.count()) > 0


# --- Dedup, quiet hours, the inbox ----------------------------------------------------------------

def test_dedup_per_rule_subject_period_and_level(client, world):
    def item(level):
        return NewNotification(world.rep, "test", "lagging", "s", "2026-11", level, {}, "/home")

    assert len(client.run(services.notify([item("at_risk")]))) == 1
    assert client.run(services.notify([item("at_risk")])) == []
    assert len(client.run(services.notify([item("behind"), item("behind")]))) == 1
    assert client.run(Notification.count()) == 2


def test_quiet_hours_hold_pushes_in_each_users_time_zone(client, world):
    urumqi, berlin = world.rep, world.other_rep
    for user, tz in ((urumqi, "Asia/Urumqi"), (berlin, "Europe/Berlin")):
        client.login(_username(client, user))
        r = client.post_form("/notifications/settings", {"timezone": tz, "quiet_start": "22:00", "quiet_end": "07:00",
                                                         "push_lagging": "1"})
        assert r.status_code == 303, r.text
        client.run(factories.subscription(user))
    moment = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)  # 23:30 in Urumqi, 18:30 in Berlin
    made = client.run(services.notify([NewNotification(u, "lagging", "lagging", "x", "p", "behind", {}, "/home")
                                       for u in (urumqi, berlin)], moment))
    assert len(made) == 2
    held = {}
    for d in client.run(PushDelivery.select(PushDelivery.next_attempt_at, PushDelivery.subscription.owner.as_alias("o"))):
        held[d["o"]] = d["next_attempt_at"]
    assert held[urumqi] == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 07:00 in Urumqi
    assert held[berlin] == moment
    # The inbox shows it at once all the same, and a kind turned off is not pushed at all.
    assert len(rows_for(client, urumqi)) == 1
    client.run(services.notify([NewNotification(berlin, "anomaly", "anomaly", "y", "p", "below", {}, "/home")], moment))
    assert client.run(PushDelivery.count()) == 2


def _username(client, user_id) -> str:
    from server.accounts.tables import User
    return client.run(User.select(User.username).where(User.id == user_id).first())["username"]


def test_returned_report_reaches_the_reps_inbox_with_the_comment_and_read_state(client, world):
    report = client.run(factories.report(world.rep, date(2026, 11, 27), status="submitted"))
    client.login("mgr_a")
    r = client.post_form(f"/reports/{report}/return", {"comment": "Add the customer's feedback, please."})
    assert r.status_code in (200, 303), r.text[:300]
    (n,) = rows_for(client, world.rep)
    assert n["kind"] == "report_returned" and n["url"] == f"/reports/{report}"
    client.login("rep_a1")
    home = client.get("/home")
    assert 'data-unread="1"' in home.text
    page = client.get("/inbox")
    assert "returned your report" in page.text and "Add the customer&#39;s feedback, please." in page.text
    # Someone else cannot open (or read) it.
    client.login("rep_a2")
    assert client.get(f"/inbox/{n['id']}/open", follow_redirects=False).status_code == 404
    assert "returned your report" not in client.get("/inbox").text
    client.post_form("/inbox/read-all")
    client.login("rep_a1")
    opened = client.get(f"/inbox/{n['id']}/open", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/reports/{report}"
    assert rows_for(client, world.rep)[0]["read_at"] is not None
    assert "data-unread" not in client.get("/home").text


def test_approval_is_feedback_too_and_mark_all_read(client, world):
    report = client.run(factories.report(world.rep, date(2026, 11, 26), status="submitted"))
    client.run(factories.notification(world.rep))
    client.login("mgr_a")
    client.post_form(f"/reports/{report}/approve", {"comment": ""})
    kinds = sorted(n["kind"] for n in rows_for(client, world.rep))
    assert kinds == ["report_approved", "test"]
    client.login("rep_a1")
    assert 'data-unread="2"' in client.get("/inbox").text
    client.post_form("/inbox/read-all")
    assert all(n["read_at"] is not None for n in rows_for(client, world.rep))


def test_settings_are_validated_and_in_the_users_own_row(client, world):
    client.login("rep_a1")
    bad = client.post_form("/notifications/settings", {"timezone": "Mars/Olympus", "quiet_start": "22:00"})
    assert bad.status_code == 422
    assert "Choose a time zone" in bad.text and "both the start and the end" in bad.text
    assert client.run(services.settings_of(_actor(client, world.rep)))["timezone"] == ""
    ok = client.post_form("/notifications/settings", {"timezone": "Europe/Berlin", "push_feedback": "1"})
    assert ok.status_code == 303
    mine = client.run(services.settings_of(_actor(client, world.rep)))
    assert mine["timezone"] == "Europe/Berlin" and "feedback" not in mine["push_off"] and "lagging" in mine["push_off"]
    assert client.run(services.settings_of(_actor(client, world.other_rep)))["timezone"] == ""


def _actor(client, user_id):
    from server.accounts.permissions import load_actor
    from server.accounts.tables import User
    epoch = client.run(User.select(User.session_epoch).where(User.id == user_id).first())["session_epoch"]
    return client.run(load_actor(str(user_id), epoch))


def test_subscriptions_one_row_per_endpoint_and_only_my_own(client, world):
    client.login("rep_a1")
    body = factories.subscription_body("https://push.example.test/device-1")
    assert client.post_json("/api/v1/push/subscriptions", body).status_code == 200
    body2 = factories.subscription_body("https://push.example.test/device-1")  # re-subscribed: new keys
    assert client.post_json("/api/v1/push/subscriptions", body2).status_code == 200
    rows = client.run(PushSubscription.select())
    assert len(rows) == 1 and rows[0]["p256dh"] == body2["keys"]["p256dh"] and rows[0]["owner"] == world.rep
    bad = client.post_json("/api/v1/push/subscriptions", {"endpoint": "http://example.com/x", "keys": {}})
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"endpoint", "p256dh", "auth"}
    assert client.post_json("/api/v1/push/subscriptions", ["not", "an", "object"]).status_code in (400, 422)
    # Another user signing in on the same browser takes the endpoint over (still one row).
    client.login("rep_a2")
    client.post_json("/api/v1/push/subscriptions", factories.subscription_body("https://push.example.test/device-1"))
    rows = client.run(PushSubscription.select())
    assert len(rows) == 1 and rows[0]["owner"] == world.other_rep
    # rep_a1 cannot turn rep_a2's device off; rep_a2 can.
    client.login("rep_a1")
    assert client.post_form(f"/notifications/devices/{rows[0]['id']}/delete").status_code == 404
    client.login("rep_a2")
    assert "Test browser" not in client.get("/notifications").text
    assert client.post_form(f"/notifications/devices/{rows[0]['id']}/delete").status_code == 303
    assert client.run(PushSubscription.count()) == 0


def test_admin_tunes_a_rule_and_bad_values_are_refused(client, world):
    client.login("boss")
    page = client.get("/admin/alerts")
    assert page.status_code == 200 and "Missing daily report" in page.text
    r = client.post_form("/admin/alerts/anomaly", {"enabled": "1", "to_rep": "1", "fraction": "40"})
    assert r.status_code == 303
    row = client.run(AlertRule.select().where(AlertRule.code == "anomaly").first())
    assert json.loads(row["params"]) == {"fraction": 0.4} and row["to_manager"] is False or row["to_manager"] == 0
    bad = client.post_form("/admin/alerts/missing_report", {"enabled": "1", "cutoff": "25:00"})
    assert bad.status_code == 422 and "A time like 18:00." in bad.text
    assert client.post_form("/admin/alerts/nope", {"enabled": "1"}).status_code == 404


def test_lagging_counts_the_money_the_board_counts_returns_and_voids(client, world):
    """The lagging rule reads the boards' own figures (`pace.compute` over `actuals`): a return recorded
    later puts a rep behind, a voided order no longer keeps a rep on pace, a corrected receipt counts as
    corrected."""
    from server.accounts.permissions import load_actor
    from server.sales import corrections, returns

    only(client, "lagging")
    run = client.run
    admin = run(load_actor(str(world.admin)))
    plan = run(factories.plan(2026, targets={"revenue": 200000.0}, status="approved"))
    for rep in (world.rep, world.other_rep):
        run(factories.target(plan, "revenue", "2026-11", "rep", rep, 10000.0))
    run(factories.target(plan, "collections", "2026-11", "rep", world.rep, 10000.0))
    kept = run(factories.order(world.customer, {world.rep: 10000}, amount=6000, day=date(2026, 11, 2)))
    paid = run(factories.order(world.customer, {world.rep: 10000}, amount=6000, day=date(2026, 10, 20)))
    receipt = run(factories.collection(paid, 6000, day=date(2026, 11, 5)))
    run(factories.order(world.other_customer, {world.other_rep: 10000}, amount=1000, day=date(2026, 11, 3)))
    voided = run(factories.order(world.other_customer, {world.other_rep: 10000}, amount=5000, day=date(2026, 11, 4)))
    # Friday the 13th: 10 of 21 working days, 10000 x 10/21 = 4761.90 expected; both reps at 6000 revenue
    # (rep_a1 6000 collected too), on pace.
    friday = at(date(2026, 11, 13), 19)
    assert run(alerts.evaluate(friday))["lagging"] == 0
    # A return of 2500 dated the 12th and the other rep's 5000 order voided: 3500 and 1000, both behind.
    run(returns.record_return(admin, kept, amount_cents=250000, margin_cents=None, return_date=date(2026, 11, 12),
                              reason="Damaged in transit"))
    assert run(corrections.void_order(admin, voided, {"reason": "Entered twice"}))
    # And the receipt of 6000 corrected to 2000 on the 12th: collections 2000, behind too.
    run(corrections.correct_collection(admin, receipt, {"amount": "2000", "corrected_on": "2026-11-12",
                                                        "reason": "Bank returned part"}))
    assert run(alerts.evaluate(friday))["lagging"] == 3
    found = {}
    for rep in (world.rep, world.other_rep):
        for n in rows_for(client, rep):
            p = json.loads(n["params"])
            found[(rep, p["kpi"])] = (n["level"], round(p["actual"], 2))
    assert found == {(world.rep, "revenue"): ("behind", 3500.0), (world.rep, "collections"): ("behind", 2000.0),
                     (world.other_rep, "revenue"): ("behind", 1000.0)}


def test_weekly_order_counts_leave_voided_orders_out(client, world):
    """The anomaly rule's order counts read the same live order splits as the boards."""
    from server.accounts.permissions import load_actor
    from server.sales import corrections

    run = client.run
    monday = date(2026, 11, 23)
    run(factories.order(world.customer, {world.rep: 10000}, amount=100, day=monday))
    void = run(factories.order(world.customer, {world.rep: 10000}, amount=100, day=monday))
    assert run(alerts.weekly_counts(monday, monday))["orders"][world.rep] == {0: 2.0}
    run(corrections.void_order(run(load_actor(str(world.admin))), void, {"reason": "Cancelled"}))
    assert run(alerts.weekly_counts(monday, monday))["orders"][world.rep] == {0: 1.0}
