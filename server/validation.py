"""Field parsers shared by the HTML forms, the JSON API and (later) the sync reconciler.

Each returns a clean value or adds a translated message to `errors` under the field's name.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from server import clock
from server.i18n import _


def text(data: dict, name: str, errors: dict, *, required: bool = False, max_len: int = 5000) -> str:
    raw = data.get(name)
    value = "" if raw is None else str(raw).strip()
    if required and not value:
        errors[name] = _("This field is required.")
    elif len(value) > max_len:
        errors[name] = _("At most %(n)s characters.", n=max_len)
    return value


def uuid(data: dict, name: str, errors: dict, *, required: bool = True) -> UUID | None:
    raw = data.get(name)
    if raw in (None, ""):
        if required:
            errors[name] = _("This field is required.")
        return None
    try:
        return UUID(str(raw))
    except (ValueError, TypeError, AttributeError):
        errors[name] = _("Not a valid identifier.")
        return None


def optional_uuid(raw) -> UUID | None:
    """An identifier from a query string or a hidden field where a bad one simply means "none" (a
    filter, a back link): None for empty or malformed input, never an error."""
    try:
        return UUID(str(raw).strip()) if raw not in (None, "") else None
    except (ValueError, TypeError, AttributeError):
        return None


def choice(data: dict, name: str, options: tuple[str, ...], errors: dict, *, default: str | None = None) -> str:
    value = data.get(name) or default
    if value not in options:
        errors[name] = _("Choose one of the options.")
        return default or ""
    return str(value)


def moment(data: dict, name: str, errors: dict, *, required: bool = False) -> datetime | None:
    raw = data.get(name)
    if raw in (None, ""):
        if required:
            errors[name] = _("This field is required.")
        return None
    try:
        return clock.parse_local_datetime(str(raw))
    except (ValueError, TypeError, AttributeError):
        errors[name] = _("Enter a date and time.")
        return None


def day(data: dict, name: str, errors: dict, *, required: bool = False) -> date | None:
    raw = data.get(name)
    if raw in (None, ""):
        if required:
            errors[name] = _("This field is required.")
        return None
    try:
        return date.fromisoformat(str(raw).strip())
    except (ValueError, TypeError, AttributeError):
        errors[name] = _("Enter a date.")
        return None


def number(data: dict, name: str, errors: dict, *, low: float, high: float) -> float | None:
    raw = data.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except (ValueError, TypeError):
        errors[name] = _("Enter a number.")
        return None
    if not (low <= value <= high) or value != value:
        errors[name] = _("Enter a number from %(low)s to %(high)s.", low=low, high=high)
        return None
    return value


def integer(data: dict, name: str, errors: dict, *, low: int, high: int) -> int | None:
    raw = data.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(str(raw))
    except (ValueError, TypeError):
        errors[name] = _("Enter a whole number.")
        return None
    if not (low <= value <= high):
        errors[name] = _("Enter a number from %(low)s to %(high)s.", low=low, high=high)
        return None
    return value
