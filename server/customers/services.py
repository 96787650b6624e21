"""Customers: a rep's own accounts; managers see their teams' customers, admin all."""

from __future__ import annotations

import logging
from uuid import UUID, uuid4

from server import clock, db, geo, validation
from server.accounts.permissions import Actor, can_see_rep, require_role, visible_rep_ids
from server.customers.keys import name_key, phone_key
from server.customers.tables import Customer
from server.i18n import _
from server.syncing import sequence
from server.web import Arrival, FieldErrors, Result, single
from sync.protocol import TEXT_CAPS as _CAPS

TEXT_CAPS = _CAPS["customer.create"]

COLUMNS = (Customer.id, Customer.name, Customer.contact_name, Customer.phone, Customer.address, Customer.owner,
           Customer.latitude, Customer.longitude)
log = logging.getLogger("fieldpace.customers")


class PossibleDuplicates(FieldErrors):
    """The customer being saved matches existing ones by name or phone key: ask before saving."""

    def __init__(self, matches: list[dict]):
        super().__init__({"": _("A customer with this name or phone already exists. Check the list, or save anyway.")})
        self.matches = matches


def with_keys(values: dict) -> dict:
    """`values` plus the match keys of its name and phone: every insert and update goes through this."""
    out = dict(values)
    if "name" in values:
        out["name_key"] = name_key(values["name"] or "")
    if "phone" in values:
        out["phone_key"] = phone_key(values["phone"] or "")
    return out


async def matches(actor: Actor, name: str, phone: str, *, exclude: UUID | None = None, limit: int = 5) -> list[dict]:
    """Customers visible to `actor` whose name key or phone key equals those of `name` / `phone`."""
    rep_ids = await visible_rep_ids(actor)
    if rep_ids == []:
        return []
    nk, pk = name_key(name), phone_key(phone)
    if not nk and not pk:
        return []
    wanted = ((Customer.name_key == nk) if nk else None, (Customer.phone_key == pk) if pk else None)
    conditions = [c for c in wanted if c is not None]
    condition = conditions[0] if len(conditions) == 1 else conditions[0] | conditions[1]
    query = _scope(Customer.select(*COLUMNS, Customer.owner.display_name.as_alias("owner_name")).where(condition), rep_ids)
    if exclude is not None:
        query = query.where(Customer.id != exclude)
    return await query.order_by(Customer.name).limit(limit)


def _scope(query, rep_ids: list[UUID] | None):
    return query if rep_ids is None else query.where(Customer.owner.is_in(rep_ids))


async def search(actor: Actor, q: str = "", limit: int = 50) -> list[dict]:
    """Customers visible to `actor` whose name, contact or phone contains `q`, by name."""
    rep_ids = await visible_rep_ids(actor)
    if rep_ids == []:
        return []
    query = Customer.select(*COLUMNS, Customer.owner.display_name.as_alias("owner_name"))
    query = _scope(query, rep_ids)
    q = q.strip()[:100]
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            db.ilike(Customer.name, pattern) | db.ilike(Customer.contact_name, pattern)
            | db.ilike(Customer.phone, pattern)
        )
    return await query.order_by(Customer.name).limit(limit)


async def get(actor: Actor, customer_id: UUID) -> dict | None:
    row = await Customer.select(*COLUMNS, Customer.owner.display_name.as_alias("owner_name")).where(
        Customer.id == customer_id
    ).first()
    if row and await can_see_rep(actor, row["owner"]):
        return row
    return None


def validate(data: dict) -> dict:
    errors: dict[str, str] = {}
    clean: dict[str, object] = {
        "id": validation.uuid(data, "id", errors, required=False),
        "name": validation.text(data, "name", errors, required=True, max_len=TEXT_CAPS["name"]),
        "contact_name": validation.text(data, "contact_name", errors, max_len=TEXT_CAPS["contact_name"]),
        "phone": validation.text(data, "phone", errors, max_len=TEXT_CAPS["phone"]),
        "address": validation.text(data, "address", errors, max_len=TEXT_CAPS["address"]),
        "owner": validation.uuid(data, "owner", errors, required=False),
    }
    for name, low, high in (("latitude", -90.0, 90.0), ("longitude", -180.0, 180.0)):
        if data.get(name) not in (None, ""):
            clean[name] = validation.number(data, name, errors, low=low, high=high)
    if ("latitude" in clean) != ("longitude" in clean) and not errors:
        errors["latitude"] = _("Enter both latitude and longitude, or neither.")
    if errors:
        raise FieldErrors(errors)
    return clean


# The columns of an inserted customer, in the order of the values `prepare_many` makes (then `server_seq`).
INSERT_COLUMNS = ("id", "name", "contact_name", "phone", "address", "owner", "created_by", "created_at",
                  "updated_at", "latitude", "longitude", "name_key", "phone_key")


