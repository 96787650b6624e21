"""CSV imports of customers, orders and collections from the ERP: decode, parse, preview, run.

Admin only: an import writes company-wide data (any rep's customers, orders and splits) that the ERP
owns, so it is not a manager's or a rep's action.

The file goes through three steps:
1. Pure parsing (no database): `decode` (UTF-8 with or without BOM, UTF-16 with BOM, GB18030), `read_table`
   (delimiter sniffed: comma, semicolon or tab), `map_headers` (English or Chinese aliases), and the cell
   parsers `parse_date`, `parse_amount`, `parse_split`.
2. `plan_rows` (pure, given lookups the database part loads): each row's action (create, update,
   unchanged) or its errors, by natural key: customers by code, orders and collections by number.
3. `run` applies a plan as one write transaction in a background task, reporting progress outside it.
"""

from __future__ import annotations

import asyncio
import contextvars
import csv
import hashlib
import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from uuid import UUID, uuid4

from litestar.exceptions import NotFoundException

from server import changes, clock, db
from server.accounts.permissions import Actor, require_role
from server.accounts.tables import User
from server.customers.tables import Customer
from server.i18n import N_, _, fmt_money
from server.imports.tables import IMPORT_KINDS, ImportBatch
from server.sales.tables import FULL_SHARE, Collection, Order, OrderSplit
from server.syncing.tables import Tombstone
from server.web import Conflict, FieldErrors, csv_bytes

log = logging.getLogger("fieldpace.imports")

MAX_BYTES = 2 * 1024 * 1024  # the largest file accepted (the app's request body limit is 2 MB too)
PREVIEW_ROWS = 200  # rows shown on the preview page (errors first)
CHUNK = 500  # rows applied between two progress reports
MAX_CENTS = 10**13  # 100 billion yuan, as for orders typed in: x 10,000 basis points stays inside a BIGINT

