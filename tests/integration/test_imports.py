"""CSV imports through HTTP, on both engines: preview, all-or-nothing run with progress, natural keys,
encodings (GBK, BOM, UTF-16), refusals (bad rows, big, empty or binary files, other roles)."""

from __future__ import annotations

import re
import time
from datetime import date
from uuid import UUID

import pytest

from server.customers.tables import Customer
from server.imports.tables import ImportBatch
from server.sales import credits, returns
from server.sales.tables import Collection, Order, OrderSplit

CUSTOMERS = (
    "customer_code,name,rep,contact_name,phone\n"
    "C-1,Acme Wuxi,rep_a1,Mr Li,021-1\n"
    "C-2,Beta Hangzhou,rep_a2,,\n"
)
ORDERS = (
    "order_number,customer_code,date,due_date,amount,cost,rep\n"
    "SO-1,C-1,2026-03-05,2026-04-05,\"12,800.00\",7680,rep_a1\n"
    "SO-2,C-2,2026/3/6,,¥5600,,rep_a1:60;rep_a2:40\n"
    "SO-3,C-2,2026年3月7日,,1000.5,100,rep_a1：25；rep_a2：75\n"
)
COLLECTIONS = (
    "collection_number,order_number,date,amount\n"
    "RC-1,SO-1,2026-03-20,6400\n"
    "RC-2,SO-1,2026/4/2,\"6,400.00\"\n"
    "RC-3,SO-2,2026-04-01,100\n"
)


def upload(client, kind: str, data: bytes | str, filename: str = "data.csv"):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return client.post("/imports", data={"_csrf_token": client.csrf(), "kind": kind},
                       files={"file": (filename, data, "text/csv")}, follow_redirects=False)


def preview(client, kind: str, data: bytes | str, filename: str = "data.csv") -> UUID:
    r = upload(client, kind, data, filename)
    assert r.status_code == 303, r.text[:2000]
    match = re.fullmatch(r"/imports/([0-9a-f-]{36})", r.headers["location"])
    assert match, r.headers["location"]
    return UUID(match.group(1))


def progress(client, batch_id: UUID) -> dict:
    r = client.get(f"/imports/{batch_id}/progress", headers={"hx-request": "true"})
    assert r.status_code == 200, r.text[:500]
    attrs = dict(re.findall(r'data-(status|processed|total|created|updated|unchanged)="([^"]*)"', r.text))
    attrs["polls"] = 'hx-trigger="every 1s"' in r.text
    attrs["html"] = r.text
    return attrs


def run(client, batch_id: UUID, timeout: float = 120) -> dict:
    r = client.post_form(f"/imports/{batch_id}/run")
    assert r.status_code == 303, r.text[:2000]
    assert r.headers["location"] == f"/imports/{batch_id}"
    deadline = time.monotonic() + timeout
    while True:
        state = progress(client, batch_id)
        if state["status"] in ("done", "failed"):
            return state
        assert state["polls"], "a running import's progress must keep polling"
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.05)


def import_file(client, kind: str, data: bytes | str) -> dict:
    batch_id = preview(client, kind, data)
    state = run(client, batch_id)
    assert state["status"] == "done", state["html"][:2000]
    return state


def business_rows(client) -> dict[str, list]:
    out = {}
    for table in (Customer, Order, OrderSplit, Collection):
        rows = client.run(table.select())
        out[table._meta.tablename] = sorted(repr(sorted(r.items())) for r in rows)
    return out


def customer(client, code: str) -> dict:
    return client.run(Customer.select().where(Customer.code == code).first())


def splits_of(client, number: str, world) -> dict:
    names = {world.rep: "rep_a1", world.other_rep: "rep_a2"}
    order = client.run(Order.select(Order.id).where(Order.number == number).first())
    rows = client.run(OrderSplit.select().where(OrderSplit.sales_order == order["id"]))
    return {names[r["rep"]]: (r["share_bp"], r["order_date"]) for r in rows}


