"""Targets and pace formulas with hand-computed cases (server/targets/formulas.py)."""

from __future__ import annotations

from datetime import date

import pytest

from server.targets import formulas as f

# November 2026 starts on a Sunday: weekends are the 1st, 7-8, 14-15, 21-22, 28-29 (9 days), so it has
# 30 - 9 = 21 working days.
NOV_1, NOV_30 = date(2026, 11, 1), date(2026, 11, 30)


def test_period_codes():
    assert f.parse_period("2026") == ("year", date(2026, 1, 1), date(2026, 12, 31))
    assert f.parse_period("2026-Q2") == ("quarter", date(2026, 4, 1), date(2026, 6, 30))
    assert f.parse_period("2028-02") == ("month", date(2028, 2, 1), date(2028, 2, 29))
    for bad in ("", "26", "2026-13", "2026-Q5", "2026-1", "abcd", "1999", "2026-Q1x"):
        with pytest.raises(ValueError):
            f.parse_period(bad)
    assert f.children("2026") == ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]
    assert f.children("2026-Q4") == ["2026-10", "2026-11", "2026-12"]
    assert f.children("2026-11") == []
    assert f.months("2026-Q3") == ["2026-07", "2026-08", "2026-09"]
    assert f.period_of(date(2026, 11, 27), "quarter") == "2026-Q4"
    assert f.previous_periods("2026-02", 3) == ["2025-11", "2025-12", "2026-01"]
    assert f.previous_periods("2026-Q1", 2) == ["2025-Q3", "2025-Q4"]
    assert f.previous_periods("2000-02", 3) == ["2000-01"]  # nothing before 2000
    assert len(f.year_periods(2026)) == 17


def test_working_days_with_holidays_and_make_up_days():
    assert f.working_days(NOV_1, NOV_30) == 21
    overrides = {date(2026, 11, 11): False, date(2026, 11, 14): True, date(2026, 12, 1): False}
    assert f.working_days(NOV_1, NOV_30, overrides) == 21  # one holiday, one make-up Saturday
    assert f.working_days(NOV_1, NOV_30, {date(2026, 11, 11): False}) == 20
    assert f.working_days(NOV_30, NOV_1) == 0
    assert f.is_working(date(2026, 11, 14), overrides) and not f.is_working(date(2026, 11, 11), overrides)


def test_elapsed_share_by_working_days_and_by_season():
    # By Tuesday the 10th: 2-6 and 9-10 are 7 of 21 working days.
    assert f.elapsed_share(NOV_1, NOV_30, date(2026, 11, 10)) == pytest.approx(7 / 21)
    assert f.elapsed_share(NOV_1, NOV_30, date(2026, 10, 31)) == 0.0
    assert f.elapsed_share(NOV_1, NOV_30, date(2026, 12, 1)) == 1.0
    # A quarter weighted by last year's season: October done (0.2), November done (0.3), December not.
    weights = {"2026-10": 0.2, "2026-11": 0.3, "2026-12": 0.5}
    assert f.elapsed_share(date(2026, 10, 1), date(2026, 12, 31), NOV_30, month_weights=weights) == pytest.approx(0.5)
    # Without weights the quarter goes by working days: Oct 22 + Nov 21 of 66 (Dec has 23).
    assert f.elapsed_share(date(2026, 10, 1), date(2026, 12, 31), NOV_30) == pytest.approx(43 / 66)
    # A period with no working days at all counts as elapsed once it has begun.
    assert f.elapsed_share(date(2026, 11, 7), date(2026, 11, 8), date(2026, 11, 7)) == 1.0


def test_split_adds_up_exactly():
    assert f.split_equal(100, 3) == [34, 33, 33]
    assert f.split_equal(1000, 3, decimals=2) == [333.34, 333.33, 333.33]
    assert sum(f.split(1_234_567.89, [5, 3, 2, 7], decimals=2)) == pytest.approx(1_234_567.89, abs=1e-6)
    assert f.split(10, [0, 0]) == [5, 5]  # no weights: equal
    assert f.split(90, [1, 2, 0]) == [30, 60, 0]
    assert f.split_percentages(1200, [50, 25, 25]) == [600, 300, 300]
    with pytest.raises(ValueError):
        f.split_percentages(1200, [50, 25, 20])
    with pytest.raises(ValueError):
        f.split_percentages(1200, [150, -50])


