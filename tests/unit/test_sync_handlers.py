"""Every mutation kind the protocol reads has exactly one handler in the reconciler's registry."""

from __future__ import annotations

import pytest

from server.syncing import handlers
from sync.protocol import MUTATION_KINDS


def test_every_protocol_kind_has_a_handler_and_no_handler_is_unreachable():
    assert set(handlers.HANDLERS) == set(MUTATION_KINDS)
    for kind, handler in handlers.HANDLERS.items():
        assert handler.kind == kind and callable(handler.prepare) and callable(handler.apply)


def test_a_kind_registers_once():
    with pytest.raises(ValueError, match="registered already"):
        handlers.register("visit.create", handlers.HANDLERS["visit.create"].prepare,
                          handlers.HANDLERS["visit.create"].apply)
