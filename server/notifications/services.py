"""Notifications: records first (the inbox), push second. Creating them (deduplicated), the inbox, each
user's settings and push subscriptions, and the admin's alert rules.

Every function that reads or changes a person's inbox, settings or devices takes the signed-in Actor and
touches only that person's rows: someone else's id answers LookupError (404), never their data.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo, available_timezones

from server import clock, db
from server.accounts.permissions import Actor, require_role
from server.db import Sql
from server.i18n import _
from server.notifications import messages, rules
from server.notifications.tables import RULES, AlertRule, Notification, NotificationSetting, PushSubscription
from server.web import FieldErrors

log = logging.getLogger("fieldpace.notifications")
CHUNK = 500


@dataclass(frozen=True)
class NewNotification:
    recipient: UUID
    kind: str
    rule: str
    subject: str
    period: str
    level: str
    params: dict = field(default_factory=dict)
    url: str = "/"

    @property
    def dedup_key(self) -> str:
        return rules.dedup_key(self.recipient, self.rule, self.subject, self.period, self.level)


def _in(values: list) -> str:
    return ", ".join("{}" for _v in values)


def _tz(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else clock.company_tz()
    except (ValueError, KeyError):
        return clock.company_tz()


def _notify_script(items: list[NewNotification], now: datetime):
    created: list[dict] = []
    for start in range(0, len(items), CHUNK):
        chunk = items[start:start + CHUNK]
        values, args = [], []
        for item in chunk:
            values.append("({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, NULL)")
            args += [uuid4(), item.recipient, item.kind, item.rule, item.subject[:120], item.period[:40],
                     item.level[:120], item.dedup_key, json.dumps(item.params, ensure_ascii=False, sort_keys=True),
                     item.url[:500], now]
        rows = yield Sql(
            "INSERT INTO notification (id, recipient, kind, rule, subject, period, level, dedup_key, params, url,"
            f" created_at, read_at) VALUES {', '.join(values)} ON CONFLICT (dedup_key) DO NOTHING"
            " RETURNING id, recipient, rule", db.driver_values(args))
        created += rows
    if not created:
        return []
    users = sorted({str(db.as_uuid(r["recipient"])) for r in created})
    user_args = db.driver_values([UUID(u) for u in users])
    setting_rows = yield Sql(
        "SELECT owner, timezone, quiet_start, quiet_end, push_off FROM notification_setting"
        f" WHERE owner IN ({_in(users)})", user_args)
    subscription_rows = yield Sql(f"SELECT id, owner FROM push_subscription WHERE owner IN ({_in(users)})", user_args)
    choices = {str(db.as_uuid(s["owner"])): s for s in setting_rows}
    devices: dict[str, list] = {}
    for s in subscription_rows:
        devices.setdefault(str(db.as_uuid(s["owner"])), []).append(s["id"])
    deliveries = []
    for r in created:
        owner = str(db.as_uuid(r["recipient"]))
        choice = choices.get(owner) or {}
        if r["rule"] in (choice.get("push_off") or "").split(","):
            continue
        held = rules.quiet_until(now, _tz(choice.get("timezone") or ""), rules.parse_hhmm(choice.get("quiet_start") or ""),
                                 rules.parse_hhmm(choice.get("quiet_end") or ""))
        for subscription in devices.get(owner, []):
            deliveries.append([uuid4(), r["id"], subscription, held or now, now])
    for start in range(0, len(deliveries), CHUNK):
        rows_ = deliveries[start:start + CHUNK]
        yield Sql(
            "INSERT INTO push_delivery (id, notification, subscription, state, attempts, next_attempt_at, claimed_by,"
            " claimed_until, last_status, last_error, created_at, sent_at) VALUES "
            + ", ".join("({}, {}, {}, 'queued', 0, {}, '', NULL, NULL, '', {}, NULL)" for _d in rows_),
            db.driver_values([v for d in rows_ for v in d]))
    return [db.as_uuid(r["id"]) for r in created]


async def notify(items: list[NewNotification], now: datetime | None = None) -> list[UUID]:
    """Create the notifications not already sent (by dedup key) and queue their pushes, outside the
    recipient's quiet hours and for the rules they have not turned off. Returns the new ids."""
    if not items:
        return []
    return await db.run_write(_notify_script(items, now or clock.now()))


