"""The customer match keys and the check-in distance rule (pure functions, hand-computed cases)."""

import math

import pytest

from server import geo
from server.customers.keys import name_key, phone_key


@pytest.mark.parametrize(("a", "b"), [
    ("上海华联超市有限公司", "上海华联超市"),
    ("上海华联超市股份有限公司", "上海 华联 超市"),
    ("华联集团有限公司", "华联"),
    ("华联（上海）有限责任公司", "华联(上海)"),
    ("ＡＢＣ贸易公司", "abc贸易"),
    ("Acme Co., Ltd.", "ACME"),
    ("Acme, Inc.", "acme"),
    ("Acme LLC", "  acme  "),
    ("Acme Group Co., Ltd.", "acme"),
])
def test_same_customer_two_ways_gives_one_key(a, b):
    assert name_key(a) == name_key(b)
    assert name_key(a)


@pytest.mark.parametrize(("a", "b"), [
    ("上海华联超市", "北京华联超市"),  # the city prefix is kept
    ("Acme", "Acne"),
])
def test_different_customers_keep_different_keys(a, b):
    assert name_key(a) != name_key(b)


def test_a_name_that_is_only_a_suffix_is_not_emptied():
    assert name_key("公司") == "公司"
    assert name_key("Inc.") == "inc"
    assert name_key("  ,. ") == ""


@pytest.mark.parametrize(("raw", "key"), [
    ("+86 138-0013-8000", "13800138000"),
    ("0086 13800138000", "13800138000"),
    ("8613800138000", "13800138000"),
    ("１３８ ００１３ ８０００", "13800138000"),
    ("021-6234 5678", "02162345678"),
    ("n/a", ""),
    ("", ""),
])
def test_phone_key(raw, key):
    assert phone_key(raw) == key


SHANGHAI = (31.2304, 121.4737)
BEIJING = (39.9042, 116.4074)
METRES_PER_DEGREE = geo.EARTH_RADIUS_M * math.pi / 180  # along a meridian: 111,195 m


def test_shanghai_to_beijing_is_about_1067_km():
    d = geo.distance_m(*SHANGHAI, *BEIJING)
    assert d is not None and 1_060_000 < d < 1_072_000
    assert geo.distance_m(*BEIJING, *SHANGHAI) == pytest.approx(d)


def test_400_and_600_metres_against_a_500_metre_radius():
    lat, lng = SHANGHAI
    near = geo.distance_m(lat, lng, lat + 400 / METRES_PER_DEGREE, lng)
    far = geo.distance_m(lat, lng, lat + 600 / METRES_PER_DEGREE, lng)
    assert near == pytest.approx(400, abs=0.5)
    assert far == pytest.approx(600, abs=0.5)
    assert not geo.out_of_range(near, 500)
    assert geo.out_of_range(far, 500)
    assert geo.distance_m(lat, lng, lat, lng) == 0


def test_missing_coordinates_give_no_distance_and_no_flag():
    assert geo.distance_m(None, 121.0, 31.0, 121.0) is None
    assert geo.distance_m(31.0, 121.0, 31.0, None) is None
    assert not geo.out_of_range(None, 500)


def test_default_radius_is_500_metres():
    assert geo.DEFAULT_RADIUS_M == 500
    assert geo.out_of_range(501) == (geo.radius_m() < 501)


def test_coordinate_ranges():
    assert geo.valid_lat_lng(None, None)
    assert geo.valid_lat_lng(31.2, 121.4)
    assert not geo.valid_lat_lng(91, 0)
    assert not geo.valid_lat_lng(0, -181)
    assert not geo.valid_lat_lng(31.2, None)
    assert not geo.valid_lat_lng(float("nan"), 0)
