"""HEAD is answered wherever GET is: the same status and headers as the GET, and no body.

The routes come from the app (every GET route of the authorization matrix, whose own test proves the
matrix names every route the app serves), with the matrix's URLs, records and personas."""

from __future__ import annotations

import pytest

from tests.integration.test_authorization import (  # noqa: F401  (`records` is a fixture)
    MATRIX,
    app_routes,
    records,
    sign_in,
    use_browser,
)

# Headers that differ between any two requests, whatever the method.
VARYING = {"date", "set-cookie"}


def _headers(response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower() not in VARYING}


@pytest.mark.parametrize("persona", ["anonymous", "owner", "manager", "admin"])
def test_every_get_route_answers_head_like_get_without_a_body(client, records, persona):
    gets = sorted(path for method, path in app_routes(client.app) if method == "GET")
    assert "/healthz" in gets and "/login" in gets
    cookies = sign_in(client, persona)
    failures = []
    for path in gets:
        url = MATRIX[("GET", path)].make_url(records)
        use_browser(client, cookies)
        head = client.head(url, follow_redirects=False)
        use_browser(client, cookies)
        got = client.get(url, follow_redirects=False)
        if head.status_code != got.status_code:
            failures.append(f"HEAD {url}: {head.status_code}, GET {got.status_code}")
            continue
        if head.content:
            failures.append(f"HEAD {url}: a body of {len(head.content)} bytes")
        h, g = _headers(head), _headers(got)
        if h.keys() != g.keys():
            failures.append(f"HEAD {url}: headers {sorted(h.keys() ^ g.keys())} differ from the GET's")
        elif h.get("content-type") != g.get("content-type") or h.get("cache-control") != g.get("cache-control"):
            failures.append(f"HEAD {url}: {h.get('content-type')}/{h.get('cache-control')} vs the GET's "
                            f"{g.get('content-type')}/{g.get('cache-control')}")
    assert not failures, f"{len(failures)} route(s) as {persona}:\n" + "\n".join(failures)


def test_head_of_healthz_login_and_static_files(client):
    """The cases a monitor or a link checker sends: a HEAD of the health check, the sign-in page and a
    static file answers 200 with the GET's length and no body; a path that does not exist 404."""
    for url in ("/healthz", "/login", "/static/app.css", "/icons/favicon-32.png"):
        head = client.head(url)
        assert head.status_code == 200, (url, head.status_code)
        assert head.content == b"", url
        assert int(head.headers["content-length"]) > 0, url
    assert client.head("/healthz").headers["content-length"] == client.get("/healthz").headers["content-length"]
    assert client.head("/no-such-page").status_code == 404
    # A POST-only route still refuses HEAD.
    assert client.head("/logout").status_code == 405


def _raw_asgi(client, method: str, path: str) -> list[dict]:
    """The messages the app itself sends (no HTTP client or server between, both of which drop a HEAD's
    body on their own): the answer as any ASGI server would get it."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver.local"), (b"accept-encoding", b"identity")],
             "client": ("127.0.0.1", 5000), "server": ("testserver.local", 80)}
    client.run(client.app(scope, receive, send))
    return sent


@pytest.mark.parametrize("path", ["/healthz", "/login", "/offline"])
def test_the_app_sends_no_body_for_head(client, path):
    get = _raw_asgi(client, "GET", path)
    head = _raw_asgi(client, "HEAD", path)
    get_body = b"".join(m.get("body", b"") for m in get if m["type"] == "http.response.body")
    assert get_body, path
    assert [m.get("body", b"") for m in head if m["type"] == "http.response.body"] == [b""] * sum(
        m["type"] == "http.response.body" for m in head)
    start = next(m for m in head if m["type"] == "http.response.start")
    assert start["status"] == 200
    assert int(dict(start["headers"])[b"content-length"]) == len(get_body)
