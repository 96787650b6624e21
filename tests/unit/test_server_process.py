"""server/testing.py's pure parts: the environment it gives a server, the login form's CSRF field."""

from __future__ import annotations

import pytest

from server import testing


def test_server_env_sets_the_database_data_dir_and_settings_and_drops_the_callers(monkeypatch, tmp_path):
    monkeypatch.setenv("FIELDPACE_DEFAULT_LOCALE", "zh_CN")
    monkeypatch.setenv("FIELDPACE_DEBUG", "true")
    env = testing.server_env("sqlite:///x.sqlite3", tmp_path, timezone="Asia/Shanghai")
    assert env["FIELDPACE_DATABASE_URL"] == "sqlite:///x.sqlite3" and env["FIELDPACE_DATA_DIR"] == str(tmp_path)
    assert env["FIELDPACE_TIMEZONE"] == "Asia/Shanghai"
    assert "FIELDPACE_DEFAULT_LOCALE" not in env and "FIELDPACE_DEBUG" not in env
    kept = testing.server_env("sqlite:///x.sqlite3", tmp_path, inherit_settings=True)
    assert kept["FIELDPACE_DEFAULT_LOCALE"] == "zh_CN" and "FIELDPACE_DEBUG" not in kept


@pytest.mark.parametrize("html", ['<input type="hidden" name="_csrf_token" value="t0k">',
                                  '<input value="t0k" name="_csrf_token" type="hidden">'])
def test_the_login_forms_token_is_found_in_either_attribute_order(html):
    assert testing._form_token(html) == "t0k"


def test_a_login_page_without_a_token_is_an_error():
    with pytest.raises(RuntimeError, match="_csrf_token"):
        testing._form_token("<form></form>")
