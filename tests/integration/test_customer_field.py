"""Field basics for customers, on both engines: the duplicate check (form, API, not sync), admin merge,
the customer's location (admin, import, a confirmed check-in) and each visit's distance to it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import UUID, uuid4

from server import clock, geo
from server.customers.tables import Customer
from server.sales.tables import Opportunity, Order
from server.syncing.tables import Tombstone
from server.visits.tables import Visit
from tests import factories
from tests.integration.test_imports import preview, run
from tests.integration.test_sync import envelope

METRES_PER_DEGREE = geo.EARTH_RADIUS_M * 3.141592653589793 / 180


def _customers_named(client, fragment: str) -> list[dict]:
    return client.run(Customer.select(Customer.id, Customer.name, Customer.name_key, Customer.phone_key).where(
        Customer.name.like(f"%{fragment}%")))


def test_the_form_asks_before_saving_a_possible_duplicate_and_keeps_what_was_typed(client, world):
    client.login("rep_a1")
    r = client.post_form("/customers", {"id": str(uuid4()), "name": "上海华联超市有限公司", "phone": "+86 138-0013-8000"})
    assert r.status_code == 303
    first = _customers_named(client, "华联")
    assert [c["name_key"] for c in first] == ["上海华联超市"]
    assert first[0]["phone_key"] == "13800138000"

    # Same company typed another way: full-width, spaces, no suffix. The form asks first.
    typed = {"id": str(uuid4()), "name": "上海 华联超市", "contact_name": "王经理", "phone": "", "address": "浦东"}
    r = client.post_form("/customers", typed)
    assert r.status_code == 422
    assert f'href="/customers/{first[0]["id"]}"' in r.text
    assert 'name="confirmed" value="1"' in r.text
    for value in ("上海 华联超市", "王经理", "浦东", typed["id"]):
        assert value in r.text  # nothing typed is lost
    assert len(_customers_named(client, "华联")) == 1

    # Only the phone matches (0086 prefix, other punctuation): asked too.
    r = client.post_form("/customers", {"id": str(uuid4()), "name": "Other name", "phone": "0086 13800138000"})
    assert r.status_code == 422 and first[0]["name"] in r.text

    # "Save anyway" saves.
    r = client.post_form("/customers", {**typed, "confirmed": "1"})
    assert r.status_code == 303
    assert len(_customers_named(client, "华联")) == 2


def test_matches_are_only_among_customers_the_user_may_see(client, world):
    # "Acme Shanghai" is rep_a1's; rep_a2 cannot see it, so is not told it exists.
    client.login("rep_a2")
    r = client.post_form("/customers", {"id": str(uuid4()), "name": "ACME Shanghai Co., Ltd."})
    assert r.status_code == 303
    # Their manager sees both now and is asked.
    client.login("mgr_a")
    r = client.post_form("/customers", {"id": str(uuid4()), "name": "Acme Shanghai", "owner": str(world.rep)})
    assert r.status_code == 422
    assert r.text.count('href="/customers/') >= 2


def test_the_api_answers_409_with_the_matches_until_confirmed(client, world):
    client.login("rep_a1")
    body = {"id": str(uuid4()), "name": "acme  shanghai inc."}
    r = client.post_json("/api/v1/customers", body)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [m["id"] for m in r.json()["matches"]] == [str(world.customer)]
    r = client.post_json("/api/v1/customers", {**body, "confirmed": True})
    assert r.status_code == 200 and r.json()["result"] == "applied"


def test_a_synced_duplicate_is_applied_not_rejected(client, world):
    client.login("rep_a1")
    rid = uuid4()
    mutation = {"seq": 1, "kind": "customer.create", "record_id": str(rid), "client_time": datetime.now(UTC).isoformat(),
                "payload": {"name": "Acme Shanghai", "phone": "138 0013 8000"}}
    r = client.post_json("/api/v1/sync/push", envelope(uuid4(), [mutation]))
    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == ["applied"]
    row = client.run(Customer.select(Customer.name_key, Customer.phone_key).where(Customer.id == rid).first())
    assert row == {"name_key": "acmeshanghai", "phone_key": "13800138000"}


def test_admin_merges_two_customers_and_every_record_moves(client, world):
    dup = client.run(factories.customer(world.other_rep, "ACME SHANGHAI Co., Ltd."))
    visits = [client.run(factories.visit(world.other_rep, dup)) for _ in range(3)]
    kept_visit = client.run(factories.visit(world.rep, world.customer))
    order = client.run(factories.order(dup, {world.other_rep: 10000}))
    deal = client.run(factories.opportunity(world.other_rep, dup))
    seq_before = client.run(Customer.select(Customer.server_seq).where(Customer.id == world.customer).first())["server_seq"]

    client.login("mgr_a")
    assert client.get(f"/customers/{world.customer}/merge").status_code == 403
    assert client.post_form(f"/customers/{world.customer}/merge", {"other": str(dup)}).status_code == 403

    client.login("boss")
    page = client.get(f"/customers/{world.customer}/merge")
    assert page.status_code == 200 and f'value="{dup}"' in page.text  # offered as a possible duplicate
    r = client.post_form(f"/customers/{world.customer}/merge", {"other": str(dup), "keep": "this"})
    assert r.status_code == 303 and r.headers["location"] == f"/customers/{world.customer}"

    assert client.run(Customer.exists().where(Customer.id == dup)) is False
    assert client.run(Visit.count().where(Visit.customer == world.customer)) == 4
    assert client.run(Order.select(Order.customer).where(Order.id == order).first())["customer"] == world.customer
    deal_row = client.run(Opportunity.select(Opportunity.customer).where(Opportunity.id == deal).first())
    assert deal_row["customer"] == world.customer
    stone = client.run(Tombstone.select().where(Tombstone.record_id == dup).first())
    assert stone["record_type"] == "customer" and stone["owner"] == world.other_rep
    seq_after = client.run(Customer.select(Customer.server_seq).where(Customer.id == world.customer).first())["server_seq"]
    assert seq_after > seq_before
    moved = client.run(Visit.select(Visit.id, Visit.server_seq).where(Visit.id.is_in(visits)))
    kept = client.run(Visit.select(Visit.server_seq).where(Visit.id == kept_visit).first())["server_seq"]
    assert all(v["server_seq"] > kept for v in moved)  # moved visits are pulled again

    # The dropped customer's owner pulls the deletion; the kept customer's owner pulls it again.
    client.login("rep_a2")
    changes = client.get("/api/v1/sync/pull?cursor=0&limit=500").json()["changes"]
    assert {"type": "customer", "id": str(dup), "op": "delete"} in [
        {k: c[k] for k in ("type", "id", "op")} for c in changes]

    # Merging with a customer that is gone, or with itself: a clear 422, nothing changes.
    client.login("boss")
    assert client.post_form(f"/customers/{world.customer}/merge", {"other": str(dup)}).status_code == 422
    assert client.post_form(f"/customers/{world.customer}/merge", {"other": str(world.customer)}).status_code == 422


def test_keep_the_other_customer(client, world):
    dup = client.run(factories.customer(world.rep, "Acme Shanghai Inc."))
    client.run(factories.visit(world.rep, world.customer))
    client.login("boss")
    r = client.post_form(f"/customers/{world.customer}/merge", {"other": str(dup), "keep": "other"})
    assert r.status_code == 303 and r.headers["location"] == f"/customers/{dup}"
    assert client.run(Customer.exists().where(Customer.id == world.customer)) is False
    assert client.run(Visit.count().where(Visit.customer == dup)) == 1


def test_admin_sets_a_location_with_range_checks(client, world):
    client.login("boss")
    r = client.post_form(f"/customers/{world.customer}/location", {"latitude": "95", "longitude": "121"})
    assert r.status_code == 422 and 'value="95"' in r.text
    r = client.post_form(f"/customers/{world.customer}/location", {"latitude": "31.2304", "longitude": ""})
    assert r.status_code == 422
    r = client.post_form(f"/customers/{world.customer}/location", {"latitude": "31.2304", "longitude": "121.4737"})
    assert r.status_code == 303
    row = client.run(Customer.select(Customer.latitude, Customer.longitude).where(Customer.id == world.customer).first())
    assert row == {"latitude": 31.2304, "longitude": 121.4737}
    # Reps get the location with their customers (for "customers near me" offline).
    client.login("rep_a1")
    pulled = client.get("/api/v1/sync/pull?cursor=0&limit=500").json()["changes"]
    mine = [c["data"] for c in pulled if c["type"] == "customer" and c["id"] == str(world.customer)]
    assert mine and mine[-1]["latitude"] == 31.2304 and mine[-1]["longitude"] == 121.4737
    page = client.get("/customers/near")
    assert page.status_code == 200 and "/static/nearby." in page.text


def _visit_at(client, rep: UUID, customer: UUID, lat: float, lng: float) -> UUID:
    vid = client.run(factories.visit(rep, customer))
    client.run(Visit.update({Visit.latitude: lat, Visit.longitude: lng}).where(Visit.id == vid))
    return vid


def test_visits_show_their_distance_and_are_flagged_beyond_the_radius(client, world):
    lat, lng = 31.2304, 121.4737
    client.run(Customer.update({Customer.latitude: lat, Customer.longitude: lng}).where(Customer.id == world.customer))
    near = _visit_at(client, world.rep, world.customer, lat + 400 / METRES_PER_DEGREE, lng)
    far = _visit_at(client, world.rep, world.customer, lat + 600 / METRES_PER_DEGREE, lng)

    client.login("rep_a1")
    r = client.get(f"/visits/{near}")
    assert "400 m from the customer" in r.text and "out of range" not in r.text
    r = client.get(f"/visits/{far}")
    assert "600 m from the customer" in r.text and "out of range" in r.text
    listing = client.get("/visits").text
    assert listing.count("out of range") == 1

    client.login("mgr_a")
    feed = client.get("/team/visits").text
    assert feed.count("out of range") == 1 and "400 m from the customer" in feed


def test_the_manager_confirms_a_check_in_as_the_customer_location(client, world):
    vid = _visit_at(client, world.rep, world.customer, 31.1, 121.3)
    bare = client.run(factories.visit(world.rep, world.customer))
    client.login("rep_a1")
    assert client.post_form(f"/visits/{vid}/use-location").status_code == 403
    assert "Use this check-in" not in client.get(f"/visits/{vid}").text
    client.login("mgr_b")
    assert client.post_form(f"/visits/{vid}/use-location").status_code == 404
    client.login("mgr_a")
    assert "Use this check-in" in client.get(f"/visits/{vid}").text
    assert client.post_form(f"/visits/{vid}/use-location").status_code == 303
    row = client.run(Customer.select(Customer.latitude, Customer.longitude).where(Customer.id == world.customer).first())
    assert row == {"latitude": 31.1, "longitude": 121.3}
    assert "0 m from the customer" in client.get(f"/visits/{vid}").text
    # A visit without a location: nothing changes, the manager is told.
    r = client.post_form(f"/visits/{bare}/use-location", follow_redirects=True)
    assert r.status_code == 200 and "This visit has no location." in r.text


def test_the_customer_import_takes_optional_coordinates_with_range_checks(client, world):
    client.login("boss")
    bad = preview(client, "customers", "customer_code,name,rep,latitude,longitude\nL-1,Lat One,rep_a1,91,121\n"
                                       "L-2,Lat Two,rep_a1,31.2,\n")
    page = client.get(f"/imports/{bad}").text
    assert "Enter a number from -90.0 to 90.0." in page or re.search(r"-90(\.0)? to 90", page)
    assert "Enter both latitude and longitude, or neither." in page
    good = preview(client, "customers", "customer_code,name,rep,latitude,longitude,phone\n"
                                        "L-1,Lat One Co.,rep_a1,31.2304,121.4737,+86 139 0000 0000\nL-2,Lat Two,rep_a1,,\n")
    assert run(client, good)["status"] == "done"
    rows = {r["code"]: r for r in client.run(Customer.select(
        Customer.code, Customer.latitude, Customer.longitude, Customer.name_key, Customer.phone_key).where(
        Customer.code.is_in(["L-1", "L-2"])))}
    assert rows["L-1"]["latitude"] == 31.2304 and rows["L-1"]["longitude"] == 121.4737
    assert rows["L-1"]["name_key"] == "latone" and rows["L-1"]["phone_key"] == "13900000000"
    assert rows["L-2"]["latitude"] is None
    # An update of the name moves its key along.
    again = preview(client, "customers", "customer_code,name,rep\nL-2,Renamed Ltd.,rep_a1\n")
    assert run(client, again)["status"] == "done"
    assert client.run(Customer.select(Customer.name_key).where(Customer.code == "L-2").first())["name_key"] == "renamed"
    assert clock.today()  # the clock is configured for the app under test


def test_the_migration_fills_the_keys_of_existing_customers(client, world):
    import importlib.util

    from server.settings import ROOT

    path = ROOT / "migrations" / "fieldpace_2026_12_01t20_10_01_000000.py"
    spec = importlib.util.spec_from_file_location("keys_backfill", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    old = client.run(factories.customer(world.rep, "ignored"))
    client.run(Customer.update({Customer.name: "Ｏｌｄ Ｔｒａｄｅｒｓ 有限公司", Customer.phone: "+86 137 1111 2222",
                                Customer.name_key: "", Customer.phone_key: ""}).where(Customer.id == old))
    assert client.run(module.backfill(Customer._meta.db)) >= 1
    row = client.run(Customer.select(Customer.name_key, Customer.phone_key).where(Customer.id == old).first())
    assert row == {"name_key": "oldtraders", "phone_key": "13711112222"}