KIND_LABELS = {"customers": N_("Customers"), "orders": N_("Orders"), "collections": N_("Collections")}
STATUS_LABELS = {"previewed": N_("Previewed"), "running": N_("Running"), "done": N_("Done"), "failed": N_("Failed")}
ACTION_LABELS = {"create": N_("Create"), "update": N_("Update"), "unchanged": N_("Unchanged"), "error": N_("Error")}
ENCODING_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "utf-16": "UTF-16", "gb18030": "GBK / GB18030"}


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, no header, missing columns): a translated message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class CellError(ValueError):
    """One cell cannot be read: a translated message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# ------------------------------------------------------------------------------------ columns


@dataclass(frozen=True)
class Column:
    key: str
    english: str  # the header of the English example file
    chinese: str  # the header of the Chinese example file
    aliases: tuple[str, ...]
    required: bool
    help: str  # N_ msgid
    example: tuple[str, str] = ("", "")  # example cells (first and second row of the example file)


COLUMNS: dict[str, tuple[Column, ...]] = {
    "customers": (
        Column("code", "customer_code", "客户编码", ("code", "customercode", "customerno", "客户代码", "编码"), True,
               N_("The ERP's customer code: the key that matches a row to an existing customer."), ("C-1001", "C-1002")),
        Column("name", "name", "客户名称", ("customername", "customer", "名称", "客户"), True,
               N_("Customer name."), ("上海华东贸易有限公司", "Suzhou Lake Foods")),
        Column("rep", "rep", "业务员", ("owner", "username", "销售", "销售员", "负责人"), True,
               N_("Username of the rep who owns the customer (an active rep)."), ("rep_a1", "rep_a2")),
        Column("contact_name", "contact_name", "联系人", ("contact",), False, N_("Contact person."), ("王经理", "")),
        Column("phone", "phone", "电话", ("telephone", "mobile", "联系电话", "手机"), False, N_("Phone number."),
               ("021-5555-0101", "")),
        Column("address", "address", "地址", ("客户地址",), False, N_("Address."), ("上海市浦东新区", "")),
    ),
    "orders": (
        Column("number", "order_number", "订单号", ("number", "orderno", "order", "订单编号", "单号"), True,
               N_("The ERP's order number: the key that matches a row to an existing order."), ("SO-2026-0001", "SO-2026-0002")),
        Column("customer_code", "customer_code", "客户编码", ("customer", "customerno", "客户代码"), True,
               N_("Code of a customer that already exists (import customers first)."), ("C-1001", "C-1002")),
        Column("date", "date", "日期", ("orderdate", "订单日期", "下单日期"), True,
               N_("Order date: 2026-03-05, 2026/3/5 or 2026年3月5日."), ("2026-03-05", "2026/3/6")),
        Column("due_date", "due_date", "到期日", ("due", "duedate", "应收日期", "付款到期日"), False,
               N_("When payment is due (optional; empty means the order date)."), ("2026-04-05", "")),
        Column("amount", "amount", "金额", ("ordermount", "orderamount", "订单金额"), True,
               N_("Order amount in yuan: 1234.56, 1,234.56 or ¥1234.56 (not negative)."), ("12,800.00", "¥5600")),
        Column("cost", "cost", "成本", ("costamount", "成本金额"), False,
               N_("Cost in yuan (optional; gross margin = amount - cost)."), ("7680", "")),
        Column("reps", "rep", "业务员", ("reps", "split", "owner", "销售", "销售员", "分成"), True,
               N_("One rep's username, or a split such as rep_a1:60;rep_a2:40 (shares add up to 100)."),
               ("rep_a1", "rep_a1:60;rep_a2:40")),
        Column("note", "note", "备注", ("remark", "comment", "说明"), False, N_("Note (optional)."), ("", "")),
    ),
    "collections": (
        Column("number", "collection_number", "回款单号", ("number", "receiptno", "receiptnumber", "收款单号", "单号"), True,
               N_("The ERP's receipt number: the key that matches a row to an existing collection."), ("RC-2026-0001", "RC-2026-0002")),
        Column("order_number", "order_number", "订单号", ("order", "orderno", "订单编号"), True,
               N_("Number of an order that already exists."), ("SO-2026-0001", "SO-2026-0001")),
        Column("date", "date", "日期", ("receivedon", "received", "回款日期", "收款日期"), True,
               N_("Date received: 2026-03-05, 2026/3/5 or 2026年3月5日."), ("2026-03-20", "2026年4月2日")),
        Column("amount", "amount", "金额", ("回款金额", "收款金额"), True,
               N_("Amount received in yuan (more than zero; all collections of an order may not exceed its amount)."),
               ("6,400.00", "6400")),
    ),
}


def normalise_header(raw: str) -> str:
    """Headers match whatever their case, width, spaces, underscores or hyphens: "Customer Code",
    "customer_code" and "ＣＵＳＴＯＭＥＲ-ＣＯＤＥ" are one; a stray BOM or "*" is dropped."""
    text = unicodedata.normalize("NFKC", raw or "").replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s_\-*.]+", "", text)


def _alias_map(kind: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for column in COLUMNS[kind]:
        for name in (column.key, column.english, column.chinese, *column.aliases):
            out.setdefault(normalise_header(name), column.key)
    return out


def map_headers(kind: str, headers: list[str]) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """(column key -> index in the row, column key -> header as written, ignored headers); raises
    ImportFileError when a required column is missing or two headers name the same column."""
    aliases = _alias_map(kind)
    index: dict[str, int] = {}
    written: dict[str, str] = {}
    ignored: list[str] = []
    for i, header in enumerate(headers):
        key = aliases.get(normalise_header(header))
        if key is None:
            if header.strip():
                ignored.append(header.strip())
            continue
        if key in index:
            raise ImportFileError(_("The columns “%(a)s” and “%(b)s” both mean %(column)s; keep one.",
                                    a=written[key], b=header.strip(), column=_column(kind, key).english))
        index[key] = i
        written[key] = header.strip()
    missing = [c for c in COLUMNS[kind] if c.required and c.key not in index]
    if missing:
        names = ", ".join(f"{c.chinese} / {c.english}" for c in missing)
        raise ImportFileError(_("Missing columns: %(names)s. Check the header row against the example file.", names=names))
    return index, written, ignored


def _column(kind: str, key: str) -> Column:
    return next(c for c in COLUMNS[kind] if c.key == key)


# ------------------------------------------------------------------------------------ decoding


_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read with. UTF-8 (with or without BOM) and UTF-16 with
    BOM are recognised; otherwise strict UTF-8 is tried, then GB18030 (a superset of GBK, what a Chinese
    Excel writes). Raises ImportFileError for an empty, binary or undecodable file."""
    if not data or not data.strip():
        raise ImportFileError(_("The file is empty."))
    if len(data) > MAX_BYTES:
        raise ImportFileError(_("The file is larger than 2 MB. Split it into smaller files and import them one by one."))
    text = encoding = None
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                text, encoding = data.decode(name), name
            except UnicodeDecodeError:
                raise ImportFileError(_("The file starts as %(encoding)s text but cannot be read as such.",
                                        encoding=ENCODING_LABELS[name])) from None
            break
    if text is None:
        if b"\x00" in data:
            raise ImportFileError(_("This is not a text (CSV) file. Save the sheet as “CSV (comma delimited)” or “CSV UTF-8” and try again."))
        for name in ("utf-8", "gb18030"):
            try:
                text, encoding = data.decode(name), name
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ImportFileError(_("The file's characters cannot be read (it is neither UTF-8 nor GBK). Save it as “CSV UTF-8” and try again."))
    text = text.lstrip("\ufeff")
    # Control characters other than tab and line breaks do not occur in a CSV: a binary file.
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text):
        raise ImportFileError(_("This is not a text (CSV) file. Save the sheet as “CSV (comma delimited)” or “CSV UTF-8” and try again."))
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    return text, encoding  # type: ignore[return-value]


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def sniff_delimiter(line: str) -> str:
    """The delimiter of a header line: comma, semicolon or tab, whichever occurs most outside quotes
    (a one-column file reads as comma separated)."""
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: (counts[d], d == "\t", d == ";"))
    return best if counts[best] else ","


