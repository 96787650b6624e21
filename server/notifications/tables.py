"""Alert rules, notifications (the inbox), per-user notification settings, push subscriptions and the
durable push delivery queue."""

from piccolo.columns import UUID, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.accounts.tables import User

RULES = ("lagging", "inactivity", "anomaly", "missing_report", "feedback")
DELIVERY_STATES = ("queued", "sending", "sent", "failed")


class AlertRule(Table, tablename="alert_rule"):
    """One alert rule as the admin tuned it: on or off, its thresholds (JSON), who receives it."""

    id = UUID(primary_key=True)
    code = Varchar(length=40, unique=True)
    enabled = Boolean(default=True)
    params = Text(default="{}")
    to_rep = Boolean(default=True)
    to_manager = Boolean(default=True)
    updated_at = Timestamptz()


class Notification(Table, tablename="notification"):
    """One message to one person: what the inbox lists. Title and body are rendered from `kind` and
    `params` in the recipient's language when shown or pushed.

    `dedup_key` (unique) is recipient | rule | subject | period | level: a rep who stays behind is not told
    again, one who drops from at risk to behind is (a new level, a new key)."""

    id = UUID(primary_key=True)
    recipient = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade)
    kind = Varchar(length=32)
    rule = Varchar(length=40)
    subject = Varchar(length=120, default="")
    period = Varchar(length=40, default="")
    level = Varchar(length=120, default="")
    dedup_key = Varchar(length=400, unique=True)
    params = Text(default="{}")
    url = Varchar(length=500, default="/")
    created_at = Timestamptz()
    read_at = Timestamptz(null=True, default=None)


class NotificationSetting(Table, tablename="notification_setting"):
    """A user's own choices: their time zone, quiet hours in it, and the rules they do not want pushed."""

    id = UUID(primary_key=True)
    owner = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, unique=True)
    timezone = Varchar(length=64, default="")  # empty: the company's
    quiet_start = Varchar(length=5, default="")  # "22:00"; empty: no quiet hours
    quiet_end = Varchar(length=5, default="")
    push_off = Varchar(length=200, default="")  # comma-separated rule codes not pushed (the inbox still has them)
    updated_at = Timestamptz()


class PushSubscription(Table, tablename="push_subscription"):
    """One browser's push subscription: one row per endpoint (a re-subscription replaces it)."""

    id = UUID(primary_key=True)
    owner = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    endpoint = Varchar(length=2048, unique=True)
    p256dh = Varchar(length=200)
    auth = Varchar(length=100)
    label = Varchar(length=200, default="")  # the browser, as its user agent names it
    created_at = Timestamptz()
    last_sent_at = Timestamptz(null=True, default=None)


class PushDelivery(Table, tablename="push_delivery"):
    """One notification to one subscription: the durable queue. Claimed by a conditional UPDATE (and
    `FOR UPDATE SKIP LOCKED` on PostgreSQL), so two workers never send the same row."""

    id = UUID(primary_key=True)
    notification = ForeignKey(references=Notification, null=False, on_delete=OnDelete.cascade)
    subscription = ForeignKey(references=PushSubscription, null=False, on_delete=OnDelete.cascade, index=True)
    state = Varchar(length=12, default="queued")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    claimed_by = Varchar(length=120, default="")
    claimed_until = Timestamptz(null=True, default=None)
    last_status = Integer(null=True, default=None)
    last_error = Text(default="")
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
