"""The authorization matrix: every route of the app x six personas, allowed or refused; CSRF; sessions.

Personas (see `tests/conftest.py::World`): `anonymous`; `owner` is rep_a1, who owns the records used in
the paths; `other_rep` is rep_a2, a rep of the same team (the case a team-based slip would leak to);
`manager` is mgr_a, who leads team A; `other_manager` is mgr_b, who leads team B; `admin` is boss.

Outcomes (one per cell of `MATRIX`):
    OK       2xx, or a redirect that does not lead to the sign-in page
    SCOPED   OK, and the body names none of the owner's records (ids, customer name, texts)
    SEES     OK, and the body names at least one of the owner's records
    LOGIN    anonymous: HTML answers 303 to /login?next=<the page> (POST: /login), /api/ answers 401 JSON
    LOGGED_OUT  303 to exactly /login (sign-out)
    FORBIDDEN   403: a page or action for another role
    HIDDEN      404: someone else's record, so its existence does not leak
    INVALID     422: refused by the service as input the persona may not send (nothing written)
    SYNC_APPLIED / SYNC_REJECTED   a sync push answers 200 and reports each mutation applied / rejected

The route list comes from the app itself: a route without an entry here fails
`test_every_route_has_an_authorization_expectation`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from uuid import UUID, uuid4

import pytest
from argon2 import PasswordHasher

from server import clock
from server.accounts import services as accounts
from server.accounts.tables import User
from server.customers.tables import Customer
from server.db import is_sqlite
from server.reports.tables import Report
from server.syncing.tables import Device
from server.visits.tables import Visit
from sync.protocol import PROTOCOL_VERSION, SCHEMA_VERSION
from tests import factories

PERSONAS = ("anonymous", "owner", "other_rep", "manager", "other_manager", "admin")
USERNAMES = {"owner": "rep_a1", "other_rep": "rep_a2", "manager": "mgr_a", "other_manager": "mgr_b", "admin": "boss"}

OK, SCOPED, SEES, LOGIN, LOGGED_OUT = "ok", "ok-scoped", "ok-sees", "login", "logged-out"
FORBIDDEN, HIDDEN, INVALID = "403", "404", "422"
SYNC_APPLIED, SYNC_REJECTED = "sync-applied", "sync-rejected"

# Static file routers serve public files through Litestar's own handlers: nothing of ours to authorize.
EXCLUDED_PREFIXES = ("/static/", "/icons/")
EXCLUDED_PATHS = ("/static",)  # the hashed static files: one ASGI route (server/system/routes.py)

VISIT_OUTCOME = "Owner-visit-outcome-7d1f"
REPORT_SUMMARY = "Owner-report-summary-3c9a"
CUSTOMER_NAME = "Acme Shanghai"  # World's customer of rep_a1

# Sign-ins use a cheap Argon2 profile (same code path) so the matrix's few hundred sign-ins stay fast.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


# --- The records every path points at ----------------------------------------------------------


@dataclass
class Records:
    """The World plus a visit and a report of the owner (rep_a1); fresh records on demand."""

    client: object
    world: object
    visit: UUID
    report: UUID
    _days: itertools.count = field(default_factory=lambda: itertools.count(30))
    owner_device: UUID | None = None  # set by the sync-device attack
    _extra: dict = field(default_factory=dict)

    @property
    def customer(self) -> UUID:
        return self.world.customer

    def markers(self) -> list[str]:
        """What must not appear in a page or JSON answer for someone who may not see the owner's records."""
        return [str(self.customer), str(self.visit), str(self.report), CUSTOMER_NAME, VISIT_OUTCOME, REPORT_SUMMARY]

    def fresh_submitted_report(self) -> UUID:
        """A new submitted report of the owner (a decision consumes one), each on its own past day."""
        day = clock.today() - timedelta(days=next(self._days))
        return self.client.run(factories.report(self.world.rep, day, status="submitted", summary="Fresh"))

    def extra(self, key: str, make: Callable[[Records], object]) -> object:
        """A record a domain's routes point at, made once per test by `make(self)` (which returns an
        awaitable, run here, or a value)."""
        if key not in self._extra:
            made = make(self)
            self._extra[key] = self.client.run(made) if hasattr(made, "__await__") else made
        return self._extra[key]

    def fresh_draft(self) -> UUID:
        day = clock.today() - timedelta(days=next(self._days))
        return self.client.run(factories.report(self.world.rep, day, status="draft", summary="Fresh draft"))


@pytest.fixture
def records(client, world, monkeypatch) -> Records:
    monkeypatch.setattr(accounts, "hasher", CHEAP_HASHER)
    client.run(User.update({User.password_hash: CHEAP_HASHER.hash(factories.PASSWORD)}, force=True))
    visit = client.run(factories.visit(world.rep, world.customer, outcome=VISIT_OUTCOME))
    report = client.run(factories.report(world.rep, clock.today(), status="submitted", summary=REPORT_SUMMARY))
    return Records(client=client, world=world, visit=visit, report=report)


def sign_in(client, persona: str) -> dict[str, str]:
    """Sign `persona` in (or out) and return the browser's cookies: session and CSRF token."""
    client.cookies.clear()
    if persona != "anonymous":
        client.login(USERNAMES[persona])
    client.csrf()
    return dict(client.cookies)


def use_browser(client, cookies: dict[str, str]) -> None:
    """Continue as the browser holding `cookies` (sessions are client-side: the same cookie, the same session)."""
    client.cookies.clear()
    client.cookies.update(cookies)


# --- The matrix ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    url: str | Callable[[Records], str]  # a str is formatted with the Records' attributes
    expect: dict[str, str]
    body: Callable[[Records], dict] | None = None  # for POST: a valid request, so only permission decides
    files: Callable[[Records], dict] | None = None  # multipart files sent with `body` (visit photos)

    def make_url(self, r: Records) -> str:
        if callable(self.url):
            return self.url(r)
        return self.url.format(customer=r.customer, visit=r.visit, report=r.report, today=clock.today().isoformat(),
                               user=r.world.rep_b)


def row(anonymous, owner, other_rep, manager, other_manager, admin) -> dict[str, str]:
    return dict(zip(PERSONAS, (anonymous, owner, other_rep, manager, other_manager, admin)))


def _yesterday() -> str:
    return (clock.today() - timedelta(days=1)).isoformat()


def _customer_body(r: Records) -> dict:
    # A rep always owns what they create (owner is ignored); a manager or admin names the owner.
    return {"id": str(uuid4()), "name": f"New customer {uuid4().hex[:6]}", "owner": str(r.world.rep)}


def _visit_body(r: Records) -> dict:
    return {"id": str(uuid4()), "customer": str(r.customer), "purpose": "follow_up", "outcome": "Talked"}


def _report_form(r: Records) -> dict:
    return {"id": str(uuid4()), "kind": "daily", "period_start": _yesterday(), "summary": "Saved", "action": "save"}


def _report_json(r: Records) -> dict:
    return {"id": str(uuid4()), "kind": "daily", "period_start": _yesterday(), "summary": "Saved"}


def _push_body(r: Records) -> dict:
    """One visit to the owner's customer, queued on a new device: only the owner's push may apply it."""
    now = datetime.now(UTC).isoformat()
    return {"protocol": PROTOCOL_VERSION, "schema": SCHEMA_VERSION, "device_id": str(uuid4()), "sent_at": now,
            "mutations": [{"seq": 1, "kind": "visit.create", "record_id": str(uuid4()), "client_time": now,
                           "payload": {"customer": str(r.customer), "purpose": "follow_up", "outcome": "Synced"}}]}


