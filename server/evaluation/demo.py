"""The demo's evaluations: last month's cycle of every team, rated (manager, self, three peers), closed and
published; this month's cycle of the first team in rating, with manager1's forms still to fill. The second
team's reps are key account reps, on the key-account template (the others are field reps, on the field
one): each cycle's reps are given their template the way opening a cycle does (`members.assign`)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from uuid import UUID, uuid4

from server import clock
from server.accounts.tables import User
from server.evaluation import catalogue, members, scores
from server.evaluation.tables import EvaluationCycle, EvaluationMember, RaterAssignment, Rating
from server.targets import formulas

TEMPLATES = (UUID("00000000-0000-0000-0008-000000000001"), UUID("00000000-0000-0000-0008-000000000002"))
COMMENTS = {1: "本期多次未按约定跟进,需要改进。", 5: "表现突出,客户和同事都给予肯定。"}


async def cycles(teams: list[UUID], managers: list[UUID], team_reps: list[list[UUID]], ability: dict[UUID, float],
                 today: date, seed: int = 7, peer_min: int = 3) -> int:
    rng = random.Random(seed)
    last = today.replace(day=1) - timedelta(days=1)
    made = 0
    plans = [(i, formulas.month_code(last.year, last.month), "published") for i in range(len(teams))]
    plans.append((0, formulas.month_code(today.year, today.month), "rating"))
    for index, period, state in plans:
        team, manager, reps = teams[index], managers[index], team_reps[index]
        template = await catalogue.load(TEMPLATES[index % len(TEMPLATES)])
        if template is None or not reps:
            continue
        if template.code == "key_account":
            await User.update({User.rep_kind: "key_account"}).where(User.id.is_in(reps))
        cid = uuid4()
        _k, _start, end = formulas.parse_period(period)
        await EvaluationCycle.insert(EvaluationCycle(
            id=cid, template=template.id, team=team, kind="month", period=period, state="rating",
            guide="20/70/10", rating_due=end + timedelta(days=5), opened_by=manager, opened_at=clock.now()))
        chosen = await members.assign(cid, team, template.id, reps)
        if chosen:
            await EvaluationMember.insert(*chosen)
        assignments, ratings = [], []
        for n, rep in enumerate(reps):
            peers = [reps[(n + k) % len(reps)] for k in (1, 2, 3)] if len(reps) >= 4 else []
            raters = [("self", rep), ("manager", manager), *(("peer", p) for p in peers)]
            for role, rater in raters:
                aid = uuid4()
                done = state == "published" or (role != "manager" and rng.random() < 0.6)
                assignments.append(RaterAssignment(id=aid, cycle=cid, ratee=rep, rater=rater, role=role,
                                                   submitted_at=clock.now() if done else None))
                if not done:
                    continue
                base = 2 + 2.2 * min(1.0, max(0.0, (ability.get(rep, 1.0) - 0.5) / 1.2))
                for item in template.sources(role):
                    levels = len(item.anchors) or 5
                    level = max(1, min(levels, round(base + rng.gauss(0, 0.6) + (0.4 if role == "self" else 0))))
                    comment = COMMENTS.get(level, "") if level in (1, levels) else rng.choice(["", "", "保持当前节奏。"])
                    if level in (1, levels) and not comment:
                        comment = COMMENTS[5]
                    ratings.append(Rating(id=uuid4(), assignment=aid, item=item.id, level=level, comment=comment,
                                          updated_at=clock.now()))
        await RaterAssignment.insert(*assignments)
        if ratings:
            await Rating.insert(*ratings)
        if state == "published":
            await scores.compute(cid, final=True, peer_min=peer_min, today=today)
            await EvaluationCycle.update({EvaluationCycle.state: "published", EvaluationCycle.closed_at: clock.now(),
                                          EvaluationCycle.published_at: clock.now()}).where(EvaluationCycle.id == cid)
        else:
            await scores.compute(cid, final=False, peer_min=peer_min, today=today)
        made += 1
    return made
