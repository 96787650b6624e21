"""The versioned JSON API: idempotent creates with client ids, problem descriptions for bad input."""

from __future__ import annotations

from uuid import uuid4

import pytest

from server import clock
from server.customers.tables import Customer
from server.reports.tables import Report
from server.visits.tables import Visit
from tests import factories


def test_visit_create_is_idempotent(client, world):
    client.login("rep_a1")
    body = {"id": str(uuid4()), "customer": str(world.customer), "purpose": "demo", "outcome": "ok"}
    first = client.post_json("/api/v1/visits", body)
    assert first.status_code == 200 and first.json() == {"id": body["id"], "result": "applied"}
    again = client.post_json("/api/v1/visits", body)
    assert again.json()["result"] == "duplicate"
    assert client.run(Visit.count().where(Visit.id == body["id"])) == 1
    listed = client.get("/api/v1/visits", params={"day": clock.today().isoformat()}).json()["visits"]
    assert [v["id"] for v in listed] == [body["id"]]


def test_customer_create_is_idempotent_and_owned_by_the_rep(client, world):
    client.login("rep_a1")
    body = {"id": str(uuid4()), "name": "Epsilon Ningbo", "owner": str(world.rep_b)}
    assert client.post_json("/api/v1/customers", body).json()["result"] == "applied"
    assert client.post_json("/api/v1/customers", body).json()["result"] == "duplicate"
    row = client.run(Customer.select(Customer.owner).where(Customer.id == body["id"]).first())
    assert row["owner"] == world.rep  # a rep cannot hand a customer to someone else


@pytest.mark.parametrize(
    "body, field",
    [
        ({"customer": "not-a-uuid", "purpose": "demo"}, "customer"),
        ({"customer": None, "purpose": "demo"}, "customer"),
        ({"purpose": "demo"}, "customer"),
        ({"purpose": "party"}, "purpose"),
        ({"purpose": "demo", "satisfaction": 7}, "satisfaction"),
        ({"purpose": "demo", "satisfaction": "many"}, "satisfaction"),
        ({"purpose": "demo", "latitude": 200, "longitude": 10}, "latitude"),
        ({"purpose": "demo", "latitude": 31.2}, "latitude"),
        ({"purpose": "demo", "checkin_at": "yesterday"}, "checkin_at"),
        ({"purpose": "demo", "checkin_at": 12345}, "checkin_at"),
        ({"purpose": "demo", "outcome": "x" * 6000}, "outcome"),
        ({"purpose": "demo", "next_step_date": "2020-13-40"}, "next_step_date"),
        ({"purpose": ["demo"]}, "purpose"),
        ({"purpose": "demo", "id": 42}, "id"),
    ],
)
def test_bad_visit_payloads_get_a_problem_description(client, world, body, field):
    client.login("rep_a1")
    payload = {"customer": str(world.customer), **body} if "customer" not in body and field != "customer" else body
    r = client.post_json("/api/v1/visits", payload)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["status"] == 422 and field in problem["errors"]


def test_malformed_json_and_wrong_shapes_are_4xx(client, world):
    client.login("rep_a1")
    headers = {"x-csrftoken": client.csrf(), "content-type": "application/json"}
    r = client.post("/api/v1/visits", content=b"{not json", headers=headers)
    assert 400 <= r.status_code < 500
    r = client.post("/api/v1/visits", content=b"[1, 2, 3]", headers=headers)
    assert 400 <= r.status_code < 500
    r = client.post("/api/v1/reports", content=b'"just a string"', headers=headers)
    assert 400 <= r.status_code < 500
    r = client.post("/api/v1/visits", content=b"x" * (3 * 1024 * 1024), headers=headers)
    assert r.status_code == 413


def test_problem_titles_are_translated(client, world):
    client.login("rep_a1")
    r = client.post_json("/api/v1/visits", {"purpose": "demo"}, headers={"accept-language": "zh-CN"})
    assert r.status_code == 422
    assert r.headers["content-language"] == "zh-CN"


def test_report_save_and_decision_over_the_api(client, world):
    today = clock.today().isoformat()
    client.login("rep_a1")
    body = {"id": str(uuid4()), "kind": "daily", "period_start": today, "summary": "Busy day", "submit": True}
    r = client.post_json("/api/v1/reports", body)
    assert r.status_code == 200 and r.json()["outcome"] == "submitted"
    assert client.post_json("/api/v1/reports", body).json()["result"] == "duplicate"

    client.login("mgr_a")
    r = client.post_json(f"/api/v1/reports/{body['id']}/decision", {"decision": "maybe"})
    assert r.status_code == 422
    r = client.post_json(f"/api/v1/reports/{body['id']}/decision", {"decision": "return"})
    assert r.status_code == 422 and "comment" in r.json()["errors"]
    r = client.post_json(f"/api/v1/reports/{body['id']}/decision", {"decision": "approve", "comment": "Good"})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    r = client.post_json(f"/api/v1/reports/{body['id']}/decision", {"decision": "approve"})
    assert r.status_code == 409

    client.login("rep_a1")
    r = client.post_json("/api/v1/reports", {**body, "summary": "Changed after approval"})
    assert r.status_code == 409
    stored = client.run(Report.select(Report.summary, Report.status).where(Report.id == body["id"]).first())
    assert stored == {"summary": "Busy day", "status": "approved"}


def test_rep_cannot_write_server_owned_fields(client, world):
    client.login("rep_a1")
    body = {"id": str(uuid4()), "kind": "daily", "period_start": clock.today().isoformat(), "summary": "x",
            "status": "approved", "manager_comment": "I approve myself", "decided_by": str(world.rep)}
    assert client.post_json("/api/v1/reports", body).status_code == 200
    row = client.run(Report.select(Report.status, Report.manager_comment, Report.decided_by).where(Report.id == body["id"]).first())
    assert row == {"status": "draft", "manager_comment": "", "decided_by": None}


def test_rep_cannot_approve_own_report(client, world):
    rid = client.run(factories.report(world.rep))
    client.login("rep_a1")
    r = client.post_json(f"/api/v1/reports/{rid}/decision", {"decision": "approve"})
    assert r.status_code == 403


def test_unknown_ids_are_404_not_500(client, world):
    client.login("rep_a1")
    assert client.get(f"/api/v1/visits/{uuid4()}").status_code == 404
    assert client.get("/api/v1/visits/not-a-uuid").status_code in (400, 404)
    assert client.get(f"/reports/{uuid4()}").status_code == 404
    assert client.get("/reports/daily/not-a-date").status_code in (400, 404)
    assert client.get("/reports/monthly/2026-01-01").status_code == 404


def test_anonymous_api_gets_401_json(client):
    r = client.get("/api/v1/visits")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
