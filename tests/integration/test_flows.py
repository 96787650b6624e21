"""The main flows through HTTP: sign in, log a visit, write, return, resubmit and approve a report."""

from __future__ import annotations

import re
from uuid import uuid4

from server import clock
from server.reports.tables import Report, ReportEvent
from server.visits.tables import Visit
from tests import factories


def test_healthz_checks_the_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}


def test_anonymous_is_sent_to_sign_in(client):
    r = client.get("/home", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/home"


def test_wrong_password_is_refused_with_a_message(client, world):
    r = client.post_form("/login", {"username": "rep_a1", "password": "nope"})
    assert r.status_code == 400
    assert "Wrong username or password." in r.text
    assert 'value="rep_a1"' in r.text  # what the user typed stays in the form


def test_login_is_rate_limited(client, world):
    for _ in range(5):
        assert client.post_form("/login", {"username": "rep_a1", "password": "bad"}).status_code == 400
    r = client.post_form("/login", {"username": "rep_a1", "password": factories.PASSWORD})
    assert r.status_code == 429
    assert "Too many failed sign-ins" in r.text


def test_deactivated_user_cannot_sign_in(client):
    client.run(factories.user("rep", username="gone", active=False))
    r = client.post_form("/login", {"username": "gone", "password": factories.PASSWORD})
    assert r.status_code == 400


def test_open_redirect_after_login_is_refused(client, world):
    r = client.post_form("/login", {"username": "rep_a1", "password": factories.PASSWORD, "next": "//evil.example"})
    assert r.headers["location"] == "/"


def test_rep_logs_a_visit_and_sees_it_on_home(client, world):
    client.login("rep_a1")
    form = client.get(f"/visits/new?customer={world.customer}")
    assert form.status_code == 200
    vid = re.search(r'name="id" value="([0-9a-f-]{36})"', form.text).group(1)
    r = client.post_form("/visits", {
        "id": vid, "customer": str(world.customer), "purpose": "demo",
        "checkin_at": clock.to_local_input(clock.now()), "latitude": "31.2304", "longitude": "121.4737",
        "accuracy_m": "12", "outcome": "Showed the new model", "next_step": "Send quote", "satisfaction": "4",
    })
    assert r.status_code == 303 and r.headers["location"] == "/home"
    home = client.get("/home")
    assert "Acme Shanghai" in home.text and "Visit saved." in home.text
    row = client.run(Visit.select().where(Visit.id == vid).first())
    assert row["latitude"] == 31.2304 and row["satisfaction"] == 4 and row["visit_date"] == clock.today()


def test_visit_without_location_is_allowed_and_marked(client, world):
    client.login("rep_a1")
    r = client.post_form("/visits", {"id": str(uuid4()), "customer": str(world.customer), "purpose": "follow_up"})
    assert r.status_code == 303
    assert "no location" in client.get("/home").text


def test_same_visit_twice_is_one_visit(client, world):
    client.login("rep_a1")
    body = {"id": str(uuid4()), "customer": str(world.customer), "purpose": "follow_up", "outcome": "x"}
    assert client.post_form("/visits", body).status_code == 303
    assert client.post_form("/visits", body).status_code == 303
    assert client.run(Visit.count().where(Visit.id == body["id"])) == 1


def test_bad_visit_keeps_what_was_typed_and_explains(client, world):
    client.login("rep_a1")
    r = client.post_form("/visits", {
        "id": str(uuid4()), "customer": "", "purpose": "demo", "outcome": "A long talk about pricing",
        "satisfaction": "9", "checkin_at": "not a date",
    })
    assert r.status_code == 422
    assert "Choose the customer you visited." in r.text
    assert "Enter a date and time." in r.text
    assert "A long talk about pricing" in r.text


def test_rep_cannot_log_a_visit_for_another_reps_customer(client, world):
    client.login("rep_a1")
    r = client.post_form("/visits", {"id": str(uuid4()), "customer": str(world.other_customer), "purpose": "demo"})
    assert r.status_code == 422
    assert "Choose one of your customers." in r.text


def test_rep_adds_a_customer_in_the_field_and_goes_on_to_the_visit(client, world):
    client.login("rep_a1")
    cid = str(uuid4())
    r = client.post_form("/customers", {"id": cid, "name": "Delta Hangzhou", "phone": "13800000000", "next": "visit"})
    assert r.status_code == 303 and r.headers["location"] == f"/visits/new?customer={cid}"
    assert "Delta Hangzhou" in client.get(r.headers["location"]).text
    found = client.get("/customers/pick?q=delta")
    assert "Delta Hangzhou" in found.text


def test_customer_search_only_finds_own_customers(client, world):
    client.login("rep_a1")
    r = client.get("/customers?q=a", headers={"hx-request": "true"})
    assert "Acme Shanghai" in r.text and "Beta Suzhou" not in r.text and "<html" not in r.text


def _report_form(client, day):
    page = client.get(f"/reports/daily/{day.isoformat()}")
    assert page.status_code == 200
    return re.search(r'name="id" value="([0-9a-f-]{36})"', page.text).group(1), page


def test_report_is_prefilled_from_the_days_visits(client, world):
    client.run(factories.visit(world.rep, world.customer, outcome="Agreed on a trial"))
    client.login("rep_a1")
    _rid, page = _report_form(client, clock.today())
    assert "Acme Shanghai" in page.text and "Agreed on a trial" in page.text


def test_report_return_resubmit_approve(client, world):
    today = clock.today()
    client.login("rep_a1")
    rid, _ = _report_form(client, today)
    base = {"id": rid, "kind": "daily", "period_start": today.isoformat(), "summary": "Two visits", "plan": "Call Acme"}
    r = client.post_form("/reports", {**base, "action": "save"})
    assert r.status_code == 303
    r = client.post_form("/reports", {**base, "action": "submit"})
    assert r.status_code == 303 and r.headers["location"] == f"/reports/{rid}"

    client.login("mgr_a")
    queue = client.get("/manager/queue")
    assert f"/reports/{rid}" in queue.text
    r = client.post_form(f"/reports/{rid}/return", {"comment": ""})
    assert r.status_code == 422 and "a comment is required" in r.text
    r = client.post_form(f"/reports/{rid}/return", {"comment": "Add the order amount"})
    assert r.status_code == 303

    client.login("rep_a1")
    page = client.get(f"/reports/daily/{today.isoformat()}")
    assert "Add the order amount" in page.text
    r = client.post_form("/reports", {**base, "results": "Order of 20,000", "action": "submit"})
    assert r.status_code == 303

    client.login("mgr_a")
    r = client.post_form(f"/reports/{rid}/approve", {"comment": ""})
    assert r.status_code == 303
    detail = client.get(f"/reports/{rid}")
    assert "Approved" in detail.text
    actions = [e["action"] for e in client.run(ReportEvent.select(ReportEvent.action).where(ReportEvent.report == rid).order_by(ReportEvent.at))]
    assert actions == ["created", "submitted", "returned", "resubmitted", "approved"]


def test_editing_an_approved_report_is_a_conflict_that_keeps_the_text(client, world):
    today = clock.today()
    rid = client.run(factories.report(world.rep, today, status="approved"))
    client.login("rep_a1")
    r = client.post_form("/reports", {"id": str(rid), "kind": "daily", "period_start": today.isoformat(),
                                      "summary": "My late edit", "action": "submit"})
    assert r.status_code == 409
    assert "My late edit" in r.text and "approved this report meanwhile" in r.text
    assert client.run(Report.select(Report.summary).where(Report.id == rid).first())["summary"] == "Visited two customers"


def test_weekly_report_keys_on_monday(client, world):
    client.login("rep_a1")
    monday = clock.week_start(clock.today())
    page = client.get(f"/reports/weekly/{clock.today().isoformat()}")
    assert f'name="period_start" value="{monday.isoformat()}"' in page.text


def test_manager_cannot_decide_another_teams_report(client, world):
    rid = client.run(factories.report(world.rep_b))
    client.login("mgr_a")
    assert client.post_form(f"/reports/{rid}/approve", {}).status_code == 404


def test_missing_reports_are_listed_for_the_manager(client, world):
    from datetime import timedelta

    client.run(factories.report(world.rep, clock.today() - timedelta(days=1)))
    client.login("mgr_a")
    page = client.get("/manager/queue")
    missing = page.text.split("No daily report for", 1)[1]
    # Team A has two reps; one reported yesterday, so exactly the other one is listed.
    assert missing.count("<li>") == 1


def test_chinese_from_accept_language_and_user_setting(client, world):
    client.login("rep_a1")
    r = client.get("/home", headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert r.headers["content-language"] == "zh-CN"
    # The page's text is Chinese, a plural message (ngettext in the template) too.
    assert re.search(r"今日 \d+ 次拜访", r.text) and "Sign out" not in r.text, r.text[:2000]
    r = client.post_form("/settings/language", {"locale": "en"})
    assert r.status_code == 303
    r = client.get("/home", headers={"accept-language": "zh-CN"})
    assert r.headers["content-language"] == "en"
    assert re.search(r"\d+ visits? today", r.text) and "Sign out" in r.text and "次拜访" not in r.text


def test_csrf_is_required(client, world):
    client.login("rep_a1")
    r = client.post("/visits", data={"customer": str(world.customer)}, follow_redirects=False)
    assert r.status_code == 403
    r = client.post("/api/v1/visits", json={"customer": str(world.customer)})
    assert r.status_code == 403


def test_a_password_reset_ends_the_users_sessions(client, world):
    client.login("rep_a1")
    stolen = dict(client.cookies)  # the same cookie in another browser is the same session
    assert client.get("/home").status_code == 200
    client.login("boss")
    r = client.post_form(f"/admin/users/{world.rep}/password", {"password": "a-new-password-1"})
    assert r.status_code == 303
    client.cookies.clear()
    client.cookies.update(stolen)
    r = client.get("/home", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_changing_ones_own_password_keeps_this_session(client, world):
    client.login("rep_a1")
    r = client.post_form("/settings/password", {"current_password": factories.PASSWORD,
                                                "password": "another-pass-9", "password_again": "another-pass-9"})
    assert r.status_code == 303
    assert client.get("/home", follow_redirects=False).status_code == 200


def test_a_service_worker_prefetch_keeps_the_flash_and_sets_no_cookie(client, world):
    # The service worker fetches offline pages while the rep works (web/sw.js cachePages). Such a fetch
    # must neither take the flash of the form just posted nor write an older session cookie back.
    client.login("rep_a1")
    form = client.get(f"/visits/new?customer={world.customer}")
    vid = re.search(r'name="id" value="([0-9a-f-]{36})"', form.text).group(1)
    r = client.post_form("/visits", {"id": vid, "customer": str(world.customer), "purpose": "demo",
                                     "checkin_at": clock.to_local_input(clock.now())})
    assert r.status_code == 303
    prefetched = client.get("/reports", headers={"X-Fieldpace-Prefetch": "1"})
    assert prefetched.status_code == 200 and "Visit saved." not in prefetched.text
    assert "set-cookie" not in prefetched.headers
    home = client.get("/home")
    assert "Visit saved." in home.text
    assert "set-cookie" in home.headers  # an ordinary page still writes the session (the flash taken out)
