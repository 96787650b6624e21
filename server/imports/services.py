"""CSV imports of customers, orders and collections from the ERP: preview and run.

Admin only: an import writes company-wide data (any rep's customers, orders and splits) that the ERP
owns, so it is not a manager's or a rep's action.

The file goes through three steps:
1. Pure parsing (server/imports/parsing.py, no database): decode, read the table, map the headers, parse cells.
2. Pure planning (server/imports/planning.py), given lookups this module loads in a few set-based reads.
3. `run` applies a plan as one write transaction in a background task, reporting progress outside it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field, fields
from datetime import datetime, time
from typing import Any
from uuid import UUID, uuid4

from litestar.exceptions import NotFoundException

from server import clock, db
from server.accounts.permissions import Actor, require_role
from server.customers import services as customers
from server.customers.tables import Customer
from server.i18n import N_, _
from server.imports.columns import (
    COLUMNS,
    LINE_LEVEL_KINDS,
    Mapping,
    MappingIncomplete,
    group_label,
    guess_mapping,
    header_signature,
    resolve_mapping,
)
from server.imports.lookups import chunked, load_lookups
from server.imports.parsing import (
    ImportFileError,
    decode,
    nfkc,
    read_table,
)
from server.imports.planning import (
    CHANGED_COLUMN,
    Parsed,
    RowPlan,
    counts,
    plan_rows,
)
from server.imports.records import parse_file
from server.imports.tables import IMPORT_KINDS, ImportBatch, ImportSource
from server.sales import audit, corrections, credits, order_corrections, returns
from server.sales.tables import Collection, CollectionSplit, Order, OrderSplit
from server.syncing import sequence
from server.syncing.tables import Tombstone
from server.web import Conflict, FieldErrors

log = logging.getLogger("fieldpace.imports")
PREVIEW_ROWS = 200  # rows shown on the preview page (errors first)
CHUNK = 500  # rows applied between two progress reports

KIND_LABELS = {"customers": N_("Customers"), "orders": N_("Orders"), "collections": N_("Collections")}
STATUS_LABELS = {"previewed": N_("Previewed"), "running": N_("Running"), "done": N_("Done"), "failed": N_("Failed")}
ACTION_LABELS = {"create": N_("Create"), "update": N_("Update"), "unchanged": N_("Unchanged"), "skip": N_("Skipped"),
                 "error": N_("Error")}


# ------------------------------------------------------------------------------------ database reads


async def plan_text(kind: str, text: str, mapping: Mapping | None = None) -> tuple[Parsed, list[RowPlan]]:
    parsed = parse_file(kind, text, mapping)
    return parsed, plan_rows(parsed, await load_lookups(parsed))


# ------------------------------------------------------------------------------------ pages' services


def require_admin(actor: Actor) -> None:
    # Imports write company-wide ERP data (any rep's customers, orders and splits): admin only.
    require_role(actor, "admin")


BATCH_COLUMNS = (
    ImportBatch.id, ImportBatch.kind, ImportBatch.filename, ImportBatch.sha256, ImportBatch.encoding,
    ImportBatch.status, ImportBatch.total_rows, ImportBatch.processed_rows, ImportBatch.error_rows,
    ImportBatch.created_count, ImportBatch.updated_count, ImportBatch.unchanged_count, ImportBatch.error,
    ImportBatch.created_at, ImportBatch.finished_at, ImportBatch.mapping, ImportBatch.source_name,
    ImportBatch.skipped_count,
)


async def recent(actor: Actor, limit: int = 50) -> list[dict]:
    require_admin(actor)
    return await ImportBatch.select(*BATCH_COLUMNS, ImportBatch.created_by.display_name.as_alias("by_name")).order_by(
        ImportBatch.created_at, ascending=False).limit(limit)


async def sources(actor: Actor, kind: str | None = None) -> list[dict]:
    """The saved sources (named ERP exports and their mappings), of one kind or all."""
    require_admin(actor)
    query = ImportSource.select(ImportSource.id, ImportSource.kind, ImportSource.name, ImportSource.updated_at)
    if kind:
        query = query.where(ImportSource.kind == kind)
    return await query.order_by(ImportSource.name)


async def _choose_mapping(kind: str, headers: list[str], source_name: str) -> tuple[Mapping, str]:
    """The mapping a new file is read with, and the source it comes from: the named source's, else the
    source saved from a file with the same headers, else a guess from the headers' known names."""
    if source_name:
        row = await ImportSource.select(ImportSource.mapping).where(
            (ImportSource.kind == kind) & (ImportSource.name == source_name)).first()
        mapping = Mapping.loads(row["mapping"]) if row else None
        if mapping is not None:
            return mapping, source_name
    row = await ImportSource.select(ImportSource.name, ImportSource.mapping).where(
        (ImportSource.kind == kind) & (ImportSource.headers == header_signature(headers))).order_by(
        ImportSource.updated_at, ascending=False).first()
    mapping = Mapping.loads(row["mapping"]) if row else None
    if row and mapping is not None:
        return mapping, row["name"]
    return guess_mapping(kind, headers), source_name


