"""An import file's records (pure, no database): the file read by its mapping (`Parsed`), its records (data
rows, total rows marked, the lines of one order rolled up in a line-level file), their natural keys, and
the shapes planning works with (`RowPlan`, `Lookups`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from server.i18n import _
from server.imports.columns import LINE_LEVEL_KINDS, SUMMED, Mapping, guess_mapping, map_headers
from server.imports.parsing import (
    CellError,
    CsvTable,
    ImportFileError,
    cents_text,
    nfkc,
    parse_signed_amount,
    read_table,
    total_marker,
)
from server.imports.tables import IMPORT_KINDS


@dataclass
class RowPlan:
    line: int
    key: str
    action: str = "error"  # create | update | unchanged | skip | error
    values: dict = field(default_factory=dict)  # clean values (resolved ids) for the write
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column as written, message)
    changed: list[str] = field(default_factory=list)  # column keys that differ from the database
    existing_id: UUID | None = None
    summary: str = ""
    lines: list[int] = field(default_factory=list)  # every line of the file the record was read from


@dataclass
class Lookups:
    """What the plan needs from the database, loaded by `load_lookups`."""

    users: dict[str, dict] = field(default_factory=dict)  # lower-case username -> {id, role, active, display_name, erp_code}
    customers: dict[str, dict] = field(default_factory=dict)  # code -> customer row
    orders: dict[str, dict] = field(default_factory=dict)  # number -> order row (+ "splits" for orders)
    collections: dict[str, dict] = field(default_factory=dict)  # number -> collection row
    # receipt number -> its stored parts (receipts stored as "<receipt>" or "<receipt>/<order>"), each a
    # collection row with order_number and net_cents (its amount after corrections)
    receipts: dict[str, list[dict]] = field(default_factory=dict)
    collected: dict[UUID, int] = field(default_factory=dict)  # order id -> cents collected so far
    returns: dict[str, dict] = field(default_factory=dict)  # return number -> {id, sales_order, amount_cents}
    returned: dict[UUID, int] = field(default_factory=dict)  # order id -> cents returned so far
    today: date | None = None  # the company's today: later dates are refused (None: not checked)


@dataclass
class Record:
    """One record of the file: a data row, or the lines of one order rolled up (line-level files)."""

    line: int
    cells: list[str]
    lines: list[int]
    total: str | None = None  # the marker of a total row (合计, 总计, 小计), skipped
    errors: dict[str, str] = field(default_factory=dict)  # column key -> message found while rolling up
    sums: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # summed column -> (line, cell) of each line


@dataclass
class Parsed:
    kind: str
    table: CsvTable
    index: dict[str, int]
    written: dict[str, str]
    ignored: list[str]
    mapping: Mapping = field(default_factory=Mapping)

    def cell(self, cells: list[str], key: str) -> str | None:
        """The cell of column `key`, "" when the row is short, None when the file has no such column."""
        i = self.index.get(key)
        if i is None:
            return None
        return cells[i] if i < len(cells) else ""


def parse_file(kind: str, text: str, mapping: Mapping | None = None) -> Parsed:
    """The file read by `mapping` (by the headers' known names without one); MappingIncomplete when a
    required column is unmapped."""
    if kind not in IMPORT_KINDS:
        raise ImportFileError(_("Choose what the file holds."))
    table = read_table(text)
    if not table.rows:
        raise ImportFileError(_("The file has a header row but no data rows."))
    mapping = mapping or guess_mapping(kind, table.headers)
    index, written, ignored = map_headers(kind, table.headers, mapping)
    if kind not in LINE_LEVEL_KINDS:
        mapping = Mapping(columns=mapping.columns, line_level=False)
    return Parsed(kind, table, index, written, ignored, mapping)


def _group_key(parsed: Parsed, cells: list[str]) -> tuple[str, ...]:
    number = nfkc(parsed.cell(cells, "number") or "")
    if parsed.kind == "collections":
        return (number, nfkc(parsed.cell(cells, "order_number") or ""))
    return (number,)


def records(parsed: Parsed) -> list[Record]:
    """The file's records: total rows marked; in a line-level file, the lines of one order (one receipt's
    part for one order) rolled up into one record: amounts summed, a blank cell of a later line taking
    the order's value, two lines that disagree on anything else an error."""
    key_column = "code" if parsed.kind == "customers" else "number"
    out: list[Record] = []
    groups: dict[tuple[str, ...], Record] = {}
    summed = [k for k in SUMMED[parsed.kind] if k in parsed.index]
    width = len(parsed.table.headers)
    for line, cells in parsed.table.rows:
        marker = total_marker(cells, parsed.cell(cells, key_column))
        if marker is not None:
            out.append(Record(line=line, cells=cells, lines=[line], total=marker))
            continue
        key = _group_key(parsed, cells)
        if not parsed.mapping.line_level or not key[0]:
            out.append(Record(line=line, cells=cells, lines=[line]))
            continue
        cells = cells + [""] * (width - len(cells))
        record = groups.get(key)
        if record is None:
            record = groups[key] = Record(line=line, cells=list(cells), lines=[line])
            record.sums = {k: [] for k in summed}
            out.append(record)
        else:
            record.lines.append(line)
            for column, i in parsed.index.items():
                if column in summed:
                    continue
                mine, theirs = record.cells[i].strip(), cells[i].strip()
                if theirs and not mine:
                    record.cells[i] = cells[i]
                elif theirs and nfkc(theirs) != nfkc(mine) and column not in record.errors:
                    record.errors[column] = _("Line %(line)s says “%(b)s”, line %(first)s “%(a)s”: the lines of one "
                                              "order must agree.", line=line, b=theirs, first=record.line, a=mine)
        for column in summed:
            record.sums[column].append((line, cells[parsed.index[column]]))
    for record in groups.values():
        for column, parts in record.sums.items():
            if len(parts) < 2 or not any(raw.strip() for _l, raw in parts):
                continue
            total = 0
            for line, raw in parts:
                try:
                    total += parse_signed_amount(raw) if raw.strip() else 0
                except CellError as e:
                    record.errors.setdefault(column, _("Line %(line)s: %(message)s", line=line, message=e.message))
            record.cells[parsed.index[column]] = cents_text(total)
    return out


