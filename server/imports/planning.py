"""Planning an import (pure, given the lookups the service loads): each row's action (create, update,
unchanged) or its errors, by natural key: customers by code, orders and collections by number."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from server.i18n import _, fmt_money
from server.imports.parsing import (
    CellError,
    CsvTable,
    ImportFileError,
    map_headers,
    parse_amount,
    parse_coordinate,
    parse_date,
    parse_split,
    parse_text,
    read_table,
)
from server.imports.tables import IMPORT_KINDS

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

        def get(key: str, parser, *args, cells: list[str] = cells, errors: dict[str, str] = errors, **kwargs):
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
    code = get("code", parse_text, 64, True)
    name = get("name", parse_text, 200, True)
    username = get("rep", parse_text, 64, True)
    owner = _rep(username, lookups, errors, "rep", active_only=True)
    values = {"name": name, "owner": owner}
    for key, limit in (("contact_name", 100), ("phone", 40), ("address", 500)):
        value = get(key, parse_text, limit, False)
        if value is not None:
            values[key] = value
    lat = get("latitude", _optional(parse_coordinate), low=-90.0, high=90.0)
    lng = get("longitude", _optional(parse_coordinate), low=-180.0, high=180.0)
    if (lat is None) != (lng is None) and "latitude" not in errors and "longitude" not in errors:
        errors["latitude" if lat is None else "longitude"] = _("Enter both latitude and longitude, or neither.")
    if lat is not None and lng is not None:
        values["latitude"], values["longitude"] = lat, lng
    plan.summary = name or ""
    if errors:
        return
    plan.values = {"code": code, **values}
    _compare(plan, values, lookups.customers.get(code))


def _plan_order(parsed, plan, get, errors, lookups):
    number = get("number", parse_text, 64, True)
    code = get("customer_code", parse_text, 64, True)
    day = get("date", _required(parse_date))
    amount = get("amount", _required(parse_amount))
    split = get("reps", parse_split)
    values: dict = {"order_date": day, "amount_cents": amount}
    if "due_date" in parsed.index:
        values["due_date"] = get("due_date", _optional(parse_date))
    if "cost" in parsed.index:
        values["cost_cents"] = get("cost", _optional(parse_amount)) or 0
    if "note" in parsed.index:
        values["note"] = get("note", parse_text, 2000, False)
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
    number = get("number", parse_text, 64, True)
    order_number = get("order_number", parse_text, 64, True)
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
CHANGED_COLUMN = {"owner": "rep", "order_date": "date", "amount_cents": "amount", "cost_cents": "cost", "splits": "reps",
                   "sales_order": "order_number", "received_on": "date", "customer": "customer_code"}


def counts(plans: list[RowPlan]) -> dict[str, int]:
    out = {"create": 0, "update": 0, "unchanged": 0, "error": 0}
    for plan in plans:
        out[plan.action] += 1
    return out


