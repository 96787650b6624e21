"""Sessions end on the server; the sign-in limit; passwords; CSRF tokens bound to the session; the headers
every answer carries. On SQLite and PostgreSQL (the `client` fixture runs each test on both)."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from server.accounts.tables import User, UserSession
from server.middleware import CSP
from tests import factories
from tests.integration import live

SESSION = "fieldpace_session"


def _browser(client) -> dict[str, str]:
    return dict(client.cookies)


def _use(client, cookies: dict[str, str]) -> None:
    client.cookies.clear()
    client.cookies.update(cookies)


def _signed_out(client) -> None:
    """The browser now holding its cookies is signed out: pages send it to sign in, the API says 401."""
    r = client.get("/home", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/home", (r.status_code, r.headers)
    r = client.get("/api/v1/customers")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


# --- Revocation -----------------------------------------------------------------------------------


def test_signing_out_revokes_the_session_for_every_copy_of_the_cookie(client, world):
    client.login("rep_a1")
    copied = _browser(client)  # the same cookie, copied to another browser before sign-out
    assert client.get("/home").status_code == 200
    r = client.post_form("/logout")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    _use(client, copied)
    _signed_out(client)
    rows = client.run(UserSession.select(UserSession.revoked_at).where(UserSession.user == world.rep))
    assert len(rows) == 1 and rows[0]["revoked_at"] is not None


def test_a_session_deleted_on_the_server_ends_at_the_next_request(client, world):
    client.login("mgr_a")
    assert client.get(f"/customers/{world.customer}").status_code == 200
    client.run(UserSession.delete().where(UserSession.user == world.manager))
    _signed_out(client)


def test_an_expired_session_ends(client, world):
    from datetime import UTC, datetime, timedelta

    client.login("rep_a1")
    client.run(UserSession.update({UserSession.expires_at: datetime.now(UTC) - timedelta(seconds=1)}).where(
        UserSession.user == world.rep))
    _signed_out(client)


def test_reactivating_a_user_does_not_revive_their_old_sessions(client, world):
    client.login("rep_a1")
    before = _browser(client)
    client.login("boss")
    form = {"display_name": "Rep A1", "role": "rep", "team": str(world.team_a), "locale": ""}
    assert client.post_form(f"/admin/users/{world.rep}", form).status_code == 303  # no "active": deactivated
    assert client.post_form(f"/admin/users/{world.rep}", {**form, "active": "on"}).status_code == 303
    assert client.run(User.select(User.active).where(User.id == world.rep).first())["active"] is True
    _use(client, before)
    _signed_out(client)
    client.login("rep_a1")  # a new sign-in works
    assert client.get("/home").status_code == 200


def test_deactivated_in_the_database_and_back_revives_no_session(client, world):
    client.login("rep_a1")
    client.run(User.update({User.active: False}).where(User.id == world.rep))
    _signed_out(client)
    client.run(User.update({User.active: True}).where(User.id == world.rep))
    client.login("rep_a1")
    assert client.get("/home").status_code == 200
    fresh = _browser(client)
    client.run(User.update({User.active: False}).where(User.id == world.rep))
    assert client.get("/home", follow_redirects=False).status_code == 303
    client.run(User.update({User.active: True}).where(User.id == world.rep))
    _use(client, fresh)
    _signed_out(client)


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(client, world):
    client.login("rep_a1")
    other_device = _browser(client)
    client.login("rep_a1")
    r = client.post_form("/settings/password", {"current_password": factories.PASSWORD,
                                                "password": "another-pass-9", "password_again": "another-pass-9"})
    assert r.status_code == 303
    assert client.get("/home", follow_redirects=False).status_code == 200
    this_device = _browser(client)
    _use(client, other_device)
    _signed_out(client)
    _use(client, this_device)
    assert client.get("/home", follow_redirects=False).status_code == 200


def test_the_cookie_holds_no_user_id_and_the_table_no_token(client, world):
    client.login("rep_a1")
    row = client.run(UserSession.select(UserSession.id).where(UserSession.user == world.rep).first())
    assert re.fullmatch(r"[0-9a-f]{64}", row["id"])  # a SHA-256, not the token itself
    assert str(world.rep) not in client.cookies[SESSION]


@pytest.mark.parametrize("tamper", [
    "flip-a-byte", "truncate", "not-base64", "garbage-aad", "empty", "huge",
])
def test_a_tampered_session_cookie_is_a_sign_in_redirect_never_a_500(client, world, tamper):
    client.login("rep_a1")
    value = client.cookies[SESSION]
    raw = base64.b64decode(value)
    forged = {
        "flip-a-byte": base64.b64encode(raw[:20] + bytes([raw[20] ^ 1]) + raw[21:]).decode(),
        "truncate": value[: len(value) // 2],
        "not-base64": "%%%not*base64%%%",
        "garbage-aad": base64.b64encode(raw[:40] + b"AAD{not json").decode(),
        "empty": "",
        "huge": "A" * 3000,
    }[tamper]
    client.cookies.clear()
    client.cookies.set(SESSION, forged)
    _signed_out(client)
    r = client.get("/login", follow_redirects=False)
    assert r.status_code == 200


# --- CSRF bound to the session ---------------------------------------------------------------------


def test_a_csrf_token_from_another_users_browser_is_refused(client, world):
    client.login("rep_b1")
    other = _browser(client)  # cookie and token of another user: a matching double-submit pair
    client.login("rep_a1")
    mine = _browser(client)
    assert other["fieldpace_csrf"] != mine["fieldpace_csrf"]
    # My session, with the other user's token pair in both the cookie and the form / header.
    _use(client, {**mine, "fieldpace_csrf": other["fieldpace_csrf"]})
    r = client.post("/settings/language", data={"locale": "en", "_csrf_token": other["fieldpace_csrf"]},
                    follow_redirects=False)
    assert r.status_code == 403 and "This form has expired" in r.text
    r = client.post("/api/v1/customers", json={"id": "00000000-0000-4000-8000-000000000001", "name": "X"},
                    headers={"x-csrftoken": other["fieldpace_csrf"]})
    assert r.status_code == 403
    # My own pair works, and a fresh page gives my browser back a token of its own session.
    _use(client, mine)
    assert client.post_form("/settings/language", {"locale": "en"}).status_code == 303


def test_the_token_from_before_sign_in_stops_working_after_it(client, world):
    client.cookies.clear()
    anonymous_token = client.csrf()
    r = client.post_form("/login", {"username": "rep_a1", "password": factories.PASSWORD})
    assert r.status_code == 303
    fresh = client.cookies.get("fieldpace_csrf")
    assert fresh and fresh != anonymous_token  # the sign-in answer carries a token bound to the new session
    r = client.post("/settings/language", data={"locale": "en", "_csrf_token": anonymous_token},
                    headers={"cookie": f"{SESSION}={client.cookies[SESSION]}; fieldpace_csrf={anonymous_token}"},
                    follow_redirects=False)
    assert r.status_code == 403


def test_the_sign_in_form_after_a_session_ended_works_the_first_time(client, world):
    """The sign-in page opened with the cookie of a session that ended meanwhile: its form must carry a
    token of the anonymous session it is posted from, not of the one that ended (refused as expired)."""
    client.login("rep_a1")
    client.run(UserSession.delete().where(UserSession.user == world.rep))
    r = client.get("/login?next=/reports", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?again=1&next=/reports"
    r = client.get(r.headers["location"])
    assert r.status_code == 200
    token = re.search(r'name="_csrf_token" value="([^"]+)"', r.text)
    assert token, r.text[:500]
    r = client.post("/login", data={"username": "rep_a1", "password": factories.PASSWORD, "next": "/reports",
                                    "_csrf_token": token.group(1)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/reports", (r.status_code, r.text[:300])


def test_the_csrf_cookie_lives_as_long_as_the_session_cookie(client, world):
    """A browser-session CSRF cookie is gone after a browser restart while the session cookie is not: the
    phone's first sync from a page the service worker served would be refused as a stale form."""
    client.cookies.clear()
    r = client.post_form("/login", {"username": "rep_a1", "password": factories.PASSWORD})
    assert r.status_code == 303

    def max_age(name: str) -> int | None:
        for header in r.headers.get_list("set-cookie"):
            if header.startswith(f"{name}="):
                found = re.search(r"(?i)max-age=(\d+)", header)
                return int(found.group(1)) if found else None
        raise AssertionError(f"{name} not set by the sign-in answer: {r.headers.get_list('set-cookie')}")

    session_age = max_age(SESSION)
    assert session_age and session_age >= 86400
    assert max_age("fieldpace_csrf") == session_age