def receipt_parts(parsed: Parsed, rolled: list[Record]) -> dict[int, tuple[str, str]]:
    """Record line -> (receipt number, order number), both as NFKC makes them: the part of one receipt
    that settles one order, the natural key of a collection."""
    return {r.line: (key[0], key[1]) for r in rolled if r.total is None for key in [_group_key(parsed, r.cells)]}


def part_name(receipt: str, order: str) -> str:
    """The number a receipt's part for one order is stored under when the receipt settles several."""
    return f"{receipt}/{order}"


def collection_numbers(parsed: Parsed, rolled: list[Record]) -> dict[int, str]:
    """Record line -> the number a new collection is stored under: the receipt's number, or, for a
    receipt that settles several orders, "<receipt>/<order>" for each of them. An existing collection is
    found by (receipt, order) under either name (`planning`), so a receipt that settled one order and
    now settles several, or the other way round, is still the same collection."""
    parts = receipt_parts(parsed, rolled)
    orders: dict[str, set[str]] = {}
    for receipt, order in parts.values():
        orders.setdefault(receipt, set()).add(order)
    return {line: part_name(receipt, order) if receipt and order and len(orders[receipt]) > 1 else receipt
            for line, (receipt, order) in parts.items()}


def natural_keys(parsed: Parsed) -> set[str]:
    """The keys the file's records are matched on (codes, order numbers, stored receipt numbers: a
    receipt's part for an order under both names it may be stored as)."""
    rolled = records(parsed)
    if parsed.kind == "collections":
        return {name for receipt, order in receipt_parts(parsed, rolled).values()
                for name in (receipt, part_name(receipt, order) if order else "")} - {""}
    column = "code" if parsed.kind == "customers" else "number"
    keys = set()
    for r in rolled:
        raw = (parsed.cell(r.cells, column) or "").strip()
        keys |= {raw, nfkc(raw)}
    return keys - {""}


