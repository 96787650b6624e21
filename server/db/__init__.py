"""The database layer: engines and the SQLite pool (`engine`), transaction scripts (`scripts`), the
writer with group commit (`writer`), and what differs between SQLite and PostgreSQL (`dialect`).

It imports no domain: the engine is bound once at start-up (`bind`) and kept here; the table list is
the Piccolo app's (`server/piccolo_app.py`).
"""

from server.db.dialect import (
    Lookup,
    bulk_load,
    days_between,
    days_between_dates,
    find_keys,
    for_update,
    ilike,
    insert_numbered,
    insert_or_ignore,
    is_transient,
    lock_row,
    locked,
    month_of,
    savepoint,
    timestamp_arg,
    timestamp_param,
    upsert,
    write_beside,
)
from server.db.engine import (
    PooledSQLiteEngine,
    as_date,
    as_uuid,
    bind,
    close,
    current,
    is_sqlite,
    make_engine,
    prepare,
    read_snapshot,
)
from server.db.scripts import Script, Sql, compile_placeholders, driver_values, run_read, run_script
from server.db.writer import insert_rows, run_write, write_transaction

__all__ = [
    "Lookup", "PooledSQLiteEngine", "Script", "Sql", "as_date", "as_uuid", "bind", "bulk_load", "close",
    "compile_placeholders", "current", "days_between", "days_between_dates", "driver_values", "find_keys", "for_update", "ilike",
    "insert_numbered", "insert_or_ignore", "is_transient", "insert_rows", "is_sqlite", "lock_row", "locked", "make_engine",
    "month_of", "prepare", "read_snapshot", "savepoint", "run_read", "run_script", "run_write", "timestamp_arg",
    "timestamp_param", "upsert", "write_beside", "write_transaction",
]
