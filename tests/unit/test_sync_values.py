"""The pure value checks shared by the sync decoder and the server's field parsers (`sync.values`)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pytest

from sync import values
from sync.protocol import MAX_BODY_BYTES, MAX_MUTATION_BYTES, TEXT_CAPS, decode_push

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("value, problem", [
    ("fine 好 \U0001f600", None), ("\ud800", "surrogate"), ("a\udfffb", "surrogate"), ("nul\x00", "nul"),
    ({"a": 1}, "type"), (["a"], "type"), (12, "type"), (None, "type"), ("x" * 11, "too_long"),
])
def test_text_problems(value, problem):
    assert values.text_problem(value, 10) == problem


@pytest.mark.parametrize("raw", [10**400, float("nan"), float("inf"), "1e400", "nan", "-inf", 91, "91", True, [1]])
def test_numbers_out_of_range_or_not_finite_are_refused(raw):
    with pytest.raises(values.ValueProblem):
        values.finite_number(raw, -90, 90)


def test_numbers_in_range_are_read():
    assert values.finite_number("31.2", -90, 90) == 31.2 and values.finite_number(-90, -90, 90) == -90.0
    assert values.whole_number("5", 1, 5) == 5 and values.whole_number(3.0, 1, 5) == 3
    for raw in ("5" * 400, 6, "2.5", 2.5, False):
        with pytest.raises(values.ValueProblem):
            values.whole_number(raw, 1, 5)


@pytest.mark.parametrize("raw", ["0001-01-01T00:00", "9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59-14:00",
                                 "1999-12-31T23:59:59Z", "2040-01-01T00:00Z", "yesterday", 12345, "2026-13-01T00:00"])
def test_moments_outside_the_window_or_unreadable_are_refused(raw):
    with pytest.raises(values.ValueProblem):
        values.moment_in_window(raw, UTC, NOW)


def test_moments_are_read_with_offsets_and_the_default_zone():
    assert values.moment_in_window("2026-12-01T08:00+08:00", UTC, NOW) == datetime(2026, 12, 1, 0, tzinfo=UTC)
    assert values.moment_in_window("2026-12-01T08:00Z", UTC, NOW) == datetime(2026, 12, 1, 8, tzinfo=UTC)


def test_dates_inside_the_window():
    today = date(2026, 12, 1)
    assert values.calendar_date("2000-01-01", today) == date(2000, 1, 1)
    assert values.latest_date(date(2028, 2, 29)) == date(2033, 2, 28)
    for raw in ("0001-01-01", "9999-12-31", "1999-12-31", "2032-01-01", "", "2026-02-30"):
        with pytest.raises(values.ValueProblem):
            values.calendar_date(raw, today)


def test_clock_skew_is_clamped_to_32_bits():
    assert values.skew_seconds(NOW + timedelta(days=365 * 70), NOW) == 2**31 - 1
    assert values.skew_seconds(datetime(1, 1, 1, tzinfo=UTC), NOW) == -(2**31 - 1)
    assert values.skew_seconds(NOW + timedelta(seconds=3), NOW) == 3


def test_deep_nesting_is_cut_and_strings_are_left_alone():
    deep = b'{"a": "[[[{", "b": ' + b"[" * 100 + b"]" * 100 + b', "c": 1}'
    capped = json.loads(values.cap_json_depth(deep, 4))
    assert capped["a"] == "[[[{" and capped["c"] == 1
    depth, node = 0, capped["b"]
    while node:
        node, depth = node[0], depth + 1
    assert depth == 3  # four levels with the outer object, the fifth cut to []


def _push(mutations, **extra) -> bytes:
    return json.dumps({"protocol": 1, "schema": 1, "device_id": str(uuid4()), "mutations": mutations, **extra}).encode()


def test_a_push_nested_too_deep_for_the_parser_still_reads_its_seqs():
    body = _push([{"seq": 1, "kind": "visit.create", "record_id": str(uuid4()), "payload": {"outcome": "X"}}])
    body = body.replace(b'"X"', b"[" * 50_000 + b"]" * 50_000)
    push = decode_push(body, NOW)
    assert [m.seq for m in push.mutations] == [1] and push.mutations[0].malformed == "outcome"


def test_huge_integers_are_read_as_infinite_floats():
    body = _push([{"seq": 1, "kind": "visit.create", "record_id": str(uuid4()), "payload": {"latitude": 0}}])
    push = decode_push(body.replace(b'"latitude": 0', b'"latitude": ' + b"9" * 5000), NOW)
    assert push.mutations[0].payload["latitude"] == float("inf")


def test_device_clocks_outside_the_window_are_unknown_but_sent_at_is_kept_for_the_skew():
    m = {"seq": 1, "kind": "visit.create", "record_id": str(uuid4()), "payload": {}, "client_time": "0001-01-01T00:00Z"}
    push = decode_push(_push([m], sent_at="1956-01-01T00:00:00Z"), NOW)
    assert push.mutations[0].client_time is None
    assert push.clock_skew_seconds(NOW) == -(2**31 - 1)


def test_the_body_limit_holds_the_largest_single_mutation():
    largest = max(sum(caps.values()) for caps in TEXT_CAPS.values()) * 12
    assert largest < MAX_MUTATION_BYTES < MAX_BODY_BYTES
