"""home domain."""
