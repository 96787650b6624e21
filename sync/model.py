"""A reference model of the reconcile rules: the server's bookkeeping over an in-memory store.

It applies `sync.rules.plan_batch` exactly as the server does, so property tests can throw any
interleaving of duplicated, retried, reordered and partially acknowledged batches at it and check the
outcome: every mutation takes effect exactly once, in each device's order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.rules import Outcome, new_last_seq, plan_batch


@dataclass(frozen=True)
class ModelMutation:
    device: str
    seq: int
    record: str
    value: str  # "create" makes a record once; any other value overwrites it (a report edit)


@dataclass
class ModelServer:
    last_seq: dict[str, int] = field(default_factory=dict)
    records: dict[str, str] = field(default_factory=dict)
    effects: list[tuple[str, int]] = field(default_factory=list)

    def push(self, device: str, batch: list[ModelMutation]) -> dict[int, str]:
        """One push, atomically: the plan, the effects and the new last seq together."""
        by_seq = {m.seq: m for m in batch}
        last = self.last_seq.get(device, 0)
        plan = plan_batch(last, list(by_seq))
        replies = {}
        for seq, outcome in plan:
            if outcome is Outcome.PROCESS:
                m = by_seq[seq]
                if m.value == "create":
                    self.records.setdefault(m.record, "created")
                else:
                    self.records[m.record] = m.value
                self.effects.append((device, seq))
                replies[seq] = "applied"
            else:
                replies[seq] = outcome.value
        self.last_seq[device] = new_last_seq(last, plan)
        return replies
