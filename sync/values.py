"""Pure checks of the values a client sends: text, numbers, dates and times, JSON shape.

One home for the primitives that the sync decoder (`sync.protocol`) and the server's field parsers
(`server/validation.py`, shared by the HTML forms, the JSON API and the reconciler) both need, so the
rules are written once. Each check returns a problem code (a short English word, never shown to a
user: the server turns it into a translated message) or None, or raises `ValueProblem`.

Why these rules: every value must be storable on both engines and readable back, whatever a client
sends. PostgreSQL refuses a NUL character in text; a lone UTF-16 surrogate (`"\\ud800"` in JSON) cannot
be encoded as UTF-8 by any driver; a float beyond range, NaN or infinity has no place in a latitude;
dates far outside any plausible working life (year 1, year 9999 with an offset) overflow time-zone
arithmetic; a clock skew beyond 32 bits does not fit the column.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

# The window of plausible dates for anything a rep records (visits, next steps, report periods).
EARLIEST_DATE = date(2000, 1, 1)
YEARS_AHEAD = 5
# Clock skews and other counts in seconds are stored in 32-bit integer columns.
INT32_MAX = 2**31 - 1
# The longest digit string read as an integer; longer ones are read as floats (infinite when huge),
# which range checks then refuse, instead of Python's 4300-digit limit raising inside the JSON parser.
MAX_INT_DIGITS = 30
# Nesting deeper than this in a pushed body is cut (replaced by an empty list) before parsing.
MAX_JSON_DEPTH = 32

_SURROGATE = re.compile("[\ud800-\udfff]")


class ValueProblem(ValueError):
    """A value that cannot be accepted; `code` says why (see `PROBLEMS`)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


# Every code a check here can give.
PROBLEMS = ("type", "surrogate", "nul", "too_long", "not_number", "not_finite", "range", "not_date",
            "not_datetime", "date_range")


def latest_date(today: date) -> date:
    """The last plausible date: a few years after today (a next step, a contract's end)."""
    try:
        return today.replace(year=today.year + YEARS_AHEAD)
    except ValueError:  # 29 February
        return today.replace(year=today.year + YEARS_AHEAD, day=28)


def text_problem(value: Any, max_len: int | None = None) -> str | None:
    """Why `value` is not acceptable text: not a string, a lone surrogate, a NUL, too long."""
    if not isinstance(value, str):
        return "type"
    if _SURROGATE.search(value):
        return "surrogate"
    if "\x00" in value:
        return "nul"
    if max_len is not None and len(value) > max_len:
        return "too_long"
    return None


def clean_text(value: Any, max_len: int | None = None) -> str:
    """The text, stripped; raises ValueProblem."""
    problem = text_problem(value)
    if problem:
        raise ValueProblem(problem)
    value = value.strip()
    if max_len is not None and len(value) > max_len:
        raise ValueProblem("too_long")
    return value


def finite_number(raw: Any, low: float, high: float) -> float:
    """A finite float within [low, high] from a number or a numeric string; raises ValueProblem."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueProblem("type")
    if isinstance(raw, str):
        if text_problem(raw, 100):
            raise ValueProblem("not_number")
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueProblem("not_number") from None
    else:
        try:
            value = float(raw)
        except OverflowError:  # an integer with hundreds of digits
            raise ValueProblem("range") from None
    if not math.isfinite(value):
        raise ValueProblem("not_finite")
    if not low <= value <= high:
        raise ValueProblem("range")
    return value


def whole_number(raw: Any, low: int, high: int) -> int:
    """An integer within [low, high] from an int or a string of digits; raises ValueProblem."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str, float)):
        raise ValueProblem("type")
    if isinstance(raw, float):
        if not raw.is_integer():
            raise ValueProblem("not_number")
        if not math.isfinite(raw):
            raise ValueProblem("not_finite")
        raw = int(raw)
    if isinstance(raw, str):
        digits = raw.strip()
        if text_problem(digits) or len(digits) > MAX_INT_DIGITS:
            raise ValueProblem("range" if digits.lstrip("+-").isdigit() else "not_number")
        try:
            raw = int(digits)
        except ValueError:
            raise ValueProblem("not_number") from None
    if not low <= raw <= high:
        raise ValueProblem("range")
    return raw


