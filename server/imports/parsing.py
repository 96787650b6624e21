"""The pure half of a CSV import: no database. Decoding (UTF-8 with or without BOM, UTF-16 with BOM,
GB18030), `read_table` (delimiter sniffed: comma, semicolon or tab), `map_headers` (English or Chinese
aliases), the cell parsers `parse_date`, `parse_amount` (server/validation.py's amount parser with the
sheet's forms), `parse_split`, and the example files."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

from server import validation
from server.i18n import N_, _
from server.sales.tables import FULL_SHARE

MAX_BYTES = 2 * 1024 * 1024  # the largest file accepted (the app's request body limit is 2 MB too)
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
    weak: tuple[str, ...] = ()  # headers that mean this column only when another column has taken their first meaning


COLUMNS: dict[str, tuple[Column, ...]] = {
    "customers": (
        Column("code", "customer_code", "客户编码", ("code", "customercode", "customerno", "客户代码", "编码", "客户编号"), True,
               N_("The ERP's customer code: the key that matches a row to an existing customer."), ("C-1001", "C-1002")),
        Column("name", "name", "客户名称", ("customername", "customer", "名称", "客户", "客户全称"), True,
               N_("Customer name."), ("上海华东贸易有限公司", "Suzhou Lake Foods")),
        Column("rep", "rep", "业务员", ("owner", "username", "销售", "销售员", "负责人", "专营业务员"), True,
               N_("The rep who owns the customer (an active rep): username, name or ERP code."), ("rep_a1", "rep_a2")),
        Column("contact_name", "contact_name", "联系人", ("contact",), False, N_("Contact person."), ("王经理", "")),
        Column("phone", "phone", "电话", ("telephone", "mobile", "联系电话", "手机"), False, N_("Phone number."),
               ("021-5555-0101", "")),
        Column("address", "address", "地址", ("客户地址",), False, N_("Address."), ("上海市浦东新区", "")),
        Column("latitude", "latitude", "纬度", ("lat",), False,
               N_("Latitude in decimal degrees, -90 to 90 (optional; with the longitude)."), ("31.2304", "")),
        Column("longitude", "longitude", "经度", ("lng", "lon", "long"), False,
               N_("Longitude in decimal degrees, -180 to 180 (optional; with the latitude)."), ("121.4737", "")),
        Column("created_on", "created_on", "创建日期", ("created", "createdat", "建档日期", "建立日期", "开户日期"), False,
               N_("When the ERP created the customer (optional): “new customers” counts it in that month, not on import day."),
               ("2024-05-10", "")),
    ),
    "orders": (
        Column("number", "order_number", "订单号", ("number", "orderno", "order", "订单编号", "单号", "单据编号", "单据号",
                                                    "销售订单号", "出库单号", "发货单号", "发票号"), True,
               N_("The ERP's order number: the key that matches a row to an existing order."), ("SO-2026-0001", "SO-2026-0002")),
        Column("customer_code", "customer_code", "客户编码", ("customer", "customerno", "客户代码", "客户编号",
                                                                     "购货单位编码"), False,
               N_("Code of a customer that already exists (import customers first); or give the customer's name."),
               ("C-1001", "C-1002")),
        Column("customer_name", "customer_name", "客户名称", ("customername", "客户", "购货单位", "客户全称"), False,
               N_("The customer's exact name, when the file has no customer code."), ("", "")),
        Column("date", "date", "日期", ("orderdate", "订单日期", "下单日期", "单据日期", "业务日期", "出库日期",
                                       "发货日期"), True,
               N_("Order date: 2026-03-05, 2026/3/5, 2026年3月5日 or an Excel date number such as 46086."),
               ("2026-03-05", "2026/3/6")),
        Column("due_date", "due_date", "到期日", ("due", "duedate", "应收日期", "付款到期日", "到期日期"), False,
               N_("When payment is due (optional; empty means the order date)."), ("2026-04-05", "")),
        Column("amount", "amount", "价税合计", ("ordermount", "orderamount", "amountincltax", "订单金额", "金额", "含税金额",
                                          "本位币价税合计", "价税合计本位币"), True,
               N_("Order amount including tax (价税合计) in yuan: 1234.56, 1,234.56 or ¥1234.56. "
                  "A negative amount is a return."), ("12,800.00", "¥5600")),
        Column("amount_excl", "amount_excl_tax", "不含税金额", ("amountexcltax", "net", "无税金额", "本位币无税金额",
                                                                  "金额本位币"), False,
               N_("Order amount excluding tax (optional; with the tax it gives the amount including tax, and the gross "
                  "margin is counted on it)."), ("", ""), weak=("金额",)),
        Column("tax", "tax", "税额", ("taxamount", "本位币税额"), False,
               N_("Tax (optional; added to the amount excluding tax when the file has no amount including tax)."), ("", "")),
        Column("cost", "cost", "成本", ("costamount", "成本金额", "销售成本", "总成本"), False,
               N_("Cost in yuan (optional; gross margin = amount excluding tax, or the amount, minus cost)."), ("7680", "")),
        Column("margin", "margin", "毛利", ("grossmargin", "grossprofit", "毛利额", "毛利金额"), False,
               N_("Gross margin in yuan as the ERP counts it (optional; instead of the cost)."), ("", "")),
        Column("reps", "rep", "业务员", ("reps", "split", "owner", "销售", "销售员", "分成", "职员", "专营业务员"), True,
               N_("One rep (username, name or ERP code), or a split such as rep_a1:60;rep_a2:40 (shares add up to 100)."),
               ("rep_a1", "rep_a1:60;rep_a2:40")),
        Column("red", "red", "红蓝字", ("redblue", "红字", "红字标志", "单据方向"), False,
               N_("“红字” marks a return or credit note (optional; a negative amount does too)."), ("", "")),
        Column("original", "original_number", "源单编号", ("original", "originalorder", "源单号", "原单号", "原订单号",
                                                             "退货对应订单", "源单单号"), False,
               N_("For a return: the number of the order it returns."), ("", "")),
        Column("note", "note", "备注", ("remark", "comment", "说明", "摘要"), False, N_("Note (optional)."), ("", "")),
    ),
    "collections": (
        Column("number", "collection_number", "回款单号", ("number", "receiptno", "receiptnumber", "收款单号", "单号",
                                                            "单据编号", "单据号"), True,
               N_("The ERP's receipt number: the key that matches a row to an existing collection. A receipt that "
                  "settles several orders has one line per order."), ("RC-2026-0001", "RC-2026-0002")),
        Column("order_number", "order_number", "订单号", ("order", "orderno", "订单编号", "源单编号", "源单号", "源单单号",
                                                          "销售订单号", "核销单号"), True,
               N_("Number of an order that already exists."), ("SO-2026-0001", "SO-2026-0001")),
        Column("date", "date", "日期", ("receivedon", "received", "回款日期", "收款日期", "单据日期", "业务日期"), True,
               N_("Date received: 2026-03-05, 2026/3/5, 2026年3月5日 or an Excel date number."), ("2026-03-20", "2026年4月2日")),
        Column("amount", "amount", "金额", ("回款金额", "收款金额", "实收金额", "本次核销金额", "核销金额",
                                          "amountincltax"), True,
               N_("Amount received in yuan, including tax (more than zero; all collections of an order may not exceed "
                  "its amount including tax)."), ("6,400.00", "6400")),
    ),
}

# A file of the kind has at least one column of each group (orders: a code or a name for the customer, an
# amount including or excluding tax).
REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "customers": (("code",), ("name",), ("rep",)),
    "orders": (("number",), ("customer_code", "customer_name"), ("date",), ("amount", "amount_excl"), ("reps",)),
    "collections": (("number",), ("order_number",), ("date",), ("amount",)),
}
# Columns summed over the lines of one order (or one receipt's part for one order) in a line-level file.
SUMMED = {"orders": ("amount", "amount_excl", "tax", "cost", "margin"), "collections": ("amount",), "customers": ()}
# Kinds whose files may list one record over several lines.
LINE_LEVEL_KINDS = ("orders", "collections")


def normalise_header(raw: str) -> str:
    """Headers match whatever their case, width, spaces, underscores or hyphens: "Customer Code",
    "customer_code" and "ＣＵＳＴＯＭＥＲ-ＣＯＤＥ" are one; a stray BOM or "*" is dropped."""
    text = unicodedata.normalize("NFKC", raw or "").replace("\ufeff", "").strip().lower()
    return re.sub(r"[\s_\-*.]+", "", text)


class MappingIncomplete(ImportFileError):
    """The file's headers (or the mapping chosen for them) leave required columns unmapped."""

    def __init__(self, message: str, missing: list[tuple[str, ...]]):
        super().__init__(message)
        self.missing = missing


