"""The audit log of results data: one `audit_event` row per change (an order corrected or voided, a return
or credit note recorded, a collection corrected or reversed), written in the change's own transaction."""

from __future__ import annotations

import json
from datetime import date
from uuid import UUID, uuid4

from server import clock, db
from server.i18n import N_
from server.sales.tables import AuditEvent

ACTION_LABELS = {
    "order_corrected": N_("Order corrected"),
    "order_voided": N_("Order voided"),
    "return_recorded": N_("Return recorded"),
    "credit_note_recorded": N_("Credit note recorded"),
    "collection_corrected": N_("Collection corrected"),
    "collection_reversed": N_("Collection reversed"),
}


async def record(subject_kind: str, subject_id: UUID, action: str, *, actor_id: UUID | None, reason: str = "",
                 detail: dict | None = None, effective_on: date | None = None,
                 sales_order: UUID | None = None) -> None:
    """Append one event (inside the caller's write transaction)."""
    await db.insert_rows(AuditEvent, [{
        "id": uuid4(), "subject_kind": subject_kind, "subject_id": subject_id, "sales_order": sales_order,
        "action": action, "reason": reason, "detail": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        "effective_on": effective_on, "actor": actor_id, "at": clock.now(),
    }])


async def for_order(order_id: UUID) -> list[dict]:
    """An order's events, oldest first, with who made them."""
    rows = await AuditEvent.select(
        AuditEvent.id, AuditEvent.action, AuditEvent.reason, AuditEvent.detail, AuditEvent.effective_on,
        AuditEvent.at, AuditEvent.actor.display_name.as_alias("actor_name"),
    ).where(AuditEvent.sales_order == order_id).order_by(AuditEvent.at)
    for r in rows:
        r["detail"] = json.loads(r["detail"] or "{}")
        r["label"] = ACTION_LABELS.get(r["action"], r["action"])
    return rows