def _user_body(r: Records) -> dict:
    return {"username": f"new_{uuid4().hex[:8]}", "display_name": "New Rep", "password": factories.PASSWORD,
            "role": "rep", "team": str(r.world.team_a), "locale": ""}


_EVERYONE = row(OK, OK, OK, OK, OK, OK)
_SIGNED_IN = row(LOGIN, OK, OK, OK, OK, OK)
_ADMIN_ONLY = row(LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK)
_REPS_ONLY = row(LOGIN, OK, OK, FORBIDDEN, FORBIDDEN, FORBIDDEN)
_MANAGERS_AND_ADMIN = row(LOGIN, FORBIDDEN, FORBIDDEN, SEES, SCOPED, SEES)
# A list of records: each sees their own / their teams' / all, never the owner's records otherwise.
_SCOPED_LIST = row(LOGIN, SEES, SCOPED, SEES, SCOPED, SEES)
# One of the owner's records: the owner, their manager and admin; everyone else 404.
_OWNER_RECORD = row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK)
# Approve / return a submitted report of the owner: their manager or admin; reps are refused by role.
_DECISION = row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK)
# Returns, voids and collection corrections: a role decision for the owner, the order hidden from others.
_ADJUST = row(LOGIN, FORBIDDEN, HIDDEN, OK, HIDDEN, OK)


def _money(r) -> dict:
    """An order of the owner's customer with a collection, for the return, void and correction routes
    (its own, so voiding it leaves the other sales routes' order alone)."""
    return r.extra("money", lambda r: factories.sales_records(r.world.rep, r.customer))

