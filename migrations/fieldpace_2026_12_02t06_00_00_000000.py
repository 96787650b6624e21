"""ERP imports: column mappings saved per source (`import_source`), the mapping and source of a batch, its
skipped total rows, and the ERP code of a user."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-02T06:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ERP imports: import_source, import_batch mapping / source_name / skipped_count, app_user erp_code"

COMMON = {"unique": False, "index": False, "index_method": IndexMethod.btree, "choices": None,
          "db_column_name": None, "secret": False, "primary_key": False, "null": False}

SOURCE = {"table_class_name": "ImportSource", "tablename": "import_source", "schema": None}
SOURCE_COLUMNS = (
    ("id", UUID, {"default": UUID4(), "primary_key": True}),
    ("kind", Varchar, {"default": "", "length": 16}),
    ("name", Varchar, {"default": "", "length": 100}),
    ("mapping", Text, {"default": ""}),
    ("headers", Text, {"default": ""}),
    ("updated_at", Timestamptz, {"default": TimestamptzNow()}),
)
ADDED = (
    ("ImportBatch", "import_batch", "mapping", Text, {"default": ""}),
    ("ImportBatch", "import_batch", "source_name", Varchar, {"default": "", "length": 100}),
    ("ImportBatch", "import_batch", "skipped_count", Integer, {"default": 0}),
    ("User", "app_user", "erp_code", Varchar, {"default": "", "length": 64}),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)
    manager.add_table(class_name="ImportSource", tablename="import_source", schema=None, columns=None)
    for name, column_class, params in SOURCE_COLUMNS:
        manager.add_column(**SOURCE, column_name=name, db_column_name=name, column_class_name=column_class.__name__,
                           column_class=column_class, params={**COMMON, **params})
    for class_name, tablename, name, column_class, params in ADDED:
        manager.add_column(table_class_name=class_name, tablename=tablename, column_name=name, db_column_name=name,
                           column_class_name=column_class.__name__, column_class=column_class,
                           params={**COMMON, **params}, schema=None)
    return manager
