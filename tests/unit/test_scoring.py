"""The scorecard's arithmetic, by hand-computed cases (server/evaluation/scoring.py)."""

from datetime import date

import pytest

from server.evaluation import scoring
from server.evaluation.scoring import DimensionSpec, ItemSpec, Measure


def test_points_floor_cap_and_linear_between():
    assert scoring.points(0.85, floor=0.5, cap=1.0) == pytest.approx(85.0)
    assert scoring.points(0.49, floor=0.5, cap=1.0) == 0.0  # below the floor: nothing
    assert scoring.points(0.5, floor=0.5, cap=1.0) == pytest.approx(50.0)  # at the floor: counted
    assert scoring.points(1.4, floor=0.5, cap=1.0) == 100.0  # above the cap: capped
    assert scoring.points(1.0, floor=0.0, cap=1.2) == pytest.approx(100 / 1.2)  # a cap of 120 %
    assert scoring.points(1.3, floor=0.0, cap=1.2) == 100.0


def test_lower_is_better_band():
    # Target 2 complaints, worst acceptable 6: 3 complaints is (6 - 3) / (6 - 2) = 75 % of the band.
    measure = scoring.kpi_attainment(3, 2, "lower", band_worst=6)
    assert measure.attainment == pytest.approx(0.75)
    assert scoring.item_points(ItemSpec("c", 10_000, "kpi"), measure) == pytest.approx(75.0)
    # At or below the target: 100 % (better than the target is capped); at the worst or beyond: 0.
    assert scoring.item_points(ItemSpec("c", 10_000, "kpi"), scoring.kpi_attainment(1, 2, "lower", 6)) == 100.0
    assert scoring.item_points(ItemSpec("c", 10_000, "kpi"), scoring.kpi_attainment(7, 2, "lower", 6)) == 0.0
    # Without a band: twice the target is the worst (formulas.attainment's rule).
    assert scoring.kpi_attainment(3, 2, "lower").attainment == pytest.approx(0.5)


def test_zero_and_missing_targets_are_missing_not_zero():
    assert scoring.kpi_attainment(500.0, 0.0).missing == scoring.ZERO_TARGET
    assert scoring.kpi_attainment(500.0, None).missing == scoring.NO_TARGET
    assert scoring.kpi_attainment(None, 100.0).missing == scoring.NO_DATA
    assert scoring.process_attainment(0.8, 0.0).missing == scoring.ZERO_TARGET
    assert scoring.process_attainment(None, 0.9).missing == scoring.NO_DATA
    # Nothing sold against a real target is data: 0 %.
    assert scoring.kpi_attainment(0.0, 100.0).attainment == 0.0


def test_rating_points_and_peer_threshold():
    assert scoring.rating_points(1, 5) == 0.0
    assert scoring.rating_points(4, 5) == pytest.approx(75.0)
    assert scoring.rating_points(5, 5) == 100.0
    # Peers 3, 4 and 4: mean 11/3, (11/3 - 1) / 4 = 66.67 points.
    m = scoring.rating_measure([3, 4, 4], minimum=3)
    assert m.level == pytest.approx(11 / 3)
    assert scoring.item_points(ItemSpec("p", 10_000, "peer"), m) == pytest.approx(200 / 3)
    # Two answers under a threshold of three: missing, never used.
    assert scoring.rating_measure([5, 5], minimum=3).missing == scoring.TOO_FEW_PEERS
    assert scoring.rating_measure([], minimum=1).missing == scoring.NOT_RATED


def test_weighted_total_by_hand():
    # Results 60 % (items 70/30), conduct 40 % (items 50/50).
    dims = [DimensionSpec("results", 6000, (ItemSpec("rev", 7000, "kpi"), ItemSpec("col", 3000, "kpi"))),
            DimensionSpec("conduct", 4000, (ItemSpec("rep", 5000, "process"), ItemSpec("mgr", 5000, "manager")))]
    measures = {"rev": Measure(attainment=0.9), "col": Measure(attainment=0.6),
                "rep": Measure(attainment=1.0), "mgr": Measure(level=4)}
    card = scoring.score(dims, measures)
    # results = 0.7 x 90 + 0.3 x 60 = 81; conduct = 0.5 x 100 + 0.5 x 75 = 87.5; total = 0.6 x 81 + 0.4 x 87.5 = 83.6
    assert card.dimensions[0].points == pytest.approx(81.0)
    assert card.dimensions[1].points == pytest.approx(87.5)
    assert card.total == pytest.approx(83.6)
    assert not card.respread
    # What stands between 83.6 and 100, item by item, adds up.
    assert sum(i.lost for d in card.dimensions for i in d.items) == pytest.approx(100 - 83.6)
    assert sum(i.contribution for d in card.dimensions for i in d.items) == pytest.approx(83.6)


