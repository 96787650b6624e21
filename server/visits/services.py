"""Visits: a rep logs them (append-only); managers read their teams' visits."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

from server import clock, db, geo, validation
from server.accounts.permissions import Actor, can_see_rep, require_role, visible_rep_ids
from server.i18n import N_, _
from server.syncing import sequence
from server.visits import photos
from server.visits.tables import PURPOSES, Visit
from server.web import Arrival, FieldErrors, Result, single
from sync.protocol import TEXT_CAPS as _CAPS

TEXT_CAPS = _CAPS["visit.create"]

# A phone's clock may run a little ahead of the server's.
_FUTURE_TOLERANCE = timedelta(minutes=10)

PURPOSE_LABELS = {
    "first_visit": N_("First visit"),
    "follow_up": N_("Follow-up"),
    "demo": N_("Demo"),
    "negotiation": N_("Negotiation"),
    "collection": N_("Collection"),
    "after_sales": N_("After-sales"),
}

LIST_COLUMNS = (
    Visit.id, Visit.rep, Visit.customer, Visit.purpose, Visit.checkin_at, Visit.checkout_at, Visit.visit_date,
    Visit.latitude, Visit.longitude, Visit.accuracy_m, Visit.outcome, Visit.next_step, Visit.next_step_date,
    Visit.satisfaction, Visit.device_time, Visit.received_at, Visit.clock_skew_s,
)

# Where the customer is, for each visit's distance to it (the DingTalk-style out-of-range flag).
CUSTOMER_PLACE = (Visit.customer.latitude.as_alias("customer_latitude"),
                  Visit.customer.longitude.as_alias("customer_longitude"))


def with_distance(rows: list[dict]) -> list[dict]:
    """Each visit with `distance_m` (None without both locations) and `out_of_range` (beyond the radius)."""
    for row in rows:
        d = geo.distance_m(row.get("latitude"), row.get("longitude"), row.get("customer_latitude"),
                           row.get("customer_longitude"))
        row["distance_m"] = d
        row["out_of_range"] = geo.out_of_range(d)
    return rows


def validate(data: dict) -> dict:
    """Check a visit as typed on the phone; every problem is reported at once, per field."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {
        "id": validation.uuid(data, "id", errors, required=False),
        "customer": validation.uuid(data, "customer", errors, required=True),
        "purpose": validation.choice(data, "purpose", PURPOSES, errors),
        "checkin_at": validation.moment(data, "checkin_at", errors) or clock.now(),
        "checkout_at": validation.moment(data, "checkout_at", errors),
        "latitude": validation.number(data, "latitude", errors, low=-90, high=90),
        "longitude": validation.number(data, "longitude", errors, low=-180, high=180),
        "accuracy_m": validation.number(data, "accuracy_m", errors, low=0, high=1_000_000),
        "outcome": validation.text(data, "outcome", errors, max_len=TEXT_CAPS["outcome"]),
        "next_step": validation.text(data, "next_step", errors, max_len=TEXT_CAPS["next_step"]),
        "next_step_date": validation.day(data, "next_step_date", errors),
        "satisfaction": validation.integer(data, "satisfaction", errors, low=1, high=5),
    }
    if "customer" in errors and data.get("customer") in (None, ""):
        errors["customer"] = _("Choose the customer you visited.")
    if (clean["latitude"] is None) != (clean["longitude"] is None):
        errors["latitude"] = _("Location needs both latitude and longitude.")
    if clean["checkout_at"] and clean["checkout_at"] < clean["checkin_at"]:
        errors["checkout_at"] = _("Check-out cannot be before check-in.")
    if clean["next_step_date"] and clean["next_step_date"] < clock.local_date(clean["checkin_at"]):
        errors["next_step_date"] = _("The next step cannot be before the visit.")
    if clean["checkin_at"] > clock.now().replace(microsecond=0) + _FUTURE_TOLERANCE:
        errors["checkin_at"] = _("Check-in cannot be in the future.")
    if errors:
        raise FieldErrors(errors)
    if clean["latitude"] is None:
        clean["accuracy_m"] = None
    return clean


# The columns of an inserted visit, in the order of the values `prepare_many` makes (then `server_seq`).
INSERT_COLUMNS = ("id", "customer", "purpose", "checkin_at", "checkout_at", "latitude", "longitude", "accuracy_m",
                  "outcome", "next_step", "next_step_date", "satisfaction", "rep", "visit_date", "created_at",
                  "device_time", "received_at", "clock_skew_s")