async def report_decided(report_id: UUID, decision: str, comment: str, manager: Actor) -> None:
    """Feedback at once: the rep hears that their report was approved or returned (with the comment).
    A failure here is logged and never undoes the decision."""
    from server.reports.tables import Report

    try:
        rule = await AlertRule.select(AlertRule.enabled).where(AlertRule.code == "feedback").first()
        if rule is not None and not rule["enabled"]:
            return
        report = await Report.select(Report.id, Report.rep, Report.kind, Report.period_start).where(
            Report.id == report_id).first()
        if report is None:
            return
        kind = "report_approved" if decision == "approved" else "report_returned"
        day = str(report["period_start"])
        await notify([NewNotification(
            recipient=report["rep"], kind=kind, rule="feedback", subject=f"report:{report_id}", period=day,
            level=f"{decision}:{uuid4().hex[:8]}", url=f"/reports/{report_id}",
            params={"manager": manager.display_name, "comment": comment[:400], "day": day, "report_kind": report["kind"]},
        )])
    except Exception:  # noqa: BLE001 - the decision stands even if the message could not be made
        log.exception("feedback notification for report %s failed", report_id)


async def report_replied(report: dict, reply_id: UUID, body: str, author: Actor) -> None:
    """A reply under a report reaches the other side: the rep's reply their team's managers, a manager's
    (or admin's) reply the rep. Under the feedback rule; a failure is logged and never undoes the reply."""
    from server.accounts.tables import TeamManager, User

    try:
        rule = await AlertRule.select(AlertRule.enabled).where(AlertRule.code == "feedback").first()
        if rule is not None and not rule["enabled"]:
            return
        if report["rep"] == author.id:
            rep = await User.select(User.team).where(User.id == author.id).first()
            team = rep["team"] if rep else None
            recipients = [r["manager"] for r in await TeamManager.select(TeamManager.manager).where(
                TeamManager.team == team)] if team else []
        else:
            recipients = [report["rep"]]
        day = str(report["period_start"])
        await notify([NewNotification(
            recipient=r, kind="report_reply", rule="feedback", subject=f"report:{report['id']}", period=day,
            level=f"reply:{reply_id}", url=f"/reports/{report['id']}#thread",
            params={"author": author.display_name, "body": body[:400], "day": day, "report_kind": report["kind"]},
        ) for r in recipients if r != author.id])
    except Exception:  # noqa: BLE001 - the reply stands even if the message could not be made
        log.exception("reply notification for report %s failed", report.get("id"))


# --- The inbox ---------------------------------------------------------------------------------


async def unread_count(user_id: UUID) -> int:
    rows = await Notification.raw(
        "SELECT COUNT(*) AS n FROM notification WHERE recipient = {} AND read_at IS NULL", user_id)
    return int(rows[0]["n"]) if rows else 0


def _shown(row: dict) -> dict:
    row["title"], row["body"] = messages.render(row["kind"], json.loads(row["params"] or "{}"))
    return row


async def inbox(actor: Actor, limit: int = 100) -> list[dict]:
    """The actor's latest notifications, newest first, in the actor's language."""
    rows = await Notification.select(
        Notification.id, Notification.kind, Notification.rule, Notification.params, Notification.url,
        Notification.created_at, Notification.read_at,
    ).where(Notification.recipient == actor.id).order_by(Notification.created_at, ascending=False).limit(limit)
    return [_shown(r) for r in rows]


async def open_item(actor: Actor, notification_id: UUID) -> str:
    """Mark one of the actor's notifications read; its page. LookupError for anyone else's."""
    rows = await Notification.update({Notification.read_at: clock.now()}).where(
        (Notification.id == notification_id) & (Notification.recipient == actor.id) & Notification.read_at.is_null()
    ).returning(Notification.url)
    if not rows:
        rows = await Notification.select(Notification.url).where(
            (Notification.id == notification_id) & (Notification.recipient == actor.id))
    if not rows:
        raise LookupError(notification_id)
    url = rows[0]["url"] or "/"
    return url if url.startswith("/") and not url.startswith("//") else "/"