async def _tally(kind: str, text: str, mapping: Mapping) -> dict:
    """The batch's counts under `mapping` (an incomplete mapping: every row counts as an error)."""
    try:
        _parsed, plans = await plan_text(kind, text, mapping)
    except MappingIncomplete:
        rows = len(read_table(text).rows)
        return {"total_rows": rows, "error_rows": rows, "created_count": 0, "updated_count": 0, "unchanged_count": 0,
                "skipped_count": 0}
    tally = counts(plans)
    return {"total_rows": len(plans), "error_rows": tally["error"], "created_count": tally["create"],
            "updated_count": tally["update"], "unchanged_count": tally["unchanged"], "skipped_count": tally["skip"]}


async def preview(actor: Actor, kind: str, filename: str, data: bytes, source_name: str = "") -> UUID:
    """Decode, parse and plan a file; keep it as a "previewed" batch (nothing else is written). A file whose
    columns are not all mapped yet is kept too: its page asks for the mapping."""
    require_admin(actor)
    if kind not in IMPORT_KINDS:
        raise FieldErrors({"kind": _("Choose what the file holds.")})
    source_name = nfkc(source_name)[:100]
    try:
        text, encoding = decode(data)
        table = read_table(text)
        if not table.rows:
            raise ImportFileError(_("The file has a header row but no data rows."))
        mapping, source_name = await _choose_mapping(kind, table.headers, source_name)
        tally = await _tally(kind, text, mapping)
    except ImportFileError as e:
        raise FieldErrors({"file": e.message}) from None
    batch_id = uuid4()
    await ImportBatch.insert(ImportBatch(
        id=batch_id, kind=kind, filename=(filename or "")[-200:], sha256=hashlib.sha256(data).hexdigest(),
        encoding=encoding, content=text, status="previewed", processed_rows=0, error="", created_by=actor.id,
        created_at=clock.now(), mapping=mapping.dumps(), source_name=source_name, **tally,
    ))
    return batch_id


async def remap(actor: Actor, batch_id: UUID, form: dict[str, str]) -> None:
    """The admin's mapping of a previewed batch's headers (`col-<key>`: a header's position, or empty;
    `line_level`; `source`: a name to save it under, reused for the next file of that source)."""
    batch = await get(actor, batch_id)
    if batch["status"] not in ("previewed", "failed"):
        raise Conflict(_("This import has already run."))
    content = await ImportBatch.select(ImportBatch.content).where(ImportBatch.id == batch_id).first()
    text = content["content"] if content else ""
    headers = read_table(text).headers
    columns: dict[str, str] = {}
    for column in COLUMNS[batch["kind"]]:
        raw = (form.get(f"col-{column.key}") or "").strip()
        if raw.isdigit() and int(raw) < len(headers) and headers[int(raw)].strip():
            columns[column.key] = headers[int(raw)].strip()
        elif raw:
            raise FieldErrors({f"col-{column.key}": _("Choose one of the file's columns.")})
    mapping = Mapping(columns=columns, line_level=batch["kind"] in LINE_LEVEL_KINDS and bool(form.get("line_level")))
    try:
        resolve_mapping(batch["kind"], headers, mapping)
    except ImportFileError as e:
        raise FieldErrors({"mapping": e.message}) from None
    name = nfkc(form.get("source") or "")
    if len(name) > 100:
        raise FieldErrors({"source": _("At most %(n)s characters.", n=100)})
    tally = await _tally(batch["kind"], text, mapping)
    now = clock.now()
    async with db.write_transaction():
        await ImportBatch.update({**{getattr(ImportBatch, k): v for k, v in tally.items()},
                                  ImportBatch.mapping: mapping.dumps(), ImportBatch.source_name: name}).where(
            ImportBatch.id == batch_id)
        if name:
            values: dict[Any, Any] = {ImportSource.mapping: mapping.dumps(), ImportSource.headers: header_signature(headers),
                      ImportSource.updated_at: now}
            where = (ImportSource.kind == batch["kind"]) & (ImportSource.name == name)
            if await ImportSource.exists().where(where):
                await ImportSource.update(values).where(where)
            else:
                await ImportSource.insert(ImportSource({ImportSource.id: uuid4(), ImportSource.kind: batch["kind"],
                                                        ImportSource.name: name, **values}))


