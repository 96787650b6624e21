"""What the sales forms and the JSON API share: amounts, shares, dates, record numbers."""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal, InvalidOperation

from server import clock
from server.i18n import _

MAX_SPLITS = 6
MAX_CENTS = 10**13  # 100 billion yuan: far above any order, far below integer overflow in sums x shares


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