# (method, path as the app declares it) -> the request to send and row(anonymous, owner, other_rep, manager,
# other_manager, admin). Cells hold the correct rule; a rule the code breaks today is a strict xfail below.
MATRIX: dict[tuple[str, str], Case] = {
    # System: public, no data.
    ("GET", "/healthz"): Case("/healthz", _EVERYONE),
    ("GET", "/manifest.webmanifest"): Case("/manifest.webmanifest", _EVERYONE),
    ("GET", "/sw.js"): Case("/sw.js", _EVERYONE),
    ("GET", "/offline"): Case("/offline", _EVERYONE),
    ("GET", "/favicon.ico"): Case("/favicon.ico", _EVERYONE),
    # The API's OpenAPI document (server/openapi.py): public, it describes routes, not records.
    ("GET", "/schema"): Case("/schema", _EVERYONE),
    ("GET", "/schema/openapi.json"): Case("/schema/openapi.json", _EVERYONE),
    ("GET", "/schema/{path:str}"): Case("/schema/nothing-here", row(HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN, HIDDEN)),
    # Sign-in, sign-out, personal settings.
    ("GET", "/login"): Case("/login", _EVERYONE),
    ("POST", "/login"): Case("/login", _EVERYONE,
                             body=lambda r: {"username": "rep_a1", "password": factories.PASSWORD}),
    ("POST", "/logout"): Case("/logout", row(LOGGED_OUT, LOGGED_OUT, LOGGED_OUT, LOGGED_OUT, LOGGED_OUT, LOGGED_OUT),
                              body=lambda r: {}),
    ("GET", "/settings"): Case("/settings", _SIGNED_IN),
    ("POST", "/settings/language"): Case("/settings/language", _SIGNED_IN, body=lambda r: {"locale": "en"}),
    ("POST", "/settings/password"): Case("/settings/password", _SIGNED_IN, body=lambda r: {
        "current_password": factories.PASSWORD, "password": factories.PASSWORD, "password_again": factories.PASSWORD}),
    # Admin area: users and teams. The target user is rep_b1, who is none of the personas.
    ("GET", "/admin/users"): Case("/admin/users", _ADMIN_ONLY),
    ("POST", "/admin/users"): Case("/admin/users", _ADMIN_ONLY, body=_user_body),
    ("GET", "/admin/users/{user_id:str}"): Case("/admin/users/{user}", _ADMIN_ONLY),
    ("POST", "/admin/users/{user_id:str}"): Case("/admin/users/{user}", _ADMIN_ONLY, body=lambda r: {
        "display_name": "Rep B1", "role": "rep", "team": str(r.world.team_b), "active": "on", "locale": ""}),
    ("POST", "/admin/users/{user_id:str}/password"): Case("/admin/users/{user}/password", _ADMIN_ONLY,
                                                          body=lambda r: {"password": factories.PASSWORD}),
    ("POST", "/admin/users/{user_id:str}/team"): Case("/admin/users/{user}/team", _ADMIN_ONLY, body=lambda r: {
        "team": str(r.world.team_a), "effective": clock.today().isoformat()}),
    ("GET", "/admin/teams"): Case("/admin/teams", _ADMIN_ONLY),
    ("POST", "/admin/teams"): Case("/admin/teams", _ADMIN_ONLY, body=lambda r: {"name": f"Team {uuid4().hex[:8]}"}),
    ("POST", "/admin/teams/{team_id:str}"): Case(lambda r: f"/admin/teams/{r.world.team_b}", _ADMIN_ONLY, body=lambda r: {
        "name": f"Team {uuid4().hex[:8]}", "parent": ""}),
    # Landing pages: each role is sent to its own start page.
    ("GET", "/"): Case("/", _SIGNED_IN),
    ("GET", "/home"): Case("/home", row(LOGIN, SEES, SCOPED, OK, OK, OK)),
    # Customers.
    ("GET", "/customers"): Case("/customers", _SCOPED_LIST),
    ("GET", "/customers/pick"): Case("/customers/pick", _SCOPED_LIST),
    ("GET", "/customers/new"): Case("/customers/new", _SIGNED_IN),
    # A rep creates their own; a manager only for a rep of their teams (the owner is in team A).
    ("POST", "/customers"): Case("/customers", row(LOGIN, OK, OK, OK, INVALID, OK), body=_customer_body),
    ("GET", "/customers/{customer_id:uuid}"): Case("/customers/{customer}", _OWNER_RECORD),
    ("GET", "/api/v1/customers"): Case("/api/v1/customers", _SCOPED_LIST),
    ("POST", "/api/v1/customers"): Case("/api/v1/customers", row(LOGIN, OK, OK, OK, INVALID, OK), body=_customer_body),
    ("GET", "/api/v1/customers/{customer_id:uuid}"): Case("/api/v1/customers/{customer}", _OWNER_RECORD),
    # Customers near me: a rep's page (the data comes from the phone's offline store).
    ("GET", "/customers/near"): Case("/customers/near", _REPS_ONLY),
    # Only admin sets a location by hand or merges customers (the owner's customer keeps a fresh one's records).
    ("POST", "/customers/{customer_id:uuid}/location"): Case("/customers/{customer}/location", _ADMIN_ONLY,
                                                             body=lambda r: {"latitude": "31.23", "longitude": "121.47"}),
    ("GET", "/customers/{customer_id:uuid}/merge"): Case("/customers/{customer}/merge", _ADMIN_ONLY),
    ("POST", "/customers/{customer_id:uuid}/merge"): Case("/customers/{customer}/merge", _ADMIN_ONLY, body=lambda r: {
        "other": str(r.client.run(factories.customer(r.world.rep, f"Merge me {uuid4().hex[:6]}"))), "keep": "this"}),
    # Visits: only the owner may log one for their customer; managers and admin only read.
    ("GET", "/visits"): Case("/visits", row(LOGIN, SEES, SCOPED, OK, OK, OK)),
    ("GET", "/visits/new"): Case("/visits/new?customer={customer}", row(LOGIN, SEES, SCOPED, FORBIDDEN, FORBIDDEN, FORBIDDEN)),
    ("POST", "/visits"): Case("/visits", row(LOGIN, OK, INVALID, FORBIDDEN, FORBIDDEN, FORBIDDEN), body=_visit_body),
    ("GET", "/visits/{visit_id:uuid}"): Case("/visits/{visit}", _OWNER_RECORD),
    ("GET", "/team/visits"): Case("/team/visits", _MANAGERS_AND_ADMIN),
    # "Use this check-in as the customer's location": the owner's manager or admin.
    ("POST", "/visits/{visit_id:uuid}/use-location"): Case("/visits/{visit}/use-location", _DECISION, body=lambda r: {}),
    ("GET", "/api/v1/visits"): Case("/api/v1/visits", _SCOPED_LIST),
    # The API refuses non-reps with a 422 problem ("Only reps log visits."), the form route with 403.
    ("POST", "/api/v1/visits"): Case("/api/v1/visits", row(LOGIN, OK, INVALID, INVALID, INVALID, INVALID), body=_visit_body),
    ("GET", "/api/v1/visits/{visit_id:uuid}"): Case("/api/v1/visits/{visit}", _OWNER_RECORD),
    # Visit photos: only the visit's rep uploads (managers and admin by role: 403); whoever reads the visit sees them.
    ("POST", "/api/v1/visits/{visit_id:uuid}/photos"): Case(
        "/api/v1/visits/{visit}/photos", row(LOGIN, OK, HIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
        body=lambda r: {"id": str(uuid4())}, files=lambda r: {"photo": ("p.jpg", factories.JPEG, "image/jpeg")}),
    ("GET", "/visits/{visit_id:uuid}/photos/{photo_id:uuid}"): Case(
        lambda r: f"/visits/{r.visit}/photos/{r.extra('photo', lambda r: factories.visit_photo(r.world.rep, r.visit))}",
        _OWNER_RECORD),
    # Reports: reps write their own; the manager of the team (or admin) decides.
    ("GET", "/reports"): Case("/reports", row(LOGIN, SEES, SCOPED, OK, OK, OK)),
    ("GET", "/reports/{kind:str}/{day:date}"): Case("/reports/daily/{today}", _REPS_ONLY | {"other_rep": SCOPED}),
    ("POST", "/reports"): Case("/reports", _REPS_ONLY, body=_report_form),
    ("GET", "/reports/{report_id:uuid}"): Case("/reports/{report}", _OWNER_RECORD),
    ("POST", "/reports/{report_id:uuid}/approve"): Case(
        lambda r: f"/reports/{r.fresh_submitted_report()}/approve", _DECISION, body=lambda r: {"comment": ""}),
    ("POST", "/reports/{report_id:uuid}/return"): Case(
        lambda r: f"/reports/{r.fresh_submitted_report()}/return", _DECISION, body=lambda r: {"comment": "Add amounts"}),
    # Only the owner deletes their own draft; another rep's draft is 404, other roles 403.
    ("POST", "/reports/{report_id:uuid}/delete"): Case(
        lambda r: f"/reports/{r.fresh_draft()}/delete", row(LOGIN, OK, HIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN),
        body=lambda r: {}),
    ("GET", "/manager/queue"): Case("/manager/queue", _MANAGERS_AND_ADMIN),
    # The report's thread: its rep and whoever may decide it (their manager, admin); anyone else 404.
    ("POST", "/reports/{report_id:uuid}/replies"): Case("/reports/{report}/replies", row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK),
                                                        body=lambda r: {"body": "Matrix reply"}),
    ("GET", "/api/v1/reports"): Case("/api/v1/reports", _SCOPED_LIST),
    ("POST", "/api/v1/reports"): Case("/api/v1/reports", row(LOGIN, OK, OK, INVALID, INVALID, INVALID), body=_report_json),
    ("GET", "/api/v1/reports/{report_id:uuid}"): Case("/api/v1/reports/{report}", _OWNER_RECORD),
    ("POST", "/api/v1/reports/{report_id:uuid}/decision"): Case(
        lambda r: f"/api/v1/reports/{r.fresh_submitted_report()}/decision", _DECISION,
        body=lambda r: {"decision": "approve", "comment": ""}),
    # Offline sync: the outbox page, pulls scoped like the lists, pushes judged mutation by mutation.
    ("GET", "/sync"): Case("/sync", _SIGNED_IN),
    ("GET", "/api/v1/sync/pull"): Case("/api/v1/sync/pull", _SCOPED_LIST),
    ("POST", "/api/v1/sync/push"): Case("/api/v1/sync/push", row(
        LOGIN, SYNC_APPLIED, SYNC_REJECTED, SYNC_REJECTED, SYNC_REJECTED, SYNC_REJECTED), body=_push_body),
    # --- Results data: opportunities, orders, collections (server/sales) ---
    # The owner's order (with a collection) and open opportunity exist before each sales page is asked for.
    # Creating is for a customer the persona works: a rep their own, a manager their teams'; else 404.
    ("GET", "/sales"): Case(lambda r: (r.extra("sales", lambda r: factories.sales_records(r.world.rep, r.customer)),
                                       "/sales")[1], _SCOPED_LIST),
    ("GET", "/opportunities"): Case(lambda r: (r.extra("sales", lambda r: factories.sales_records(
        r.world.rep, r.customer)), "/opportunities")[1], _SCOPED_LIST),
    ("GET", "/opportunities/new"): Case("/opportunities/new", _SIGNED_IN),
    ("POST", "/opportunities"): Case("/opportunities", row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK), body=lambda r: {
        "id": str(uuid4()), "name": "Matrix deal", "customer": str(r.customer), "stage": "lead", "amount": "100"}),
    ("GET", "/opportunities/{opportunity_id:uuid}"): Case(lambda r: "/opportunities/" + str(r.extra(
        "sales", lambda r: factories.sales_records(r.world.rep, r.customer))["opportunity"]), _OWNER_RECORD),
    ("POST", "/opportunities/{opportunity_id:uuid}/stage"): Case(
        lambda r: "/opportunities/" + str(r.extra("sales_move", lambda r: factories.opportunity(
            r.world.rep, r.customer, stage="proposal"))) + "/stage",
        row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK), body=lambda r: {"stage": "negotiation", "from_stage": "proposal"}),
    ("GET", "/orders"): Case(lambda r: (r.extra("sales", lambda r: factories.sales_records(r.world.rep, r.customer)),
                                        "/orders")[1], _SCOPED_LIST),
    ("GET", "/orders/new"): Case("/orders/new", _SIGNED_IN),
    ("POST", "/orders"): Case("/orders", row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK), body=lambda r: {
        "id": str(uuid4()), "customer": str(r.customer), "amount": "100"}),
    ("GET", "/orders/{order_id:uuid}"): Case(lambda r: "/orders/" + str(r.extra(
        "sales", lambda r: factories.sales_records(r.world.rep, r.customer))["order"]), _OWNER_RECORD),
    # Correcting an order: the owner (their own customer's order typed in), their manager, admin; else 404.
    ("GET", "/orders/{order_id:uuid}/edit"): Case(lambda r: "/orders/" + str(r.extra(
        "sales", lambda r: factories.sales_records(r.world.rep, r.customer))["order"]) + "/edit", _OWNER_RECORD),
    ("POST", "/orders/{order_id:uuid}"): Case(lambda r: "/orders/" + str(r.extra(
        "sales", lambda r: factories.sales_records(r.world.rep, r.customer))["order"]),
        row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK), body=lambda r: {
            # The order's own date (40 days back: a closed month's order keeps its date, server/sales/order_corrections.py).
            "customer": str(r.customer), "amount": "1000", "order_date": (clock.today() - timedelta(days=40)).isoformat()}),
    ("GET", "/collections"): Case(lambda r: (r.extra("sales", lambda r: factories.sales_records(
        r.world.rep, r.customer)), "/collections")[1], _SCOPED_LIST),
    ("GET", "/collections/new"): Case(lambda r: "/collections/new?order=" + str(r.extra(
        "sales", lambda r: factories.sales_records(r.world.rep, r.customer))["order"]), _OWNER_RECORD),
    ("POST", "/collections"): Case("/collections", row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK), body=lambda r: {
        "id": str(uuid4()), "amount": "1", "order": str(r.extra(
            "sales", lambda r: factories.sales_records(r.world.rep, r.customer))["order"])}),
    ("GET", "/api/v1/opportunities"): Case(lambda r: (r.extra("sales", lambda r: factories.sales_records(
        r.world.rep, r.customer)), "/api/v1/opportunities")[1], _SCOPED_LIST),
    ("POST", "/api/v1/opportunities"): Case("/api/v1/opportunities", row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK),
                                            body=lambda r: {"id": str(uuid4()), "name": "API deal",
                                                            "customer": str(r.customer)}),
    ("GET", "/api/v1/orders"): Case(lambda r: (r.extra("sales", lambda r: factories.sales_records(
        r.world.rep, r.customer)), "/api/v1/orders")[1], _SCOPED_LIST),
    ("POST", "/api/v1/orders"): Case("/api/v1/orders", row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK), body=lambda r: {
        "id": str(uuid4()), "customer": str(r.customer), "amount": 100}),
    # --- Returns, voids, collection corrections (server/sales/adjust_routes.py): admin and the managers of
    # the credited reps; the owner (a rep) is refused by role, everyone else does not see the order.
    ("GET", "/orders/{order_id:uuid}/return"): Case(lambda r: f"/orders/{_money(r)['order']}/return", _ADJUST),
    ("POST", "/orders/{order_id:uuid}/returns"): Case(lambda r: f"/orders/{_money(r)['order']}/returns", _ADJUST,
                                                       body=lambda r: {"id": str(uuid4()), "amount": "1",
                                                                       "reason": "Matrix return"}),
    ("GET", "/orders/{order_id:uuid}/void"): Case(lambda r: f"/orders/{_money(r)['order']}/void", _ADJUST),
    ("POST", "/orders/{order_id:uuid}/void"): Case(lambda r: f"/orders/{_money(r)['order']}/void", _ADJUST,
                                                    body=lambda r: {"reason": "Matrix void"}),
    ("GET", "/collections/{collection_id:uuid}/correct"): Case(
        lambda r: f"/collections/{_money(r)['collection']}/correct", _ADJUST),
    ("POST", "/collections/{collection_id:uuid}/correct"): Case(
        lambda r: f"/collections/{_money(r)['collection']}/correct", _ADJUST,
        body=lambda r: {"amount": "50", "reason": "Matrix correction"}),
    # --- end sales ---
    # --- CSV imports (server/imports) ---
    # Admin only: an import writes company-wide ERP data. The batch is a previewed one-row customer file,
    # made once per test by tests/integration/test_imports.py::matrix_batch.
    ("GET", "/imports"): Case("/imports", _ADMIN_ONLY),
    ("POST", "/imports"): Case("/imports", _ADMIN_ONLY, body=lambda r: {
        "kind": "customers", "text": f"customer_code,name,rep\nM-{uuid4().hex[:8]},Matrix Co,rep_a1\n"}),
    ("GET", "/imports/template/{filename:str}"): Case("/imports/template/customers.csv", _ADMIN_ONLY),
    ("GET", "/imports/{batch_id:uuid}"): Case(
        lambda r: f"/imports/{__import__('tests.integration.test_imports', fromlist=['_']).matrix_batch(r)}", _ADMIN_ONLY),
    ("GET", "/imports/{batch_id:uuid}/progress"): Case(
        lambda r: f"/imports/{__import__('tests.integration.test_imports', fromlist=['_']).matrix_batch(r)}/progress", _ADMIN_ONLY),
    ("POST", "/imports/{batch_id:uuid}/run"): Case(
        lambda r: f"/imports/{__import__('tests.integration.test_imports', fromlist=['_']).matrix_batch(r)}/run", _ADMIN_ONLY, body=lambda r: {}),
    ("POST", "/imports/{batch_id:uuid}/mapping"): Case(
        lambda r: f"/imports/{__import__('tests.integration.test_imports', fromlist=['_']).matrix_batch(r)}/mapping", _ADMIN_ONLY,
        body=lambda r: {"col-code": "0", "col-name": "1", "col-rep": "2"}),
    # --- end imports ---
    # --- KPIs, target plans, pace settings (server/targets) ---
    # The catalogue is for everyone signed in; defining KPIs, thresholds and the calendar is admin work.
    ("GET", "/kpis"): Case("/kpis", _SIGNED_IN),
    ("POST", "/kpis"): Case("/kpis", _ADMIN_ONLY, body=lambda r: {
        "name": f"KPI {uuid4().hex[:8]}", "unit": "count", "direction": "higher", "kind": "sum", "source": "visits",
        "measure": "count", "filter_field": "purpose", "filter_value": "demo"}),
    ("GET", "/kpis/{kpi_id:uuid}"): Case(lambda r: f"/kpis/{r.extra('kpi', lambda r: factories.custom_kpi())}",
                                         _ADMIN_ONLY),
    ("POST", "/kpis/{kpi_id:uuid}"): Case(lambda r: f"/kpis/{r.extra('kpi', lambda r: factories.custom_kpi())}",
                                          _ADMIN_ONLY, body=lambda r: {
        "name": "Demo visits edited", "unit": "count", "direction": "higher", "kind": "sum", "source": "visits",
        "measure": "count", "filter_field": "purpose", "filter_value": "demo"}),
    ("POST", "/kpis/{kpi_id:uuid}/active"): Case("/kpis/00000000-0000-0000-0000-000000000001/active", _ADMIN_ONLY,
                                                 body=lambda r: {"active": "1"}),
    ("GET", "/kpis/settings"): Case("/kpis/settings", _ADMIN_ONLY),
    ("POST", "/kpis/settings"): Case("/kpis/settings", _ADMIN_ONLY,
                                     body=lambda r: {"on_track_min": "0.9", "at_risk_min": "0.75"}),
    ("POST", "/kpis/settings/calendar"): Case("/kpis/settings/calendar", _ADMIN_ONLY,
                                              body=lambda r: {"day": "2030-10-01", "working": "holiday"}),
    ("POST", "/kpis/settings/calendar/{day_id:uuid}/delete"): Case(
        lambda r: f"/kpis/settings/calendar/{r.client.run(factories.calendar_day())}/delete", _ADMIN_ONLY,
        body=lambda r: {}),
    # Plans: admin and managers; a manager reads the company row and writes only their teams' rows (the
    # owner is in team A: mgr_b gets 404 for the owner's row); reps have no access.
    ("GET", "/targets"): Case("/targets", row(LOGIN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    ("POST", "/targets"): Case("/targets", _ADMIN_ONLY, body=lambda r: {
        "name": "Plan", "year": "2027", "use_revenue": "on", "year_revenue": "1000"}),
    ("GET", "/targets/{plan_id:uuid}"): Case(
        lambda r: f"/targets/{r.extra('plan', lambda r: factories.team_plan(r.world.team_a, r.world.rep))}",
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    ("GET", "/targets/{plan_id:uuid}/cell"): Case(
        lambda r: (f"/targets/{r.extra('plan', lambda r: factories.team_plan(r.world.team_a, r.world.rep))}/cell"
                   f"?kpi=revenue&period=2026&scope_kind=rep&scope_id={r.world.rep}"),
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK)),
    ("POST", "/targets/{plan_id:uuid}/cells"): Case(
        lambda r: f"/targets/{r.extra('plan', lambda r: factories.team_plan(r.world.team_a, r.world.rep))}/cells",
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK), body=lambda r: {
            "kpi": "00000000-0000-0000-0000-000000000001", "period": "2026-01", "scope_kind": "rep",
            "scope_id": str(r.world.rep), "value": "100"}),
    ("GET", "/targets/{plan_id:uuid}/split"): Case(
        lambda r: (f"/targets/{r.extra('plan', lambda r: factories.team_plan(r.world.team_a, r.world.rep))}/split"
                   f"?kpi=revenue&scope_kind=team&scope_id={r.world.team_a}"),
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK)),
    ("POST", "/targets/{plan_id:uuid}/split/period"): Case(
        lambda r: f"/targets/{r.extra('plan', lambda r: factories.team_plan(r.world.team_a, r.world.rep))}/split/period",
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK), body=lambda r: {
            "kpi": "00000000-0000-0000-0000-000000000001", "scope_kind": "rep", "scope_id": str(r.world.rep),
            "method": "equal"}),
    ("POST", "/targets/{plan_id:uuid}/split/org"): Case(
        lambda r: f"/targets/{r.extra('plan', lambda r: factories.team_plan(r.world.team_a, r.world.rep))}/split/org",
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK), body=lambda r: {
            "kpi": "00000000-0000-0000-0000-000000000001", "scope_kind": "team", "scope_id": str(r.world.team_a),
            "method": "equal", "period": "all"}),
    ("POST", "/targets/{plan_id:uuid}/approve"): Case(
        lambda r: f"/targets/{r.extra('approve_plan', lambda r: factories.plan(2028))}/approve", _ADMIN_ONLY,
        body=lambda r: {}),
    ("GET", "/targets/{plan_id:uuid}/changes"): Case(
        lambda r: f"/targets/{r.extra('plan', lambda r: factories.team_plan(r.world.team_a, r.world.rep))}/changes",
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    # Plans in and out: the CSV is for whoever reads the plan (a manager gets the rows they may read);
    # copying a plan to another year and revising an approved one are the admin's.
    ("GET", "/targets/{plan_id:uuid}/export"): Case(
        lambda r: f"/targets/{r.extra('plan', lambda r: factories.team_plan(r.world.team_a, r.world.rep))}/export",
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    ("GET", "/targets/{plan_id:uuid}/export.xlsx"): Case(
        lambda r: f"/targets/{r.extra('plan', lambda r: factories.team_plan(r.world.team_a, r.world.rep))}/export.xlsx",
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    ("POST", "/targets/{plan_id:uuid}/copy"): Case(
        lambda r: f"/targets/{r.extra('plan', lambda r: factories.team_plan(r.world.team_a, r.world.rep))}/copy",
        _ADMIN_ONLY, body=lambda r: {"year": "2027"}),
    ("POST", "/targets/{plan_id:uuid}/revise"): Case(
        lambda r: f"/targets/{r.extra('approved_plan', lambda r: factories.plan(2026, status='approved'))}/revise",
        _ADMIN_ONLY, body=lambda r: {"effective": "2026-07-01"}),
    # --- end targets ---
    # --- Dashboards and explanations (server/dashboards) ---
    # The team / company board is for managers and admin (a rep's pace is on /home); it names reps, not records.
    ("GET", "/dashboard"): Case("/dashboard", row(LOGIN, FORBIDDEN, FORBIDDEN, OK, SCOPED, OK)),
    # One number of the owner opened: the owner, their manager and admin see the records behind it (the
    # owner's visit to Acme Shanghai today); anyone else 404.
    ("GET", "/dashboard/explain"): Case(
        lambda r: f"/dashboard/explain?kpi=visits&scope=rep:{r.world.rep}&period={clock.today().strftime('%Y-%m')}",
        row(LOGIN, SEES, HIDDEN, SEES, HIDDEN, SEES)),
    # --- end dashboards ---
    # --- Inbox, notification settings, push subscriptions, alert rules, jobs (server/notifications, server/jobs) ---
    # Everyone has an inbox of their own; one of the owner's notifications opens for the owner only.
    ("GET", "/inbox"): Case("/inbox", _SIGNED_IN),
    ("GET", "/inbox/{notification_id:uuid}/open"): Case(
        lambda r: f"/inbox/{r.extra('notification', lambda r: factories.notification(r.world.rep))}/open",
        row(LOGIN, OK, HIDDEN, HIDDEN, HIDDEN, HIDDEN)),
    ("POST", "/inbox/read-all"): Case("/inbox/read-all", _SIGNED_IN, body=lambda r: {}),
    ("GET", "/notifications"): Case("/notifications", _SIGNED_IN),
    ("POST", "/notifications/settings"): Case("/notifications/settings", _SIGNED_IN, body=lambda r: {
        "timezone": "Asia/Urumqi", "quiet_start": "22:00", "quiet_end": "07:00", "push_feedback": "1"}),
    ("POST", "/notifications/test"): Case("/notifications/test", _SIGNED_IN, body=lambda r: {}),
    # One of the owner's devices: only the owner turns it off; a manager or admin does not reach it either.
    ("POST", "/notifications/devices/{subscription_id:uuid}/delete"): Case(
        lambda r: f"/notifications/devices/{r.extra('subscription', lambda r: factories.subscription(r.world.rep))}/delete",
        row(LOGIN, OK, HIDDEN, HIDDEN, HIDDEN, HIDDEN), body=lambda r: {}),
    ("POST", "/api/v1/push/subscriptions"): Case("/api/v1/push/subscriptions", _SIGNED_IN,
                                                 body=lambda r: factories.subscription_body()),
    ("POST", "/api/v1/push/unsubscribe"): Case("/api/v1/push/unsubscribe", _SIGNED_IN,
                                               body=lambda r: {"endpoint": "https://push.example.test/none"}),
    ("GET", "/admin/alerts"): Case("/admin/alerts", _ADMIN_ONLY),
    ("POST", "/admin/alerts/{code:str}"): Case("/admin/alerts/inactivity", _ADMIN_ONLY, body=lambda r: {
        "enabled": "1", "to_rep": "1", "to_manager": "1", "days": "3"}),
    ("GET", "/admin/jobs"): Case("/admin/jobs", _ADMIN_ONLY),
    ("POST", "/admin/jobs/{name:str}/run"): Case("/admin/jobs/jobs.prune/run", _ADMIN_ONLY, body=lambda r: {}),
    # --- end notifications ---
    # --- Evaluation (server/evaluation) ---
    # Everyone has a hub (their own forms and scorecards); cycles are run by their team's manager and admin;
    # a rating form opens for its rater only (not even admin); a scorecard for its rep (once published), their
    # manager and admin; calibration by the team's manager or admin; re-opening a final score by admin only.
    ("GET", "/evaluation"): Case("/evaluation", _SIGNED_IN),
    ("GET", "/evaluation/templates"): Case("/evaluation/templates", _ADMIN_ONLY),
    ("GET", "/evaluation/templates/{template_id:uuid}"): Case(f"/evaluation/templates/{factories.FIELD_TEMPLATE}",
                                                              _ADMIN_ONLY),
    ("POST", "/evaluation/templates/{template_id:uuid}"): Case(
        f"/evaluation/templates/{factories.FIELD_TEMPLATE}", _ADMIN_ONLY, body=lambda r: _template_form(r)),
    ("GET", "/evaluation/cycles/new"): Case("/evaluation/cycles/new", row(LOGIN, FORBIDDEN, FORBIDDEN, OK, OK, OK)),
    ("POST", "/evaluation/cycles"): Case("/evaluation/cycles", row(LOGIN, FORBIDDEN, FORBIDDEN, OK, INVALID, OK),
                                         body=lambda r: {"team": str(r.world.team_a), "kind": "year",
                                                         "template": str(factories.FIELD_TEMPLATE),
                                                         "period": str(2030 + next(_EVAL_YEARS))}),
    ("GET", "/evaluation/cycles/{cycle_id:uuid}"): Case(lambda r: f"/evaluation/cycles/{_eval(r)['rating']}",
                                                        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK)),
    ("POST", "/evaluation/cycles/{cycle_id:uuid}/peers"): Case(
        lambda r: f"/evaluation/cycles/{_eval(r)['rating']}/peers", row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK),
        body=lambda r: {"rep": str(r.world.rep), "peer": str(r.world.other_rep)}),
    ("POST", "/evaluation/cycles/{cycle_id:uuid}/advance"): Case(
        lambda r: f"/evaluation/cycles/{_eval(r)['open']}/advance", row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK),
        body=lambda r: {"state": "open"}),
    ("GET", "/evaluation/cycles/{cycle_id:uuid}/calibration"): Case(
        lambda r: f"/evaluation/cycles/{_eval(r)['calibration']}/calibration",
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK)),
    ("GET", "/evaluation/forms/{assignment_id:uuid}"): Case(
        lambda r: f"/evaluation/forms/{_eval(r)['self_form']}", row(LOGIN, OK, HIDDEN, HIDDEN, HIDDEN, HIDDEN)),
    ("POST", "/evaluation/forms/{assignment_id:uuid}"): Case(
        lambda r: f"/evaluation/forms/{_eval(r)['self_form']}", row(LOGIN, OK, HIDDEN, HIDDEN, HIDDEN, HIDDEN),
        body=lambda r: {"action": "save"}),
    ("GET", "/evaluation/scores/{score_id:uuid}"): Case(
        lambda r: f"/evaluation/scores/{_eval(r)['published_score']}", row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK)),
    ("GET", "/evaluation/scores/{score_id:uuid}/print"): Case(
        lambda r: f"/evaluation/scores/{_eval(r)['published_score']}/print", row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK)),
    ("GET", "/evaluation/scores/{score_id:uuid}/report.pdf"): Case(
        lambda r: f"/evaluation/scores/{_eval(r)['published_score']}/report.pdf",
        row(LOGIN, OK, HIDDEN, OK, HIDDEN, OK)),
    ("POST", "/evaluation/scores/{score_id:uuid}/acknowledge"): Case(
        lambda r: f"/evaluation/scores/{_eval(r)['published_score']}/acknowledge",
        row(LOGIN, OK, HIDDEN, HIDDEN, HIDDEN, HIDDEN), body=lambda r: {"reply": "Read"}),
    ("POST", "/evaluation/scores/{score_id:uuid}/adjust"): Case(
        lambda r: f"/evaluation/scores/{_eval(r)['calibration_score']}/adjust",
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK), body=lambda r: {"score": "80", "reason": "Calibrated"}),
    ("POST", "/evaluation/scores/{score_id:uuid}/reopen"): Case(
        lambda r: f"/evaluation/scores/{_eval(r)['published_score']}/reopen", _ADMIN_ONLY,
        body=lambda r: {"reason": "Order corrected"}),
    # A rep proposes peers for themself only, in a cycle they are evaluated in (rep_a2 is not, here); the
    # team's manager or admin approves the proposal.
    ("GET", "/evaluation/cycles/{cycle_id:uuid}/nominate"): Case(
        lambda r: f"/evaluation/cycles/{_eval(r)['open']}/nominate",
        row(LOGIN, OK, HIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)),
    ("POST", "/evaluation/cycles/{cycle_id:uuid}/nominate"): Case(
        lambda r: f"/evaluation/cycles/{_eval(r)['open']}/nominate",
        row(LOGIN, OK, HIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN), body=lambda r: {"peer": str(r.world.other_rep)}),
    ("POST", "/evaluation/cycles/{cycle_id:uuid}/nominations/approve"): Case(
        lambda r: f"/evaluation/cycles/{_nominated(r)}/nominations/approve",
        row(LOGIN, FORBIDDEN, FORBIDDEN, OK, HIDDEN, OK), body=lambda r: {"rep": str(r.world.rep)}),
    # --- end evaluation ---
}