@dataclass
class Mapping:
    """Which header of the file is which of Fieldpace's columns, and whether one record spans several lines.
    Saved per source (a named ERP export) and applied to the next file with the same headers."""

    columns: dict[str, str] = field(default_factory=dict)  # column key -> header as written in the file
    line_level: bool = False

    def dumps(self) -> str:
        return json.dumps({"columns": self.columns, "line_level": self.line_level}, ensure_ascii=False, sort_keys=True)

    @classmethod
    def loads(cls, text: str | None) -> Mapping | None:
        try:
            data = json.loads(text or "")
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
            return None
        columns = {str(k): str(v) for k, v in data["columns"].items() if isinstance(v, str) and v.strip()}
        return cls(columns=columns, line_level=bool(data.get("line_level")))


def header_signature(headers: list[str]) -> str:
    """The file's headers as one key (order, case and width do not matter): a saved source whose headers
    have this key is applied to the file without asking."""
    return "|".join(sorted({normalise_header(h) for h in headers if normalise_header(h)}))


def guess_mapping(kind: str, headers: list[str]) -> Mapping:
    """The columns the headers name by their known names, English or Chinese: exact names first, then
    aliases, then weak aliases (金额 is the amount including tax unless 价税合计 is there too). Two
    headers with the same exact meaning are a file error."""
    ranked: list[tuple[int, int, str]] = []  # (rank, header index, column key)
    exact: dict[str, int] = {}
    for i, header in enumerate(headers):
        normal = normalise_header(header)
        if not normal:
            continue
        for column in COLUMNS[kind]:
            names = {0: (column.key, column.english, column.chinese), 1: column.aliases, 2: column.weak}
            for rank, group in names.items():
                if normal in {normalise_header(n) for n in group}:
                    if rank == 0:
                        if column.key in exact:
                            raise ImportFileError(_("The columns “%(a)s” and “%(b)s” both mean %(column)s; keep one.",
                                                    a=headers[exact[column.key]].strip(), b=header.strip(),
                                                    column=column.english))
                        exact[column.key] = i
                    ranked.append((rank, i, column.key))
                    break
    used: set[int] = set()
    columns: dict[str, str] = {}
    for _rank, i, key in sorted(ranked):
        if i in used or key in columns:
            continue
        used.add(i)
        columns[key] = headers[i].strip()
    return Mapping(columns=columns)