async def get(actor: Actor, batch_id: UUID) -> dict:
    require_admin(actor)
    row = await ImportBatch.select(*BATCH_COLUMNS, ImportBatch.created_by.display_name.as_alias("by_name")).where(
        ImportBatch.id == batch_id).first()
    if row is None:
        raise NotFoundException()
    return row


@dataclass
class ImportPreview:
    """A batch as its page shows it: the batch row and, while it can still run, its rows planned against
    the database as it is now (errors first, at most PREVIEW_ROWS), their counts and the file's shape."""

    batch: dict
    before: datetime | None = None  # when the same file (same kind) was imported before
    rows: list[RowPlan] = field(default_factory=list)
    counts: dict[str, int] | None = None
    ignored: list[str] = field(default_factory=list)  # headers that name no column
    delimiter: str = ""  # translated: comma, semicolon or tab
    file_error: str = ""
    # The column-mapping step: the file's headers, the mapping the preview used (column key -> position of
    # its header), the required columns it leaves unmapped, and the sources saved for this kind.
    headers: list[str] = field(default_factory=list)
    mapped: dict[str, int] = field(default_factory=dict)
    line_level: bool = False
    missing: list[str] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)

    def context(self) -> dict[str, Any]:
        """The fields as a template's variables."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


async def detail(actor: Actor, batch_id: UUID) -> ImportPreview:
    """A batch, and while it can still run, its mapping and its rows planned against the database as it is now."""
    batch = await get(actor, batch_id)
    before = await ImportBatch.select(ImportBatch.finished_at).where(
        (ImportBatch.sha256 == batch["sha256"]) & (ImportBatch.kind == batch["kind"]) & (ImportBatch.status == "done")
        & (ImportBatch.id != batch_id)).order_by(ImportBatch.finished_at, ascending=False).first()
    out = ImportPreview(batch=batch, before=before["finished_at"] if before else None)
    if batch["status"] in ("previewed", "failed"):
        content = await ImportBatch.select(ImportBatch.content).where(ImportBatch.id == batch_id).first()
        text = content["content"] if content else ""
        mapping = Mapping.loads(batch["mapping"])
        try:
            table = read_table(text)
            mapping = mapping or guess_mapping(batch["kind"], table.headers)
            out.headers, out.line_level = table.headers, mapping.line_level
            out.mapped = resolve_mapping(batch["kind"], table.headers, mapping)[0]
            out.sources = await sources(actor, batch["kind"])
            parsed, plans = await plan_text(batch["kind"], text, mapping)
        except MappingIncomplete as e:
            out.missing = [group_label(batch["kind"], g) for g in e.missing]
            return out
        except ImportFileError as e:  # pragma: no cover - the file was read at preview
            out.file_error = e.message
            return out
        out.counts = counts(plans)
        errors_first = sorted(plans, key=lambda p: (p.action != "error", p.line))
        for plan in errors_first[:PREVIEW_ROWS]:
            plan.changed = [parsed.written.get(CHANGED_COLUMN.get(k, k), k) for k in plan.changed]
        out.rows = errors_first[:PREVIEW_ROWS]
        out.ignored = parsed.ignored
        out.delimiter = {",": _("comma"), ";": _("semicolon"), "\t": _("tab")}[parsed.table.delimiter]
    return out


# ------------------------------------------------------------------------------------ running


# Progress of the imports running in this process: batch id -> {"processed", "total", "status"}.
# The import is one transaction, so on SQLite (one writer) the batch row cannot be updated meanwhile.
PROGRESS: dict[UUID, dict] = {}
_TASKS: set[asyncio.Task] = set()


class RunRefused(Exception):
    """The batch cannot run: rows with errors, or it ran already."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.message = message
        self.status = status


