"""Customers a rep visits. The id is made by the client, so a phone can create one offline."""

from piccolo.columns import UUID, BigInt, DoublePrecision, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from server.accounts.tables import User


class Customer(Table, tablename="customer"):
    id = UUID(primary_key=True)
    name = Varchar(length=200)
    contact_name = Varchar(length=100, default="")
    phone = Varchar(length=40, default="")
    address = Text(default="")
    # Natural key from the ERP (CSV imports match on it); unique when set (index in a raw migration).
    code = Varchar(length=64, null=True, default=None)
    # The rep who owns the account; reps see their own customers.
    owner = ForeignKey(references=User, null=False, on_delete=OnDelete.restrict, index=True)
    created_by = ForeignKey(references=User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # Match keys (server/customers/keys.py), filled on every insert and update; indexed in a raw migration.
    name_key = Varchar(length=200, default="")
    phone_key = Varchar(length=200, default="")
    # Where the customer is (WGS-84 degrees, as the phone's geolocation gives them); check-ins are measured to it.
    latitude = DoublePrecision(null=True, default=None)
    longitude = DoublePrecision(null=True, default=None)
    # Position in the server's change order: devices pull what changed after their cursor.
    server_seq = BigInt(default=0)
