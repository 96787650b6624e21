"""Web Push (RFC 8030 delivery, RFC 8291 aes128gcm encryption, RFC 8292 VAPID) through pywebpush, from a
durable queue in the database.

The queue is `push_delivery`: one row per notification and subscription. A sender claims due rows with one
conditional UPDATE (`state = 'queued'` in its WHERE; on PostgreSQL the candidate rows are picked
`FOR UPDATE SKIP LOCKED`), so two workers never send the same row. Outcomes: 201 sent; 404/410 the
subscription is gone (deleted, with its queue rows); 413 and other 4xx failed, never retried; 429 waits
for its Retry-After; 5xx and network errors retry with exponential backoff and jitter, up to
`push_max_attempts`. A claim that its worker never finished (a crash) is claimable again after
`claimed_until`: a push may then arrive twice, never zero times.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import os
import random
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush_async

from server import clock, db
from server.db import Sql
from server.notifications import messages
from server.notifications.tables import PushDelivery
from server.settings import Settings

log = logging.getLogger("fieldpace.push")
RUNNER = f"{socket.gethostname()}:{os.getpid()}"
BATCH = 200
PAYLOAD_LIMIT = 3000  # bytes of JSON, well under the 4 KB push services accept

# Per kind: how long a push service keeps it for an offline phone (TTL, seconds) and its Urgency (RFC 8030).
TTL = {"test": 300, "missing_report": 4 * 3600, "missing_report_digest": 4 * 3600, "lagging": 12 * 3600,
       "lagging_digest": 12 * 3600, "report_approved": 3 * 86400, "report_returned": 3 * 86400}
URGENCY = {"test": "high", "report_returned": "high", "report_approved": "normal", "missing_report": "high",
           "missing_report_digest": "normal", "lagging": "normal", "lagging_digest": "normal", "inactivity": "low",
           "inactivity_digest": "low", "anomaly": "low"}


def check_subject(subject: str) -> str:
    """The VAPID `sub` claim must be a mailto: or https: URL (RFC 8292 section 2.1)."""
    parts = urlsplit(subject)
    if parts.scheme == "mailto" and "@" in parts.path:
        return subject
    if parts.scheme == "https" and parts.hostname:
        return subject
    raise ValueError(f"FIELDPACE_VAPID_SUBJECT must be a mailto: or https: URL, not {subject!r}")


class Vapid:
    """The server's VAPID key pair (from the data directory's secrets) and signed headers per audience."""

    def __init__(self, private_raw: str, subject: str):
        self.key = Vapid02.from_raw(private_raw.encode())
        self.subject = check_subject(subject)
        self._headers: dict[str, tuple[float, dict]] = {}

    @property
    def public_key(self) -> str:
        """The applicationServerKey a browser subscribes with: base64url of the uncompressed P-256 point."""
        raw = self.key.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def headers(self, endpoint: str) -> dict:
        """The Authorization header for an endpoint's origin, signed once per hour (valid for 12)."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        cached = self._headers.get(audience)
        if cached and cached[0] > now + 11 * 3600:
            return cached[1]
        expires = int(now) + 12 * 3600
        signed = self.key.sign({"sub": self.subject, "aud": audience, "exp": expires})
        self._headers[audience] = (float(expires), signed)
        return signed


_vapid: dict[str, Vapid] = {}


def vapid_for(settings: Settings) -> Vapid:
    key = settings.secrets()["vapid_private_key"]
    found = _vapid.get(key + settings.vapid_subject)
    if found is None:
        found = _vapid[key + settings.vapid_subject] = Vapid(key, settings.vapid_subject)
    return found


