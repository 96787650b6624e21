"""Visit photos on both engines: uploaded once (a retry is acknowledged), linked to the visit whichever
arrives first, shown only to those who may read the visit, refused clearly (and translated) when bad."""

from __future__ import annotations

from uuid import UUID, uuid4

from server.visits import photos
from server.visits.tables import VisitPhoto
from tests import factories
from tests.integration.test_sync import envelope

# Not decoded by the server (it checks magic bytes): a JPEG's start and end around arbitrary bytes.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
THUMB = b"\xff\xd8\xff\xdb" + b"thumb" * 40 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 64


def upload(client, visit: UUID, photo_id: UUID | str, data: bytes = JPEG, thumb: bytes | None = THUMB,
           language: str = "en", filename: str = "photo.jpg", content_type: str = "image/jpeg"):
    files = {"photo": (filename, data, content_type)}
    if thumb is not None:
        files["thumb"] = ("thumb.jpg", thumb, "image/jpeg")
    return client.post(f"/api/v1/visits/{visit}/photos", data={"id": str(photo_id)}, files=files,
                       headers={"x-csrftoken": client.csrf(), "accept-language": language})


def rows(client, visit: UUID) -> list[dict]:
    return client.run(VisitPhoto.select().where(VisitPhoto.visit == visit))


def test_a_photo_is_uploaded_once_and_a_retry_is_acknowledged(client, world, settings):
    visit = client.run(factories.visit(world.rep, world.customer))
    client.login("rep_a1")
    pid = uuid4()
    r = upload(client, visit, pid)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": str(pid), "result": "applied"}
    again = upload(client, visit, pid)  # the phone never heard the answer and sends it again
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    assert len(rows(client, visit)) == 1
    stored = photos.path_of(pid)
    assert stored.read_bytes() == JPEG
    assert stored.is_relative_to(settings.effective_photo_dir)  # in the data directory by default
    assert settings.effective_photo_dir == settings.data_dir / "photos"
    # The owner reads it back, the thumbnail too, privately cached.
    full = client.get(f"/visits/{visit}/photos/{pid}")
    assert full.status_code == 200 and full.content == JPEG
    assert full.headers["content-type"] == "image/jpeg"
    assert full.headers["cache-control"].startswith("private")
    small = client.get(f"/visits/{visit}/photos/{pid}?size=thumb")
    assert small.status_code == 200 and small.content == THUMB


def test_a_photo_sent_before_its_visit_is_linked_when_the_visit_arrives(client, world):
    client.login("rep_a1")
    visit, pid = uuid4(), uuid4()
    assert upload(client, visit, pid).json()["result"] == "applied"  # the visit's mutation is still queued
    assert client.get(f"/visits/{visit}/photos/{pid}").status_code == 404  # no visit yet: nothing to show
    push = envelope(uuid4(), [{"seq": 1, "kind": "visit.create", "record_id": str(visit),
                      "payload": {"customer": str(world.customer), "purpose": "demo", "outcome": "Photo later"}}])
    r = client.post_json("/api/v1/sync/push", push)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "applied", r.text
    page = client.get(f"/visits/{visit}")
    assert f"/visits/{visit}/photos/{pid}?size=thumb" in page.text
    assert client.get(f"/api/v1/visits/{visit}").json()["photos"] == [str(pid)]
    # And the other order: the visit first, then the photo.
    later = uuid4()
    assert upload(client, visit, later).json()["result"] == "applied"
    assert client.get(f"/api/v1/visits/{visit}").json()["photos"] == [str(pid), str(later)]


