"""Opportunities and their stage history.

An opportunity belongs to its owner (the customer's owner); someone else's answers LookupError (404)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor, can_manage_rep, can_see_rep
from server.i18n import N_, _
from server.sales.forms import day_ok
from server.sales.scope import customer_for, scope_rep_ids
from server.sales.tables import CLOSED_STAGES, OPEN_STAGES, STAGES, Opportunity, OpportunityStage, Order
from server.web import Conflict, FieldErrors

STAGE_LABELS = {
    "lead": N_("Lead"),
    "qualified": N_("Qualified"),
    "proposal": N_("Proposal"),
    "negotiation": N_("Negotiation"),
    "won": N_("Won"),
    "lost": N_("Lost"),
}


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


def validate_opportunity(data: dict) -> dict[str, Any]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {
        "id": validation.uuid(data, "id", errors, required=False),
        "name": validation.text(data, "name", errors, required=True, max_len=200),
        "customer": validation.uuid(data, "customer", errors, required=True),
        "stage": validation.choice(data, "stage", OPEN_STAGES, errors, default="lead"),
        "amount_cents": validation.money(data, "amount", errors, positive=False) or 0,
        "expected_close": validation.day(data, "expected_close", errors),
    }
    clean["expected_close"] = day_ok(clean["expected_close"], "expected_close", errors)
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
    customer = await customer_for(actor, clean["customer"])
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


async def apply_stage(opportunity_id: UUID, before: str, after: str, actor: Actor) -> None:
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
        await apply_stage(opportunity_id, before, after, actor)
    return after

