"""The translation layer: Babel catalogs for Simplified Chinese and English, chosen per request.

The active locale lives in a context variable that the locale middleware sets for each request, so
`_()` works the same in handlers, services and templates.
"""

from __future__ import annotations

import contextvars
import io
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import NumberPattern, format_currency, format_percent, parse_pattern
from babel.support import NullTranslations, Translations

LOCALES = ("zh_CN", "en")
LOCALE_NAMES = {"zh_CN": "简体中文", "en": "English"}
CATALOG_DIR = Path(__file__).resolve().parent / "locales"

_locale: contextvars.ContextVar[str] = contextvars.ContextVar("fieldpace_locale", default="en")
_timezone: contextvars.ContextVar[str] = contextvars.ContextVar("fieldpace_tz", default="Asia/Shanghai")
_currency = "CNY"


def configure(currency: str) -> None:
    """Process-wide formatting settings (one company per process)."""
    global _currency
    _currency = currency


@cache
def translations(locale: str) -> NullTranslations:
    """The locale's Babel `Translations`, built in memory from its .po file once per process: the catalog
    is read with `read_po` and compiled with `write_mo` into a buffer (no .mo file, no build step).

    Fuzzy entries and entries with an empty form are left out, so they fall back to the English msgid
    (gettext's rule: the singular for n == 1, the plural otherwise). Plural forms come from the catalog's
    `Plural-Forms` header: zh_CN has one form, en two."""
    path = CATALOG_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as fh:
        cat = read_po(fh, locale=locale)
    for message in list(cat):
        forms = tuple(message.string) if isinstance(message.string, (list, tuple)) else (message.string,)
        if message.id and (message.fuzzy or not all(forms)):
            cat.delete(message.id, context=message.context)
    buf = io.BytesIO()
    write_mo(buf, cat)
    buf.seek(0)
    return Translations(buf, domain="messages")


def set_locale(locale: str) -> contextvars.Token:
    return _locale.set(locale if locale in LOCALES else "en")


def set_timezone(tz: str) -> None:
    _timezone.set(tz)


def current_locale() -> str:
    return _locale.get()


def translate(msgid: str) -> str:
    """The translation of `msgid` in the request's language, unformatted (the templates' gettext: Jinja's
    newstyle gettext formats it with the call's keywords itself)."""
    return translations(_locale.get()).gettext(msgid)


def translate_plural(singular: str, plural: str, n: int) -> str:
    """The plural form for `n` in the request's language, unformatted (the templates' ngettext)."""
    return translations(_locale.get()).ngettext(singular, plural, n)


def gettext(msgid: str, **params: object) -> str:
    """Translate `msgid` into the request's language; `%(name)s` placeholders take keyword values.

    Always a format string, as in the templates: a literal percent sign is written %% in every message,
    with or without placeholders."""
    return translate(msgid) % params


_ = gettext


def N_(msgid: str) -> str:
    """Mark a string for extraction without translating it now (labels kept in constants)."""
    return msgid


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    """The form of a plural message for `n`, formatted; `%(num)s` is `n` unless given."""
    params.setdefault("num", n)
    return translate_plural(singular, plural, n) % params


def pick_locale(user_setting: str | None, accept_language: str | None, default: str) -> str:
    """The user's own setting wins, else the best match of Accept-Language, else the default."""
    if user_setting in LOCALES:
        return user_setting
    if accept_language:
        wanted = []
        for part in accept_language.split(","):
            tag, _sep, q = part.strip().partition(";q=")
            try:
                weight = float(q) if q else 1.0
            except ValueError:
                weight = 0.0
            if tag:
                wanted.append((weight, tag.strip().replace("-", "_")))
        wanted.sort(key=lambda pair: -pair[0])
        tags = [tag for _w, tag in wanted]
        # zh, zh_Hans, zh_CN, zh_SG all read Simplified Chinese.
        tags = ["zh_CN" if t.lower().startswith("zh") and "hant" not in t.lower() else t for t in tags]
        found = negotiate_locale(tags, list(LOCALES), sep="_")
        if found:
            return found
    return default if default in LOCALES else "en"