def test_clean_files_of_each_kind_import(client, world):
    client.login("boss")
    assert import_file(client, "customers", CUSTOMERS)["created"] == "2"
    c1 = customer(client, "C-1")
    assert (c1["name"], c1["owner"], c1["contact_name"], c1["phone"]) == ("Acme Wuxi", world.rep, "Mr Li", "021-1")
    assert c1["created_by"] == world.admin and c1["server_seq"] > 0
    assert customer(client, "C-2")["owner"] == world.other_rep

    state = import_file(client, "orders", ORDERS)
    assert (state["created"], state["processed"], state["total"]) == ("3", "3", "3")
    orders = {o["number"]: o for o in client.run(Order.select())}
    so1, so2, so3 = orders["SO-1"], orders["SO-2"], orders["SO-3"]
    assert (so1["amount_cents"], so1["cost_cents"], so1["order_date"], so1["due_date"]) == (1_280_000, 768_000, date(2026, 3, 5), date(2026, 4, 5))
    assert so1["customer"] == c1["id"] and so1["source"] == "import" and so1["created_by"] == world.admin
    assert (so2["amount_cents"], so2["cost_cents"], so2["order_date"], so2["due_date"]) == (560_000, 0, date(2026, 3, 6), None)
    assert (so3["amount_cents"], so3["order_date"]) == (100_050, date(2026, 3, 7))
    assert splits_of(client, "SO-1", world) == {"rep_a1": (10_000, date(2026, 3, 5))}
    assert splits_of(client, "SO-2", world) == {"rep_a1": (6_000, date(2026, 3, 6)), "rep_a2": (4_000, date(2026, 3, 6))}
    assert splits_of(client, "SO-3", world) == {"rep_a1": (2_500, date(2026, 3, 7)), "rep_a2": (7_500, date(2026, 3, 7))}

    import_file(client, "collections", COLLECTIONS)
    rows = {c["number"]: c for c in client.run(Collection.select())}
    assert {n: (c["sales_order"], c["received_on"], c["amount_cents"], c["source"]) for n, c in rows.items()} == {
        "RC-1": (so1["id"], date(2026, 3, 20), 640_000, "import"),
        "RC-2": (so1["id"], date(2026, 4, 2), 640_000, "import"),
        "RC-3": (so2["id"], date(2026, 4, 1), 10_000, "import"),
    }
    # The history lists the three imports with their counts.
    page = client.get("/imports")
    assert page.status_code == 200 and page.text.count("/imports/") >= 3


def test_bad_rows_are_listed_with_their_line_numbers_and_nothing_is_written(client, world):
    client.login("boss")
    import_file(client, "customers", CUSTOMERS)
    before = business_rows(client)
    bad = (
        "order_number,customer_code,date,amount,rep\n"
        "SO-1,C-1,2026-03-05,100,rep_a1\n"          # line 2: fine
        "SO-2,NOPE,2026-03-05,100,rep_a1\n"         # line 3: unknown customer
        "\n"                                        # line 4: blank, ignored
        "SO-3,C-1,2026-02-30,100,rep_a1\n"          # line 5: no such date
        "SO-4,C-1,2026-03-05,-100,rep_a1\n"         # line 6: negative: a return, but of which order?
        "SO-5,C-1,2026-03-05,100,rep_a1:60;rep_a2:30\n"  # line 7: 90 %
        "SO-6,C-1,2026-03-05,100,nobody\n"          # line 8: unknown rep
        "SO-7,C-1,2026-03-05,\"1 234,56\",rep_a1\n"  # line 9: ambiguous amount
        "SO-1,C-1,2026-03-05,100,rep_a1\n"          # line 10: key repeated
    )
    batch_id = preview(client, "orders", bad)
    page = client.get(f"/imports/{batch_id}")
    assert page.status_code == 200
    text = page.text
    assert 'data-count="error">7<' in text and 'data-count="create">1<' in text
    rows = dict(re.findall(r'<td class="num">(\d+)</td>\s*<td>[^<]*</td>\s*<td><span class="pill import-action-(\w+)"', text))
    assert rows == {"2": "create", "3": "error", "5": "error", "6": "error", "7": "error", "8": "error", "9": "error", "10": "error"}
    for message in ("No customer has the code “NOPE”", "“2026-02-30” is not a real date",
                    "A negative amount is a return: map the column naming the order it returns",
                    "The shares add up to 90, not 100", "No rep has the username “nobody”", "“1 234,56” is not an amount",
                    "This key is already in line 2 of the file"):
        assert message in text, message
    # Errors come first: line 3's row is listed before line 2's.
    assert text.index("No customer has the code") < text.index(">Create<", text.index("import-rows"))
    assert 'action="/imports/' not in text.split("import-rows")[0].split("What the import would do now")[1]
    refused = client.post_form(f"/imports/{batch_id}/run")
    assert refused.status_code == 422 and "7 rows have errors" in refused.text
    assert business_rows(client) == before
    batch = client.run(ImportBatch.select().where(ImportBatch.id == batch_id).first())
    assert (batch["status"], batch["error_rows"], batch["total_rows"]) == ("previewed", 7, 8)


