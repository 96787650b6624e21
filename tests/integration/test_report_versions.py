"""Draft conflicts: a report edited on two devices. Each save names the version (and revision) it was
based on; a different text saved on top of a version it has not seen is a `conflict` that keeps both
texts visible, never a silent overwrite; the same text is not a conflict. Forms and sync alike."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from uuid import uuid4

from server import clock
from server.reports.tables import Report
from sync.protocol import PROTOCOL_VERSION, SCHEMA_VERSION


def push(client, device, mutations):
    body = {"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION, "device_id": str(device),
            "sent_at": datetime.now(UTC).isoformat(), "mutations": mutations}
    r = client.post_json("/api/v1/sync/push", body)
    assert r.status_code == 200, r.text
    return r.json()


def save(seq, rid, summary, **base):
    return {"seq": seq, "kind": "report.save", "record_id": str(rid),
            "payload": {"kind": "daily", "period_start": clock.today().isoformat(), "summary": summary,
                        "revision": str(uuid4()), **base}}


def hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, name
    return html.unescape(m.group(1))


def form_fields(page: str) -> dict:
    return {name: hidden(page, name) for name in ("id", "kind", "period_start", "status", "base_version",
                                                   "base_revision", "revision")}


def stored(client, rid=None):
    query = Report.select(Report.summary, Report.version, Report.revision)
    return client.run((query.where(Report.id == rid) if rid else query).first())


def test_a_form_based_on_an_old_version_is_a_conflict_showing_both_texts(client, world):
    client.login("rep_a1")
    day = clock.today().isoformat()
    first = client.post_form("/reports", {"id": str(uuid4()), "kind": "daily", "period_start": day,
                                          "summary": "Morning text", "action": "save", "base_revision": ""})
    assert first.status_code == 303
    page = client.get(f"/reports/daily/{day}").text
    fields = form_fields(page)
    assert fields["base_version"] == "1" and fields["base_revision"]
    # The phone saves a new text meanwhile, based on version 1.
    reply = push(client, uuid4(), [save(1, fields["id"], "Phone text", base_version=1,
                                        base_revision=fields["base_revision"])])
    assert [r["status"] for r in reply["results"]] == ["applied"]
    assert stored(client)["version"] == 2
    # The laptop's form, still on version 1, saves a different text: a conflict, nothing overwritten.
    r = client.post_form("/reports", {**fields, "summary": "Laptop text", "action": "save"})
    assert r.status_code == 409
    assert "Laptop text" in r.text and 'data-theirs="summary">Phone text' in r.text
    assert stored(client)["summary"] == "Phone text"
    # Saving the conflict form again keeps the rep's text: it is now based on the version they saw.
    again = form_fields(r.text)
    assert again["base_version"] == "2"
    ok = client.post_form("/reports", {**again, "summary": "Laptop text", "action": "save"})
    assert ok.status_code == 303
    assert stored(client)["summary"] == "Laptop text" and stored(client)["version"] == 3


def test_the_same_text_on_an_old_version_is_not_a_conflict(client, world):
    client.login("rep_a1")
    day = clock.today().isoformat()
    client.post_form("/reports", {"id": str(uuid4()), "kind": "daily", "period_start": day, "summary": "Same",
                                  "action": "save", "base_revision": ""})
    fields = form_fields(client.get(f"/reports/daily/{day}").text)
    push(client, uuid4(), [save(1, fields["id"], "Same words", base_version=1, base_revision=fields["base_revision"])])
    r = client.post_form("/reports", {**fields, "summary": "Same words", "action": "save"})
    assert r.status_code == 303
    # Submitting the same text from the stale form goes through too: nothing would be lost.
    r = client.post_form("/reports", {**fields, "summary": "Same words", "action": "submit"})
    assert r.status_code == 303
    assert client.run(Report.select(Report.status).first())["status"] == "submitted"


def test_two_devices_saving_a_draft_over_sync(client, world):
    client.login("rep_a1")
    rid = uuid4()
    a, b = uuid4(), uuid4()
    created = push(client, a, [save(1, rid, "v1", base_revision="")])
    assert [r["status"] for r in created["results"]] == ["applied"]
    base = {"base_version": 1, "base_revision": str(stored(client, rid)["revision"])}
    assert [r["status"] for r in push(client, a, [save(2, rid, "from A", **base)])["results"]] == ["applied"]
    reply = push(client, b, [save(1, rid, "from B", **base)])
    [result] = reply["results"]
    assert result["status"] == "conflict" and result["errors"][""]
    assert reply["last_seq"] == 1  # processed: the queue moves on
    assert stored(client, rid)["summary"] == "from A"
    # B's next save of the same text as A's is not a conflict.
    assert [r["status"] for r in push(client, b, [save(2, rid, "from A", **base)])["results"]] == ["duplicate"]
    # B chooses "keep mine": saved again on top of the version it has now seen (pulled).
    pulled = client.get("/api/v1/sync/pull", params={"cursor": 0}).json()["changes"]
    theirs = [c["data"] for c in pulled if c["type"] == "report"][0]
    assert theirs["version"] == 2 and theirs["summary"] == "from A"
    mine = save(3, rid, "from B", base_version=theirs["version"], base_revision=theirs["revision"])
    assert [r["status"] for r in push(client, b, [mine])["results"]] == ["applied"]
    assert stored(client, rid)["summary"] == "from B"


def test_saves_queued_one_after_another_on_one_device_do_not_conflict(client, world):
    client.login("rep_a1")
    rid = uuid4()
    first = save(1, rid, "first draft", base_revision="")
    second = save(2, rid, "second draft", base_version=1, base_revision=first["payload"]["revision"])
    third = save(3, rid, "third draft", base_version=2, base_revision=second["payload"]["revision"])
    reply = push(client, uuid4(), [first, second, third])
    assert [r["status"] for r in reply["results"]] == ["applied"] * 3
    assert stored(client, rid)["summary"] == "third draft" and stored(client, rid)["version"] == 3


def test_the_first_report_of_a_day_from_two_devices(client, world):
    """Both phones started today's report offline (based on no version): the second text is a conflict."""
    client.login("rep_a1")
    one = push(client, uuid4(), [save(1, uuid4(), "phone one", base_revision="")])
    two = push(client, uuid4(), [save(1, uuid4(), "phone two", base_revision="")])
    assert [r["status"] for r in one["results"]] == ["applied"]
    assert [r["status"] for r in two["results"]] == ["conflict"]
    assert stored(client)["summary"] == "phone one"


def test_a_save_naming_no_base_keeps_working(client, world):
    """Old clients and JSON callers that send no base: last write wins, as before."""
    client.login("rep_a1")
    rid = str(uuid4())
    body = {"id": rid, "kind": "daily", "period_start": clock.today().isoformat(), "summary": "one"}
    assert client.post_json("/api/v1/reports", body).status_code == 200
    assert client.post_json("/api/v1/reports", {**body, "summary": "two"}).json()["outcome"] == "saved"
    r = client.post_json("/api/v1/reports", {**body, "summary": "three", "base_version": 1})
    assert r.status_code == 409  # based on version 1, the report is at 2
    assert client.post_json("/api/v1/reports", {**body, "summary": "three", "base_version": 2}).status_code == 200
    assert client.post_json("/api/v1/reports", {**body, "base_version": "x"}).status_code == 422
    assert client.post_json("/api/v1/reports", {**body, "base_revision": "nope"}).status_code == 422