async def mark_all_read(actor: Actor) -> int:
    rows = await Notification.update({Notification.read_at: clock.now()}).where(
        (Notification.recipient == actor.id) & Notification.read_at.is_null()).returning(Notification.id)
    return len(rows)


# --- Settings ----------------------------------------------------------------------------------


async def settings_of(actor: Actor) -> dict:
    row = await NotificationSetting.select().where(NotificationSetting.owner == actor.id).first()
    row = row or {"timezone": "", "quiet_start": "", "quiet_end": "", "push_off": ""}
    row["push_off"] = [c for c in (row.get("push_off") or "").split(",") if c]
    return row


def validate_settings(data: dict) -> dict:
    errors: dict[str, str] = {}
    tz = (data.get("timezone") or "").strip()
    if tz and tz not in available_timezones():
        errors["timezone"] = _("Choose a time zone from the list.")
    start, end = (data.get("quiet_start") or "").strip(), (data.get("quiet_end") or "").strip()
    if bool(start) != bool(end):
        errors["quiet_end"] = _("Give both the start and the end of the quiet hours, or neither.")
    for name, value in (("quiet_start", start), ("quiet_end", end)):
        if value and rules.parse_hhmm(value) is None:
            errors[name] = _("A time like 22:00.")
    if start and start == end:
        errors["quiet_end"] = _("The quiet hours must end at another time than they start.")
    pushed = {code for code in RULES if data.get(f"push_{code}")}
    if errors:
        raise FieldErrors(errors)
    return {"timezone": tz, "quiet_start": start, "quiet_end": end,
            "push_off": ",".join(code for code in RULES if code not in pushed)}


async def save_settings(actor: Actor, data: dict) -> None:
    clean = validate_settings(data)
    now = clock.now()
    await NotificationSetting.raw(
        "INSERT INTO notification_setting (id, owner, timezone, quiet_start, quiet_end, push_off, updated_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (owner) DO UPDATE SET timezone = excluded.timezone,"
        " quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, push_off = excluded.push_off,"
        " updated_at = excluded.updated_at",
        uuid4(), actor.id, clean["timezone"], clean["quiet_start"], clean["quiet_end"], clean["push_off"], now)


# --- Push subscriptions ------------------------------------------------------------------------