def test_the_manager_sees_the_photos_and_nobody_else_does(client, world):
    visit = client.run(factories.visit(world.rep, world.customer))
    client.login("rep_a1")
    pid = uuid4()
    assert upload(client, visit, pid).status_code == 200
    thumb = f"/visits/{visit}/photos/{pid}?size=thumb"
    client.login("mgr_a")
    assert thumb in client.get(f"/visits/{visit}").text
    assert thumb in client.get("/team/visits").text
    assert client.get(f"/visits/{visit}/photos/{pid}").content == JPEG
    for outsider in ("rep_a2", "mgr_b", "rep_b1"):
        client.login(outsider)
        assert client.get(f"/visits/{visit}/photos/{pid}").status_code == 404, outsider
        assert client.get(f"/visits/{visit}/photos/{pid}?size=thumb").status_code == 404, outsider
    # A photo id under another visit's path is not found either (the pair must match).
    client.login("rep_a1")
    other_visit = client.run(factories.visit(world.rep, world.customer))
    assert client.get(f"/visits/{other_visit}/photos/{pid}").status_code == 404
    client.cookies.clear()
    assert client.get(f"/visits/{visit}/photos/{pid}", follow_redirects=False).status_code == 303


def test_nobody_attaches_photos_to_another_reps_visit(client, world):
    visit = client.run(factories.visit(world.rep, world.customer))
    client.login("rep_a2")
    assert upload(client, visit, uuid4()).status_code == 404
    # A photo sent for a visit id that does not exist yet, which then turns out to be someone else's, is never shown.
    future, pid = uuid4(), uuid4()
    assert upload(client, future, pid).status_code == 200
    client.login("rep_a1")
    push = envelope(uuid4(), [{"seq": 1, "kind": "visit.create", "record_id": str(future),
                      "payload": {"customer": str(world.customer), "purpose": "demo"}}])
    assert client.post_json("/api/v1/sync/push", push).json()["results"][0]["status"] == "applied"
    assert client.get(f"/api/v1/visits/{future}").json()["photos"] == []
    assert client.get(f"/visits/{future}/photos/{pid}").status_code == 404
    # Reusing another rep's photo id is refused, and changes nothing.
    r = upload(client, future, pid)
    assert r.status_code == 422 and "another record" in r.text
    # Managers and admin do not upload.
    client.login("mgr_a")
    assert upload(client, visit, uuid4()).status_code == 403
    assert len(rows(client, visit)) == 0


def test_bad_uploads_are_refused_with_a_translated_reason(client, world):
    visit = client.run(factories.visit(world.rep, world.customer))
    client.login("rep_a1")
    # Content type by magic bytes, whatever the upload claims.
    r = upload(client, visit, uuid4(), data=b"%PDF-1.7 not a photo", filename="x.jpg")
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "not a photo" in r.json()["errors"]["photo"]
    r = upload(client, visit, uuid4(), data=b"GIF89a....", language="zh-CN")
    assert r.status_code == 422 and "不是照片" in r.json()["errors"]["photo"], r.text
    r = upload(client, visit, uuid4(), thumb=b"<svg/>")
    assert r.status_code == 422 and "thumb" in r.json()["errors"]
    r = upload(client, visit, uuid4(), data=b"")
    assert r.status_code == 422 and r.json()["errors"]["photo"]
    r = client.post(f"/api/v1/visits/{visit}/photos", data={"id": "not-a-uuid"},
                    files={"photo": ("p.jpg", JPEG, "image/jpeg")}, headers={"x-csrftoken": client.csrf()})
    assert r.status_code == 422 and "id" in r.json()["errors"]
    r = client.post_json(f"/api/v1/visits/{visit}/photos", {"id": str(uuid4()), "photo": "base64?"})
    assert r.status_code == 422
    # PNG and WebP are photos too.
    assert upload(client, visit, uuid4(), data=PNG, thumb=None).status_code == 200
    assert upload(client, visit, uuid4(), data=WEBP, thumb=None).status_code == 200
    assert len(rows(client, visit)) == 2