def test_collections_may_not_exceed_the_order_amount(client, world):
    client.login("boss")
    import_file(client, "customers", CUSTOMERS)
    import_file(client, "orders", ORDERS)
    import_file(client, "collections", "collection_number,order_number,date,amount\nRC-1,SO-2,2026-04-01,5000\n")
    batch_id = preview(client, "collections", (
        "回款单号,订单号,日期,金额\n"
        "RC-1,SO-2,2026-04-01,5000\n"    # unchanged
        "RC-2,SO-2,2026-04-02,600\n"     # 5600: exactly the order's amount
        "RC-3,SO-2,2026-04-03,0.01\n"    # one fen too many
        "RC-4,SO-9,2026-04-03,1\n"       # no such order
        "RC-5,SO-1,2026-04-03,0\n"       # zero
    ))
    text = client.get(f"/imports/{batch_id}").text
    assert "Collections of order SO-2 would total" in text
    assert "No order has the number “SO-9”" in text and "The amount must be more than zero" in text
    assert 'data-count="error">3<' in text and 'data-count="unchanged">1<' in text and 'data-count="create">1<' in text


def test_an_order_amount_cannot_drop_below_what_was_collected(client, world):
    client.login("boss")
    import_file(client, "customers", CUSTOMERS)
    import_file(client, "orders", ORDERS)
    import_file(client, "collections", "collection_number,order_number,date,amount\nRC-1,SO-2,2026-04-01,5000\n")
    lowered = ORDERS.replace("5600", "100")
    assert lowered != ORDERS
    batch_id = preview(client, "orders", lowered)
    text = client.get(f"/imports/{batch_id}").text
    assert "has been collected against this order already" in text
    assert client.post_form(f"/imports/{batch_id}/run", {}).status_code == 422


def test_the_same_file_again_changes_nothing_and_an_edited_file_updates_only_its_changes(client, world):
    client.login("boss")
    import_file(client, "customers", CUSTOMERS)
    import_file(client, "orders", ORDERS)
    before = business_rows(client)

    batch_id = preview(client, "orders", ORDERS)
    text = client.get(f"/imports/{batch_id}").text
    assert "This same file was imported before" in text
    assert 'data-count="unchanged">3<' in text and 'data-count="create">0<' in text and 'data-count="update">0<' in text
    state = run(client, batch_id)
    assert (state["status"], state["unchanged"], state["created"], state["updated"]) == ("done", "3", "0", "0")
    assert business_rows(client) == before

    edited = ORDERS.replace("¥5600", "¥5700").replace("rep_a1：25；rep_a2：75", "rep_a2")
    batch_id = preview(client, "orders", edited)
    text = client.get(f"/imports/{batch_id}").text
    assert "This same file was imported before" not in text
    assert 'data-count="update">2<' in text and 'data-count="unchanged">1<' in text
    state = run(client, batch_id)
    assert (state["updated"], state["unchanged"]) == ("2", "1")
    # March is closed: the order rows stay as reported and the changes are dated corrections
    # (server/sales/order_corrections.py), so the figures now are the file's.
    orders = {o["number"]: o for o in client.run(Order.select())}
    assert orders["SO-2"]["amount_cents"] == 560_000
    assert client.run(returns.current_amounts(orders["SO-2"]))[0] == 570_000
    assert splits_of(client, "SO-2", world) == {"rep_a1": (6_000, date(2026, 3, 6)), "rep_a2": (4_000, date(2026, 3, 6))}
    assert splits_of(client, "SO-3", world) == {"rep_a1": (2_500, date(2026, 3, 7)), "rep_a2": (7_500, date(2026, 3, 7))}
    assert dict(client.run(credits.current_split(orders["SO-3"]["id"]))) == {world.other_rep: 10_000}
    # The unchanged order was not touched.
    assert [r for r in business_rows(client)["sales_order"] if "SO-1" in r] == [r for r in before["sales_order"] if "SO-1" in r]

    # A customer's changed fields are written and get a new place in the change order (phones pull them).
    seq = customer(client, "C-2")["server_seq"]
    import_file(client, "customers", CUSTOMERS.replace("Beta Hangzhou,rep_a2", "Beta Hangzhou Ltd,rep_a1"))
    c2 = customer(client, "C-2")
    assert (c2["name"], c2["owner"]) == ("Beta Hangzhou Ltd", world.rep) and c2["server_seq"] > seq


