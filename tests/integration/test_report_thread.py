"""A report's thread, read receipt and the manager's next-in-queue, on both engines."""

from __future__ import annotations

import json
from datetime import timedelta
from uuid import uuid4

from server import clock, i18n
from server.notifications.tables import Notification
from server.reports.tables import ReportRead, ReportReply
from tests import factories


def notes(client, user) -> list[dict]:
    return client.run(Notification.select().where(
        (Notification.recipient == user) & (Notification.kind == "report_reply")))


def test_the_rep_and_the_manager_reply_and_each_is_told(client, world):
    rid = client.run(factories.report(world.rep, clock.today(), status="submitted"))
    client.login("rep_a1")
    r = client.post_form(f"/reports/{rid}/replies", {"body": "Added the amounts in the plan."})
    assert r.status_code == 303 and r.headers["location"] == f"/reports/{rid}#thread"
    client.login("mgr_a")
    page = client.get(f"/reports/{rid}")
    assert "Added the amounts in the plan." in page.text
    r = client.post_form(f"/reports/{rid}/replies", {"body": "Thanks, looks good."})
    assert r.status_code == 303
    # The manager heard of the rep's reply, the rep of the manager's, each once; nobody of their own.
    to_manager, to_rep = notes(client, world.manager), notes(client, world.rep)
    assert len(to_manager) == 1 and len(to_rep) == 1
    assert json.loads(to_rep[0]["params"])["body"] == "Thanks, looks good."
    assert to_rep[0]["url"] == f"/reports/{rid}#thread"
    assert not notes(client, world.other_manager)
    client.login("rep_a1")
    inbox = client.get("/inbox").text
    assert "replied under the report" in inbox and "Thanks, looks good." in inbox
    thread = client.get(f"/reports/{rid}").text
    assert thread.index("Added the amounts in the plan.") < thread.index("Thanks, looks good.")


def test_who_may_reply(client, world):
    rid = client.run(factories.report(world.rep, clock.today(), status="submitted"))
    for outsider in ("rep_a2", "mgr_b", "rep_b1"):
        client.login(outsider)
        assert client.post_form(f"/reports/{rid}/replies", {"body": "Let me in"}).status_code == 404, outsider
        assert client.get(f"/reports/{rid}").status_code == 404, outsider
    client.login("boss")
    assert client.post_form(f"/reports/{rid}/replies", {"body": "Admin note"}).status_code == 303
    assert client.run(ReportReply.count().where(ReportReply.report == rid)) == 1
    client.login("rep_a1")
    assert client.post_form(f"/reports/{uuid4()}/replies", {"body": "Nothing here"}).status_code == 404


def test_an_empty_or_too_long_reply_is_refused_and_the_text_kept(client, world):
    rid = client.run(factories.report(world.rep, clock.today(), status="submitted"))
    client.login("rep_a1")
    r = client.post_form(f"/reports/{rid}/replies", {"body": "   "})
    assert r.status_code == 422 and "Write your reply first." in r.text
    long = "很长" * 1001
    r = client.post_form(f"/reports/{rid}/replies", {"body": long}, headers={"accept-language": "zh-CN"})
    assert r.status_code == 422 and long in r.text and 'id="e-reply"' in r.text
    assert client.run(ReportReply.count()) == 0


def test_the_rep_sees_when_the_manager_read_the_report(client, world):
    rid = client.run(factories.report(world.rep, clock.today(), status="submitted"))
    client.login("rep_a1")
    assert "Not read by your manager yet." in client.get(f"/reports/{rid}").text
    # Neither a service-worker prefetch nor another team's manager (404) counts as the manager reading it.
    client.login("mgr_a")
    assert client.get(f"/reports/{rid}", headers={"x-fieldpace-prefetch": "1"}).status_code == 200
    assert client.run(ReportRead.count()) == 0
    client.login("mgr_b")
    assert client.get(f"/reports/{rid}").status_code == 404
    assert client.run(ReportRead.count()) == 0
    client.login("mgr_a")
    client.get(f"/reports/{rid}")
    first = client.run(ReportRead.select().first())
    client.get(f"/reports/{rid}")  # opened again: the receipt keeps the first time
    assert client.run(ReportRead.count()) == 1
    client.login("rep_a1")
    shown = client.get(f"/reports/{rid}").text
    when = i18n.fmt_datetime(first["read_at"])
    assert f"Read by {world_manager_name(client, world)} at {when}" in shown
    zh = client.get(f"/reports/{rid}", headers={"accept-language": "zh-CN"})
    assert "已于" in zh.text and "阅读" in zh.text


def test_a_resubmitted_report_is_read_anew(client, world):
    day = clock.today() - timedelta(days=1)
    client.login("rep_a1")
    r = client.post_form("/reports", {"id": str(uuid4()), "kind": "daily", "period_start": day.isoformat(),
                                      "summary": "First go", "action": "submit"})
    assert r.status_code == 303
    rid = r.headers["location"].rsplit("/", 1)[1]
    client.login("mgr_a")
    client.get(f"/reports/{rid}")
    assert client.post_form(f"/reports/{rid}/return", {"comment": "Add amounts"}).status_code == 303
    client.login("rep_a1")
    r = client.post_form("/reports", {"id": rid, "kind": "daily", "period_start": day.isoformat(),
                                      "summary": "Second go, with amounts", "action": "submit"})
    assert r.status_code == 303
    assert "Not read by your manager yet." in client.get(f"/reports/{rid}").text
    client.login("mgr_a")
    client.get(f"/reports/{rid}")
    assert client.run(ReportRead.count()) == 2


def test_after_a_decision_the_manager_goes_to_the_next_report(client, world):
    now = clock.today()
    oldest = client.run(factories.report(world.rep, now - timedelta(days=3), status="submitted"))
    middle = client.run(factories.report(world.other_rep, now - timedelta(days=2), status="submitted"))
    client.run(factories.report(world.rep_b, now - timedelta(days=1), status="submitted"))  # another team's
    client.login("mgr_a")
    r = client.post_form(f"/reports/{oldest}/approve", {"comment": ""})
    assert r.status_code == 303 and r.headers["location"] == f"/reports/{middle}"
    page = client.get(r.headers["location"])
    assert "Report approved. Here is the next one." in page.text
    r = client.post_form(f"/reports/{middle}/return", {"comment": "More detail"})
    assert r.status_code == 303 and r.headers["location"] == "/manager/queue"
    assert "No more reports are waiting for review." in client.get("/manager/queue").text
    # htmx (the decision form on a tablet): the same target through HX-Redirect.
    again = client.run(factories.report(world.rep, now - timedelta(days=4), status="submitted"))
    nxt = client.run(factories.report(world.rep, now - timedelta(days=5), status="submitted"))
    r = client.post_form(f"/reports/{again}/approve", {"comment": ""}, headers={"hx-request": "true"})
    assert r.status_code == 200 and r.headers["hx-redirect"] == f"/reports/{nxt}"


def world_manager_name(client, world) -> str:
    from server.accounts.tables import User

    return client.run(User.select(User.display_name).where(User.id == world.manager).first())["display_name"]