async def start(actor: Actor, batch_id: UUID) -> None:
    """Check the batch may run, mark it running, and start the import in the background."""
    batch = await get(actor, batch_id)
    if batch["status"] not in ("previewed", "failed"):
        raise Conflict(_("This import has already run."))
    content = await ImportBatch.select(ImportBatch.content).where(ImportBatch.id == batch_id).first()
    try:
        parse_file(batch["kind"], content["content"] if content else "", Mapping.loads(batch["mapping"]))
    except MappingIncomplete as e:
        raise RunRefused(_("Map these columns first: %(names)s.",
                           names=", ".join(group_label(batch["kind"], g) for g in e.missing))) from None
    if batch["error_rows"]:
        raise RunRefused(_("%(n)s rows have errors. Nothing was imported: correct the file and upload it again.",
                           n=batch["error_rows"]))
    taken = await ImportBatch.update({ImportBatch.status: "running", ImportBatch.processed_rows: 0, ImportBatch.error: ""}).where(
        (ImportBatch.id == batch_id) & ImportBatch.status.is_in(["previewed", "failed"])).returning(ImportBatch.id)
    if not taken:
        raise Conflict(_("This import has already run."))
    PROGRESS[batch_id] = {"processed": 0, "total": batch["total_rows"], "status": "running"}
    task = asyncio.get_running_loop().create_task(run(actor, batch_id))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


async def progress(actor: Actor, batch_id: UUID) -> dict:
    """The batch row, with the running count from this process's memory when it is running here."""
    batch = await get(actor, batch_id)
    live = PROGRESS.get(batch_id)
    if live and batch["status"] == "running":
        batch = {**batch, "processed_rows": live["processed"]}
    return batch


async def _report_progress(batch_id: UUID, processed: int) -> None:
    PROGRESS.setdefault(batch_id, {"total": 0, "status": "running"})["processed"] = processed
    # On PostgreSQL on a connection of its own, so other processes serving the progress page see it while
    # the import's transaction is open (SQLite: the progress in this process's memory is all there is).
    await db.write_beside(ImportBatch.update({ImportBatch.processed_rows: processed}).where(ImportBatch.id == batch_id))


async def run(actor: Actor, batch_id: UUID) -> None:
    """Apply the batch as one write transaction; a failure rolls everything back and marks it failed."""
    try:
        content = await ImportBatch.select(ImportBatch.kind, ImportBatch.content, ImportBatch.mapping).where(
            ImportBatch.id == batch_id).first()
        if content is None:
            raise LookupError(batch_id)
        async with db.write_transaction():
            parsed, plans = await plan_text(content["kind"], content["content"], Mapping.loads(content["mapping"]))
            tally = counts(plans)
            if tally["error"]:
                raise RunRefused(_("The data changed since the preview: %(n)s rows have errors now. Upload the file again.",
                                   n=tally["error"]))
            await _apply(actor, batch_id, parsed.kind, plans)
            await ImportBatch.update({
                ImportBatch.status: "done", ImportBatch.processed_rows: len(plans), ImportBatch.error_rows: 0,
                ImportBatch.created_count: tally["create"], ImportBatch.updated_count: tally["update"],
                ImportBatch.unchanged_count: tally["unchanged"], ImportBatch.skipped_count: tally["skip"],
                ImportBatch.finished_at: clock.now(),
            }).where(ImportBatch.id == batch_id)
    except Exception as e:  # noqa: BLE001 - any failure: rolled back, shown on the batch
        message = e.message if isinstance(e, (RunRefused, ImportFileError)) else _(
            "The import failed and nothing was changed: %(detail)s", detail=str(e)[:500])
        if not isinstance(e, (RunRefused, ImportFileError)):
            log.exception("Import %s failed", batch_id)
        try:
            await ImportBatch.update({ImportBatch.status: "failed", ImportBatch.error: message,
                                      ImportBatch.processed_rows: 0, ImportBatch.finished_at: clock.now()}).where(
                ImportBatch.id == batch_id)
        except Exception:  # noqa: BLE001 - marking it failed must not raise over the original error
            log.exception("Could not mark import %s failed", batch_id)
    finally:
        PROGRESS.pop(batch_id, None)


