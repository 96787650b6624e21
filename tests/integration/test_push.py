"""Real Web Push end to end: a local receiver on 127.0.0.1 plays the push service.

The test makes a P-256 key pair and auth secret as a browser would, subscribes with them through the real
subscription endpoint, triggers an alert (a returned report), and the receiver decrypts the aes128gcm body
with `http_ece` and verifies the VAPID JWT (signature, audience, expiry, subject). The receiver answers
per path: /ok 201, /gone 410, /flaky 500 once then 201, /busy 429 with Retry-After once then 201,
/big 413.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import replace
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import pytest
from litestar.testing import TestClient
from py_vapid import Vapid02

from server.app import create_app
from server.notifications.push import Sender, vapid_for
from server.notifications.tables import PushDelivery, PushSubscription
from tests import factories
from tests.conftest import World, _truncate

SUBJECT = "mailto:ops@fieldpace.example"


class Receiver:
    def __init__(self):
        self.requests: list[dict] = []
        self.seen: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                path = self.path
                count = receiver.seen[path] = receiver.seen.get(path, 0) + 1
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append({"path": path, "headers": headers, "body": body, "at": time.time()})
                kind = path.split("/")[1]
                status, extra = 201, {}
                if kind == "gone":
                    status = 410
                elif kind == "big":
                    status = 413
                elif kind == "flaky" and count == 1:
                    status = 500
                elif kind == "busy" and count == 1:
                    status, extra = 429, {"Retry-After": "1"}
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def push_settings(settings):
    return replace(settings, push_allow_http=True, push_retry_seconds=0.2, vapid_subject=SUBJECT, push_timeout_seconds=5.0)


@pytest.fixture
def pclient(push_settings):
    app = create_app(push_settings)
    with TestClient(app=app, base_url="http://testserver.local") as c:
        c.run(_truncate())
        yield c


def subscribe(client, endpoint: str) -> tuple[object, bytes]:
    key, p256dh, secret, auth = factories.browser_keys()
    r = client.post_json("/api/v1/push/subscriptions", {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
    assert r.status_code == 200, r.text
    return key, secret


def b64decode(raw: str) -> bytes:
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))


def verify_vapid(headers: dict, audience: str, public_key: str) -> dict:
    """The Authorization header (RFC 8292: `vapid t=<JWT>, k=<key>`): key, signature and claims."""
    auth = headers["authorization"]
    assert auth.startswith("vapid ")
    params = dict(part.strip().split("=", 1) for part in auth[len("vapid "):].split(","))
    assert params["k"] == public_key
    token = params["t"]
    assert Vapid02.verify(auth)  # the ES256 signature, by the key in the header
    header, claims, _sig = token.split(".")
    assert json.loads(b64decode(header)) == {"typ": "JWT", "alg": "ES256"}
    claims = json.loads(b64decode(claims))
    assert claims["aud"] == audience
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"] == SUBJECT
    return claims


def send(client, settings, times: int = 1) -> list[dict]:
    async def go():
        sender = Sender(settings)
        try:
            return [await sender.send_due() for _ in range(times)]
        finally:
            await sender.close()

    return client.run(go())


def return_report(client, world, comment: str = "Please add the buyer's objections.") -> None:
    report = client.run(factories.report(world.rep, date(2026, 11, 27), status="submitted"))
    client.login("mgr_a")
    assert client.post_form(f"/reports/{report}/return", {"comment": comment}).status_code in (200, 303)


def test_a_returned_report_is_pushed_encrypted_with_a_valid_vapid_signature(pclient, push_settings, receiver):
    world = World(pclient)
    pclient.login("rep_a1")
    key, secret = subscribe(pclient, receiver.url("/ok/phone"))
    return_report(pclient, world)
    counts = send(pclient, push_settings)[0]
    assert counts == {"claimed": 1, "sent": 1}
    (req,) = receiver.requests
    h = req["headers"]
    assert h["content-encoding"] == "aes128gcm" and h["ttl"] == str(3 * 86400) and h["urgency"] == "high"
    verify_vapid(h, f"http://127.0.0.1:{receiver.port}", vapid_for(push_settings).public_key)
    plain = http_ece.decrypt(req["body"], private_key=key, auth_secret=secret, version="aes128gcm")
    assert len(plain) < 3000
    data = json.loads(plain)
    assert "returned your report" in data["title"] and "Please add the buyer's objections." in data["body"]
    assert data["url"] == f"/inbox/{data['id']}/open" and data["page"].startswith("/reports/")
    assert data["tag"].startswith("feedback:report:")
    # Sent once: nothing more to send, however often the queue looks.
    assert send(pclient, push_settings, 2) == [{"claimed": 0}, {"claimed": 0}]
    assert len(receiver.requests) == 1
    row = pclient.run(PushDelivery.select().first())
    assert row["state"] == "sent" and row["attempts"] == 1


def test_410_removes_the_subscription_and_413_is_not_retried(pclient, push_settings, receiver):
    world = World(pclient)
    pclient.login("rep_a1")
    subscribe(pclient, receiver.url("/gone/old-phone"))
    subscribe(pclient, receiver.url("/big/tablet"))
    return_report(pclient, world)
    assert send(pclient, push_settings)[0] == {"claimed": 2, "gone": 1, "failed": 1}
    endpoints = [r["endpoint"] for r in pclient.run(PushSubscription.select(PushSubscription.endpoint))]
    assert endpoints == [receiver.url("/big/tablet")]
    (failed,) = pclient.run(PushDelivery.select())
    assert failed["state"] == "failed" and failed["last_status"] == 413
    time.sleep(0.5)
    assert send(pclient, push_settings)[0] == {"claimed": 0}
    assert sorted(r["path"] for r in receiver.requests) == ["/big/tablet", "/gone/old-phone"]


def test_500_is_retried_with_backoff_then_delivered_once(pclient, push_settings, receiver):
    world = World(pclient)
    pclient.login("rep_a1")
    subscribe(pclient, receiver.url("/flaky/phone"))
    return_report(pclient, world)
    assert send(pclient, push_settings)[0] == {"claimed": 1, "retry": 1}
    row = pclient.run(PushDelivery.select().first())
    assert row["state"] == "queued" and row["last_status"] == 500 and row["attempts"] == 1
    assert send(pclient, push_settings)[0] == {"claimed": 0}  # backing off (0.1 to 0.3 s)
    time.sleep(0.4)
    assert send(pclient, push_settings)[0] == {"claimed": 1, "sent": 1}
    assert send(pclient, push_settings)[0] == {"claimed": 0}
    assert [r["path"] for r in receiver.requests] == ["/flaky/phone", "/flaky/phone"]
    row = pclient.run(PushDelivery.select().first())
    assert row["state"] == "sent" and row["attempts"] == 2


def test_429_waits_for_its_retry_after(pclient, push_settings, receiver):
    world = World(pclient)
    pclient.login("rep_a1")
    subscribe(pclient, receiver.url("/busy/phone"))
    return_report(pclient, world)
    assert send(pclient, push_settings)[0] == {"claimed": 1, "retry": 1}
    time.sleep(0.5)  # longer than the 0.2 s backoff, shorter than Retry-After: 1
    assert send(pclient, push_settings)[0] == {"claimed": 0}
    time.sleep(0.7)
    assert send(pclient, push_settings)[0] == {"claimed": 1, "sent": 1}
    first, second = receiver.requests
    assert second["at"] - first["at"] >= 1.0


def test_test_notification_and_quiet_hours_hold_the_push(pclient, push_settings, receiver):
    World(pclient)
    pclient.login("rep_a1")
    subscribe(pclient, receiver.url("/ok/phone"))
    assert pclient.post_form("/notifications/test").status_code == 303
    assert send(pclient, push_settings)[0] == {"claimed": 1, "sent": 1}
    assert receiver.requests[0]["headers"]["urgency"] == "high" and receiver.requests[0]["headers"]["ttl"] == "300"
    # Quiet hours around the clock (the current minute to the one before it): the next push waits.
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo
    now = datetime.now(ZoneInfo("Europe/Berlin"))
    start, end = (now - timedelta(minutes=1)).strftime("%H:%M"), (now - timedelta(minutes=2)).strftime("%H:%M")
    r = pclient.post_form("/notifications/settings", {"timezone": "Europe/Berlin", "quiet_start": start, "quiet_end": end,
                                                       "push_lagging": "1"})
    assert r.status_code == 303
    assert pclient.post_form("/notifications/test").status_code == 303
    assert send(pclient, push_settings)[0] == {"claimed": 0}
    assert len(receiver.requests) == 1
