"""Database engines: a SQLite file by default, PostgreSQL through one URL."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import weakref
from collections.abc import Generator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlparse
from uuid import UUID

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import ADAPTERS as _SQLITE_ADAPTERS
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._idle: list = []
        self._writer = None  # the connection of run_write's batches (see _write_scripts)
        self._batches = 0
        self._checkpoint_task: asyncio.Task | None = None

    async def _connect(self):
        import aiosqlite

        connection = await aiosqlite.connect(**self.connection_kwargs)
        await connection.execute("PRAGMA foreign_keys = 1")
        connection.row_factory = dict_factory
        return connection

    async def _acquire(self):
        if self._idle:
            return self._idle.pop()
        return await self._connect()

    async def _batch_writer(self):
        """The connection run_write's batches use. It never checkpoints the WAL itself: SQLite's automatic
        checkpoint runs inside the commit that crosses 1,000 pages, so one batch in a few would hold the
        write lock while copying pages into the database file and flushing it. A passive checkpoint on
        another connection (_wrote) does that work beside the writer instead; each commit is still
        flushed to the WAL before it returns, so durability is unchanged."""
        if self._writer is None:
            connection = await self._connect()
            await connection.execute("PRAGMA wal_autocheckpoint = 0")
            self._writer = connection
        return self._writer

    async def _drop_batch_writer(self) -> None:
        connection, self._writer = self._writer, None
        if connection is not None:
            await connection.close()

    def _wrote(self) -> None:
        """A batch was committed: every CHECKPOINT_EVERY of them, a passive checkpoint on a pooled
        connection, concurrent with the writers (a failed one is simply retried by the next)."""
        self._batches += 1
        if self._batches < self.CHECKPOINT_EVERY or self._checkpoint_task is not None:
            return
        self._batches = 0

        async def checkpoint():
            try:
                connection = await self._acquire()
                try:
                    await connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except BaseException:
                    await connection.close()
                    raise
                await self._release(connection)
            finally:
                self._checkpoint_task = None

        self._checkpoint_task = asyncio.get_running_loop().create_task(checkpoint())
        self._checkpoint_task.add_done_callback(lambda task: task.cancelled() or task.exception())

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
        await self._drop_batch_writer()


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
    from server.imports.tables import ImportBatch
    from server.jobs.tables import JobRun
    from server.notifications.tables import AlertRule, Notification, NotificationSetting, PushDelivery, PushSubscription
    from server.reports.tables import Report, ReportEvent
    from server.sales.tables import Collection, Opportunity, OpportunityStage, Order, OrderSplit
    from server.syncing.tables import Device, SyncCounter, Tombstone
    from server.targets.tables import Kpi, PaceSetting, Target, TargetChange, TargetPlan, WorkCalendar
    from server.visits.tables import Visit

    return [
        Team, User, TeamManager, Customer, Visit, Report, ReportEvent, Device, SyncCounter, Tombstone,
        Opportunity, OpportunityStage, Order, OrderSplit, Collection,
        Kpi, TargetPlan, Target, TargetChange, PaceSetting, WorkCalendar, ImportBatch,
        JobRun, AlertRule, Notification, NotificationSetting, PushSubscription, PushDelivery,
    ]


def bind(engine: Engine) -> None:
    """Point every table at `engine` (one process serves one database)."""
    for table in all_tables():
        table._meta._db = engine


def as_uuid(value) -> UUID | None:
    """A UUID as a raw query returns it: a UUID from PostgreSQL, text from SQLite."""
    if value is None or isinstance(value, UUID):
        return value
    return UUID(str(value))


def as_date(value) -> date | None:
    """A date as a raw query returns it: a date from PostgreSQL, ISO text from SQLite."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def is_sqlite(engine: Engine) -> bool:
    return isinstance(engine, SQLiteEngine)


async def prepare(engine: Engine) -> None:
    """Per-process start-up work: WAL for SQLite, a connection pool for PostgreSQL."""
    if isinstance(engine, SQLiteEngine):
        await engine._run_in_new_connection("PRAGMA journal_mode=WAL")
    elif isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=10, reset=_keep_session)


async def _keep_session(connection) -> None:
    """Pool release without asyncpg's reset query (`RESET ALL`, `CLOSE ALL`, `UNLISTEN *`, unlock advisory
    locks): one round trip after every query and transaction, for state this app never leaves behind
    (it sets no session variables, listens to nothing, takes no advisory locks, keeps no cursors).
    asyncpg still rolls back a transaction left open before calling this."""


