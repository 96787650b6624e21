"""Which mutations of a push to apply, acknowledge as duplicates, or leave for later.

Invariant: a device's mutations take effect exactly once and in the device's order. The server keeps
the last sequence number it processed per device and advances it in the same transaction as the data.
So for a push sorted by seq, with `last` the stored number:

- seq <= last            -> DUPLICATE: processed before (its reply was lost, or a retry): no change.
- seq == last + 1        -> PROCESS: apply it (or reject it, or report a conflict); last becomes seq.
- seq  > last + 1        -> RETRY: an earlier mutation has not arrived yet (batches reordered on the
                            way); the device keeps it and sends it again. Never skipped, so a late
                            earlier batch cannot be mistaken for a duplicate and lost.

Rejected and conflicting mutations are processed too: they advance `last`, and their result stays on
the device for the rep to fix (as a new mutation) or discard, so nothing jams the queue.
"""

from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):  # noqa: UP042 - str() of a member must stay "Outcome.X", as StrEnum would change it
    PROCESS = "process"
    DUPLICATE = "duplicate"
    RETRY = "retry"


def plan_batch(last_seq: int, seqs: list[int]) -> list[tuple[int, Outcome]]:
    """Sort a push's seqs and say what to do with each, given the device's last processed seq."""
    plan: list[tuple[int, Outcome]] = []
    expected = last_seq + 1
    for seq in sorted(seqs):
        if seq < expected:
            plan.append((seq, Outcome.DUPLICATE))
        elif seq == expected:
            plan.append((seq, Outcome.PROCESS))
            expected += 1
        else:
            plan.append((seq, Outcome.RETRY))
    return plan


def new_last_seq(last_seq: int, plan: list[tuple[int, Outcome]]) -> int:
    processed = [seq for seq, outcome in plan if outcome is Outcome.PROCESS]
    return max(processed, default=last_seq)