# --- Headers on every answer ------------------------------------------------------------------------


def _has_security_headers(response) -> None:
    assert response.headers.get("content-security-policy") == CSP
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("x-frame-options") == "DENY"
    assert response.headers.get("referrer-policy") == "same-origin"


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/no-such-page", 404), ("GET", "/api/v1/no-such-thing", 404), ("POST", "/healthz", 405),
    ("DELETE", "/login", 405), ("GET", "/static/no-such-file.css", 404),
])
def test_unmatched_routes_carry_the_security_headers(client, method, path, status):
    headers = {"x-csrftoken": client.csrf(), "accept-language": "zh-CN"}
    r = client.request(method, path, headers=headers, follow_redirects=False)
    assert r.status_code == status
    _has_security_headers(r)
    assert r.headers.get("cache-control") in ("no-store", "no-cache")
    if status == 404 and not path.startswith(("/api/", "/static/")):
        assert "此页面或记录不存在" in r.text or "不存在" in r.text  # translated to the browser's language


def test_public_files_keep_their_caching(client):
    assert client.get("/static/app.css").headers["cache-control"] == "no-cache"
    assert "max-age=86400" in client.get("/icons/icon-192.png").headers["cache-control"]
    assert client.get("/sw.js").headers["cache-control"] == "no-cache"


