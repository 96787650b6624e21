"""What /sales shows: open opportunities by stage, recent orders and collections, ageing."""

from __future__ import annotations

from uuid import UUID

from server import clock
from server.accounts.permissions import Actor
from server.sales.analytics import ageing
from server.sales.collections import collections
from server.sales.opportunities import opportunities
from server.sales.orders import orders
from server.sales.scope import scope_rep_ids
from server.sales.tables import OPEN_STAGES


async def hub(actor: Actor, rep: UUID | None = None) -> dict:
    """What /sales shows: open opportunities by stage, recent orders, recent collections, ageing."""
    rep_ids = await scope_rep_ids(actor, rep)
    open_opps = await opportunities(actor, rep=rep, open_only=True, limit=200)
    by_stage = {s: [o for o in open_opps if o["stage"] == s] for s in OPEN_STAGES}
    return {
        "by_stage": by_stage,
        "orders": await orders(actor, rep=rep, limit=10),
        "collections": await collections(actor, rep=rep, limit=10),
        "ageing": [] if rep_ids == [] else await ageing(actor, clock.today(), rep_ids),
    }