def prepare_many(actor: Actor, items: list[tuple[UUID | None, dict, Arrival]]) -> list[Result | tuple[dict, list]]:
    """The part of `create_many` that needs no database: each item validated, in order, as a rejected
    Result or (clean values, the row to insert if it turns out new: INSERT_COLUMNS' values as the driver
    takes them). A rep owns what they create; a manager or admin names the owning rep."""
    prepared: list[Result | tuple[dict, list]] = []
    now = clock.now()
    for rid, data, _arrival in items:
        try:
            clean = validate({**data, "id": str(rid)} if rid else data)
        except FieldErrors as e:
            prepared.append(Result("rejected", rid, e.errors))
            continue
        owner = actor.id if actor.is_rep else clean["owner"]
        if owner is None:
            prepared.append(Result("rejected", rid, {"owner": _("Choose the rep who owns this customer.")}))
            continue
        clean["owner"] = owner
        clean["id"] = clean["id"] or uuid4()
        if not actor.is_admin:  # only admin sets a location when creating; managers confirm a check-in
            clean.pop("latitude", None)
            clean.pop("longitude", None)
        clean.setdefault("latitude", None)
        clean.setdefault("longitude", None)
        keyed = with_keys(clean)
        row = [clean["id"], clean["name"], clean["contact_name"], clean["phone"], clean["address"], owner, actor.id,
               now, now, clean["latitude"], clean["longitude"], keyed["name_key"], keyed["phone_key"]]
        prepared.append((clean, db.driver_values(row)))
    return prepared


def apply_script(actor: Actor, prepared: list[Result | tuple[dict, list]]) -> db.Script:
    """The part of `create_many` inside the write transaction, as a transaction script: one query for the
    ids that exist (and, for a manager or admin, which named owners are active reps they may see), then
    one insert that takes its server sequence numbers. A repeat of an id with the same owner is a
    duplicate; an id of another owner's record is rejected. Returns one Result per prepared item."""
    results: list[Result | None] = [p if isinstance(p, Result) else None for p in prepared]
    cleaned = [(index, p[0], p[1]) for index, p in enumerate(prepared) if not isinstance(p, Result)]
    if not cleaned:
        return results
    lookups = [db.Lookup("existing", "customer", "id", "owner", [c["id"] for _i, c, _r in cleaned])]
    if not actor.is_rep:
        owners = list({c["owner"] for _i, c, _r in cleaned})
        # Who may own it: an active rep the actor may see (admin: any; a manager: their teams' reps).
        lookups.append(db.Lookup("reps", "app_user", "id", "team", owners, where="role", equals="rep"))
        lookups.append(db.Lookup("active", "app_user", "id", "id", owners, where="active", equals=True))
    found = yield from db.find_keys(lookups)
    existing = found["existing"]
    new_rows = []
    for index, clean, row in cleaned:
        cid = clean["id"]
        if not actor.is_rep and not _may_own(actor, clean["owner"], found):
            results[index] = Result("rejected", cid, {"owner": _("Choose the rep who owns this customer.")})
        elif cid in existing:
            same = existing[cid] == clean["owner"]
            results[index] = Result("duplicate", cid) if same else Result(
                "rejected", cid, {"id": _("This identifier belongs to another record.")})
        else:
            existing[cid] = clean["owner"]
            new_rows.append((index, clean, row))
    if new_rows:
        inserted = {db.as_uuid(v) for v in (yield from sequence.insert_numbered(
            "customer", INSERT_COLUMNS, [row for _i, _c, row in new_rows], conflict=("id",)))}
        skipped = [(index, clean) for index, clean, _r in new_rows if clean["id"] not in inserted]
        owners_now: dict[UUID, UUID | None] = {}
        if skipped:  # created meanwhile by a concurrent push (PostgreSQL): answered from its owner
            owners_now = (yield from db.find_keys([db.Lookup("c", "customer", "id", "owner",
                                                             [c["id"] for _i, c in skipped])]))["c"]
        for index, clean, _r in new_rows:
            results[index] = Result("applied", clean["id"])
        for index, clean in skipped:
            same = owners_now.get(clean["id"]) == clean["owner"]
            results[index] = Result("duplicate", clean["id"]) if same else Result(
                "rejected", clean["id"], {"id": _("This identifier belongs to another record.")})
    return results


def _may_own(actor: Actor, owner: UUID, found: dict[str, dict[UUID, UUID | None]]) -> bool:
    if owner not in found["reps"] or owner not in found["active"]:
        return False
    return actor.is_admin or (actor.is_manager and found["reps"][owner] in actor.led_team_ids)


async def create_many(actor: Actor, items: list[tuple[UUID | None, dict, Arrival]]) -> list[Result]:
    """Create customers with the clients' ids, set-based. A repeat of an id the actor owns is a duplicate.

    A rep owns what they create; a manager or admin names a rep they may see as owner.
    """
    prepared = prepare_many(actor, items)
    if all(isinstance(p, Result) for p in prepared):
        return [p for p in prepared if isinstance(p, Result)]
    return await db.run_write(apply_script(actor, prepared))


