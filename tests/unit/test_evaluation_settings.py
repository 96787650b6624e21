"""FIELDPACE_EVAL_REMINDER_DAYS: parsed into days before the due date, refused at start-up when wrong."""

from __future__ import annotations

import pytest

from server.settings import Settings, parse_day_list


@pytest.mark.parametrize(("text", "days"), [
    ("3,1,0", (3, 1, 0)), ("3,1", (3, 1)), (" 1 , 7 ", (7, 1)), ("0", (0,)), ("", ()), ("  ", ()), ("60", (60,)),
])
def test_reminder_days_parse(text, days):
    assert parse_day_list(text, "X") == days


@pytest.mark.parametrize("text", ["3;1", "-1", "1.5", "a", "3,,1", "61", "1,1", "3,"])
def test_reminder_days_refused(text):
    with pytest.raises(ValueError, match="X"):
        parse_day_list(text, "X")


def test_reminder_days_are_checked_when_settings_are_built(monkeypatch):
    assert Settings.from_env().reminder_days == (3, 1, 0)
    monkeypatch.setenv("FIELDPACE_EVAL_REMINDER_DAYS", "5,2")
    assert Settings.from_env().reminder_days == (5, 2)
    monkeypatch.setenv("FIELDPACE_EVAL_REMINDER_DAYS", "three")
    with pytest.raises(ValueError, match="FIELDPACE_EVAL_REMINDER_DAYS"):
        Settings.from_env()