def payload(row: dict, locale: str) -> str:
    """What the service worker shows: ids, a title, a short body and the URL, in the recipient's language."""
    with messages.in_locale(locale):
        title, body = messages.render(row["kind"], json.loads(row["params"] or "{}"))
    nid = str(db.as_uuid(row["nid"]))
    data = {"id": nid, "kind": row["kind"], "title": title, "body": body, "url": f"/inbox/{nid}/open",
            "page": row.get("url") or "/", "tag": f"{row['rule']}:{row['subject']}"[:120]}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    while len(text.encode()) > PAYLOAD_LIMIT and data["body"]:
        data["body"] = data["body"][: len(data["body"]) // 2] + "…"
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def backoff(attempts: int, base: float) -> float:
    """Exponential backoff with full jitter between half and one and a half of the step; at most 6 hours."""
    step = min(base * (2 ** max(0, attempts - 1)), 6 * 3600)
    return step * random.uniform(0.5, 1.5)


@dataclass
class Outcome:
    delivery: object
    subscription: object
    state: str  # sent | gone | failed | retry
    status: int | None = None
    error: str = ""
    delay: float = 0.0


def _claim_script(now: datetime, until: datetime, limit: int):
    lock = db.for_update(skip_locked=True)
    rows = yield Sql(
        "UPDATE push_delivery SET state = 'sending', claimed_by = {}, claimed_until = {}, attempts = attempts + 1"
        " WHERE id IN (SELECT id FROM push_delivery WHERE (state = 'queued' AND next_attempt_at <= {})"
        " OR (state = 'sending' AND claimed_until < {}) ORDER BY next_attempt_at LIMIT {}" + lock + ")"
        " AND (state = 'queued' OR (state = 'sending' AND claimed_until < {}))"
        " RETURNING id",
        db.driver_values([RUNNER, until, now, now, limit, now]))
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    return (yield Sql(
        "SELECT d.id, d.attempts, d.subscription, n.id AS nid, n.kind, n.rule, n.subject, n.params, n.url, s.endpoint,"
        " s.p256dh, s.auth, u.locale FROM push_delivery d JOIN notification n ON n.id = d.notification"
        " JOIN push_subscription s ON s.id = d.subscription JOIN app_user u ON u.id = n.recipient"
        f" WHERE d.id IN ({', '.join('{}' for _i in ids)})", ids))


def _record_script(outcomes: list[Outcome], now: datetime):
    def ids_of(state: str, attr: str = "delivery") -> list:
        return [getattr(o, attr) for o in outcomes if o.state == state]

    sent = ids_of("sent")
    if sent:
        marks = ", ".join("{}" for _i in sent)
        yield Sql(f"UPDATE push_delivery SET state = 'sent', sent_at = {{}}, last_status = 201, claimed_until = NULL"
                  f" WHERE id IN ({marks})", db.driver_values([now, *sent]))
        subs = sorted(set(ids_of("sent", "subscription")), key=str)
        yield Sql(f"UPDATE push_subscription SET last_sent_at = {{}} WHERE id IN ({', '.join('{}' for _i in subs)})",
                  db.driver_values([now, *subs]))
    gone = sorted(set(ids_of("gone", "subscription")), key=str)
    if gone:
        # The push service says this subscription no longer exists: it goes, with its queue rows.
        yield Sql(f"DELETE FROM push_delivery WHERE subscription IN ({', '.join('{}' for _i in gone)})", gone)
        yield Sql(f"DELETE FROM push_subscription WHERE id IN ({', '.join('{}' for _i in gone)})", gone)
    for o in outcomes:
        if o.state == "failed":
            yield Sql("UPDATE push_delivery SET state = 'failed', last_status = {}, last_error = {}, claimed_until = NULL"
                      " WHERE id = {}", [o.status, o.error[:1000], o.delivery])
        elif o.state == "retry":
            yield Sql("UPDATE push_delivery SET state = 'queued', last_status = {}, last_error = {}, claimed_until = NULL,"
                      " next_attempt_at = {} WHERE id = {}",
                      db.driver_values([o.status, o.error[:1000], now + timedelta(seconds=o.delay), o.delivery]))


class Sender:
    """Sends what is due, with a shared HTTP session and a bounded number of pushes in flight."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.vapid = vapid_for(settings)
        self.session = None

    async def _session(self):
        import aiohttp

        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.settings.push_concurrency))
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def _one(self, row: dict, semaphore: asyncio.Semaphore) -> Outcome:
        s = self.settings
        delivery, subscription = row["id"], row["subscription"]
        data = payload(row, row["locale"] or s.default_locale)
        info = {"endpoint": row["endpoint"], "keys": {"p256dh": row["p256dh"], "auth": row["auth"]}}
        headers = {**self.vapid.headers(row["endpoint"]), "Urgency": URGENCY.get(row["kind"], "normal")}
        attempts = int(row["attempts"])
        last_try = attempts >= s.push_max_attempts
        async with semaphore:
            try:
                await webpush_async(info, data, headers=headers, ttl=TTL.get(row["kind"], 86400),
                                    timeout=s.push_timeout_seconds, aiohttp_session=await self._session())
                return Outcome(delivery, subscription, "sent", 201)
            except WebPushException as e:
                status = e.status_code
                text = str(e.message)[:500]
                if status in (404, 410):
                    return Outcome(delivery, subscription, "gone", status, text)
                if status == 429:
                    wait = retry_after(e.retry_after, time.time())
                    delay = wait if wait is not None else backoff(attempts, s.push_retry_seconds)
                    return Outcome(delivery, subscription, "failed" if last_try else "retry", status, text, delay)
                if status is not None and 400 <= status < 500:
                    return Outcome(delivery, subscription, "failed", status, text)
                return Outcome(delivery, subscription, "failed" if last_try else "retry", status, text,
                               backoff(attempts, s.push_retry_seconds))
            except Exception as e:  # noqa: BLE001 - network errors and timeouts are retried
                return Outcome(delivery, subscription, "failed" if last_try else "retry", None,
                               f"{type(e).__name__}: {e}"[:500], backoff(attempts, s.push_retry_seconds))

    async def send_due(self, limit: int = BATCH) -> dict[str, int]:
        """Claim up to `limit` due pushes, send them concurrently, record each outcome."""
        now = clock.now()
        until = now + timedelta(seconds=2 * self.settings.push_timeout_seconds + 30)
        # A read first: an idle queue costs no write transaction (on SQLite, no lock and no flush) per poll.
        due = await PushDelivery.raw(
            "SELECT 1 AS due FROM push_delivery WHERE (state = 'queued' AND next_attempt_at <= {})"
            " OR (state = 'sending' AND claimed_until < {}) LIMIT 1", now, now)
        if not due:
            return {"claimed": 0}
        rows = await db.run_write(_claim_script(now, until, limit))
        if not rows:
            return {"claimed": 0}
        semaphore = asyncio.Semaphore(self.settings.push_concurrency)
        outcomes = await asyncio.gather(*(self._one(r, semaphore) for r in rows))
        await db.run_write(_record_script(list(outcomes), clock.now()))
        counts = {"claimed": len(rows)}
        for o in outcomes:
            counts[o.state] = counts.get(o.state, 0) + 1
        return counts

    async def drain(self, limit: int = 10_000) -> dict[str, int]:
        """Send everything due now (the `notifications.send` job)."""
        total: dict[str, int] = {}
        while limit > 0:
            counts = await self.send_due(min(BATCH, limit))
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
            if counts["claimed"] < min(BATCH, limit):
                break
            limit -= counts["claimed"]
        return total

    async def run_forever(self) -> None:
        """The delivery queue of `fieldpace worker` (and of `fieldpace serve` by default)."""
        try:
            while True:
                try:
                    counts = await self.send_due()
                except Exception:  # noqa: BLE001 - the loop outlives any one failure (the database away)
                    log.exception("push delivery failed")
                    counts = {"claimed": 0}
                if counts["claimed"] < BATCH:
                    await asyncio.sleep(self.settings.push_poll_seconds)
        finally:
            await self.close()
