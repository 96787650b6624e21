"""Customers: a rep's own accounts; managers see their teams' customers, admin all."""

from __future__ import annotations

from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor, can_see_rep, visible_rep_ids
from server.customers.tables import Customer
from server.i18n import _
from server.syncing import sequence
from server.web import Arrival, FieldErrors, Result, single

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
        "name": validation.text(data, "name", errors, required=True, max_len=200),
        "contact_name": validation.text(data, "contact_name", errors, max_len=100),
        "phone": validation.text(data, "phone", errors, max_len=40),
        "address": validation.text(data, "address", errors, max_len=500),
        "owner": validation.uuid(data, "owner", errors, required=False),
    }
    if errors:
        raise FieldErrors(errors)
    return clean


async def _is_managed_rep(actor: Actor, rep_id: UUID) -> bool:
    """A customer's owner named by a manager or admin must be an active rep they may see."""
    from server.accounts.tables import User

    is_rep = await User.exists().where((User.id == rep_id) & (User.role == "rep") & (User.active == True))  # noqa: E712
    return is_rep and await can_see_rep(actor, rep_id)


async def create_many(actor: Actor, items: list[tuple[UUID | None, dict, Arrival]]) -> list[Result]:
    """Create customers with the clients' ids, set-based. A repeat of an id the actor owns is a duplicate.

    A rep owns what they create; a manager or admin names a rep they may see as owner.
    """
    results: list[Result | None] = [None] * len(items)
    cleaned = []
    for index, (rid, data, _arrival) in enumerate(items):
        try:
            clean = validate({**data, "id": str(rid)} if rid else data)
        except FieldErrors as e:
            results[index] = Result("rejected", rid, e.errors)
            continue
        owner = actor.id if actor.is_rep else clean["owner"]
        if owner is None or (not actor.is_rep and not await _is_managed_rep(actor, owner)):
            results[index] = Result("rejected", rid, {"owner": _("Choose the rep who owns this customer.")})
            continue
        clean["owner"] = owner
        clean["id"] = clean["id"] or uuid4()
        cleaned.append((index, clean))
    if cleaned:
        async with db.write_transaction():
            ids = [c["id"] for _i, c in cleaned]
            existing = {r["id"]: r["owner"] for r in await Customer.select(Customer.id, Customer.owner).where(Customer.id.is_in(ids))}
            new_rows = []
            for index, clean in cleaned:
                if clean["id"] in existing:
                    same = existing[clean["id"]] == clean["owner"]
                    results[index] = Result("duplicate", clean["id"]) if same else Result(
                        "rejected", clean["id"], {"id": _("This identifier belongs to another record.")})
                else:
                    existing[clean["id"]] = clean["owner"]
                    new_rows.append((index, clean))
            if new_rows:
                first = await sequence.allocate(len(new_rows))
                now = clock.now()
                await db.insert_rows(Customer, [
                    {**clean, "created_by": actor.id, "created_at": now, "updated_at": now, "server_seq": first + k}
                    for k, (_i, clean) in enumerate(new_rows)
                ])
                for index, clean in new_rows:
                    results[index] = Result("applied", clean["id"])
    return results  # type: ignore[return-value]


async def create(actor: Actor, data: dict) -> tuple[UUID, bool]:
    """Create one customer from a form or the API. Returns (id, created); raises FieldErrors when refused."""
    return single((await create_many(actor, [(None, data, Arrival())]))[0])
