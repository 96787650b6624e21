"""Sync: the reconciler that applies phones' queued mutations, and the pull of offline data."""
