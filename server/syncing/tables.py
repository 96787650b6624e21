"""Devices that sync, the server sequence that orders every change, and markers for deleted records."""

from piccolo.columns import UUID, BigInt, ForeignKey, Serial, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.accounts.tables import User


class Device(Table, tablename="device"):
    """A phone or browser profile with an outbox. It belongs to one user; its id is made on the device."""

    id = UUID(primary_key=True)
    user = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade, index=True)
    # The last mutation seq this device had processed; advanced in the same transaction as the data.
    last_seq = BigInt(default=0)
    user_agent = Varchar(length=300, default="")
    created_at = Timestamptz()
    last_seen_at = Timestamptz()


class SyncCounter(Table, tablename="sync_counter"):
    """One row: the last server sequence number handed out. Writers lock it until they commit, so
    sequence numbers become visible in order and a pull cursor never skips a change."""

    id = Serial(primary_key=True)
    value = BigInt(default=0)


class Tombstone(Table, tablename="sync_tombstone"):
    """A deleted record, kept as a marker so devices that hold a copy remove it when they pull."""

    id = UUID(primary_key=True)
    record_type = Varchar(length=20)
    record_id = UUID()
    owner = ForeignKey(references=User, null=False, on_delete=OnDelete.cascade)
    server_seq = BigInt(default=0)
    deleted_at = Timestamptz()