_CLEAN_COLUMNS = INSERT_COLUMNS[:12]


def prepare_many(actor: Actor, items: list[tuple[UUID | None, dict, Arrival]]) -> list[Result | tuple[dict, list]]:
    """The part of `create_many` that needs no database: each item validated, in order, as a rejected
    Result or (clean values, the row to insert if it turns out new: INSERT_COLUMNS' values as the
    driver takes them). Pure Python, so callers run it before taking the write lock."""
    if not actor.is_rep:
        return [Result("rejected", rid, {"": _("Only reps log visits.")}) for rid, _d, _a in items]
    prepared: list[Result | tuple[dict, list]] = []
    now = clock.now()
    for rid, data, arrival in items:
        try:
            clean = validate({**data, "id": str(rid)} if rid else data)
        except FieldErrors as e:
            prepared.append(Result("rejected", rid, e.errors))
            continue
        clean["id"] = clean["id"] or uuid4()
        row = [*(clean[c] for c in _CLEAN_COLUMNS), actor.id, clock.local_date(clean["checkin_at"]), now,
               arrival.device_time, arrival.received_at, arrival.clock_skew_s]
        prepared.append((clean, db.driver_values(row)))
    return prepared


def apply_script(actor: Actor, prepared: list[Result | tuple[dict, list]]) -> db.Script:
    """The part of `create_many` inside the write transaction, as a transaction script (`db.Sql`): one
    query for the ids that exist and the customers that are the actor's (`db.find_keys`: one row back on
    SQLite, arrays on PostgreSQL), then one insert that takes its server sequence numbers
    (`sequence.insert_numbered`). Returns one Result per prepared item, in order."""
    results: list[Result | None] = [p if isinstance(p, Result) else None for p in prepared]
    cleaned = [(index, p[0], p[1]) for index, p in enumerate(prepared) if not isinstance(p, Result)]
    if not cleaned:
        return results
    found = yield from db.find_keys([
        db.Lookup("visits", "visit", "id", "rep", [c["id"] for _i, c, _r in cleaned]),
        db.Lookup("mine", "customer", "id", "owner", list({c["customer"] for _i, c, _r in cleaned}),
                  where="owner", equals=actor.id),
    ])
    existing: dict[UUID, UUID] = found["visits"]
    mine = found["mine"]
    new_rows = []
    for index, clean, row in cleaned:
        vid = clean["id"]
        if vid in existing:
            if existing[vid] == actor.id:
                results[index] = Result("duplicate", vid)
            else:
                results[index] = Result("rejected", vid, {"id": _("This identifier belongs to another record.")})
        elif clean["customer"] not in mine:
            results[index] = Result("rejected", vid, {"customer": _("Choose one of your customers.")})
        else:
            existing[vid] = actor.id  # a second copy later in the same batch is a duplicate
            new_rows.append((index, clean, row))
    if new_rows:
        # One driver-level INSERT for the batch (Piccolo objects cost more than the database work).
        # ON CONFLICT: a visit with the same new id committed by a concurrent push since the check above
        # (PostgreSQL) is skipped here and answered from its owner, never a unique violation.
        inserted = {db.as_uuid(v) for v in (yield from sequence.insert_numbered(
            "visit", INSERT_COLUMNS, [row for _i, _c, row in new_rows], conflict=("id",)))}
        skipped = [(index, clean) for index, clean, _r in new_rows if db.as_uuid(clean["id"]) not in inserted]
        owners = {}
        if skipped:
            owners = (yield from db.find_keys([db.Lookup("v", "visit", "id", "rep", [c["id"] for _i, c in skipped])]))["v"]
        for index, clean, _r in new_rows:
            results[index] = Result("applied", clean["id"])
        for index, clean in skipped:
            results[index] = Result("duplicate", clean["id"]) if owners.get(clean["id"]) == actor.id else Result(
                "rejected", clean["id"], {"id": _("This identifier belongs to another record.")})
    return results


async def create_many(actor: Actor, items: list[tuple[UUID | None, dict, Arrival]]) -> list[Result]:
    """Log visits, set-based: one query for the checks and one insert for the batch.

    Each item is (client id or None to take the payload's `id`, payload, arrival). Results come back in
    the same order: applied, duplicate (the id exists already and is this rep's: nothing changes) or
    rejected with a translated message per field. Run inside the caller's transaction when there is one.
    """
    prepared = prepare_many(actor, items)
    if all(isinstance(p, Result) for p in prepared):
        return [p for p in prepared if isinstance(p, Result)]
    return await db.run_write(apply_script(actor, prepared))


