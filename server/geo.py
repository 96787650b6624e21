"""Distances on the earth and the check-in radius rule. Pure functions, no I/O."""

from __future__ import annotations

import math

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
DEFAULT_RADIUS_M = 500
_radius_m = DEFAULT_RADIUS_M


def configure(radius_m: int) -> None:
    """Set the check-in radius from the settings (`FIELDPACE_CHECKIN_RADIUS_M`)."""
    global _radius_m
    _radius_m = int(radius_m)


def radius_m() -> int:
    return _radius_m


def distance_m(lat1: float | None, lng1: float | None, lat2: float | None, lng2: float | None) -> float | None:
    """Great-circle (haversine) distance in metres; None when any coordinate is missing."""
    if lat1 is None or lng1 is None or lat2 is None or lng2 is None:
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def out_of_range(distance: float | None, radius: float | None = None) -> bool:
    """A check-in is flagged when its distance is known and beyond the radius; unknown is not flagged."""
    limit = _radius_m if radius is None else radius
    return distance is not None and distance > limit


def valid_lat_lng(lat: float | None, lng: float | None) -> bool:
    """Both missing, or both present and in range (latitude -90..90, longitude -180..180)."""
    if lat is None and lng is None:
        return True
    if lat is None or lng is None:
        return False
    return math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180
