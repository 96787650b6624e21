"""CSV import pages (admin only): upload and preview, run with progress, example files."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import HTTPException, NotFoundException

from server.accounts.permissions import Actor
from server.i18n import _, current_locale
from server.imports import columns, parsing, services
from server.imports.tables import IMPORT_KINDS
from server.web import FieldErrors, form_data, is_htmx, page, redirect

# The upload's request may carry the form's other fields and multipart framing besides a 2 MB file;
# the service refuses a file over 2 MB with a clear message, this bound protects the server.
_UPLOAD_BODY_LIMIT = parsing.MAX_BYTES + 256 * 1024


def _too_large(request: Request, exc: HTTPException) -> Response:
    """A body over the upload bound is refused before the handler runs: explain it, not a bare 413."""
    return page("system/error.html", status_code=413, status=413, message=_(
        "The file is larger than 2 MB. Split it into smaller files and import them one by one."))


async def _index(actor: Actor, status_code: int = 200, values: dict | None = None, errors: dict | None = None):
    return page(
        "imports/index.html", status_code=status_code, actor=actor, batches=await services.recent(actor),
        sources=await services.sources(actor),
        values=values or {"kind": "customers"}, errors=errors or {}, **_labels(),
    )


def _labels() -> dict[str, Any]:
    return {
        "columns": columns.COLUMNS, "kinds": IMPORT_KINDS, "kind_labels": services.KIND_LABELS,
        "status_labels": services.STATUS_LABELS, "action_labels": services.ACTION_LABELS,
        "encoding_labels": parsing.ENCODING_LABELS, "max_mb": parsing.MAX_BYTES // (1024 * 1024),
        "line_level_kinds": columns.LINE_LEVEL_KINDS,
    }


@get("/imports")
async def import_index(actor: Actor) -> object:
    return await _index(actor)


@post("/imports", request_max_body_size=_UPLOAD_BODY_LIMIT, exception_handlers={413: _too_large})
async def import_upload(request: Request, actor: Actor) -> object:
    services.require_admin(actor)
    form = await request.form()
    kind = raw_kind if isinstance(raw_kind := form.get("kind"), str) else ""
    upload = form.get("file")
    pasted = raw_text if isinstance(raw_text := form.get("text"), str) else ""
    source = raw_source if isinstance(raw_source := form.get("source"), str) else ""
    values = {"kind": kind, "text": pasted, "source": source}
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(parsing.MAX_BYTES + 1)
            filename = upload.filename
        elif pasted.strip():
            data, filename = pasted.encode("utf-8"), ""
        else:
            raise FieldErrors({"file": _("Choose a CSV file, or paste the rows.")})
        if len(data) > parsing.MAX_BYTES:
            raise FieldErrors({"file": _(
                "The file is larger than 2 MB. Split it into smaller files and import them one by one.")})
        batch_id = await services.preview(actor, kind, filename, data, source)
    except FieldErrors as e:
        return await _index(actor, 422, values, e.errors)
    return redirect(f"/imports/{batch_id}", request)


@get("/imports/template/{filename:str}")
async def import_template(actor: Actor, filename: str) -> Response:
    services.require_admin(actor)
    kind = filename.removesuffix(".csv")
    if kind not in IMPORT_KINDS or not filename.endswith(".csv"):
        raise NotFoundException()
    body = columns.example_csv(kind, chinese=current_locale().startswith("zh"))
    return Response(content=body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="fieldpace-{kind}.csv"'})


@get("/imports/{batch_id:uuid}")
async def import_detail(actor: Actor, batch_id: UUID) -> object:
    info = await services.detail(actor, batch_id)
    return page("imports/detail.html", actor=actor, **info.context(), **_labels())


@post("/imports/{batch_id:uuid}/mapping")
async def import_mapping(request: Request, actor: Actor, batch_id: UUID) -> object:
    values = await form_data(request)
    try:
        await services.remap(actor, batch_id, values)
    except FieldErrors as e:
        info = await services.detail(actor, batch_id)
        return page("imports/detail.html", status_code=422, actor=actor, mapping_errors=e.errors, mapping_values=values,
                    **info.context(), **_labels())
    return redirect(f"/imports/{batch_id}", request)


@post("/imports/{batch_id:uuid}/run")
async def import_run(request: Request, actor: Actor, batch_id: UUID) -> object:
    try:
        await services.start(actor, batch_id)
    except services.RunRefused as e:
        info = await services.detail(actor, batch_id)
        return page("imports/detail.html", status_code=e.status, actor=actor, refused=e.message, **info.context(), **_labels())
    return redirect(f"/imports/{batch_id}", request)


@get("/imports/{batch_id:uuid}/progress")
async def import_progress(request: Request, actor: Actor, batch_id: UUID) -> object:
    batch = await services.progress(actor, batch_id)
    template = "imports/_progress.html" if is_htmx(request) else "imports/progress.html"
    return page(template, actor=actor, batch=batch, **_labels())


router = Router(
    path="/",
    route_handlers=[import_index, import_upload, import_template, import_detail, import_mapping, import_run,
                    import_progress],
)
