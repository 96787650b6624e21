"""Target values as typed in a form (parsing, caps) and as an input shows them."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from server import validation
from server.i18n import _, fmt_number
from server.targets import actuals

# --- Parsing: server/validation.py's strict decimal reading ("1,234.56"; "1,2,34" and "1e3" refused) -----

MAX_VALUE = 1e12


def parse_value(raw: object, decimals: int, errors: dict, name: str, *, required: bool = True,
                high: float = MAX_VALUE) -> float | None:
    """A target value as typed: "1234.56" or "1,234.56"; not negative, at most `decimals` decimals."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        if required:
            errors[name] = _("This field is required.")
        return None
    try:
        number = validation.decimal_number(text)
    except validation.NumberError:
        errors[name] = _("Enter a number, such as 1234.56.")
        return None
    if number < 0:
        errors[name] = _("Enter zero or more.")
        return None
    if number > Decimal(high):  # before the decimals: quantizing a huge number overflows Decimal's context
        errors[name] = _("Enter a number from %(low)s to %(high)s.", low=0, high=fmt_number(high))
        return None
    if number != number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN):
        errors[name] = (_("Enter a whole number.") if decimals == 0
                        else _("At most %(n)s decimals.", n=decimals))
        return None
    return float(number)


def parse_weight(raw: object, errors: dict, name: str) -> float | None:
    """A weight or a percentage typed for a split: zero or more."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        errors[name] = _("This field is required.")
        return None
    try:
        number = validation.decimal_number(text)
    except validation.NumberError:
        number = Decimal(-1)
    if number < 0:
        errors[name] = _("Enter zero or more, such as 12.5.")
        return None
    value = float(number)
    if value > MAX_VALUE:
        errors[name] = _("Enter a number from %(low)s to %(high)s.", low=0, high=fmt_number(MAX_VALUE))
        return None
    return value


def fmt_plain(value: float | None, decimals: int) -> str:
    """A value as an input shows it: no grouping, no trailing zeros beyond what the unit needs."""
    if value is None:
        return ""
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def value_cap(kpi: actuals.KpiDef) -> float:
    return 100.0 if kpi.unit == "percent" else MAX_VALUE

