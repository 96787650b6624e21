"""Shared pieces of the HTML and JSON layers: page rendering, errors, flash messages, form parsing."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template

from server import validation
from server.i18n import _


class FieldErrors(Exception):
    """Bad input: a translated message per field (the key "" is for the whole form)."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Arrival:
    """How a record reached the server. From a device's outbox: the device's own time for it, when the
    server received it and how far the device's clock was off. From a form: nothing to record."""

    device_time: datetime | None = None
    received_at: datetime | None = None
    clock_skew_s: int | None = None


@dataclass(frozen=True)
class Result:
    """The outcome of one write: applied, duplicate (already there: no change), rejected or conflict."""

    status: str
    record_id: UUID | None = None
    errors: dict[str, str] | None = None


def single(result: Result) -> tuple[UUID, bool]:
    """The answer of a one-record write through a batch service: (id, created), or FieldErrors."""
    if result.status == "rejected":
        raise FieldErrors(result.errors or {})
    assert result.record_id is not None, result  # every outcome but "rejected" names its record
    return result.record_id, result.status == "applied"


class Conflict(Exception):
    """The record changed state so this write no longer applies (a report approved meanwhile, or its text
    saved from another device). `current` is the stored record, when the caller should show it beside
    the text that was not saved."""

    def __init__(self, message: str, current: dict | None = None):
        super().__init__(message)
        self.message = message
        self.current = current


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def page(template: str, **context: Any) -> Template:
    """Render a template; handlers pass the fragment template for htmx requests themselves. The keyword
    `status_code` (default 200) is the answer's status; every other keyword is the template's context.
    (Not a parameter of its own: handlers spread `**dict[str, object]` contexts, which a typed
    `status_code: int` would make a type error at every such call.)"""
    status_code = int(context.pop("status_code", 200))
    return Template(template_name=template, context=context, status_code=status_code, media_type=MediaType.HTML)


def flash(request: Request, message: str, kind: str = "success") -> None:
    """Queue a message for the next page (kept in the signed session cookie)."""
    session = session_of(request)
    messages = list(session.get("flash", []))
    messages.append({"kind": kind, "text": message})
    request.set_session({**session, "flash": messages[-3:]})


def session_of(request: Request) -> dict:
    """The session as a dict (Litestar marks a cleared session with a sentinel, not a dict)."""
    session = request.scope.get("session")
    return session if isinstance(session, dict) else {}


def pop_flash(request: Request) -> list[dict[str, str]]:
    """The flash messages to show, taken out of the session; kept for the person's own next page when
    the service worker is only prefetching this one for offline use."""
    if "x-fieldpace-prefetch" in request.headers:
        return []
    session = session_of(request)
    messages = session.get("flash") or []
    if messages:
        request.set_session({k: v for k, v in session.items() if k != "flash"})
    return messages


def redirect(url: str, request: Request | None = None) -> Response:
    """303 after a successful POST; htmx requests get HX-Redirect so the whole page changes."""
    if request is not None and is_htmx(request):
        return Response(content="", status_code=200, headers={"HX-Redirect": url})
    return Redirect(path=url, status_code=303)


async def form_data(request: Request) -> dict[str, str]:
    """The submitted form as plain strings (last value wins), without the CSRF token."""
    form = await request.form()
    return {k: (v if isinstance(v, str) else "") for k, v in form.items() if k != "_csrf_token"}


def problem(status: int, title: str, detail: str = "", errors: dict[str, str] | None = None) -> Response:
    """An RFC 9457 problem description for the JSON API."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    return Response(content=body, status_code=status, media_type="application/problem+json")


def http_error_message(exc: HTTPException) -> str:
    """A translated, user-facing sentence for an HTTP error status."""
    status = exc.status_code
    if isinstance(exc, URLValueError):
        return exc.message
    if status == 403 and "CSRF" in str(exc.detail):
        return _("This form has expired. Reload the page and try again; what you typed is kept in your browser.")
    messages = {
        400: _("The request could not be understood. Check what you entered and try again."),
        401: _("Please sign in to continue."),
        403: _("You do not have access to this page."),
        404: _("This page or record does not exist, or you do not have access to it."),
        405: _("This action is not allowed here."),
        413: _("What you sent is too large."),
        415: _("This kind of content is not accepted here."),
        429: _("Too many attempts. Please wait a few minutes and try again."),
    }
    return messages.get(status, _("Something went wrong. Please try again."))


# --- CSV downloads ---------------------------------------------------------------------------------

# A text cell starting with one of these is read as a formula by spreadsheets (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A number written as text (what csv_number makes): a spreadsheet reads it as a number, never a formula.
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def csv_cell(value: object) -> object:
    """A cell as a spreadsheet may safely open it: numbers stay numbers (negative amounts too), text that
    would start a formula gets a leading apostrophe, which spreadsheets show as text and do not run."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_bytes(header: list, rows: list[list]) -> bytes:
    """The one way Fieldpace writes CSV: UTF-8 with a BOM (Excel opens Chinese text right), CRLF, every
    cell through `csv_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_cell(v) for v in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def csv_download(filename: str, header: list[str], rows: list[list]) -> Response:
    """A CSV download (`csv_bytes`) with an ASCII file name, never cached."""
    return attachment(filename, csv_bytes(header, rows), "text/csv; charset=utf-8", "export.csv")


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_bytes(title: str, header: list[str], rows: list[list], formats: list[list[str | None]]) -> bytes:
    """The one way Fieldpace writes XLSX (openpyxl, loaded on the first export): one sheet, a bold header
    row, numbers as number cells with `formats[i][j]` as their number format (None: General), text as
    text cells (never a formula, whatever it starts with)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has its one sheet
    sheet.title = title[:31] or "Sheet1"
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for i, row in enumerate(rows, start=2):
        for j, value in enumerate(row, start=1):
            cell = sheet.cell(row=i, column=j)
            if isinstance(value, int | float) and not isinstance(value, bool):
                cell.value = value
                if formats[i - 2][j - 1]:
                    cell.number_format = formats[i - 2][j - 1]
            else:
                cell.value = "" if value is None else str(value)
                cell.data_type = "s"  # a text starting with "=" stays text
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def attachment(filename: str, content: bytes, media_type: str, fallback: str) -> Response:
    """A download with an ASCII file name, never cached."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in filename) or fallback
    return Response(
        content=content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{safe}"', "Cache-Control": "no-store"},
    )


# --- URL parameters ----------------------------------------------------------------------------------


class URLValueError(ValidationException):
    """A path value or query parameter out of range: 400, with the translated reason."""

    def __init__(self, name: str, message: str):
        super().__init__(detail=message, extra=[{"key": name, "message": message}])
        self.message = message


async def check_url_values(request: Request) -> None:
    """`before_request` for every route: each path value and query parameter inside its range
    (`validation.url_value_problem`), so no handler meets a date of 9999-12-31 or a 30-digit number."""
    values = [*request.path_params.items(), *request.query_params.multi_items()]
    for name, value in values:
        problem = validation.url_value_problem(name, value)
        if problem:
            raise URLValueError(name, problem)