def test_seasonality_from_history_or_working_days():
    history = [10, 10, 20, 20, 20, 20, 20, 20, 20, 20, 10, 10]
    weights = f.seasonality(history)
    assert weights[0] == pytest.approx(10 / 200) and sum(weights) == pytest.approx(1)
    working = [22, 20, 22, 22, 21, 22, 23, 21, 22, 22, 21, 23]
    assert f.seasonality([0] * 12, working)[1] == pytest.approx(20 / sum(working))
    assert f.seasonality([5, -1] + [0] * 10) == [1 / 12] * 12
    # History that starts in November: no season to learn from two months.
    assert f.seasonality([0] * 10 + [50, 60], working) == f.seasonality([0] * 12, working)
    assert f.full_year(history) and not f.full_year([0] * 10 + [50, 60])


def test_suggestion_is_trend_times_season():
    s = f.suggest([100] * 12, [80] * 12, [1, 2, 3])
    assert s.growth == pytest.approx(1.25) and s.value == 375  # 1200 x 1.25 x 3/12
    assert f.suggest([100] * 12, [1] * 12, [1]).growth == f.GROWTH_CAP
    assert f.suggest([100] * 12, None, list(range(1, 13))).value == 1200
    assert f.suggest([0] * 12, None, [1]) is None
    # History from October only: the run rate of those 3 months, pro rata (no season from a part-year).
    partial = f.suggest([0] * 9 + [100, 200, 300], [50] * 12, [1, 2, 3])
    assert partial.value == 600 and partial.growth == 1.0  # 600 / 3 months x 12 = 2,400 a year; a quarter of it
    assert f.suggest([0] * 10 + [100, 200], None, [1]) is None  # two months are too few
    # A year before with a gap is no trend to follow.
    assert f.suggest([100] * 12, [0] * 6 + [80] * 6, [1]).growth == 1.0
    # A rate pools last year's records: 1 of 1 won in January, 1 of 10 in February, 0 of 5 in March.
    rate = f.suggest_rate([(100, 1), (100, 10), (0, 5)] + [(0, 0)] * 9, None)
    assert rate.value == 12.5 and rate.growth == 1.0  # 200 / 16, not the 55 % average of monthly rates
    trend = f.suggest_rate([(30, 1)] * 12, [(10, 1)] * 12)
    assert trend.growth == f.RATE_GROWTH_CAP and trend.value == 37.5
    assert f.suggest_rate([(0, 0)] * 12, None) is None


def _smart(**overrides):
    args = dict(kpi_active=True, kpi_defined=True, measurable=True, value=150.0, direction="higher", kind="sum",
                best=100.0, is_company=False, parent_value=1000.0, period_start=date(2026, 3, 1),
                period_end=date(2026, 3, 31), plan_year=2026)
    args.update(overrides)
    return {c.letter: c.ok for c in f.smart(**args)}


def test_smart_check():
    assert _smart() == {"S": True, "M": True, "A": True, "R": True, "T": True}
    assert _smart(value=151.0)["A"] is False  # above 1.5 x the best comparable period
    assert _smart(direction="lower", best=10.0, value=6.0)["A"] is False  # below 10 / 1.5
    assert _smart(direction="lower", best=10.0, value=7.0)["A"] is True
    assert _smart(best=None, value=50.0)["A"] is False and _smart(best=None, value=0.0)["A"] is True
    assert _smart(parent_value=None)["R"] is False and _smart(parent_value=None, is_company=True)["R"] is True
    assert _smart(period_start=date(2027, 1, 1), period_end=date(2027, 1, 31))["T"] is False
    assert _smart(measurable=False)["M"] is False and _smart(kpi_active=False)["S"] is False
    assert _smart(value=float("nan"))["A"] is False


def test_attainment_higher_and_lower_is_better():
    assert f.attainment(80, 100) == 0.8
    assert f.attainment(80, 0) is None  # a zero target has no attainment
    assert f.attainment(None, 100) is None
    # Lower is better: 1 at the target, 0 at the floor, linear between (and beyond).
    assert f.attainment(15, 10, "lower", floor=20) == 0.5
    assert f.attainment(10, 10, "lower", floor=20) == 1.0
    assert f.attainment(5, 10, "lower", floor=20) == 1.5
    assert f.attainment(15, 10, "lower") == 0.5  # floor defaults to twice the target
    assert f.attainment(0, 0, "lower") == 1.0 and f.attainment(1, 0, "lower") == 0.0
    assert f.clamp(1.5) == 1.2 and f.clamp(-0.3) == 0.0


