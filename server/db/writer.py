"""The writer: write transactions, SQLite group commit, the WAL checkpointer, set-based inserts.

Invariant: in one process, SQLite writes go through one queue in arrival order (`_QueuedWrite` and
`run_write` share one asyncio.Lock per event loop), the write lock is held only for the database's own
work, and no caller hears of its write before the transaction that holds it has committed. PostgreSQL
writes are ordinary transactions on the pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from server.db.engine import PooledSQLiteEngine, current, is_sqlite
from server.db.scripts import Script, drive_sqlite, run_script

# One queue of writers per event loop (an asyncio.Lock belongs to the loop it first waits on).
_write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _write_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _write_locks.get(loop)
    if lock is None:
        lock = _write_locks[loop] = asyncio.Lock()
    return lock


class _QueuedWrite:
    """An outermost SQLite write transaction, entered after the writers ahead of it in this process.

    SQLite has one writer at a time. Without a queue, concurrent requests all BEGIN IMMEDIATE and the
    losers poll in SQLite's busy handler, which sleeps up to 100 ms between tries: a push then waits
    seconds behind others that finished long ago. In-process writers now wait their turn on an
    asyncio.Lock (first come, first served, woken as soon as the previous one commits); writers in other
    processes still meet the busy timeout, as before."""

    def __init__(self, engine: SQLiteEngine):
        self.engine = engine

    async def __aenter__(self) -> Any:
        self.lock = _write_lock()
        await self.lock.acquire()
        try:
            self.transaction = self.engine.transaction(transaction_type=TransactionType.immediate)
            return await self.transaction.__aenter__()
        except BaseException:
            self.lock.release()
            raise

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        try:
            return await self.transaction.__aexit__(exception_type, exception, traceback)
        finally:
            self.lock.release()


def write_transaction() -> Any:
    """A transaction for writes. On SQLite it takes the write lock at BEGIN (IMMEDIATE), so two writers
    never deadlock upgrading a read lock, after the process's earlier writers (see _QueuedWrite);
    nested calls join the outer transaction."""
    engine = current()
    if isinstance(engine, SQLiteEngine):
        if engine.current_transaction.get() is None:
            return _QueuedWrite(engine)
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


def _placeholders(sqlite: bool, row: int, width: int) -> str:
    if sqlite:
        return "(" + ", ".join("?" * width) + ")"
    return "(" + ", ".join(f"${row * width + i + 1}" for i in range(width)) + ")"


async def insert_rows(table: Any, rows: list[dict]) -> None:
    """INSERT many rows in one statement through the driver, inside the current write transaction.

    The set-based write of bulk loads: building a Piccolo object per row and letting Piccolo render it
    costs about 0.1 ms per row of pure Python, more than the database's own work. Each row maps column
    names to values (every row the same columns, given in full: no defaults are filled in); values are
    the Python types Piccolo would pass (UUID, datetime, date, str, numbers, None), so the driver stores
    them as Piccolo does (on SQLite through the adapters Piccolo registers)."""
    if not rows:
        return
    columns = list(rows[0])
    sqlite = is_sqlite()
    names = ", ".join(f'"{c}"' for c in columns)
    async with write_transaction() as transaction:
        connection = transaction.connection
        if sqlite:
            sql = f'INSERT INTO "{table._meta.tablename}" ({names}) VALUES {_placeholders(True, 0, len(columns))}'
            cursor = await connection.executemany(sql, [[row[c] for c in columns] for row in rows])
            await cursor.close()
        else:
            # Multi-row statements: one round trip each, within PostgreSQL's 32,767 parameters.
            step = max(1, 30_000 // len(columns))
            for start in range(0, len(rows), step):
                chunk = rows[start:start + step]
                values = ", ".join(_placeholders(False, i, len(columns)) for i in range(len(chunk)))
                sql = f'INSERT INTO "{table._meta.tablename}" ({names}) VALUES {values}'
                await connection.execute(sql, *[row[c] for row in chunk for c in columns])


# ------------------------------------------------------------------------------------ group commit


def _drive_sqlite_batch(connection: Any, batch: list) -> list[tuple[bool, Any]]:
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
                outcomes.append((True, context.run(drive_sqlite, connection, script)))
            except Exception as e:  # noqa: BLE001 - any failure is that script's outcome, handed to its caller
                connection.execute("ROLLBACK TO script")
                outcomes.append((False, e))
            connection.execute("RELEASE script")
        connection.execute("COMMIT")
        return outcomes
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


class _ScriptQueue:
    """Per event loop: SQLite transaction scripts waiting for the writer, and whether it is running."""

    def __init__(self) -> None:
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
    engine = current()
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
    lock = _write_lock()
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
                except Exception as e:  # noqa: BLE001 - BEGIN or COMMIT failed: the batch wrote nothing, each caller hears why
                    await engine._drop_batch_writer()
                    for _context, _script, future in batch:
                        if not future.done():
                            future.set_exception(e)
                    batch = []
                    continue
                _checkpointed(engine)
            for (_context, _script, future), (ok, value) in zip(batch, outcomes):
                if not future.done():
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
            batch = []
    finally:
        queue.writer = None
        # Anything left here means the writer itself was stopped (its loop is closing): nobody will write it.
        leftovers, queue.pending = batch + queue.pending, []
        for _context, _script, future in leftovers:
            if not future.done():
                future.cancel()


# ---------------------------------------------------------------------------------- WAL checkpointer


def _checkpointed(engine: PooledSQLiteEngine) -> None:
    """A batch was committed: every CHECKPOINT_EVERY of them, a passive checkpoint on a pooled
    connection, concurrent with the writers (a failed one is simply retried by the next)."""
    engine._batches += 1
    if engine._batches < engine.CHECKPOINT_EVERY or engine._checkpoint_task is not None:
        return
    engine._batches = 0

    async def checkpoint() -> None:
        try:
            connection = await engine._acquire()
            try:
                await connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except BaseException:
                await connection.close()
                raise
            await engine._release(connection)
        finally:
            engine._checkpoint_task = None

    task = asyncio.get_running_loop().create_task(checkpoint())
    engine._checkpoint_task = task
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