_EVAL_YEARS = itertools.count()


def _template_form(r: Records) -> dict:
    """The ready field-rep template's editor form, unchanged (a valid save)."""
    from server.evaluation import catalogue, editor

    return editor.form_values(r.client.run(catalogue.load(factories.FIELD_TEMPLATE)))


def _nominated(r: Records) -> UUID:
    """The open cycle, with the owner's proposal of rep_a2 as their peer."""
    from server.evaluation.tables import PeerNomination

    cycle = _eval(r)["open"]

    async def make(r: Records) -> None:
        await PeerNomination.delete().where(PeerNomination.cycle == cycle)
        await PeerNomination.insert(PeerNomination(id=uuid4(), cycle=cycle, ratee=r.world.rep,
                                                   peer=r.world.other_rep, nominated_at=clock.now()))

    r.extra("nomination", make)
    return cycle


def _eval(r: Records) -> dict:
    return r.extra("evaluation", lambda r: factories.evaluation_cycles(r.world.team_a, r.world.rep, r.world.other_rep,
                                                                      r.world.manager))

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, but static files and Litestar's automatic OPTIONS."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if route.path.startswith(EXCLUDED_PREFIXES) or route.path in EXCLUDED_PATHS:
            continue
        for handler in route.route_handlers:
            methods = getattr(handler, "http_methods", None) or {type(route).__name__}
            for method in methods:
                automatic = method == "OPTIONS" and handler.fn.__module__.startswith("litestar.")
                # HEAD is the GET handler's own (server/app.py answer_head; tests/integration/test_head.py).
                automatic = automatic or (method == "HEAD" and "GET" in methods)
                if not automatic:
                    found.add((method, route.path))
    return found


