"""Messages between the phone's outbox and the server, and their strict decoding.

A push is an envelope (protocol and schema versions, the device, the device's clock at send time) and
a batch of mutations, each numbered by the device. The envelope must be well formed or the whole push
is refused (4xx); a malformed mutation inside a good envelope is rejected on its own, and the rest of the
batch goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

PROTOCOL_VERSION = 1
# The data schema the client was built for. A client older than MIN_SCHEMA_VERSION must update first.
SCHEMA_VERSION = 1
MIN_SCHEMA_VERSION = 1
MAX_BATCH = 100
MAX_BODY_BYTES = 1024 * 1024
MUTATION_KINDS = ("customer.create", "visit.create", "report.save")
# Beyond this, the device's clock is flagged on the records it sends.
SKEW_TOLERANCE_SECONDS = 300


class ProtocolError(Exception):
    """The push as a whole cannot be read: `code` says why (malformed, too_large, update_required, ...)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Mutation:
    seq: int
    kind: str
    record_id: UUID | None
    payload: dict[str, Any]
    client_time: datetime | None
    # Why this mutation cannot be applied whatever the database holds (bad shape); None when well formed.
    malformed: str | None = None


@dataclass(frozen=True)
class PushRequest:
    protocol: int
    schema: int
    device_id: UUID
    sent_at: datetime | None
    mutations: list[Mutation] = field(default_factory=list)

    def clock_skew_seconds(self, received_at: datetime) -> int | None:
        """Device clock minus server clock at the moment of the push (network delay is noise)."""
        if self.sent_at is None:
            return None
        return round((self.sent_at - received_at).total_seconds())


def _parse_time(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _mutation(raw: Any, index: int) -> Mutation:
    if not isinstance(raw, dict):
        raise ProtocolError("malformed", f"mutation {index} is not an object")
    seq = raw.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or seq > 2**53:
        raise ProtocolError("malformed", f"mutation {index} has no valid seq")
    kind = raw.get("kind")
    payload = raw.get("payload")
    malformed = None
    record_id = None
    try:
        record_id = UUID(str(raw.get("record_id")))
    except ValueError:
        malformed = "record_id"
    if kind not in MUTATION_KINDS:
        malformed = "kind"
    if not isinstance(payload, dict):
        malformed, payload = "payload", {}
    return Mutation(
        seq=seq, kind=kind if isinstance(kind, str) else "", record_id=record_id, payload=payload,
        client_time=_parse_time(raw.get("client_time")), malformed=malformed,
    )


def decode_push(body: bytes) -> PushRequest:
    """Read a push body, or raise ProtocolError. Seqs within one push must be distinct."""
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError("too_large", f"at most {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("malformed", "not JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("malformed", "not an object")
    protocol, schema = data.get("protocol"), data.get("schema")
    if not isinstance(protocol, int) or not isinstance(schema, int):
        raise ProtocolError("malformed", "protocol and schema must be integers")
    if protocol != PROTOCOL_VERSION or schema < MIN_SCHEMA_VERSION:
        raise ProtocolError("update_required", f"server speaks protocol {PROTOCOL_VERSION}")
    try:
        device_id = UUID(str(data.get("device_id")))
    except ValueError:
        raise ProtocolError("malformed", "device_id must be a UUID") from None
    raw = data.get("mutations")
    if not isinstance(raw, list):
        raise ProtocolError("malformed", "mutations must be a list")
    if len(raw) > MAX_BATCH:
        raise ProtocolError("too_large", f"at most {MAX_BATCH} mutations per push")
    mutations = [_mutation(m, i) for i, m in enumerate(raw)]
    if len({m.seq for m in mutations}) != len(mutations):
        raise ProtocolError("malformed", "a seq appears twice in one push")
    return PushRequest(protocol=protocol, schema=schema, device_id=device_id, sent_at=_parse_time(data.get("sent_at")),
                       mutations=mutations)
