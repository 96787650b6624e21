"""The sync protocol as a pure library: message types, versions, idempotency and conflict rules.

It imports no web framework, ORM or template engine (a test enforces it), so the rules can be tested
and reasoned about on their own. The reconciler that applies them lives in the server.
"""

PROTOCOL_VERSION = 1