# --- Sending a request and judging the answer -----------------------------------------------------


def send(client, method: str, url: str, body: dict | None, files: dict | None = None):
    if method == "GET":
        return client.get(url, follow_redirects=False)
    if files:
        return client.post(url, data=body or {}, files=files, headers={"x-csrftoken": client.csrf()},
                           follow_redirects=False)
    if url.startswith("/api/"):
        return client.post_json(url, body or {}, follow_redirects=False)
    return client.post_form(url, body or {})


def judge(expected: str, method: str, url: str, response, records: Records) -> str | None:
    """None when the response matches the expected outcome, else what went wrong."""
    status = response.status_code
    location = response.headers.get("location", "")
    api = url.startswith("/api/")
    redirect = status in (301, 302, 303, 307, 308)
    allowed = 200 <= status < 300 or (redirect and not location.startswith("/login"))
    got = f"{status}" + (f" -> {location}" if location else "")
    if expected in (OK, SCOPED, SEES):
        if not allowed:
            return f"expected allowed, got {got}"
        text = response.text
        shown = [m for m in records.markers() if m in text]
        if expected == SCOPED and shown:
            return f"allowed as expected, but the answer shows the owner's records: {shown}"
        if expected == SEES and not shown:
            return "allowed, but the answer shows none of the owner's records it should list"
        return None
    # A refusal must not carry the owner's data either (a re-rendered form, an error page).
    leaked = [m for m in (CUSTOMER_NAME, VISIT_OUTCOME, REPORT_SUMMARY) if m in response.text]
    if leaked:
        return f"refused, but the answer shows the owner's records: {leaked}"
    if expected == LOGIN:
        if api:
            ok = status == 401 and response.headers.get("content-type", "").startswith("application/problem+json")
            return None if ok else f"expected 401 problem+json, got {got}"
        # GET comes back to the page after sign-in; a POST's form data is gone, so no `next` for it.
        target = urlsplit(location)
        next_ = parse_qs(target.query).get("next", [""])[0] if target.query else None
        right = status == 303 and target.path == "/login" and next_ == (url if method == "GET" else None)
        return None if right else "expected 303 -> /login" + (f"?next={url}" if method == "GET" else "") + f", got {got}"
    if expected in (SYNC_APPLIED, SYNC_REJECTED):
        want = "applied" if expected == SYNC_APPLIED else "rejected"
        if status != 200:
            return f"expected 200 with every mutation {want}, got {got}"
        results = [m.get("status") for m in response.json().get("results", [])]
        return None if results and all(s == want for s in results) else f"expected every mutation {want}, got {results}"
    if expected == LOGGED_OUT:
        return None if status == 303 and location == "/login" else f"expected 303 -> /login, got {got}"
    if str(status) != expected:
        return f"expected {expected}, got {got}"
    return None


