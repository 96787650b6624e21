"""Planning an import (pure, given the lookups the service loads): each row's action (create, update,
unchanged) or its errors, by natural key: customers by code, orders and collections by number."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from server.i18n import _, fmt_money
from server.imports.parsing import (
    CellError,
    nfkc,
    parse_coordinate,
    parse_date,
    parse_signed_amount,
    parse_split,
    parse_text,
)
from server.imports.records import Lookups, Parsed, RowPlan, collection_numbers, part_name, records

# ------------------------------------------------------------------------------------ planning (pure)


def plan_rows(parsed: Parsed, lookups: Lookups) -> list[RowPlan]:
    """Every record's action or errors against `lookups` (pure: no database)."""
    planner = {"customers": _plan_customer, "orders": _plan_order, "collections": _plan_collection}[parsed.kind]
    rolled = records(parsed)
    numbers = collection_numbers(parsed, rolled) if parsed.kind == "collections" else {}
    seen: dict[str, int] = {}
    plans = []
    key_column = "code" if parsed.kind == "customers" else "number"
    for record in rolled:
        cells = record.cells
        plan = RowPlan(line=record.line, key="", lines=record.lines)
        if record.total is not None:
            plan.action = "skip"
            plan.summary = _("A total row (“%(marker)s”): skipped.", marker=record.total)
            plans.append(plan)
            continue
        errors: dict[str, str] = dict(record.errors)

        def get(key: str, parser, *args, cells: list[str] = cells, errors: dict[str, str] = errors, **kwargs):
            raw = parsed.cell(cells, key)
            if raw is None:
                return None
            try:
                return parser(raw, *args, **kwargs)
            except CellError as e:
                errors.setdefault(key, e.message)
                return None

        plan.key = numbers.get(record.line, "") if parsed.kind == "collections" else nfkc(parsed.cell(cells, key_column) or "")
        planner(parsed, plan, get, errors, lookups)
        if plan.key and plan.key in seen and key_column not in errors:
            errors[key_column] = _("This key is already in line %(line)s of the file.", line=seen[plan.key])
        if plan.key and plan.key not in seen:
            seen[plan.key] = record.line
        if errors:
            plan.action = "error"
            plan.errors = [(parsed.written.get(k, k), m) for k, m in errors.items()]
        plans.append(plan)
    if parsed.kind == "collections":
        _reverse_dropped(plans, lookups)
        _check_cumulative(plans, lookups, parsed.written.get("amount", "amount"))
    if parsed.kind == "orders":
        _check_returns(plans, lookups, parsed.written.get("original", parsed.written.get("amount", "amount")))
    return plans


def _indexes(lookups: Lookups, which: str) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """Rows by code and by name (NFKC), built once per Lookups: users by ERP code (any case) and display
    name, customers by code and name."""
    cache = lookups.__dict__.setdefault("_indexes", {})
    if which not in cache:
        rows, code_key, name_key = ((lookups.users.values(), "erp_code", "display_name") if which == "users"
                                    else (lookups.customers.values(), "code", "name"))
        codes: dict[str, dict] = {}
        names: dict[str, list[dict]] = {}
        for row in rows:
            if row.get(code_key):
                code = nfkc(row[code_key])
                codes.setdefault(code.lower() if which == "users" else code, row)
            if row.get(name_key):
                names.setdefault(nfkc(row[name_key]), []).append(row)
        cache[which] = (codes, names)
    return cache[which]


def _rep(name: str | None, lookups: Lookups, errors: dict, key: str, *, active_only: bool) -> UUID | None:
    """A rep by ERP code, username or display name (as the ERP writes 业务员), in that order."""
    if not name:
        return None
    codes, names = _indexes(lookups, "users")
    text = nfkc(name)
    user = codes.get(text.lower()) or lookups.users.get(text.lower()) or lookups.users.get(name.lower())
    if user is None:
        named = [u for u in names.get(text, []) if u["role"] == "rep"]
        if len(named) > 1:
            errors.setdefault(key, _("%(n)s reps are named “%(name)s”: use their usernames or ERP codes.",
                                     n=len(named), name=name))
            return None
        user = named[0] if named else None
    if user is None or user["role"] != "rep":
        errors.setdefault(key, _("No rep has the username “%(name)s”.", name=name))
        return None
    if active_only and not user["active"]:
        errors.setdefault(key, _("%(name)s is deactivated; choose an active rep.", name=name))
        return None
    return user["id"]


