"""Report versions: a number counting the saves of a report's text and the client-made id of the save
that wrote the current text, so a save based on a text it has not seen is a conflict, not an overwrite."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID, Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Report version and revision"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="fieldpace", description=DESCRIPTION)
    common = {"primary_key": False, "unique": False, "index": False, "index_method": IndexMethod.btree,
              "choices": None, "db_column_name": None, "secret": False}
    manager.add_column(
        table_class_name="Report", tablename="report", column_name="version", db_column_name="version",
        column_class_name="Integer", column_class=Integer, params={"default": 0, "null": False, **common},
        schema=None,
    )
    manager.add_column(
        table_class_name="Report", tablename="report", column_name="revision", db_column_name="revision",
        column_class_name="UUID", column_class=UUID, params={"default": None, "null": True, **common},
        schema=None,
    )
    return manager
