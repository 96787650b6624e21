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


async def _lock_device(actor: Actor, device_id: UUID, user_agent: str) -> tuple[int, datetime | None]:
    """The device's last seq and last-seen time, with its row locked for this transaction; registers a
    new device. A known device (every push but its first) costs one query."""
    lock = "" if db.is_sqlite(Device._meta.db) else " FOR UPDATE"
    select = f'SELECT "user", last_seq, last_seen_at FROM device WHERE id = {{}}{lock}'
    rows = await Device.raw(select, device_id)
    if not rows:
        now = clock.now()
        user = "user" if db.is_sqlite(Device._meta.db) else '"user"'
        await Device.raw(
            f"INSERT INTO device (id, {user}, last_seq, user_agent, created_at, last_seen_at) "
            "VALUES ({}, {}, 0, {}, {}, {}) ON CONFLICT (id) DO NOTHING",
            device_id, actor.id, user_agent[:300], now, now,
        )
        rows = await Device.raw(select, device_id)
    if rows[0]["user"] != actor.id:
        # Someone else's device id: refuse the whole push, touch nothing.
        raise PermissionDeniedException(_("This device is registered to another user."))
    last_seen = rows[0]["last_seen_at"]
    return rows[0]["last_seq"], last_seen if isinstance(last_seen, datetime) else None


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


async def push(actor: Actor, request: PushRequest, user_agent: str = "") -> dict[str, Any]:
    """Apply a push; the reply has one result per mutation, in seq order."""
    received_at = clock.now()
    skew = request.clock_skew_seconds(received_at)
    by_seq = {m.seq: m for m in request.mutations}
    async with db.write_transaction():
        last_seq, last_seen = await _lock_device(actor, request.device_id, user_agent)
        plan = plan_batch(last_seq, list(by_seq))
        outcome: dict[int, Result] = {}
        to_process = [by_seq[seq] for seq, o in plan if o is Outcome.PROCESS]
        for m in to_process:
            if m.malformed:
                outcome[m.seq] = Result("rejected", m.record_id, {m.malformed: _("This change could not be read.")})
        runnable = [m for m in to_process if not m.malformed]
        for kind, group in groupby(runnable, key=lambda m: m.kind):
            run = list(group)
            for m, result in zip(run, await _apply_run(actor, kind, run, received_at, skew)):
                outcome[m.seq] = result
        for seq, o in plan:
            if o is Outcome.DUPLICATE:
                outcome[seq] = Result("duplicate", by_seq[seq].record_id)
            elif o is Outcome.RETRY:
                outcome[seq] = Result("retry", by_seq[seq].record_id)
        new_last = new_last_seq(last_seq, plan)
        if new_last != last_seq or last_seen is None or abs(received_at - last_seen) >= LAST_SEEN_RESOLUTION:
            await Device.update({Device.last_seq: new_last, Device.last_seen_at: received_at}).where(
                Device.id == request.device_id
            )
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
                   Customer.owner, Customer.server_seq)
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
            rows = await query.order_by(getattr(query.table, "server_seq")).limit(limit + 1)
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
