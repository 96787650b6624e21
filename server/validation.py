"""Field parsers shared by the HTML forms, the JSON API and (later) the sync reconciler.

Each returns a clean value or adds a translated message to `errors` under the field's name.
"""

from __future__ import annotations

import re
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
