"""Poison values: whatever a client sends, the answer is a per-mutation `rejected` (sync) or a 4xx (form,
JSON API), never a 500, and the device's queue moves on: its last_seq advances and its next mutation
applies. Runs on SQLite and, when configured, PostgreSQL (where a NUL byte, a lone surrogate or a
32-bit overflow would otherwise reach the driver)."""

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
from sync.protocol import MAX_BODY_BYTES, MAX_MUTATION_BYTES, PROTOCOL_VERSION, SCHEMA_VERSION, TEXT_CAPS

# A JSON token written into a body as is (NaN, a 400-digit integer, a lone surrogate escape...).
RAW = "\u2063RAW\u2063"
DEEP = "[" * 5000 + "]" * 5000


def raw_json(body, token: str | None) -> bytes:
    """`body` as JSON with the string RAW replaced by `token`, unquoted."""
    text = json.dumps(body)
    return (text.replace(json.dumps(RAW), token) if token is not None else text).encode()


def envelope(device, mutations, **extra):
    return {"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION, "device_id": str(device),
            "sent_at": datetime.now(UTC).isoformat(), "mutations": mutations, **extra}


def post_raw(client, url, content: bytes):
    return client.post(url, content=content, headers={"x-csrftoken": client.csrf(), "content-type": "application/json"})


def visit_payload(world, **fields):
    return {"customer": str(world.customer), "purpose": "follow_up", "outcome": "fine", **fields}


def report_payload(**fields):
    return {"kind": "daily", "period_start": clock.today().isoformat(), "summary": "fine", **fields}


def customer_payload(**fields):
    return {"name": "Delta Hangzhou", **fields}


# (kind, field, value as JSON text or a Python value, expected error field or None for "any")
POISON = [
    ("visit.create", "checkin_at", "0001-01-01T00:00", "checkin_at"),
    ("visit.create", "checkin_at", "9999-12-31T23:59:59+14:00", "checkin_at"),
    ("visit.create", "checkin_at", "9999-12-31T23:59:59-14:00", "checkin_at"),
    ("visit.create", "checkin_at", "1999-12-31T23:00+00:00", "checkin_at"),
    ("visit.create", "checkout_at", "0001-01-01T00:00:00-14:00", "checkout_at"),
    ("visit.create", "next_step_date", "9999-12-31", "next_step_date"),
    ("visit.create", "latitude", ("1" * 400, "raw"), "latitude"),
    ("visit.create", "latitude", ("-" + "9" * 5000, "raw"), "latitude"),
    ("visit.create", "latitude", ("NaN", "raw"), "latitude"),
    ("visit.create", "latitude", ("Infinity", "raw"), "latitude"),
    ("visit.create", "latitude", ("1e400", "raw"), "latitude"),
    ("visit.create", "latitude", "nan", "latitude"),
    ("visit.create", "latitude", "1" * 400, "latitude"),
    ("visit.create", "satisfaction", "5" * 400, "satisfaction"),
    ("visit.create", "accuracy_m", "inf", "accuracy_m"),
    ("visit.create", "outcome", ('"bad \\ud800 text"', "raw"), "outcome"),
    ("visit.create", "outcome", ('"\\udfff"', "raw"), "outcome"),
    ("visit.create", "outcome", "nul \x00 byte", "outcome"),
    ("visit.create", "outcome", {"an": "object"}, "outcome"),
    ("visit.create", "outcome", ["a", "list"], "outcome"),
    ("visit.create", "outcome", (DEEP, "raw"), "outcome"),
    ("visit.create", "outcome", "x" * 5001, "outcome"),
    ("visit.create", "purpose", ["demo"], "purpose"),
    ("visit.create", "customer", {"id": "x"}, "customer"),
    ("customer.create", "name", "Acme\x00", "name"),
    ("customer.create", "address", ('"\\ud83d"', "raw"), "address"),
    ("customer.create", "phone", {"number": 1}, "phone"),
    ("report.save", "summary", "a\x00b", "summary"),
    ("report.save", "plan", ('"\\ud800\\ud800"', "raw"), "plan"),
    ("report.save", "period_start", "0001-01-01", "period_start"),
    ("report.save", "period_start", "9999-12-31", "period_start"),
    ("report.save", "results", ["list"], "results"),
]
IDS = [f"{kind}-{name}-{i}" for i, (kind, name, _v, _f) in enumerate(POISON)]


def _payload(world, kind, name, value):
    """(payload with RAW in place of a raw token, the raw token or None)."""
    token = None
    if isinstance(value, tuple):
        value, token = (RAW, value[0])
    base = {"visit.create": lambda: visit_payload(world), "customer.create": customer_payload,
            "report.save": report_payload}[kind]()
    return {**base, name: value}, token