def resolve_mapping(kind: str, headers: list[str], mapping: Mapping) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """(column key -> index in the row, column key -> header as written, ignored headers) of `mapping`
    over the file's headers; a mapped header the file lacks leaves its column unmapped."""
    known = {c.key for c in COLUMNS[kind]}
    where: dict[str, int] = {}
    for i, header in enumerate(headers):
        where.setdefault(normalise_header(header), i)
    index: dict[str, int] = {}
    written: dict[str, str] = {}
    taken: dict[int, str] = {}
    for key in (c.key for c in COLUMNS[kind]):
        chosen = mapping.columns.get(key)
        if key not in known or not chosen:
            continue
        found = where.get(normalise_header(chosen))
        if found is None:
            continue
        i = found
        if i in taken:
            raise ImportFileError(_("The column “%(header)s” is chosen for both %(a)s and %(b)s; choose one.",
                                    header=headers[i].strip(), a=_column(kind, taken[i]).english, b=_column(kind, key).english))
        taken[i] = key
        index[key] = i
        written[key] = headers[i].strip()
    ignored = [h.strip() for i, h in enumerate(headers) if i not in taken and h.strip()]
    return index, written, ignored


def missing_groups(kind: str, index: dict[str, int]) -> list[tuple[str, ...]]:
    return [group for group in REQUIRED[kind] if not any(k in index for k in group)]


