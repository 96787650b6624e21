"""Transaction scripts: a transaction's statements as a generator, run on either engine.

Invariant: a script holds no connection and does no I/O itself. It yields `Sql` statements (with `{}`
placeholders, as in Piccolo's `raw`), receives each one's rows as dicts, and returns its result; the
driver here compiles the placeholders for the bound engine and runs the statements in order in the
transaction it is given. So one script is one transaction's logic on SQLite and PostgreSQL alike: on
PostgreSQL one round trip per statement, on SQLite one trip to the connection's thread for all of it.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Generator, Sequence
from typing import Any, NamedTuple

from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import ADAPTERS as _SQLITE_ADAPTERS

from server.db.engine import PooledSQLiteEngine, current, is_sqlite


class Sql(NamedTuple):
    """One statement of a transaction script, with `{}` placeholders (as in Piccolo's `raw`); the script
    gets its rows back as dicts."""

    text: str
    args: Sequence[Any] = ()


# A transaction script: a generator that yields `Sql` statements, receives each one's rows, and returns
# its result (see the module's docstring; run it with run_write, run_script or run_read).
Script = Generator[Sql, Any, Any]


def driver_values(values: list) -> list:
    """Python values (UUID, datetime, date, str, numbers, None) as the bound engine's driver stores them.
    On SQLite that is Piccolo's registered adapters, the very functions sqlite3 would call while
    binding, applied here instead, so a caller can do it before taking the write lock; asyncpg takes the
    values as they are."""
    if not is_sqlite():
        return values
    return [_SQLITE_ADAPTERS[type(v)](v) if type(v) in _SQLITE_ADAPTERS else v for v in values]


@functools.lru_cache(maxsize=512)
def _compile(sqlite: bool, text: str) -> str:
    parts = text.split("{}")
    if sqlite:
        return "?".join(parts)
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


def compile_placeholders(text: str) -> str:
    """`{}` placeholders as the bound engine's driver numbers them (`?` or `$1, $2, ...`)."""
    return _compile(is_sqlite(), text)


def drive_sqlite(connection: Any, script: Script) -> Any:
    """In the SQLite connection's thread (a sqlite3 connection): every statement of the script, in the
    current transaction. A statement's error is thrown into the script at its `yield`, so a script may
    catch it (after rolling back to a savepoint of its own); uncaught, it ends the script and is raised."""
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                statement = script.send(value) if error is None else script.throw(error)
            except StopIteration as stop:
                return stop.value
            error = None
            try:
                cursor = connection.execute(_compile(True, statement.text), statement.args)
                value = cursor.fetchall()
                cursor.close()
            except Exception as e:  # noqa: BLE001 - thrown into the script, which may handle it
                error, value = e, None
    except BaseException:
        script.close()
        raise


async def drive_async(sqlite: bool, connection: Any, script: Script) -> Any:
    """Every statement of the script on an aiosqlite or asyncpg connection, one trip each; a statement's
    error is thrown into the script, as in drive_sqlite."""
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            try:
                statement = script.send(value) if error is None else script.throw(error)
            except StopIteration as stop:
                return stop.value
            error = None
            text = _compile(sqlite, statement.text)
            try:
                if sqlite:
                    value = await connection.execute_fetchall(text, statement.args)
                else:
                    value = [dict(row) for row in await connection.fetch(text, *statement.args)]
            except Exception as e:  # noqa: BLE001 - thrown into the script, which may handle it
                error, value = e, None
    except BaseException:
        script.close()
        raise


async def run_script(script: Script) -> Any:
    """Run a transaction script inside the current transaction, one statement per trip."""
    engine = current()
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("run_script needs a transaction; use run_write for a transaction of its own")
    return await drive_async(is_sqlite(engine), transaction.connection, script)


async def run_read(script: Script) -> Any:
    """Run a script of reads outside any transaction, each statement seeing what is committed: on SQLite
    in one trip to a pooled connection's thread, on PostgreSQL on a pooled connection. It takes no write
    lock, so it never waits behind writers."""
    engine = current()
    if isinstance(engine, PooledSQLiteEngine):
        connection = await engine._acquire()
        try:
            result = await connection._execute(contextvars.copy_context().run, drive_sqlite, connection._conn, script)
        except BaseException:
            await connection.close()
            raise
        await engine._release(connection)
        return result
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        async with engine.pool.acquire() as connection:
            return await drive_async(False, connection, script)
    async with engine.transaction():
        return await run_script(script)