@pytest.mark.parametrize("kind, name, value, field", POISON, ids=IDS)
def test_a_poison_mutation_is_rejected_and_the_queue_moves_on(client, world, kind, name, value, field):
    client.login("rep_a1")
    device = uuid4()
    payload, token = _payload(world, kind, name, value)
    poison = {"seq": 1, "kind": kind, "record_id": str(uuid4()), "client_time": datetime.now(UTC).isoformat(),
              "payload": payload}
    r = post_raw(client, "/api/v1/sync/push", raw_json(envelope(device, [poison]), token))
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["last_seq"] == 1
    [result] = reply["results"]
    assert result["status"] == "rejected", result
    assert field in result["errors"], result
    assert all(isinstance(m, str) and m for m in result["errors"].values())
    # The same device's next mutation applies.
    good = {"seq": 2, "kind": "visit.create", "record_id": str(uuid4()), "payload": visit_payload(world)}
    after = client.post_json("/api/v1/sync/push", envelope(device, [good]))
    assert after.status_code == 200 and [x["status"] for x in after.json()["results"]] == ["applied"]
    assert client.run(Device.select(Device.last_seq).where(Device.id == device).first())["last_seq"] == 2
    assert client.run(Visit.count().where(Visit.rep == world.rep)) == 1
    assert client.run(Customer.count().where(Customer.name == "Delta Hangzhou")) == 0
    assert client.run(Report.count().where(Report.rep == world.rep)) == 0


API = {"visit.create": "/api/v1/visits", "customer.create": "/api/v1/customers", "report.save": "/api/v1/reports"}
FORM = {"visit.create": "/visits", "customer.create": "/customers", "report.save": "/reports"}


@pytest.mark.parametrize("kind, name, value, field", POISON, ids=IDS)
def test_a_poison_value_is_a_4xx_on_the_json_api(client, world, kind, name, value, field):
    client.login("rep_a1")
    payload, token = _payload(world, kind, name, value)
    r = post_raw(client, API[kind], raw_json({**payload, "id": str(uuid4())}, token))
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    assert client.run(Visit.count()) + client.run(Report.count()) == 0
    assert client.run(Customer.count().where(Customer.name == "Delta Hangzhou")) == 0


FORM_POISON = [(k, n, v, f) for k, n, v, f in POISON if isinstance(v, str)]
FORM_IDS = [f"{k}-{n}-{i}" for i, (k, n, _v, _f) in enumerate(FORM_POISON)]


@pytest.mark.parametrize("kind, name, value, field", FORM_POISON, ids=FORM_IDS)
def test_a_poison_value_is_a_4xx_in_the_form(client, world, kind, name, value, field):
    client.login("rep_a1")
    payload, _token = _payload(world, kind, name, value)
    r = client.post_form(FORM[kind], {**payload, "id": str(uuid4())})
    assert 400 <= r.status_code < 500, r.text[:300]
    assert client.run(Visit.count()) + client.run(Report.count()) == 0
    assert client.run(Customer.count().where(Customer.name == "Delta Hangzhou")) == 0


def test_a_lone_surrogate_in_a_form_post_is_stored_as_valid_text(client, world):
    """A browser cannot send one, but a client can: the bytes of an encoded surrogate (ED A0 80). Never a
    500, and never invalid text in the database."""
    client.login("rep_a1")
    body = (f"_csrf_token={client.csrf()}&id={uuid4()}&customer={world.customer}&purpose=demo"
            "&outcome=bad%ED%A0%80text").encode()
    r = client.post("/visits", content=body, headers={"content-type": "application/x-www-form-urlencoded"},
                    follow_redirects=False)
    # Form bodies are decoded leniently (invalid UTF-8 becomes U+FFFD), so what is stored is valid text.
    assert r.status_code == 303, r.text[:300]
    outcome = client.run(Visit.select(Visit.outcome).first())["outcome"]
    assert outcome.encode("utf-8") and "\ufffd" in outcome


@pytest.mark.parametrize("client_time", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                         "1956-01-01T00:00:00Z", "2096-06-01T00:00:00Z", 12, {"a": 1}])
def test_a_wrong_device_clock_never_blocks_what_the_rep_logged(client, world, client_time):
    """`client_time` and `sent_at` are the phone's clock, not the rep's data: a reading outside the
    plausible window is kept as unknown, the skew is clamped to 32 bits and flagged, the visit applies."""
    client.login("rep_a1")
    vid = uuid4()
    m = {"seq": 1, "kind": "visit.create", "record_id": str(vid), "client_time": client_time,
         "payload": visit_payload(world)}
    sent_at = client_time if isinstance(client_time, str) else "garbage"
    r = client.post_json("/api/v1/sync/push", envelope(uuid4(), [m], sent_at=sent_at))
    assert r.status_code == 200, r.text
    reply = r.json()
    assert [x["status"] for x in reply["results"]] == ["applied"]
    row = client.run(Visit.select(Visit.device_time, Visit.clock_skew_s).where(Visit.id == vid).first())
    assert row["device_time"] is None
    if client_time in ("1956-01-01T00:00:00Z", "2096-06-01T00:00:00Z"):  # readable: flagged
        assert reply["clock_skew_flagged"] is True and abs(row["clock_skew_s"]) >= 2 * 10**9
        assert abs(row["clock_skew_s"]) <= 2**31 - 1


