"""Teams as a tree: a region over teams (any depth), renaming, and "this team and every team below it".

A manager who leads a team leads every team below it: `permissions` expands an actor's led teams with
`with_descendants`, so `rep_scope()` and every check on `led_team_ids` include the teams below. Renaming
and re-parenting are the admin's, in `services`.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from server.accounts.tables import Team


async def parents() -> dict[UUID, UUID | None]:
    """team id -> its parent's id (None: under the company). One query over a small table."""
    return {r["id"]: r["parent"] for r in await Team.select(Team.id, Team.parent)}


def below(tree: dict[UUID, UUID | None], team_ids: Iterable[UUID]) -> list[UUID]:
    """`team_ids` and every team under them, each once, in the order given then found (pure)."""
    children: dict[UUID, list[UUID]] = {}
    for tid, parent in tree.items():
        if parent is not None:
            children.setdefault(parent, []).append(tid)
    out: list[UUID] = []
    seen: set[UUID] = set()
    stack = list(team_ids)[::-1]
    while stack:
        tid = stack.pop()
        if tid in seen:
            continue
        seen.add(tid)
        out.append(tid)
        stack.extend(sorted(children.get(tid, []), key=str, reverse=True))
    return out


async def with_descendants(team_ids: Iterable[UUID]) -> list[UUID]:
    ids = list(team_ids)
    return below(await parents(), ids) if ids else []


def depth(tree: dict[UUID, UUID | None], team_id: UUID) -> int:
    """How many teams sit above `team_id` (0: directly under the company)."""
    level, seen = 0, {team_id}
    parent = tree.get(team_id)
    while parent is not None and parent not in seen:
        seen.add(parent)
        level += 1
        parent = tree.get(parent)
    return level