@dataclass
class CsvTable:
    delimiter: str
    header_line: int
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (line number in the file, cells)


def read_table(text: str) -> CsvTable:
    """Split decoded text into the header and the data rows, each with its line number in the file
    (1-based; a quoted cell may span lines, the row keeps the number of its first line). Blank lines and
    rows of empty cells are skipped."""
    text = normalise_newlines(text)
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise ImportFileError(_("The file is empty."))
    delimiter = sniff_delimiter(lines[first])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 0
    rows: list[tuple[int, list[str]]] = []
    previous = 0
    try:
        for cells in reader:
            start = previous + 1
            previous = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header, header_line = cells, start
            else:
                rows.append((start, cells))
    except csv.Error as e:
        raise ImportFileError(_("Line %(line)s cannot be read as CSV (%(detail)s).", line=reader.line_num, detail=str(e))) from None
    return CsvTable(delimiter=delimiter, header_line=header_line, headers=header or [], rows=rows)


# ------------------------------------------------------------------------------------ cell parsers


def _nfkc(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw or "").strip()


_DATE_PATTERNS = (
    re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"),
    re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
)
_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


def parse_date(raw: str) -> date:
    """2026-03-05, 2026/3/5, 2026.3.5, 2026年3月5日 or 20260305 (a time of day after it is ignored).
    Day-first or month-first forms (05/03/2026) are refused: they are ambiguous."""
    text = _TIME_SUFFIX.sub("", _nfkc(raw)).strip()
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            year, month, day_ = (int(g) for g in match.groups())
            try:
                value = date(year, month, day_)
            except ValueError:
                raise CellError(_("“%(value)s” is not a real date.", value=raw.strip())) from None
            if not 1900 <= value.year <= 2100:
                raise CellError(_("“%(value)s” is not a plausible date.", value=raw.strip()))
            return value
    raise CellError(_("“%(value)s” is not a date; write it as 2026-03-05, 2026/3/5 or 2026年3月5日.", value=raw.strip()))


_CURRENCY = re.compile(r"^(¥|RMB|CNY|\$)\s*|\s*(元|RMB|CNY)$", re.IGNORECASE)
_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d+)?")
_PLAIN = re.compile(r"\d+(\.\d+)?|\.\d+")


def parse_amount(raw: str, *, allow_zero: bool = True) -> int:
    """Yuan as written in a sheet -> cents. Accepts 1234.56, 1,234.56 and ¥1234.56; refuses negative
    amounts, more than two decimals, and forms that would need a guess ("1 234,56", "1.234,56")."""
    text = _nfkc(raw)
    negative = False
    for _round in range(2):  # "-¥5" and "¥-5"
        if text.startswith("-"):
            negative, text = True, text[1:].strip()
        text = _CURRENCY.sub("", text).strip()
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    elif not _PLAIN.fullmatch(text):
        raise CellError(_("“%(value)s” is not an amount; write it as 1234.56 or 1,234.56 (a dot before the decimals).",
                          value=raw.strip()))
    if negative and text.strip("0.") != "":
        raise CellError(_("The amount may not be negative."))
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the patterns above only let numbers through
        raise CellError(_("“%(value)s” is not an amount.", value=raw.strip())) from None
    if value.as_tuple().exponent < -2 and value != value.quantize(Decimal("0.01")):
        raise CellError(_("At most two decimals (fen)."))
    cents = int(value * 100)
    if cents > MAX_CENTS:
        raise CellError(_("The amount is too large."))
    if cents == 0 and not allow_zero:
        raise CellError(_("The amount must be more than zero."))
    return cents


_SPLIT_SEPARATORS = re.compile(r"[;,、|]")


