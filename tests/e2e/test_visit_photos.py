"""A visit photo in real headless Chromium at 360 px, in English and in Chinese: chosen offline (a JPEG made by
the browser's own canvas, through the file input), shrunk on the phone, queued with the visit, uploaded once
when the network is back, and seen by the manager with the visit."""

from __future__ import annotations

import base64
import re
import sqlite3
from pathlib import Path
from uuid import uuid4

import pytest

from tests.e2e.conftest import MANAGER, PHONE, TEAM, _run, sign_in
from tests.e2e.test_offline import _poll, _today, _wait_ready_offline
from tests.e2e.test_offline_everywhere import BROWSER_LOCALE, _sign_in, _t

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = pytest.mark.e2e

# One rep per language (the phone's language: en and zh-CN), each with a customer of their own.
PHOTO_REPS = {"en": ("wufang", "Wu Fang", "Maple Leaf Bakery Xuhui"),
              "zh_CN": ("heping", "He Ping", "Maple Syrup Cafe Jingan")}
OUTCOME = "Shelf photo taken offline: our display is at the entrance."


@pytest.fixture(scope="module")
def photo_rep(live_server, live_env) -> Path:
    snippet = f"""
import asyncio, os, sys
from server import cli, db
from server.accounts.tables import User
from server.settings import Settings
from tests import factories

def bind():
    db.bind(db.make_engine(Settings.from_env().effective_database_url))

bind()
for username, name, customer_name in {list(PHOTO_REPS.values())!r}:
    args = ["create-user", username, "--name", name, "--role", "rep", "--team", {TEAM!r}]
    assert cli.main([*args, "--password", factories.PASSWORD]) == 0, args

async def customer():
    bind()
    for username, _name, customer_name in {list(PHOTO_REPS.values())!r}:
        rep = (await User.select(User.id).where(User.username == username).first())["id"]
        await factories.customer(rep, customer_name)

asyncio.run(customer())
sys.stdout.flush()
os._exit(0)
"""
    _run(["-c", snippet], live_env)
    return Path(live_env["FIELDPACE_DATA_DIR"])


