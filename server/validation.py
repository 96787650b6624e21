"""Field parsers shared by the HTML forms, the JSON API and the sync reconciler.

Each returns a clean value or adds a translated message to `errors` under the field's name.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from server import clock
from server.i18n import _, fmt_date, fmt_number
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