def test_missing_item_is_excluded_and_its_weight_respread():
    dims = [DimensionSpec("results", 6000, (ItemSpec("rev", 5000, "kpi"), ItemSpec("col", 3000, "kpi"),
                                             ItemSpec("gm", 2000, "kpi"))),
            DimensionSpec("conduct", 4000, (ItemSpec("mgr", 10_000, "manager"),))]
    measures = {"rev": Measure(attainment=0.8), "col": Measure(missing=scoring.ZERO_TARGET),
                "gm": Measure(attainment=1.0), "mgr": Measure(level=3)}
    card = scoring.score(dims, measures)
    rev, col, gm = card.dimensions[0].items
    # col is out; rev and gm share 10,000 as 5:2 -> 5/7 and 2/7: (5 x 80 + 2 x 100) / 7 = 85.714
    assert col.points is None and col.missing == scoring.ZERO_TARGET and col.weight == 0.0
    assert rev.weight == pytest.approx(5 / 7) and gm.weight == pytest.approx(2 / 7)
    assert card.dimensions[0].points == pytest.approx(600 / 7)
    assert card.total == pytest.approx(0.6 * 600 / 7 + 0.4 * 50)
    assert card.respread and [i.id for i in card.excluded] == ["col"]


def test_a_dimension_without_data_is_excluded_among_dimensions():
    dims = [DimensionSpec("results", 5000, (ItemSpec("rev", 10_000, "kpi"),)),
            DimensionSpec("peers", 2000, (ItemSpec("peer", 10_000, "peer"),)),
            DimensionSpec("growth", 3000, (ItemSpec("mgr", 10_000, "manager"),))]
    measures = {"rev": Measure(attainment=0.7), "peer": scoring.rating_measure([4, 5], minimum=3),
                "mgr": Measure(level=5)}
    card = scoring.score(dims, measures)
    assert card.dimensions[1].excluded and card.dimensions[1].items[0].missing == scoring.TOO_FEW_PEERS
    # results 5/8, growth 3/8: 5/8 x 70 + 3/8 x 100 = 81.25
    assert card.dimensions[0].weight == pytest.approx(5 / 8)
    assert card.total == pytest.approx(81.25)


def test_nothing_measured_has_no_total():
    dims = [DimensionSpec("d", 10_000, (ItemSpec("a", 10_000, "kpi"),))]
    card = scoring.score(dims, {})
    assert card.total is None and card.excluded[0].missing == scoring.NO_DATA


def test_prorated_target_for_a_rep_who_joined_mid_period():
    # March 2027: 23 working days (Mon-Fri). Joined Monday 15 March: 13 working days left (15-31).
    start, end = date(2027, 3, 1), date(2027, 3, 31)
    assert scoring.prorate(23_000.0, start, end, date(2027, 3, 15)) == pytest.approx(13_000.0)
    assert scoring.prorate(23_000.0, start, end, date(2027, 2, 1)) == 23_000.0  # there all month
    assert scoring.prorate(23_000.0, start, end, None) == 23_000.0
    assert scoring.prorate(23_000.0, start, end, date(2027, 4, 2)) is None  # joined after the period
    # A holiday moved onto the 15th (an override) leaves 12 of 22 working days.
    overrides = {date(2027, 3, 15): False}
    assert scoring.prorate(22_000.0, start, end, date(2027, 3, 15), overrides) == pytest.approx(12_000.0)
    # The pro-rated target then drives the attainment: 9,750 sold against 13,000 is 75 points.
    measure = scoring.kpi_attainment(9_750.0, scoring.prorate(23_000.0, start, end, date(2027, 3, 15)))
    assert scoring.item_points(ItemSpec("rev", 10_000, "kpi"), measure) == pytest.approx(75.0)


def test_weights_guide_and_grades():
    assert scoring.check_weights([5000, 2000, 2000, 1000])
    assert not scoring.check_weights([5000, 2000, 2000])
    assert scoring.parse_guide("20/70/10") == (20, 70, 10)
    assert scoring.parse_guide("20/70/20") is None and scoring.parse_guide("") is None
    # 10 reps, 20/70/10: at most 2 top and 1 bottom; 4 at 90 warns about the top, never forces.
    totals = [90, 91, 92, 95, 70, 70, 70, 70, 55, 75]
    assert scoring.guide_warnings(totals, (20, 70, 10)) == [("top", 4, 2)]
    assert scoring.guide_warnings([70] * 10, (20, 70, 10)) == [("middle", 10, 7)]


