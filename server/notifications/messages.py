"""What a notification says, in the language of whoever reads it: rendered from its kind and numbers
when the inbox shows it or a push carries it, never stored as text."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date

from server import i18n
from server.i18n import N_, _, fmt_date, fmt_number, fmt_share, fmt_value, ngettext

RULE_LABELS = {
    "lagging": N_("Lagging targets"),
    "inactivity": N_("No visits for several working days"),
    "anomaly": N_("Fewer visits or orders than usual"),
    "missing_report": N_("Missing daily report"),
    "feedback": N_("Feedback on my reports"),
    "evaluation": N_("Evaluations"),
}
STATUS_WORDS = {"at_risk": N_("at risk"), "behind": N_("behind")}
MEASURE_WORDS = {"visits": N_("visits"), "orders": N_("orders")}
BODY_LIMIT = 300


@contextlib.contextmanager
def in_locale(locale: str) -> Iterator[None]:
    token = i18n.set_locale(locale)
    try:
        yield
    finally:
        i18n._locale.reset(token)


def _kpi_name(p: dict) -> str:
    from server.targets.actuals import BUILTIN_NAMES

    code = p.get("kpi", "")
    return _(BUILTIN_NAMES[code]) if p.get("builtin") and code in BUILTIN_NAMES else p.get("kpi_name", code)


def _day(raw: str) -> str:
    try:
        return fmt_date(date.fromisoformat(raw))
    except (TypeError, ValueError):
        return raw or ""


def render(kind: str, p: dict) -> tuple[str, str]:
    """(title, body) of a notification in the current locale."""
    if kind == "lagging":
        title = _("%(kpi)s: %(status)s pace", kpi=_kpi_name(p), status=_(STATUS_WORDS.get(p.get("status", ""), "behind")))
        body = _("%(actual)s so far against %(expected)s expected by now (target %(target)s, %(share)s of the "
                 "period gone): pace %(index)s.", actual=fmt_value(p.get("actual"), p.get("unit", "")),
                 expected=fmt_value(p.get("expected"), p.get("unit", "")), target=fmt_value(p.get("target"), p.get("unit", "")),
                 share=fmt_share(p.get("elapsed", 0.0)), index=fmt_share(p.get("index") or 0.0))
    elif kind == "lagging_digest":
        people = p.get("people", [])
        title = _("%(team)s: %(what)s", team=p.get("team", ""), what=ngettext(
            "%(num)s rep behind pace", "%(num)s reps behind pace", len(people)))
        body = "; ".join(_("%(name)s, %(kpi)s %(status)s (pace %(index)s)", name=x.get("name", ""), kpi=_kpi_name(x),
                           status=_(STATUS_WORDS.get(x.get("status", ""), "behind")), index=fmt_share(x.get("index") or 0.0))
                         for x in people)
    elif kind == "inactivity":
        title = ngettext("No visit logged for %(num)s working day", "No visits logged for %(num)s working days",
                         p.get("days", 0))
        body = (_("Your last visit was on %(day)s.", day=_day(p["last"])) if p.get("last")
                else _("No visit in the last weeks.")) + " " + _("Log today's visits so your manager sees your work.")
    elif kind == "inactivity_digest":
        people = p.get("people", [])
        title = _("%(team)s: %(what)s", team=p.get("team", ""), what=ngettext(
            "%(num)s rep without visits", "%(num)s reps without visits", len(people)))
        body = "; ".join(_("%(name)s, %(what)s", name=x.get("name", ""), what=ngettext(
            "%(num)s working day", "%(num)s working days", x.get("days", 0))) for x in people)
    elif kind == "anomaly":
        measure = _(MEASURE_WORDS.get(p.get("measure", ""), "visits"))
        title = _("Fewer %(measure)s than usual this week", measure=measure)
        body = _("%(actual)s this week so far; by now a usual week has %(expected)s (your median week over the "
                 "previous 8 weeks: %(median)s).", actual=fmt_number(p.get("actual", 0), 0),
                 expected=fmt_number(p.get("expected", 0), 1), median=fmt_number(p.get("median", 0), 1))
    elif kind == "missing_report":
        title = _("Your daily report for %(day)s is missing", day=_day(p.get("day", "")))
        body = _("It was due at %(cutoff)s. Write it now: it takes two minutes.", cutoff=p.get("cutoff", ""))
    elif kind == "missing_report_digest":
        people = p.get("people", [])
        title = _("%(team)s: %(what)s", team=p.get("team", ""), what=ngettext(
            "%(num)s daily report missing", "%(num)s daily reports missing", len(people)))
        body = _("For %(day)s: %(names)s", day=_day(p.get("day", "")), names=", ".join(x.get("name", "") for x in people))
    elif kind == "report_approved":
        title = _("%(manager)s approved your report for %(day)s", manager=p.get("manager", ""), day=_day(p.get("day", "")))
        body = p.get("comment", "") or _("No comment.")
    elif kind == "report_returned":
        title = _("%(manager)s returned your report for %(day)s", manager=p.get("manager", ""), day=_day(p.get("day", "")))
        body = _("What to change: %(comment)s", comment=p.get("comment", ""))
    elif kind == "report_reply":
        title = _("%(author)s replied under the report for %(day)s", author=p.get("author", ""), day=_day(p.get("day", "")))
        body = p.get("body", "")
    elif kind == "evaluation_due":
        title = _("Your evaluation ratings for %(period)s are due", period=p.get("period", ""))
        body = (_("Rate by %(day)s. Each level of the scale says what it means.", day=_day(p.get("due", "")))
                if p.get("due") else _("Each level of the scale says what it means."))
    elif kind == "evaluation_reminder":
        title = _("Reminder: your evaluation ratings for %(period)s are due on %(day)s", period=p.get("period", ""),
                  day=_day(p.get("due", "")))
        body = ngettext("%(num)s form still to submit.", "%(num)s forms still to submit.", int(p.get("open", 1) or 1))
    elif kind == "evaluation_published":
        title = _("Your scorecard for %(period)s is published", period=p.get("period", ""))
        body = _("Open it to see how each part was computed, and acknowledge it.")
    elif kind == "test":
        title = _("Test notification")
        body = _("Notifications reach this device.")
    else:
        title, body = _("Notification"), ""
    if len(body) > BODY_LIMIT:
        body = body[: BODY_LIMIT - 1] + "…"
    return title, body
