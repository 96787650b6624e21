"""The one Piccolo app, and the one table list: every domain's `tables` module, found by Piccolo's
`table_finder`; migrations in the top-level `migrations/` folder.

`TABLES` is in dependency order (parents first, from the foreign keys); `TABLES_CHILD_FIRST` is the
reverse, the order to empty them in. `server.db.bind` points these tables at the engine.
"""

from pathlib import Path

from piccolo.conf.apps import AppConfig, table_finder
from piccolo.table import sort_table_classes

# Every domain folder's `tables.py`: a new domain's tables are found without touching this file.
TABLE_MODULES = sorted(f"server.{path.parent.name}.tables" for path in Path(__file__).parent.glob("*/tables.py"))

TABLES = sort_table_classes(table_finder(modules=TABLE_MODULES, exclude_imported=True))
TABLES_CHILD_FIRST = list(reversed(TABLES))

APP_CONFIG = AppConfig(
    app_name="fieldpace",
    migrations_folder_path=str(Path(__file__).resolve().parent.parent / "migrations"),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
