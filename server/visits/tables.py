"""Customer visits. Append-only records made on the phone, with a client-made id."""

from piccolo.columns import UUID, BigInt, Date, DoublePrecision, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.accounts.tables import User
from server.customers.tables import Customer

PURPOSES = ("first_visit", "follow_up", "demo", "negotiation", "collection", "after_sales")


class Visit(Table, tablename="visit"):
    id = UUID(primary_key=True)
    rep = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    customer = ForeignKey(references=Customer, null=False, on_delete=OnDelete.restrict, index=True)
    purpose = Varchar(length=20)
    checkin_at = Timestamptz()
    checkout_at = Timestamptz(null=True, default=None)
    # The company-time-zone date of check-in: what "today's visits" and daily reports key on.
    visit_date = Date()
    latitude = DoublePrecision(null=True, default=None)
    longitude = DoublePrecision(null=True, default=None)
    accuracy_m = DoublePrecision(null=True, default=None)
    outcome = Text(default="")
    next_step = Text(default="")
    next_step_date = Date(null=True, default=None)
    satisfaction = Integer(null=True, default=None)
    created_at = Timestamptz()
    server_seq = BigInt(default=0)
    # Sync bookkeeping: when the device says it made the record, when the server got it, and how far the
    # device's clock was off at the time (flagged to the manager beyond a few minutes).
    device_time = Timestamptz(null=True, default=None)
    received_at = Timestamptz(null=True, default=None)
    clock_skew_s = Integer(null=True, default=None)


class VisitPhoto(Table, tablename="visit_photo"):
    """A photo of a visit, taken on the phone and uploaded after the visit (or before it: `visit` is the
    visit's client-made id, not a foreign key, so a photo that arrives first is linked when the visit does).
    The bytes live in the photo directory (`FIELDPACE_PHOTO_DIR`); `id` is made by the phone, so a retried
    upload is acknowledged, not doubled. Shown only with a visit of the same rep."""

    id = UUID(primary_key=True)
    visit = UUID(index=True)
    rep = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    content_type = Varchar(length=16)
    size_bytes = Integer(default=0)
    thumb_bytes = Integer(default=0)  # 0: no thumbnail came with it; the photo itself is shown small
    created_at = Timestamptz()
