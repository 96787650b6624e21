"""What the sales forms and the JSON API share: amounts, shares, dates, record numbers."""

from __future__ import annotations

import secrets
from datetime import date

from server import clock
from server.i18n import _

MAX_SPLITS = 6


def not_future(clean: dict, name: str, errors: dict) -> None:
    if clean.get(name) and clean[name] > clock.today():
        errors[name] = _("This date is in the future.")


def day_ok(d: date | None, name: str, errors: dict) -> date | None:
    if d is not None and not (date(2000, 1, 1) <= d <= date(2100, 12, 31)):
        errors[name] = _("Enter a date.")
        return None
    return d


def record_number(prefix: str, day: date) -> str:
    return f"{prefix}-{day:%Y%m%d}-{secrets.token_hex(2).upper()}"


def is_unique_violation(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name == "UniqueViolationError" or (name == "IntegrityError" and "unique" in str(exc).lower())