def run_cell(client, records: Records, route: tuple[str, str], persona: str, cookies: dict[str, str]) -> str | None:
    """Send the route's request as `persona` (the browser holding `cookies`); None if the outcome is right."""
    method, path = route
    case = MATRIX[route]
    use_browser(client, cookies)
    url = case.make_url(records)
    body = case.body(records) if case.body else None
    response = send(client, method, url, body, case.files(records) if case.files else None)
    problem = judge(case.expect[persona], method, url, response, records)
    # A route that needs a session answers privately, whatever the answer (a page, a refusal, a redirect);
    # a visit photo, which never changes under its id, may be kept in the browser's own (private) cache.
    cache = response.headers.get("cache-control", "")
    image = response.headers.get("content-type", "").startswith("image/")
    if not problem and case.expect["anonymous"] == LOGIN and "no-store" not in cache and not (image and cache.startswith("private")):
        problem = f"no Cache-Control: no-store (got {cache!r})"
    if problem:
        return f"{method} {path} as {persona} ({USERNAMES.get(persona, 'signed out')}) [{url}]: {problem}"
    return None


# --- The tests ---------------------------------------------------------------------------------


def test_every_route_has_an_authorization_expectation(client):
    served = app_routes(client.app)
    missing = sorted(served - MATRIX.keys())
    stale = sorted(MATRIX.keys() - served)
    assert not missing, "\n".join(f"route {m} {p} has no authorization expectation in MATRIX" for m, p in missing)
    assert not stale, "\n".join(f"MATRIX entry {m} {p} matches no route of the app" for m, p in stale)
    for route, case in MATRIX.items():
        assert set(case.expect) == set(PERSONAS), f"{route}: expectations for {sorted(case.expect)}"
        assert (route[0] in UNSAFE) == (case.body is not None), f"{route}: unsafe routes need a valid body"


