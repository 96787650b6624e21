"""A phone's queue always moves on, in a real headless Chromium at phone size.

60 visits queued offline with long emoji text (a batch of them is larger than the server's body limit,
so the server answers 413 and the outbox halves the batch), three poison mutations among them (one too
large to send at all, which goes as a stub); back online, the 57 good visits arrive exactly once and
the three poison ones wait under "Needs attention"."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest

from sync.protocol import MAX_BODY_BYTES
from tests.e2e.conftest import PHONE, TABLET, TEAM, _run, sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = pytest.mark.e2e

BULK_REP = {"username": "wangfang", "name": "Wang Fang"}
DRAFT_REP = {"username": "liuyang", "name": "Liu Yang"}
BULK_CUSTOMER = "Pearl Tower Electronics"
COUNT = 60
# 0-based positions in the queue: a lone surrogate, a check-in at the end of the calendar, and one
# mutation larger than the body limit on its own (its text padded with spaces), which goes as a stub.
POISON = {20: "surrogate", 41: "date", 50: "huge"}
LONG_MS = 60_000


@pytest.fixture(scope="module")
def bulk_rep(live_server, live_env):
    snippet = f"""
import asyncio, os, sys
from server import cli, db
from server.accounts.tables import User
from server.settings import Settings
from tests import factories

def bind():
    db.bind(db.make_engine(Settings.from_env().effective_database_url))

bind()
for username, name in {[(BULK_REP["username"], BULK_REP["name"]), (DRAFT_REP["username"], DRAFT_REP["name"])]!r}:
    args = ["create-user", username, "--name", name, "--role", "rep", "--team", {TEAM!r}]
    assert cli.main([*args, "--password", factories.PASSWORD]) == 0, args

async def customer():
    bind()
    rep = (await User.select(User.id).where(User.username == {BULK_REP["username"]!r}).first())["id"]
    await factories.customer(rep, {BULK_CUSTOMER!r})