def test_targets_prorated_by_the_days_in_a_team():
    # November 2026: 30 days, 21 working days (Mon-Fri: 2-6, 9-13, 16-20, 23-27, 30).
    start, end = date(2026, 11, 1), date(2026, 11, 30)
    assert scoring.member_days(None, start, end) == 21
    # In a team from Monday the 16th: 16-20, 23-27 and 30 are 11 working days, so 21,000 becomes 11,000.
    joined = ((date(2026, 11, 16), end),)
    assert scoring.member_days(joined, start, end) == 11
    assert scoring.prorate_member(21_000.0, start, end, joined) == pytest.approx(11_000.0)
    assert scoring.prorate_member(21_000.0, start, end, None) == 21_000.0  # a member all along
    assert scoring.prorate_member(21_000.0, start, end, ()) is None  # never in a team that month
    assert scoring.prorate_member(None, start, end, joined) is None
    # Left on the 6th and back on the 23rd: 5 + 6 working days, the same 11,000; by the 25th, 8 of them.
    twice = ((date(2026, 11, 2), date(2026, 11, 6)), (date(2026, 11, 23), end))
    assert scoring.prorate_member(21_000.0, start, end, twice) == pytest.approx(11_000.0)
    assert scoring.member_days(twice, start, date(2026, 11, 25)) == 8
    # `prorate` by a joining day is the one-stretch case.
    assert scoring.prorate(21_000.0, start, end, date(2026, 11, 16)) == pytest.approx(11_000.0)


def test_membership_rows_become_the_days_in_a_team():
    from uuid import uuid4

    from server.evaluation.measures import team_spans

    start, end = date(2026, 11, 1), date(2026, 11, 30)
    team, other = uuid4(), uuid4()
    joined, moved, always, gone, never = (uuid4() for _i in range(5))
    rows = [
        # No team until the 16th, then team (valid_to is exclusive).
        {"rep": joined, "team": None, "valid_from": date(1970, 1, 1), "valid_to": date(2026, 11, 16)},
        {"rep": joined, "team": team, "valid_from": date(2026, 11, 16), "valid_to": None},
        # Moved from one team to another on the 10th: a member every day.
        {"rep": moved, "team": other, "valid_from": date(1970, 1, 1), "valid_to": date(2026, 11, 10)},
        {"rep": moved, "team": team, "valid_from": date(2026, 11, 10), "valid_to": None},
        # No membership rows: `User.team` on every date.
        {"rep": always, "team": team, "valid_from": None, "valid_to": None},
        # Left the team on the 21st (the 20th was their last day).
        {"rep": gone, "team": team, "valid_from": date(1970, 1, 1), "valid_to": date(2026, 11, 21)},
    ]
    spans = team_spans(rows, [joined, moved, always, gone, never], start, end)
    assert spans[joined] == ((date(2026, 11, 16), end),)
    assert spans[moved] is None and spans[always] is None
    assert spans[gone] == ((start, date(2026, 11, 20)),)
    assert spans[never] == ()


# Scales of 3 to 7 levels: a rating's points use the item's own level count.
def test_rating_points_use_the_scale_length():
    from server.evaluation.scoring import rating_points
    assert rating_points(1, 3) == 0.0 and rating_points(2, 3) == 50.0 and rating_points(3, 3) == 100.0
    assert rating_points(4, 7) == 50.0 and rating_points(2, 7) == pytest.approx(100 / 6)
    assert rating_points(3, 5) == 50.0 and rating_points(7, 7) == 100.0


def test_item_spec_carries_its_level_count():
    from uuid import uuid4

    from server.evaluation.catalogue import Item
    from server.evaluation.scoring import Measure, item_points
    anchors = tuple({"zh": f"水平{n}", "en": f"L{n}"} for n in range(1, 8))
    seven = Item(uuid4(), "x", "x", 10_000, "manager", "", "", 0.0, 1.0, None, None, anchors)
    three = Item(uuid4(), "x", "x", 10_000, "manager", "", "", 0.0, 1.0, None, None, anchors[:3])
    assert seven.spec().levels == 7 and three.spec().levels == 3
    assert item_points(seven.spec(), Measure(level=5)) == pytest.approx(100 * 4 / 6)
    assert item_points(three.spec(), Measure(level=2)) == 50.0