@pytest.mark.parametrize("persona", PERSONAS)
def test_authorization_matrix(client, records, persona):
    """Every route as one persona: one request per route, every wrong cell named in the failure.

    (One test per persona rather than per cell: a cell costs one request, a test a whole new app and World.)
    """
    failures = []
    for route in sorted(MATRIX):
        # A fresh sign-in per cell: a password change or reset (two of the cells) rightly ends the
        # sessions made before it, which must not spill into the next cell.
        cookies = sign_in(client, persona)
        problem = run_cell(client, records, route, persona, cookies)
        if problem:
            failures.append(problem)
    assert not failures, f"\n{len(failures)} wrong cell(s) for {persona}:\n" + "\n".join(failures)


# --- CSRF -----------------------------------------------------------------------------------------

def snapshot(client) -> dict[str, list]:
    """Every row of every table of the database, to prove a refused request changed nothing."""
    if is_sqlite(User._meta.db):
        listing = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        listing = "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'"
    out = {}
    for t in client.run(User.raw(listing)):
        rows = client.run(User.raw(f'SELECT * FROM "{t["name"]}"'))
        out[t["name"]] = sorted(repr(sorted(r.items())) for r in rows)
    assert "app_user" in out and "report" in out
    return out


def _unsafe_routes() -> list[tuple[str, str]]:
    return sorted(route for route in MATRIX if route[0] in UNSAFE)


@pytest.mark.parametrize("persona", ["admin", "owner", "anonymous"])
def test_unsafe_routes_refuse_a_missing_or_wrong_csrf_token(client, records, persona):
    """Without the token, with a made-up one, or with another browser's valid token: 403, nothing written."""
    assert {r for r in app_routes(client.app) if r[0] in UNSAFE} == set(_unsafe_routes())
    foreign_token = sign_in(client, "other_rep")["fieldpace_csrf"]  # a valid token, but another browser's
    cookies = sign_in(client, persona)
    own_token = cookies["fieldpace_csrf"]
    assert own_token and foreign_token and own_token != foreign_token
    # The same valid requests the matrix sends (made first: some paths create a fresh report).
    requests = [(route, MATRIX[route].make_url(records), MATRIX[route].body(records)) for route in _unsafe_routes()]
    before = snapshot(client)
    failures = []
    for (method, path), url, body in requests:
        for label, token in (("no token", None), ("a made-up token", "x" * len(own_token)),
                             ("another browser's token", foreign_token)):
            use_browser(client, cookies)
            if url.startswith("/api/"):
                headers = {"x-csrftoken": token} if token else {}
                response = client.post(url, json=body, headers=headers, follow_redirects=False)
            else:
                form = {**body, **({"_csrf_token": token} if token else {})}
                response = client.post(url, data=form, follow_redirects=False)
            where = f"{method} {path} as {persona} with {label}"
            if response.status_code != 403:
                failures.append(f"{where}: expected 403, got {response.status_code}")
            elif url.startswith("/api/"):
                if not response.headers.get("content-type", "").startswith("application/problem+json"):
                    failures.append(f"{where}: the 403 is not application/problem+json")
            elif "This form has expired" not in response.text:
                failures.append(f"{where}: the 403 page does not explain the expired form")
    assert not failures, "\n" + "\n".join(failures)
    assert snapshot(client) == before, "a request without a valid CSRF token changed the database"


