"""The server's change order: every write to a synced record takes the next server sequence numbers.

Invariant: sequence numbers become visible in the order they were handed out. `allocate` updates the
single counter row inside the writer's transaction; the row stays locked until that transaction ends,
so a later writer gets higher numbers only after the earlier one committed. A device that pulled up to
cursor N therefore never misses a change numbered below N. Callers allocate as late as possible in their
transaction, after reads and validation, to keep the lock short; `insert_numbered` takes the numbers in
the insert itself (on PostgreSQL one statement), so only the insert and the commit run under that lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID, uuid4

from server import clock, db
from server.syncing.tables import SyncCounter, Tombstone

# PostgreSQL's limit is 32,767 parameters per statement, SQLite's (since 3.32) 32,766.
_MAX_PARAMETERS = 30_000


async def allocate(count: int = 1) -> int:
    """Reserve `count` consecutive sequence numbers; returns the first. Call inside a write transaction."""
    rows = await SyncCounter.raw("UPDATE sync_counter SET value = value + {} WHERE id = 1 RETURNING value", count)
    return rows[0]["value"] - count + 1


async def record_deletion(record_type: str, record_id: UUID, owner: UUID) -> None:
    """Keep a marker of a deleted record so devices holding a copy drop it at their next pull."""
    seq = await allocate(1)
    await Tombstone.insert(Tombstone(id=uuid4(), record_type=record_type, record_id=record_id, owner=owner,
                                     server_seq=seq, deleted_at=clock.now()))


def insert_numbered(table: str, columns: Sequence[str], rows: list[list], sqlite: bool) -> db.Script:
    """A transaction script (see `db.run_write`): insert `rows` (values of `columns`, as the driver takes
    them: `db.driver_values`) into `table` with `server_seq` numbered from the counter, in order. Call it
    last in the transaction, after its reads and checks. On PostgreSQL the counter update is a CTE of the
    multi-row INSERT: one round trip takes the numbers and writes the rows."""
    count = len(rows)
    if not count:
        return
    names = ", ".join(f'"{c}"' for c in columns) + ', "server_seq"'
    one = "(" + ", ".join("{}" for _c in columns)
    if sqlite or count * len(columns) > _MAX_PARAMETERS:
        # SQLite: the numbers first, then multi-row INSERTs (not executemany: every statement step lets go
        # of the GIL, and the database thread must win it back from the busy event loop's thread).
        taken = yield db.Sql("UPDATE sync_counter SET value = value + {} WHERE id = 1 RETURNING value", [count])
        first = taken[0]["value"] - count + 1
        step = _MAX_PARAMETERS // (len(columns) + 1)
        for start in range(0, count, step):
            chunk = rows[start:start + step]
            values = ", ".join(f"{one}, {{}})" for _row in chunk)
            yield db.Sql(f'INSERT INTO "{table}" ({names}) VALUES {values}',
                         [v for k, row in enumerate(chunk, start=start) for v in (*row, first + k)])
        return
    # The count and offsets are numbers made here, not input: safe to inline.
    values = ", ".join(f"{one}, (SELECT value FROM taken) - {count - 1 - k})" for k in range(count))
    yield db.Sql(
        f"WITH taken AS (UPDATE sync_counter SET value = value + {int(count)} WHERE id = 1 RETURNING value) "
        f'INSERT INTO "{table}" ({names}) VALUES {values}',
        [v for row in rows for v in row],
    )
