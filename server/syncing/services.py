"""The reconciler: applies a device's pushed mutations exactly once, in order; serves pulls by cursor.

One path for every push. (1) Without any lock: read the device's row (a replay of seqs it processed
already is answered from that read, with no write at all) and prepare the mutations above its last seq
through their kind's handler (`handlers.py`: pure validation and row building). (2) One transaction
script (`db.run_write`; on SQLite, group commit with the pushes arriving together) that locks the
device's row, plans the batch with `sync.rules.plan_batch` against the stored last seq, advances it,
and applies the mutations to process in runs of one kind, each run one handler's script (one set-based
write, which takes its server sequence numbers last). Either all of that commits or none of it does, so a
push that dies half way leaves nothing half applied, and its retry is processed as if it were the first.

A mutation whose handler fails unexpectedly (in prepare or apply) is that mutation's `rejected`, logged
with its record id and seq: the push's transaction is rolled back and run again with each mutation in a
savepoint of its own, so the rest of the batch applies and the device's last seq moves on. Transient database faults (a lost
connection, a restart, a lock timeout, a serialization failure) are never a rejection: the whole push
answers 503 and the device sends it again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any
from uuid import UUID

from litestar.exceptions import PermissionDeniedException, ServiceUnavailableException

from server import clock, db
from server.accounts.permissions import Actor, visible_rep_ids
from server.customers.tables import Customer
from server.i18n import _
from server.reports import services as reports
from server.reports.tables import Report
from server.syncing.handlers import HANDLERS
from server.syncing.tables import Tombstone
from server.visits import services as visits
from server.visits.tables import Visit
from server.web import Arrival, Conflict, FieldErrors, Result
from sync.protocol import PROTOCOL_VERSION, SCHEMA_VERSION, SKEW_TOLERANCE_SECONDS, Mutation, PushRequest
from sync.rules import Outcome, new_last_seq, plan_batch

log = logging.getLogger(__name__)

PULL_WINDOW_DAYS = 90
# A device's last_seen_at is kept to this resolution: a push that changes nothing else (a replay of
# duplicates) within it writes nothing, and is answered without the write lock.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
MAX_PULL = 1000
# What a push that met a transient database fault (answered 503) tells the device to wait.
RETRY_AFTER_SECONDS = 5

_DEVICE = 'SELECT "user", last_seq, last_seen_at FROM device WHERE id = {}'


def _read_device(device_id: UUID) -> db.Script:
    return (yield db.Sql(_DEVICE, [device_id]))


def _lock_device(actor: Actor, device_id: UUID, user_agent: str) -> db.Script:
    """A transaction script: the device's last seq and last-seen time, with its row locked for this
    transaction; registers a new device. A known device (every push but its first) costs one query."""
    select = _DEVICE + db.for_update()
    rows = yield db.Sql(select, [device_id])
    if not rows:
        now = clock.now()
        yield db.Sql(db.insert_or_ignore("device", ("id", "user", "last_seq", "user_agent", "created_at",
                                                    "last_seen_at"), ["id"]),
                     [device_id, actor.id, 0, user_agent[:300], now, now])
        rows = yield db.Sql(select, [device_id])
    _check_owner(actor, rows[0]["user"])
    last_seen = rows[0]["last_seen_at"]
    return rows[0]["last_seq"], last_seen if isinstance(last_seen, datetime) else None


def _check_owner(actor: Actor, user: Any) -> None:
    if db.as_uuid(user) != actor.id:
        # Someone else's device id: refuse the whole push, touch nothing.
        raise PermissionDeniedException(_("This device is registered to another user."))


def _touch_device(device_id: UUID, new_last: int, last_seq: int, last_seen: datetime | None,
                  received_at: datetime) -> db.Script:
    """Advance the device's last seq; its last-seen time only to LAST_SEEN_RESOLUTION."""
    if new_last != last_seq or last_seen is None or abs(received_at - last_seen) >= LAST_SEEN_RESOLUTION:
        yield db.Sql("UPDATE device SET last_seq = {}, last_seen_at = {} WHERE id = {}",
                     [new_last, received_at, device_id])


def _unread(m: Mutation) -> Result:
    return Result("rejected", m.record_id, {m.malformed or "": _("This change could not be read.")})


def _failed(m: Mutation, stage: str, device_id: UUID, error: BaseException) -> Result:
    """An unexpected failure of one mutation's handler: logged, answered `rejected` (the queue moves on)."""
    log.error("sync: %s of mutation seq %s (%s, record %s, device %s) failed; answered rejected",
              stage, m.seq, m.kind, m.record_id, device_id, exc_info=error)
    return Result("rejected", m.record_id, {"": _("The server could not apply this change.")})


