"""Field parsers shared by the HTML forms, the JSON API and the sync reconciler.

Each returns a clean value or adds a translated message to `errors` under the field's name.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal
from uuid import UUID

from babel.numbers import NumberFormatError, get_decimal_symbol, get_group_symbol, parse_decimal

from server import clock
from server.i18n import _, current_locale, fmt_date, fmt_number
from sync import values

# --- Body values: text, numbers, dates and times ---------------------------------------------------
# The rules themselves are the pure checks of `sync.values` (the sync decoder uses them too); here they
# get the field's translated message. Whatever a client sends (a form, the JSON API, a queued mutation),
# a value is either one that both engines store and read back, or a message: never a 500, never
# Python's repr of an object stored as text.


def problem_message(code: str, *, max_len: int | None = None, low: float | None = None, high: float | None = None,
                    first: date | None = None, last: date | None = None) -> str:
    """The translated sentence for a `sync.values` problem code."""
    if code == "type":
        return _("This value has the wrong type.")
    if code in ("surrogate", "nul"):
        return _("This text contains characters that cannot be stored. Remove them and try again.")
    if code == "too_long":
        return _("At most %(n)s characters.", n=fmt_number(max_len))
    if code in ("not_number", "not_finite") or (code == "range" and low is None):
        return _("Enter a number.")
    if code == "range":
        return _("Enter a number from %(low)s to %(high)s.", low=fmt_number(low), high=fmt_number(high))
    if code == "not_date":
        return _("Enter a date.")
    if code == "not_datetime":
        return _("Enter a date and time.")
    if code == "date_range" and first and last:
        return _("Enter a date from %(first)s to %(last)s.", first=fmt_date(first), last=fmt_date(last))
    return _("This value cannot be accepted.")


def _missing(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def text(data: dict, name: str, errors: dict, *, required: bool = False, max_len: int = 5000) -> str:
    """Text, stripped: a string (not an object, a list or a number) of valid Unicode without NUL,
    at most `max_len` characters."""
    raw = data.get(name)
    if raw is None:
        raw = ""
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) < 10**values.MAX_INT_DIGITS:
        raw = str(raw)  # a JSON client writing a phone number as a number
    try:
        value = values.clean_text(raw, max_len)
    except values.ValueProblem as e:
        errors[name] = problem_message(e.code, max_len=max_len)
        return ""
    if required and not value:
        errors[name] = _("This field is required.")
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
    if not isinstance(value, str) or value not in options:
        errors[name] = _("Choose one of the options.")
        return default or ""
    return str(value)


def moment(data: dict, name: str, errors: dict, *, required: bool = False) -> datetime | None:
    """A date and time (company time unless it carries an offset) inside the plausible window, as UTC."""
    raw = data.get(name)
    if _missing(raw):
        if required:
            errors[name] = _("This field is required.")
        return None
    try:
        return values.moment_in_window(raw, clock.company_tz(), clock.now())
    except values.ValueProblem as e:
        errors[name] = problem_message(e.code, first=values.EARLIEST_DATE, last=values.latest_date(clock.today()))
        return None


def day(data: dict, name: str, errors: dict, *, required: bool = False, earliest: date | None = None,
        latest: date | None = None) -> date | None:
    """A date inside [earliest, latest] (by default the plausible window: 2000 to a few years ahead)."""
    raw = data.get(name)
    if _missing(raw):
        if required:
            errors[name] = _("This field is required.")
        return None
    first = earliest or values.EARLIEST_DATE
    last = latest or values.latest_date(clock.today())
    try:
        return values.calendar_date(raw, clock.today(), first, last)
    except values.ValueProblem as e:
        errors[name] = problem_message(e.code, first=first, last=last)
        return None


def number(data: dict, name: str, errors: dict, *, low: float, high: float) -> float | None:
    """A finite number within [low, high], from a number or a numeric string."""
    raw = data.get(name)
    if _missing(raw):
        return None
    try:
        return values.finite_number(raw, low, high)
    except values.ValueProblem as e:
        errors[name] = problem_message(e.code, low=low, high=high)
        return None


def integer(data: dict, name: str, errors: dict, *, low: int, high: int) -> int | None:
    """A whole number within [low, high], from an integer or a string of digits."""
    raw = data.get(name)
    if _missing(raw):
        return None
    try:
        return values.whole_number(raw, low, high)
    except values.ValueProblem as e:
        errors[name] = _("Enter a whole number.") if e.code in ("not_number", "type") else problem_message(
            e.code, low=low, high=high)
        return None


# --- Amounts and shares ---------------------------------------------------------------------------
# One strict reading of numbers typed by people, for the forms, the JSON API, sync and CSV imports:
# Babel's `parse_decimal(strict=True)` with the locale's grouping ("1,234.56"; "1,2,34" and "12,34" are
# refused, not guessed), after NFKC (full-width digits) and an optional currency sign. Exponents, NaN,
# infinity, "_" and digits of other scripts never reach Babel (Python's Decimal would take them).

MAX_CENTS = 10**13  # 100 billion yuan: x 10,000 basis points (a share) stays far inside a BIGINT
FULL_SHARE_BP = 10_000
_CURRENCY = re.compile(r"^(¥|RMB|CNY|\$)\s*|\s*(元|RMB|CNY)$", re.IGNORECASE)


class NumberError(ValueError):
    """A number that cannot be read; `reason` is one of: format, negative, decimals, zero, range."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def decimal_number(raw: object, *, locale: str | None = None) -> Decimal:
    """A plain decimal number as a person writes it in `locale` (default: the current one): digits, the
    locale's grouping and decimal signs, a leading minus. NumberError("format") otherwise."""
    if isinstance(raw, bool) or raw is None:
        raise NumberError("format")
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    negative = text.startswith("-")
    body = text[1:].strip() if negative else text
    babel_locale = locale or current_locale()
    group, point = get_group_symbol(babel_locale), get_decimal_symbol(babel_locale)
    if not body or any(not (ch in "0123456789" or ch in (group, point)) for ch in body) or not body.strip(group + point):
        raise NumberError("format")
    try:
        value = parse_decimal(body, locale=babel_locale, strict=True)
    except NumberFormatError:
        raise NumberError("format") from None
    if not value.is_finite():  # pragma: no cover - the characters checked above cannot spell NaN or Infinity
        raise NumberError("format")
    return -value if negative else value


