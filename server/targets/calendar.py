"""Pace thresholds and the work calendar: the one place that reads and writes them.

`thresholds()` and `calendar_overrides()` are the pace engine's inputs too (server/targets/pace.py)."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from server import clock, db, validation
from server.accounts.permissions import Actor, require_role
from server.db import as_date
from server.i18n import _
from server.targets import formulas
from server.targets.tables import PaceSetting, WorkCalendar
from server.web import FieldErrors


async def thresholds() -> formulas.Thresholds:
    """The admin's pace thresholds (defaults when the row is missing)."""
    row = await PaceSetting.select(PaceSetting.on_track_min, PaceSetting.at_risk_min).where(PaceSetting.id == 1).first()
    if not row:
        return formulas.Thresholds()
    return formulas.Thresholds(on_track_min=float(row["on_track_min"]), at_risk_min=float(row["at_risk_min"]))


def validate_thresholds(data: dict) -> tuple[float, float]:
    errors: dict[str, str] = {}
    on_track = validation.number(data, "on_track_min", errors, low=0, high=2)
    at_risk = validation.number(data, "at_risk_min", errors, low=0, high=2)
    for name, value in (("on_track_min", on_track), ("at_risk_min", at_risk)):
        if value is None and name not in errors:
            errors[name] = _("This field is required.")
    if on_track is None or at_risk is None or errors:
        raise FieldErrors(errors)
    if not on_track > at_risk:
        raise FieldErrors({"on_track_min": _("“On track” must start above “at risk”.")})
    return on_track, at_risk


async def save_thresholds(actor: Actor, data: dict) -> None:
    require_role(actor, "admin")
    on_track, at_risk = validate_thresholds(data)
    async with db.write_transaction():
        if await PaceSetting.exists().where(PaceSetting.id == 1):
            await PaceSetting.update({PaceSetting.on_track_min: on_track, PaceSetting.at_risk_min: at_risk,
                                      PaceSetting.updated_at: clock.now()}).where(PaceSetting.id == 1)
        else:
            await PaceSetting.insert(PaceSetting(id=1, on_track_min=on_track, at_risk_min=at_risk, updated_at=clock.now()))


async def calendar_overrides(start: date, end: date) -> dict[date, bool]:
    """Exceptions to Monday-to-Friday between `start` and `end`: day -> working."""
    rows = await WorkCalendar.select(WorkCalendar.day, WorkCalendar.working).where(
        (WorkCalendar.day >= start) & (WorkCalendar.day <= end))
    return {day: bool(r["working"]) for r in rows if (day := as_date(r["day"])) is not None}


async def calendar_days(actor: Actor) -> list[dict]:
    require_role(actor, "admin")
    return await WorkCalendar.select(WorkCalendar.id, WorkCalendar.day, WorkCalendar.working,
                                     WorkCalendar.note).order_by(WorkCalendar.day)


async def add_calendar_day(actor: Actor, data: dict) -> date:
    require_role(actor, "admin")
    errors: dict[str, str] = {}
    day = validation.day(data, "day", errors, required=True)
    kind = validation.choice(data, "working", ("holiday", "workday"), errors, default="holiday")
    note = validation.text(data, "note", errors, max_len=100)
    if day and not 2000 <= day.year <= 2100:
        errors["day"] = _("Enter a date between 2000 and 2100.")
    if errors or day is None:
        raise FieldErrors(errors)
    async with db.write_transaction():
        if await WorkCalendar.exists().where(WorkCalendar.day == day):
            raise FieldErrors({"day": _("This day is in the calendar already: remove it first.")})
        await WorkCalendar.insert(WorkCalendar(id=uuid4(), day=day, working=kind == "workday", note=note))
    return day


async def remove_calendar_day(actor: Actor, day_id: UUID) -> bool:
    require_role(actor, "admin")
    if not await WorkCalendar.exists().where(WorkCalendar.id == day_id):
        return False
    await WorkCalendar.delete().where(WorkCalendar.id == day_id)
    return True