def group_label(kind: str, group: tuple[str, ...]) -> str:
    return _(" or ").join(f"{_column(kind, k).chinese} / {_column(kind, k).english}" for k in group)


def map_headers(kind: str, headers: list[str],
                mapping: Mapping | None = None) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """(column key -> index in the row, column key -> header as written, ignored headers) by `mapping`, or
    by the headers' known names without one; raises MappingIncomplete when a required column is unmapped
    and ImportFileError when two headers name the same column."""
    index, written, ignored = resolve_mapping(kind, headers, mapping or guess_mapping(kind, headers))
    missing = missing_groups(kind, index)
    if missing:
        names = ", ".join(group_label(kind, g) for g in missing)
        raise MappingIncomplete(_("Missing columns: %(names)s. Check the header row against the example file.", names=names),
                                missing)
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
            raise ImportFileError(_(
                "This is not a text (CSV) file. Save the sheet as “CSV (comma delimited)” or “CSV UTF-8” and try again."))
        for name in ("utf-8", "gb18030"):
            try:
                text, encoding = data.decode(name), name
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ImportFileError(_(
                "The file's characters cannot be read (it is neither UTF-8 nor GBK). Save it as “CSV UTF-8” and try again."))
    text = text.lstrip("\ufeff")
    # Control characters other than tab and line breaks do not occur in a CSV: a binary file.
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text):
        raise ImportFileError(_(
            "This is not a text (CSV) file. Save the sheet as “CSV (comma delimited)” or “CSV UTF-8” and try again."))
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    assert text is not None and encoding is not None  # both set above, or ImportFileError was raised
    return text, encoding


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
        raise ImportFileError(_("Line %(line)s cannot be read as CSV (%(detail)s).", line=reader.line_num,
                                detail=str(e))) from None
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


_SERIAL = re.compile(r"(\d{5})(\.\d+)?")
_EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 (its 1900 leap-year bug folded in: serial 61 is 1900-03-01)


def parse_date(raw: str) -> date:
    """2026-03-05, 2026/3/5, 2026.3.5, 2026年3月5日, 20260305 (a time of day after it is ignored) or an
    Excel date number (46086, 46086.5: days since 1899-12-30, what a date cell becomes in a CSV saved
    without formats). Day-first or month-first forms (05/03/2026) are refused: they are ambiguous."""
    text = _TIME_SUFFIX.sub("", _nfkc(raw)).strip()
    serial = _SERIAL.fullmatch(text)
    if serial:
        value = _EXCEL_EPOCH + timedelta(days=int(serial.group(1)))
        if not 1990 <= value.year <= 2100:
            raise CellError(_("“%(value)s” is not a plausible date.", value=raw.strip()))
        return value
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


_AMOUNT_MESSAGES = {
    "negative": N_("The amount may not be negative."),
    "decimals": N_("At most two decimals (fen)."),
    "range": N_("The amount is too large."),
    "zero": N_("The amount must be more than zero."),
}


def parse_amount(raw: str, *, allow_zero: bool = True) -> int:
    """Yuan as written in a sheet -> cents, by server/validation.py's one amount parser: 1234.56,
    1,234.56, ¥1234.56, full-width digits; refuses negative amounts, more than two decimals, and forms
    that would need a guess ("1 234,56", "1.234,56"). Sheets are read with the dot as decimal sign."""
    try:
        return validation.parse_amount(raw, allow_zero=allow_zero, locale="en")
    except validation.NumberError as e:
        if e.reason in _AMOUNT_MESSAGES:
            raise CellError(_(_AMOUNT_MESSAGES[e.reason])) from None
        raise CellError(_("“%(value)s” is not an amount; write it as 1234.56 or 1,234.56 (a dot before the decimals).",
                          value=(raw or "").strip())) from None


