"""The reconciler: applies a device's pushed mutations exactly once, in order; serves pulls by cursor.

Each push runs in one write transaction that (1) locks the device's row, (2) plans the batch with
`sync.rules.plan_batch` against the stored last seq, (3) applies the mutations to process through the
same domain services the HTML forms use, grouped into runs of one kind so each run is one set-based write,
and (4) advances the device's last seq. Either all of that commits or none of it does, so a push that
dies half way (a killed process, a lost connection) leaves nothing half applied, and its retry is
processed as if it were the first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import groupby
from typing import Any
from uuid import UUID

from litestar.exceptions import PermissionDeniedException

from server import clock, db
from server.accounts.permissions import Actor, visible_rep_ids
from server.customers import services as customers
from server.customers.tables import Customer
from server.i18n import _
from server.reports import services as reports
from server.reports.tables import Report
from server.syncing.tables import Device, Tombstone
from server.visits import services as visits
from server.visits.tables import Visit
from server.web import Arrival, Conflict, FieldErrors, Result
from sync.protocol import PROTOCOL_VERSION, SCHEMA_VERSION, SKEW_TOLERANCE_SECONDS, Mutation, PushRequest
from sync.rules import Outcome, new_last_seq, plan_batch

PULL_WINDOW_DAYS = 90
# A device's last_seen_at is kept to this resolution: a push that changes nothing else (a replay of
# duplicates) within it writes nothing, so its transaction commits without a disk flush.
LAST_SEEN_RESOLUTION = timedelta(seconds=60)
MAX_PULL = 1000


def _lock_device(actor: Actor, device_id: UUID, user_agent: str, sqlite: bool) -> db.Script:
    """A transaction script: the device's last seq and last-seen time, with its row locked for this
    transaction; registers a new device. A known device (every push but its first) costs one query."""
    select = _DEVICE + ("" if sqlite else " FOR UPDATE")
    rows = yield db.Sql(select, [device_id])
    if not rows:
        now = clock.now()
        yield db.Sql(
            'INSERT INTO device (id, "user", last_seq, user_agent, created_at, last_seen_at) '
            "VALUES ({}, {}, 0, {}, {}, {}) ON CONFLICT (id) DO NOTHING",
            [device_id, actor.id, user_agent[:300], now, now],
        )
        rows = yield db.Sql(select, [device_id])
    _check_owner(actor, rows[0]["user"])
    last_seen = rows[0]["last_seen_at"]
    return rows[0]["last_seq"], last_seen if isinstance(last_seen, datetime) else None


_DEVICE = 'SELECT "user", last_seq, last_seen_at FROM device WHERE id = {}'


def _read_device(device_id: UUID) -> db.Script:
    return (yield db.Sql(_DEVICE, [device_id]))


def _check_owner(actor: Actor, user) -> None:
    if db.as_uuid(user) != actor.id:
        # Someone else's device id: refuse the whole push, touch nothing.
        raise PermissionDeniedException(_("This device is registered to another user."))


def _touch_device(device_id: UUID, new_last: int, last_seq: int, last_seen: datetime | None,
                  received_at: datetime) -> db.Script:
    """Advance the device's last seq; its last-seen time only to LAST_SEEN_RESOLUTION."""
    if new_last != last_seq or last_seen is None or abs(received_at - last_seen) >= LAST_SEEN_RESOLUTION:
        yield db.Sql("UPDATE device SET last_seq = {}, last_seen_at = {} WHERE id = {}",
                     [new_last, received_at, device_id])


async def _apply_run(actor: Actor, kind: str, run: list[Mutation], received_at, skew: int | None) -> list[Result]:
    items = [(m.record_id, m.payload, Arrival(m.client_time, received_at, skew)) for m in run]
    if kind == "visit.create":
        return await visits.create_many(actor, items)
    if kind == "customer.create":
        return await customers.create_many(actor, items)
    results = []
    for m, (_rid, _payload, arrival) in zip(run, items):  # report.save: a few per day, one at a time
        payload = {**m.payload, "id": str(m.record_id)}
        try:
            rid, outcome = await reports.save(actor, payload, bool(m.payload.get("submit")), arrival)
            results.append(Result("duplicate" if outcome == "unchanged" else "applied", rid))
        except FieldErrors as e:
            results.append(Result("rejected", m.record_id, e.errors))
        except Conflict as e:
            results.append(Result("conflict", m.record_id, {"": e.message}))
    return results


def _unread(m: Mutation) -> Result:
    return Result("rejected", m.record_id, {m.malformed: _("This change could not be read.")})


def _settle(plan, by_seq: dict[int, Mutation], outcome: dict[int, Result]) -> None:
    for seq, o in plan:
        if o is Outcome.DUPLICATE:
            outcome[seq] = Result("duplicate", by_seq[seq].record_id)
        elif o is Outcome.RETRY:
            outcome[seq] = Result("retry", by_seq[seq].record_id)


class _NotOnlyVisits(Exception):
    """The fast path met a mutation to process that is not a visit (its hint of the device's last seq
    was behind): the transaction is rolled back and the push runs on the general path."""