def find_customer(code: str | None, lookups: Lookups) -> dict | None:
    """A customer by its code as written, or the same code in full-width or half-width characters."""
    if not code:
        return None
    return lookups.customers.get(code) or _indexes(lookups, "customers")[0].get(nfkc(code))


def _order_customer(code: str | None, name: str | None, lookups: Lookups, errors: dict) -> dict | None:
    """The order's customer: by code (full-width or not), else by exact name."""
    if code:
        found = find_customer(code, lookups)
        if found is not None or not name:
            if found is None:
                errors.setdefault("customer_code", _("No customer has the code “%(code)s”; import the customers first.",
                                                     code=code))
            return found
    if name:
        named = _indexes(lookups, "customers")[1].get(nfkc(name), [])
        if len(named) == 1:
            return named[0]
        if named:
            errors.setdefault("customer_name", _("%(n)s customers are named “%(name)s”: give the customer code.",
                                                 n=len(named), name=name))
        else:
            errors.setdefault("customer_name", _("No customer is named “%(name)s”; import the customers first.", name=name))
        return None
    errors.setdefault("customer_code", _("This field is required."))
    return None


def _compare(plan: RowPlan, new: dict, old: dict | None) -> None:
    if old is None:
        plan.action = "create"
        return
    plan.existing_id = old["id"]
    plan.changed = [k for k, v in new.items() if old.get(k) != v]
    plan.action = "update" if plan.changed else "unchanged"


def _not_future(day: date | None, key: str, errors: dict, lookups: Lookups) -> None:
    # As the forms refuse them (server/sales/forms.py): a future order or receipt is a typing error.
    if day is not None and lookups.today is not None and day > lookups.today:
        errors.setdefault(key, _("This date is in the future."))


def _plan_customer(parsed, plan, get, errors, lookups):
    code = get("code", parse_text, 64, True)
    code = nfkc(code) if code else code
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
    created = get("created_on", _optional(parse_date))
    _not_future(created, "created_on", errors, lookups)
    if created is not None:
        values["created_on"] = created
    plan.summary = name or ""
    if errors:
        return
    existing = find_customer(code, lookups)
    plan.key = existing["code"] if existing else code
    plan.values = {"code": plan.key, **values}
    _compare(plan, values, existing)


_RED = {"红字", "红", "红单", "是", "y", "yes", "true", "1", "r", "red", "-1", "退货"}
_BLUE = {"", "蓝字", "蓝", "蓝单", "否", "n", "no", "false", "0", "b", "blue"}


def parse_red(raw: str) -> bool:
    """The ERP's 红蓝字 flag: True for a red (return / credit note) document."""
    text = nfkc(raw).lower()
    if text in _RED:
        return True
    if text in _BLUE:
        return False
    raise CellError(_("“%(value)s” is neither 红字 nor 蓝字.", value=raw.strip()))