def parse_split(raw: str) -> list[tuple[str, int]]:
    """A rep's username, or shares such as "rep1:60;rep2:40" (Chinese ；： too, "%" allowed): a list of
    (username, basis points) summing to 10000."""
    text = _nfkc(raw)
    if not text:
        raise CellError(_("Name the rep (their username)."))
    parts = [p.strip() for p in _SPLIT_SEPARATORS.split(text) if p.strip()]
    if len(parts) == 1 and ":" not in parts[0]:
        return [(parts[0], FULL_SHARE)]
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for part in parts:
        name, sep, share = part.partition(":")
        name, share = name.strip(), share.strip().rstrip("%").strip()
        if not sep or not name or not share:
            raise CellError(_("Write a split as rep1:60;rep2:40 (each rep with a share)."))
        try:
            value = Decimal(share)
        except InvalidOperation:
            raise CellError(_("“%(value)s” is not a share in percent.", value=share)) from None
        if not value.is_finite() or value <= 0 or value > 100 or value != value.quantize(Decimal("0.01")):
            raise CellError(_("“%(value)s” is not a share in percent (more than 0, at most 100, two decimals).", value=share))
        if name.lower() in seen:
            raise CellError(_("%(name)s appears twice in the split.", name=name))
        seen.add(name.lower())
        out.append((name, int(value * 100)))
    total = sum(bp for _n, bp in out)
    if total != FULL_SHARE:
        raise CellError(_("The shares add up to %(total)s, not 100.", total=_percent(total)))
    return out


def _percent(bp: int) -> str:
    """Basis points as a percentage without trailing zeros: 9000 -> "90", 3333 -> "33.33"."""
    whole, rest = divmod(bp, 100)
    return str(whole) if not rest else f"{whole}.{rest:02d}".rstrip("0")


def _text(raw: str, max_len: int, required: bool) -> str:
    value = (raw or "").strip()
    if required and not value:
        raise CellError(_("This field is required."))
    if len(value) > max_len:
        raise CellError(_("At most %(n)s characters.", n=max_len))
    return value


# ------------------------------------------------------------------------------------ planning (pure)


@dataclass
class RowPlan:
    line: int
    key: str
    action: str = "error"  # create | update | unchanged | error
    values: dict = field(default_factory=dict)  # clean values (resolved ids) for the write
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column as written, message)
    changed: list[str] = field(default_factory=list)  # column keys that differ from the database
    existing_id: UUID | None = None
    summary: str = ""


@dataclass
class Lookups:
    """What the plan needs from the database, loaded by `load_lookups`."""

    users: dict[str, dict] = field(default_factory=dict)  # lower-case username -> {id, role, active}
    customers: dict[str, dict] = field(default_factory=dict)  # code -> customer row
    orders: dict[str, dict] = field(default_factory=dict)  # number -> order row (+ "splits" for orders)
    collections: dict[str, dict] = field(default_factory=dict)  # number -> collection row
    collected: dict[UUID, int] = field(default_factory=dict)  # order id -> cents collected so far


@dataclass
class Parsed:
    kind: str
    table: CsvTable
    index: dict[str, int]
    written: dict[str, str]
    ignored: list[str]

    def cell(self, cells: list[str], key: str) -> str | None:
        """The cell of column `key`, "" when the row is short, None when the file has no such column."""
        i = self.index.get(key)
        if i is None:
            return None
        return cells[i] if i < len(cells) else ""


def parse_file(kind: str, text: str) -> Parsed:
    if kind not in IMPORT_KINDS:
        raise ImportFileError(_("Choose what the file holds."))
    table = read_table(text)
    if not table.rows:
        raise ImportFileError(_("The file has a header row but no data rows."))
    index, written, ignored = map_headers(kind, table.headers)
    return Parsed(kind, table, index, written, ignored)


def plan_rows(parsed: Parsed, lookups: Lookups) -> list[RowPlan]:
    """Every data row's action or errors against `lookups` (pure: no database)."""
    planner = {"customers": _plan_customer, "orders": _plan_order, "collections": _plan_collection}[parsed.kind]
    seen: dict[str, int] = {}
    plans = []
    for line, cells in parsed.table.rows:
        plan = RowPlan(line=line, key="")
        errors: dict[str, str] = {}

        def get(key: str, parser, *args, **kwargs):
            raw = parsed.cell(cells, key)
            if raw is None:
                return None
            try:
                return parser(raw, *args, **kwargs)
            except CellError as e:
                errors.setdefault(key, e.message)
                return None

        plan.key = (parsed.cell(cells, "number" if parsed.kind != "customers" else "code") or "").strip()
        planner(parsed, plan, get, errors, lookups)
        if plan.key and plan.key in seen and "number" not in errors and "code" not in errors:
            key = "code" if parsed.kind == "customers" else "number"
            errors[key] = _("This key is already in line %(line)s of the file.", line=seen[plan.key])
        if plan.key and plan.key not in seen:
            seen[plan.key] = line
        if errors:
            plan.action = "error"
            plan.errors = [(parsed.written.get(k, k), m) for k, m in errors.items()]
        plans.append(plan)
    if parsed.kind == "collections":
        _check_cumulative(plans, lookups, parsed.written.get("amount", "amount"))
    return plans


def _rep(username: str | None, lookups: Lookups, errors: dict, key: str, *, active_only: bool) -> UUID | None:
    if not username:
        return None
    user = lookups.users.get(username.lower())
    if user is None or user["role"] != "rep":
        errors.setdefault(key, _("No rep has the username “%(name)s”.", name=username))
        return None
    if active_only and not user["active"]:
        errors.setdefault(key, _("%(name)s is deactivated; choose an active rep.", name=username))
        return None
    return user["id"]


