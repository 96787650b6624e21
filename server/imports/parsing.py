"""The pure half of a CSV import: no database. Decoding (UTF-8 with or without BOM, UTF-16 with BOM,
GB18030), `read_table` (delimiter sniffed: comma, semicolon or tab), total rows, and the cell parsers
`parse_date` (Excel date numbers too), `parse_amount` (server/validation.py's amount parser with the sheet's
forms), `parse_signed_amount`, `parse_split`. The columns and their mapping are in `columns.py`."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
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