def _visit_push(actor: Actor, request: PushRequest, by_seq: dict[int, Mutation], user_agent: str,
                received_at: datetime, skew: int | None, prepared: dict[int, Any], sqlite: bool) -> db.Script:
    """A push whose mutations to process are all visits, validated beforehand (`prepared`, by seq), as
    one transaction script: lock the device, plan, advance the device, then the visits' one check query
    and one numbered insert, so the server sequence is taken last."""
    last_seq, last_seen = yield from _lock_device(actor, request.device_id, user_agent, sqlite)
    plan = plan_batch(last_seq, list(by_seq))
    outcome: dict[int, Result] = {}
    runnable = []
    for seq, o in plan:
        if o is Outcome.PROCESS:
            m = by_seq[seq]
            if m.malformed:
                outcome[seq] = _unread(m)
            elif m.kind != "visit.create":
                raise _NotOnlyVisits()
            else:
                runnable.append(m)
    missing = [m for m in runnable if m.seq not in prepared]
    if missing:  # not validated beforehand (the hint was behind): validate here
        items = [(m.record_id, m.payload, Arrival(m.client_time, received_at, skew)) for m in missing]
        prepared = {**prepared, **dict(zip((m.seq for m in missing), visits.prepare_many(actor, items, sqlite)))}
    new_last = new_last_seq(last_seq, plan)
    yield from _touch_device(request.device_id, new_last, last_seq, last_seen, received_at)
    if runnable:
        results = yield from visits.apply_script(actor, [prepared[m.seq] for m in runnable], sqlite)
        for m, result in zip(runnable, results):
            outcome[m.seq] = result
    _settle(plan, by_seq, outcome)
    return plan, outcome, new_last


# The last seq this process saw committed for recent devices. Only ever a lower bound of the stored
# value (which only grows; other processes may have moved it further), used to pick the mutations worth
# validating before the write lock; the transaction itself always reads the device row.
_LAST_SEQ_HINTS: dict[UUID, int] = {}
_MAX_HINTS = 10_000


def _remember(device_id: UUID, last_seq: int) -> None:
    _LAST_SEQ_HINTS.pop(device_id, None)
    _LAST_SEQ_HINTS[device_id] = last_seq
    if len(_LAST_SEQ_HINTS) > _MAX_HINTS:
        del _LAST_SEQ_HINTS[next(iter(_LAST_SEQ_HINTS))]


async def push(actor: Actor, request: PushRequest, user_agent: str = "") -> dict[str, Any]:
    """Apply a push; the reply has one result per mutation, in seq order."""
    received_at = clock.now()
    skew = request.clock_skew_seconds(received_at)
    by_seq = {m.seq: m for m in request.mutations}
    sqlite = db.is_sqlite(Device._meta.db)
    # Only mutations above the device's last seq can be processed; those are validated before the lock.
    hint = _LAST_SEQ_HINTS.get(request.device_id, 0)
    pending = [m for m in request.mutations if m.seq > hint and not m.malformed]
    plan = None
    if hint and all(m.seq <= hint for m in request.mutations):
        # A resend of what was processed already (a lost reply): all duplicates, which reading the device
        # row confirms without the write lock, unless its last-seen time is due for an update.
        rows = await db.run_read(_read_device(request.device_id))
        if rows:
            _check_owner(actor, rows[0]["user"])
            last_seq, last_seen = rows[0]["last_seq"], rows[0]["last_seen_at"]
            if isinstance(last_seen, datetime) and abs(received_at - last_seen) < LAST_SEEN_RESOLUTION:
                plan = plan_batch(last_seq, list(by_seq))
                if all(o is Outcome.DUPLICATE for _seq, o in plan):
                    outcome = {}
                    _settle(plan, by_seq, outcome)
                    new_last = last_seq
                else:
                    plan = None
    if plan is None and all(m.kind == "visit.create" for m in pending):
        # The common push (a rep's logged visits): validated here, then one transaction script, which on
        # SQLite is one trip to the database thread holding the write lock only for the database's work.
        items = [(m.record_id, m.payload, Arrival(m.client_time, received_at, skew)) for m in pending]
        prepared = dict(zip((m.seq for m in pending), visits.prepare_many(actor, items, sqlite)))
        try:
            plan, outcome, new_last = await db.run_write(
                _visit_push(actor, request, by_seq, user_agent, received_at, skew, prepared, sqlite))
        except _NotOnlyVisits:
            plan = None
    if plan is None:
        async with db.write_transaction():
            last_seq, last_seen = await db.run_script(_lock_device(actor, request.device_id, user_agent, sqlite))
            plan = plan_batch(last_seq, list(by_seq))
            outcome = {}
            to_process = [by_seq[seq] for seq, o in plan if o is Outcome.PROCESS]
            for m in to_process:
                if m.malformed:
                    outcome[m.seq] = _unread(m)
            runnable = [m for m in to_process if not m.malformed]
            for kind, group in groupby(runnable, key=lambda m: m.kind):
                run = list(group)
                for m, result in zip(run, await _apply_run(actor, kind, run, received_at, skew)):
                    outcome[m.seq] = result
            _settle(plan, by_seq, outcome)
            new_last = new_last_seq(last_seq, plan)
            await db.run_script(_touch_device(request.device_id, new_last, last_seq, last_seen, received_at))
    _remember(request.device_id, new_last)
    return {
        "protocol": PROTOCOL_VERSION,
        "schema": SCHEMA_VERSION,
        "status": "ok",
        "last_seq": new_last,
        "clock_skew_s": skew,
        "clock_skew_flagged": skew is not None and abs(skew) > SKEW_TOLERANCE_SECONDS,
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

        sources = []
        queries = [
            ("customer", scoped(Customer.select(*CUSTOMER_FIELDS).where(Customer.server_seq > cursor), Customer.owner)),
            ("visit", scoped(Visit.select(*VISIT_FIELDS).where((Visit.server_seq > cursor) & (Visit.visit_date >= horizon)), Visit.rep)),
            ("report", scoped(Report.select(*REPORT_FIELDS).where((Report.server_seq > cursor) & (Report.period_start >= horizon)), Report.rep)),
            ("tombstone", scoped(Tombstone.select(Tombstone.record_type, Tombstone.record_id, Tombstone.server_seq).where(Tombstone.server_seq > cursor), Tombstone.owner)),
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
