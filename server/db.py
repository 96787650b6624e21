"""Database engines: a SQLite file by default, PostgreSQL through one URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, dict_factory


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
            async with connection.execute(query, args or []) as cursor:
                rows = await cursor.fetchall()
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if len(self._idle) < self.MAX_IDLE:
            self._idle.append(connection)
        else:
            await connection.close()
        return rows

    async def close_idle(self) -> None:
        while self._idle:
            await self._idle.pop().close()


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


def write_transaction():
    """A transaction for writes. On SQLite it takes the write lock at BEGIN (IMMEDIATE), so two writers
    never deadlock upgrading a read lock; nested calls join the outer transaction."""
    from piccolo.engine.sqlite import TransactionType

    engine = all_tables()[0]._meta.db
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


async def read_snapshot():
    """Make the current transaction read one consistent snapshot (PostgreSQL's default re-reads per
    statement; SQLite's read transaction is a snapshot already)."""
    from server.accounts.tables import User

    if not is_sqlite(User._meta.db):
        await User.raw("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
