"""Pure: cents allocated over an order's split by largest remainder, so the parts add up exactly.

An order of ¥100.01 split 60/40 credits ¥60.01 and ¥40.00, once, and those cents are stored on each split
row (`OrderSplit.amount_cents`, `margin_cents`); returns and collections are allocated over the same
shares by the same rule. Nothing downstream multiplies an amount by a share again, so the rows listed
under a number always add up to it.
"""

from __future__ import annotations

from collections.abc import Sequence

FULL_SHARE = 10_000


def allocate(total_cents: int, shares_bp: Sequence[int]) -> list[int]:
    """`total_cents` split over `shares_bp` (basis points summing to FULL_SHARE, in the split's order).

    Each part is the floor of total x share; the cents left over go one each to the largest remainders,
    ties to the larger share, then to the earlier row. A negative total is allocated as its magnitude and
    negated, so a return mirrors the order it reduces. The parts always sum to `total_cents`."""
    if not shares_bp:
        return []
    total_bp = sum(shares_bp)
    if total_bp <= 0:
        raise ValueError("shares must add up to more than zero")
    sign = -1 if total_cents < 0 else 1
    magnitude = abs(int(total_cents))
    floors = [magnitude * bp // total_bp for bp in shares_bp]
    remainders = [magnitude * bp % total_bp for bp in shares_bp]
    left = magnitude - sum(floors)
    order = sorted(range(len(shares_bp)), key=lambda i: (-remainders[i], -shares_bp[i], i))
    for i in order[:left]:
        floors[i] += 1
    return [sign * part for part in floors]


def proportional(part_cents: int, whole_cents: int, of_cents: int) -> int:
    """`of_cents` x part / whole, rounded half away from zero (the margin a return of `part` takes off an
    order of `whole` with margin `of`)."""
    if whole_cents == 0:
        return 0
    numerator = of_cents * part_cents
    sign = -1 if (numerator < 0) != (whole_cents < 0) else 1
    quotient, remainder = divmod(abs(numerator), abs(whole_cents))
    if 2 * remainder >= abs(whole_cents):
        quotient += 1
    return sign * quotient