# --- Sessions of deactivated users ----------------------------------------------------------------


def _deactivate_via_admin(client, records, user_id: UUID) -> None:
    sign_in(client, "admin")
    r = client.post_form(f"/admin/users/{user_id}", {
        "display_name": "Rep A1", "role": "rep", "team": str(records.world.team_a), "locale": ""})  # no "active"
    assert r.status_code == 303, r.text[:300]
    assert client.run(User.select(User.active).where(User.id == user_id).first())["active"] is False


def test_deactivated_users_session_stops_at_the_next_request(client, records):
    rep_browser = sign_in(client, "owner")
    assert client.get("/home").status_code == 200
    _deactivate_via_admin(client, records, records.world.rep)  # the admin, in another browser

    use_browser(client, rep_browser)  # the rep's browser, still holding its session cookie
    r = client.get("/home", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/home"
    r = client.get(f"/api/v1/reports/{records.report}")
    assert r.status_code == 401
    before = snapshot(client)
    r = client.post_form("/visits", _visit_body(records))
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = client.post_json("/api/v1/visits", _visit_body(records))
    assert r.status_code == 401
    assert snapshot(client) == before


def test_deactivated_in_the_database_also_ends_the_session(client, records):
    sign_in(client, "manager")
    assert client.get("/manager/queue").status_code == 200
    client.run(User.update({User.active: False}).where(User.id == records.world.manager))
    r = client.get("/manager/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/manager/queue"


def test_deactivated_users_stale_session_can_reach_the_sign_in_page(client, records):
    rep_browser = sign_in(client, "owner")
    _deactivate_via_admin(client, records, records.world.rep)
    use_browser(client, rep_browser)
    r = client.get("/login?next=/home", follow_redirects=False)
    if r.status_code == 303:  # the stale cookie cleared, the page asked for once more (a fresh CSRF token)
        assert r.headers.get("location") == "/login?again=1&next=/home", r.headers.get("location")
        r = client.get(r.headers["location"], follow_redirects=False)
    assert r.status_code == 200, f"/login answers {r.status_code} -> {r.headers.get('location')}"


# --- Writes through someone else's ids --------------------------------------------------------


def _attacks(r: Records) -> dict[str, tuple[str, dict]]:
    w = r.world
    day = clock.today().isoformat()
    return {
        "visit for another rep's customer": ("/api/v1/visits", {
            "id": str(uuid4()), "customer": str(w.customer), "purpose": "demo", "outcome": "Hijack"}),
        "visit reusing another rep's visit id": ("/api/v1/visits", {
            "id": str(r.visit), "customer": "{own_customer}", "purpose": "demo", "outcome": "Hijack"}),
        "report reusing another rep's report id": ("/api/v1/reports", {
            "id": str(r.report), "kind": "daily", "period_start": day, "summary": "Hijack", "submit": True}),
        "report id of another rep for another day": ("/api/v1/reports", {
            "id": str(r.report), "kind": "daily", "period_start": _yesterday(), "summary": "Hijack"}),
        "customer reusing another rep's customer id": ("/api/v1/customers", {
            "id": str(w.customer), "name": "Hijack", "owner": "{self}"}),
        "decision on another rep's report": (f"/api/v1/reports/{r.report}/decision", {
            "decision": "return", "comment": "Hijack"}),
        "sync push through another rep's device": ("/api/v1/sync/push", {
            **_push_body(r), "device_id": str(r.owner_device),
            "mutations": [{"seq": 1, "kind": "customer.create", "record_id": str(uuid4()),
                           "payload": {"name": "Hijack"}}]}),  # owner: the attacker, filled in below
    }


ATTACKERS = {  # username -> the World attributes of their own id and of one of their customers
    "rep_a2": ("other_rep", "other_customer"),
    "rep_b1": ("rep_b", "customer_b"),
    "mgr_b": ("other_manager", "customer_b"),
}


@pytest.mark.parametrize("attacker", ATTACKERS)
def test_api_writes_through_another_reps_ids_are_refused_and_change_nothing(client, records, attacker):
    w = records.world
    own_id, own_customer = (getattr(w, a) for a in ATTACKERS[attacker])
    # The owner's phone has synced once: its device row is registered to rep_a1.
    records.owner_device = uuid4()
    client.login("rep_a1")
    first = client.post_json("/api/v1/sync/push", {**_push_body(records), "device_id": str(records.owner_device)})
    assert first.status_code == 200 and first.json()["results"][0]["status"] == "applied", first.text

    client.login(attacker)
    failures = []
    for attack, (url, body) in _attacks(records).items():
        body = {k: (str(own_customer) if v == "{own_customer}" else str(own_id) if v == "{self}" else v)
                for k, v in body.items()}
        if "mutations" in body:
            body["mutations"] = [{**m, "payload": {**m["payload"], "owner": str(own_id)}} for m in body["mutations"]]
        before = snapshot(client)
        response = client.post_json(url, body)
        if not 400 <= response.status_code < 500:
            failures.append(f"{attack} as {attacker}: expected 4xx, got {response.status_code} {response.text[:200]}")
        if any(m in response.text for m in (CUSTOMER_NAME, VISIT_OUTCOME, REPORT_SUMMARY)):
            failures.append(f"{attack} as {attacker}: the refusal shows the owner's data: {response.text[:200]}")
        if snapshot(client) != before:
            failures.append(f"{attack} as {attacker}: the database changed")
    assert not failures, "\n" + "\n".join(failures)
    # The owner's records are as they were.
    assert client.run(Visit.select(Visit.rep, Visit.outcome).where(Visit.id == records.visit).first()) == {
        "rep": w.rep, "outcome": VISIT_OUTCOME}
    report = client.run(Report.select(Report.rep, Report.summary, Report.status).where(Report.id == records.report).first())
    assert report == {"rep": w.rep, "summary": REPORT_SUMMARY, "status": "submitted"}
    assert client.run(Customer.select(Customer.owner, Customer.name).where(Customer.id == w.customer).first()) == {
        "owner": w.rep, "name": CUSTOMER_NAME}
    assert client.run(Device.select(Device.user, Device.last_seq).where(Device.id == records.owner_device).first()) == {
        "user": w.rep, "last_seq": 1}


# --- Who may own a customer ---------------------------------------------------------------------


@pytest.mark.parametrize("who, owner", [("mgr_a", "self"), ("boss", "self"), ("boss", "unknown")])
def test_a_customers_owner_must_be_a_rep_the_actor_manages(client, records, who, owner):
    w = records.world
    owner_id = {"self": {"mgr_a": w.manager, "boss": w.admin}[who], "unknown": uuid4()}[owner]
    client.login(who)
    before = snapshot(client)
    r = client.post_json("/api/v1/customers", {"id": str(uuid4()), "name": "Owned by a non-rep", "owner": str(owner_id)})
    assert r.status_code == 422 and "owner" in r.json().get("errors", {}), f"{r.status_code} {r.text[:200]}"
    assert snapshot(client) == before
