"""Target values as typed in a form (parsing, caps) and as an input shows them."""

from __future__ import annotations

import math
import re

from server.i18n import _, fmt_number
from server.targets import actuals

# --- Parsing -----------------------------------------------------------------------------------

MAX_VALUE = 1e12
_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def parse_value(raw: object, decimals: int, errors: dict, name: str, *, required: bool = True,
                high: float = MAX_VALUE) -> float | None:
    """A target value as typed: "1234.56" or "1,234.56"; not negative, at most `decimals` decimals."""
    text = "" if raw is None else str(raw).strip().replace(",", "").replace(" ", "").replace("\u00a0", "")
    if not text:
        if required:
            errors[name] = _("This field is required.")
        return None
    if text.startswith("-") and _NUMBER.match(text[1:]):
        errors[name] = _("Enter zero or more.")
        return None
    if not _NUMBER.match(text):
        errors[name] = _("Enter a number, such as 1234.56.")
        return None
    if "." in text and len(text.split(".")[1].rstrip("0")) > decimals:
        errors[name] = (_("Enter a whole number.") if decimals == 0
                        else _("At most %(n)s decimals.", n=decimals))
        return None
    value = float(text)
    if not math.isfinite(value) or value > high:
        errors[name] = _("Enter a number from %(low)s to %(high)s.", low=0, high=fmt_number(high))
        return None
    return value


def parse_weight(raw: object, errors: dict, name: str) -> float | None:
    text = "" if raw is None else str(raw).strip().replace(",", "")
    if not text:
        errors[name] = _("This field is required.")
        return None
    if not _NUMBER.match(text):
        errors[name] = _("Enter zero or more, such as 12.5.")
        return None
    value = float(text)
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

