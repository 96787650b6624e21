"""Visit photos: uploaded once from the phone's outbox, kept in the photo directory, shown with the visit.

A photo carries a client-made id. Uploading an id that exists (the same rep, the same visit) is
acknowledged as a duplicate and writes nothing, so a retried upload is never doubled. The visit may reach
the server before or after its photos (`visit_photo.visit` is the visit's id, not a foreign key): a photo
is shown with a visit only when both belong to the same rep, so nobody can attach a photo to someone
else's visit, whichever arrives first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID, uuid4

from server import clock, db
from server.accounts.permissions import Actor, can_see_rep, require_role
from server.i18n import _, fmt_number
from server.visits.tables import Visit, VisitPhoto
from server.web import FieldErrors

# Content types by their first bytes: what the phone's canvas makes (JPEG) and what a gallery may hold.
MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
UPLOAD_LIMIT = 16 * 1024 * 1024  # the whole multipart body; the photo's own limit is the setting


@dataclass
class Limits:
    directory: Path
    max_bytes: int = 3 * 1024 * 1024
    max_per_visit: int = 10


_limits = Limits(Path("data") / "photos")


def configure(directory: Path, max_bytes: int, max_per_visit: int) -> None:
    """Set the photo directory and limits from the settings (`FIELDPACE_PHOTO_*`)."""
    global _limits
    _limits = Limits(Path(directory), int(max_bytes), int(max_per_visit))


def limits() -> Limits:
    return _limits


def sniff(data: bytes) -> str | None:
    """The image type by magic bytes (JPEG, PNG, WebP), whatever the upload claims; None for anything else."""
    for magic, kind in MAGIC:
        if data.startswith(magic):
            return kind
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _megabytes(n: int) -> str:
    return fmt_number(n / (1024 * 1024), 1)


def check_image(data: bytes, field: str) -> str:
    """The content type of an acceptable image, or FieldErrors with the reason (translated)."""
    if not data:
        raise FieldErrors({field: _("Choose a photo to upload.")})
    if len(data) > _limits.max_bytes:
        raise FieldErrors({field: _("This photo is larger than %(size)s MB; it cannot be uploaded.",
                                    size=_megabytes(_limits.max_bytes))})
    kind = sniff(data)
    if kind is None:
        raise FieldErrors({field: _("This file is not a photo (JPEG, PNG or WebP).")})
    return kind


def path_of(photo_id: UUID, thumb: bool = False) -> Path:
    return path_of_in(_limits.directory, photo_id, thumb)


def write_whole(path: Path, data: bytes) -> None:
    """Write a whole file or nothing: a temporary file renamed over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


async def _existing(photo_id: UUID) -> dict | None:
    return await VisitPhoto.select(VisitPhoto.visit, VisitPhoto.rep).where(VisitPhoto.id == photo_id).first()


def _same(row: dict, actor: Actor, visit_id: UUID) -> bool:
    return db.as_uuid(row["rep"]) == actor.id and db.as_uuid(row["visit"]) == visit_id


async def upload(actor: Actor, visit_id: UUID, photo_id: UUID | None, photo: bytes, thumb: bytes | None) -> str:
    """Keep one photo of the rep's visit. Returns "applied" or "duplicate" (this id was uploaded already:
    nothing changes). LookupError when the visit is someone else's; FieldErrors for a bad upload."""
    require_role(actor, "rep")
    visit = await Visit.select(Visit.rep).where(Visit.id == visit_id).first()
    if visit is not None and visit["rep"] != actor.id:
        raise LookupError(visit_id)
    if photo_id is None:
        raise FieldErrors({"id": _("This field is required.")})  # the route's parser says so first
    found = await _existing(photo_id)
    if found is not None:
        if _same(found, actor, visit_id):
            return "duplicate"
        raise FieldErrors({"id": _("This identifier belongs to another record.")})
    kind = check_image(photo, "photo")
    if thumb:
        check_image(thumb, "thumb")
    count = await VisitPhoto.count().where((VisitPhoto.visit == visit_id) & (VisitPhoto.rep == actor.id))
    if count >= _limits.max_per_visit:
        raise FieldErrors({"photo": _("A visit can carry at most %(n)s photos.", n=_limits.max_per_visit)})
    # The files first, then the row: a row never points at a missing file; a crash in between leaves a file
    # that the retried upload (same id, same path) writes again.
    write_whole(path_of(photo_id), photo)
    if thumb:
        write_whole(path_of(photo_id, thumb=True), thumb)
    inserted = await VisitPhoto.raw(
        db.insert_or_ignore("visit_photo", ("id", "visit", "rep", "content_type", "size_bytes", "thumb_bytes",
                                            "created_at"), ()) + " RETURNING id",
        photo_id, visit_id, actor.id, kind, len(photo), len(thumb or b""), clock.now())
    if inserted:
        return "applied"
    # The same id committed meanwhile by a concurrent retry of this upload (or taken by someone else).
    found = await _existing(photo_id)
    if found is not None and _same(found, actor, visit_id):
        return "duplicate"
    raise FieldErrors({"id": _("This identifier belongs to another record.")})


