"""Moved to `server.syncing.sequence` (the server sequence belongs to syncing). This name stays only
until the domains that still import it (sales, targets, imports, tests/factories) are updated."""

from server.syncing.sequence import allocate, insert_numbered, record_deletion

__all__ = ["allocate", "insert_numbered", "record_deletion"]