class _Push:
    """One push being reconciled: the request, when it arrived, and its mutations prepared by seq."""

    def __init__(self, actor: Actor, request: PushRequest, user_agent: str):
        self.actor = actor
        self.request = request
        self.user_agent = user_agent
        self.received_at = clock.now()
        self.skew = request.clock_skew_seconds(self.received_at)
        self.by_seq = {m.seq: m for m in request.mutations}
        self.prepared: dict[int, Any] = {}
        # Whether each mutation is applied in a savepoint of its own (the retry of a push that failed).
        self.careful = False

    def arrival(self, m: Mutation) -> Arrival:
        return Arrival(m.client_time, self.received_at, self.skew)

    def prepare(self, mutations: list[Mutation]) -> None:
        """Each readable mutation through its kind's handler, without the database (before any lock). A
        handler that raises is retried one mutation at a time, so only the one that fails is rejected."""
        readable = sorted((m for m in mutations if not m.malformed and m.seq not in self.prepared),
                          key=lambda m: (m.kind, m.seq))
        for kind, group in groupby(readable, key=lambda m: m.kind):
            run = list(group)
            handler = HANDLERS.get(kind)
            if handler is None:  # a kind the protocol reads but this server does not handle
                for m in run:
                    self.prepared[m.seq] = Result("rejected", m.record_id, {"kind": _("This change could not be read.")})
                continue
            try:
                values = handler.prepare(self.actor, [(m.record_id, m.payload, self.arrival(m)) for m in run])
            except Exception:  # noqa: BLE001 - a handler's bug: find the mutation that causes it
                values = []
                for m in run:
                    try:
                        values.extend(handler.prepare(self.actor, [(m.record_id, m.payload, self.arrival(m))]))
                    except Exception as e:  # noqa: BLE001 - this mutation is rejected, the others go on
                        values.append(_failed(m, "prepare", self.request.device_id, e))
            self.prepared.update(zip((m.seq for m in run), values))

    def apply_run(self, kind: str, run: list[Mutation]) -> db.Script:
        """One run of mutations of one kind through its handler's script: as one set-based call, or, when
        the push is run `careful`ly (its first attempt failed), one mutation at a time, each in a savepoint
        of its own, so only the failing one is rejected. Transient faults are raised either way: they fail
        the whole push (a retry)."""
        handler = HANDLERS[kind]
        values = [self.prepared[m.seq] for m in run]
        if not self.careful:
            return (yield from handler.apply(self.actor, values))
        results: list[Result] = []
        for m, value in zip(run, values):
            try:
                results.extend((yield from db.savepoint("sync_one", handler.apply(self.actor, [value]))))
            except Exception as e:
                if db.is_transient(e):
                    raise
                results.append(self._as_result(m, e))
        return results

    def _as_result(self, m: Mutation, error: Exception) -> Result:
        if isinstance(error, FieldErrors):
            return Result("rejected", m.record_id, error.errors)
        if isinstance(error, Conflict):
            return Result("conflict", m.record_id, {"": error.message})
        return _failed(m, "apply", self.request.device_id, error)

    def script(self) -> db.Script:
        """The push's one transaction: lock the device, plan, advance it, apply the runs."""
        request = self.request
        last_seq, last_seen = yield from _lock_device(self.actor, request.device_id, self.user_agent)
        plan = plan_batch(last_seq, list(self.by_seq))
        new_last = new_last_seq(last_seq, plan)
        yield from _touch_device(request.device_id, new_last, last_seq, last_seen, self.received_at)
        to_process = [self.by_seq[seq] for seq, o in plan if o is Outcome.PROCESS]
        self.prepare(to_process)  # only those the read before the lock did not see (another push moved on)
        outcome: dict[int, Result] = {}
        runnable = []
        for m in to_process:
            value = self.prepared.get(m.seq)
            if m.malformed:
                outcome[m.seq] = _unread(m)
            elif isinstance(value, Result):
                outcome[m.seq] = value
            else:
                runnable.append(m)
        for kind, group in groupby(runnable, key=lambda m: m.kind):
            run = list(group)
            for m, result in zip(run, (yield from self.apply_run(kind, run))):
                outcome[m.seq] = result
        return plan, outcome, new_last


def _settle(plan: list, by_seq: dict[int, Mutation], outcome: dict[int, Result]) -> None:
    for seq, o in plan:
        if o is Outcome.DUPLICATE:
            outcome[seq] = Result("duplicate", by_seq[seq].record_id)
        elif o is Outcome.RETRY:
            outcome[seq] = Result("retry", by_seq[seq].record_id)