async def _apply(actor: Actor, batch_id: UUID, kind: str, plans: list[RowPlan]) -> None:
    now = clock.now()
    processed = 0
    # Returns go last: the order a return names may be created by this same file.
    returns = [p for p in plans if p.action == "create" and p.values.get("return")]
    # Refunds (negative receipts) after the receipts they take back, through server/sales/corrections.py.
    refunds = [p for p in plans if p.action == "create" and p.values.get("refund")]
    for start in range(0, len(plans), CHUNK):
        chunk = plans[start:start + CHUNK]
        creates = [p for p in chunk if p.action == "create" and not p.values.get("return")
                   and not p.values.get("refund")]
        updates = [p for p in chunk if p.action == "update"]
        if kind == "customers":
            await _apply_customers(actor, creates, updates, now)
        elif kind == "orders":
            await _apply_orders(actor, creates, updates, now)
        else:
            await _apply_collections(actor, creates, updates, now)
        processed += len(chunk)
        await _report_progress(batch_id, processed)
    await _apply_returns(actor, returns)
    for p in refunds:
        v = p.values
        await corrections.record_refund(actor, v["sales_order"], number=v["number"], amount_cents=v["amount_cents"],
                                        day=v["received_on"], source="import",
                                        reason=_("Imported from the ERP: %(number)s", number=v["number"]))


async def _apply_returns(actor: Actor, plans: list[RowPlan]) -> None:
    """Each return through the one returns service (server/sales/returns.py), inside this import's
    transaction, under the document's number: a second import of the file finds it and changes nothing."""
    if not plans:
        return
    numbers = {p.values["original"] for p in plans}
    ids = {nfkc(o["number"]): o["id"] for o in await chunked(
        lambda part: Order.select(Order.id, Order.number).where(Order.number.is_in(part)), numbers)}
    for p in plans:
        v = p.values
        reason = v["note"] or _("Imported from the ERP: %(number)s", number=v["number"])
        await returns.record_return(actor, ids[v["original"]], amount_cents=v["amount_cents"],
                                    margin_cents=v["margin_cents"], return_date=v["return_date"], reason=reason,
                                    external_ref=v["number"], source="import")


async def _apply_customers(actor: Actor, creates: list[RowPlan], updates: list[RowPlan], now) -> None:
    if not creates and not updates:
        return
    # New numbers in the change order, so phones pull the new and changed customers.
    moved = sum(1 for p in updates if "owner" in p.changed)
    first = await sequence.allocate(len(creates) + len(updates) + moved)
    await db.insert_rows(Customer, [customers.with_keys({
        "id": uuid4(), "name": p.values["name"], "contact_name": p.values.get("contact_name", ""),
        "phone": p.values.get("phone", ""), "address": p.values.get("address", ""), "code": p.values["code"],
        "latitude": p.values.get("latitude"), "longitude": p.values.get("longitude"),
        "owner": p.values["owner"], "created_by": actor.id, "created_at": _created_at(p.values, now), "updated_at": now,
        "server_seq": first + k,
    }) for k, p in enumerate(creates)])
    seq = first + len(creates)
    for p in updates:
        # The match keys follow a changed name or phone (server/customers/keys.py).
        fields = {getattr(Customer, k): v for k, v in customers.with_keys(
            {k: p.values[k] for k in p.changed if k != "created_on"}).items()}
        if "created_on" in p.changed:
            fields[Customer.created_at] = _created_at(p.values, now)
        if "owner" in p.changed:
            # The previous owner's phones drop the customer at their next pull.
            old = await Customer.select(Customer.owner).where(Customer.id == p.existing_id).first()
            assert old is not None  # the plan matched this customer within this transaction
            await db.insert_rows(Tombstone, [{"id": uuid4(), "record_type": "customer", "record_id": p.existing_id,
                                              "owner": old["owner"], "server_seq": seq, "deleted_at": now}])
            seq += 1
        await Customer.update({**fields, Customer.updated_at: now, Customer.server_seq: seq}).where(Customer.id == p.existing_id)
        seq += 1


def _created_at(values: dict, now: datetime) -> datetime:
    """A customer's creation time: the ERP's creation date (the start of that day in the company's time
    zone, so "new customers" counts it in that month), or now."""
    day = values.get("created_on")
    return datetime.combine(day, time(0), tzinfo=clock.company_tz()) if day else now