def _at_most_two_decimals(value: Decimal) -> None:
    if value != value.quantize(Decimal("0.01"), rounding=ROUND_DOWN):
        raise NumberError("decimals")


def parse_amount(raw: object, *, allow_zero: bool = True, locale: str | None = None) -> int:
    """Yuan as typed or written in a sheet -> cents: 1234.56, 1,234.56, ¥1234.56, ￥1,234.56, 12元,
    full-width digits. Refused (NumberError with its reason): anything else ("format": "1,2,34", "1e3",
    "nan"), below zero ("negative"), more than two decimals ("decimals"), 0 when not `allow_zero`
    ("zero"), more than MAX_CENTS ("range")."""
    if isinstance(raw, bool):
        raise NumberError("format")
    text = unicodedata.normalize("NFKC", "" if raw is None else str(raw)).strip()
    negative = False
    for _round in range(2):  # "-¥5" and "¥-5"
        if text.startswith("-"):
            negative, text = True, text[1:].strip()
        text = _CURRENCY.sub("", text).strip()
    value = decimal_number(text, locale=locale)
    if value < 0 or (negative and value != 0):
        raise NumberError("negative")
    if value * 100 > MAX_CENTS:  # before the decimals: quantizing a huge number overflows Decimal's context
        raise NumberError("range")
    _at_most_two_decimals(value)
    cents = int(value * 100)
    if cents == 0 and not allow_zero:
        raise NumberError("zero")
    return cents


def parse_share(raw: object, *, locale: str | None = None) -> int:
    """A share of an order typed in percent ("60", "33.33", "50%", full-width too) -> basis points, more
    than 0 and at most 100 %. NumberError("format" | "decimals" | "range") otherwise."""
    if isinstance(raw, bool):
        raise NumberError("format")
    text = unicodedata.normalize("NFKC", "" if raw is None else str(raw)).strip()
    text = text[:-1].strip() if text.endswith("%") else text
    value = decimal_number(text, locale=locale)
    if not 0 < value <= 100:
        raise NumberError("range")
    _at_most_two_decimals(value)
    return int(value * 100)


def money(data: dict, name: str, errors: dict, *, required: bool = False, positive: bool = True) -> int | None:
    """A form's or the JSON API's amount field (yuan) as integer cents; a translated message in `errors`."""
    raw = data.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            errors[name] = _("This field is required.")
        return None
    try:
        return parse_amount(raw, allow_zero=not positive)
    except NumberError as e:
        errors[name] = {
            "negative": _("Enter an amount above zero.") if positive else _("The amount cannot be negative."),
            "zero": _("Enter an amount above zero."),
            "decimals": _("At most two decimals."),
            "range": _("This amount is too large."),
        }.get(e.reason, _("Enter an amount such as 1234.56."))
        return None