def test_a_phone_70_years_ahead_is_flagged_not_refused(client, world):
    client.login("rep_a1")
    ahead = (datetime.now(UTC) + timedelta(days=70 * 365)).isoformat()
    m = {"seq": 1, "kind": "visit.create", "record_id": str(uuid4()), "client_time": ahead, "payload": visit_payload(world)}
    reply = client.post_json("/api/v1/sync/push", envelope(uuid4(), [m], sent_at=ahead)).json()
    assert [x["status"] for x in reply["results"]] == ["applied"]
    assert reply["clock_skew_s"] == 2**31 - 1 and reply["clock_skew_flagged"] is True


def test_poison_in_the_middle_of_a_batch_is_rejected_alone(client, world):
    client.login("rep_a1")
    device = uuid4()
    mutations = [{"seq": i, "kind": "visit.create", "record_id": str(uuid4()), "payload": visit_payload(world)}
                 for i in range(1, 8)]
    mutations[3]["payload"]["outcome"] = RAW
    r = post_raw(client, "/api/v1/sync/push", raw_json(envelope(device, mutations), '"\\ud800"'))
    reply = r.json()
    assert [x["status"] for x in reply["results"]] == ["applied"] * 3 + ["rejected"] + ["applied"] * 3
    assert reply["last_seq"] == 7
    assert client.run(Visit.count().where(Visit.rep == world.rep)) == 6


def test_deep_nesting_outside_the_payload_does_not_break_the_push(client, world):
    client.login("rep_a1")
    body = envelope(uuid4(), [{"seq": 1, "kind": "visit.create", "record_id": str(uuid4()),
                               "payload": visit_payload(world)}], extra=RAW)
    r = post_raw(client, "/api/v1/sync/push", raw_json(body, DEEP))
    assert r.status_code == 200 and [x["status"] for x in r.json()["results"]] == ["applied"]


@pytest.mark.parametrize("cursor", [str(2**63), str(10**30), "-1", "abc", "1" * 5000])
def test_an_out_of_range_pull_cursor_is_a_4xx(client, world, cursor):
    client.login("rep_a1")
    r = client.get("/api/v1/sync/pull", params={"cursor": cursor})
    assert 400 <= r.status_code < 500, r.text


def test_the_largest_cursor_is_read(client, world):
    client.login("rep_a1")
    r = client.get("/api/v1/sync/pull", params={"cursor": str(2**63 - 1)})
    assert r.status_code == 200 and r.json()["changes"] == []


def test_the_largest_single_mutation_is_accepted(client, world):
    """Every text field at its cap, every character an emoji written as an escaped surrogate pair (12
    bytes in JSON, the most a character can take): the push is accepted and applied, whole."""
    assert MAX_BODY_BYTES > MAX_MUTATION_BYTES
    client.login("rep_a1")
    device = uuid4()
    emoji = "\U0001f600"
    report = {"seq": 1, "kind": "report.save", "record_id": str(uuid4()), "client_time": datetime.now(UTC).isoformat(),
              "payload": {"kind": "daily", "period_start": clock.today().isoformat(),
                          **{name: emoji * cap for name, cap in TEXT_CAPS["report.save"].items()}}}
    body = json.dumps(envelope(device, [report])).encode()  # ensure_ascii: \ud83d\ude00 per emoji
    assert len(body) > sum(TEXT_CAPS["report.save"].values()) * 12
    assert len(body) <= MAX_BODY_BYTES
    r = post_raw(client, "/api/v1/sync/push", body)
    assert r.status_code == 200 and [x["status"] for x in r.json()["results"]] == ["applied"], r.text[:300]
    stored = client.run(Report.select(Report.summary).where(Report.rep == world.rep).first())
    assert stored["summary"] == emoji * TEXT_CAPS["report.save"]["summary"]
    visit = {"seq": 2, "kind": "visit.create", "record_id": str(uuid4()),
             "payload": visit_payload(world, **{name: emoji * cap for name, cap in TEXT_CAPS["visit.create"].items()})}
    r = post_raw(client, "/api/v1/sync/push", json.dumps(envelope(device, [visit])).encode())
    assert [x["status"] for x in r.json()["results"]] == ["applied"]


def test_a_body_over_the_limit_is_413_and_changes_nothing(client, world):
    client.login("rep_a1")
    device = uuid4()
    mutations = [{"seq": i, "kind": "visit.create", "record_id": str(uuid4()),
                  "payload": visit_payload(world, outcome="\U0001f600" * 5000)} for i in range(1, 21)]
    body = json.dumps(envelope(device, mutations)).encode()
    assert len(body) > MAX_BODY_BYTES
    r = post_raw(client, "/api/v1/sync/push", body)
    assert r.status_code == 413
    assert client.run(Visit.count()) == 0
    # Half of it goes through.
    half = json.dumps(envelope(device, mutations[:10])).encode()
    r = post_raw(client, "/api/v1/sync/push", half)
    assert r.status_code == 200 and r.json()["last_seq"] == 10