@lru_cache(maxsize=8)
def _parsed_locale(code: str) -> Locale:
    return Locale.parse(code)


def _babel_locale() -> Locale:
    return _parsed_locale(_locale.get())


def _local(value: datetime) -> datetime:
    tz = ZoneInfo(_timezone.get())
    return value.astimezone(tz) if value.tzinfo else value.replace(tzinfo=tz)


def fmt_date(value: date | datetime | None, format: str = "medium") -> str:
    if value is None:
        return ""
    return _formatted("date", value, format, _locale.get(), _timezone.get())


def fmt_datetime(value: datetime | None, format: str = "short") -> str:
    if value is None:
        return ""
    return _formatted("datetime", value, format, _locale.get(), _timezone.get())


@lru_cache(maxsize=4096)
def _formatted(kind: str, value: date | datetime, format: str, locale: str, tz: str) -> str:
    """Babel's formatting, remembered: it costs 10-35 µs a value, and pages show the same days and times
    again and again (a date on every row, a queue re-rendered). The key holds everything the text
    depends on, so a cached text is always the one Babel would give."""
    if isinstance(value, datetime):
        if kind == "datetime":
            return format_datetime(_local(value), format=format, locale=_parsed_locale(locale))
        value = _local(value).date()
    return format_date(value, format=format, locale=_parsed_locale(locale))


def fmt_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return format_time(_local(value), format="short", locale=_babel_locale())


@lru_cache(maxsize=16)
def _decimal_pattern(digits: int) -> NumberPattern:
    """The parsed pattern of a number with `digits` decimals (Babel parses its pattern string on every
    call otherwise; a page of figures formats a hundred numbers)."""
    return parse_pattern("#,##0." + "0" * digits if digits else "#,##0")


def fmt_number(value: float | int | Decimal | None, digits: int | None = None) -> str:
    """`babel.numbers.format_decimal` with the parsed pattern kept (same text, same defaults)."""
    if value is None:
        return ""
    locale = _babel_locale()
    pattern = locale.decimal_formats[None] if digits is None else _decimal_pattern(digits)
    return pattern.apply(value, locale)


def fmt_money(value: float | int | Decimal | None, currency: str | None = None) -> str:
    if value is None:
        return ""
    return format_currency(value, currency or _currency, locale=_babel_locale())


def fmt_weekday(value: date) -> str:
    return format_date(value, format="EEEE", locale=_babel_locale())


def fmt_day_long(value: date | datetime | None) -> str:
    """A day with its weekday, as the locale writes it: `2026年12月2日 星期三`, `Wednesday, December 2, 2026`."""
    if value is None:
        return ""
    day = _local(value).date() if isinstance(value, datetime) else value
    if _locale.get().startswith("zh"):
        return f"{fmt_date(day, 'long')} {fmt_weekday(day)}"
    return fmt_date(day, "full")


def fmt_percent(value: float | int | Decimal | None, digits: int = 0) -> str:
    """`value` percentage points in the locale's percent form (21 -> `21%`); "" for None."""
    if value is None:
        return ""
    pattern = "#,##0%" if not digits else "#,##0." + "0" * digits + "%"
    return format_percent(Decimal(str(value)) / 100, format=pattern, locale=_babel_locale())


def fmt_value(value: float | None, unit: str) -> str:
    """A KPI value in its unit (`server/targets` UNITS), the one formatter of dashboards, the home and
    notifications: money with the currency, percentages in the locale's form, counts whole, scores with
    two decimals; "–" when there is none."""
    if value is None:
        return "–"
    if unit == "money":
        return fmt_money(value)
    if unit == "percent":
        return fmt_percent(value, 1)
    if unit == "count":
        return fmt_number(value, 0) if float(value).is_integer() else fmt_number(value, 1)
    return fmt_number(value, 2)


def fmt_share(value: float | None) -> str:
    """A ratio (attainment, the elapsed share of a period, a pace index as a share) as a whole percentage."""
    return "–" if value is None else fmt_percent(round(value * 100))