def share_bp(data: dict, name: str, errors: dict) -> int | None:
    """A form's or the JSON API's share field (percent) as basis points; a translated message in `errors`."""
    try:
        return parse_share(data.get(name))
    except NumberError as e:
        errors[name] = {
            "decimals": _("At most two decimals."),
            "range": _("Enter a share above 0 and at most 100 %%."),
        }.get(e.reason, _("Enter a percentage such as 60 or 33.33."))
        return None


# --- URL parameters --------------------------------------------------------------------------------
# Path values and query parameters, checked once for every route before its handler runs
# (`server.web.check_url_values`): whatever a handler then parses is inside these ranges.

URL_FIRST_DAY = date(1970, 1, 1)
URL_LAST_DAY = date(2100, 12, 31)
URL_INT_MAX = 2**63 - 1  # what a BIGINT holds on both engines
URL_VALUE_MAX = 1000  # characters in one value
URL_SEGMENT_MAX = 255  # characters in one path segment (a file name)
# Names whose value is a bare year ("2026") rather than a number.
URL_YEAR_NAMES = frozenset({"year", "period"})
# Free text (a search, a return path): only its characters and length are checked, never its shape.
URL_TEXT_NAMES = frozenset({"q", "next"})
_URL_DATE = re.compile(r"(\d{4,})-(\d{1,2})(?:-(\d{1,2}))?")
_URL_PERIOD = re.compile(r"(\d{4,})-(?:[Qq](\d+)|[Ww](\d+)|[Hh](\d+))")
_URL_INT = re.compile(r"[+-]?\d+")


def url_value_problem(name: str, value: object) -> str | None:
    """Why a path value or query parameter is out of range (a translated sentence), or None."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return None if URL_FIRST_DAY <= value <= URL_LAST_DAY else _url_dates_message()
    if isinstance(value, int) and not isinstance(value, bool):
        return None if abs(value) <= URL_INT_MAX else _("This number is out of range.")
    if not isinstance(value, str):
        return None
    if "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        return _("This address holds a character that is not allowed.")
    if len(value) > URL_VALUE_MAX or any(len(part) > URL_SEGMENT_MAX for part in value.split("/")):
        return _("A value in this address is too long.")
    raw = value.strip()
    if name in URL_TEXT_NAMES:
        return None
    if m := _URL_DATE.fullmatch(raw):
        # Only the range: a malformed date (month 13) is the handler's to explain in its own words.
        try:
            parsed = date(int(m[1]), int(m[2]), int(m[3] or 1))
        except ValueError:
            return None if URL_FIRST_DAY.year <= int(m[1]) <= URL_LAST_DAY.year else _url_dates_message()
        return None if URL_FIRST_DAY <= parsed <= URL_LAST_DAY else _url_dates_message()
    if m := _URL_PERIOD.fullmatch(raw):
        part = int(m[2] or m[3] or m[4])
        limit = 4 if m[2] else 53 if m[3] else 2
        if not (URL_FIRST_DAY.year <= int(m[1]) <= URL_LAST_DAY.year) or not 1 <= part <= limit:
            return _url_dates_message()
        return None
    if _URL_INT.fullmatch(raw):
        if len(raw) > 20 or abs(int(raw)) > URL_INT_MAX:
            return _("This number is out of range.")
        if name in URL_YEAR_NAMES and len(raw.lstrip("+-")) >= 4 and not (
            URL_FIRST_DAY.year <= int(raw) <= URL_LAST_DAY.year
        ):
            return _url_dates_message()
    return None


def _url_dates_message() -> str:
    return _("Choose a date from %(first)s to %(last)s.", first=URL_FIRST_DAY.year, last=URL_LAST_DAY.year)


def url_date(raw: object) -> date | None:
    """A date from a query string inside the URL window, None for empty or malformed input (as
    `optional_uuid`): the route-wide check has already refused what is out of range."""
    try:
        value = date.fromisoformat(str(raw).strip()) if raw not in (None, "") else None
    except (ValueError, TypeError):
        return None
    return value if value is None or URL_FIRST_DAY <= value <= URL_LAST_DAY else None
