"""Saving a rating form: a draft (kept on the server, typed text in the browser too) or the submitted
answers. Only the assignment's rater writes it, only while the cycle is open or rating, and a level at
either end of the scale needs a comment (so a 1 or a 5 always says why)."""

from __future__ import annotations

from uuid import UUID, uuid4

from litestar.exceptions import NotFoundException

from server import clock, db, validation
from server.accounts.permissions import Actor
from server.evaluation import members
from server.evaluation.tables import EvaluationCycle, RaterAssignment, Rating
from server.i18n import _
from server.web import Conflict, FieldErrors

COMMENT_MAX = 2000


async def save(actor: Actor, assignment_id: UUID, data: dict, submit: bool) -> None:
    a = await RaterAssignment.select().where(
        (RaterAssignment.id == assignment_id) & (RaterAssignment.rater == actor.id)).first()
    if a is None:
        raise NotFoundException()
    cycle = await EvaluationCycle.select().where(EvaluationCycle.id == a["cycle"]).first()
    if cycle is None or cycle["state"] not in ("open", "rating"):
        raise Conflict(_("This cycle no longer takes ratings."))
    if a["submitted_at"] is not None:
        raise Conflict(_("You submitted this form already."))
    template = await members.rep_template(cycle, a["ratee"])
    errors: dict[str, str] = {}
    answers = []
    for item in template.sources(a["role"]):
        levels = len(item.anchors) or 5
        key = f"level_{item.id}"
        level = validation.integer(data, key, errors, low=1, high=levels)
        comment = validation.text(data, f"comment_{item.id}", errors, max_len=COMMENT_MAX)
        if level is None:
            if submit and key not in errors:
                errors[key] = _("Choose a level.")
            continue
        if level in (1, levels) and not comment:
            errors[f"comment_{item.id}"] = _("A rating at either end of the scale needs a comment: say what you saw.")
        answers.append((item.id, level, comment))
    if errors:
        raise FieldErrors(errors)
    now = clock.now()
    async with db.write_transaction():
        if submit:
            done = await RaterAssignment.update({RaterAssignment.submitted_at: now}).where(
                (RaterAssignment.id == assignment_id) & RaterAssignment.submitted_at.is_null()
            ).returning(RaterAssignment.id)
            if not done:
                raise Conflict(_("You submitted this form already."))
        await Rating.delete().where(Rating.assignment == assignment_id)
        if answers:
            await Rating.insert(*[Rating(id=uuid4(), assignment=assignment_id, item=item_id, level=level,
                                         comment=comment, updated_at=now) for item_id, level, comment in answers])