async def attach(rows: list[dict]) -> list[dict]:
    """Each visit row with `photos`: the ids of its photos (of the visit's own rep), oldest first. One query
    for all the rows; callers checked who may read the visits."""
    for row in rows:
        row["photos"] = []
    if not rows:
        return rows
    by_id = {row["id"]: row for row in rows}
    found = await VisitPhoto.select(VisitPhoto.id, VisitPhoto.visit, VisitPhoto.rep).where(
        VisitPhoto.visit.is_in(list(by_id))).order_by(VisitPhoto.created_at)
    for p in found:
        owner = by_id.get(p["visit"])
        if owner is not None and owner["rep"] == p["rep"]:
            owner["photos"].append(p["id"])
    return rows


async def open_photo(actor: Actor, visit_id: UUID, photo_id: UUID, thumb: bool) -> tuple[bytes, str] | None:
    """The bytes and content type of a photo (or its thumbnail) of a visit the actor may read; None (404)
    otherwise, and when the file is gone from the photo directory."""
    visit = await Visit.select(Visit.rep).where(Visit.id == visit_id).first()
    if visit is None or not await can_see_rep(actor, visit["rep"]):
        return None
    row = await VisitPhoto.select(VisitPhoto.content_type, VisitPhoto.thumb_bytes).where(
        (VisitPhoto.id == photo_id) & (VisitPhoto.visit == visit_id) & (VisitPhoto.rep == visit["rep"])).first()
    if row is None:
        return None
    path = path_of(photo_id, thumb=bool(thumb and row["thumb_bytes"]))
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data, sniff(data) or row["content_type"]


async def sweep_orphans(directory: Path, cutoff: datetime) -> dict[str, int]:
    """Delete what no visit will ever show, uploaded before `cutoff`: photo rows whose visit never arrived
    for the same rep (the visit was refused or discarded on the phone), with their files, and files with no
    row at all (a crash between the file and its row, never retried). Younger ones wait: their visit may
    still be in an outbox. Returns the counts."""
    old = await VisitPhoto.select(VisitPhoto.id, VisitPhoto.visit, VisitPhoto.rep).where(VisitPhoto.created_at < cutoff)
    arrived: set[tuple[UUID, UUID]] = set()
    visit_ids = sorted({_id(r["visit"]) for r in old})
    for start in range(0, len(visit_ids), 500):
        found = await Visit.select(Visit.id, Visit.rep).where(Visit.id.is_in(visit_ids[start:start + 500]))
        arrived |= {(_id(v["id"]), _id(v["rep"])) for v in found}
    ids = [_id(r["id"]) for r in old if (_id(r["visit"]), _id(r["rep"])) not in arrived]
    for photo_id in ids:
        for thumb in (False, True):
            path_of_in(directory, photo_id, thumb).unlink(missing_ok=True)
    for start in range(0, len(ids), 500):
        await VisitPhoto.delete().where(VisitPhoto.id.is_in(ids[start:start + 500]))
    strays = 0
    if directory.is_dir():
        limit = cutoff.timestamp()
        files: dict[UUID, list[Path]] = {}
        for path in directory.glob("??/*"):
            stem = path.name.split(".")[0] if not path.name.startswith(".") else ""
            try:
                photo_id = UUID(hex=stem)
            except ValueError:
                if path.name.startswith(".") and path.name.endswith(".tmp") and path.stat().st_mtime < limit:
                    path.unlink(missing_ok=True)  # a write that never finished
                    strays += 1
                continue
            if path.stat().st_mtime < limit:
                files.setdefault(photo_id, []).append(path)
        known: set[UUID] = set()
        chunk = list(files)
        for start in range(0, len(chunk), 500):
            part = chunk[start:start + 500]
            known |= {_id(r["id"]) for r in await VisitPhoto.select(VisitPhoto.id).where(VisitPhoto.id.is_in(part))}
        for photo_id, paths in files.items():
            if photo_id not in known:
                for path in paths:
                    path.unlink(missing_ok=True)
                    strays += 1
    return {"orphans": len(ids), "stray_files": strays}


def path_of_in(directory: Path, photo_id: UUID, thumb: bool = False) -> Path:
    name = photo_id.hex
    return directory / name[:2] / (name + (".thumb" if thumb else ""))


def _id(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))