def _query(data: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(data / "e2e.sqlite3") as conn:
        return conn.execute(sql, args).fetchall()


def _camera_jpeg(page, width: int = 2400, height: int = 1800) -> bytes:
    """A photo as a phone camera makes one, larger than the upload size: drawn and encoded by Chromium."""
    data_url = page.evaluate("""([w, h]) => {
        const c = document.createElement("canvas"); c.width = w; c.height = h;
        const g = c.getContext("2d");
        for (let i = 0; i < 24; i++) { g.fillStyle = `hsl(${i * 15}, 70%, 50%)`; g.fillRect(i * w / 24, 0, w / 24, h); }
        g.fillStyle = "#fff"; g.font = "200px sans-serif"; g.fillText("shelf", w / 4, h / 2);
        return c.toDataURL("image/jpeg", 0.95);
    }""", [width, height])
    return base64.b64decode(data_url.split(",", 1)[1])


PHOTO_ROWS = """async () => {
    const db = await new Promise((ok, ko) => { const r = indexedDB.open("fieldpace-photos", 1); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
    try {
        const rows = await new Promise((ok, ko) => { const r = db.transaction("photos").objectStore("photos").getAll(); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
        return rows.map((x) => ({ status: x.status, visit: x.visit, bytes: x.bytes }));
    } finally { db.close(); }
}"""


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_a_photo_chosen_offline_is_queued_with_the_visit_and_uploaded_once(new_context, photo_rep, locale):
    data = photo_rep
    t = _t(locale)
    username, _name, customer = PHOTO_REPS[locale]
    outcome = f"{OUTCOME} ({locale})"
    context = new_context(locale=BROWSER_LOCALE[locale], **PHONE)
    page = context.new_page()
    _sign_in(page, username, locale)
    page.goto("/home")
    _wait_ready_offline(page, _today())
    camera = _camera_jpeg(page)
    assert camera[:3] == b"\xff\xd8\xff" and len(camera) > 50_000

    context.set_offline(True)
    page.goto("/visits/new")
    expect(page.get_by_role("heading", name=t("Log visit"))).to_be_visible()
    page.get_by_label(t("Search customers")).press_sequentially(customer.split()[0].lower(), delay=30)
    page.get_by_label(customer, exact=True).check()
    page.get_by_label(t("Outcome")).fill(outcome)
    page.get_by_label(t("Photos (optional)")).set_input_files(
        files=[{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": camera}])
    preview = page.locator("[data-photo-preview] img")
    expect(preview).to_have_count(1)
    expect(page.locator("[data-photo-preview] button")).to_have_text(t("Remove"))
    # The page still fits the phone with the thumbnail in it.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    visit_id = page.locator("#visit-form input[name=id]").input_value()
    page.get_by_role("button", name=t("Save visit")).click()
    expect(page).to_have_url(re.compile(r"/home\?queued=1$"))

    # On the phone: one photo, marked for this visit, shrunk well below the camera's size.
    rows = page.evaluate(PHOTO_ROWS)
    assert [(r["status"], r["visit"]) for r in rows] == [("pending", visit_id)], rows
    assert rows[0]["bytes"] < len(camera)
    assert _query(data, "SELECT count(*) FROM visit_photo WHERE visit = ?", visit_id) == [(0,)]

    context.set_offline(False)
    _poll(page, f"async () => (await ({PHOTO_ROWS})()).length === 0")  # uploaded and gone from the phone
    # The visit goes with the same sync or the next one (photos and visit may reach the server in either order).
    _poll(page, "async () => (await window.fieldpaceOutbox.items()).length === 0")
    assert _query(data, "SELECT count(*) FROM visit WHERE id = ?", visit_id) == [(1,)]
    stored = _query(data, "SELECT id, content_type, size_bytes, thumb_bytes FROM visit_photo WHERE visit = ?", visit_id)
    assert len(stored) == 1, stored
    photo_id, content_type, size, thumb = stored[0]
    assert content_type == "image/jpeg" and 0 < thumb < size < len(camera)
    # Another sync (and the service worker's) changes nothing: still one photo.
    page.goto("/sync")
    page.get_by_role("button", name=t("Sync now")).click()
    expect(page.locator("#photo-queue")).to_contain_text(t("No photos waiting."))
    assert _query(data, "SELECT count(*) FROM visit_photo WHERE visit = ?", visit_id) == [(1,)]

    manager = new_context(**PHONE).new_page()
    sign_in(manager, MANAGER["username"])
    manager.goto("/team/visits")
    row = manager.locator("main .list li").filter(has_text=outcome)
    expect(row).to_have_count(1)
    thumb_img = row.locator("img")
    expect(thumb_img).to_have_count(1)
    _poll(manager, """async () => { const i = document.querySelector("main .list li img"); return i && i.complete && i.naturalWidth > 0; }""")
    manager.goto(f"/visits/{visit_id}")
    expect(manager.locator("#visit-photos img")).to_have_count(1)
    # The photo itself: shrunk to 1600 px on its longest side, as the phone sent it.
    size_seen = manager.evaluate("""async (url) => {
        const r = await fetch(url); const b = await createImageBitmap(await r.blob());
        return [r.status, r.headers.get("content-type"), b.width, b.height];
    }""", f"/visits/{visit_id}/photos/{photo_id}")
    assert size_seen == [200, "image/jpeg", 1600, 1200], size_seen
    assert manager.evaluate("document.documentElement.scrollWidth") <= 360


def test_a_photo_the_server_refuses_is_parked_and_the_next_one_still_uploads(new_context, photo_rep):
    data = photo_rep
    page = new_context(**PHONE).new_page()
    sign_in(page, PHOTO_REPS["en"][0])
    page.goto("/sync")
    expect(page.locator("#photo-queue")).to_contain_text("No photos waiting.")
    visit = str(uuid4())  # a visit still on its way: its photos may arrive first
    # Two photos waiting on the phone, the older one not an image at all (a poison upload).
    page.evaluate("""async ([visit, user]) => {
        const c = document.createElement("canvas"); c.width = 64; c.height = 48;
        c.getContext("2d").fillRect(0, 0, 64, 48);
        const good = await new Promise((ok) => c.toBlob(ok, "image/jpeg", 0.8));
        const bad = new Blob(["%PDF-1.7 this is not a photo"], { type: "image/jpeg" });
        const db = await new Promise((ok, ko) => { const r = indexedDB.open("fieldpace-photos", 1); r.onsuccess = () => ok(r.result); r.onerror = () => ko(r.error); });
        await new Promise((ok, ko) => {
            const t = db.transaction(["photos", "blobs"], "readwrite");
            [["bad", bad, "2026-01-01T00:00:00Z"], ["good", good, "2026-01-01T00:00:01Z"]].forEach(([name, blob, created]) => {
                const id = crypto.randomUUID();
                t.objectStore("blobs").put({ id: id, photo: blob });
                t.objectStore("photos").put({ id: id, user: user, status: "pending", visit: visit, errors: null, created: created, bytes: blob.size, name: name });
            });
            t.oncomplete = ok; t.onerror = () => ko(t.error);
        });
        db.close();
    }""", [visit, page.evaluate("document.body.dataset.user")])
    page.get_by_role("button", name="Sync now").click()
    refused = page.locator("#photo-queue li[data-photo-status=rejected]")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("Photo refused by the server")
    expect(refused).to_contain_text("This file is not a photo (JPEG, PNG or WebP).")
    expect(page.locator("#photo-queue li[data-photo-status=pending]")).to_have_count(0)
    assert _query(data, "SELECT count(*) FROM visit_photo WHERE visit = ?", visit) == [(1,)]
    # Parked, not retried: another sync sends nothing more; Discard removes it from the phone.
    page.get_by_role("button", name="Sync now").click()
    expect(refused).to_have_count(1)
    refused.get_by_role("button", name="Discard").click()
    expect(page.locator("#photo-queue")).to_contain_text("No photos waiting.")
    assert _query(data, "SELECT count(*) FROM visit_photo WHERE visit = ?", visit) == [(1,)]