def test_size_and_count_limits(client, world, monkeypatch):
    visit = client.run(factories.visit(world.rep, world.customer))
    client.login("rep_a1")
    monkeypatch.setattr(photos, "_limits", photos.Limits(photos.limits().directory, max_bytes=len(JPEG), max_per_visit=2))
    r = upload(client, visit, uuid4(), data=JPEG + b"\x00")
    assert r.status_code == 422 and "larger than" in r.json()["errors"]["photo"]
    r = upload(client, visit, uuid4(), data=JPEG + b"\x00", language="zh-CN")
    assert r.status_code == 422 and "MB" in r.json()["errors"]["photo"] and "larger" not in r.json()["errors"]["photo"]
    first, second = uuid4(), uuid4()
    assert upload(client, visit, first).status_code == 200
    assert upload(client, visit, second).status_code == 200
    r = upload(client, visit, uuid4())
    assert r.status_code == 422 and "at most 2 photos" in r.json()["errors"]["photo"]
    assert upload(client, visit, second).json()["result"] == "duplicate"  # a retry still acknowledged at the limit
    # With the default limit (3 MB) a photo above the app's 2 MB body limit for forms still goes through.
    monkeypatch.setattr(photos, "_limits", photos.Limits(photos.limits().directory))
    big = JPEG + b"\x00" * (2_500_000)
    other = client.run(factories.visit(world.rep, world.customer))
    assert upload(client, other, uuid4(), data=big).status_code == 200
    assert len(rows(client, other)) == 1
    # A body beyond the upload limit never reaches the service: 413, with a message.
    huge = b"\xff\xd8\xff" + b"\x00" * (photos.UPLOAD_LIMIT + 10)
    r = upload(client, visit, uuid4(), data=huge, thumb=None)
    assert r.status_code == 413 and r.json()["title"]
    assert len(rows(client, visit)) == 2


def test_photos_whose_visit_never_arrived_are_deleted_after_the_grace_period(client, world, settings):
    """The nightly photos.cleanup job: an orphan older than FIELDPACE_PHOTO_ORPHAN_DAYS goes with its files;
    a photo of a visit that arrived stays whatever its age; a young orphan waits (its visit may still be in
    an outbox); a file with no row (a crash before the row) goes once old."""
    import os
    from datetime import timedelta

    from server import clock
    from server.jobs.registry import JobContext, find
    from server.visits import jobs as visit_jobs

    directory = photos.limits().directory
    assert directory == settings.effective_photo_dir
    visit = client.run(factories.visit(world.rep, world.customer))
    client.login("rep_a1")
    kept, orphan, young, stolen = uuid4(), uuid4(), uuid4(), uuid4()
    assert upload(client, visit, kept).json()["result"] == "applied"
    assert upload(client, uuid4(), orphan).json()["result"] == "applied"  # its visit never comes
    assert upload(client, uuid4(), young).json()["result"] == "applied"
    # Its visit id did arrive, but as another rep's visit: never shown with it, so an orphan all the same.
    other = client.run(factories.visit(world.other_rep, world.other_customer))
    client.run(VisitPhoto.update({VisitPhoto.visit: other}).where(VisitPhoto.id == orphan))
    now = clock.now()
    old = now - timedelta(days=settings.photo_orphan_days + 1)
    client.run(VisitPhoto.update({VisitPhoto.created_at: old}).where(VisitPhoto.id.is_in([kept, orphan])))
    stray_old, stray_young = photos.path_of(stolen), photos.path_of(uuid4())
    for path in (stray_old, stray_young):
        photos.write_whole(path, JPEG)
    os.utime(stray_old, (old.timestamp(), old.timestamp()))
    assert photos.path_of(orphan).exists() and photos.path_of(orphan, thumb=True).exists()

    assert find(settings, "photos.cleanup") is not None
    counts = client.run(visit_jobs.cleanup_photos(JobContext(slot=now, settings=settings)))
    assert counts == {"orphans": 1, "stray_files": 1}
    left = {r["id"] for r in client.run(VisitPhoto.select(VisitPhoto.id))}
    assert {UUID(str(i)) for i in left} == {kept, young}
    assert not photos.path_of(orphan).exists() and not photos.path_of(orphan, thumb=True).exists()
    assert photos.path_of(kept).exists() and photos.path_of(young).exists()
    assert not stray_old.exists() and stray_young.exists()
    assert client.get(f"/visits/{visit}/photos/{kept}").content == JPEG
    # Run again for the same slot: nothing more to do.
    assert client.run(visit_jobs.cleanup_photos(JobContext(slot=now, settings=settings))) == {"orphans": 0, "stray_files": 0}