def parse_signed_amount(raw: str, *, allow_zero: bool = True) -> int:
    """An amount that may be negative (a return or a credit note): -1,234.56, ¥-1,234.56, －1234.56 or
    (1,234.56) as accountants write it; otherwise as `parse_amount`."""
    text = _nfkc(raw)
    if len(text) > 2 and text[0] == "(" and text[-1] == ")":
        return -parse_amount(text[1:-1], allow_zero=allow_zero)
    if text.count("-") == 1 and (text.startswith("-") or text.lstrip("¥￥").startswith("-")):
        return -parse_amount(text.replace("-", "", 1), allow_zero=allow_zero)
    return parse_amount(text, allow_zero=allow_zero)


def cents_text(cents: int) -> str:
    """Cents as the plain decimal text the amount parsers read back: -123456 -> "-1234.56"."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}{whole}.{rest:02d}"


TOTAL_MARKERS = frozenset({"合计", "总计", "小计", "总合计", "本页合计", "本页小计", "合计金额", "total", "totals", "subtotal",
                           "grandtotal"})


def total_marker(cells: list[str], key_cell: str | None) -> str | None:
    """The marker (合计, 总计, 小计, Total ...) of a total row an ERP writes under its data, or None: a
    cell that says so, in a row whose key is empty or the marker itself."""
    for cell in cells:
        normal = re.sub(r"[\s:]+", "", _nfkc(cell)).lower()
        if normal in TOTAL_MARKERS:
            key = re.sub(r"[\s:]+", "", _nfkc(key_cell or "")).lower()
            if not key or key == normal:
                return cell.strip()
    return None


def nfkc(raw: str) -> str:
    """Text as a key: NFKC (full-width letters and digits become their ASCII forms), trimmed."""
    return _nfkc(raw)


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
            bp = validation.parse_share(share, locale="en")
        except validation.NumberError as e:
            if e.reason == "format":
                raise CellError(_("“%(value)s” is not a share in percent.", value=share)) from None
            raise CellError(_("“%(value)s” is not a share in percent (more than 0, at most 100, two decimals).",
                              value=share)) from None
        if name.lower() in seen:
            raise CellError(_("%(name)s appears twice in the split.", name=name))
        seen.add(name.lower())
        out.append((name, bp))
    total = sum(bp for _n, bp in out)
    if total != FULL_SHARE:
        raise CellError(_("The shares add up to %(total)s, not 100.", total=_percent(total)))
    return out


def _percent(bp: int) -> str:
    """Basis points as a percentage without trailing zeros: 9000 -> "90", 3333 -> "33.33"."""
    whole, rest = divmod(bp, 100)
    return str(whole) if not rest else f"{whole}.{rest:02d}".rstrip("0")


def parse_text(raw: str, max_len: int, required: bool) -> str:
    value = (raw or "").strip()
    if required and not value:
        raise CellError(_("This field is required."))
    if len(value) > max_len:
        raise CellError(_("At most %(n)s characters.", n=max_len))
    return value


# ------------------------------------------------------------------------------------ example files


def example_csv(kind: str, chinese: bool) -> bytes:
    """The example file of a kind: UTF-8 with BOM (so Excel shows Chinese right), headers in the
    page's language, two example rows."""
    columns = COLUMNS[kind]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.chinese if chinese else c.english for c in columns])
    for i in range(2):
        writer.writerow([c.example[i] for c in columns])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")



def parse_coordinate(raw: str, low: float, high: float) -> float:
    """A latitude or longitude in decimal degrees within [low, high]."""
    text = (raw or "").strip()
    try:
        value = float(text)
    except ValueError:
        raise CellError(_("Enter a number from %(low)s to %(high)s.", low=low, high=high)) from None
    if not (low <= value <= high):  # NaN fails too
        raise CellError(_("Enter a number from %(low)s to %(high)s.", low=low, high=high))
    return value
