"""The alert rules' decisions as pure functions (no database): thresholds, working days, the 8-week
median, dedup keys, quiet hours. `alerts.py` fetches the numbers in SQL and asks these.
"""

from __future__ import annotations

import hashlib
import statistics
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.targets.formulas import AT_RISK, BEHIND, is_working, working_days

LEVELS = {AT_RISK: 1, BEHIND: 2}
HISTORY_WEEKS = 8


def lagging_level(status: str, elapsed: float, min_elapsed: float) -> str | None:
    """at_risk or behind once at least `min_elapsed` (0..1) of the period has passed; else None."""
    if status not in LEVELS or elapsed < min_elapsed:
        return None
    return status


def inactive_working_days(last_visit: date | None, today: date, overrides: dict[date, bool] | None,
                          since: date) -> int:
    """Working days after the last visit (or after `since`, the start of the window looked at) up to and
    including today."""
    start = (last_visit or since - timedelta(days=1)) + timedelta(days=1)
    return working_days(start, today, overrides)


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def weekly_history(counts: dict[int, float], weeks: int = HISTORY_WEEKS) -> list[float]:
    """Week index (1 = last week ... `weeks`) -> count, as a full list with the empty weeks as 0."""
    return [float(counts.get(i, 0.0)) for i in range(1, weeks + 1)]


def anomaly(this_week: float, history: list[float], fraction: float, week_elapsed: float) -> tuple[bool, float, float]:
    """(below?, the median of the rep's previous weeks, what that median expects by now).

    A week partly gone expects its share of the median (by working days, `week_elapsed`). No history (a
    median of 0) is never an anomaly, nor is a week with nothing expected yet."""
    usual = median(history)
    expected = usual * week_elapsed
    if usual <= 0 or expected <= 0:
        return False, usual, expected
    return this_week < fraction * expected, usual, expected


def report_due(now: datetime, tz: ZoneInfo, cutoff: time, overrides: dict[date, bool] | None) -> date | None:
    """The day whose daily report is overdue at `now`: today after the cut-off on a working day, else None."""
    local = now.astimezone(tz)
    if not is_working(local.date(), overrides) or local.time() < cutoff:
        return None
    return local.date()


def dedup_key(recipient: object, rule: str, subject: str, period: str, level: str) -> str:
    return "|".join([str(recipient), rule, subject, period, level])[:400]


def digest_level(entries: list[tuple[str, str]]) -> str:
    """The level of a manager's digest: who is in it at which level. A new name or a worse level makes a
    new digest; the same list does not."""
    joined = ";".join(f"{who}:{level}" for who, level in sorted(entries))
    return hashlib.sha256(joined.encode()).hexdigest()[:20]


def parse_hhmm(raw: str) -> time | None:
    raw = (raw or "").strip()
    if len(raw) != 5 or raw[2] != ":" or not (raw[:2].isdigit() and raw[3:].isdigit()):
        return None
    hours, minutes = int(raw[:2]), int(raw[3:])
    if hours > 23 or minutes > 59:
        return None
    return time(hours, minutes)


def quiet_until(now: datetime, tz: ZoneInfo, start: time | None, end: time | None) -> datetime | None:
    """When the quiet hours holding `now` end (UTC), in the user's time zone; None outside them.

    `start` to `end` on the user's clock; an end before the start runs past midnight (22:00 to 07:00)."""
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(tz)
    t = local.time().replace(tzinfo=None)
    day = local.date()
    if start < end:
        if start <= t < end:
            return datetime.combine(day, end, tz).astimezone(UTC)
        return None
    if t >= start:
        return datetime.combine(day + timedelta(days=1), end, tz).astimezone(UTC)
    if t < end:
        return datetime.combine(day, end, tz).astimezone(UTC)
    return None
