"""The company's clock: what "now" and "today" mean for visits and reports."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_tz = ZoneInfo("Asia/Shanghai")


def configure(tz_name: str) -> None:
    global _tz
    _tz = ZoneInfo(tz_name)


def company_tz() -> ZoneInfo:
    return _tz


def now() -> datetime:
    """Aware UTC now: what is stored."""
    return datetime.now(UTC)


def today() -> date:
    return datetime.now(_tz).date()


def local_date(moment: datetime) -> date:
    return moment.astimezone(_tz).date()


def week_start(day: date) -> date:
    """Monday of the week holding `day` (weekly reports key on it)."""
    return day - timedelta(days=day.weekday())


def parse_local_datetime(raw: str) -> datetime:
    """An ISO date-time from a form or the API; without an offset it is company time. Returns UTC."""
    value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=_tz)
    return value.astimezone(UTC)


def to_local_input(moment: datetime | None) -> str:
    """The value of an <input type=datetime-local> showing `moment` in company time."""
    if moment is None:
        return ""
    return moment.astimezone(_tz).strftime("%Y-%m-%dT%H:%M")