# --- Passwords ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("password, message", [
    ("nine-char", "at least 10 characters"), ("1234567890", "too common"), ("Password123", "too common"),
])
def test_new_passwords_are_long_and_not_common(client, world, password, message):
    client.login("boss")
    r = client.post_form("/admin/users", {"username": "newbie", "display_name": "New", "password": password,
                                          "role": "rep", "team": "", "locale": ""})
    assert r.status_code == 422 and message in r.text
    r = client.post_form(f"/admin/users/{world.rep}/password", {"password": password})
    assert r.status_code == 422 and message in r.text
    r = client.post_form("/admin/users", {"username": "newbie", "display_name": "New", "password": password,
                                          "role": "rep", "team": "", "locale": ""},
                         headers={"accept-language": "zh-CN"})
    assert r.status_code == 422 and message not in r.text  # translated


def test_the_demo_password_is_accepted(client, world):
    client.login("boss")
    r = client.post_form("/admin/users", {"username": "demo_user", "display_name": "Demo", "password": "fieldpace-demo",
                                          "role": "rep", "team": "", "locale": ""})
    assert r.status_code == 303


# --- The sign-in limit ----------------------------------------------------------------------------------


def test_a_forged_forwarded_for_does_not_spread_a_password_spray(client, world):
    for n in range(5):
        r = client.post_form("/login", {"username": f"nobody{n}", "password": "wrong-password"},
                             headers={"x-forwarded-for": f"198.51.100.{n}"})
        assert r.status_code == 400
    # Five different usernames, five forged addresses: still one client, now blocked (even for a right password).
    r = client.post_form("/login", {"username": "rep_a1", "password": factories.PASSWORD},
                         headers={"x-forwarded-for": "198.51.100.99"})
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text


def _sign_in_attempt(base: str, username: str, password: str) -> int:
    with httpx.Client(base_url=base, follow_redirects=False) as http:
        http.get("/login")
        token = http.cookies["fieldpace_csrf"]
        return http.post("/login", data={"username": username, "password": password, "_csrf_token": token}).status_code


def test_the_sign_in_limit_holds_across_two_server_processes(client, world, settings, database_urls, engine_name):
    url = database_urls[engine_name]
    data = settings.data_dir
    with live.served(url, data, login_max_attempts="4") as a, live.served(url, data, login_max_attempts="4") as b:
        assert [_sign_in_attempt(a, "rep_a1", "wrong-password"), _sign_in_attempt(b, "rep_a1", "wrong-password"),
                _sign_in_attempt(a, "rep_a1", "wrong-password"), _sign_in_attempt(b, "rep_a1", "wrong-password")] == [
            400, 400, 400, 400]
        # Four failures spread over two processes: both refuse the fifth try, even with the right password.
        assert _sign_in_attempt(a, "rep_a1", factories.PASSWORD) == 429
        assert _sign_in_attempt(b, "rep_a1", factories.PASSWORD) == 429
        # Another user from the same address is blocked too (four failures from this client).
        assert _sign_in_attempt(b, "rep_a2", factories.PASSWORD) == 429
    assert "Traceback" not in live.server_log(data)


def test_a_session_signed_in_on_one_process_signs_out_on_all(client, world, settings, database_urls, engine_name):
    url = database_urls[engine_name]
    with live.served(url, settings.data_dir) as a, live.served(url, settings.data_dir) as b:
        with httpx.Client(base_url=a, follow_redirects=False) as http:
            http.get("/login")
            r = http.post("/login", data={"username": "rep_a1", "password": factories.PASSWORD,
                                          "_csrf_token": http.cookies["fieldpace_csrf"]})
            assert r.status_code == 303
            cookies = dict(http.cookies)
            assert http.post("/logout", data={"_csrf_token": http.cookies["fieldpace_csrf"]}).status_code == 303
        r = httpx.get(f"{b}/home", cookies=cookies, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert client.run(UserSession.count().where(UserSession.revoked_at.is_null() & (UserSession.user == world.rep))) == 0