def _compare(plan: RowPlan, new: dict, old: dict | None) -> None:
    if old is None:
        plan.action = "create"
        return
    plan.existing_id = old["id"]
    plan.changed = [k for k, v in new.items() if old.get(k) != v]
    plan.action = "update" if plan.changed else "unchanged"


def _plan_customer(parsed, plan, get, errors, lookups):
    code = get("code", _text, 64, True)
    name = get("name", _text, 200, True)
    username = get("rep", _text, 64, True)
    owner = _rep(username, lookups, errors, "rep", active_only=True)
    values = {"name": name, "owner": owner}
    for key, limit in (("contact_name", 100), ("phone", 40), ("address", 500)):
        value = get(key, _text, limit, False)
        if value is not None:
            values[key] = value
    plan.summary = name or ""
    if errors:
        return
    plan.values = {"code": code, **values}
    _compare(plan, values, lookups.customers.get(code))


def _plan_order(parsed, plan, get, errors, lookups):
    number = get("number", _text, 64, True)
    code = get("customer_code", _text, 64, True)
    day = get("date", _required(parse_date))
    amount = get("amount", _required(parse_amount))
    split = get("reps", parse_split)
    values: dict = {"order_date": day, "amount_cents": amount}
    if "due_date" in parsed.index:
        values["due_date"] = get("due_date", _optional(parse_date))
    if "cost" in parsed.index:
        values["cost_cents"] = get("cost", _optional(parse_amount)) or 0
    if "note" in parsed.index:
        values["note"] = get("note", _text, 2000, False)
    customer = lookups.customers.get(code) if code else None
    if code and customer is None:
        errors.setdefault("customer_code", _("No customer has the code “%(code)s”; import the customers first.", code=code))
    splits = []
    for username, bp in split or []:
        rep = _rep(username, lookups, errors, "reps", active_only=False)
        splits.append((rep, bp))
    if day and values.get("due_date") and values["due_date"] < day:
        errors.setdefault("due_date", _("The due date is before the order date."))
    existing = lookups.orders.get(number) if number else None
    collected = lookups.collected.get(existing["id"], 0) if existing else 0
    if amount is not None and amount < collected:
        errors.setdefault("amount", _("%(paid)s has been collected against this order already: the amount cannot be less.",
                                      paid=fmt_money(collected / 100)))
    plan.summary = f"{code or ''} · {fmt_money((amount or 0) / 100)}"
    if errors:
        return
    values["customer"] = customer["id"]
    values["splits"] = frozenset(splits)
    plan.values = {"number": number, **values}
    _compare(plan, values, lookups.orders.get(number))


def _plan_collection(parsed, plan, get, errors, lookups):
    number = get("number", _text, 64, True)
    order_number = get("order_number", _text, 64, True)
    day = get("date", _required(parse_date))
    amount = get("amount", _required(parse_amount), allow_zero=False)
    order = lookups.orders.get(order_number) if order_number else None
    if order_number and order is None:
        errors.setdefault("order_number", _("No order has the number “%(number)s”.", number=order_number))
    plan.summary = f"{order_number or ''} · {fmt_money((amount or 0) / 100)}"
    if errors:
        return
    values = {"sales_order": order["id"], "received_on": day, "amount_cents": amount}
    plan.values = {"number": number, **values}
    _compare(plan, values, lookups.collections.get(number))


def _check_cumulative(plans: list[RowPlan], lookups: Lookups, column: str) -> None:
    """All collections of an order, those in the database (less the ones this file replaces) and the
    file's, may not exceed the order's amount: the row that goes over gets the error."""
    orders = {o["id"]: o for o in lookups.orders.values()}
    running = dict(lookups.collected)
    for plan in plans:
        if plan.action != "error" and plan.existing_id is not None:
            old = lookups.collections[plan.key]
            running[old["sales_order"]] = running.get(old["sales_order"], 0) - old["amount_cents"]
    for plan in plans:
        if plan.action == "error":
            continue
        order_id = plan.values["sales_order"]
        total = running.get(order_id, 0) + plan.values["amount_cents"]
        limit = orders[order_id]["amount_cents"]
        if total > limit:
            plan.action = "error"
            plan.errors.append((column, _(
                "Collections of order %(number)s would total %(total)s, more than the order's %(amount)s.",
                number=orders[order_id]["number"], total=fmt_money(total / 100), amount=fmt_money(limit / 100))))
        else:
            running[order_id] = total


def _required(parser):
    def parse(raw: str, **kwargs):
        if not (raw or "").strip():
            raise CellError(_("This field is required."))
        return parser(raw, **kwargs)
    return parse


def _optional(parser):
    def parse(raw: str, **kwargs):
        return parser(raw, **kwargs) if (raw or "").strip() else None
    return parse


