"""Customers: a rep's own accounts; managers see their teams' customers, admin all."""

from __future__ import annotations

from uuid import UUID, uuid4

from server import clock, validation
from server.db import is_sqlite
from server.accounts.permissions import Actor, can_see_rep, visible_rep_ids
from server.customers.tables import Customer
from server.i18n import _
from server.web import FieldErrors

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
        # SQLite's LIKE already ignores ASCII case; PostgreSQL needs ILIKE.
        match = "like" if is_sqlite(Customer._meta.db) else "ilike"
        query = query.where(
            getattr(Customer.name, match)(pattern)
            | getattr(Customer.contact_name, match)(pattern)
            | getattr(Customer.phone, match)(pattern)
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


async def create(actor: Actor, data: dict) -> tuple[UUID, bool]:
    """Create a customer with the client's id; repeating the same create changes nothing.

    Returns (id, created). A rep owns what they create; a manager or admin names a rep as owner.
    """
    clean = validate(data)
    owner = actor.id if actor.is_rep else clean["owner"]
    if owner is None:
        raise FieldErrors({"owner": _("Choose the rep who owns this customer.")})
    if not actor.is_rep and not await can_see_rep(actor, owner):
        raise FieldErrors({"owner": _("Choose the rep who owns this customer.")})
    cid = clean["id"] or uuid4()
    existing = await Customer.select(Customer.owner).where(Customer.id == cid).first()
    if existing:
        if existing["owner"] != owner:
            raise FieldErrors({"id": _("This identifier belongs to another record.")})
        return cid, False
    now = clock.now()
    await Customer.insert(
        Customer(
            id=cid, name=clean["name"], contact_name=clean["contact_name"], phone=clean["phone"],
            address=clean["address"], owner=owner, created_by=actor.id, created_at=now, updated_at=now,
        )
    )
    return cid, True
