"""The server's change order: every write to a synced record takes the next server sequence numbers.

Invariant: sequence numbers become visible in the order they were handed out. `allocate` updates the
single counter row inside the writer's transaction; the row stays locked until that transaction ends,
so a later writer gets higher numbers only after the earlier one committed. A device that pulled up to
cursor N therefore never misses a change numbered below N. Callers allocate as late as possible in their
transaction, after reads and validation, to keep the lock short.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from server import clock
from server.syncing.tables import SyncCounter, Tombstone


async def allocate(count: int = 1) -> int:
    """Reserve `count` consecutive sequence numbers; returns the first. Call inside a write transaction."""
    rows = await SyncCounter.raw("UPDATE sync_counter SET value = value + {} WHERE id = 1 RETURNING value", count)
    return rows[0]["value"] - count + 1


async def record_deletion(record_type: str, record_id: UUID, owner: UUID) -> None:
    """Keep a marker of a deleted record so devices holding a copy drop it at their next pull."""
    seq = await allocate(1)
    await Tombstone.insert(Tombstone(id=uuid4(), record_type=record_type, record_id=record_id, owner=owner,
                                     server_seq=seq, deleted_at=clock.now()))