async def close(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()
    elif isinstance(engine, PooledSQLiteEngine):
        await engine.close_idle()


# One queue of writers per event loop (an asyncio.Lock belongs to the loop it first waits on).
_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


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


# ------------------------------------------------------------------------------ transaction scripts


class Sql(NamedTuple):
    """One statement of a transaction script, with `{}` placeholders (as in Piccolo's `raw`); the script
    gets its rows back as dicts."""

    text: str
    args: Sequence[Any] = ()


# A transaction script: a generator that yields `Sql` statements, receives each one's rows, and returns
# its result. It holds no connection and does no I/O itself, so one script runs on either engine: on
# PostgreSQL one round trip per statement; on SQLite, as a write transaction of its own, in one trip to
# the connection's thread (see run_write).
Script = Generator[Sql, Any, Any]


def driver_values(values: list, sqlite: bool) -> list:
    """Python values (UUID, datetime, date, str, numbers, None) as the driver stores them. On SQLite that
    is Piccolo's registered adapters, the very functions sqlite3 would call while binding, applied here
    instead, so a caller can do it before taking the write lock; asyncpg takes the values as they are."""
    if not sqlite:
        return values
    return [_SQLITE_ADAPTERS[type(v)](v) if type(v) in _SQLITE_ADAPTERS else v for v in values]


@functools.lru_cache(maxsize=512)
def _compile(sqlite: bool, text: str) -> str:
    parts = text.split("{}")
    if sqlite:
        return "?".join(parts)
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


def _drive_sqlite(connection, script: Script) -> Any:
    """In the SQLite connection's thread: every statement of the script, in the current transaction."""
    value = None
    try:
        while True:
            try:
                statement = script.send(value)
            except StopIteration as stop:
                return stop.value
            cursor = connection.execute(_compile(True, statement.text), statement.args)
            value = cursor.fetchall()
            cursor.close()
    except BaseException:
        script.close()
        raise


def _drive_sqlite_batch(connection, batch: list) -> list[tuple[bool, Any]]:
    """In the SQLite connection's thread: one write transaction for a batch of scripts (group commit),
    each in a savepoint of its own, so one that fails (its exception is its outcome) leaves the others'
    work intact. Returns (ok, result or exception) per script. A failure to begin or commit raises:
    nothing of the batch is written."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        outcomes: list[tuple[bool, Any]] = []
        for context, script, _future in batch:
            connection.execute("SAVEPOINT script")
            try:
                outcomes.append((True, context.run(_drive_sqlite, connection, script)))
            except Exception as e:  # noqa: BLE001 - handed to the script's caller
                connection.execute("ROLLBACK TO script")
                outcomes.append((False, e))
            connection.execute("RELEASE script")
        connection.execute("COMMIT")
        return outcomes
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


async def run_script(script: Script) -> Any:
    """Run a transaction script inside the current transaction, one statement per trip."""
    engine = all_tables()[0]._meta.db
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("run_script needs a transaction; use run_write for a transaction of its own")
    return await _drive_async(is_sqlite(engine), transaction.connection, script)


async def run_read(script: Script) -> Any:
    """Run a script of reads outside any transaction, each statement seeing what is committed: on SQLite
    in one trip to a pooled connection's thread, on PostgreSQL on a pooled connection. It takes no write
    lock, so it never waits behind writers."""
    engine = all_tables()[0]._meta.db
    if isinstance(engine, PooledSQLiteEngine):
        connection = await engine._acquire()
        try:
            result = await connection._execute(contextvars.copy_context().run, _drive_sqlite, connection._conn, script)
        except BaseException:
            await connection.close()
            raise
        await engine._release(connection)
        return result
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        async with engine.pool.acquire() as connection:
            return await _drive_async(False, connection, script)
    async with engine.transaction():
        return await run_script(script)


async def _drive_async(sqlite: bool, connection, script: Script) -> Any:
    value = None
    try:
        while True:
            try:
                statement = script.send(value)
            except StopIteration as stop:
                return stop.value
            text = _compile(sqlite, statement.text)
            if sqlite:
                value = await connection.execute_fetchall(text, statement.args)
            else:
                value = [dict(row) for row in await connection.fetch(text, *statement.args)]
    except BaseException:
        script.close()
        raise


class _ScriptQueue:
    """Per event loop: SQLite transaction scripts waiting for the writer, and whether it is running."""

    def __init__(self):
        self.pending: list = []
        self.writer: asyncio.Task | None = None


_script_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ScriptQueue] = weakref.WeakKeyDictionary()


async def run_write(script: Script) -> Any:
    """Run a transaction script as one write transaction (joining the current one if there is one).

    On SQLite, scripts are written by one task per event loop: it takes the write lock in its turn among
    the process's writers (see _QueuedWrite), then runs every script waiting at that moment in one trip
    to a connection's thread, as one transaction with a savepoint per script (group commit: one disk
    flush for all of them). The lock is held for the database's work only, never while the event loop
    serves other requests. A script's result, or its exception, reaches its caller only after the
    commit, so an answer never acknowledges a write that is not on disk. Each script runs in a copy of
    its caller's context (locale, time zone)."""
    engine = all_tables()[0]._meta.db
    if not isinstance(engine, PooledSQLiteEngine) or engine.current_transaction.get() is not None:
        async with write_transaction():
            return await run_script(script)
    loop = asyncio.get_running_loop()
    queue = _script_queues.get(loop)
    if queue is None:
        queue = _script_queues[loop] = _ScriptQueue()
    future = loop.create_future()
    queue.pending.append((contextvars.copy_context(), script, future))
    if queue.writer is None:
        queue.writer = loop.create_task(_write_scripts(engine, queue))
    return await future


async def _write_scripts(engine: PooledSQLiteEngine, queue: _ScriptQueue) -> None:
    loop = asyncio.get_running_loop()
    lock = _write_locks.get(loop)
    if lock is None:
        lock = _write_locks[loop] = asyncio.Lock()
    batch: list = []
    try:
        while queue.pending:
            async with lock:
                # Callers that gave up (a cancelled request) before their turn write nothing.
                batch = [item for item in queue.pending if not item[2].done()]
                queue.pending = []
                if not batch:
                    continue
                connection = await engine._batch_writer()
                try:
                    outcomes = await connection._execute(_drive_sqlite_batch, connection._conn, batch)
                except Exception as e:  # noqa: BLE001 - BEGIN or COMMIT failed: the batch wrote nothing
                    await engine._drop_batch_writer()
                    for _context, _script, future in batch:
                        if not future.done():
                            future.set_exception(e)
                    batch = []
                    continue
                engine._wrote()
            for (_context, _script, future), (ok, value) in zip(batch, outcomes):
                if not future.done():
                    future.set_result(value) if ok else future.set_exception(value)
            batch = []
    finally:
        queue.writer = None
        # Anything left here means the writer itself was stopped (its loop is closing): nobody will write it.
        leftovers, queue.pending = batch + queue.pending, []
        for _context, _script, future in leftovers:
            if not future.done():
                future.cancel()
