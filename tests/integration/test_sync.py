"""The sync protocol over HTTP: exactly-once pushes, ordering, bad payloads, ownership, pulls by cursor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from server import clock
from server.customers.tables import Customer
from server.reports.tables import Report
from server.syncing.tables import Device
from server.visits.tables import Visit
from sync.protocol import MAX_BATCH, PROTOCOL_VERSION, SCHEMA_VERSION
from tests import factories


def envelope(device, mutations, **extra):
    return {"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION, "device_id": str(device),
            "sent_at": datetime.now(UTC).isoformat(), "mutations": mutations, **extra}


def visit_mutation(seq, customer, record_id=None, **payload):
    return {"seq": seq, "kind": "visit.create", "record_id": str(record_id or uuid4()),
            "client_time": datetime.now(UTC).isoformat(),
            "payload": {"customer": str(customer), "purpose": "follow_up", "outcome": f"visit {seq}", **payload}}


def push(client, device, mutations, **extra):
    r = client.post_json("/api/v1/sync/push", envelope(device, mutations, **extra))
    assert r.status_code == 200, r.text
    return r.json()


def statuses(reply):
    return [(r["seq"], r["status"]) for r in reply["results"]]


def test_push_applies_in_order_and_replay_is_all_duplicates(client, world):
    client.login("rep_a1")
    device = uuid4()
    batch = [visit_mutation(i, world.customer) for i in range(1, 6)]
    first = push(client, device, batch)
    assert statuses(first) == [(i, "applied") for i in range(1, 6)] and first["last_seq"] == 5
    # The reply was lost: the device sends the same batch again.
    again = push(client, device, batch)
    assert statuses(again) == [(i, "duplicate") for i in range(1, 6)]
    assert client.run(Visit.count().where(Visit.rep == world.rep)) == 5
    assert client.run(Device.select(Device.last_seq).where(Device.id == device).first())["last_seq"] == 5


def test_reordered_batches_wait_for_the_gap(client, world):
    client.login("rep_a1")
    device = uuid4()
    early, late = [visit_mutation(i, world.customer) for i in (1, 2)], [visit_mutation(i, world.customer) for i in (3, 4)]
    assert statuses(push(client, device, late)) == [(3, "retry"), (4, "retry")]
    assert statuses(push(client, device, early)) == [(1, "applied"), (2, "applied")]
    assert statuses(push(client, device, late)) == [(3, "applied"), (4, "applied")]
    assert client.run(Visit.count().where(Visit.rep == world.rep)) == 4


def test_a_form_post_and_its_queued_copy_make_one_visit(client, world):
    client.login("rep_a1")
    vid = uuid4()
    client.post_form("/visits", {"id": str(vid), "customer": str(world.customer), "purpose": "demo"})
    reply = push(client, uuid4(), [visit_mutation(1, world.customer, record_id=vid)])
    assert statuses(reply) == [(1, "duplicate")]
    assert client.run(Visit.count().where(Visit.id == vid)) == 1


def test_bad_mutations_are_rejected_one_by_one_and_the_rest_applies(client, world):
    client.login("rep_a1")
    device = uuid4()
    mutations = [
        visit_mutation(1, world.customer),
        {"seq": 2, "kind": "visit.teleport", "record_id": str(uuid4()), "payload": {}},
        {"seq": 3, "kind": "visit.create", "record_id": "not-a-uuid", "payload": {}},
        {"seq": 4, "kind": "visit.create", "record_id": str(uuid4()), "payload": "a string"},
        visit_mutation(5, world.customer, satisfaction=11),
        visit_mutation(6, world.other_customer),  # another rep's customer
        visit_mutation(7, world.customer),
    ]
    reply = push(client, device, mutations)
    assert statuses(reply) == [(1, "applied"), (2, "rejected"), (3, "rejected"), (4, "rejected"),
                               (5, "rejected"), (6, "rejected"), (7, "applied")]
    by_seq = {r["seq"]: r for r in reply["results"]}
    assert "satisfaction" in by_seq[5]["errors"] and "customer" in by_seq[6]["errors"]
    assert client.run(Visit.count().where(Visit.rep == world.rep)) == 2
    assert reply["last_seq"] == 7  # rejected ones are processed: the queue does not jam


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b"[]", 400),
    (json.dumps({"protocol": 1, "schema": 1, "device_id": "x", "mutations": []}).encode(), 400),
    (json.dumps({"protocol": 1, "schema": 1, "device_id": str(uuid4()), "mutations": {}}).encode(), 400),
    (json.dumps({"protocol": 1, "schema": 1, "device_id": str(uuid4()), "mutations": [{"seq": "1"}]}).encode(), 400),
    (json.dumps({"protocol": 1, "schema": 1, "device_id": str(uuid4()),
                 "mutations": [{"seq": 1}, {"seq": 1}]}).encode(), 400),
    (json.dumps({"protocol": 1, "schema": 1, "device_id": str(uuid4()),
                 "mutations": [{"seq": i + 1} for i in range(MAX_BATCH + 1)]}).encode(), 413),
])
def test_unreadable_pushes_are_4xx_problems(client, world, body, status):
    client.login("rep_a1")
    r = client.post("/api/v1/sync/push", content=body,
                    headers={"x-csrftoken": client.csrf(), "content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_old_client_is_told_to_update_and_nothing_is_applied(client, world):
    client.login("rep_a1")
    reply = push(client, uuid4(), [visit_mutation(1, world.customer)], protocol=0)
    assert reply["status"] == "update_required"
    assert client.run(Visit.count()) == 0


def test_another_users_device_is_refused(client, world):
    device = uuid4()
    client.login("rep_a1")
    push(client, device, [visit_mutation(1, world.customer)])
    client.login("rep_a2")
    r = client.post_json("/api/v1/sync/push", envelope(device, [visit_mutation(2, world.other_customer)]))
    assert r.status_code == 403
    assert client.run(Visit.count().where(Visit.rep == world.other_rep)) == 0


def test_a_rep_cannot_overwrite_another_reps_records_or_server_fields(client, world):
    their_visit = client.run(factories.visit(world.other_rep, world.other_customer))
    their_report = client.run(factories.report(world.other_rep, status="draft"))
    client.login("rep_a1")
    reply = push(client, uuid4(), [
        visit_mutation(1, world.customer, record_id=their_visit),
        {"seq": 2, "kind": "report.save", "record_id": str(their_report),
         "payload": {"kind": "daily", "period_start": clock.today().isoformat(), "summary": "mine now"}},
        {"seq": 3, "kind": "customer.create", "record_id": str(world.other_customer), "payload": {"name": "Stolen"}},
        {"seq": 4, "kind": "report.save", "record_id": str(uuid4()),
         "payload": {"kind": "daily", "period_start": clock.today().isoformat(), "summary": "ok",
                     "status": "approved", "manager_comment": "self-approved"}},
    ])
    assert statuses(reply) == [(1, "rejected"), (2, "rejected"), (3, "rejected"), (4, "applied")]
    assert client.run(Report.select(Report.summary).where(Report.id == their_report).first())["summary"] != "mine now"
    assert client.run(Customer.select(Customer.name).where(Customer.id == world.other_customer).first())["name"] == "Beta Suzhou"
    mine = client.run(Report.select(Report.status, Report.manager_comment).where(Report.rep == world.rep).first())
    assert mine == {"status": "draft", "manager_comment": ""}


def test_report_edited_offline_after_approval_is_a_kept_conflict(client, world):
    today = clock.today().isoformat()
    client.login("rep_a1")
    rid = uuid4()
    device = uuid4()
    save = {"kind": "daily", "period_start": today, "summary": "First text", "submit": True}
    push(client, device, [{"seq": 1, "kind": "report.save", "record_id": str(rid), "payload": save}])
    client.login("mgr_a")
    client.post_json(f"/api/v1/reports/{rid}/decision", {"decision": "approve"})
    client.login("rep_a1")
    reply = push(client, device, [{"seq": 2, "kind": "report.save", "record_id": str(rid),
                                   "payload": {**save, "summary": "Edited in the basement"}}])
    assert statuses(reply) == [(2, "conflict")]
    assert "approved" in reply["results"][0]["errors"][""]
    assert client.run(Report.select(Report.summary).where(Report.id == rid).first())["summary"] == "First text"


def test_customer_then_visit_in_one_push(client, world):
    client.login("rep_a1")
    cid = uuid4()
    reply = push(client, uuid4(), [
        {"seq": 1, "kind": "customer.create", "record_id": str(cid), "payload": {"name": "Field Find Ltd"}},
        visit_mutation(2, cid),
    ])
    assert statuses(reply) == [(1, "applied"), (2, "applied")]


def test_clock_skew_is_kept_and_flagged(client, world):
    client.login("rep_a1")
    ahead = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    vid = uuid4()
    reply = push(client, uuid4(), [visit_mutation(1, world.customer, record_id=vid)], sent_at=ahead)
    assert reply["clock_skew_flagged"] is True and 1700 < reply["clock_skew_s"] < 1900
    row = client.run(Visit.select(Visit.clock_skew_s, Visit.received_at, Visit.device_time).where(Visit.id == vid).first())
    assert 1700 < row["clock_skew_s"] < 1900 and row["received_at"] is not None and row["device_time"] is not None


def test_pull_pages_by_cursor_and_sees_only_own_data(client, world):
    for _ in range(5):
        client.run(factories.visit(world.rep, world.customer))
    client.run(factories.visit(world.other_rep, world.other_customer))
    client.login("rep_a1")
    seen, cursor, pages = [], 0, 0
    while True:
        body = client.get("/api/v1/sync/pull", params={"cursor": cursor, "limit": 2}).json()
        pages += 1
        seen += body["changes"]
        assert body["cursor"] >= cursor
        cursor = body["cursor"]
        if not body["more"]:
            break
    kinds = sorted(c["type"] for c in seen)
    assert kinds == ["customer"] + ["visit"] * 5 and pages == 3
    assert all(c["data"].get("rep", world.rep) == str(world.rep) or c["type"] == "customer" for c in seen)
    assert client.get("/api/v1/sync/pull", params={"cursor": cursor}).json()["changes"] == []
    # A change after the cursor shows up, and a deleted draft comes as a deletion marker.
    client.post_json("/api/v1/reports", {"id": str(uuid4()), "kind": "daily", "period_start": clock.today().isoformat(), "summary": "d"})
    after = client.get("/api/v1/sync/pull", params={"cursor": cursor}).json()
    assert [c["type"] for c in after["changes"]] == ["report"]
    rid = after["changes"][0]["id"]
    assert client.post_form(f"/reports/{rid}/delete").status_code == 303
    gone = client.get("/api/v1/sync/pull", params={"cursor": after["cursor"]}).json()
    assert [(c["type"], c["op"], c["id"]) for c in gone["changes"]] == [("report", "delete", rid)]


def test_anonymous_push_is_401_and_asks_to_sign_in(client, world):
    r = client.post("/api/v1/sync/push", json=envelope(uuid4(), []), headers={"x-csrftoken": client.csrf()})
    assert r.status_code == 401


def test_manager_sees_the_clock_skew_flag(client, world):
    client.login("rep_a1")
    behind = (datetime.now(UTC) - timedelta(minutes=20)).isoformat()
    vid = uuid4()
    push(client, uuid4(), [visit_mutation(1, world.customer, record_id=vid)], sent_at=behind)
    client.login("mgr_a")
    assert "Phone clock off by 20 min" in client.get(f"/visits/{vid}").text
    assert "Phone clock off by" in client.get("/team/visits").text