def calendar_date(raw: Any, today: date, earliest: date = EARLIEST_DATE, latest: date | None = None) -> date:
    """A date (YYYY-MM-DD) inside the plausible window; raises ValueProblem."""
    if not isinstance(raw, str) or text_problem(raw, 40):
        raise ValueProblem("type" if not isinstance(raw, str) else "not_date")
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueProblem("not_date") from None
    if not earliest <= value <= (latest or latest_date(today)):
        raise ValueProblem("date_range")
    return value


def parse_moment(raw: Any, default_tz: tzinfo) -> datetime:
    """An ISO date-time (offset optional: `default_tz` when absent) as aware UTC; raises ValueProblem.

    Accepts a trailing Z. Refuses what cannot be converted to UTC (year 1 or 9999 with an offset)."""
    if not isinstance(raw, str) or text_problem(raw, 60):
        raise ValueProblem("type" if not isinstance(raw, str) else "not_datetime")
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueProblem("not_datetime") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueProblem("date_range") from None


def moment_in_window(raw: Any, default_tz: tzinfo, now: datetime) -> datetime:
    """`parse_moment`, and inside [EARLIEST_DATE, a few years after now]; raises ValueProblem."""
    value = parse_moment(raw, default_tz)
    earliest = datetime(EARLIEST_DATE.year, EARLIEST_DATE.month, EARLIEST_DATE.day, tzinfo=UTC)
    latest = datetime.combine(latest_date(now.date()), datetime.max.time(), tzinfo=UTC)
    if not earliest <= value <= latest:
        raise ValueProblem("date_range")
    return value


def device_clock(raw: Any, now: datetime) -> datetime | None:
    """A device's claim of a time (a mutation's `client_time`, a push's `sent_at`): the aware UTC time
    when it is readable and inside the window, else None. A wrong phone clock is never the rep's fault,
    so it is recorded as unknown rather than refusing what the rep logged."""
    try:
        return moment_in_window(raw, UTC, now)
    except ValueProblem:
        return None


def clamp_int32(value: int) -> int:
    return max(-INT32_MAX, min(INT32_MAX, value))


def skew_seconds(device_time: datetime, server_time: datetime) -> int:
    """Device clock minus server clock in whole seconds, clamped to what a 32-bit column holds."""
    try:
        delta = device_time - server_time
    except OverflowError:
        return INT32_MAX if device_time > server_time else -INT32_MAX
    return clamp_int32(round(delta / timedelta(seconds=1)))


def is_scalar(value: Any) -> bool:
    """A JSON value allowed as a field of a form-shaped payload: text, number, true/false or null."""
    return value is None or isinstance(value, (str, int, float, bool))


def parse_int(digits: str) -> int | float:
    """`json.loads(parse_int=...)`: integers up to MAX_INT_DIGITS; longer ones as a float (inf when
    huge), so the parser never hits Python's integer-string limit and range checks refuse them."""
    return int(digits) if len(digits) <= MAX_INT_DIGITS else float(digits)


_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def cap_json_depth(body: bytes, limit: int = MAX_JSON_DEPTH) -> bytes:
    """The JSON text with every array or object nested deeper than `limit` replaced by `[]`, so a
    parser can read the rest (the seqs of a push) and the mutation holding it is refused on its own.
    Strings are skipped whole; a malformed text stays malformed."""
    out: list[bytes] = []
    depth = 0
    last = 0
    cut_from: int | None = None
    for token in _JSON_TOKENS.finditer(body):
        char = token.group()[:1]
        if char == b'"':
            continue
        if char in (b"[", b"{"):
            depth += 1
            if depth == limit + 1 and cut_from is None:
                cut_from = token.start()
        else:
            if depth == limit + 1 and cut_from is not None:
                out.append(body[last:cut_from])
                out.append(b"[]")
                last = token.end()
                cut_from = None
            depth -= 1
    out.append(body[last:] if cut_from is None else body[last:cut_from] + b"[]")
    return b"".join(out)