async def _apply_orders(actor: Actor, creates: list[RowPlan], updates: list[RowPlan], now) -> None:
    order_rows: list[dict] = []
    split_rows: list[dict] = []
    for p in creates:
        oid = uuid4()
        v = p.values
        order_rows.append({
            "id": oid, "number": v["number"], "customer": v["customer"], "opportunity": None,
            "order_date": v["order_date"], "due_date": v.get("due_date"), "amount_cents": v["amount_cents"],
            "cost_cents": v.get("cost_cents", 0), "note": v.get("note", ""), "source": "import",
            "created_by": actor.id, "created_at": now, "updated_at": now,
        })
        # Each rep's credited cents, allocated once by largest remainder (server/sales/credits.py).
        split_rows.extend(credits.split_rows(oid, v["order_date"], v["amount_cents"], v.get("cost_cents", 0),
                                             list(v["splits"])))
    await db.insert_rows(Order, order_rows)
    await db.insert_rows(OrderSplit, split_rows)
    for p in updates:
        v = p.values
        fields = {getattr(Order, k): v[k] for k in p.changed if k != "splits"}
        order_id = p.existing_id
        assert order_id is not None  # an update plan names the order it matched
        stored = await Order.select(Order.order_date, Order.number).where(Order.id == order_id).first() or {}
        if stored and order_corrections.is_closed(stored["order_date"]):
            await _correct_closed(actor, order_id, p, now)
            continue
        await Order.update({**fields, Order.updated_at: now}).where(Order.id == order_id)
        if "splits" in p.changed:
            await credits.write_split(order_id, list(v["splits"]))
        elif {"order_date", "amount_cents", "cost_cents"} & set(p.changed):
            await credits.reallocate(order_id)


async def _correct_closed(actor: Actor, order_id: UUID, p: RowPlan, now) -> None:
    """A closed month's order changed by the file: its other fields in place, its amount, cost and split
    as a dated correction (server/sales/order_corrections.py), with an audit event."""
    v = p.values
    kept = [k for k in p.changed if k not in ("splits", "amount_cents", "cost_cents", "order_date")]
    await Order.update({**{getattr(Order, k): v[k] for k in kept}, Order.updated_at: now}).where(Order.id == order_id)
    if not {"amount_cents", "cost_cents", "splits"} & set(p.changed):
        return
    current = await Order.select(Order.id, Order.amount_cents, Order.cost_cents).where(Order.id == order_id).first()
    assert current is not None  # matched by the plan, inside this import's transaction
    amount, cost = await returns.current_amounts(current)
    reason = _("Imported from the ERP: %(number)s", number=v["number"])
    number = await order_corrections.post(
        actor.id, order_id, v["number"], amount_cents=v.get("amount_cents", amount), cost_cents=v.get("cost_cents", cost),
        splits=list(v["splits"]), reason=reason)
    await audit.record("order", order_id, "order_corrected", actor_id=actor.id, reason=reason,
                       detail={"before": {"amount_cents": amount, "cost_cents": cost}, "correction": number,
                               "after": {"amount_cents": v.get("amount_cents", amount),
                                         "cost_cents": v.get("cost_cents", cost), "source": "import"}},
                       effective_on=clock.today(), sales_order=order_id)


async def _apply_collections(actor: Actor, creates: list[RowPlan], updates: list[RowPlan], now) -> None:
    rows = [{
        "id": uuid4(), "number": p.values["number"], "sales_order": p.values["sales_order"],
        "received_on": p.values["received_on"], "amount_cents": p.values["amount_cents"], "source": "import",
        "created_by": actor.id, "created_at": now,
    } for p in creates]
    await db.insert_rows(Collection, rows)
    splits: dict = {}
    for order_id in {r["sales_order"] for r in rows}:
        splits[order_id] = await credits.current_split(order_id)
    await db.insert_rows(CollectionSplit, [
        part for r in rows
        for part in credits.collection_rows(r["id"], r["sales_order"], r["received_on"], r["amount_cents"],
                                            splits[r["sales_order"]])])
    changed_orders = set()
    for p in updates:
        if p.changed:
            await Collection.update({getattr(Collection, k): p.values[k] for k in p.changed}).where(
                Collection.id == p.existing_id)
            changed_orders.add(p.values["sales_order"])
    for order_id in changed_orders:
        await credits.reallocate(order_id)
    # The parts of a receipt the ERP moved to other orders: reversed, dated today (planning._reverse_dropped).
    for p in [*creates, *updates]:
        for part in p.values.get("reverse", []):
            await corrections.post_correction(
                actor.id, part, 0, clock.today(), _("Receipt %(receipt)s no longer settles order %(order)s in the ERP "
                                                    "(import).", receipt=p.values["receipt"], order=part["order_number"]),
                source="import")


