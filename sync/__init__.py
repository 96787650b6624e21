"""The sync protocol as a pure library: message types, versions, idempotency and ordering rules.

It imports no web framework, ORM or template engine (a test enforces it), so the rules can be tested
and reasoned about on their own. The server's reconciler (`server/syncing/`) applies them to the
database; `sync.model` applies them to an in-memory store for the property tests.
"""

from sync.protocol import (  # noqa: F401 - the package's public names, re-exported
    MAX_BATCH,
    MUTATION_KINDS,
    PROTOCOL_VERSION,
    SCHEMA_VERSION,
    Mutation,
    ProtocolError,
    PushRequest,
    decode_push,
)
from sync.rules import Outcome, plan_batch  # noqa: F401 - re-exported
