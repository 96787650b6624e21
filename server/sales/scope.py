"""Whose results an actor reads and records: the reps, customers and orders in their scope.

An order is visible to whoever may see its customer's owner or one of the reps it is split to."""

from __future__ import annotations

from uuid import UUID

from server.accounts.permissions import Actor, can_see_rep, rep_scope
from server.accounts.tables import User
from server.customers.tables import Customer
from server.sales.tables import Order


async def scope_rep_ids(actor: Actor, rep: UUID | None = None) -> list[UUID] | None:
    """The reps whose results the actor reads (None: everyone), narrowed to `rep` when given."""
    return (await rep_scope(actor, rep=rep)).ids()


async def rep_choices(actor: Actor) -> list[dict]:
    """Reps the actor may filter by (managers and admin)."""
    if actor.is_rep:
        return []
    query = User.select(User.id, User.display_name).where(User.role == "rep")
    if actor.is_manager:
        if not actor.led_team_ids:
            return []
        query = query.where(User.team.is_in(list(actor.led_team_ids)))
    return await query.order_by(User.display_name)


async def split_choices(actor: Actor) -> list[dict]:
    """Active reps an order of this actor may be split to: a rep's own team, a manager's teams, admin all."""
    query = User.select(User.id, User.display_name).where((User.role == "rep") & (User.active == True))  # noqa: E712 - Piccolo builds SQL from ==
    if actor.is_rep:
        if actor.team_id is None:
            query = query.where(User.id == actor.id)
        else:
            query = query.where((User.team == actor.team_id) | (User.id == actor.id))
    elif actor.is_manager:
        if not actor.led_team_ids:
            return []
        query = query.where(User.team.is_in(list(actor.led_team_ids)))
    return await query.order_by(User.display_name)


async def customer_choices(actor: Actor, limit: int = 500) -> list[dict]:
    query = (await rep_scope(actor)).narrow(
        Customer.select(Customer.id, Customer.name, Customer.owner.display_name.as_alias("owner_name")), Customer.owner)
    if query is None:
        return []
    return await query.order_by(Customer.name).limit(limit)


async def customer_for(actor: Actor, customer_id: UUID) -> dict:
    """The customer the actor may record results for, or LookupError (someone else's: 404)."""
    row = await Customer.select(Customer.id, Customer.name, Customer.owner).where(Customer.id == customer_id).first()
    if not row:
        raise LookupError(customer_id)
    if actor.is_rep and row["owner"] != actor.id:
        raise LookupError(customer_id)
    if not await can_see_rep(actor, row["owner"]):
        raise LookupError(customer_id)
    return row


def placeholders(values) -> str:
    return ", ".join("{}" for _v in values)


def order_visibility(rep_ids: list[UUID], args: list) -> str:
    """SQL condition: the order `o` is visible to readers of `rep_ids` (its customer's owner, a split, or a
    rep a closed month's correction credited, `order_corrections`)."""
    args.extend([*rep_ids, *rep_ids, *rep_ids])
    ph = placeholders(rep_ids)
    return (f"(c.owner IN ({ph}) OR EXISTS (SELECT 1 FROM order_split sv WHERE sv.sales_order = o.id "
            f"AND sv.rep IN ({ph})) OR EXISTS (SELECT 1 FROM order_return_split sw WHERE sw.sales_order = o.id "
            f"AND sw.rep IN ({ph})))")


async def order_visible(actor: Actor, order_id: UUID) -> bool:
    scope = await rep_scope(actor)
    if scope.rep_ids is None:
        return await Order.exists().where(Order.id == order_id)
    if scope.nobody:
        return False
    args: list = [order_id]
    cond = order_visibility(list(scope.rep_ids), args)
    rows = await Order.raw(f"SELECT 1 AS ok FROM sales_order o JOIN customer c ON c.id = o.customer "
                           f"WHERE o.id = {{}} AND {cond}", *args)
    return bool(rows)