# A changed field -> the column it comes from (to name it as the file does).
_CHANGED_COLUMN = {"owner": "rep", "order_date": "date", "amount_cents": "amount", "cost_cents": "cost", "splits": "reps",
                   "sales_order": "order_number", "received_on": "date", "customer": "customer_code"}


def counts(plans: list[RowPlan]) -> dict[str, int]:
    out = {"create": 0, "update": 0, "unchanged": 0, "error": 0}
    for plan in plans:
        out[plan.action] += 1
    return out


# ------------------------------------------------------------------------------------ database reads


async def _chunked(make_query, values, size: int = 500) -> list[dict]:
    values = list(values)
    out: list[dict] = []
    for start in range(0, len(values), size):
        out.extend(await make_query(values[start:start + size]))
    return out


async def load_lookups(parsed: Parsed) -> Lookups:
    """The rows of the database the file's rows point at (by natural key), in a few set-based reads."""
    kind = parsed.kind
    lookups = Lookups()
    rows = parsed.table.rows
    keys = {(parsed.cell(c, "code" if kind == "customers" else "number") or "").strip() for _l, c in rows} - {""}
    if kind in ("customers", "orders"):
        users = await User.select(User.id, User.username, User.role, User.active)
        lookups.users = {u["username"].lower(): u for u in users}
    if kind == "customers":
        found = await _chunked(lambda part: Customer.select(
            Customer.id, Customer.code, Customer.name, Customer.owner, Customer.contact_name, Customer.phone,
            Customer.address).where(Customer.code.is_in(part)), keys)
        lookups.customers = {r["code"]: r for r in found}
    elif kind == "orders":
        codes = {(parsed.cell(c, "customer_code") or "").strip() for _l, c in rows} - {""}
        found = await _chunked(lambda part: Customer.select(Customer.id, Customer.code).where(Customer.code.is_in(part)), codes)
        lookups.customers = {r["code"]: r for r in found}
        orders = await _chunked(lambda part: Order.select(
            Order.id, Order.number, Order.customer, Order.order_date, Order.due_date, Order.amount_cents,
            Order.cost_cents, Order.note).where(Order.number.is_in(part)), keys)
        by_id = {o["id"]: {**o, "splits": set()} for o in orders}
        splits = await _chunked(lambda part: OrderSplit.select(OrderSplit.sales_order, OrderSplit.rep, OrderSplit.share_bp)
                                .where(OrderSplit.sales_order.is_in(part)), by_id)
        for s in splits:
            by_id[s["sales_order"]]["splits"].add((s["rep"], s["share_bp"]))
        lookups.orders = {o["number"]: {**o, "splits": frozenset(o["splits"])} for o in by_id.values()}
        # What has been collected against the orders the file changes: an amount may not drop below it.
        paid = await _chunked(lambda part: Collection.select(Collection.sales_order, Collection.amount_cents)
                              .where(Collection.sales_order.is_in(part)), by_id)
        for p in paid:
            lookups.collected[p["sales_order"]] = lookups.collected.get(p["sales_order"], 0) + p["amount_cents"]
    else:
        numbers = {(parsed.cell(c, "order_number") or "").strip() for _l, c in rows} - {""}
        orders = await _chunked(lambda part: Order.select(Order.id, Order.number, Order.amount_cents)
                                .where(Order.number.is_in(part)), numbers)
        lookups.orders = {o["number"]: o for o in orders}
        existing = await _chunked(lambda part: Collection.select(
            Collection.id, Collection.number, Collection.sales_order, Collection.received_on, Collection.amount_cents)
            .where(Collection.number.is_in(part)), keys)
        lookups.collections = {c["number"]: c for c in existing}
        paid = await _chunked(lambda part: Collection.select(Collection.sales_order, Collection.amount_cents)
                              .where(Collection.sales_order.is_in(part)), [o["id"] for o in orders])
        for p in paid:
            lookups.collected[p["sales_order"]] = lookups.collected.get(p["sales_order"], 0) + p["amount_cents"]
    return lookups


async def plan_text(kind: str, text: str) -> tuple[Parsed, list[RowPlan]]:
    parsed = parse_file(kind, text)
    return parsed, plan_rows(parsed, await load_lookups(parsed))


# ------------------------------------------------------------------------------------ pages' services


def _admin(actor: Actor) -> None:
    # Imports write company-wide ERP data (any rep's customers, orders and splits): admin only.
    require_role(actor, "admin")


BATCH_COLUMNS = (
    ImportBatch.id, ImportBatch.kind, ImportBatch.filename, ImportBatch.sha256, ImportBatch.encoding,
    ImportBatch.status, ImportBatch.total_rows, ImportBatch.processed_rows, ImportBatch.error_rows,
    ImportBatch.created_count, ImportBatch.updated_count, ImportBatch.unchanged_count, ImportBatch.error,
    ImportBatch.created_at, ImportBatch.finished_at,
)


