"""Customers: a rep's own accounts; managers see their teams' customers, admin all."""

from __future__ import annotations

from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor, can_see_rep, visible_rep_ids
from server.customers.tables import Customer
from server.i18n import _
from server.syncing import sequence
from server.web import Arrival, FieldErrors, Result, single
from sync.protocol import TEXT_CAPS as _CAPS

TEXT_CAPS = _CAPS["customer.create"]

COLUMNS = (Customer.id, Customer.name, Customer.contact_name, Customer.phone, Customer.address, Customer.owner)


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
    clean = {
        "id": validation.uuid(data, "id", errors, required=False),
        "name": validation.text(data, "name", errors, required=True, max_len=TEXT_CAPS["name"]),
        "contact_name": validation.text(data, "contact_name", errors, max_len=TEXT_CAPS["contact_name"]),
        "phone": validation.text(data, "phone", errors, max_len=TEXT_CAPS["phone"]),
        "address": validation.text(data, "address", errors, max_len=TEXT_CAPS["address"]),
        "owner": validation.uuid(data, "owner", errors, required=False),
    }
    if errors:
        raise FieldErrors(errors)
    return clean


# The columns of an inserted customer, in the order of the values `prepare_many` makes (then `server_seq`).
INSERT_COLUMNS = ("id", "name", "contact_name", "phone", "address", "owner", "created_by", "created_at",
                  "updated_at")


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
        row = [clean["id"], clean["name"], clean["contact_name"], clean["phone"], clean["address"], owner, actor.id,
               now, now]
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


async def create(actor: Actor, data: dict) -> tuple[UUID, bool]:
    """Create one customer from a form or the API. Returns (id, created); raises FieldErrors when refused."""
    return single((await create_many(actor, [(None, data, Arrival())]))[0])