asyncio.run(customer())
sys.stdout.flush()
os._exit(0)
"""
    _run(["-c", snippet], live_env)
    return Path(live_env["FIELDPACE_DATA_DIR"]) / "e2e.sqlite3"


def _query(db: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def _poll(page, predicate: str, arg=None, timeout_ms: int = LONG_MS) -> None:
    """Poll an async predicate in the page (the app's CSP forbids eval, so no wait_for_function)."""
    ok = page.evaluate("""async ([arg, timeout]) => {
        const predicate = PREDICATE;
        const deadline = Date.now() + timeout;
        while (Date.now() < deadline) {
            try { if (await predicate(arg)) return true; } catch (e) { /* not ready yet */ }
            await new Promise((resolve) => setTimeout(resolve, 250));
        }
        return false;
    }""".replace("PREDICATE", predicate), [arg, timeout_ms])
    assert ok, f"not reached within {timeout_ms} ms: {predicate}"


OUTBOX_ITEMS = """async () => {
    const db = await new Promise((ok, ko) => {
        const r = indexedDB.open("fieldpace", 1); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error);
    });
    try {
        return await new Promise((ok, ko) => {
            const r = db.transaction("outbox").objectStore("outbox").getAll();
            r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error);
        });
    } finally { db.close(); }
}"""


def test_sixty_emoji_visits_and_three_poison_ones_sync_exactly_once(new_context, bulk_rep):
    context = new_context(**PHONE)
    page = context.new_page()
    pushes: list[tuple[int, int]] = []  # (status, request body bytes), from the page or the service worker
    context.on("response", lambda r: pushes.append((r.status, len(r.request.post_data_buffer or b"")))
               if r.url.endswith("/api/v1/sync/push") else None)
    sign_in(page, BULK_REP["username"])
    page.goto("/customers")
    customer = page.locator("#customer-results a").filter(has_text=BULK_CUSTOMER).get_attribute("href").rsplit("/", 1)[1]
    _poll(page, "async () => navigator.serviceWorker.controller !== null")

    context.set_offline(True)
    # Queued through the outbox API the forms use, oldest first; three items carry what no form
    # should produce (see POISON).
    sizes = page.evaluate("""async ([customer, count, poison]) => {
        const emoji = "\\u{1F600}\\u{1F680}\\u{1F4C8}";
        for (let i = 0; i < count; i++) {
            const payload = {
                customer: customer, purpose: "demo",
                outcome: "#" + i + " " + emoji.repeat(1600), next_step: emoji.repeat(300),
            };
            if (poison[i] === "surrogate") payload.outcome = "#" + i + " broken \\ud800 text";
            if (poison[i] === "date") payload.checkin_at = "9999-12-31T23:59:59+14:00";
            if (poison[i] === "huge") payload.outcome = "#" + i + " huge" + " ".repeat(1100000) + "end";
            await window.fieldpaceOutbox.enqueue("visit.create", crypto.randomUUID(), payload, "Visit " + i);
        }
        const items = await window.fieldpaceOutbox.items();
        const enc = new TextEncoder();
        return items.map((r) => enc.encode(JSON.stringify(r.payload)).length);
    }""", [customer, COUNT, {str(k): v for k, v in POISON.items()}])
    assert len(sizes) == COUNT
    assert sum(sorted(sizes)[-50:]) > MAX_BODY_BYTES  # a batch of 50 is refused as too large

    context.set_offline(False)
    page.goto("/sync")
    _poll(page, f"async () => (await ({OUTBOX_ITEMS})()).every((r) => r.status !== 'pending')")
    attention = page.locator("#outbox-attention > li.outbox-item")
    expect(attention).to_have_count(len(POISON), timeout=LONG_MS)
    expect(attention.filter(has_text="broken")).to_have_count(1)
    expect(attention).to_contain_text(["Needs attention"] * len(POISON))
    expect(attention.filter(has_text="broken")).to_contain_text("cannot be stored")
    expect(attention.filter(has_text="huge")).to_contain_text("too large to send")
    expect(attention.filter(has_text="#41")).to_contain_text("Enter a date from")
    expect(page.locator("#outbox-pending > li.outbox-item")).to_have_count(0)

    rep = _query(bulk_rep, "SELECT id FROM app_user WHERE username = ?", BULK_REP["username"])[0][0]
    rows = _query(bulk_rep, "SELECT outcome FROM visit WHERE rep = ?", rep)
    numbers = sorted(int(outcome.split(" ", 1)[0][1:]) for (outcome,) in rows)
    assert numbers == [i for i in range(COUNT) if i not in POISON]  # each good one exactly once
    assert _query(bulk_rep, "SELECT last_seq FROM device d JOIN app_user u ON u.id = d.user WHERE u.username = ?",
                  BULK_REP["username"]) == [(COUNT,)]
    assert 413 in [status for status, _size in pushes], pushes
    assert all(status in (200, 413) for status, _size in pushes), pushes


def _today() -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


def test_a_draft_edited_on_two_devices_is_a_conflict_the_rep_resolves(new_context, bulk_rep):
    today = _today()
    laptop = new_context(**TABLET).new_page()
    sign_in(laptop, DRAFT_REP["username"])
    laptop.goto(f"/reports/daily/{today}")
    laptop.get_by_label("Work summary").fill("First draft from the laptop.")
    laptop.get_by_role("button", name="Save draft").click()
    expect(laptop.get_by_text("Draft saved.")).to_be_visible()

    phone_context = new_context(**PHONE)
    phone = phone_context.new_page()
    sign_in(phone, DRAFT_REP["username"])
    phone.goto(f"/reports/daily/{today}")
    expect(phone.get_by_label("Work summary")).to_have_value("First draft from the laptop.")
    _poll(phone, "async () => navigator.serviceWorker.controller !== null")
    _poll(phone, """async () => {
        const keys = (await (await caches.open("fieldpace-pages-" + document.body.dataset.user)).keys()).map((r) => new URL(r.url).pathname);
        return keys.includes("/reports") && keys.includes("/sync");
    }""")
    phone_context.set_offline(True)
    phone.get_by_label("Work summary").fill("Phone text written in the lift.")
    phone.get_by_role("button", name="Save draft").click()
    expect(phone).to_have_url(re.compile(r"/reports\?queued=1$"))

    # Meanwhile the laptop saves another text on top of the version both had seen.
    laptop.goto(f"/reports/daily/{today}")
    laptop.get_by_label("Work summary").fill("Laptop text after lunch.")
    laptop.get_by_role("button", name="Save draft").click()
    expect(laptop.get_by_text("Draft saved.")).to_be_visible()

    phone.goto("/sync")
    phone_context.set_offline(False)
    attention = phone.locator("#outbox-attention > li.outbox-item")
    expect(attention).to_have_count(1, timeout=LONG_MS)
    expect(attention).to_contain_text("Conflict")
    expect(attention).to_contain_text("Phone text written in the lift.")
    rep = _query(bulk_rep, "SELECT id FROM app_user WHERE username = ?", DRAFT_REP["username"])[0][0]
    assert _query(bulk_rep, "SELECT summary FROM report WHERE rep = ?", rep) == [("Laptop text after lunch.",)]
    # The other version shows once the pull has brought it; the rep keeps their own text.
    phone.reload()
    theirs = phone.locator("#outbox-attention [data-field=theirs]")
    expect(theirs).to_be_visible(timeout=LONG_MS)
    expect(theirs).to_contain_text("Laptop text after lunch.")
    theirs.get_by_role("button", name="Keep mine").click()
    expect(phone.locator("#outbox-attention > li.outbox-item")).to_have_count(0, timeout=LONG_MS)
    expect(phone.locator("#outbox-pending > li.outbox-item")).to_have_count(0, timeout=LONG_MS)
    assert _query(bulk_rep, "SELECT summary, version FROM report WHERE rep = ?", rep) == [("Phone text written in the lift.", 3)]


def test_a_batch_answered_all_retry_waits_with_backoff(new_context, bulk_rep):
    """A gap the server waits for (seq 1 never arrives): every answer is `retry`. The outbox backs off
    (1 s doubling, with jitter) instead of resending at once, and keeps the items pending."""
    context = new_context(**PHONE)
    page = context.new_page()
    sends: list[float] = []
    context.on("request", lambda r: sends.append(time.monotonic())
               if r.url.endswith("/api/v1/sync/push") else None)
    sign_in(page, DRAFT_REP["username"])
    page.goto("/sync")
    _poll(page, "async () => navigator.serviceWorker.controller !== null")
    sends.clear()
    # Two items numbered 2 and 3 straight into IndexedDB: seq 1 is missing, so the server answers retry.
    page.evaluate("""async () => {
        const user = document.body.dataset.user;
        const db = await new Promise((ok, ko) => {
            const r = indexedDB.open("fieldpace", 1); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error);
        });
        const device = crypto.randomUUID();
        await new Promise((ok, ko) => {
            const t = db.transaction(["meta", "outbox"], "readwrite");
            t.objectStore("meta").put({ key: "device:" + user, value: device });
            t.objectStore("meta").put({ key: "seq:" + user, value: 3 });
            for (const seq of [2, 3]) {
                t.objectStore("outbox").put({
                    key: user + ":" + String(seq).padStart(12, "0"), user: user, device: device, seq: seq,
                    kind: "customer.create", record_id: crypto.randomUUID(), payload: { name: "Gap " + seq },
                    title: "Gap " + seq, client_time: new Date().toISOString(), status: "pending", errors: null,
                });
            }
            t.oncomplete = ok; t.onerror = () => ko(t.error);
        });
        db.close();
        // Let the page's own first sync (nothing pending then) let go of the sync lock.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await window.fieldpaceOutbox.syncNow();
    }""")
    page.wait_for_timeout(7000)
    # Without backoff the outbox would resend in a tight loop; with it: about 1-2 s, then 2-4 s, ...
    assert 2 <= len(sends) <= 5, sends
    gaps = [b - a for a, b in zip(sends, sends[1:])]
    # The n-th wait is between 2^n / 2 and 2^n seconds (jitter), so each is at least 1 s, then 2 s.
    assert gaps[0] >= 0.9 and all(gap >= 1.9 for gap in gaps[1:]), gaps
    items = page.evaluate("async () => (await window.fieldpaceOutbox.items()).map((r) => r.status)")
    assert items == ["pending", "pending"]