async def recent(actor: Actor, limit: int = 50) -> list[dict]:
    _admin(actor)
    return await ImportBatch.select(*BATCH_COLUMNS, ImportBatch.created_by.display_name.as_alias("by_name")).order_by(
        ImportBatch.created_at, ascending=False).limit(limit)


async def preview(actor: Actor, kind: str, filename: str, data: bytes) -> UUID:
    """Decode, parse and plan a file; keep it as a "previewed" batch (nothing else is written)."""
    _admin(actor)
    if kind not in IMPORT_KINDS:
        raise FieldErrors({"kind": _("Choose what the file holds.")})
    try:
        text, encoding = decode(data)
        parsed, plans = await plan_text(kind, text)
    except ImportFileError as e:
        raise FieldErrors({"file": e.message}) from None
    tally = counts(plans)
    batch_id = uuid4()
    await ImportBatch.insert(ImportBatch(
        id=batch_id, kind=kind, filename=(filename or "")[-200:], sha256=hashlib.sha256(data).hexdigest(),
        encoding=encoding, content=text, status="previewed", total_rows=len(plans), processed_rows=0,
        error_rows=tally["error"], created_count=tally["create"], updated_count=tally["update"],
        unchanged_count=tally["unchanged"], error="", created_by=actor.id, created_at=clock.now(),
    ))
    return batch_id


async def get(actor: Actor, batch_id: UUID) -> dict:
    _admin(actor)
    row = await ImportBatch.select(*BATCH_COLUMNS, ImportBatch.created_by.display_name.as_alias("by_name")).where(
        ImportBatch.id == batch_id).first()
    if row is None:
        raise NotFoundException()
    return row


async def detail(actor: Actor, batch_id: UUID) -> dict:
    """A batch, and while it can still run, its rows planned against the database as it is now."""
    batch = await get(actor, batch_id)
    out = {"batch": batch, "rows": [], "counts": None, "ignored": [], "before": None, "delimiter": ""}
    before = await ImportBatch.select(ImportBatch.finished_at).where(
        (ImportBatch.sha256 == batch["sha256"]) & (ImportBatch.kind == batch["kind"]) & (ImportBatch.status == "done")
        & (ImportBatch.id != batch_id)).order_by(ImportBatch.finished_at, ascending=False).first()
    out["before"] = before["finished_at"] if before else None
    if batch["status"] in ("previewed", "failed"):
        content = await ImportBatch.select(ImportBatch.content).where(ImportBatch.id == batch_id).first()
        try:
            parsed, plans = await plan_text(batch["kind"], content["content"])
        except ImportFileError as e:  # pragma: no cover - the file was read at preview
            out["file_error"] = e.message
            return out
        out["counts"] = counts(plans)
        errors_first = sorted(plans, key=lambda p: (p.action != "error", p.line))
        for plan in errors_first[:PREVIEW_ROWS]:
            plan.changed = [parsed.written.get(_CHANGED_COLUMN.get(k, k), k) for k in plan.changed]
        out["rows"] = errors_first[:PREVIEW_ROWS]
        out["ignored"] = parsed.ignored
        out["delimiter"] = {",": _("comma"), ";": _("semicolon"), "\t": _("tab")}[parsed.table.delimiter]
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
    if not db.is_sqlite(ImportBatch._meta.db):
        # PostgreSQL: on a connection of its own (a fresh context holds no transaction), so other
        # processes serving the progress page see it while the import's transaction is open.
        query = ImportBatch.update({ImportBatch.processed_rows: processed}).where(ImportBatch.id == batch_id)
        await asyncio.get_running_loop().create_task(query.run(), context=contextvars.Context())


