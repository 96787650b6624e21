"""Daily and weekly reports, and the history of their transitions."""

from piccolo.columns import UUID, BigInt, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.accounts.tables import User

KINDS = ("daily", "weekly")
STATUSES = ("draft", "submitted", "returned", "approved")


class Report(Table, tablename="report"):
    id = UUID(primary_key=True)
    rep = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    kind = Varchar(length=8)
    # The day of a daily report; the Monday of a weekly one. Unique per (rep, kind).
    period_start = Date()
    summary = Text(default="")
    results = Text(default="")
    problems = Text(default="")
    plan = Text(default="")
    status = Varchar(length=12, default="draft")
    submitted_at = Timestamptz(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    decided_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    manager_comment = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()
    server_seq = BigInt(default=0)
    device_time = Timestamptz(null=True, default=None)
    received_at = Timestamptz(null=True, default=None)
    clock_skew_s = Integer(null=True, default=None)
    # Counts the saves of the text; `revision` is the client-made id of the save that wrote the current
    # text. A save names the revision (and version) it was based on: a different text based on one it
    # has not seen is a conflict, never a silent overwrite.
    version = Integer(default=0)
    revision = UUID(null=True, default=None)


class ReportEvent(Table, tablename="report_event"):
    """One transition of a report: created, saved, submitted, returned, approved."""

    id = UUID(primary_key=True)
    report = ForeignKey(references=Report, null=False, on_delete=OnDelete.cascade, index=True)
    actor = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    action = Varchar(length=16)
    from_status = Varchar(length=12, default="")
    to_status = Varchar(length=12, default="")
    comment = Text(default="")
    at = Timestamptz()


class ReportReply(Table, tablename="report_reply"):
    """One message in a report's thread: the rep and their manager reply under the report."""

    id = UUID(primary_key=True)
    report = ForeignKey(references=Report, null=False, on_delete=OnDelete.cascade, index=True)
    author = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    body = Text(default="")
    created_at = Timestamptz()


class ReportRead(Table, tablename="report_read"):
    """The read receipt: the first time a manager opened a report after one submission of it. `receipt_key`
    (unique) is the report and that submission's time, so a resubmitted report is read anew."""

    id = UUID(primary_key=True)
    report = ForeignKey(references=Report, null=False, on_delete=OnDelete.cascade, index=True)
    reader = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict)
    receipt_key = Varchar(length=80, unique=True)
    read_at = Timestamptz()
