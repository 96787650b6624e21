"""Database engines: a SQLite file by default, PostgreSQL through one URL."""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from urllib.parse import urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory


class PooledSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine, keeping connections open between queries.

    Piccolo opens a new connection (and thread) for every query outside a transaction: about 2 ms each,
    more than the queries themselves. Idle connections are kept in a list and reused; a query that fails
    closes its connection rather than returning it. No loop-bound primitives, so the engine works from
    any event loop (the test client's, the command line's).
    """

    MAX_IDLE = 4

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._idle: list = []

    async def _acquire(self):
        if self._idle:
            return self._idle.pop()
        import aiosqlite

        connection = await aiosqlite.connect(**self.connection_kwargs)
        await connection.execute("PRAGMA foreign_keys = 1")
        connection.row_factory = dict_factory
        return connection

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
        if len(self._idle) < self.MAX_IDLE:
            self._idle.append(connection)
        else:
            await connection.close()
        return rows

    async def _release(self, connection) -> None:
        if len(self._idle) < self.MAX_IDLE:
            self._idle.append(connection)
        else:
            await connection.close()

    async def _run_in_existing_connection(self, connection, query, args=None, query_type="generic", table=None):
        """A query inside a transaction. Piccolo re-sends `PRAGMA foreign_keys = 1` before each one (a
        round trip to the connection's thread); our connections have it set once, when opened. Execute,
        fetch and close the cursor in one trip."""
        return await connection.execute_fetchall(query, args or [])

    def transaction(self, transaction_type: TransactionType = TransactionType.deferred, allow_nested: bool = True):
        return PooledSQLiteTransaction(engine=self, transaction_type=transaction_type, allow_nested=allow_nested)

    async def close_idle(self) -> None:
        while self._idle:
            await self._idle.pop().close()


class PooledSQLiteTransaction(SQLiteTransaction):
    """Piccolo's SQLite transaction on a kept connection: a committed transaction hands its connection
    back to the engine's idle list instead of closing it (opening one costs a thread and ~2 ms). After a
    failure or a rollback the connection is closed, as before."""

    async def __aenter__(self):
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

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
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


def all_tables():
    """Every table of every domain, in dependency order (parents first)."""
    from server.accounts.tables import Team, TeamManager, User
    from server.customers.tables import Customer
    from server.reports.tables import Report, ReportEvent
    from server.syncing.tables import Device, SyncCounter, Tombstone
    from server.visits.tables import Visit

    return [Team, User, TeamManager, Customer, Visit, Report, ReportEvent, Device, SyncCounter, Tombstone]


def bind(engine: Engine) -> None:
    """Point every table at `engine` (one process serves one database)."""
    for table in all_tables():
        table._meta._db = engine


def is_sqlite(engine: Engine) -> bool:
    return isinstance(engine, SQLiteEngine)


async def prepare(engine: Engine) -> None:
    """Per-process start-up work: WAL for SQLite, a connection pool for PostgreSQL."""
    if isinstance(engine, SQLiteEngine):
        await engine._run_in_new_connection("PRAGMA journal_mode=WAL")
    elif isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=10)


async def close(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()
    elif isinstance(engine, PooledSQLiteEngine):
        await engine.close_idle()


# One queue of writers per event loop (an asyncio.Lock belongs to the loop it first waits on).
_write_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()


class _QueuedWrite:
    """An outermost SQLite write transaction, entered after the writers ahead of it in this process.

    SQLite has one writer at a time. Without a queue, concurrent requests all BEGIN IMMEDIATE and the
    losers poll in SQLite's busy handler, which sleeps up to 100 ms between tries: a push then waits
    seconds behind others that finished long ago. In-process writers now wait their turn on an
    asyncio.Lock (first come, first served, woken as soon as the previous one commits); writers in other
    processes still meet the busy timeout, as before."""

    def __init__(self, engine: SQLiteEngine):
        self.engine = engine

    async def __aenter__(self):
        loop = asyncio.get_running_loop()
        self.lock = _write_locks.get(loop)
        if self.lock is None:
            self.lock = _write_locks[loop] = asyncio.Lock()
        await self.lock.acquire()
        try:
            self.transaction = self.engine.transaction(transaction_type=TransactionType.immediate)
            return await self.transaction.__aenter__()
        except BaseException:
            self.lock.release()
            raise

    async def __aexit__(self, exception_type, exception, traceback):
        try:
            return await self.transaction.__aexit__(exception_type, exception, traceback)
        finally:
            self.lock.release()


def write_transaction():
    """A transaction for writes. On SQLite it takes the write lock at BEGIN (IMMEDIATE), so two writers
    never deadlock upgrading a read lock, after the process's earlier writers (see _QueuedWrite);
    nested calls join the outer transaction."""
    engine = all_tables()[0]._meta.db
    if isinstance(engine, SQLiteEngine):
        if engine.current_transaction.get() is None:
            return _QueuedWrite(engine)
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


def _placeholders(engine: Engine, row: int, width: int) -> str:
    if is_sqlite(engine):
        return "(" + ", ".join("?" * width) + ")"
    return "(" + ", ".join(f"${row * width + i + 1}" for i in range(width)) + ")"


async def insert_rows(table, rows: list[dict]) -> None:
    """INSERT many rows in one statement through the driver, inside the current write transaction.

    The set-based write of the sync reconciler: building a Piccolo object per row and letting Piccolo
    render it costs about 0.1 ms per row of pure Python, more than the database's own work. Each row maps
    column names to values (every row the same columns, given in full: no defaults are filled in);
    values are the Python types Piccolo would pass (UUID, datetime, date, str, numbers, None), so the
    driver stores them as Piccolo does (on SQLite through the adapters Piccolo registers)."""
    if not rows:
        return
    columns = list(rows[0])
    engine = table._meta.db
    names = ", ".join(f'"{c}"' for c in columns)
    async with write_transaction() as transaction:
        connection = transaction.connection
        if is_sqlite(engine):
            sql = f'INSERT INTO "{table._meta.tablename}" ({names}) VALUES {_placeholders(engine, 0, len(columns))}'
            cursor = await connection.executemany(sql, [[row[c] for c in columns] for row in rows])
            await cursor.close()
        else:
            # Multi-row statements: one round trip each, within PostgreSQL's 32,767 parameters.
            step = max(1, 30_000 // len(columns))
            for start in range(0, len(rows), step):
                chunk = rows[start:start + step]
                values = ", ".join(_placeholders(engine, i, len(columns)) for i in range(len(chunk)))
                sql = f'INSERT INTO "{table._meta.tablename}" ({names}) VALUES {values}'
                await connection.execute(sql, *[row[c] for row in chunk for c in columns])


async def read_snapshot():
    """Make the current transaction read one consistent snapshot (PostgreSQL's default re-reads per
    statement; SQLite's read transaction is a snapshot already)."""
    from server.accounts.tables import User

    if not is_sqlite(User._meta.db):
        await User.raw("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
