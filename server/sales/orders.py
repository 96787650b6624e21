"""Orders split among reps: typed in, corrected, listed with what is collected and outstanding."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor, can_see_rep
from server.i18n import _, fmt_money
from server.sales import audit, credits, order_corrections, returns
from server.sales.forms import MAX_SPLITS, day_ok, is_unique_violation, not_future, record_number
from server.sales.opportunities import apply_stage, get_opportunity
from server.sales.scope import (
    can_adjust,
    customer_for,
    earned_teams,
    not_earned_here,
    order_visibility,
    order_visible,
    placeholders,
    scope_rep_ids,
    split_choices,
    teams_on_day,
)
from server.sales.tables import FULL_SHARE, OPEN_STAGES, Collection, Opportunity, Order, OrderReturn, OrderSplit
from server.web import Conflict, FieldErrors


def month_range(month: str) -> tuple[date, date] | None:
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        return None
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


async def orders(actor: Actor, rep: UUID | None = None, month: str = "", limit: int = 200) -> list[dict]:
    """Orders the actor may see, newest first, with the share credited to the filtered reps (or to the
    actor, for a rep) in the split in effect and their credited cents (the stored allocation plus the
    dated corrections, as the boards sum them), the collected sum and the outstanding balance."""
    rep_ids = await scope_rep_ids(actor, rep)
    if rep_ids == [] and not earned_teams(actor, rep):
        return []
    args: list = []
    where = ["1 = 1"]
    if rep_ids is not None:
        where.append(order_visibility(rep_ids, args, earned_teams(actor, rep)))
    span = month_range(month) if month else None
    if span:
        where.append("o.order_date >= {} AND o.order_date <= {}")
        args.extend(span)
    share_sql = credited_sql = "NULL"
    share_args: list = []
    # The split in effect: that of the order's latest dated correction (`order_corrections`, whose rows
    # name every rep credited so far, 0 for one taken off), else the order's own (`credits.current_split`).
    latest = (f"(SELECT lq.id FROM order_return lq WHERE lq.sales_order = o.id AND lq.kind = '{credits.CORRECTION}'"
              " ORDER BY lq.created_at DESC LIMIT 1)")
    if rep_ids:
        share_sql = (f"COALESCE((SELECT SUM(ls.share_bp) FROM order_return_split ls WHERE ls.order_return = {latest} "
                     f"AND ls.rep IN ({placeholders(rep_ids)})), (SELECT SUM(ss.share_bp) FROM order_split ss "
                     f"WHERE ss.sales_order = o.id AND ss.rep IN ({placeholders(rep_ids)})))")
        credited_sql = (f"COALESCE((SELECT SUM(sa.amount_cents) FROM order_split sa WHERE sa.sales_order = o.id "
                        f"AND sa.rep IN ({placeholders(rep_ids)})), 0) + COALESCE((SELECT SUM(sq.amount_cents) "
                        f"FROM order_return_split sq JOIN order_return rq ON rq.id = sq.order_return "
                        f"WHERE sq.sales_order = o.id AND rq.kind = '{credits.CORRECTION}' "
                        f"AND sq.rep IN ({placeholders(rep_ids)})), 0)")
        share_args = [*rep_ids, *rep_ids, *rep_ids, *rep_ids]
    # Amounts as corrected by dated corrections (`order_corrections`); returns without them.
    fix = ("COALESCE((SELECT SUM(q.{}) FROM order_return q WHERE q.sales_order = o.id "
           f"AND q.kind = '{credits.CORRECTION}'), 0)")
    fix_amount, fix_margin = fix.format("amount_cents"), fix.format("margin_cents")
    sql = (
        f"SELECT o.id, o.number, o.order_date, o.due_date, o.amount_cents - {fix_amount} AS amount_cents, "
        f"o.cost_cents - {fix_amount} + {fix_margin} AS cost_cents, c.name AS customer_name, "
        f"o.voided_at, {share_sql} AS share_bp, {credited_sql} AS credited_cents, "
        f"CASE WHEN {latest} IS NULL THEN (SELECT COUNT(*) FROM order_split sc WHERE sc.sales_order = o.id) "
        f"ELSE (SELECT COUNT(*) FROM order_return_split lc WHERE lc.order_return = {latest} AND lc.share_bp > 0) "
        "END AS split_count, "
        f"(SELECT COALESCE(SUM(r.amount_cents), 0) FROM order_return r WHERE r.sales_order = o.id "
        f"AND r.kind <> '{credits.CORRECTION}') AS returned_cents, "
        f"(SELECT COALESCE(SUM(k.amount_cents), 0) FROM collection k WHERE k.sales_order = o.id) AS collected_cents "
        f"FROM sales_order o JOIN customer c ON c.id = o.customer WHERE {' AND '.join(where)} "
        f"ORDER BY o.order_date DESC, o.created_at DESC LIMIT {int(limit)}"
    )
    rows = await Order.raw(sql, *share_args, *args)
    return [_order_row(r) for r in rows]


def _order_row(r: dict) -> dict:
    r = dict(r)
    r["id"] = db.as_uuid(r["id"])
    for k in ("amount_cents", "cost_cents", "collected_cents", "returned_cents", "split_count"):
        r[k] = int(r.get(k) or 0)
    r["share_bp"] = None if r.get("share_bp") is None else int(r["share_bp"])
    # No share in the split in effect: nothing credited to show (the order is visible through its customer).
    r["credited_cents"] = None if r["share_bp"] is None else int(r.get("credited_cents") or 0)
    r["order_date"] = db.as_date(r["order_date"])
    r["due_date"] = db.as_date(r.get("due_date"))
    r["void"] = r.pop("voided_at", None) is not None
    r["outstanding_cents"] = 0 if r["void"] else r["amount_cents"] - r["returned_cents"] - r["collected_cents"]
    due = r["due_date"] or r["order_date"]
    r["days_overdue"] = max(0, (clock.today() - due).days) if r["outstanding_cents"] > 0 else 0
    return r


def _parse_splits(data: dict, errors: dict) -> list[tuple[UUID, int]]:
    """Split rows from the form (split_rep_N / split_pct_N) or the API (splits: [{rep, percent}])."""
    splits: list[tuple[UUID, int]] = []
    raw = data.get("splits")
    rows: list[tuple[str, object, object]] = []
    if isinstance(raw, list):
        for i, item in enumerate(raw[:MAX_SPLITS + 1]):
            if not isinstance(item, dict):
                errors["splits"] = _("Each share names a rep and a percentage.")
                return []
            rows.append((str(i), item.get("rep"), item.get("percent")))
    elif raw not in (None, ""):
        errors["splits"] = _("Each share names a rep and a percentage.")
        return []
    else:
        for i in range(MAX_SPLITS + 1):
            rows.append((str(i), data.get(f"split_rep_{i}"), data.get(f"split_pct_{i}")))
    if len([r for r in rows if r[1] not in (None, "") or r[2] not in (None, "")]) > MAX_SPLITS:
        errors["splits"] = _("At most %(n)s reps share an order.", n=MAX_SPLITS)
        return []
    seen: set[UUID] = set()
    for key, rep_raw, pct_raw in rows:
        rep_empty, pct_empty = rep_raw in (None, ""), pct_raw in (None, "")
        if rep_empty and pct_empty:
            continue
        rep = None
        if rep_empty:
            errors[f"split_rep_{key}"] = _("Choose a rep for this share.")
        else:
            rep = validation.optional_uuid(str(rep_raw))
            if rep is None:
                errors[f"split_rep_{key}"] = _("Not a valid identifier.")
        if pct_empty:
            errors[f"split_pct_{key}"] = _("Enter this rep's share.")
            continue
        bp = validation.share_bp({f"split_pct_{key}": pct_raw}, f"split_pct_{key}", errors)
        if rep is None or bp is None:
            continue
        if rep in seen:
            errors[f"split_rep_{key}"] = _("This rep already has a share.")
            continue
        seen.add(rep)
        splits.append((rep, bp))
    return splits


def validate_order(data: dict) -> dict[str, Any]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {
        "id": validation.uuid(data, "id", errors, required=False),
        "number": validation.text(data, "number", errors, max_len=64),
        "customer": validation.uuid(data, "customer", errors, required=True),
        "opportunity": validation.uuid(data, "opportunity", errors, required=False),
        "order_date": validation.day(data, "order_date", errors) or clock.today(),
        "due_date": validation.day(data, "due_date", errors),
        "amount_cents": validation.money(data, "amount", errors, required=True),
        "cost_cents": validation.money(data, "cost", errors, positive=False) or 0,
        "note": validation.text(data, "note", errors, max_len=2000),
    }
    day_ok(clean["order_date"], "order_date", errors)
    day_ok(clean["due_date"], "due_date", errors)
    not_future(clean, "order_date", errors)
    if clean["due_date"] and clean["order_date"] and clean["due_date"] < clean["order_date"] and "due_date" not in errors:
        errors["due_date"] = _("The due date cannot be before the order date.")
    clean["splits"] = _parse_splits(data, errors)
    if clean["splits"] and not any(k.startswith("split_") for k in errors):
        total = sum(bp for _r, bp in clean["splits"])
        if total != FULL_SHARE:
            errors["splits"] = _("The shares add up to %(total)s %%; they must add up to exactly 100 %%.",
                                 total=f"{Decimal(total) / 100:.2f}".rstrip("0").rstrip("."))
    if errors:
        raise FieldErrors(errors)
    return clean


async def _check_split_reps(actor: Actor, splits: list[tuple[UUID, int]], on: date | None = None) -> None:
    """The split's reps are the actor's to credit (`split_choices`; with `on`, an order's date, a manager's
    include the reps who were in their teams that day)."""
    allowed = {r["id"] for r in await split_choices(actor, on)}
    errors = {}
    for i, (rep, _bp) in enumerate(splits):
        if rep not in allowed:
            errors[f"split_rep_{i}"] = (_("You can share an order only with reps of your team.") if actor.is_rep
                                         else _("You can share an order only among reps of the teams you lead."))
    if actor.is_rep and not any(rep == actor.id for rep, _bp in splits):
        errors["splits"] = _("Keep a share of the order for yourself.")
    if errors:
        raise FieldErrors(errors)


async def create_order(actor: Actor, data: dict) -> tuple[UUID, bool]:
    """Create an order with its split (and mark its opportunity won). Returns (id, created); a repeat of
    the same client-made id is a duplicate. Raises FieldErrors, or LookupError for someone else's
    customer or opportunity."""
    rid = validation.optional_uuid(data.get("id") if isinstance(data.get("id"), str) else None)
    if rid is not None and await Order.exists().where(Order.id == rid):
        if await order_visible(actor, rid):
            return rid, False
        raise FieldErrors({"id": _("This identifier belongs to another record.")})
    clean = validate_order(data)
    customer = await customer_for(actor, clean["customer"])
    splits = clean["splits"] or [(customer["owner"], FULL_SHARE)]
    await _check_split_reps(actor, splits)
    opportunity = None
    if clean["opportunity"]:
        opportunity = await Opportunity.select(Opportunity.id, Opportunity.owner, Opportunity.customer,
                                               Opportunity.stage).where(Opportunity.id == clean["opportunity"]).first()
        if not opportunity or not await can_see_rep(actor, opportunity["owner"]):
            raise LookupError(clean["opportunity"])
        if opportunity["customer"] != customer["id"]:
            raise FieldErrors({"customer": _("The opportunity is for another customer.")})
    number = clean["number"]
    if number and await Order.exists().where(Order.number == number):
        raise FieldErrors({"number": _("An order with this number exists already.")})
    rid = clean["id"] or uuid4()
    now = clock.now()
    for attempt in range(5):
        order_number = number or record_number("SO", clean["order_date"])
        try:
            async with db.write_transaction():
                if await Order.exists().where(Order.id == rid):
                    return rid, False
                await Order.insert(Order(
                    id=rid, number=order_number, customer=customer["id"], opportunity=clean["opportunity"],
                    order_date=clean["order_date"], due_date=clean["due_date"], amount_cents=clean["amount_cents"],
                    cost_cents=clean["cost_cents"], note=clean["note"], source="manual", created_by=actor.id,
                    created_at=now, updated_at=now,
                ))
                await db.insert_rows(OrderSplit, credits.split_rows(
                    rid, clean["order_date"], clean["amount_cents"], clean["cost_cents"], splits))
                if opportunity and opportunity["stage"] in OPEN_STAGES:
                    await apply_stage(opportunity["id"], opportunity["stage"], "won", actor)
            return rid, True
        except Exception as exc:  # a number taken between the check and the insert
            if not is_unique_violation(exc):
                raise
            if await Order.exists().where(Order.id == rid):
                return rid, False
            if number or attempt == 4:
                raise FieldErrors({"number": _("An order with this number exists already.")}) from None
    raise AssertionError("unreachable")


async def update_order(actor: Actor, order_id: UUID, data: dict) -> None:
    """Correct an order typed in with a mistake: its number, customer, dates, amounts, note and split.

    Who: admin; a manager for customers of their teams, among reps of their teams; a rep for their own
    customers' orders typed in (not imported: the ERP's are corrected there and imported again). The
    amount may not drop below what was collected. The form carries the version it showed (`version`, the
    order's updated_at): an order changed meanwhile is a Conflict, the typed values kept. Raises
    LookupError for an order or customer the actor cannot see, FieldErrors, Conflict."""
    if not await order_visible(actor, order_id):
        raise LookupError(order_id)
    row = await Order.select(Order.id, Order.number, Order.source, Order.updated_at, Order.order_date,
                             Order.customer, Order.customer.owner.as_alias("owner")).where(Order.id == order_id).first()
    if row is None:
        raise LookupError(order_id)
    if actor.is_rep and (row["owner"] != actor.id or row["source"] != "manual"):
        raise FieldErrors({"": _("Only orders typed in for your own customers can be corrected here; ask your manager.")})
    if actor.is_manager and not await can_adjust(actor, order_id, row["order_date"]):
        raise FieldErrors({"": not_earned_here(row["order_date"])})
    clean = validate_order({**data, "id": str(order_id)})
    if (actor.is_manager and clean["customer"] == row["customer"]
            and (await teams_on_day(row["order_date"])).get(row["owner"]) in actor.led_team_ids):
        # The order's own customer, its rep in the manager's team then: they correct what the team earned.
        customer = {"id": row["customer"], "owner": row["owner"]}
    else:
        customer = await customer_for(actor, clean["customer"])
    splits = clean["splits"] or [(customer["owner"], FULL_SHARE)]
    await _check_split_reps(actor, splits, clean["order_date"])
    if actor.is_rep:
        allowed = {r["id"] for r in await split_choices(actor)}
        current = await credits.current_split(order_id)
        if any(rep not in allowed for rep, _bp in current):
            raise FieldErrors({"": _("This order is shared with a rep outside your teams: an admin can correct it.")})
    number = clean["number"] or row["number"]
    if number != row["number"] and await Order.exists().where(Order.number == number):
        raise FieldErrors({"number": _("An order with this number exists already.")})
    stored = await Order.select(Order.order_date).where(Order.id == order_id).first() or {}
    closed = bool(stored) and order_corrections.is_closed(stored["order_date"])
    if closed and clean["order_date"] != stored["order_date"]:
        raise FieldErrors({"order_date": _("This order's month is closed: its date stays. Void it and enter it again "
                                           "to move it to another month.")})
    reason = validation.text(data, "reason", {}, max_len=2000).strip()
    version = str(data.get("version") or "")
    now = clock.now()
    async with db.write_transaction():
        fresh = await Order.select(Order.updated_at, Order.voided_at).where(Order.id == order_id).first()
        if fresh is None:
            raise LookupError(order_id)
        if version and version != fresh["updated_at"].isoformat():
            raise Conflict(_("Someone changed this order meanwhile: check it again before saving your correction."))
        collected = sum(c["amount_cents"] for c in await Collection.select(Collection.amount_cents).where(
            Collection.sales_order == order_id)) + await returns.returned_cents(order_id, corrections=False)
        if fresh.get("voided_at") is not None:
            raise FieldErrors({"": _("This order is void: nothing more can be recorded against it.")})
        before = await _snapshot(order_id)
        if clean["amount_cents"] < collected:
            raise FieldErrors({"amount": _("%(paid)s has been collected against this order already: the amount cannot be less.",
                                           paid=fmt_money(collected / 100))})
        correction = None
        if closed:  # the month was reported: the difference lands today, as a dated correction
            await Order.update({
                Order.number: number, Order.customer: customer["id"], Order.due_date: clean["due_date"],
                Order.note: clean["note"], Order.updated_at: now,
            }).where(Order.id == order_id)
            correction = await order_corrections.post(
                actor.id, order_id, number, amount_cents=clean["amount_cents"], cost_cents=clean["cost_cents"],
                splits=splits, reason=reason)
        else:
            await Order.update({
                Order.number: number, Order.customer: customer["id"], Order.order_date: clean["order_date"],
                Order.due_date: clean["due_date"], Order.amount_cents: clean["amount_cents"],
                Order.cost_cents: clean["cost_cents"], Order.note: clean["note"], Order.updated_at: now,
            }).where(Order.id == order_id)
            await credits.write_split(order_id, splits)
        await audit.record("order", order_id, "order_corrected", actor_id=actor.id, reason=reason,
                           detail={"before": before, "correction": correction, "after": {
                               "number": number, "order_date": clean["order_date"].isoformat(),
                               "amount_cents": clean["amount_cents"], "cost_cents": clean["cost_cents"],
                               "splits": {str(rep): bp for rep, bp in splits}}},
                           effective_on=clock.today(), sales_order=order_id)


async def _snapshot(order_id: UUID) -> dict:
    """An order's number, date, amounts and split as the audit log keeps them."""
    row = await Order.select(Order.id, Order.number, Order.order_date, Order.amount_cents, Order.cost_cents).where(
        Order.id == order_id).first() or {}
    amount, cost = await returns.current_amounts(row) if row else (None, None)
    split = await credits.current_split(order_id)
    return {"number": row.get("number"), "order_date": row["order_date"].isoformat() if row else None,
            "amount_cents": amount, "cost_cents": cost,
            "splits": {str(rep): bp for rep, bp in split}}


def order_form_values(order: dict) -> dict:
    """An order as its edit form shows it (amounts in yuan, shares in percent)."""
    values = {
        "id": str(order["id"]), "number": order["number"], "customer": str(order["customer"]),
        "order_date": order["order_date"].isoformat(),
        "due_date": order["due_date"].isoformat() if order["due_date"] else "",
        "amount": f"{Decimal(order['amount_cents']) / 100:.2f}", "cost": f"{Decimal(order['cost_cents']) / 100:.2f}",
        "note": order["note"], "version": order["updated_at"].isoformat(),
        "closed": "1" if order.get("closed") else "",
    }
    for i, split in enumerate(order["splits"]):
        values[f"split_rep_{i}"] = str(split["rep"])
        values[f"split_pct_{i}"] = f"{Decimal(split['share_bp']) / 100:.2f}".rstrip("0").rstrip(".")
    return values


async def get_order(actor: Actor, order_id: UUID) -> dict | None:
    if not await order_visible(actor, order_id):
        return None
    row = await Order.select(
        Order.id, Order.number, Order.customer, Order.opportunity, Order.order_date, Order.due_date,
        Order.amount_cents, Order.cost_cents, Order.note, Order.source, Order.created_at, Order.updated_at,
        Order.voided_at, Order.void_reason, Order.voided_by.display_name.as_alias("voided_by_name"),
        Order.customer.owner.as_alias("owner"),
        Order.customer.name.as_alias("customer_name"), Order.created_by.display_name.as_alias("created_by_name"),
        Order.opportunity.name.as_alias("opportunity_name"),
    ).where(Order.id == order_id).first()
    if not row:
        return None
    # The figures now: a closed month's corrections applied (`order_corrections`); what the order's own
    # month was credited stays on the order row and its split rows.
    row["reported_amount_cents"], row["reported_cost_cents"] = row["amount_cents"], row["cost_cents"]
    row["amount_cents"], row["cost_cents"] = await returns.current_amounts(row)
    row["splits"] = await order_corrections.current_credits(order_id)
    row["closed"] = order_corrections.is_closed(row["order_date"])
    row["collections"] = await Collection.select(
        Collection.id, Collection.number, Collection.received_on, Collection.amount_cents, Collection.kind,
        Collection.corrects, Collection.reason,
    ).where(Collection.sales_order == order_id).order_by(Collection.received_on).order_by(Collection.created_at)
    row["returns"] = await returns.returns_of(order_id)
    row["corrections"] = await OrderReturn.select(
        OrderReturn.number, OrderReturn.return_date, OrderReturn.amount_cents, OrderReturn.margin_cents,
        OrderReturn.reason).where((OrderReturn.sales_order == order_id) & (OrderReturn.kind == credits.CORRECTION)
                                  ).order_by(OrderReturn.created_at)
    row["returned_cents"] = sum(r["amount_cents"] for r in row["returns"])
    row["returned_margin_cents"] = sum(r["margin_cents"] for r in row["returns"])
    row["collected_cents"] = sum(c["amount_cents"] for c in row["collections"])
    row["void"] = row["voided_at"] is not None
    row["outstanding_cents"] = 0 if row["void"] else row["amount_cents"] - row["returned_cents"] - row["collected_cents"]
    row["margin_cents"] = row["amount_cents"] - row["cost_cents"]
    row["events"] = await audit.for_order(order_id)
    row["margin_pct"] = (row["margin_cents"] / row["amount_cents"] * 100) if row["amount_cents"] else None
    row["due"] = row["due_date"] or row["order_date"]
    row["days_overdue"] = max(0, (clock.today() - row["due"]).days) if row["outstanding_cents"] > 0 else 0
    # The buttons show only what the actor may do: a manager corrects, returns and voids the orders earned
    # in the teams they lead (`scope.can_adjust`, the same rule the actions apply).
    may_adjust = not actor.is_rep and await can_adjust(actor, order_id, row["order_date"])
    row["editable"] = not row["void"] and (may_adjust if not actor.is_rep else
                                           (row["owner"] == actor.id and row["source"] == "manual"))
    row["adjustable"] = not row["void"] and may_adjust
    return row


async def customer_of(actor: Actor, order_id: UUID) -> UUID | None:
    """The customer of an order the actor may see (None: not theirs to see)."""
    if not await order_visible(actor, order_id):
        return None
    row = await Order.select(Order.customer).where(Order.id == order_id).first()
    return row["customer"] if row else None


async def opportunity_prefill(actor: Actor, opportunity_id: UUID) -> dict | None:
    row = await get_opportunity(actor, opportunity_id)
    if not row:
        return None
    return {"opportunity": str(row["id"]), "customer": str(row["customer"]),
            "amount": f"{Decimal(row['amount_cents']) / 100:.2f}" if row["amount_cents"] else "",
            "opportunity_name": row["name"]}