async def push(actor: Actor, request: PushRequest, user_agent: str = "") -> dict[str, Any]:
    """Apply a push; the reply has one result per mutation, in seq order."""
    work = _Push(actor, request, user_agent)
    if request.schema > SCHEMA_VERSION:
        # The client was built for data this server does not know yet: nothing is applied, the client keeps
        # its queue until the server is updated.
        return {"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION, "status": "update_required",
                "update": "server",
                "detail": _("The server is older than this app. Nothing you logged is lost: it is kept on this "
                            "device until the server is updated.")}
    try:
        rows = await db.run_read(_read_device(request.device_id))
        last_seq = 0
        plan = None
        if rows:
            _check_owner(actor, rows[0]["user"])
            last_seq, last_seen = rows[0]["last_seq"], rows[0]["last_seen_at"]
            if (all(m.seq <= last_seq for m in request.mutations) and isinstance(last_seen, datetime)
                    and abs(work.received_at - last_seen) < LAST_SEEN_RESOLUTION):
                # A resend of what was processed already (a lost reply): all duplicates, and the device row
                # is recent enough to need no update, so nothing is written and no lock is taken.
                plan, outcome, new_last = plan_batch(last_seq, list(work.by_seq)), {}, last_seq
        if plan is None:
            work.prepare([m for m in request.mutations if m.seq > last_seq])
            try:
                plan, outcome, new_last = await db.run_write(work.script())
            except PermissionDeniedException:
                raise
            except Exception as e:
                if db.is_transient(e):
                    raise
                # A mutation's handler failed: the push's transaction rolled back whole. Run it again with
                # each mutation in a savepoint of its own, so only the failing ones are rejected. (No
                # savepoints on the first attempt: on PostgreSQL each costs round trips every push.)
                work.careful = True
                plan, outcome, new_last = await db.run_write(work.script())
    except (PermissionDeniedException, ServiceUnavailableException):
        raise
    except Exception as e:
        if db.is_transient(e):
            log.warning("sync: push of device %s met a transient database fault: %r", request.device_id, e)
            raise ServiceUnavailableException(_("The server is busy; your changes are kept and sent again.")) from e
        raise
    _settle(plan, work.by_seq, outcome)
    return {
        "protocol": PROTOCOL_VERSION,
        "schema": SCHEMA_VERSION,
        "status": "ok",
        "last_seq": new_last,
        "clock_skew_s": work.skew,
        "clock_skew_flagged": work.skew is not None and abs(work.skew) > SKEW_TOLERANCE_SECONDS,
        "results": [
            {
                "seq": seq,
                "record_id": str(outcome[seq].record_id) if outcome[seq].record_id else None,
                "status": outcome[seq].status,
                **({"errors": outcome[seq].errors} if outcome[seq].errors else {}),
            }
            for seq, _o in plan
        ],
    }


CUSTOMER_FIELDS = (Customer.id, Customer.name, Customer.contact_name, Customer.phone, Customer.address,
                   Customer.owner, Customer.latitude, Customer.longitude, Customer.server_seq)
VISIT_FIELDS = (*visits.LIST_COLUMNS, Visit.server_seq, Visit.customer.name.as_alias("customer_name"))
REPORT_FIELDS = (*reports.COLUMNS, Report.server_seq)


async def pull(actor: Actor, cursor: int, limit: int) -> dict[str, Any]:
    """Changes after `cursor` in the actor's offline data set (their customers, 90 days of visits and
    reports, deletions), oldest first, read from one snapshot. `more` says another page is waiting."""
    limit = max(1, min(limit, MAX_PULL))
    rep_ids = await visible_rep_ids(actor)
    horizon = clock.today() - timedelta(days=PULL_WINDOW_DAYS)
    # A read transaction: one snapshot for every query of the page (SQLite's BEGIN gives one; PostgreSQL
    # needs REPEATABLE READ, set by read_snapshot). It takes no write lock.
    async with Customer._meta.db.transaction():
        await db.read_snapshot()

        def scoped(query, column):
            if rep_ids is None:
                return query
            return query.where(column.is_in(rep_ids)) if rep_ids else None

        sources: list[tuple[int, str, dict]] = []
        visits_since = (Visit.server_seq > cursor) & (Visit.visit_date >= horizon)
        reports_since = (Report.server_seq > cursor) & (Report.period_start >= horizon)
        tombstones = Tombstone.select(Tombstone.record_type, Tombstone.record_id, Tombstone.server_seq)
        queries = [
            ("customer", scoped(Customer.select(*CUSTOMER_FIELDS).where(Customer.server_seq > cursor), Customer.owner)),
            ("visit", scoped(Visit.select(*VISIT_FIELDS).where(visits_since), Visit.rep)),
            ("report", scoped(Report.select(*REPORT_FIELDS).where(reports_since), Report.rep)),
            ("tombstone", scoped(tombstones.where(Tombstone.server_seq > cursor), Tombstone.owner)),
        ]
        for name, query in queries:
            if query is None:
                continue
            rows = await query.order_by(query.table.server_seq).limit(limit + 1)
            sources.extend((row["server_seq"], name, row) for row in rows)
    sources.sort(key=lambda item: item[0])
    page, more = sources[:limit], len(sources) > limit
    changes = []
    for seq, name, row in page:
        if name == "tombstone":
            changes.append({"seq": seq, "type": row["record_type"], "id": str(row["record_id"]), "op": "delete"})
        else:
            changes.append({"seq": seq, "type": name, "id": str(row["id"]), "op": "upsert", "data": row})
    next_cursor = page[-1][0] if page else cursor
    return {"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION, "cursor": next_cursor, "more": more,
            "changes": changes}
