"""Static files: content-hashed names served immutable, precompressed gzip and brotli by Accept-Encoding, the
right Content-Type, ETag and 304, and every static URL the pages and the service worker name resolves."""

from __future__ import annotations

import gzip
import json
import re

import brotli
import pytest

from server import assets
from server.settings import ROOT

STATIC = ROOT / "web" / "static"
TEMPLATE_ROOTS = [ROOT / "web" / "templates", *sorted((ROOT / "server").glob("*/templates"))]
STATIC_REF = re.compile(r"""(?:href|src)=["'](/static/[^"']+)["']""")
HASHED = re.compile(r"^/static/.+\.[0-9a-f]{12}\.[a-z]+$")
TYPES = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "vendor/htmx.min.js": "text/javascript; charset=utf-8", "vendor/README.md": "text/markdown; charset=utf-8"}


def _raw(client, url: str, accept_encoding: str, **headers):
    """The answer's bytes as they came over the wire (httpx would otherwise decode them)."""
    with client.stream("GET", url, headers={"accept-encoding": accept_encoding, **headers}) as response:
        return response, b"".join(response.iter_raw())


@pytest.mark.parametrize("name", sorted(TYPES))
def test_hashed_names_are_immutable_with_the_right_type(client, name):
    url = assets.static_url(name)
    assert HASHED.match(url) and url != f"/static/{name}", url
    response, body = _raw(client, url, "identity")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-type"] == TYPES[name]
    assert "content-encoding" not in response.headers
    assert body == (STATIC / name).read_bytes()
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("accept, encoding, decode", [
    ("gzip, deflate, br, zstd", "br", brotli.decompress),
    ("br;q=1.0, gzip;q=0.8", "br", brotli.decompress),
    ("gzip, deflate", "gzip", gzip.decompress),
    ("br;q=0, gzip", "gzip", gzip.decompress),
    ("*", "br", brotli.decompress),
    ("identity", None, None),
    ("", None, None),
])
def test_encoding_follows_accept_encoding(client, accept, encoding, decode):
    name = "vendor/htmx.min.js"
    original = (STATIC / name).read_bytes()
    response, body = _raw(client, assets.static_url(name), accept)
    assert response.status_code == 200
    assert response.headers.get("content-encoding") == encoding
    assert "accept-encoding" in response.headers["vary"].lower()
    assert int(response.headers["content-length"]) == len(body)
    if decode is None:
        assert body == original
    else:
        assert decode(body) == original and len(body) < len(original) / 2


def test_brotli_is_smaller_than_gzip_and_both_are_precomputed(client):
    url = assets.static_url("outbox.js")
    _, br = _raw(client, url, "br")
    _, gz = _raw(client, url, "gzip")
    assert len(br) < len(gz)
    # The same bytes every time: compressed once at start-up, not per request.
    assert _raw(client, url, "br")[1] == br


def test_etag_answers_304_and_keeps_the_caching(client):
    url = assets.static_url("app.css")
    first, _ = _raw(client, url, "br")
    etag = first.headers["etag"]
    again, body = _raw(client, url, "br", **{"if-none-match": etag})
    assert again.status_code == 304 and body == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=31536000, immutable"
    other, _ = _raw(client, url, "br", **{"if-none-match": '"something-else"'})
    assert other.status_code == 200


def test_plain_and_outdated_names_still_answer_but_are_revalidated(client):
    css = (STATIC / "app.css").read_bytes()
    for url in ("/static/app.css", "/static/app.000000000000.css"):
        response, body = _raw(client, url, "identity")
        assert response.status_code == 200 and body == css, url
        assert response.headers["cache-control"] == "no-cache", url
        assert response.headers["etag"]
        not_modified, _ = _raw(client, url, "identity", **{"if-none-match": response.headers["etag"]})
        assert not_modified.status_code == 304


@pytest.mark.parametrize("path", ["/static/no-such-file.css", "/static/no-such.0123456789ab.css", "/static/vendor",
                                  "/static/../server/settings.py", "/static/.hidden"])
def test_unknown_files_are_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["cache-control"] in ("no-store", "no-cache")


def test_head_answers_like_get_without_a_body(client):
    url = assets.static_url("app.js")
    response = client.head(url, headers={"accept-encoding": "br"})
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-encoding"] == "br"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_templates_reach_static_files_only_through_the_helper():
    """No template names a /static/ URL by hand (it would miss the hash), and every name it asks the helper
    for exists (static_url raises on a missing file, so a typo would break the page)."""
    names = assets.catalog().by_name
    for root in TEMPLATE_ROOTS:
        for template in root.rglob("*.html"):
            text = template.read_text()
            assert not STATIC_REF.search(text), f"{template}: use static_url(...)"
            for name in re.findall(r"static_url\(['\"]([^'\"]+)['\"]\)", text):
                assert name in names, f"{template}: no web/static/{name}"


def _service_worker_urls(text: str) -> tuple[dict[str, str], list[str]]:
    table = json.loads(re.search(r"const STATIC_URLS = (\{.*?\});", text).group(1))
    shell = re.search(r"const SHELL_URLS = \[(.*?)\];", text, re.S).group(1)
    precached = [table[name] for name in re.findall(r'STATIC_URLS\["([^"]+)"\]', shell)]
    return table, precached


def test_the_service_worker_precaches_the_hashed_names(client):
    worker = client.get("/sw.js")
    assert worker.status_code == 200 and "__FIELDPACE" not in worker.text
    table, precached = _service_worker_urls(worker.text)
    assert table == assets.catalog().urls()
    assert precached and all(HASHED.match(url) for url in precached)
    assert "/static/app.css" not in worker.text  # every static file by its hashed name
    assert re.search(r'importScripts\(STATIC_URLS\["outbox.js"\]\)', worker.text)
    # FIELDPACE_PAGE_TIMEOUT_MS (default 400) is the worker's wait for the network before it shows the phone's copy.
    assert 'const PAGE_TIMEOUT_MS = Number("400")' in worker.text
    for url in precached:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable", url


def test_every_static_url_on_the_rep_screens_resolves(client, world):
    client.login("rep_a1")
    seen: set[str] = set()
    for page in ("/home", "/visits/new", "/customers", "/customers/near", "/reports", "/sales", "/settings",
                 "/offline", "/sync", "/inbox"):
        response = client.get(page)
        assert response.status_code == 200, page
        found = STATIC_REF.findall(response.text)
        assert all(HASHED.match(url) for url in found), (page, found)
        seen.update(found)
    client.cookies.clear()
    seen.update(STATIC_REF.findall(client.get("/login").text))
    assert {assets.static_url(n) for n in ("app.css", "vendor/htmx.min.js", "nearby.js")} <= seen
    for url in sorted(seen):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable", url


def test_pages_are_compressed_with_brotli_where_accepted(client, world):
    client.login("rep_a1")
    with client.stream("GET", "/home", headers={"accept-encoding": "br, gzip"}) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "br"
    assert b"<html" in brotli.decompress(raw)
    with client.stream("GET", "/home", headers={"accept-encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip" and b"<html" in gzip.decompress(raw)
    # Pages stay private: never kept by a shared cache.
    assert response.headers["cache-control"] == "no-store"