def _plan_order(parsed, plan, get, errors, lookups):
    number = get("number", parse_text, 64, True)
    number = nfkc(number) if number else number  # 单据编号 in full-width digits and letters is the same order
    code = get("customer_code", parse_text, 64, False)
    name = get("customer_name", parse_text, 200, False)
    day = get("date", _required(parse_date))
    _not_future(day, "date", errors, lookups)
    incl = get("amount", _optional(parse_signed_amount))
    excl = get("amount_excl", _optional(parse_signed_amount))
    tax = get("tax", _optional(parse_signed_amount))
    cost = get("cost", _optional(parse_signed_amount))
    margin = get("margin", _optional(parse_signed_amount))
    red = get("red", parse_red) or False
    amount = incl if incl is not None else (excl + (tax or 0) if excl is not None else None)
    if amount is None and not any(k in errors for k in ("amount", "amount_excl", "tax")):
        errors["amount" if "amount" in parsed.index else "amount_excl"] = _("This field is required.")
    if red and amount is not None and amount > 0:
        amount = -amount
        excl, tax, cost, margin = (None if v is None else -abs(v) for v in (excl, tax, cost, margin))
    values: dict = {"order_date": day, "amount_cents": amount}
    if "due_date" in parsed.index:
        values["due_date"] = get("due_date", _optional(parse_date))
    if amount is not None and ("cost" in parsed.index or "margin" in parsed.index):
        # The gross margin is the ERP's: its 毛利, or the amount excluding tax minus cost. The stored cost is
        # whatever makes amount (including tax) minus cost equal to that margin.
        basis = excl if excl is not None else (amount - tax if tax is not None and incl is not None else amount)
        if margin is not None:
            values["cost_cents"] = amount - margin
        else:
            values["cost_cents"] = (cost or 0) + (amount - basis)
    if "note" in parsed.index:
        values["note"] = get("note", parse_text, 2000, False)
    if amount is not None and amount < 0:
        _plan_return(parsed, plan, get, errors, number, day, amount, values)
        return
    split = get("reps", parse_split)
    customer = _order_customer(code, name, lookups, errors)
    splits = []
    for username, bp in split or []:
        rep = _rep(username, lookups, errors, "reps", active_only=False)
        splits.append((rep, bp))
    if day and values.get("due_date") and values["due_date"] < day:
        errors.setdefault("due_date", _("The due date is before the order date."))
    existing = lookups.orders.get(number) if number else None
    if existing and day and lookups.today and existing["order_date"] < lookups.today.replace(day=1) \
            and day != existing["order_date"]:
        errors.setdefault("date", _("This order's month is closed: its date stays. Void it and enter it again "
                                    "to move it to another month."))
    collected = lookups.collected.get(existing["id"], 0) if existing else 0
    if amount is not None and amount < collected:
        errors.setdefault("amount", _("%(paid)s has been collected against this order already: the amount cannot be less.",
                                      paid=fmt_money(collected / 100)))
    who = (customer or {}).get("code") or code or name or ""
    plan.summary = f"{who} · {fmt_money((amount or 0) / 100)}"
    if len(plan.lines) > 1:
        plan.summary += " · " + _("%(n)s lines", n=len(plan.lines))
    if errors:
        return
    assert customer is not None  # no customer is an error above
    values["customer"] = customer["id"]
    values["splits"] = frozenset(splits)
    plan.values = {"number": number, **values}
    _compare(plan, values, existing)


def _plan_return(parsed, plan, get, errors, number, day, amount, values) -> None:
    """A negative order (a 红字 document, or a negative amount): a return against the order its 源单编号
    names, recorded through the returns service (server/sales/returns.py) under the document's number, so
    importing it again changes nothing. Checked against the original order in `_check_returns`."""
    original = get("original", parse_text, 64, False)
    original = nfkc(original) if original else original
    if not original and "original" not in errors:
        errors["original" if "original" in parsed.index else "amount"] = _(
            "A negative amount is a return: map the column naming the order it returns (源单编号), and fill it in.")
    if original and number and nfkc(number) == original:
        errors.setdefault("number", _("A return needs a number of its own, not its order's."))
    margin = None
    if "cost_cents" in values:
        margin = -(amount - values["cost_cents"])
    plan.summary = _("Return of %(order)s · %(amount)s", order=original or "?", amount=fmt_money(amount / 100))
    if len(plan.lines) > 1:
        plan.summary += " · " + _("%(n)s lines", n=len(plan.lines))
    if errors:
        return
    plan.values = {"return": True, "number": number, "original": original, "amount_cents": -amount,
                   "margin_cents": margin, "return_date": day, "note": values.get("note") or ""}
    plan.action = "create"