def _truthy(raw: object) -> bool:
    return raw is True or str(raw).strip().lower() in ("1", "true", "yes", "on")


async def create(actor: Actor, data: dict) -> tuple[UUID, bool]:
    """Create one customer from a form or the API. Returns (id, created); raises FieldErrors when refused.

    A name or phone matching a customer the actor can see raises PossibleDuplicates unless `confirmed` is
    set. (The sync path, `create_many`, never asks: a queued mutation must not jam the outbox.)"""
    data = dict(data)
    confirmed = _truthy(data.pop("confirmed", ""))
    if not confirmed and isinstance(data.get("name"), str):
        found = await matches(actor, data.get("name", ""), data.get("phone", "") if isinstance(data.get("phone"), str) else "")
        rid = validation.optional_uuid(data.get("id"))
        if rid is not None:
            found = [m for m in found if m["id"] != rid]  # a resubmitted form: the id is its own
        if found:
            raise PossibleDuplicates(found)
    return single((await create_many(actor, [(None, data, Arrival())]))[0])


async def set_location(actor: Actor, customer_id: UUID, latitude: float | None, longitude: float | None) -> bool:
    """Set (or clear) a customer's location; a new change number so phones pull it. Admin, manager of the
    owner (confirming a check-in). False when the customer is not visible to the actor."""
    require_role(actor, "manager", "admin")
    if not geo.valid_lat_lng(latitude, longitude):
        raise FieldErrors({"latitude": _("Enter a latitude from -90 to 90 and a longitude from -180 to 180.")})
    async with db.write_transaction():
        row = await Customer.select(Customer.owner).where(Customer.id == customer_id).first()
        if not row or not await can_see_rep(actor, row["owner"]):
            return False
        seq = await sequence.allocate(1)
        await Customer.update({Customer.latitude: latitude, Customer.longitude: longitude,
                               Customer.updated_at: clock.now(), Customer.server_seq: seq}).where(Customer.id == customer_id)
    return True


async def merge(actor: Actor, keep_id: UUID, drop_id: UUID) -> dict:
    """Admin: fold customer `drop_id` into `keep_id` in one write transaction. Every visit, order and
    opportunity of the dropped customer moves to the kept one; the kept one's empty fields take the dropped
    one's values; the dropped one is deleted with a tombstone (phones drop their copy) and the kept one and
    the moved visits get new change numbers (phones pull them again). Returns counts of what moved."""
    from server.sales.tables import Opportunity, Order
    from server.visits.tables import Visit

    require_role(actor, "admin")
    if keep_id == drop_id:
        raise FieldErrors({"drop": _("Choose two different customers.")})
    fields = ("name", "contact_name", "phone", "address", "code", "latitude", "longitude", "owner")
    async with db.write_transaction():
        rows = {r["id"]: r for r in await Customer.select(Customer.id, *(getattr(Customer, f) for f in fields)).where(
            Customer.id.is_in([keep_id, drop_id]))}
        if keep_id not in rows or drop_id not in rows:
            raise FieldErrors({"drop": _("That customer no longer exists.")})
        keep, drop = rows[keep_id], rows[drop_id]
        filled: dict = {}
        for f in ("contact_name", "phone", "address"):
            if not keep[f] and drop[f]:
                filled[f] = drop[f]
        if keep["latitude"] is None and drop["latitude"] is not None:
            filled["latitude"], filled["longitude"] = drop["latitude"], drop["longitude"]
        moved_code = bool(not keep["code"] and drop["code"])
        visit_ids = [r["id"] for r in await Visit.select(Visit.id).where(Visit.customer == drop_id).order_by(Visit.id)]
        orders = await Order.count().where(Order.customer == drop_id)
        opportunities = await Opportunity.count().where(Opportunity.customer == drop_id)
        await Order.update({Order.customer: keep_id}).where(Order.customer == drop_id)
        await Opportunity.update({Opportunity.customer: keep_id}).where(Opportunity.customer == drop_id)
        if moved_code:
            await Customer.update({Customer.code: None}).where(Customer.id == drop_id)
            filled["code"] = drop["code"]
        # The change numbers last: the counter row stays locked until commit.
        first = await sequence.allocate(len(visit_ids) + 1) if visit_ids else await sequence.allocate(1)
        for k, vid in enumerate(visit_ids):
            await Visit.update({Visit.customer: keep_id, Visit.server_seq: first + k}).where(Visit.id == vid)
        await Customer.delete().where(Customer.id == drop_id)
        await sequence.record_deletion("customer", drop_id, drop["owner"])
        now = clock.now()
        values = {getattr(Customer, k): v for k, v in with_keys(filled).items()}
        await Customer.update({**values, Customer.updated_at: now, Customer.server_seq: first + len(visit_ids)}).where(
            Customer.id == keep_id)
    summary = {"visits": len(visit_ids), "orders": orders, "opportunities": opportunities}
    log.info("customer merge by %s at %s: kept %s, removed %s (%s)", actor.id, now.isoformat(), keep_id, drop_id, summary)
    return summary
