"""The alert rules, schedules, quiet hours and push helpers as pure functions, on hand-made data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from server.jobs.schedule import Daily, Every, latest_slot, next_slot
from server.notifications import messages, push, rules

SHANGHAI = ZoneInfo("Asia/Shanghai")
URUMQI = ZoneInfo("Asia/Urumqi")
BERLIN = ZoneInfo("Europe/Berlin")
# National Day week 2026 in China: 1-7 October off, Sunday 27 September and Saturday 10 October worked (调休).
HOLIDAYS = {date(2026, 10, d): False for d in range(1, 8)} | {date(2026, 9, 27): True, date(2026, 10, 10): True}


def local(day: date, hh: int, mm: int = 0, tz: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.combine(day, time(hh, mm), tz).astimezone(UTC)


# --- Schedules -------------------------------------------------------------------------------------

def test_working_day_job_skips_the_holiday_week_and_runs_on_the_make_up_days():
    at_six = Daily(time(18, 0), working_days=True)
    # Wednesday 30 September, after 18:00: the next slot is Thursday 8 October (1-7 are holidays).
    assert next_slot(at_six, local(date(2026, 9, 30), 19), SHANGHAI, HOLIDAYS) == local(date(2026, 10, 8), 18)
    # Friday 9 October after 18:00: the next is the make-up Saturday the 10th, not Monday the 12th.
    assert next_slot(at_six, local(date(2026, 10, 9), 18, 30), SHANGHAI, HOLIDAYS) == local(date(2026, 10, 10), 18)
    # Saturday 26 September: the next is the make-up Sunday the 27th.
    assert next_slot(at_six, local(date(2026, 9, 26), 9), SHANGHAI, HOLIDAYS) == local(date(2026, 9, 27), 18)
    # Without the calendar it would be Thursday 1 October.
    assert next_slot(at_six, local(date(2026, 9, 30), 19), SHANGHAI, {}) == local(date(2026, 10, 1), 18)


def test_latest_slot_after_downtime_is_one_slot_not_every_missed_one():
    at_six = Daily(time(18, 0), working_days=True)
    # Down from Wednesday 30 September 12:00 to Thursday 8 October 10:00 (slots missed on the 30th only, the
    # holidays have none): the one slot to run on start is the 30th's; the 8th's comes at 18:00.
    assert latest_slot(at_six, local(date(2026, 10, 8), 10), SHANGHAI, HOLIDAYS) == local(date(2026, 9, 30), 18)
    # Down over three working days: still one slot, the latest.
    assert latest_slot(at_six, local(date(2026, 10, 13), 10), SHANGHAI, HOLIDAYS) == local(date(2026, 10, 12), 18)
    # Exactly at the slot, it is the slot.
    assert latest_slot(at_six, local(date(2026, 10, 8), 18), SHANGHAI, HOLIDAYS) == local(date(2026, 10, 8), 18)


def test_every_n_seconds_is_aligned_and_working_day_intervals_skip_holidays():
    every = Every(15 * 60)
    now = datetime(2026, 12, 1, 10, 7, 30, tzinfo=UTC)
    assert latest_slot(every, now, SHANGHAI) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert next_slot(every, now, SHANGHAI) == datetime(2026, 12, 1, 10, 15, tzinfo=UTC)
    working = Every(15 * 60, working_days=True)
    # On the holiday 2 October (Shanghai noon) the latest working slot is the last of 30 September.
    assert latest_slot(working, local(date(2026, 10, 2), 12), SHANGHAI, HOLIDAYS) == local(date(2026, 9, 30), 23, 45)
    assert next_slot(working, local(date(2026, 10, 2), 12), SHANGHAI, HOLIDAYS) == local(date(2026, 10, 8), 0, 0)


# --- The rules -------------------------------------------------------------------------------------

def test_lagging_needs_a_bad_status_and_enough_of_the_period_gone():
    assert rules.lagging_level("behind", 0.30, 0.25) == "behind"
    assert rules.lagging_level("at_risk", 0.25, 0.25) == "at_risk"
    assert rules.lagging_level("behind", 0.20, 0.25) is None  # too early to tell
    assert rules.lagging_level("on_track", 0.90, 0.25) is None
    assert rules.lagging_level("no_target", 0.90, 0.25) is None


def test_inactivity_counts_working_days_with_holidays_and_make_up_days():
    # Last visit Wednesday 30 September; on Thursday 8 October only the 8th is a working day since (1-7 off).
    assert rules.inactive_working_days(date(2026, 9, 30), date(2026, 10, 8), HOLIDAYS, date(2026, 9, 1)) == 1
    # On the make-up Saturday the 10th: 8, 9, 10 -> 3.
    assert rules.inactive_working_days(date(2026, 9, 30), date(2026, 10, 10), HOLIDAYS, date(2026, 9, 1)) == 3
    # Friday 25 September to Monday 28 September: the make-up Sunday 27 counts: 27, 28 -> 2.
    assert rules.inactive_working_days(date(2026, 9, 25), date(2026, 9, 28), HOLIDAYS, date(2026, 9, 1)) == 2
    # No visit in the window: counted from its start.
    assert rules.inactive_working_days(None, date(2026, 12, 4), {}, date(2026, 11, 30)) == 5


def test_anomaly_against_the_reps_own_eight_week_median():
    history = rules.weekly_history({1: 10, 2: 12, 3: 8, 4: 10, 5: 30, 6: 11, 7: 9})  # week 8 had none
    assert history == [10, 12, 8, 10, 30, 11, 9, 0]
    assert rules.median(history) == 10.0  # the outlier week of 30 and the empty week do not move it
    below, usual, expected = rules.anomaly(4, history, 0.5, 1.0)
    assert (below, usual, expected) == (True, 10.0, 10.0)
    assert rules.anomaly(5, history, 0.5, 1.0)[0] is False  # exactly half is not below half
    # Midweek (3 of 5 working days): 10 x 0.6 = 6 expected, half of that is 3.
    assert rules.anomaly(2.9, history, 0.5, 0.6)[0] is True
    assert rules.anomaly(3, history, 0.5, 0.6)[0] is False
    # No history: never an anomaly.
    assert rules.anomaly(0, [0.0] * 8, 0.5, 1.0)[0] is False


def test_missing_report_is_due_after_the_cut_off_on_working_days_only():
    cutoff = time(18, 0)
    assert rules.report_due(local(date(2026, 9, 30), 18, 1), SHANGHAI, cutoff, HOLIDAYS) == date(2026, 9, 30)
    assert rules.report_due(local(date(2026, 9, 30), 17, 59), SHANGHAI, cutoff, HOLIDAYS) is None
    assert rules.report_due(local(date(2026, 10, 2), 19), SHANGHAI, cutoff, HOLIDAYS) is None  # holiday
    assert rules.report_due(local(date(2026, 10, 10), 19), SHANGHAI, cutoff, HOLIDAYS) == date(2026, 10, 10)


def test_dedup_keys_change_with_the_level_and_digests_with_who_is_in_them():
    at_risk = rules.dedup_key("u1", "lagging", "rep1:revenue", "2026-10", "at_risk")
    behind = rules.dedup_key("u1", "lagging", "rep1:revenue", "2026-10", "behind")
    assert at_risk != behind
    assert at_risk == rules.dedup_key("u1", "lagging", "rep1:revenue", "2026-10", "at_risk")
    assert at_risk != rules.dedup_key("u1", "lagging", "rep1:revenue", "2026-11", "at_risk")
    one = rules.digest_level([("a", "behind"), ("b", "at_risk")])
    assert one == rules.digest_level([("b", "at_risk"), ("a", "behind")])  # order does not matter
    assert one != rules.digest_level([("a", "behind"), ("b", "behind")])
    assert one != rules.digest_level([("a", "behind")])


# --- Quiet hours in each user's own time zone --------------------------------------------------------

def test_quiet_hours_for_a_user_in_urumqi_and_one_in_berlin():
    start, end = time(22, 0), time(7, 0)
    moment = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)  # 23:30 in Urumqi (UTC+6), 18:30 in Berlin (UTC+1)
    assert rules.quiet_until(moment, URUMQI, start, end) == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # 07:00 Urumqi
    assert rules.quiet_until(moment, BERLIN, start, end) is None
    early = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)  # 11:00 Urumqi, 06:00 Berlin
    assert rules.quiet_until(early, URUMQI, start, end) is None
    assert rules.quiet_until(early, BERLIN, start, end) == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)  # 07:00 Berlin
    # A daytime window (12:00 to 14:00) and the DST change in Berlin (29 March 2026, 02:00 -> 03:00).
    assert rules.quiet_until(datetime(2026, 12, 1, 11, 0, tzinfo=UTC), BERLIN, time(12), time(14)) == \
        datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    before_dst = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # 23:00 Berlin, winter time
    assert rules.quiet_until(before_dst, BERLIN, start, end) == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)  # 07:00 CEST
    assert rules.quiet_until(moment, URUMQI, None, None) is None
    assert rules.quiet_until(moment, URUMQI, start, start) is None


def test_hh_mm_parsing():
    assert rules.parse_hhmm("07:05") == time(7, 5)
    for bad in ("7:05", "24:00", "12:60", "ab:cd", ""):
        assert rules.parse_hhmm(bad) is None


# --- Push helpers ----------------------------------------------------------------------------------

def test_vapid_subject_must_be_mailto_or_https():
    assert push.check_subject("mailto:ops@example.com")
    assert push.check_subject("https://example.com/contact")
    for bad in ("ops@example.com", "http://example.com", "mailto:", "https://"):
        with pytest.raises(ValueError):
            push.check_subject(bad)


def test_retry_after_seconds_or_http_date_and_backoff_with_jitter():
    assert push.retry_after("120", 0) == 120
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()
    assert push.retry_after("Tue, 01 Dec 2026 12:00:30 GMT", now) == 30
    assert push.retry_after("soon", now) is None
    waits = [push.backoff(3, 10) for _ in range(200)]
    assert all(20 <= w <= 60 for w in waits) and len(set(waits)) > 100  # 40 s +-50 %, jittered
    assert push.backoff(40, 10) <= 6 * 3600 * 1.5


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_payload_is_small_and_in_the_recipients_language(locale):
    params = {"manager": "赵敏", "comment": "请补充客户反馈。" * 200, "day": "2026-12-01"}
    row = {"nid": "00000000-0000-0000-0000-000000000001", "kind": "report_returned", "rule": "feedback",
           "subject": "report:x", "params": json.dumps(params), "url": "/reports/x"}
    text = push.payload(row, locale)
    assert len(text.encode()) < 3000
    data = json.loads(text)
    assert data["url"] == "/inbox/00000000-0000-0000-0000-000000000001/open" and data["page"] == "/reports/x"
    assert data["tag"] == "feedback:report:x"
    with messages.in_locale(locale):
        title, _body = messages.render("report_returned", params)
    assert data["title"] == title
    assert ("returned" in title) == (locale == "en")


def test_every_kind_renders_with_its_numbers():
    people = [{"name": "Lin Wei", "kpi": "revenue", "builtin": True, "status": "behind", "index": 0.62, "days": 4}]
    cases = {
        "lagging": {"kpi": "revenue", "builtin": True, "unit": "money", "actual": 1200.0, "target": 10000.0,
                    "expected": 4000.0, "index": 0.3, "elapsed": 0.4, "status": "behind"},
        "lagging_digest": {"team": "North", "people": people},
        "inactivity": {"days": 4, "last": "2026-11-25"},
        "inactivity_digest": {"team": "North", "people": people},
        "anomaly": {"measure": "visits", "actual": 2, "median": 10, "expected": 6},
        "missing_report": {"day": "2026-12-01", "cutoff": "18:00"},
        "missing_report_digest": {"team": "North", "day": "2026-12-01", "people": people},
        "report_approved": {"manager": "Zhao Min", "day": "2026-12-01", "comment": ""},
        "test": {},
    }
    with messages.in_locale("en"):
        title, body = messages.render("lagging", cases["lagging"])
        assert "Revenue" in title and "behind" in title
        assert "1,200" in body and "4,000" in body and "40%" in body and "30%" in body
        assert "4" in messages.render("inactivity", cases["inactivity"])[0]
        assert "Lin Wei" in messages.render("lagging_digest", cases["lagging_digest"])[1]
        for kind, params in cases.items():
            title, body = messages.render(kind, params)
            assert title and "%(" not in title + body, kind
