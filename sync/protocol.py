"""Messages between the phone's outbox and the server, and their strict decoding.

A push is an envelope (protocol and schema versions, the device, the device's clock at send time) and
a batch of mutations, each numbered by the device. The envelope must be well formed or the whole push
is refused (4xx); a malformed mutation inside a good envelope is rejected on its own, and the rest of the
batch goes on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sync import values

PROTOCOL_VERSION = 1
# The data schema the client was built for. A client older than MIN_SCHEMA_VERSION must update first.
SCHEMA_VERSION = 1
MIN_SCHEMA_VERSION = 1
MAX_BATCH = 100
MUTATION_KINDS = ("customer.create", "visit.create", "report.save")
# The longest text each kind of mutation may carry, per field, in characters (code points) after
# stripping. The server's field parsers use these caps, and the body limit below is derived from them.
TEXT_CAPS: dict[str, dict[str, int]] = {
    "visit.create": {"outcome": 5000, "next_step": 1000},
    "customer.create": {"name": 200, "contact_name": 100, "phone": 40, "address": 500},
    "report.save": {"summary": 10_000, "results": 10_000, "problems": 10_000, "plan": 10_000},
}
# The most bytes one character can take in JSON: a character beyond the BMP written as an escaped
# surrogate pair (`\ud83d\ude00`), as Python's json.dumps does by default.
MAX_BYTES_PER_CHAR = 12
# Everything in a mutation besides its texts (seq, kind, ids, dates, numbers, field names), generously.
MUTATION_OVERHEAD_BYTES = 4096
# The largest valid single mutation, in bytes: a push holding only it is always accepted.
MAX_MUTATION_BYTES = max(sum(caps.values()) * MAX_BYTES_PER_CHAR for caps in TEXT_CAPS.values()) + MUTATION_OVERHEAD_BYTES
# The body limit of a push: above the largest single mutation (plus the envelope), so that a client
# splitting a refused batch (413) down to one mutation always gets through.
MAX_BODY_BYTES = 1024 * 1024
assert MAX_BODY_BYTES > MAX_MUTATION_BYTES + 1024
# Fields of a payload at most; a payload is form-shaped: flat, one scalar per field.
MAX_PAYLOAD_FIELDS = 64
_FIELD_NAME = re.compile(r"[a-z_]{1,40}")
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
        """Device clock minus server clock at the moment of the push (network delay is noise), clamped
        to what a 32-bit column holds."""
        if self.sent_at is None:
            return None
        return values.skew_seconds(self.sent_at, received_at)


def _parse_time(raw: Any, now: datetime) -> datetime | None:
    """A device's clock reading; None when absent, unreadable or outside the plausible window."""
    return values.device_clock(raw, now)


def _sent_at(raw: Any) -> datetime | None:
    """The device's clock at send time: any readable time, so that a phone 70 years off is flagged
    (the skew is clamped) rather than taken for a phone with no clock."""
    try:
        return values.parse_moment(raw, UTC)
    except values.ValueProblem:
        return None


def _payload_problem(payload: dict[str, Any]) -> str | None:
    """Why a payload is not form-shaped (the field to blame, or "payload"), or None."""
    if len(payload) > MAX_PAYLOAD_FIELDS:
        return "payload"
    for key, value in payload.items():
        if not values.is_scalar(value):
            # The field name is echoed in the reply only when it is a plain name.
            return key if _FIELD_NAME.fullmatch(key) else "payload"
    return None


def _mutation(raw: Any, index: int, now: datetime) -> Mutation:
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
    else:
        malformed = _payload_problem(payload) or malformed
    return Mutation(
        seq=seq, kind=kind if isinstance(kind, str) else "", record_id=record_id, payload=payload,
        client_time=_parse_time(raw.get("client_time"), now), malformed=malformed,
    )


def _loads(body: bytes) -> Any:
    """JSON without the parser's own failure modes: integers too long for Python's limit are read as
    floats (refused by range checks), and nesting too deep for the parser's recursion is cut down
    (so the seqs still read and only the mutation holding it is refused)."""
    try:
        return json.loads(body, parse_int=values.parse_int)
    except RecursionError:
        return json.loads(values.cap_json_depth(body), parse_int=values.parse_int)


def decode_push(body: bytes, now: datetime | None = None) -> PushRequest:
    """Read a push body, or raise ProtocolError. Seqs within one push must be distinct. `now` (the
    server's clock, UTC) bounds the device times kept."""
    now = now or datetime.now(UTC)
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError("too_large", f"at most {MAX_BODY_BYTES} bytes")
    try:
        data = _loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
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
    mutations = [_mutation(m, i, now) for i, m in enumerate(raw)]
    if len({m.seq for m in mutations}) != len(mutations):
        raise ProtocolError("malformed", "a seq appears twice in one push")
    return PushRequest(protocol=protocol, schema=schema, device_id=device_id, sent_at=_sent_at(data.get("sent_at")),
                       mutations=mutations)
