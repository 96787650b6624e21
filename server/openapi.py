"""The OpenAPI document of the JSON API (`/api/v1`), served at `/schema/openapi.json`.

Litestar generates it from the handlers; this module keeps only the API's routes in it and describes
the answers every API route can give besides its own: RFC 9457 problem details for 400-429, and the
two credentials (the session cookie, and the CSRF header on unsafe methods).
"""

from __future__ import annotations

from typing import Any

from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import BaseRoute

from server.sales.tables import STAGES
from server.visits.tables import PURPOSES

API_PREFIX = "/api/"
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `errors` holds a translated message per field.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
PROBLEMS = {
    "400": "The request could not be read (a value out of range, malformed JSON).",
    "401": "Not signed in, or the session ended.",
    "403": "Not allowed for this role, or the CSRF token is missing or wrong.",
    "404": "No such record, or not yours to see.",
    "409": "The record changed state meanwhile.",
    "413": "The body is too large.",
    "422": "Some fields need attention (see `errors`).",
    "429": "Too many attempts.",
}


_UUID = {"type": "string", "format": "uuid"}
_TEXT = {"type": "string"}
_DAY = {"type": "string", "format": "date"}
_MOMENT = {"type": "string", "format": "date-time"}
_VISIT = {"type": "object", "properties": {
    "id": _UUID, "customer": _UUID, "purpose": {"type": "string", "enum": list(PURPOSES)},
    "checkin_at": _MOMENT, "checkout_at": _MOMENT, "latitude": {"type": "number"}, "longitude": {"type": "number"},
    "accuracy_m": {"type": "number"}, "outcome": _TEXT, "next_step": _TEXT, "next_step_date": _DAY,
    "satisfaction": {"type": "integer"}}}
_CUSTOMER = {"type": "object", "properties": {
    "id": _UUID, "name": _TEXT, "contact_name": _TEXT, "phone": _TEXT, "address": _TEXT, "owner": _UUID}}
_REPORT = {"type": "object", "properties": {
    "id": _UUID, "kind": {"type": "string", "enum": ["daily", "weekly"]}, "period_start": _DAY, "summary": _TEXT,
    "results": _TEXT, "problems": _TEXT, "plan": _TEXT, "submit": {"type": "boolean"}}}
# What the handlers read from their JSON bodies (they take a plain object and validate it themselves), so
# that a fuzzer's cases reach the validation rather than stopping at "not an object".
REQUEST_BODIES: dict[str, dict[str, Any]] = {
    "/api/v1/customers": _CUSTOMER,
    "/api/v1/visits": _VISIT,
    "/api/v1/reports": _REPORT,
    "/api/v1/reports/{report_id}/decision": {"type": "object", "properties": {
        "decision": {"type": "string", "enum": ["approve", "return"]}, "comment": _TEXT}},
    "/api/v1/opportunities": {"type": "object", "properties": {
        "id": _UUID, "name": _TEXT, "customer": _UUID, "stage": {"type": "string", "enum": list(STAGES)},
        "amount": {"type": "number"}, "expected_close": _DAY}},
    "/api/v1/orders": {"type": "object", "properties": {
        "id": _UUID, "customer": _UUID, "number": _TEXT, "amount": {"type": "number"}, "cost": {"type": "number"},
        "order_date": _DAY, "due_date": _DAY}},
    "/api/v1/sync/push": {"type": "object", "required": ["protocol", "schema", "device_id", "mutations"],
                          "properties": {
        "protocol": {"type": "integer"}, "schema": {"type": "integer"}, "device_id": _UUID, "sent_at": _MOMENT,
        "mutations": {"type": "array", "items": {"type": "object", "properties": {
            "seq": {"type": "integer"}, "record_id": _UUID, "client_time": _MOMENT,
            "kind": {"type": "string", "enum": ["visit.create", "customer.create", "report.save"]},
            "payload": {"anyOf": [_VISIT, _CUSTOMER, _REPORT]}}}}}},
}


def config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Fieldpace API", version="1", path="/schema", render_plugins=[JsonRenderPlugin()],
        description="The JSON API of Fieldpace (`/api/v1`). Sign in through `/login` (a session cookie); unsafe "
                    "methods carry the `X-CSRFToken` header with the value of the `fieldpace_csrf` cookie.",
        components=Components(security_schemes={
            "session": SecurityScheme(type="apiKey", name="fieldpace_session", security_scheme_in="cookie"),
            "csrf": SecurityScheme(type="apiKey", name="X-CSRFToken", security_scheme_in="header"),
        }),
        security=[{"session": []}],
    )


class APIOnlyOpenAPIPlugin(OpenAPIPlugin):
    """Litestar's OpenAPI plugin, limited to the JSON API and with the shared error answers described."""

    __slots__ = ()

    def receive_route(self, route: BaseRoute) -> None:
        if route.path.startswith(API_PREFIX):
            super().receive_route(route)

    def provide_openapi_schema(self) -> dict[str, Any]:
        if not self._openapi_schema:
            schema = super().provide_openapi_schema()
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            for path, item in schema.get("paths", {}).items():
                item.pop("head", None)  # every GET answers HEAD too (server/app.py): the GET describes it
                for method, operation in item.items():
                    if not isinstance(operation, dict) or "responses" not in operation:
                        continue
                    responses = operation["responses"]
                    for status, description in PROBLEMS.items():
                        responses[status] = {"description": description, "content": {
                            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
                    body = REQUEST_BODIES.get(path) if method == "post" else None
                    if body is not None:
                        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
                    if method in ("post", "put", "patch", "delete"):
                        operation["security"] = [{"session": [], "csrf": []}]
            self._openapi_schema = schema
        return self._openapi_schema


def limit_to_api(app: Any) -> None:
    """Swap the app's OpenAPI plugin for the API-only one (Litestar always installs its own)."""
    plugin = app.plugins.get(OpenAPIPlugin)
    plugin.__class__ = APIOnlyOpenAPIPlugin
    for path in [p for p in plugin.included_routes if not p.startswith(API_PREFIX)]:
        del plugin.included_routes[path]
    plugin._openapi = None
    plugin._openapi_schema = None
