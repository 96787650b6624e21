"""Every path value and query parameter of every GET route, given values at the ends of their range (dates
in year 1 or 9999, integers past 64 bits, NUL, very long text): a 4xx, never a 5xx. The route list comes
from the app; each route's valid URL from the authorization matrix."""

from __future__ import annotations

import inspect
import re
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import pytest

from tests.integration.test_authorization import MATRIX, USERNAMES, app_routes, records  # noqa: F401

HOSTILE = [
    "9999-12-31", "0001-01-01", "9999-12", "2026-13", "9999", "-1", str(2**63), "1" + "0" * 30, "1e309", "a\x00b",
    "x" * 3000, "2026-W99", "\ud800",
]
RESERVED = {"request", "actor", "state", "data", "scope", "headers", "cookies", "socket", "body", "query"}
# Each route is tried as the first of these its matrix row lets in (so the handler runs, not a refusal).
PERSONAS = ("owner", "manager", "admin")
ALLOWED = ("ok", "ok-scoped", "ok-sees")


def _get_routes(app) -> dict[str, object]:
    handlers = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):  # the static files: one ASGI route
            if "GET" in (getattr(handler, "http_methods", None) or ()) and ("GET", route.path) in app_routes(app):
                handlers[route.path] = handler
    return handlers


def _query_names(handler, path: str) -> list[str]:
    path_params = set(re.findall(r"{(\w+):", path))
    declared = [n for n in handler.parsed_fn_signature.parameters if n not in RESERVED and n not in path_params]
    source = inspect.getsource(handler.fn)
    return sorted(set(declared) | set(re.findall(r'query_params\.get\("(\w+)"', source)))


def _variants(path: str, url: str, names: list[str]):
    """The route's valid URL with one path segment or one query parameter at a time made hostile."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    template = path.split("/")
    for i, seg in enumerate(template):
        if seg.startswith("{") and i < len(segments):
            for value in HOSTILE:
                changed = [*segments[:i], quote(value.encode("utf-8", "surrogatepass"), safe=""), *segments[i + 1:]]
                yield urlunsplit(parts._replace(path="/".join(changed)))
    base = dict(p.split("=", 1) if "=" in p else (p, "") for p in parts.query.split("&") if p)
    for name in names:
        for value in HOSTILE:
            query = urlencode({**base, name: value}, quote_via=quote, encoding="utf-8", errors="surrogatepass")
            yield urlunsplit(parts._replace(query=query))


def test_no_url_value_gives_a_server_error(client, records):  # noqa: F811
    handlers = _get_routes(client.app)
    failures = []
    signed_in = None
    for path, handler in sorted(handlers.items(), key=lambda kv: _persona(kv[0])):
        persona = _persona(path)
        if persona != signed_in:
            client.login(USERNAMES[persona])
            signed_in = persona
        url = MATRIX[("GET", path)].make_url(records)
        for variant in _variants(path, url, _query_names(handler, path)):
            r = client.get(variant, follow_redirects=False)
            if r.status_code >= 500:
                failures.append(f"{path} as {persona}: GET {variant[:160]} -> {r.status_code}")
    assert not failures, f"\n{len(failures)} server error(s):\n" + "\n".join(failures[:80])


def _persona(path: str) -> str:
    expect = MATRIX[("GET", path)].expect
    return next((p for p in PERSONAS if expect[p] in ALLOWED), "admin")


# The cases the issue names: out of range is a 4xx with a translated message, not a page for year 9999.
NAMED = [
    ("owner", "/reports/weekly/9999-12-31"), ("owner", "/reports/daily/0001-01-01"),
    ("owner", "/orders?month=9999-12"), ("owner", "/orders?month=0001-01"), ("owner", "/collections?as_of=0001-01-01"),
    ("owner", "/collections?as_of=9999-12-31"), ("manager", "/dashboard?period=9999-12"),
    ("manager", "/dashboard?period=9999"), ("manager", "/dashboard/explain?kpi=visits&period=0001-01&scope=teams"),
    ("owner", "/api/v1/visits?day=9999-12-31"), ("owner", "/api/v1/orders?month=9999-12"),
    ("owner", f"/api/v1/sync/pull?cursor={2**63}"), ("owner", "/api/v1/sync/pull?cursor=" + "1" * 30),
    ("owner", "/api/v1/customers?limit=" + "9" * 30), ("admin", "/static/" + "a" * 300 + ".css"),
    ("admin", "/static/a%00b.css"), ("admin", "/imports/template/" + "x" * 300 + ".csv"),
]


@pytest.mark.parametrize("persona, url", NAMED)
def test_out_of_range_url_values_are_a_translated_4xx(client, records, persona, url):  # noqa: F811
    client.login(USERNAMES[persona])
    r = client.get(url, follow_redirects=False, headers={"accept-language": "zh-CN"})
    assert 400 <= r.status_code < 500, (url, r.status_code, r.text[:300])
    if "text/html" in r.headers.get("content-type", ""):
        assert re.search(r"[\u4e00-\u9fff]", r.text), "the error page is not translated"
    elif r.headers.get("content-type", "").startswith("application/problem+json"):
        body = r.json()
        text = body.get("title", "") + " ".join((body.get("errors") or {}).values())
        assert re.search(r"[\u4e00-\u9fff]", text), f"the problem is not translated: {body}"