def _check_returns(plans: list[RowPlan], lookups: Lookups, column: str) -> None:
    """Each return against its order, in the file or the database: the order exists and is not void, the
    return is not dated before it, and all its returns do not exceed its amount. A return already recorded
    under the document's number against that order is unchanged."""
    in_file = {p.key: p for p in plans if p.action in ("create", "update", "unchanged") and not p.values.get("return")}
    failed = {p.key for p in plans if p.action == "error"}
    used = dict(lookups.returned)
    for plan in plans:
        if plan.action == "error" or not plan.values.get("return"):
            continue
        v = plan.values
        existing = lookups.returns.get(v["number"])
        order = lookups.orders.get(v["original"])
        planned = in_file.get(v["original"])
        if v["original"] in failed:
            message = _("The order it returns, %(number)s, has errors in this file.", number=v["original"])
        elif order is None and planned is None:
            message = _("No order has the number “%(number)s”.", number=v["original"])
        elif existing is not None:
            same = order is not None and existing["sales_order"] == order["id"] and existing["amount_cents"] == v["amount_cents"]
            if same:
                plan.action, plan.existing_id = "unchanged", existing["id"]
                continue
            # Never rewritten by a re-import: the return was counted on its own date (docs/erp-imports.md).
            earlier = next((o["number"] for o in lookups.orders.values() if o["id"] == existing["sales_order"]), None)
            message = _("Return %(number)s was imported already, %(amount)s against order %(order)s: a re-import does "
                        "not change it. Record the difference as a return or credit note of its own.",
                        number=v["number"], amount=fmt_money(existing["amount_cents"] / 100),
                        order=earlier or _("another order"))
        else:
            source = planned.values if planned else order
            assert source is not None  # one of them exists (checked above)
            amount, order_date = source["amount_cents"], source["order_date"]
            order_id = order["id"] if order else None
            left = amount - used.get(order_id, 0) if order_id else amount - used.get(v["original"], 0)
            if order and order.get("voided_at") is not None:
                message = _("This order is void: nothing more can be recorded against it.")
            elif v["return_date"] < order_date:
                message = _("A return cannot be dated before its order.")
            elif v["amount_cents"] > left:
                message = _("Only %(left)s of this order is left to return.", left=fmt_money(max(0, left) / 100))
            else:
                used[order_id or v["original"]] = used.get(order_id or v["original"], 0) + v["amount_cents"]
                continue
        plan.action = "error"
        plan.errors.append((column, message))


def _plan_collection(parsed, plan, get, errors, lookups):
    receipt = nfkc(get("number", parse_text, 64, True) or "")
    order_number = get("order_number", parse_text, 64, True)
    day = get("date", _required(parse_date))
    _not_future(day, "date", errors, lookups)
    # A negative receipt is a refund (退款): a reversal of what was collected, through corrections.py.
    amount = get("amount", _required(parse_signed_amount), allow_zero=False)
    order = lookups.orders.get(nfkc(order_number)) if order_number else None
    if order_number and order is None:
        errors.setdefault("order_number", _("No order has the number “%(number)s”.", number=order_number))
    elif order is not None and order.get("voided_at") is not None:
        errors.setdefault("order_number", _("Order %(number)s is void: nothing more can be recorded against it.",
                                            number=order["number"]))
    if plan.key and len(plan.key) > 64:
        errors.setdefault("number", _("At most %(n)s characters.", n=64))
    plan.summary = f"{order_number or ''} · {fmt_money((amount or 0) / 100)}"
    if len(plan.lines) > 1:
        plan.summary += " · " + _("%(n)s lines", n=len(plan.lines))
    if errors:
        return
    values = {"sales_order": order["id"], "received_on": day, "amount_cents": amount}
    existing = lookups.collections.get(plan.key)
    if existing is None and amount is not None and amount > 0:
        # The same receipt's part for the same order, stored under its other name (the receipt settled
        # one order then and several now, or the other way round): the same collection, not a new one.
        existing = next((c for c in lookups.receipts.get(receipt, []) if c["sales_order"] == order["id"]
                         and c["number"] in (receipt, part_name(receipt, nfkc(order_number or "")))), None)
        if existing is not None:
            plan.key = existing["number"]
    plan.values = {"number": plan.key, **values}
    if amount is not None and amount > 0:
        plan.values["receipt"] = receipt
    if amount is not None and amount < 0:
        plan.values["refund"] = True
        plan.summary = _("Refund on %(order)s · %(amount)s", order=order_number, amount=fmt_money(amount / 100))
        if existing is None:
            plan.action = "create"
        elif existing["sales_order"] == order["id"] and existing["amount_cents"] == amount:
            plan.action, plan.existing_id = "unchanged", existing["id"]
        else:  # a refund is never rewritten: it was counted on its own date
            errors.setdefault("amount", _(
                "Refund %(number)s was imported already (%(amount)s dated %(day)s): correct it on its order's page.",
                number=plan.key, amount=fmt_money(existing["amount_cents"] / 100), day=existing["received_on"].isoformat()))
            plan.values = {}
        return
    if existing is not None and existing["amount_cents"] < 0:
        errors.setdefault("amount", _(
            "Refund %(number)s was imported already (%(amount)s dated %(day)s): correct it on its order's page.",
            number=plan.key, amount=fmt_money(existing["amount_cents"] / 100), day=existing["received_on"].isoformat()))
        return
    _compare(plan, values, existing)