def _b64(raw: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return None


def validate_subscription(data: object, allow_http: bool) -> dict:
    """A PushSubscription as the browser's toJSON() gives it: endpoint, keys.p256dh, keys.auth."""
    errors: dict[str, str] = {}
    if not isinstance(data, dict):
        raise FieldErrors({"": _("Send the subscription as a JSON object.")})
    endpoint = data.get("endpoint")
    keys: dict = data.get("keys") if isinstance(data.get("keys"), dict) else {}  # type: ignore[assignment]  # narrowed by the isinstance test
    if not isinstance(endpoint, str):
        endpoint = ""
    parts = urlsplit(endpoint) if endpoint else None
    local = parts is not None and parts.hostname in ("127.0.0.1", "localhost")
    if (not parts or not parts.hostname or len(endpoint) > 2048
            or not (parts.scheme == "https" or (allow_http and parts.scheme == "http" and local))):
        errors["endpoint"] = _("This is not a push service address.")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    key = _b64(p256dh) if isinstance(p256dh, str) and len(p256dh) < 200 else None
    if not key or len(key) != 65 or key[0] != 4:
        errors["p256dh"] = _("The browser's public key is missing or malformed.")
    secret = _b64(auth) if isinstance(auth, str) and len(auth) < 100 else None
    if not secret or len(secret) != 16:
        errors["auth"] = _("The browser's authentication secret is missing or malformed.")
    if errors:
        raise FieldErrors(errors)
    label = data.get("label")
    return {"endpoint": endpoint, "p256dh": p256dh, "auth": auth, "label": label[:200] if isinstance(label, str) else ""}


async def subscribe(actor: Actor, data: object, allow_http: bool = False, user_agent: str = "") -> UUID:
    """Keep this browser's subscription: one row per endpoint, a re-subscription (or another user signing
    in on the same browser) replaces the row."""
    clean = validate_subscription(data, allow_http)
    rows = await PushSubscription.raw(
        "INSERT INTO push_subscription (id, owner, endpoint, p256dh, auth, label, created_at, last_sent_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, NULL) ON CONFLICT (endpoint) DO UPDATE SET owner = excluded.owner,"
        " p256dh = excluded.p256dh, auth = excluded.auth, label = excluded.label, created_at = excluded.created_at"
        " RETURNING id",
        uuid4(), actor.id, clean["endpoint"], clean["p256dh"], clean["auth"], (clean["label"] or user_agent)[:200],
        clock.now())
    return db.as_uuid(rows[0]["id"])  # type: ignore[return-value]  # a primary key is never NULL


async def devices(actor: Actor) -> list[dict]:
    return await PushSubscription.select(
        PushSubscription.id, PushSubscription.label, PushSubscription.created_at, PushSubscription.last_sent_at,
        PushSubscription.endpoint,
    ).where(PushSubscription.owner == actor.id).order_by(PushSubscription.created_at)


async def unsubscribe(actor: Actor, subscription_id: UUID) -> None:
    gone = await PushSubscription.delete().where(
        (PushSubscription.id == subscription_id) & (PushSubscription.owner == actor.id)).returning(PushSubscription.id)
    if not gone:
        raise LookupError(subscription_id)


async def unsubscribe_endpoint(actor: Actor, endpoint: str) -> None:
    await PushSubscription.delete().where((PushSubscription.endpoint == endpoint) & (PushSubscription.owner == actor.id))


async def send_test(actor: Actor) -> None:
    await notify([NewNotification(recipient=actor.id, kind="test", rule="test", subject="test",
                                  period=clock.now().isoformat(), level=uuid4().hex, url="/notifications")])


# --- Alert rules (admin) -------------------------------------------------------------------------


async def alert_rules() -> dict[str, dict]:
    rows = await AlertRule.select()
    out = {}
    for r in rows:
        r["params"] = json.loads(r["params"] or "{}")
        out[r["code"]] = r
    return out


async def rules_for_admin(actor: Actor) -> list[dict]:
    require_role(actor, "admin")
    found = await alert_rules()
    return [found[c] for c in RULES if c in found]


def _number(data: dict, name: str, low: float, high: float, errors: dict, integer: bool = False) -> float:
    raw = (data.get(name) or "").strip().replace(",", ".")
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (low <= value <= high) or (integer and value != int(value)):
        errors[name] = _("A number from %(low)s to %(high)s.", low=low if not integer else int(low),
                         high=high if not integer else int(high))
        return low
    return int(value) if integer else value


async def save_rule(actor: Actor, code: str, data: dict) -> None:
    require_role(actor, "admin")
    if code not in RULES:
        raise LookupError(code)
    errors: dict[str, str] = {}
    params: dict = {}
    if code == "lagging":
        params["min_elapsed"] = _number(data, "min_elapsed", 0, 100, errors) / 100
    elif code == "inactivity":
        params["days"] = _number(data, "days", 1, 60, errors, integer=True)
    elif code == "anomaly":
        params["fraction"] = _number(data, "fraction", 1, 100, errors) / 100
    elif code == "missing_report":
        cutoff = (data.get("cutoff") or "").strip()
        if rules.parse_hhmm(cutoff) is None:
            errors["cutoff"] = _("A time like 18:00.")
        params["cutoff"] = cutoff
    if errors:
        raise FieldErrors(errors)
    await AlertRule.update({
        AlertRule.enabled: bool(data.get("enabled")), AlertRule.to_rep: bool(data.get("to_rep")),
        AlertRule.to_manager: bool(data.get("to_manager")), AlertRule.params: json.dumps(params, sort_keys=True),
        AlertRule.updated_at: clock.now(),
    }).where(AlertRule.code == code)
