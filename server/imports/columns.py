"""The columns of each import kind and how a file's headers map to them (pure, no database): `COLUMNS`
(English and Chinese names and synonyms, as K/3, 金蝶云星空 and 用友 U8 export them), `Mapping` (saved per
source), `guess_mapping`, `resolve_mapping`, `map_headers`, and the example files."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field

from server.i18n import N_, _
from server.imports.parsing import ImportFileError

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
