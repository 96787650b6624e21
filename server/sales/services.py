"""Results data typed in by reps and managers: opportunities (with stage history), orders split among reps,
collections; and two set-based aggregates the dashboards reuse: `ageing` and `funnel`.

Ownership: a rep works their own customers; a manager the customers of reps in the teams they lead; admin
all. An opportunity belongs to its owner (the customer's owner). An order is visible to whoever may see
its customer's owner or one of the reps it is split to. Someone else's record answers LookupError (404).
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor, can_manage_rep, can_see_rep, visible_rep_ids
from server.accounts.tables import User
from server.customers.tables import Customer
from server.db import is_sqlite
from server.i18n import N_, _, fmt_money
from server.sales.tables import (
    CLOSED_STAGES,
    FULL_SHARE,
    OPEN_STAGES,
    STAGES,
    Collection,
    Opportunity,
    OpportunityStage,
    Order,
    OrderSplit,
)
from server.web import Conflict, FieldErrors

STAGE_LABELS = {
    "lead": N_("Lead"),
    "qualified": N_("Qualified"),
    "proposal": N_("Proposal"),
    "negotiation": N_("Negotiation"),
    "won": N_("Won"),
    "lost": N_("Lost"),
}
# The funnel's ladder: lost is an exit, not a step.
LADDER = ("lead", "qualified", "proposal", "negotiation", "won")
AGEING_BUCKETS = (
    ("not_due", N_("Not yet due")),
    ("d1_30", N_("1–30 days")),
    ("d31_60", N_("31–60 days")),
    ("d61_90", N_("61–90 days")),
    ("d90_plus", N_("Over 90 days")),
)
MAX_SPLITS = 6
MAX_CENTS = 10**13  # 100 billion yuan: far above any order, far below integer overflow in sums x shares


# ------------------------------------------------------------------------------------------ parsing


def money(data: dict, name: str, errors: dict, *, required: bool = False, positive: bool = True) -> int | None:
    """An amount typed as "1234.56" or "1,234.56" (yuan) as integer cents."""
    raw = data.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            errors[name] = _("This field is required.")
        return None
    if isinstance(raw, bool):
        errors[name] = _("Enter an amount such as 1234.56.")
        return None
    try:
        value = Decimal(str(raw).strip().replace(",", "").replace("¥", "").replace("￥", ""))
    except (InvalidOperation, ValueError):
        errors[name] = _("Enter an amount such as 1234.56.")
        return None
    if not value.is_finite():
        errors[name] = _("Enter an amount such as 1234.56.")
        return None
    if abs(value) > MAX_CENTS:
        errors[name] = _("This amount is too large.")
        return None
    if value != value.quantize(Decimal("0.01"), rounding="ROUND_DOWN"):
        errors[name] = _("At most two decimals.")
        return None
    cents = int(value * 100)
    if cents < 0 or (positive and cents == 0):
        errors[name] = _("Enter an amount above zero.") if positive else _("The amount cannot be negative.")
        return None
    if cents > MAX_CENTS:
        errors[name] = _("This amount is too large.")
        return None
    return cents


def percent_bp(raw, name: str, errors: dict) -> int | None:
    """A share typed as "60" or "33.33" (percent, two decimals) as basis points."""
    try:
        value = Decimal(str(raw).strip().replace("%", ""))
    except (InvalidOperation, ValueError):
        errors[name] = _("Enter a percentage such as 60 or 33.33.")
        return None
    if not value.is_finite() or abs(value) > 1000:
        errors[name] = _("Enter a percentage such as 60 or 33.33.")
        return None
    if value != value.quantize(Decimal("0.01"), rounding="ROUND_DOWN"):
        errors[name] = _("At most two decimals.")
        return None
    if not (0 < value <= 100):
        errors[name] = _("Enter a share above 0 and at most 100 %%.")
        return None
    return int(value * 100)


def _not_future(clean: dict, name: str, errors: dict) -> None:
    if clean.get(name) and clean[name] > clock.today():
        errors[name] = _("This date is in the future.")


def _day_ok(d: date | None, name: str, errors: dict) -> date | None:
    if d is not None and not (date(2000, 1, 1) <= d <= date(2100, 12, 31)):
        errors[name] = _("Enter a date.")
        return None
    return d


def _number(prefix: str, day: date) -> str:
    return f"{prefix}-{day:%Y%m%d}-{secrets.token_hex(2).upper()}"



def _is_unique_violation(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name == "UniqueViolationError" or (name == "IntegrityError" and "unique" in str(exc).lower())


# ------------------------------------------------------------------------------------------ scope


async def scope_rep_ids(actor: Actor, rep: UUID | None = None) -> list[UUID] | None:
    """The reps whose results the actor reads (None: everyone), narrowed to `rep` when given."""
    visible = await visible_rep_ids(actor)
    if rep is None:
        return visible
    if visible is None or rep in visible:
        return [rep]
    return []


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
    query = User.select(User.id, User.display_name).where((User.role == "rep") & (User.active == True))  # noqa: E712
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
    rep_ids = await visible_rep_ids(actor)
    if rep_ids == []:
        return []
    query = Customer.select(Customer.id, Customer.name, Customer.owner.display_name.as_alias("owner_name"))
    if rep_ids is not None:
        query = query.where(Customer.owner.is_in(rep_ids))
    return await query.order_by(Customer.name).limit(limit)


async def _customer_for(actor: Actor, customer_id: UUID) -> dict:
    """The customer the actor may record results for, or LookupError (someone else's: 404)."""
    row = await Customer.select(Customer.id, Customer.name, Customer.owner).where(Customer.id == customer_id).first()
    if not row:
        raise LookupError(customer_id)
    if actor.is_rep and row["owner"] != actor.id:
        raise LookupError(customer_id)
    if not await can_see_rep(actor, row["owner"]):
        raise LookupError(customer_id)
    return row


def _placeholders(values) -> str:
    return ", ".join("{}" for _v in values)


# ------------------------------------------------------------------------------------------ opportunities

OPP_COLUMNS = (
    Opportunity.id, Opportunity.name, Opportunity.customer, Opportunity.owner, Opportunity.stage,
    Opportunity.amount_cents, Opportunity.expected_close, Opportunity.stage_changed_at, Opportunity.closed_on,
    Opportunity.created_at, Opportunity.customer.name.as_alias("customer_name"),
    Opportunity.owner.display_name.as_alias("owner_name"),
)


async def opportunities(actor: Actor, stage: str = "", rep: UUID | None = None, limit: int = 200,
                        open_only: bool = False) -> list[dict]:
    rep_ids = await scope_rep_ids(actor, rep)
    if rep_ids == []:
        return []
    query = Opportunity.select(*OPP_COLUMNS)
    if rep_ids is not None:
        query = query.where(Opportunity.owner.is_in(rep_ids))
    if stage in STAGES:
        query = query.where(Opportunity.stage == stage)
    elif open_only:
        query = query.where(Opportunity.stage.is_in(list(OPEN_STAGES)))
    return await query.order_by(Opportunity.stage_changed_at, ascending=False).limit(limit)


def validate_opportunity(data: dict) -> dict:
    errors: dict[str, str] = {}
    clean = {
        "id": validation.uuid(data, "id", errors, required=False),
        "name": validation.text(data, "name", errors, required=True, max_len=200),
        "customer": validation.uuid(data, "customer", errors, required=True),
        "stage": validation.choice(data, "stage", OPEN_STAGES, errors, default="lead"),
        "amount_cents": money(data, "amount", errors, positive=False) or 0,
        "expected_close": validation.day(data, "expected_close", errors),
    }
    clean["expected_close"] = _day_ok(clean["expected_close"], "expected_close", errors)
    if errors:
        raise FieldErrors(errors)
    return clean


async def create_opportunity(actor: Actor, data: dict) -> tuple[UUID, bool]:
    """Create an opportunity for a customer the actor works (owner = the customer's owner).

    Returns (id, created); a repeat of the same client-made id is a duplicate (created False).
    Raises FieldErrors (bad input) or LookupError (someone else's customer)."""
    rid = validation.optional_uuid(data.get("id") if isinstance(data.get("id"), str) else None)
    if rid is not None:
        existing = await Opportunity.select(Opportunity.owner).where(Opportunity.id == rid).first()
        if existing:
            if await can_see_rep(actor, existing["owner"]):
                return rid, False
            raise FieldErrors({"id": _("This identifier belongs to another record.")})
    clean = validate_opportunity(data)
    customer = await _customer_for(actor, clean["customer"])
    rid = clean["id"] or uuid4()
    now = clock.now()
    async with db.write_transaction():
        if await Opportunity.exists().where(Opportunity.id == rid):
            return rid, False
        await Opportunity.insert(Opportunity(
            id=rid, name=clean["name"], customer=customer["id"], owner=customer["owner"], stage=clean["stage"],
            amount_cents=clean["amount_cents"], expected_close=clean["expected_close"], stage_changed_at=now,
            closed_on=None, created_by=actor.id, created_at=now, updated_at=now,
        ))
        await OpportunityStage.insert(OpportunityStage(
            id=uuid4(), opportunity=rid, from_stage="", to_stage=clean["stage"], changed_at=now, changed_by=actor.id,
        ))
    return rid, True


def stage_durations(history: list[dict], current_stage: str, now: datetime) -> list[dict]:
    """Each history row with `days`: time spent in its to_stage (until the next change; an open current
    stage until now; a closed current stage has None)."""
    out = []
    for i, h in enumerate(history):
        if i + 1 < len(history):
            end = history[i + 1]["changed_at"]
        elif h["to_stage"] in OPEN_STAGES:
            end = now
        else:
            end = None
        days = None if end is None else max(0.0, (end - h["changed_at"]).total_seconds() / 86400)
        out.append({**h, "days": days})
    return out


async def get_opportunity(actor: Actor, opportunity_id: UUID) -> dict | None:
    row = await Opportunity.select(*OPP_COLUMNS).where(Opportunity.id == opportunity_id).first()
    if not row or not await can_see_rep(actor, row["owner"]):
        return None
    history = await OpportunityStage.select(
        OpportunityStage.from_stage, OpportunityStage.to_stage, OpportunityStage.changed_at,
        OpportunityStage.changed_by.display_name.as_alias("by_name"),
    ).where(OpportunityStage.opportunity == opportunity_id).order_by(OpportunityStage.changed_at)
    row["history"] = stage_durations(history, row["stage"], clock.now())
    row["can_reopen"] = await can_manage_rep(actor, row["owner"])
    row["stage_choices"] = [s for s in STAGES if row["stage"] in OPEN_STAGES or row["can_reopen"]]
    row["orders"] = await Order.select(Order.id, Order.number, Order.order_date, Order.amount_cents).where(
        Order.opportunity == opportunity_id).order_by(Order.order_date)
    return row


async def _apply_stage(opportunity_id: UUID, before: str, after: str, actor: Actor) -> None:
    """Inside a write transaction: move from `before` to `after` (guarded), with its history row."""
    now = clock.now()
    updated = await Opportunity.update({
        Opportunity.stage: after, Opportunity.stage_changed_at: now, Opportunity.updated_at: now,
        Opportunity.closed_on: clock.today() if after in CLOSED_STAGES else None,
    }).where((Opportunity.id == opportunity_id) & (Opportunity.stage == before)).returning(Opportunity.id)
    if not updated:
        raise Conflict(_("This opportunity's stage changed meanwhile; reload it and try again."))
    await OpportunityStage.insert(OpportunityStage(
        id=uuid4(), opportunity=opportunity_id, from_stage=before, to_stage=after, changed_at=now, changed_by=actor.id,
    ))


async def move_stage(actor: Actor, opportunity_id: UUID, data: dict) -> str:
    """Move an opportunity to another stage. `data`: stage, and from_stage (the stage the form showed).

    A stale form (the stage changed meanwhile) is a Conflict; leaving won or lost takes the owner's
    manager or an admin. Returns the new stage (unchanged when it is already there)."""
    row = await Opportunity.select(Opportunity.id, Opportunity.owner, Opportunity.stage).where(
        Opportunity.id == opportunity_id).first()
    if not row or not await can_see_rep(actor, row["owner"]):
        raise LookupError(opportunity_id)
    errors: dict[str, str] = {}
    after = validation.choice(data, "stage", STAGES, errors)
    expected = data.get("from_stage")
    if expected not in (None, "") and expected not in STAGES:
        errors["from_stage"] = _("Choose one of the options.")
    if errors:
        raise FieldErrors(errors)
    before = row["stage"]
    if expected and expected != before:
        raise Conflict(_("This opportunity moved to %(stage)s meanwhile; your change was not saved.",
                         stage=_(STAGE_LABELS[before])))
    if after == before:
        return before
    if before in CLOSED_STAGES and not await can_manage_rep(actor, row["owner"]):
        raise FieldErrors({"stage": _("Only a manager can change a won or lost opportunity.")})
    async with db.write_transaction():
        await _apply_stage(opportunity_id, before, after, actor)
    return after


# ------------------------------------------------------------------------------------------ orders


def _order_visibility(rep_ids: list[UUID], args: list) -> str:
    """SQL condition: the order `o` is visible to readers of `rep_ids` (its customer's owner or a split)."""
    args.extend(rep_ids)
    args.extend(rep_ids)
    ph = _placeholders(rep_ids)
    return (f"(c.owner IN ({ph}) OR EXISTS (SELECT 1 FROM order_split sv WHERE sv.sales_order = o.id "
            f"AND sv.rep IN ({ph})))")


def _month_range(month: str) -> tuple[date, date] | None:
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        return None
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


async def orders(actor: Actor, rep: UUID | None = None, month: str = "", limit: int = 200) -> list[dict]:
    """Orders the actor may see, newest first, with the share credited to the filtered reps (or to the
    actor, for a rep), the collected sum and the outstanding balance."""
    rep_ids = await scope_rep_ids(actor, rep)
    if rep_ids == []:
        return []
    args: list = []
    where = ["1 = 1"]
    if rep_ids is not None:
        where.append(_order_visibility(rep_ids, args))
    span = _month_range(month) if month else None
    if span:
        where.append("o.order_date >= {} AND o.order_date <= {}")
        args.extend(span)
    share_sql = "NULL"
    share_args: list = []
    if rep_ids is not None:
        share_sql = (f"(SELECT SUM(ss.share_bp) FROM order_split ss WHERE ss.sales_order = o.id "
                     f"AND ss.rep IN ({_placeholders(rep_ids)}))")
        share_args = list(rep_ids)
    sql = (
        f"SELECT o.id, o.number, o.order_date, o.due_date, o.amount_cents, o.cost_cents, c.name AS customer_name, "
        f"{share_sql} AS share_bp, "
        f"(SELECT COUNT(*) FROM order_split sc WHERE sc.sales_order = o.id) AS split_count, "
        f"(SELECT COALESCE(SUM(k.amount_cents), 0) FROM collection k WHERE k.sales_order = o.id) AS collected_cents "
        f"FROM sales_order o JOIN customer c ON c.id = o.customer WHERE {' AND '.join(where)} "
        f"ORDER BY o.order_date DESC, o.created_at DESC LIMIT {int(limit)}"
    )
    rows = await Order.raw(sql, *share_args, *args)
    return [_order_row(r) for r in rows]



def _order_row(r: dict) -> dict:
    r = dict(r)
    r["id"] = db.as_uuid(r["id"])
    for k in ("amount_cents", "cost_cents", "collected_cents", "split_count"):
        r[k] = int(r.get(k) or 0)
    r["share_bp"] = None if r.get("share_bp") is None else int(r["share_bp"])
    r["order_date"] = db.as_date(r["order_date"])
    r["due_date"] = db.as_date(r.get("due_date"))
    r["outstanding_cents"] = r["amount_cents"] - r["collected_cents"]
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
    for i, rep_raw, pct_raw in rows:
        rep_empty, pct_empty = rep_raw in (None, ""), pct_raw in (None, "")
        if rep_empty and pct_empty:
            continue
        rep = None
        if rep_empty:
            errors[f"split_rep_{i}"] = _("Choose a rep for this share.")
        else:
            rep = validation.optional_uuid(str(rep_raw))
            if rep is None:
                errors[f"split_rep_{i}"] = _("Not a valid identifier.")
        if pct_empty:
            errors[f"split_pct_{i}"] = _("Enter this rep's share.")
            continue
        bp = percent_bp(pct_raw, f"split_pct_{i}", errors)
        if rep is None or bp is None:
            continue
        if rep in seen:
            errors[f"split_rep_{i}"] = _("This rep already has a share.")
            continue
        seen.add(rep)
        splits.append((rep, bp))
    return splits


def validate_order(data: dict) -> dict:
    errors: dict[str, str] = {}
    clean = {
        "id": validation.uuid(data, "id", errors, required=False),
        "number": validation.text(data, "number", errors, max_len=64),
        "customer": validation.uuid(data, "customer", errors, required=True),
        "opportunity": validation.uuid(data, "opportunity", errors, required=False),
        "order_date": validation.day(data, "order_date", errors) or clock.today(),
        "due_date": validation.day(data, "due_date", errors),
        "amount_cents": money(data, "amount", errors, required=True),
        "cost_cents": money(data, "cost", errors, positive=False) or 0,
        "note": validation.text(data, "note", errors, max_len=2000),
    }
    _day_ok(clean["order_date"], "order_date", errors)
    _day_ok(clean["due_date"], "due_date", errors)
    _not_future(clean, "order_date", errors)
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


async def _check_split_reps(actor: Actor, splits: list[tuple[UUID, int]]) -> None:
    allowed = {r["id"] for r in await split_choices(actor)}
    errors = {}
    for i, (rep, _bp) in enumerate(splits):
        if rep not in allowed:
            errors[f"split_rep_{i}"] = (_("You can share an order only with reps of your team.") if actor.is_rep
                                         else _("You can share an order only among reps of the teams you lead."))
    if actor.is_rep and not any(rep == actor.id for rep, _bp in splits):
        errors["splits"] = _("Keep a share of the order for yourself.")
    if errors:
        raise FieldErrors(errors)


async def _order_visible(actor: Actor, order_id: UUID) -> bool:
    rep_ids = await visible_rep_ids(actor)
    if rep_ids is None:
        return await Order.exists().where(Order.id == order_id)
    if not rep_ids:
        return False
    args: list = [order_id]
    cond = _order_visibility(rep_ids, args)
    rows = await Order.raw(f"SELECT 1 AS ok FROM sales_order o JOIN customer c ON c.id = o.customer "
                           f"WHERE o.id = {{}} AND {cond}", *args)
    return bool(rows)


async def create_order(actor: Actor, data: dict) -> tuple[UUID, bool]:
    """Create an order with its split (and mark its opportunity won). Returns (id, created); a repeat of
    the same client-made id is a duplicate. Raises FieldErrors, or LookupError for someone else's
    customer or opportunity."""
    rid = validation.optional_uuid(data.get("id") if isinstance(data.get("id"), str) else None)
    if rid is not None and await Order.exists().where(Order.id == rid):
        if await _order_visible(actor, rid):
            return rid, False
        raise FieldErrors({"id": _("This identifier belongs to another record.")})
    clean = validate_order(data)
    customer = await _customer_for(actor, clean["customer"])
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
        order_number = number or _number("SO", clean["order_date"])
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
                await OrderSplit.insert(*[
                    OrderSplit(id=uuid4(), sales_order=rid, rep=rep, share_bp=bp, order_date=clean["order_date"])
                    for rep, bp in splits
                ])
                if opportunity and opportunity["stage"] in OPEN_STAGES:
                    await _apply_stage(opportunity["id"], opportunity["stage"], "won", actor)
            return rid, True
        except Exception as exc:  # a number taken between the check and the insert
            if not _is_unique_violation(exc):
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
    if not await _order_visible(actor, order_id):
        raise LookupError(order_id)
    row = await Order.select(Order.id, Order.number, Order.source, Order.updated_at,
                             Order.customer.owner.as_alias("owner")).where(Order.id == order_id).first()
    if row is None:
        raise LookupError(order_id)
    if actor.is_rep and (row["owner"] != actor.id or row["source"] != "manual"):
        raise FieldErrors({"": _("Only orders typed in for your own customers can be corrected here; ask your manager.")})
    clean = validate_order({**data, "id": str(order_id)})
    customer = await _customer_for(actor, clean["customer"])
    splits = clean["splits"] or [(customer["owner"], FULL_SHARE)]
    await _check_split_reps(actor, splits)
    allowed = {r["id"] for r in await split_choices(actor)}
    current = await OrderSplit.select(OrderSplit.rep).where(OrderSplit.sales_order == order_id)
    if not actor.is_admin and any(s["rep"] not in allowed for s in current):
        raise FieldErrors({"": _("This order is shared with a rep outside your teams: an admin can correct it.")})
    number = clean["number"] or row["number"]
    if number != row["number"] and await Order.exists().where(Order.number == number):
        raise FieldErrors({"number": _("An order with this number exists already.")})
    version = str(data.get("version") or "")
    now = clock.now()
    async with db.write_transaction():
        fresh = await Order.select(Order.updated_at).where(Order.id == order_id).first()
        if fresh is None:
            raise LookupError(order_id)
        if version and version != fresh["updated_at"].isoformat():
            raise Conflict(_("Someone changed this order meanwhile: check it again before saving your correction."))
        collected = sum(c["amount_cents"] for c in await Collection.select(Collection.amount_cents).where(
            Collection.sales_order == order_id))
        if clean["amount_cents"] < collected:
            raise FieldErrors({"amount": _("%(paid)s has been collected against this order already: the amount cannot be less.",
                                           paid=fmt_money(collected / 100))})
        await Order.update({
            Order.number: number, Order.customer: customer["id"], Order.order_date: clean["order_date"],
            Order.due_date: clean["due_date"], Order.amount_cents: clean["amount_cents"],
            Order.cost_cents: clean["cost_cents"], Order.note: clean["note"], Order.updated_at: now,
        }).where(Order.id == order_id)
        await OrderSplit.delete().where(OrderSplit.sales_order == order_id)
        await OrderSplit.insert(*[
            OrderSplit(id=uuid4(), sales_order=order_id, rep=rep, share_bp=bp, order_date=clean["order_date"])
            for rep, bp in splits
        ])


def order_form_values(order: dict) -> dict:
    """An order as its edit form shows it (amounts in yuan, shares in percent)."""
    values = {
        "id": str(order["id"]), "number": order["number"], "customer": str(order["customer"]),
        "order_date": order["order_date"].isoformat(),
        "due_date": order["due_date"].isoformat() if order["due_date"] else "",
        "amount": f"{Decimal(order['amount_cents']) / 100:.2f}", "cost": f"{Decimal(order['cost_cents']) / 100:.2f}",
        "note": order["note"], "version": order["updated_at"].isoformat(),
    }
    for i, split in enumerate(order["splits"]):
        values[f"split_rep_{i}"] = str(split["rep"])
        values[f"split_pct_{i}"] = f"{Decimal(split['share_bp']) / 100:.2f}".rstrip("0").rstrip(".")
    return values


async def get_order(actor: Actor, order_id: UUID) -> dict | None:
    if not await _order_visible(actor, order_id):
        return None
    row = await Order.select(
        Order.id, Order.number, Order.customer, Order.opportunity, Order.order_date, Order.due_date,
        Order.amount_cents, Order.cost_cents, Order.note, Order.source, Order.created_at, Order.updated_at,
        Order.customer.owner.as_alias("owner"),
        Order.customer.name.as_alias("customer_name"), Order.created_by.display_name.as_alias("created_by_name"),
        Order.opportunity.name.as_alias("opportunity_name"),
    ).where(Order.id == order_id).first()
    if not row:
        return None
    row["splits"] = await OrderSplit.select(
        OrderSplit.rep, OrderSplit.share_bp, OrderSplit.rep.display_name.as_alias("rep_name"),
    ).where(OrderSplit.sales_order == order_id).order_by(OrderSplit.share_bp, ascending=False)
    row["collections"] = await Collection.select(
        Collection.id, Collection.number, Collection.received_on, Collection.amount_cents,
    ).where(Collection.sales_order == order_id).order_by(Collection.received_on)
    for s in row["splits"]:
        s["amount_cents"] = row["amount_cents"] * s["share_bp"] // FULL_SHARE
    row["collected_cents"] = sum(c["amount_cents"] for c in row["collections"])
    row["outstanding_cents"] = row["amount_cents"] - row["collected_cents"]
    row["margin_cents"] = row["amount_cents"] - row["cost_cents"]
    row["margin_pct"] = (row["margin_cents"] / row["amount_cents"] * 100) if row["amount_cents"] else None
    row["due"] = row["due_date"] or row["order_date"]
    row["days_overdue"] = max(0, (clock.today() - row["due"]).days) if row["outstanding_cents"] > 0 else 0
    row["editable"] = not actor.is_rep or (row["owner"] == actor.id and row["source"] == "manual")
    return row


async def opportunity_prefill(actor: Actor, opportunity_id: UUID) -> dict | None:
    row = await get_opportunity(actor, opportunity_id)
    if not row:
        return None
    return {"opportunity": str(row["id"]), "customer": str(row["customer"]),
            "amount": f"{Decimal(row['amount_cents']) / 100:.2f}" if row["amount_cents"] else "",
            "opportunity_name": row["name"]}


# ------------------------------------------------------------------------------------------ collections


async def create_collection(actor: Actor, data: dict) -> tuple[UUID, UUID, bool]:
    """Record money received against an order the actor may see. Returns (collection id, order id, created).

    The collections of an order may not add up to more than its amount."""
    errors: dict[str, str] = {}
    order_id = validation.uuid(data, "order", errors, required=True)
    if errors:
        raise FieldErrors(errors)
    if not await _order_visible(actor, order_id):
        raise LookupError(order_id)
    rid = validation.optional_uuid(data.get("id") if isinstance(data.get("id"), str) else None)
    if rid is not None:
        existing = await Collection.select(Collection.sales_order).where(Collection.id == rid).first()
        if existing:
            if existing["sales_order"] == order_id:
                return rid, order_id, False
            raise FieldErrors({"id": _("This identifier belongs to another record.")})
    clean = {
        "id": validation.uuid(data, "id", errors, required=False),
        "number": validation.text(data, "number", errors, max_len=64),
        "received_on": validation.day(data, "received_on", errors) or clock.today(),
        "amount_cents": money(data, "amount", errors, required=True),
    }
    _day_ok(clean["received_on"], "received_on", errors)
    _not_future(clean, "received_on", errors)
    if errors:
        raise FieldErrors(errors)
    if clean["number"] and await Collection.exists().where(Collection.number == clean["number"]):
        raise FieldErrors({"number": _("A receipt with this number exists already.")})
    rid = clean["id"] or uuid4()
    for attempt in range(5):
        number = clean["number"] or _number("RC", clean["received_on"])
        try:
            async with db.write_transaction():
                if not is_sqlite(Order._meta.db):
                    # Two receipts for one order at once: the second waits, then sees the first in its sum.
                    await Order.raw("SELECT id FROM sales_order WHERE id = {} FOR UPDATE", order_id)
                order = await Order.select(Order.amount_cents).where(Order.id == order_id).first()
                paid = await Collection.raw(
                    "SELECT COALESCE(SUM(amount_cents), 0) AS paid FROM collection WHERE sales_order = {}", order_id)
                paid_cents = int(paid[0]["paid"] or 0)
                if paid_cents + clean["amount_cents"] > order["amount_cents"]:
                    left = max(0, order["amount_cents"] - paid_cents)
                    raise FieldErrors({"amount": _("Only %(left)s is still outstanding on this order.",
                                                   left=f"{Decimal(left) / 100:,.2f}")})
                await Collection.insert(Collection(
                    id=rid, number=number, sales_order=order_id, received_on=clean["received_on"],
                    amount_cents=clean["amount_cents"], source="manual", created_by=actor.id, created_at=clock.now(),
                ))
            return rid, order_id, True
        except FieldErrors:
            raise
        except Exception as exc:
            if not _is_unique_violation(exc):
                raise
            if await Collection.exists().where(Collection.id == rid):
                return rid, order_id, False
            if clean["number"] or attempt == 4:
                raise FieldErrors({"number": _("A receipt with this number exists already.")}) from None
    raise AssertionError("unreachable")


async def collections(actor: Actor, rep: UUID | None = None, limit: int = 100) -> list[dict]:
    """Recent collections on orders the actor may see."""
    rep_ids = await scope_rep_ids(actor, rep)
    if rep_ids == []:
        return []
    args: list = []
    where = "1 = 1"
    if rep_ids is not None:
        where = _order_visibility(rep_ids, args)
    rows = await Collection.raw(
        "SELECT k.id, k.number, k.received_on, k.amount_cents, o.id AS order_id, o.number AS order_number, "
        "c.name AS customer_name FROM collection k JOIN sales_order o ON o.id = k.sales_order "
        f"JOIN customer c ON c.id = o.customer WHERE {where} ORDER BY k.received_on DESC, k.created_at DESC "
        f"LIMIT {int(limit)}", *args)
    for r in rows:
        r["received_on"] = db.as_date(r["received_on"])
        r["amount_cents"] = int(r["amount_cents"])
    return rows


# ------------------------------------------------------------------------------------------ aggregates


def _rep_condition(actor: Actor, rep_ids: list[UUID] | None, column: str, team_column: str, args: list) -> str | None:
    """SQL condition limiting `column` (a rep id) to the actor's scope and `rep_ids`; None: nothing visible."""
    parts = []
    if actor.is_rep:
        parts.append(f"{column} = {{}}")
        args.append(actor.id)
    elif actor.is_manager:
        if not actor.led_team_ids:
            return None
        parts.append(f"{team_column} IN ({_placeholders(actor.led_team_ids)})")
        args.extend(actor.led_team_ids)
    elif not actor.is_admin:
        return None
    if rep_ids is not None:
        if not rep_ids:
            return None
        parts.append(f"{column} IN ({_placeholders(rep_ids)})")
        args.extend(rep_ids)
    return " AND ".join(parts) or "1 = 1"


async def ageing(actor: Actor, as_of: date, rep_ids: list[UUID] | None = None) -> list[dict]:
    """Outstanding balances as of `as_of`, per rep of the actor's scope (narrowed to `rep_ids`), in ageing
    buckets by days past due (due date, else order date): not_due (0 or fewer), d1_30, d31_60, d61_90,
    d90_plus. Outstanding = amount - collections received by `as_of`, of orders dated by `as_of`; a
    shared order's outstanding is credited to each rep by their share.

    One row per rep with any outstanding: {"rep", "rep_name", "not_due", "d1_30", "d31_60", "d61_90",
    "d90_plus", "total", "orders"} (amounts in cents, rounded), sorted by rep name. One SQL statement."""
    # Bucket edges as dates: days past due d = as_of - due, so 1 <= d <= 30 is as_of-30 <= due <= as_of-1.
    edges = [as_of - timedelta(days=n) for n in (30, 60, 90)]
    scope_args: list = []
    cond = _rep_condition(actor, rep_ids, "s.rep", "u.team", scope_args)
    if cond is None:
        return []
    # Scope first: only the orders a rep in scope holds a share of, each order's collections summed through
    # the (sales_order) index, so a team's ageing reads its own orders rather than the company's.
    sql = (
        "WITH scoped AS (SELECT s.sales_order, s.rep, s.share_bp FROM order_split s JOIN app_user u ON u.id = s.rep "
        f"WHERE {cond}), "
        "open_orders AS (SELECT o.id, COALESCE(o.due_date, o.order_date) AS due, o.amount_cents - COALESCE("
        "(SELECT SUM(c.amount_cents) FROM collection c WHERE c.sales_order = o.id AND c.received_on <= {}), 0)"
        " AS outstanding FROM sales_order o WHERE o.id IN (SELECT sales_order FROM scoped) AND o.order_date <= {}) "
        "SELECT sc.rep AS rep, u.display_name AS rep_name, COUNT(*) AS orders, "
        "SUM(CASE WHEN oo.due >= {} THEN oo.outstanding * sc.share_bp ELSE 0 END) AS not_due, "
        "SUM(CASE WHEN oo.due < {} AND oo.due >= {} THEN oo.outstanding * sc.share_bp ELSE 0 END) AS d1_30, "
        "SUM(CASE WHEN oo.due < {} AND oo.due >= {} THEN oo.outstanding * sc.share_bp ELSE 0 END) AS d31_60, "
        "SUM(CASE WHEN oo.due < {} AND oo.due >= {} THEN oo.outstanding * sc.share_bp ELSE 0 END) AS d61_90, "
        "SUM(CASE WHEN oo.due < {} THEN oo.outstanding * sc.share_bp ELSE 0 END) AS d90_plus "
        "FROM open_orders oo JOIN scoped sc ON sc.sales_order = oo.id JOIN app_user u ON u.id = sc.rep "
        "WHERE oo.outstanding > 0 GROUP BY sc.rep, u.display_name ORDER BY u.display_name"
    )
    args = [*scope_args, as_of, as_of, as_of, as_of, edges[0], edges[0], edges[1], edges[1], edges[2], edges[2]]
    rows = await Order.raw(sql, *args)
    out = []
    for r in rows:
        item = {"rep": db.as_uuid(r["rep"]), "rep_name": r["rep_name"],
                "orders": int(r["orders"])}
        for key, _label in AGEING_BUCKETS:
            item[key] = _share_cents(r[key])
        item["total"] = sum(item[key] for key, _label in AGEING_BUCKETS)
        out.append(item)
    return out


def _share_cents(value) -> int:
    """cents x basis points -> cents, rounded half up."""
    return int((Decimal(int(value or 0)) / FULL_SHARE).quantize(Decimal("1"), rounding="ROUND_HALF_UP"))


def ageing_totals(rows: list[dict]) -> dict:
    """The buckets summed over reps (a team's or the company's ageing)."""
    return {key: sum(r[key] for r in rows) for key in (*(k for k, _l in AGEING_BUCKETS), "total")}


def _utc_start(day: date) -> datetime:
    """The instant the company's `day` begins, in UTC."""
    return datetime.combine(day, time(0), tzinfo=clock.company_tz()).astimezone(UTC)


async def funnel(actor: Actor, start: date, end: date, rep_ids: list[UUID] | None = None) -> dict:
    """The opportunity funnel of the actor's scope (narrowed to `rep_ids`) for the window start..end
    (inclusive company days). Opportunities counted: created by the end of the window and not closed
    before it starts.

    Returns {"start", "end", "total", "stages": [{"stage", "label", "count", "reached", "conversion",
    "avg_days", "intervals"}], "won", "lost", "win_rate"} where
    - count: opportunities now in that stage;
    - reached: opportunities whose history reached that step of lead → qualified → proposal → negotiation
      → won or a later one (skipping a step passes through it; lost is an exit, not a step);
    - conversion: reached(next step) / reached(this step), None for won, lost or when nothing reached it;
    - avg_days: the mean time in that stage over the history's intervals (an open current stage counts
      until now; a closed current stage has no interval), None when there is none;
    - win_rate: won / (won + lost) among the counted opportunities.
    Three SQL aggregates; no loop over opportunities in Python."""
    sqlite = is_sqlite(Opportunity._meta.db)
    args: list = []
    cond = _rep_condition(actor, rep_ids, "op.owner", "u.team", args)
    empty = {"start": start, "end": end, "total": 0, "won": 0, "lost": 0, "win_rate": None,
             "stages": [{"stage": s, "label": STAGE_LABELS[s], "count": 0, "reached": 0, "conversion": None,
                         "avg_days": None, "intervals": 0} for s in STAGES]}
    if cond is None:
        return empty
    window_sql = ("SELECT op.id, op.stage FROM opportunity op JOIN app_user u ON u.id = op.owner "
                  f"WHERE {cond} AND op.created_at < {{}} AND (op.closed_on IS NULL OR op.closed_on >= {{}})")
    window_args = [*args, _utc_start(end + timedelta(days=1)), start]
    counts = await Opportunity.raw(f"SELECT w.stage AS stage, COUNT(*) AS n FROM ({window_sql}) w GROUP BY w.stage",
                                   *window_args)
    by_stage = {r["stage"]: int(r["n"]) for r in counts}
    rank = "CASE h.to_stage " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(LADDER)) + " ELSE -1 END"
    reached_sql = (
        f"SELECT {', '.join(f'SUM(CASE WHEN m.top >= {i} THEN 1 ELSE 0 END) AS r{i}' for i in range(len(LADDER)))} "
        f"FROM (SELECT h.opportunity, MAX({rank}) AS top FROM opportunity_stage h "
        f"JOIN ({window_sql}) w ON w.id = h.opportunity GROUP BY h.opportunity) m"
    )
    reached_row = (await Opportunity.raw(reached_sql, *window_args))[0]
    reached = [int(reached_row[f"r{i}"] or 0) for i in range(len(LADDER))]
    if sqlite:
        span = "(julianday(COALESCE(x.next_at, CASE WHEN x.open_now THEN {} END)) - julianday(x.changed_at))"
    else:
        span = "EXTRACT(EPOCH FROM (COALESCE(x.next_at, CASE WHEN x.open_now THEN {}::timestamptz END) - x.changed_at)) / 86400.0"
    open_list = ", ".join(f"'{s}'" for s in OPEN_STAGES)
    days_sql = (
        f"SELECT x.to_stage AS stage, AVG({span}) AS avg_days, COUNT({span}) AS intervals FROM ("
        "SELECT h.to_stage, h.changed_at, "
        "LEAD(h.changed_at) OVER (PARTITION BY h.opportunity ORDER BY h.changed_at, h.id) AS next_at, "
        f"CASE WHEN h.to_stage IN ({open_list}) THEN 1 ELSE 0 END = 1 AS open_now "
        f"FROM opportunity_stage h JOIN ({window_sql}) w ON w.id = h.opportunity) x GROUP BY x.to_stage"
    )
    now = clock.now()
    now_arg = str(now) if sqlite else now
    days = {r["stage"]: r for r in await Opportunity.raw(days_sql, now_arg, now_arg, *window_args)}
    stages = []
    for s in STAGES:
        i = LADDER.index(s) if s in LADDER else None
        conversion = None
        if i is not None and i + 1 < len(LADDER) and reached[i]:
            conversion = reached[i + 1] / reached[i]
        d = days.get(s)
        avg = None if not d or d["avg_days"] is None else float(d["avg_days"])
        stages.append({
            "stage": s, "label": STAGE_LABELS[s], "count": by_stage.get(s, 0),
            "reached": reached[i] if i is not None else by_stage.get(s, 0) if s == "lost" else 0,
            "conversion": conversion, "avg_days": avg, "intervals": int(d["intervals"]) if d else 0,
        })
    won, lost = by_stage.get("won", 0), by_stage.get("lost", 0)
    return {"start": start, "end": end, "total": sum(by_stage.values()), "stages": stages, "won": won, "lost": lost,
            "win_rate": won / (won + lost) if won + lost else None}


# ------------------------------------------------------------------------------------------ the hub


async def hub(actor: Actor, rep: UUID | None = None) -> dict:
    """What /sales shows: open opportunities by stage, recent orders, recent collections, ageing."""
    rep_ids = await scope_rep_ids(actor, rep)
    open_opps = await opportunities(actor, rep=rep, open_only=True, limit=200)
    by_stage = {s: [o for o in open_opps if o["stage"] == s] for s in OPEN_STAGES}
    return {
        "by_stage": by_stage,
        "orders": await orders(actor, rep=rep, limit=10),
        "collections": await collections(actor, rep=rep, limit=10),
        "ageing": [] if rep_ids == [] else await ageing(actor, clock.today(), rep_ids),
    }
