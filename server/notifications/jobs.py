"""The notification domain's jobs: evaluate alert rules, send queued pushes, clean up."""

from __future__ import annotations

from datetime import timedelta

from server import clock
from server.jobs.registry import JobContext
from server.notifications import alerts
from server.notifications.push import Sender
from server.notifications.tables import Notification, PushDelivery, PushSubscription


async def evaluate_alerts(ctx: JobContext) -> dict[str, int]:
    """Idempotent: a finding already notified (same dedup key) is not notified again."""
    return await alerts.evaluate(clock.now())


async def send_queued(ctx: JobContext) -> dict[str, int]:
    sender = Sender(ctx.settings)
    try:
        return await sender.drain()
    finally:
        await sender.close()


async def cleanup(ctx: JobContext) -> dict[str, int]:
    """Dead subscriptions (pushes failing for a month with no success) and old read notifications go."""
    now = clock.now()
    month_ago = now - timedelta(days=30)
    dead = await PushSubscription.raw(
        "SELECT s.id FROM push_subscription s WHERE (s.last_sent_at IS NULL OR s.last_sent_at < {})"
        " AND s.created_at < {} AND EXISTS (SELECT 1 FROM push_delivery d WHERE d.subscription = s.id"
        " AND d.state = 'failed') AND NOT EXISTS (SELECT 1 FROM push_delivery d WHERE d.subscription = s.id"
        " AND d.state = 'sent' AND d.sent_at >= {})", month_ago, month_ago, month_ago)
    if dead:
        await PushSubscription.delete().where(PushSubscription.id.is_in([r["id"] for r in dead]))
    cutoff = now - timedelta(days=ctx.settings.notification_retention_days)
    deliveries = await PushDelivery.delete().where(
        PushDelivery.state.is_in(["sent", "failed"]) & (PushDelivery.created_at < cutoff)).returning(PushDelivery.id)
    old = await Notification.delete().where(
        Notification.read_at.is_not_null() & (Notification.created_at < cutoff)).returning(Notification.id)
    return {"subscriptions": len(dead), "deliveries": len(deliveries), "notifications": len(old)}