def _reverse_dropped(plans: list[RowPlan], lookups: Lookups) -> None:
    """A stored part of one of the file's receipts for an order the file no longer lists under it (the ERP
    moved that money to another order) is reversed in the same run, by a correction dated the run's day
    (`corrections.post_correction`), so the receipt counts once: its first record carries the reversals
    (`values["reverse"]`) and says so."""
    matched = {p.existing_id for p in plans if p.existing_id is not None}
    first: dict[str, RowPlan] = {}
    for plan in plans:
        if plan.action not in ("error", "skip") and plan.values.get("receipt"):
            first.setdefault(plan.values["receipt"], plan)
    for receipt, plan in first.items():
        dropped = [c for c in lookups.receipts.get(receipt, []) if c["id"] not in matched and c["net_cents"] > 0]
        if not dropped:
            continue
        plan.values["reverse"] = dropped
        if plan.action == "unchanged":
            plan.action = "update"
        for c in dropped:
            plan.summary += " · " + _("reverses %(number)s on order %(order)s (%(amount)s): the ERP no longer lists that "
                                      "order under this receipt", number=c["number"], order=c["order_number"],
                                      amount=fmt_money(c["net_cents"] / 100))


def _check_cumulative(plans: list[RowPlan], lookups: Lookups, column: str) -> None:
    """All collections of an order, those in the database (less the ones this file replaces) and the
    file's, may not exceed the order's amount (including tax, as the receipts are) less its returns, nor
    fall below zero with its refunds: the row that goes over gets the error."""
    orders = {o["id"]: o for o in lookups.orders.values()}
    running = dict(lookups.collected)
    for plan in plans:
        if plan.action not in ("error", "skip") and plan.existing_id is not None:
            old = lookups.collections[plan.key]
            running[old["sales_order"]] = running.get(old["sales_order"], 0) - old["amount_cents"]
        for c in plan.values.get("reverse", []) if plan.action not in ("error", "skip") else []:
            running[c["sales_order"]] = running.get(c["sales_order"], 0) - c["net_cents"]
    for plan in plans:
        if plan.action in ("error", "skip"):
            continue
        order_id = plan.values["sales_order"]
        total = running.get(order_id, 0) + plan.values["amount_cents"]
        limit = orders[order_id]["amount_cents"] - lookups.returned.get(order_id, 0)
        if total < 0:
            plan.action = "error"
            plan.errors.append((column, _(
                "The refund takes back more than was collected on order %(number)s (%(paid)s).",
                number=orders[order_id]["number"], paid=fmt_money(running.get(order_id, 0) / 100))))
        elif total > limit:
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
    out = {"create": 0, "update": 0, "unchanged": 0, "skip": 0, "error": 0}
    for plan in plans:
        out[plan.action] += 1
    return out