def test_pace_of_a_sum_kpi():
    elapsed = 7 / 21
    p = f.pace(600, 2100, kind="sum", direction="higher", elapsed=elapsed)
    assert p.expected == pytest.approx(700) and p.index == pytest.approx(600 / 700)
    assert p.status == f.AT_RISK and p.projection == pytest.approx(1800) and p.attainment == pytest.approx(600 / 2100)
    assert f.pace(700, 2100, kind="sum", direction="higher", elapsed=elapsed).status == f.ON_TRACK
    assert f.pace(500, 2100, kind="sum", direction="higher", elapsed=elapsed).status == f.BEHIND
    strict = f.Thresholds(on_track_min=1.1, at_risk_min=1.0)
    assert f.pace(700, 2100, kind="sum", direction="higher", elapsed=elapsed, thresholds=strict).status == f.AT_RISK


def test_pace_edge_cases():
    # Zero target: a target all the same ("target 0"), met by any result: no attainment to divide out,
    # nothing expected, never behind.
    zero = f.pace(50, 0, kind="sum", direction="higher", elapsed=0.5)
    assert zero.status == f.ZERO_TARGET and zero.target == 0 and zero.attainment is None and zero.projection == 100
    assert zero.expected == 0 and zero.index is None
    assert f.pace(None, 0, kind="rate", direction="higher", elapsed=0.5).status == f.ZERO_TARGET
    # No working days left (the period is over): expected is the whole target, projection the actual.
    over = f.pace(900, 1000, kind="sum", direction="higher", elapsed=1.0)
    assert over.expected == 1000 and over.projection == 900 and over.status == f.AT_RISK
    # Not started: nothing expected yet, nobody behind.
    start = f.pace(0, 1000, kind="sum", direction="higher", elapsed=0.0)
    assert start.index is None and start.status == f.ON_TRACK and start.projection is None
    # Lower is better, cumulative (e.g. complaints): 6 against 5 expected by half-time.
    low = f.pace(6, 10, kind="sum", direction="lower", elapsed=0.5)
    assert low.index == pytest.approx(5 / 6) and low.status == f.AT_RISK
    assert f.pace(0, 10, kind="sum", direction="lower", elapsed=0.5).status == f.ON_TRACK
    # A rate applies whole from day one: 27 % conversion against 30 %.
    rate = f.pace(27, 30, kind="rate", direction="higher", elapsed=0.1)
    assert rate.expected == 30 and rate.index == pytest.approx(0.9) and rate.projection == 27
    assert rate.status == f.AT_RISK
    # A rate with nothing to measure yet (no closed deals): no data, not "behind".
    assert f.pace(None, 30, kind="rate", direction="higher", elapsed=0.5).status == f.NO_DATA



def test_split_among_by_month_weights_and_kept_months():
    months = {f"2026-{m:02d}": 1000.0 for m in range(1, 13)}
    # The second child joins in July: nothing before it; every month still adds up.
    joined = {f"2026-{m:02d}": [1.0, 1.0 if m >= 7 else 0.0] for m in range(1, 13)}
    done = f.split_among(months, [1.0, 1.0], 2026, "all", 2, month_weights=joined)
    assert done["2026-03"] == [1000.0, 0.0] and done["2026-08"] == [500.0, 500.0]
    assert done["2026-Q2"] == [3000.0, 0.0] and done["2026"] == [9000.0, 3000.0]
    # A month nobody is in falls back to the row's weights rather than losing its target.
    nobody = f.split_among(months, [1.0, 3.0], 2026, "all", 2, month_weights={"2026-01": [0.0, 0.0]})
    assert nobody["2026-01"] == [250.0, 750.0]
    # Kept months stay as they were; the quarters and the year are still the sums of the months.
    kept = {f"2026-{m:02d}": [700.0, 300.0] for m in range(1, 10)}
    resplit = f.split_among(months, [1.0, 1.0], 2026, "all", 2, keep=kept)
    assert resplit["2026-09"] == [700.0, 300.0] and resplit["2026-10"] == [500.0, 500.0]
    assert resplit["2026-Q3"] == [2100.0, 900.0] and resplit["2026"] == [7800.0, 4200.0]
