"""Whose results an actor reads and records: the reps, customers and orders in their scope.

An order is visible to whoever may see its customer's owner or one of the reps it is split to."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from server.accounts import membership
from server.accounts.permissions import Actor, can_see_rep, rep_scope
from server.accounts.tables import User
from server.customers.tables import Customer
from server.i18n import _
from server.sales import credits
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


async def split_choices(actor: Actor, on: date | None = None) -> list[dict]:
    """Active reps an order of this actor may be split to: a rep's own team, a manager's teams, admin all.
    With `on` (an order's date), a manager's also include the reps who were in their teams that day
    (`teams_on_day`): an order earned in the team stays the team's to correct after a rep moved on."""
    query = User.select(User.id, User.display_name).where((User.role == "rep") & (User.active == True))  # noqa: E712 - Piccolo builds SQL from ==
    if actor.is_rep:
        if actor.team_id is None:
            query = query.where(User.id == actor.id)
        else:
            query = query.where((User.team == actor.team_id) | (User.id == actor.id))
    elif actor.is_manager:
        if not actor.led_team_ids:
            return []
        led = list(actor.led_team_ids)
        then = [rep for rep, team in (await teams_on_day(on)).items() if team in led] if on else []
        query = query.where(User.team.is_in(led) | User.id.is_in(then) if then else User.team.is_in(led))
    return await query.order_by(User.display_name)


async def teams_on_day(day: date) -> dict[UUID, UUID | None]:
    """rep -> the team they were in on `day` (the membership in force then)."""
    return membership.team_on(await membership.teams_between(day, day), day)


async def can_adjust(actor: Actor, order_id: UUID, order_date: date) -> bool:
    """Whether the actor may correct an order, record a return on it or void it: admin always; a manager
    when every rep of its effective split (`credits.current_split`, corrections applied) was in a team
    they lead on the order's date. Results stay with the team where they were earned: after a rep moves,
    the old team's manager keeps the orders earned before the move, the new one gets those after it."""
    if actor.is_admin:
        return True
    if not actor.is_manager or not actor.led_team_ids:
        return False
    split = await credits.current_split(order_id)
    teams = await teams_on_day(order_date)
    return all(teams.get(rep) in actor.led_team_ids for rep, _bp in split)


async def customer_choices(actor: Actor, limit: int = 500, keep: UUID | None = None) -> list[dict]:
    """Customers the actor records orders for; `keep` (the customer of an order being corrected, visible
    through the order) is among them even when its rep has moved to another team since."""
    columns = (Customer.id, Customer.name, Customer.owner.display_name.as_alias("owner_name"))
    query = (await rep_scope(actor)).narrow(Customer.select(*columns), Customer.owner)
    rows = [] if query is None else await query.order_by(Customer.name).limit(limit)
    if keep is not None and not any(r["id"] == keep for r in rows):
        rows.extend(await Customer.select(*columns).where(Customer.id == keep))
    return rows


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


def not_earned_here(order_date: date) -> str:
    """Why `can_adjust` refused a manager."""
    return _("This order was earned on %(date)s by reps outside the teams you led then: its team's manager or an "
             "admin can correct it.", date=order_date.isoformat())


def order_visibility(rep_ids: list[UUID], args: list, team_ids: tuple[UUID, ...] = ()) -> str:
    """SQL condition: the order `o` is visible to readers of `rep_ids` (its customer's owner, a split, or a
    rep a closed month's correction credited, `order_corrections`), or, with `team_ids` (a manager's),
    split to a rep who was in one of those teams on the order's date (`membership.team_on_sql`)."""
    args.extend([*rep_ids, *rep_ids, *rep_ids])
    ph = placeholders(rep_ids) if rep_ids else "NULL"
    earned = ""
    if team_ids:
        joins, team = membership.team_on_sql("st.rep", "o.order_date")
        earned = (f" OR EXISTS (SELECT 1 FROM order_split st{joins} WHERE st.sales_order = o.id"
                  f" AND {membership.team_in_sql(team, list(team_ids), args)})")
    return (f"(c.owner IN ({ph}) OR EXISTS (SELECT 1 FROM order_split sv WHERE sv.sales_order = o.id "
            f"AND sv.rep IN ({ph})) OR EXISTS (SELECT 1 FROM order_return_split sw WHERE sw.sales_order = o.id "
            f"AND sw.rep IN ({ph})){earned})")


def earned_teams(actor: Actor, rep: UUID | None = None) -> tuple[UUID, ...]:
    """The teams whose earned orders a manager reads beside their reps' (none when filtered to a rep)."""
    return actor.led_team_ids if actor.is_manager and rep is None else ()


async def order_visible(actor: Actor, order_id: UUID) -> bool:
    scope = await rep_scope(actor)
    if scope.rep_ids is None:
        return await Order.exists().where(Order.id == order_id)
    if scope.nobody and not earned_teams(actor):
        return False
    args: list = [order_id]
    cond = order_visibility(list(scope.rep_ids), args, earned_teams(actor))
    rows = await Order.raw(f"SELECT 1 AS ok FROM sales_order o JOIN customer c ON c.id = o.customer "
                           f"WHERE o.id = {{}} AND {cond}", *args)
    return bool(rows)

