"""Pure rules: the clock, field validation, report periods, login throttling, locale choice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from server import clock, validation
from server.accounts.services import client_address, common_passwords, hash_password, password_problem, verify_password
from server.reports.services import period_of
from server.reports.services import validate as validate_report
from server.visits.services import validate as validate_visit
from server.web import FieldErrors


@pytest.fixture(autouse=True)
def shanghai():
    clock.configure("Asia/Shanghai")


def test_local_date_uses_the_company_time_zone():
    late_utc = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 01:30 on 2 March in Shanghai
    assert clock.local_date(late_utc) == date(2026, 3, 2)


def test_form_times_without_offset_are_company_time():
    assert clock.parse_local_datetime("2026-03-02T09:00") == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert clock.parse_local_datetime("2026-03-02T09:00:00Z") == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert clock.to_local_input(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)) == "2026-03-02T09:00"


def test_week_starts_on_monday():
    assert clock.week_start(date(2026, 11, 29)) == date(2026, 11, 23)  # a Sunday
    assert period_of("weekly", date(2026, 11, 25)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert period_of("daily", date(2026, 11, 25)) == (date(2026, 11, 25), date(2026, 11, 25))


def test_visit_validation_reports_every_problem_at_once():
    with pytest.raises(FieldErrors) as e:
        validate_visit({"customer": "", "purpose": "nap", "satisfaction": "0", "latitude": "95",
                        "longitude": "10", "checkout_at": "2020-01-01T08:00", "checkin_at": "2020-01-01T09:00"})
    assert set(e.value.errors) >= {"customer", "purpose", "satisfaction", "latitude", "checkout_at"}


def test_visit_validation_accepts_a_minimal_visit_without_location():
    clean = validate_visit({"customer": str(uuid4()), "purpose": "demo", "accuracy_m": "30"})
    assert clean["latitude"] is None and clean["accuracy_m"] is None
    assert clean["checkin_at"].tzinfo is not None


def test_visit_in_the_future_is_refused():
    with pytest.raises(FieldErrors) as e:
        validate_visit({"customer": str(uuid4()), "purpose": "demo", "checkin_at": "2999-01-01T09:00"})
    assert "checkin_at" in e.value.errors


def test_next_step_cannot_precede_the_visit():
    with pytest.raises(FieldErrors) as e:
        validate_visit({"customer": str(uuid4()), "purpose": "demo", "checkin_at": "2026-03-02T09:00",
                        "next_step_date": "2026-03-01"})
    assert "next_step_date" in e.value.errors


def test_weekly_report_period_is_normalised_to_monday():
    clean = validate_report({"kind": "weekly", "period_start": "2026-11-26"})
    assert clean["period_start"] == date(2026, 11, 23)


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e999"])
def test_numbers_must_be_finite_and_in_range(raw):
    errors: dict = {}
    assert validation.number({"x": raw}, "x", errors, low=-90, high=90) is None
    assert "x" in errors


def test_text_is_trimmed_and_bounded():
    errors: dict = {}
    assert validation.text({"t": "  hi  "}, "t", errors) == "hi"
    validation.text({"t": "x" * 11}, "t", errors, max_len=10)
    assert "t" in errors


def test_passwords_are_argon2id():
    digest = hash_password("s3cret-pass")
    assert digest.startswith("$argon2id$")
    assert verify_password(digest, "s3cret-pass") and not verify_password(digest, "wrong")
    assert not verify_password("garbage", "s3cret-pass")


def test_client_address_believes_forwarded_for_only_from_trusted_proxies():
    # No proxy trusted (the default): a forged header changes nothing.
    assert client_address("203.0.113.5", "1.2.3.4", ()) == "203.0.113.5"
    # The peer is a trusted proxy: the nearest untrusted hop counts, not what the client wrote first.
    trusted = ("10.0.0.0/8", "192.0.2.1")
    assert client_address("10.0.0.2", "1.2.3.4, 198.51.100.7", trusted) == "198.51.100.7"
    assert client_address("10.0.0.2", "1.2.3.4, 198.51.100.7, 192.0.2.1", trusted) == "198.51.100.7"
    # A peer that is not trusted sends what it likes in the header: ignored.
    assert client_address("198.51.100.9", "1.2.3.4", trusted) == "198.51.100.9"
    # Garbage from a trusted proxy: count the proxy.
    assert client_address("10.0.0.2", "not-an-address", trusted) == "10.0.0.2"
    assert client_address("10.0.0.2", None, trusted) == "10.0.0.2"


def test_new_passwords_need_ten_characters_and_must_not_be_common():
    assert password_problem("short-pw1") is not None  # 9 characters
    assert password_problem("1234567890") is not None  # long enough, but on the list
    assert password_problem("Password123") is not None  # compared lowercased
    assert password_problem("fieldpace-demo") is None  # the demo password stays valid
    assert password_problem("correct-horse-battery") is None
    assert "fieldpace-demo" not in common_passwords() and len(common_passwords()) > 19000