def test_gbk_file_from_a_chinese_excel_imports_with_correct_text(client, world):
    client.login("boss")
    data = "客户编码,客户名称,业务员,联系人,地址\r\nK-01,上海华东贸易有限公司,rep_a1,王经理,上海市浦东新区\r\n".encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    batch_id = preview(client, "customers", data, "客户.csv")
    page = client.get(f"/imports/{batch_id}").text
    assert "GBK / GB18030" in page and "上海华东贸易有限公司" in page
    run(client, batch_id)
    row = customer(client, "K-01")
    assert (row["name"], row["contact_name"], row["address"], row["owner"]) == ("上海华东贸易有限公司", "王经理", "上海市浦东新区", world.rep)
    assert client.run(ImportBatch.select(ImportBatch.encoding).where(ImportBatch.id == batch_id).first())["encoding"] == "gb18030"


def test_utf8_bom_does_not_corrupt_the_first_header(client, world):
    client.login("boss")
    data = "\ufeffcustomer_code,name,rep\n客户-1,Lake Foods,rep_a2\n".encode("utf-8")
    batch_id = preview(client, "customers", data)
    assert "UTF-8 (BOM)" in client.get(f"/imports/{batch_id}").text
    run(client, batch_id)
    assert customer(client, "客户-1")["name"] == "Lake Foods"


def test_excel_unicode_text_utf16_tab_separated_imports(client, world):
    client.login("boss")
    data = "Customer Code\tName\tRep\r\nU-1\t苏州湖鲜食品\trep_a1\r\n".encode("utf-16")
    batch_id = preview(client, "customers", data, "customers.txt")
    page = client.get(f"/imports/{batch_id}").text
    assert "UTF-16" in page and "separated by tab" in page
    run(client, batch_id)
    assert customer(client, "U-1")["name"] == "苏州湖鲜食品"


def test_large_empty_binary_and_headerless_files_get_a_clear_error(client, world):
    client.login("boss")
    before = client.run(ImportBatch.count())
    cases = {
        "The file is larger than 2 MB": ("customer_code,name,rep\n" + "C,N,rep_a1\n" * 200_000).encode(),  # 2.2 MB
        "The file is empty": b"",
        "not a text (CSV) file": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10,
        "no data rows": b"customer_code,name,rep\n\n",
        "neither UTF-8 nor GBK": b"customer_code,name,rep\n\x81\x30\xff,x,rep_a1\n",
    }
    for message, data in cases.items():
        r = upload(client, "customers", data)
        assert r.status_code == 422, (message, r.status_code)
        assert message in r.text, (message, r.text[:3000])
    # A body far over the limit is refused before it is read, still with the explanation.
    r = upload(client, "customers", b"a,b\n" * 1_500_000)
    assert r.status_code == 413 and "The file is larger than 2 MB" in r.text
    # An unknown kind is a field error too.
    assert upload(client, "invoices", CUSTOMERS).status_code == 422
    assert client.run(ImportBatch.count()) == before
    # A file whose headers leave a required column unmapped goes to the mapping step, and cannot run.
    batch_id = preview(client, "customers", b"code,name\nC-1,X\n")
    page = client.get(f"/imports/{batch_id}").text
    assert "Map these columns to preview the rows: 业务员 / rep" in page and 'data-count="create"' not in page
    refused = client.post_form(f"/imports/{batch_id}/run")
    assert refused.status_code == 422 and "Map these columns first: 业务员 / rep" in refused.text


def test_pasted_rows_preview_like_a_file(client, world):
    client.login("boss")
    r = client.post_form("/imports", {"kind": "customers", "text": "customer_code\tname\trep\nP-1\tPasted Co\trep_a1\n"})
    assert r.status_code == 303
    run(client, UUID(r.headers["location"].rsplit("/", 1)[1]))
    assert customer(client, "P-1")["name"] == "Pasted Co"


def test_example_files_are_utf8_with_bom_in_the_pages_language(client, world):
    client.login("boss")
    r = client.get("/imports/template/orders.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf") and r.content[3:].decode("utf-8").startswith("order_number,customer_code")
    client.post_form("/settings/language", {"locale": "zh_CN"})
    r = client.get("/imports/template/customers.csv")
    assert r.content.decode("utf-8-sig").startswith("客户编码,客户名称,业务员")
    assert client.get("/imports/template/nothing.csv").status_code == 404
    assert client.get("/imports/template/orders.txt").status_code == 404


