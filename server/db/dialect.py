"""What differs between SQLite and PostgreSQL, said once, so domain code never branches on the engine.

Invariant: every function here gives the same meaning on both engines (the same rows, the same locks
held for the same span, the same values stored); only the SQL text or the call differs, and the choice
is made from the bound engine (`engine.current()`), never passed in by a caller.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from server.db.engine import current, is_sqlite
from server.db.scripts import Script, Sql

# PostgreSQL's limit is 32,767 parameters per statement, SQLite's (since 3.32) 32,766.
MAX_PARAMETERS = 30_000


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


# ---------------------------------------------------------------------------------------- writing


def insert_or_ignore(table: str, columns: Sequence[str], conflict: Sequence[str], rows: int = 1) -> str:
    """`INSERT ... ON CONFLICT (conflict) DO NOTHING` for `rows` rows of `columns`, with `{}`
    placeholders: a row whose key exists is skipped, never an error, whoever inserted it first (read it
    back to learn who owns it). No `conflict` columns: any unique key. Add `RETURNING ...` to learn which
    rows were new."""
    one = "(" + ", ".join("{}" for _c in columns) + ")"
    target = f"({_names(conflict)}) " if conflict else ""
    return f'INSERT INTO "{table}" ({_names(columns)}) VALUES {", ".join([one] * rows)} ON CONFLICT {target}DO NOTHING'



def upsert(table: str, columns: Sequence[str], conflict: Sequence[str], update: Sequence[str], rows: int = 1) -> str:
    """`INSERT ... ON CONFLICT (conflict) DO UPDATE SET` each of `update` to the offered row's value;
    `rows` rows of `{}` placeholders (a set-based upsert: the values of each row in turn)."""
    one = "(" + ", ".join("{}" for _c in columns) + ")"
    values = ", ".join(one for _r in range(rows))
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in update)
    return f'INSERT INTO "{table}" ({_names(columns)}) VALUES {values} ON CONFLICT ({_names(conflict)}) DO UPDATE SET {sets}'


def insert_numbered(table: str, columns: Sequence[str], rows: list[list], counter: str,
                    conflict: Sequence[str] = ()) -> Script:
    """A transaction script: insert `rows` (values of `columns`, as the driver takes them:
    `driver_values`) into `table` with `server_seq` numbered in order from the counter row `counter`
    (a table with one row, `id = 1`, and a `value`). Call it last in the transaction, after its reads and
    checks: the counter row stays locked until the commit. Returns the inserted rows' first column.

    `conflict` names a unique key a concurrent writer may have inserted since the caller's check in the
    same transaction: on PostgreSQL such a row is skipped (ON CONFLICT DO NOTHING; its number goes
    unused) and left out of the answer, for the caller to read back who owns it. On SQLite no other
    writer can have committed since the check (the write lock is held from BEGIN IMMEDIATE), so every
    row is inserted and no rows come back through the driver.

    On SQLite the numbers first, then multi-row INSERTs (not executemany: every statement step lets go
    of the GIL, and the database thread must win it back from the busy event loop's thread). On
    PostgreSQL the counter update is a CTE of the multi-row INSERT: one round trip takes the numbers and
    writes the rows."""
    count = len(rows)
    if not count:
        return []
    names = _names(columns) + ', "server_seq"'
    one = "(" + ", ".join("{}" for _c in columns)
    sqlite = is_sqlite()
    tail = f" ON CONFLICT ({_names(conflict)}) DO NOTHING RETURNING \"{columns[0]}\"" if conflict and not sqlite else ""
    inserted: list = []
    if sqlite or count * len(columns) > MAX_PARAMETERS:
        taken = yield Sql(f"UPDATE {counter} SET value = value + {{}} WHERE id = 1 RETURNING value", [count])
        first = taken[0]["value"] - count + 1
        step = MAX_PARAMETERS // (len(columns) + 1)
        for start in range(0, count, step):
            chunk = rows[start:start + step]
            values = ", ".join(f"{one}, {{}})" for _row in chunk)
            got = yield Sql(f'INSERT INTO "{table}" ({names}) VALUES {values}{tail}',
                            [v for k, row in enumerate(chunk, start=start) for v in (*row, first + k)])
            inserted.extend(r[columns[0]] for r in got or ())
    else:
        # The count and offsets are numbers made here, not input: safe to inline.
        values = ", ".join(f"{one}, (SELECT value FROM taken) - {count - 1 - k})" for k in range(count))
        got = yield Sql(
            f"WITH taken AS (UPDATE {counter} SET value = value + {int(count)} WHERE id = 1 RETURNING value) "
            f'INSERT INTO "{table}" ({names}) VALUES {values}{tail}',
            [v for row in rows for v in row],
        )
        inserted.extend(r[columns[0]] for r in got or ())
    return inserted if tail else [row[0] for row in rows]


async def bulk_load(transaction: Any) -> None:
    """Prepare a write transaction for a large load: on SQLite a bigger page cache for its connection
    (the indexes of a million rows outgrow the default 2 MB); PostgreSQL needs nothing."""
    if is_sqlite():
        await transaction.connection.execute("PRAGMA cache_size = -262144")


async def write_beside(query: Any) -> bool:
    """Run a Piccolo write query on a connection of its own, outside the caller's transaction, so other
    processes see it while that transaction is still open (the progress of a long import). PostgreSQL
    only: SQLite has one writer, which the caller's transaction holds, so there it does nothing and
    answers False (the caller keeps its progress in memory)."""
    if is_sqlite():
        return False
    # A fresh context holds no transaction: Piccolo takes a pooled connection of its own.
    await asyncio.get_running_loop().create_task(query.run(), context=contextvars.Context())
    return True


def savepoint(name: str, body: Script) -> Script:
    """Run the script `body` inside a savepoint: if it raises, what it wrote is rolled back (the
    transaction around it goes on, on PostgreSQL too) and the exception is raised on."""
    yield Sql(f"SAVEPOINT {name}")
    try:
        result = yield from body
    except Exception:
        yield Sql(f"ROLLBACK TO SAVEPOINT {name}")
        yield Sql(f"RELEASE SAVEPOINT {name}")
        raise
    yield Sql(f"RELEASE SAVEPOINT {name}")
    return result


# SQLSTATE classes and codes of faults that pass: the connection (08), an operator intervention such as a
# restart (57P01-57P03), a lock timeout (55P03), a serialization failure or a deadlock (40001, 40P01),
# too many connections (53300).
_TRANSIENT_STATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "57014"}


def is_transient(error: BaseException) -> bool:
    """Whether a failure is the database's passing state rather than the data's fault: a lost connection,
    a restarting server, a lock timeout (SQLITE_BUSY / locked), a serialization failure or deadlock.
    Retry those; anything else is final for the statement that met it."""
    import sqlite3

    if isinstance(error, (ConnectionError, TimeoutError, asyncio.TimeoutError)):
        return True
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return "locked" in text or "busy" in text or "disk i/o" in text
    state = getattr(error, "sqlstate", None)
    if isinstance(state, str):
        return state in _TRANSIENT_STATES or state.startswith("08")
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is installed with piccolo[postgres]
        return False
    return isinstance(error, (asyncpg.exceptions.InterfaceError, asyncpg.exceptions.ConnectionDoesNotExistError))


# ---------------------------------------------------------------------------------------- locking


def for_update(skip_locked: bool = False) -> str:
    """The suffix of a SELECT that locks its rows until the transaction ends: ` FOR UPDATE` on
    PostgreSQL (` SKIP LOCKED` too for a queue: rows another transaction holds are passed over); nothing
    on SQLite, where the write transaction (BEGIN IMMEDIATE) holds the database's one write lock already,
    so no other writer can change the rows meanwhile."""
    if is_sqlite():
        return ""
    return " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"


def locked(query: Any) -> Any:
    """A Piccolo select that locks its rows for the current write transaction (see `for_update`)."""
    return query if is_sqlite() else query.lock_rows()


async def lock_row(table: str, row_id: Any, key: str = "id") -> None:
    """Lock one row for the current write transaction (PostgreSQL); SQLite's writer lock covers it."""
    if not is_sqlite():
        transaction = current().current_transaction.get()
        if transaction is None:
            raise RuntimeError("lock_row needs a write transaction")
        await transaction.connection.execute(f'SELECT 1 FROM "{table}" WHERE "{key}" = $1 FOR UPDATE', row_id)


# ---------------------------------------------------------------------------------------- reading


def ilike(column: Any, pattern: str) -> Any:
    """A Piccolo condition: `column` matches the LIKE `pattern` ignoring case (SQLite's LIKE ignores
    ASCII case already; PostgreSQL needs ILIKE)."""
    return column.like(pattern) if is_sqlite() else column.ilike(pattern)


def month_of(column_sql: str) -> str:
    """SQL for the "YYYY-MM" of a date column."""
    return f"substr({column_sql}, 1, 7)" if is_sqlite() else f"to_char({column_sql}, 'YYYY-MM')"


def days_between(later_sql: str, earlier_sql: str) -> str:
    """SQL for the days (fractional) from one timestamp to another."""
    if is_sqlite():
        return f"(julianday({later_sql}) - julianday({earlier_sql}))"
    return f"(EXTRACT(EPOCH FROM ({later_sql} - {earlier_sql})) / 86400.0)"


def days_between_dates(later_sql: str, earlier_sql: str) -> str:
    """SQL for the whole days from one date to another (a date parameter `{}` may stand on either side)."""
    if is_sqlite():
        return f"CAST(julianday({later_sql}) - julianday({earlier_sql}) AS INTEGER)"
    return f"({later_sql}::date - {earlier_sql}::date)"


def timestamp_param() -> str:
    """A `{}` placeholder for a timestamp argument where the SQL cannot infer its type (inside CASE or
    COALESCE): cast on PostgreSQL. Pass the value through `timestamp_arg`."""
    return "{}" if is_sqlite() else "{}::timestamptz"


def timestamp_arg(value: datetime) -> Any:
    """A timestamp as a raw query's argument: the text SQLite stores (so julianday and comparisons with
    stored values agree), the datetime itself for asyncpg."""
    return str(value) if is_sqlite() else value


class Lookup(NamedTuple):
    """One part of `find_keys`: which of `keys` are in `table` (optionally only rows whose `where`
    column equals `equals`), each with its `value` column."""

    name: str
    table: str
    key: str
    value: str
    keys: Sequence[UUID]
    where: str | None = None
    equals: Any = None


def find_keys(lookups: Sequence[Lookup]) -> Script:
    """A transaction script in one statement: for each lookup, {key: value} of the given UUID keys that
    exist (`value` a UUID column, None when NULL). Returns {lookup name: {UUID: UUID | None}}.

    SQLite: one row back (each row fetched is a trip through the GIL for the database thread), each
    lookup a `group_concat` of "key value" pairs. PostgreSQL: one statement whose text is the same
    whatever the number of keys (arrays), so asyncpg's prepared-statement cache serves it."""
    found: dict[str, dict[UUID, UUID | None]] = {lookup.name: {} for lookup in lookups}
    lookups = [lookup for lookup in lookups if lookup.keys]
    if not lookups:
        return found
    args: list = []
    if is_sqlite():
        parts = []
        for i, lk in enumerate(lookups):
            cond = f'"{lk.key}" IN ({", ".join("{}" for _k in lk.keys)})'
            args.extend(str(k) for k in lk.keys)
            if lk.where:
                cond += f' AND "{lk.where}" = {{}}'
                args.append(str(lk.equals) if isinstance(lk.equals, UUID) else lk.equals)
            parts.append(f"(SELECT group_concat(\"{lk.key}\" || ' ' || COALESCE(\"{lk.value}\", '')) "
                         f"FROM \"{lk.table}\" WHERE {cond}) AS r{i}")
        row = (yield Sql("SELECT " + ", ".join(parts), args))[0]
        for i, lk in enumerate(lookups):
            for pair in (row[f"r{i}"] or "").split(","):
                if pair:
                    key, value = pair.split(" ")
                    found[lk.name][UUID(key)] = UUID(value) if value else None
        return found
    selects = []
    for i, lk in enumerate(lookups):
        cond = f'"{lk.key}" = ANY({{}}::uuid[])'
        args.append(list(lk.keys))
        if lk.where:
            cond += f' AND "{lk.where}" = {{}}'
            args.append(lk.equals)
        selects.append(f'SELECT {i} AS source, "{lk.key}" AS k, "{lk.value}" AS v FROM "{lk.table}" WHERE {cond}')
    for r in (yield Sql(" UNION ALL ".join(selects), args)):
        found[lookups[r["source"]].name][r["k"]] = r["v"]
    return found
