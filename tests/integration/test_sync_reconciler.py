"""The reconciler's one path under faults and races, on SQLite and PostgreSQL.

- An unexpected failure inside one mutation's handler (prepare or apply) is that mutation's `rejected`;
  the rest of the batch applies and the device's last_seq moves on (the queue never jams).
- A transient database fault is never a rejection: the push answers 503 and nothing is applied.
- Two pushes at once with the same new visit or customer id, or the first daily report of a day from two
  devices, give `applied` for one and `duplicate` (or `rejected`) for the other, never a 500.
- A push whose schema is newer than the server's is answered `update_required` and not applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from server import clock
from server.accounts.permissions import load_actor
from server.customers.tables import Customer
from server.reports.tables import Report
from server.syncing import handlers, services
from server.syncing.tables import Device
from server.visits.tables import Visit
from sync.protocol import PROTOCOL_VERSION, SCHEMA_VERSION, decode_push
from tests.integration.test_sync import push, statuses, visit_mutation

TRIALS = 20


@contextlib.contextmanager
def faulty(kind: str, stage: str, poison: set[str], error: Exception):
    """The real handler of `kind`, made to raise `error` for the poisoned record ids in `stage`."""
    real = handlers.HANDLERS[kind]

    def prepare(actor, items):
        if stage == "prepare" and any(str(rid) in poison for rid, _p, _a in items):
            raise error
        return real.prepare(actor, items)

    def apply(actor, prepared):
        if stage == "apply" and any(not hasattr(p, "status") and str(p[0]["id"]) in poison for p in prepared):
            raise error
        return (yield from real.apply(actor, prepared))

    handlers.HANDLERS[kind] = handlers.Handler(kind, prepare, apply)
    try:
        yield
    finally:
        handlers.HANDLERS[kind] = real


@pytest.mark.parametrize("stage", ["prepare", "apply"])
def test_an_unexpected_failure_rejects_that_mutation_only(client, world, stage, caplog):
    client.login("rep_a1")
    device = uuid4()
    batch = [visit_mutation(i, world.customer) for i in range(1, 6)]
    poisoned = batch[2]["record_id"]
    with faulty("visit.create", stage, {poisoned}, RuntimeError("a bug in a handler")), \
            caplog.at_level(logging.ERROR, logger="server.syncing.services"):
        reply = push(client, device, batch)
    assert statuses(reply) == [(1, "applied"), (2, "applied"), (3, "rejected"), (4, "applied"), (5, "applied")]
    assert reply["last_seq"] == 5 and reply["results"][2]["errors"]
    assert any(poisoned in r.getMessage() and "seq 3" in r.getMessage() for r in caplog.records), \
        "the failure is logged with its record id and seq"
    assert client.run(Visit.count().where(Visit.rep == world.rep)) == 4
    # The queue moves on: the next mutation of the same device applies.
    assert statuses(push(client, device, [visit_mutation(6, world.customer)])) == [(6, "applied")]


def test_text_the_database_cannot_store_is_rejected_and_the_rest_applies(client, world):
    """A lone surrogate cannot be encoded for either database: the driver fails inside the run."""
    client.login("rep_a1")
    device = uuid4()
    body = json.dumps({"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION, "device_id": str(device),
                       "sent_at": datetime.now(UTC).isoformat(),
                       "mutations": [visit_mutation(1, world.customer), visit_mutation(2, world.customer, outcome="x\ud800"),
                                     visit_mutation(3, world.customer)]})
    r = client.post("/api/v1/sync/push", content=body.encode("utf-8", "surrogatepass"),
                    headers={"x-csrftoken": client.csrf(), "content-type": "application/json"})
    assert r.status_code == 200, r.text
    reply = r.json()
    assert [s for _q, s in statuses(reply)] == ["applied", "rejected", "applied"] and reply["last_seq"] == 3
    assert statuses(push(client, device, [visit_mutation(4, world.customer)])) == [(4, "applied")]


def test_a_transient_fault_is_a_retry_of_the_whole_push_never_a_rejection(client, world):
    client.login("rep_a1")
    device = uuid4()
    batch = [visit_mutation(i, world.customer) for i in range(1, 4)]
    with faulty("visit.create", "apply", {batch[1]["record_id"]}, sqlite3.OperationalError("database is locked")):
        r = client.post_json("/api/v1/sync/push", {"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION,
                                                   "device_id": str(device), "mutations": batch})
    assert r.status_code == 503 and r.headers.get("retry-after") == "5"
    assert client.run(Visit.count().where(Visit.rep == world.rep)) == 0
    assert client.run(Device.select(Device.last_seq).where(Device.id == device).first()) in (None, {"last_seq": 0})
    assert statuses(push(client, device, batch)) == [(1, "applied"), (2, "applied"), (3, "applied")]


def test_a_newer_schema_is_update_required_for_the_server_and_nothing_applies(client, world):
    client.login("rep_a1")
    device = uuid4()
    r = client.post_json("/api/v1/sync/push", {"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION + 1,
                                               "device_id": str(device), "mutations": [visit_mutation(1, world.customer)]})
    assert r.status_code == 200
    assert r.json()["status"] == "update_required" and r.json()["update"] == "server"
    assert client.run(Visit.count().where(Visit.rep == world.rep)) == 0
    assert client.run(Device.count().where(Device.id == device)) == 0


# ------------------------------------------------------------------------------------------- races


def _request(device, mutations):
    return decode_push(json.dumps({"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION, "device_id": str(device),
                                   "sent_at": datetime.now(UTC).isoformat(), "mutations": mutations}).encode())


async def _race(first, second):
    """Two pushes at once, each a service call on a connection of its own (PostgreSQL's pool; SQLite's
    writer queue serializes them, as in production)."""
    (actor_a, req_a), (actor_b, req_b) = first, second
    replies = await asyncio.gather(services.push(actor_a, req_a), services.push(actor_b, req_b))
    return sorted(r["results"][0]["status"] for r in replies)


def test_two_pushes_of_the_same_new_visit_at_once(client, world):
    async def trials():
        rep, other = await load_actor(str(world.rep)), await load_actor(str(world.other_rep))
        outcomes = []
        for _ in range(TRIALS):
            vid = uuid4()
            same_user = await _race((rep, _request(uuid4(), [visit_mutation(1, world.customer, record_id=vid)])),
                                    (rep, _request(uuid4(), [visit_mutation(1, world.customer, record_id=vid)])))
            vid2 = uuid4()
            two_users = await _race(
                (rep, _request(uuid4(), [visit_mutation(1, world.customer, record_id=vid2)])),
                (other, _request(uuid4(), [visit_mutation(1, world.other_customer, record_id=vid2)])))
            count = await Visit.count().where(Visit.id.is_in([vid, vid2]))
            outcomes.append((same_user, two_users, count))
        return outcomes

    for same_user, two_users, count in client.run(trials()):
        assert same_user == ["applied", "duplicate"]
        assert two_users == ["applied", "rejected"]
        assert count == 2


def test_two_pushes_of_the_same_new_customer_at_once(client, world):
    def mutation(cid, name):
        return {"seq": 1, "kind": "customer.create", "record_id": str(cid), "payload": {"name": name}}

    async def trials():
        rep, other = await load_actor(str(world.rep)), await load_actor(str(world.other_rep))
        outcomes = []
        for n in range(TRIALS):
            cid, cid2 = uuid4(), uuid4()
            same_user = await _race((rep, _request(uuid4(), [mutation(cid, f"Race {n}")])),
                                    (rep, _request(uuid4(), [mutation(cid, f"Race {n}")])))
            two_users = await _race((rep, _request(uuid4(), [mutation(cid2, f"Race b{n}")])),
                                    (other, _request(uuid4(), [mutation(cid2, f"Race b{n}")])))
            outcomes.append((same_user, two_users, await Customer.count().where(Customer.id.is_in([cid, cid2]))))
        return outcomes

    for same_user, two_users, count in client.run(trials()):
        assert same_user == ["applied", "duplicate"]
        assert two_users == ["applied", "rejected"]
        assert count == 2


def test_the_first_daily_report_of_a_day_from_two_devices_at_once(client, world):
    from server.accounts.tables import User

    def mutation(rid, summary):
        return {"seq": 1, "kind": "report.save", "record_id": str(rid),
                "payload": {"kind": "daily", "period_start": clock.today().isoformat(), "summary": summary}}

    async def trials():
        outcomes = []
        for n in range(TRIALS):
            # A fresh rep each trial: the first report of their day.
            uid = uuid4()
            await User.insert(User(id=uid, username=f"racer{n}", display_name=f"Racer {n}", password_hash="x",
                                   role="rep", team=world.team_a, active=True, locale="", created_at=clock.now()))
            rep = await load_actor(str(uid))
            text = f"Day of racer {n}"
            got = await _race((rep, _request(uuid4(), [mutation(uuid4(), text)])),
                              (rep, _request(uuid4(), [mutation(uuid4(), text)])))
            rows = await Report.select(Report.summary).where(Report.rep == uid)
            outcomes.append((got, rows))
        return outcomes

    for got, rows in client.run(trials()):
        assert got == ["applied", "duplicate"]
        assert len(rows) == 1 and rows[0]["summary"].startswith("Day of racer")
