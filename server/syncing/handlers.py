"""What each kind of synced mutation does: one handler per kind, registered here.

Invariant: a handler's `prepare` is pure (validation and row building, no database), so the reconciler
runs it before taking any lock; its `apply` is a transaction script (`db.Script`) run inside the push's
one transaction, and answers one `Result` per prepared item, in order, passing through the items that
`prepare` rejected. Neither decides ordering or duplicates of seqs: that is `sync.rules`, in the
reconciler (`services.push`).

A new synced record kind is one `register(...)` line here over its service's `prepare_many` and
`apply_script` (plus its table, migration and the kind in `sync.protocol.MUTATION_KINDS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from server import db
from server.accounts.permissions import Actor
from server.customers import services as customers
from server.reports import services as reports
from server.visits import services as visits
from server.web import Arrival

# (client record id, payload, how it arrived): what `prepare` gets per mutation.
Item = tuple[UUID | None, dict, Arrival]
Prepare = Callable[[Actor, list[Item]], list[Any]]
Apply = Callable[[Actor, list[Any]], db.Script]


@dataclass(frozen=True)
class Handler:
    kind: str
    prepare: Prepare  # per item: a rejected Result, or what `apply` needs (pure Python)
    apply: Apply  # a transaction script answering list[Result], one per prepared item


HANDLERS: dict[str, Handler] = {}


def register(kind: str, prepare: Prepare, apply: Apply) -> None:
    if kind in HANDLERS:
        raise ValueError(f"a handler for {kind!r} is registered already")
    HANDLERS[kind] = Handler(kind, prepare, apply)


register("visit.create", visits.prepare_many, visits.apply_script)
register("customer.create", customers.prepare_many, customers.apply_script)
register("report.save", reports.prepare_many, reports.apply_script)