async def create(actor: Actor, data: dict) -> tuple[UUID, bool]:
    """Log one visit from a form or the API. Returns (id, created); raises FieldErrors when refused."""
    return single((await create_many(actor, [(None, data, Arrival())]))[0])


async def for_rep_day(rep_id: UUID, day: date) -> list[dict]:
    """One rep's visits of one company day, by check-in time (callers check access)."""
    return await Visit.select(*LIST_COLUMNS, Visit.customer.name.as_alias("customer_name")).where(
        (Visit.rep == rep_id) & (Visit.visit_date == day)
    ).order_by(Visit.checkin_at)


async def for_rep_range(rep_id: UUID, first: date, last: date) -> list[dict]:
    return await Visit.select(*LIST_COLUMNS, Visit.customer.name.as_alias("customer_name")).where(
        (Visit.rep == rep_id) & (Visit.visit_date >= first) & (Visit.visit_date <= last)
    ).order_by(Visit.checkin_at)


async def recent_for_rep(actor: Actor, limit: int = 50) -> list[dict]:
    return await photos.attach(with_distance(await Visit.select(
        *LIST_COLUMNS, Visit.customer.name.as_alias("customer_name"), *CUSTOMER_PLACE
    ).where(Visit.rep == actor.id).order_by(Visit.checkin_at, ascending=False).limit(limit)))


async def team_feed(actor: Actor, limit: int = 50) -> list[dict]:
    """Recent visits of the reps `actor` may see, newest first, with rep and customer names."""
    rep_ids = await visible_rep_ids(actor)
    if rep_ids == []:
        return []
    query = Visit.select(
        *LIST_COLUMNS, Visit.customer.name.as_alias("customer_name"), *CUSTOMER_PLACE, Visit.rep.display_name.as_alias("rep_name")
    )
    if rep_ids is not None:
        # Bound by date first so the (rep, visit_date) index does the work on large histories.
        since = clock.today() - timedelta(days=14)
        query = query.where(Visit.rep.is_in(rep_ids) & (Visit.visit_date >= since))
    return await photos.attach(with_distance(await query.order_by(Visit.checkin_at, ascending=False).limit(limit)))


async def get(actor: Actor, visit_id: UUID) -> dict | None:
    row = await Visit.select(
        *LIST_COLUMNS, Visit.customer.name.as_alias("customer_name"), *CUSTOMER_PLACE, Visit.rep.display_name.as_alias("rep_name")
    ).where(Visit.id == visit_id).first()
    if row and await can_see_rep(actor, row["rep"]):
        return (await photos.attach(with_distance([row])))[0]
    return None


def summary_lines(visits: list[dict]) -> str:
    """The prefilled work summary of a report: one line per visit, in the reader's language."""
    lines = []
    for v in visits:
        label = _(PURPOSE_LABELS.get(v["purpose"], v["purpose"]))
        line = f"- {v['customer_name']} ({label})"
        if v["outcome"]:
            line += f": {v['outcome']}"
        lines.append(line)
    return "\n".join(lines)


async def for_customer(actor: Actor, customer_id: UUID, limit: int = 20) -> list[dict]:
    """Recent visits to one customer that the actor may see (callers checked the customer)."""
    rep_ids = await visible_rep_ids(actor)
    if rep_ids == []:
        return []
    query = Visit.select(
        *LIST_COLUMNS, Visit.customer.name.as_alias("customer_name"), *CUSTOMER_PLACE, Visit.rep.display_name.as_alias("rep_name")
    ).where(Visit.customer == customer_id)
    if rep_ids is not None:
        query = query.where(Visit.rep.is_in(rep_ids))
    return with_distance(await query.order_by(Visit.checkin_at, ascending=False).limit(limit))


async def use_as_customer_location(actor: Actor, visit_id: UUID) -> UUID | None:
    """Manager/admin: the visit's check-in location becomes its customer's location. Returns the customer's
    id, None when the visit is not visible; FieldErrors when the visit has no location."""
    from server.customers import services as customers

    require_role(actor, "manager", "admin")
    row = await get(actor, visit_id)
    if not row:
        return None
    if row["latitude"] is None or row["longitude"] is None:
        raise FieldErrors({"": _("This visit has no location.")})
    if not await customers.set_location(actor, row["customer"], row["latitude"], row["longitude"]):
        return None
    return row["customer"]
