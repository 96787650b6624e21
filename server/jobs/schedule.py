"""Schedules as pure functions: the slots of a job in the company's time zone and work calendar.

A slot is a moment (aware UTC datetime). The scheduler runs a job for its latest slot not after now, so
after downtime a missed slot runs once, not once per missed slot. Working days come from the work
calendar's rule (`server.targets.formulas.is_working`: Monday to Friday, minus holidays, plus make-up days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.targets.formulas import is_working

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Every:
    """Every `seconds`, aligned to multiples of it since 2000-01-01 UTC; with `working_days`, only during
    working days (company time)."""

    seconds: int
    working_days: bool = False

    def describe(self) -> str:
        if self.seconds % 3600 == 0:
            text = f"every {self.seconds // 3600} h"
        elif self.seconds % 60 == 0:
            text = f"every {self.seconds // 60} min"
        else:
            text = f"every {self.seconds} s"
        return text + (" on working days" if self.working_days else "")


@dataclass(frozen=True)
class Daily:
    """Once a day at `at` (company time); with `working_days`, only on working days."""

    at: time
    working_days: bool = False

    def describe(self) -> str:
        return f"{'working days' if self.working_days else 'daily'} at {self.at.strftime('%H:%M')}"


Schedule = Every | Daily


def latest_slot(schedule: Schedule, now: datetime, tz: ZoneInfo, overrides: dict[date, bool] | None = None,
                horizon_days: int = 40) -> datetime | None:
    """The latest slot at or before `now`, or None when there is none within `horizon_days`."""
    if isinstance(schedule, Every):
        step = schedule.seconds
        slot = EPOCH + timedelta(seconds=((now - EPOCH) // timedelta(seconds=step)) * step)
        if not schedule.working_days:
            return slot
        for _ in range(horizon_days + 1):
            day = slot.astimezone(tz).date()
            if is_working(day, overrides):
                return slot
            # The last slot of the previous day: before this day's local midnight.
            midnight = datetime.combine(day, time(0), tz).astimezone(UTC)
            previous = latest_slot(Every(step), midnight - timedelta(microseconds=1), tz)
            assert previous is not None
            slot = previous
        return None
    day = now.astimezone(tz).date()
    for back in range(horizon_days + 1):
        candidate_day = day - timedelta(days=back)
        if schedule.working_days and not is_working(candidate_day, overrides):
            continue
        slot = datetime.combine(candidate_day, schedule.at, tz).astimezone(UTC)
        if slot <= now:
            return slot
    return None


def next_slot(schedule: Schedule, after: datetime, tz: ZoneInfo, overrides: dict[date, bool] | None = None,
              horizon_days: int = 40) -> datetime | None:
    """The first slot strictly after `after`, or None within `horizon_days`."""
    if isinstance(schedule, Every):
        step = timedelta(seconds=schedule.seconds)
        slot = EPOCH + ((after - EPOCH) // step + 1) * step
        if not schedule.working_days:
            return slot
        for _ in range(horizon_days + 1):
            day = slot.astimezone(tz).date()
            if is_working(day, overrides):
                return slot
            next_midnight = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
            following = next_slot(Every(schedule.seconds), next_midnight - timedelta(microseconds=1), tz)
            assert following is not None
            slot = following
        return None
    day = after.astimezone(tz).date()
    for ahead in range(horizon_days + 1):
        candidate_day = day + timedelta(days=ahead)
        if schedule.working_days and not is_working(candidate_day, overrides):
            continue
        slot = datetime.combine(candidate_day, schedule.at, tz).astimezone(UTC)
        if slot > after:
            return slot
    return None
