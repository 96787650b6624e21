from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import DoublePrecision, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T20:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Customer match keys (name_key, phone_key) and location (latitude, longitude)"


def _params(**extra):
    return {
        "null": False, "primary_key": False, "unique": False, "index": False,
        "index_method": IndexMethod.btree, "choices": None, "db_column_name": None, "secret": False, **extra,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)
    for name in ("name_key", "phone_key"):
        manager.add_column(
            table_class_name="Customer", tablename="customer", column_name=name, db_column_name=name,
            column_class_name="Varchar", column_class=Varchar, params=_params(default="", length=200),
            schema=None,
        )
    for name in ("latitude", "longitude"):
        manager.add_column(
            table_class_name="Customer", tablename="customer", column_name=name, db_column_name=name,
            column_class_name="DoublePrecision", column_class=DoublePrecision,
            params=_params(default=None, null=True), schema=None,
        )
    return manager
