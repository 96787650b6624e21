"""Engines and the SQLite connection pool: a SQLite file by default, PostgreSQL through one URL.

Invariant: one process serves one database. `bind` is called once at start-up (the app, the command
line, a benchmark or a test) with the engine `make_engine` built; the db package keeps it, and every
helper here, in `scripts` and in `writer` reaches the database through `current()`, never through a
domain's table. A pooled SQLite connection is only ever handed back to the idle list after a clean
commit (or a statement that succeeded); any failure closes it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

# The Piccolo version the overrides below were checked against (tests/unit/test_piccolo_internals.py
# pins the signatures and the source of every method they replace).
PICCOLO_CHECKED = "1.38.0"


class PooledSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine, keeping connections open between queries.

    Piccolo opens a new connection (and thread) for every query outside a transaction: about 2 ms each,
    more than the queries themselves. Idle connections are kept in a list and reused; a query that fails
    closes its connection rather than returning it. No loop-bound primitives, so the engine works from
    any event loop (the test client's, the command line's).
    """

    # Enough for a dozen concurrent requests: with 4, a burst of sync pushes kept opening and closing
    # connections (a thread and ~2 ms each).
    MAX_IDLE = 16
    # run_write's batches between two checkpoints of the WAL, run beside the writer, not by it.
    CHECKPOINT_EVERY = 8

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle: list = []
        self._writer: Any = None  # the connection of run_write's batches (see writer._write_scripts)
        self._batches = 0
        self._checkpoint_task: Any = None  # the running passive checkpoint (writer._checkpointed)

    async def _connect(self) -> Any:
        import aiosqlite

        connection = await aiosqlite.connect(**self.connection_kwargs)
        await connection.execute("PRAGMA foreign_keys = 1")
        # Piccolo's row factory (dicts); aiosqlite's stub types the attribute as a class only.
        connection.row_factory = dict_factory  # type: ignore[assignment]
        return connection

    async def _acquire(self) -> Any:
        if self._idle:
            return self._idle.pop()
        return await self._connect()

    async def _release(self, connection: Any) -> None:
        if len(self._idle) < self.MAX_IDLE:
            self._idle.append(connection)
        else:
            await connection.close()

    async def _batch_writer(self) -> Any:
        """The connection run_write's batches use. It never checkpoints the WAL itself: SQLite's automatic
        checkpoint runs inside the commit that crosses 1,000 pages, so one batch in a few would hold the
        write lock while copying pages into the database file and flushing it. A passive checkpoint on
        another connection (writer._checkpointed) does that work beside the writer instead; each commit
        is still flushed to the WAL before it returns, so durability is unchanged."""
        if self._writer is None:
            connection = await self._connect()
            await connection.execute("PRAGMA wal_autocheckpoint = 0")
            self._writer = connection
        return self._writer

    async def _drop_batch_writer(self) -> None:
        connection, self._writer = self._writer, None
        if connection is not None:
            await connection.close()

    # Piccolo's signatures, pinned by tests/unit/test_piccolo_internals.py.
    async def _run_in_new_connection(self, query, args=None, query_type="generic", table=None):
        connection = await self._acquire()
        try:
            # One trip to the connection's thread (execute, fetch, close the cursor) instead of three, and a
            # commit only when the statement opened a transaction (writes): each trip costs ~0.1 ms.
            rows = await connection.execute_fetchall(query, args or [])
            if connection.in_transaction:
                await connection.commit()
        except BaseException:
            await connection.close()
            raise
        await self._release(connection)
        return rows

    async def _run_in_existing_connection(self, connection, query, args=None, query_type="generic", table=None):
        """A query inside a transaction. Piccolo re-sends `PRAGMA foreign_keys = 1` before each one (a
        round trip to the connection's thread); our connections have it set once, when opened. Execute,
        fetch and close the cursor in one trip."""
        return await connection.execute_fetchall(query, args or [])

    def transaction(self, transaction_type: TransactionType = TransactionType.deferred,
                    allow_nested: bool = True) -> PooledSQLiteTransaction:
        return PooledSQLiteTransaction(engine=self, transaction_type=transaction_type, allow_nested=allow_nested)

    async def close_idle(self) -> None:
        while self._idle:
            await self._idle.pop().close()
        await self._drop_batch_writer()


