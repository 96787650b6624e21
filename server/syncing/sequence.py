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

COUNTER = "sync_counter"
_TAKE = f"UPDATE {COUNTER} SET value = value + {{}} WHERE id = 1 RETURNING value"


async def allocate(count: int = 1) -> int:
    """Reserve `count` consecutive sequence numbers; returns the first. Call inside a write transaction."""
    rows = await SyncCounter.raw(_TAKE, count)
    return rows[0]["value"] - count + 1


def allocate_script(count: int = 1) -> db.Script:
    """`allocate` as a step of a transaction script."""
    rows = yield db.Sql(_TAKE, [count])
    return rows[0]["value"] - count + 1


async def record_deletion(record_type: str, record_id: UUID, owner: UUID) -> None:
    """Keep a marker of a deleted record so devices holding a copy drop it at their next pull."""
    seq = await allocate(1)
    await Tombstone.insert(Tombstone(id=uuid4(), record_type=record_type, record_id=record_id, owner=owner,
                                     server_seq=seq, deleted_at=clock.now()))


def insert_numbered(table: str, columns: Sequence[str], rows: list[list], conflict: Sequence[str] = ()) -> db.Script:
    """A transaction script (see `db.run_write`): insert `rows` (values of `columns`, as the driver takes
    them: `db.driver_values`) into `table` with `server_seq` numbered from the counter, in order. Call it
    last in the transaction, after its reads and checks (`db.insert_numbered` says how each engine does
    it). With `conflict`, rows whose key exists are skipped; returns the first column of the rows
    inserted."""
    return (yield from db.insert_numbered(table, columns, rows, COUNTER, conflict))