async def run(actor: Actor, batch_id: UUID) -> None:
    """Apply the batch as one write transaction; a failure rolls everything back and marks it failed."""
    try:
        content = await ImportBatch.select(ImportBatch.kind, ImportBatch.content).where(ImportBatch.id == batch_id).first()
        async with db.write_transaction():
            parsed, plans = await plan_text(content["kind"], content["content"])
            tally = counts(plans)
            if tally["error"]:
                raise RunRefused(_("The data changed since the preview: %(n)s rows have errors now. Upload the file again.",
                                   n=tally["error"]))
            await _apply(actor, batch_id, parsed.kind, plans)
            await ImportBatch.update({
                ImportBatch.status: "done", ImportBatch.processed_rows: len(plans), ImportBatch.error_rows: 0,
                ImportBatch.created_count: tally["create"], ImportBatch.updated_count: tally["update"],
                ImportBatch.unchanged_count: tally["unchanged"], ImportBatch.finished_at: clock.now(),
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
        except Exception:  # noqa: BLE001
            log.exception("Could not mark import %s failed", batch_id)
    finally:
        PROGRESS.pop(batch_id, None)


async def _apply(actor: Actor, batch_id: UUID, kind: str, plans: list[RowPlan]) -> None:
    now = clock.now()
    processed = 0
    for start in range(0, len(plans), CHUNK):
        chunk = plans[start:start + CHUNK]
        creates = [p for p in chunk if p.action == "create"]
        updates = [p for p in chunk if p.action == "update"]
        if kind == "customers":
            await _apply_customers(actor, creates, updates, now)
        elif kind == "orders":
            await _apply_orders(actor, creates, updates, now)
        else:
            await _apply_collections(actor, creates, updates, now)
        processed += len(chunk)
        await _report_progress(batch_id, processed)


async def _apply_customers(actor: Actor, creates: list[RowPlan], updates: list[RowPlan], now) -> None:
    if not creates and not updates:
        return
    # New numbers in the change order, so phones pull the new and changed customers.
    moved = sum(1 for p in updates if "owner" in p.changed)
    first = await changes.allocate(len(creates) + len(updates) + moved)
    await db.insert_rows(Customer, [{
        "id": uuid4(), "name": p.values["name"], "contact_name": p.values.get("contact_name", ""),
        "phone": p.values.get("phone", ""), "address": p.values.get("address", ""), "code": p.values["code"],
        "owner": p.values["owner"], "created_by": actor.id, "created_at": now, "updated_at": now,
        "server_seq": first + k,
    } for k, p in enumerate(creates)])
    seq = first + len(creates)
    for p in updates:
        fields = {getattr(Customer, k): p.values[k] for k in p.changed}
        if "owner" in p.changed:
            # The previous owner's phones drop the customer at their next pull.
            old = await Customer.select(Customer.owner).where(Customer.id == p.existing_id).first()
            await db.insert_rows(Tombstone, [{"id": uuid4(), "record_type": "customer", "record_id": p.existing_id,
                                              "owner": old["owner"], "server_seq": seq, "deleted_at": now}])
            seq += 1
        await Customer.update({**fields, Customer.updated_at: now, Customer.server_seq: seq}).where(Customer.id == p.existing_id)
        seq += 1


async def _apply_orders(actor: Actor, creates: list[RowPlan], updates: list[RowPlan], now) -> None:
    order_rows, split_rows = [], []
    for p in creates:
        oid = uuid4()
        v = p.values
        order_rows.append({
            "id": oid, "number": v["number"], "customer": v["customer"], "opportunity": None,
            "order_date": v["order_date"], "due_date": v.get("due_date"), "amount_cents": v["amount_cents"],
            "cost_cents": v.get("cost_cents", 0), "note": v.get("note", ""), "source": "import",
            "created_by": actor.id, "created_at": now, "updated_at": now,
        })
        split_rows.extend({"id": uuid4(), "sales_order": oid, "rep": rep, "share_bp": bp, "order_date": v["order_date"]}
                          for rep, bp in sorted(v["splits"], key=lambda s: -s[1]))
    await db.insert_rows(Order, order_rows)
    await db.insert_rows(OrderSplit, split_rows)
    for p in updates:
        v = p.values
        fields = {getattr(Order, k): v[k] for k in p.changed if k != "splits"}
        await Order.update({**fields, Order.updated_at: now}).where(Order.id == p.existing_id)
        if "splits" in p.changed:
            await OrderSplit.delete().where(OrderSplit.sales_order == p.existing_id)
            await db.insert_rows(OrderSplit, [
                {"id": uuid4(), "sales_order": p.existing_id, "rep": rep, "share_bp": bp, "order_date": v["order_date"]}
                for rep, bp in sorted(v["splits"], key=lambda s: -s[1])])
        elif "order_date" in p.changed:
            await OrderSplit.update({OrderSplit.order_date: v["order_date"]}).where(OrderSplit.sales_order == p.existing_id)


async def _apply_collections(actor: Actor, creates: list[RowPlan], updates: list[RowPlan], now) -> None:
    await db.insert_rows(Collection, [{
        "id": uuid4(), "number": p.values["number"], "sales_order": p.values["sales_order"],
        "received_on": p.values["received_on"], "amount_cents": p.values["amount_cents"], "source": "import",
        "created_by": actor.id, "created_at": now,
    } for p in creates])
    for p in updates:
        await Collection.update({getattr(Collection, k): p.values[k] for k in p.changed}).where(Collection.id == p.existing_id)


# ------------------------------------------------------------------------------------ example files


def example_csv(kind: str, chinese: bool) -> bytes:
    """The example file of a kind: UTF-8 with BOM (so Excel shows Chinese right), headers in the
    page's language, two example rows."""
    columns = COLUMNS[kind]
    return csv_bytes([c.chinese if chinese else c.english for c in columns], [[c.example[i] for c in columns] for i in range(2)])