class PooledSQLiteTransaction(SQLiteTransaction):
    """Piccolo's SQLite transaction on a kept connection: a committed transaction hands its connection
    back to the engine's idle list instead of closing it (opening one costs a thread and ~2 ms). After a
    failure or a rollback the connection is closed, as before."""

    engine: PooledSQLiteEngine

    async def __aenter__(self) -> Any:
        if self._parent is not None:
            return self._parent
        self.connection = await self.engine._acquire()
        try:
            await self.begin()
        except BaseException:
            await self.connection.close()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
        except BaseException:
            await self.connection.close()
            raise
        finally:
            self.engine.current_transaction.reset(self.context)
        if exception is None and self._committed:
            await self.engine._release(self.connection)
        else:
            await self.connection.close()
        return exception is None


def make_engine(url: str) -> Engine:
    """Return the Piccolo engine for a database URL (`sqlite:///path` or `postgresql://...`)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url.split("sqlite:///", 1)[1] if url.startswith("sqlite:///") else parsed.path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # `timeout` is SQLite's busy timeout: writers wait for the lock instead of failing at once.
        return PooledSQLiteEngine(path=path, timeout=15)
    if parsed.scheme in {"postgres", "postgresql"}:
        return PostgresEngine(config={"dsn": url})
    raise ValueError(f"Unsupported database URL scheme: {parsed.scheme!r}")


# ---------------------------------------------------------------------------------- the bound engine

_bound: Engine | None = None

# Where the table list lives: the Piccolo app (its table_finder over the domains' `tables` modules).
# Named, not imported, so this layer depends on no domain; the composition root may pass the tables.
TABLES_MODULE = "server.piccolo_app"


def bind(engine: Engine, tables: Iterable[Any] | None = None) -> None:
    """Keep `engine` as the process's database and point every table at it (one process serves one
    database). `tables` defaults to the Piccolo app's list (`server/piccolo_app.py`)."""
    global _bound
    _bound = engine
    if tables is None:
        tables = importlib.import_module(TABLES_MODULE).TABLES
    for table in tables:
        table._meta._db = engine


def current() -> Engine:
    """The engine `bind` kept."""
    if _bound is None:
        raise RuntimeError("No database bound: call server.db.bind(engine) at start-up")
    return _bound


def is_sqlite(engine: Engine | None = None) -> bool:
    """Whether `engine` (by default the bound one) is SQLite. For the db layer and the tests: domain code
    uses the helpers of `server.db.dialect` instead of branching on the engine."""
    return isinstance(engine if engine is not None else current(), SQLiteEngine)


def as_uuid(value: Any) -> UUID | None:
    """A UUID as a raw query returns it: a UUID from PostgreSQL, text from SQLite."""
    if value is None or isinstance(value, UUID):
        return value
    return UUID(str(value))


def as_date(value: Any) -> date | None:
    """A date as a raw query returns it: a date from PostgreSQL, ISO text from SQLite."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


async def prepare(engine: Engine, pool: bool = True) -> None:
    """Per-process start-up work: WAL for SQLite, a connection pool for PostgreSQL (unless `pool` is
    False: a one-off command)."""
    if isinstance(engine, SQLiteEngine):
        await engine._run_in_new_connection("PRAGMA journal_mode=WAL")
    elif isinstance(engine, PostgresEngine) and pool:
        await engine.start_connection_pool(min_size=1, max_size=10, reset=_keep_session)


async def _keep_session(connection: Any) -> None:
    """Pool release without asyncpg's reset query (`RESET ALL`, `CLOSE ALL`, `UNLISTEN *`, unlock advisory
    locks): one round trip after every query and transaction, for state this app never leaves behind
    (it sets no session variables, listens to nothing, takes no advisory locks, keeps no cursors).
    asyncpg still rolls back a transaction left open before calling this."""


async def close(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()
    elif isinstance(engine, PooledSQLiteEngine):
        await engine.close_idle()


async def read_snapshot() -> None:
    """Make the current transaction read one consistent snapshot (PostgreSQL's default re-reads per
    statement; SQLite's read transaction is a snapshot already)."""
    engine = current()
    if not is_sqlite(engine):
        transaction = engine.current_transaction.get()
        if transaction is None:
            raise RuntimeError("read_snapshot needs a transaction")
        await transaction.connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