@pytest.mark.parametrize("username", ["mgr_a", "rep_a1"])
def test_managers_and_reps_are_refused(client, world, username):
    client.login("boss")
    batch_id = preview(client, "customers", CUSTOMERS)
    client.login(username)
    assert client.get("/imports").status_code == 403
    assert upload(client, "customers", CUSTOMERS).status_code == 403
    assert client.get("/imports/template/customers.csv").status_code == 403
    assert client.get(f"/imports/{batch_id}").status_code == 403
    assert client.get(f"/imports/{batch_id}/progress").status_code == 403
    assert client.post_form(f"/imports/{batch_id}/run").status_code == 403
    assert client.run(Customer.count().where(Customer.code.is_not_null())) == 0
    assert client.run(ImportBatch.select(ImportBatch.status).where(ImportBatch.id == batch_id).first())["status"] == "previewed"


def test_unknown_batch_is_404_and_a_batch_runs_once(client, world):
    client.login("boss")
    assert client.get("/imports/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/imports/not-a-uuid").status_code in (404, 400)
    batch_id = preview(client, "customers", CUSTOMERS)
    run(client, batch_id)
    again = client.post_form(f"/imports/{batch_id}/run")
    assert again.status_code == 409
    assert client.run(Customer.count().where(Customer.code.is_not_null())) == 2


def test_a_failure_mid_way_rolls_everything_back(client, world, monkeypatch):
    from server.imports import services

    client.login("boss")
    import_file(client, "customers", CUSTOMERS)
    before = business_rows(client)
    rows = "order_number,customer_code,date,amount,rep\n" + "".join(
        f"F-{i},C-1,2026-03-05,100,rep_a1\n" for i in range(1200))
    batch_id = preview(client, "orders", rows)
    original = services._apply_orders
    calls = []

    async def failing(actor, creates, updates, now):
        calls.append(len(creates))
        if len(calls) == 2:  # after the first 500 rows were written in the transaction
            raise RuntimeError("disk full")
        await original(actor, creates, updates, now)

    monkeypatch.setattr(services, "_apply_orders", failing)
    state = run(client, batch_id)
    assert state["status"] == "failed" and "nothing was changed" in state["html"] and "disk full" in state["html"]
    assert business_rows(client) == before
    monkeypatch.setattr(services, "_apply_orders", original)
    # A failed batch can run again once the cause is gone.
    assert run(client, batch_id)["status"] == "done"
    assert client.run(Order.count()) == 1200


def test_a_large_file_imports_with_progress(client, world):
    client.login("boss")
    import_file(client, "customers", CUSTOMERS)
    lines = ["订单号,客户编码,日期,金额,成本,业务员"]
    for i in range(5000):
        reps = "rep_a1" if i % 2 else "rep_a1:50;rep_a2:50"
        lines.append(f"L-{i:05d},C-{1 + i % 2},2026-{1 + i % 11:02d}-{1 + i % 28:02d},{100 + i}.25,{i},{reps}")
    batch_id = preview(client, "orders", "\n".join(lines) + "\n")
    page = client.get(f"/imports/{batch_id}").text
    assert 'data-count="create">5,000<' in page, page[page.find("<main"):][:3000]
    assert "The first 200 of 5,000 rows" in page
    r = client.post_form(f"/imports/{batch_id}/run")
    assert r.status_code == 303
    seen = []
    deadline = time.monotonic() + 180
    while True:
        state = progress(client, batch_id)
        seen.append(int(state["processed"]))
        if state["status"] != "running":
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert state["status"] == "done", state["html"][:1000]
    assert (state["processed"], state["total"], state["created"], state["updated"], state["unchanged"]) == (
        "5000", "5000", "5000", "0", "0")
    assert not state["polls"], "a finished import stops polling"
    assert seen == sorted(seen)
    assert client.run(Order.count().where(Order.number.like("L-%"))) == 5000
    assert client.run(OrderSplit.count()) == 2500 * 2 + 2500
    total = client.run(Order.raw("SELECT SUM(amount_cents) AS s FROM sales_order WHERE number LIKE 'L-%'"))[0]["s"]
    assert total == sum(10_025 + 100 * i for i in range(5000))
    batch = client.run(ImportBatch.select().where(ImportBatch.id == batch_id).first())
    assert (batch["status"], batch["processed_rows"], batch["created_count"]) == ("done", 5000, 5000)
    assert batch["finished_at"] is not None


def matrix_batch(records) -> UUID:
    """The previewed batch the authorization matrix's import routes point at (made once per test)."""
    from server.accounts.permissions import load_actor
    from server.imports import services

    async def make(r) -> UUID:
        admin = await load_actor(str(r.world.admin))
        return await services.preview(admin, "customers", "matrix.csv", b"customer_code,name,rep\nM-1,Matrix Co,rep_a1\n")

    return records.extra("import_batch", make)
