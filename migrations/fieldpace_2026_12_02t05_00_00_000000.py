"""Money to the cent: each split row's credited cents; returns and credit notes with their credits per
rep; collections' credits per rep, corrections and reversals; voided orders; the audit log. The stored
cents of existing rows are filled by the next migration (raw statements run before tables are made)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import UUID, BigInt, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-12-02T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Stored credits in cents, returns, collection corrections, voids, audit log"


class User(Table, tablename="app_user", schema=None):
    id = UUID(default=UUID4(), null=False, primary_key=True)


class Order(Table, tablename="sales_order", schema=None):
    id = UUID(default=UUID4(), null=False, primary_key=True)


class Collection(Table, tablename="collection", schema=None):
    id = UUID(default=UUID4(), null=False, primary_key=True)


class OrderReturn(Table, tablename="order_return", schema=None):
    id = UUID(default=UUID4(), null=False, primary_key=True)


COMMON = {"primary_key": False, "unique": False, "index": False, "index_method": IndexMethod.btree,
          "choices": None, "db_column_name": None, "secret": False}


def fk(references, on_delete, null=False, index=False):
    return (ForeignKey, {"references": references, "on_delete": on_delete, "on_update": OnUpdate.cascade,
                         "target_column": None, "null": null, "index": index})


PK = (UUID, {"default": UUID4(), "null": False, "primary_key": True})
CENTS = (BigInt, {"default": 0, "null": False})
DAY = (Date, {"default": None, "null": False})
MOMENT = (Timestamptz, {"default": None, "null": False})

NEW_COLUMNS = {
    ("OrderSplit", "order_split"): (("amount_cents", CENTS), ("margin_cents", CENTS)),
    ("Order", "sales_order"): (
        ("voided_at", (Timestamptz, {"default": None, "null": True})),
        ("voided_by", fk(User, OnDelete.set_null, null=True)),
        ("void_reason", (Text, {"default": "", "null": False})),
    ),
    ("Collection", "collection"): (
        ("kind", (Varchar, {"default": "receipt", "null": False, "length": 16})),
        ("corrects", (UUID, {"default": None, "null": True})),
        ("reason", (Text, {"default": "", "null": False})),
    ),
}
NEW_TABLES = {
    ("OrderReturn", "order_return"): (
        ("id", PK),
        ("number", (Varchar, {"default": "", "null": False, "length": 64, "unique": True})),
        ("sales_order", fk(Order, OnDelete.restrict, index=True)),
        ("kind", (Varchar, {"default": "return", "null": False, "length": 16})),
        ("return_date", DAY),
        ("amount_cents", CENTS),
        ("margin_cents", CENTS),
        ("reason", (Text, {"default": "", "null": False})),
        ("source", (Varchar, {"default": "manual", "null": False, "length": 16})),
        ("created_by", fk(User, OnDelete.set_null, null=True)),
        ("created_at", MOMENT),
    ),
    ("ReturnSplit", "order_return_split"): (
        ("id", PK),
        ("order_return", fk(OrderReturn, OnDelete.cascade, index=True)),
        ("sales_order", fk(Order, OnDelete.cascade, index=True)),
        ("rep", fk(User, OnDelete.restrict)),
        ("share_bp", (Integer, {"default": 0, "null": False})),
        ("return_date", DAY),
        ("amount_cents", CENTS),
        ("margin_cents", CENTS),
    ),
    ("CollectionSplit", "collection_split"): (
        ("id", PK),
        ("collection", fk(Collection, OnDelete.cascade, index=True)),
        ("sales_order", fk(Order, OnDelete.cascade, index=True)),
        ("rep", fk(User, OnDelete.restrict)),
        ("received_on", DAY),
        ("amount_cents", CENTS),
    ),
    ("AuditEvent", "audit_event"): (
        ("id", PK),
        ("subject_kind", (Varchar, {"default": "", "null": False, "length": 24})),
        ("subject_id", (UUID, {"default": UUID4(), "null": False})),
        ("sales_order", (UUID, {"default": None, "null": True, "index": True})),
        ("action", (Varchar, {"default": "", "null": False, "length": 32})),
        ("reason", (Text, {"default": "", "null": False})),
        ("detail", (Text, {"default": "{}", "null": False})),
        ("effective_on", (Date, {"default": None, "null": True})),
        ("actor", fk(User, OnDelete.set_null, null=True)),
        ("at", MOMENT),
    ),
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)
    for class_name, tablename in NEW_TABLES:
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
    for (class_name, tablename), columns in (*NEW_COLUMNS.items(), *NEW_TABLES.items()):
        for name, (column_class, params) in columns:
            manager.add_column(table_class_name=class_name, tablename=tablename, column_name=name,
                               db_column_name=name, column_class_name=column_class.__name__,
                               column_class=column_class, params={**COMMON, **params}, schema=None)
    return manager
