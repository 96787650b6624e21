"""The Piccolo (and aiosqlite) internals `server/db/engine.py` overrides or relies on, pinned.

`PooledSQLiteEngine` and `PooledSQLiteTransaction` replace private Piccolo methods and read private
attributes; the writer drives aiosqlite's connection thread directly. A Piccolo or aiosqlite upgrade
that changes any of them must fail here, loudly and by name, so that whoever upgrades re-reads the
override against the new code (then updates the pins below and `PICCOLO_CHECKED`).
"""

from __future__ import annotations

import contextvars
import hashlib
import inspect
from importlib.metadata import version

import aiosqlite
import pytest
from piccolo.engine import postgres, sqlite

from server.db import engine as db_engine

# What the overrides were checked against.
PICCOLO = "1.38.0"
AIOSQLITE = "0.22.1"

# sha256 (first 16 hex digits) of the source of every method the pool replaces or whose behaviour it
# copies. A change means: read the new source next to server/db/engine.py before updating the pin.
SOURCES = {
    "SQLiteEngine._run_in_new_connection": (sqlite.SQLiteEngine._run_in_new_connection, "b1d06d9de80697ec"),
    "SQLiteEngine._run_in_existing_connection": (sqlite.SQLiteEngine._run_in_existing_connection, "0cd1e6dc55373388"),
    "SQLiteEngine.transaction": (sqlite.SQLiteEngine.transaction, "c69ee1e28f2875df"),
    "SQLiteEngine.__init__": (sqlite.SQLiteEngine.__init__, "23491854d9608c25"),
    "SQLiteEngine.get_connection": (sqlite.SQLiteEngine.get_connection, "ffdb78ae7c58b2c2"),
    "SQLiteTransaction.__init__": (sqlite.SQLiteTransaction.__init__, "dda6f972c1b43ed3"),
    "SQLiteTransaction.__aenter__": (sqlite.SQLiteTransaction.__aenter__, "579894a54e56b9a8"),
    "SQLiteTransaction.__aexit__": (sqlite.SQLiteTransaction.__aexit__, "08149562d0e1db2e"),
    "SQLiteTransaction.begin": (sqlite.SQLiteTransaction.begin, "6fa2d66d2207fce2"),
    "SQLiteTransaction.commit": (sqlite.SQLiteTransaction.commit, "e598b183cd8e2bac"),
    "SQLiteTransaction.rollback": (sqlite.SQLiteTransaction.rollback, "4c373d88880f4ade"),
    "SQLiteTransaction.get_connection": (sqlite.SQLiteTransaction.get_connection, "590a4900ca03dd21"),
    # Sets `pool` (None until start_connection_pool) and `current_transaction`, which db.run_read reads.
    "PostgresEngine.__init__": (postgres.PostgresEngine.__init__, "16b9372abc7f81fe"),
    "PostgresEngine.start_connection_pool": (postgres.PostgresEngine.start_connection_pool, "fa2329285f06e1ee"),
    "PostgresEngine.close_connection_pool": (postgres.PostgresEngine.close_connection_pool, "e656cef0cf3ef7ef"),
    "dict_factory": (sqlite.dict_factory, "bb1321c7bf1dcd14"),
    "aiosqlite.Connection._execute": (aiosqlite.Connection._execute, "11f83d6bbbe803e3"),
}

SIGNATURES = {
    "SQLiteEngine._run_in_new_connection": (sqlite.SQLiteEngine._run_in_new_connection,
                                            "(self, query, args=None, query_type='generic', table=None)"),
    "SQLiteEngine._run_in_existing_connection": (sqlite.SQLiteEngine._run_in_existing_connection,
                                                 "(self, connection, query, args=None, query_type='generic', table=None)"),
    "SQLiteEngine.transaction": (sqlite.SQLiteEngine.transaction,
                                 "(self, transaction_type=<TransactionType.deferred: 'DEFERRED'>, allow_nested=True)"),
    "SQLiteTransaction.__init__": (sqlite.SQLiteTransaction.__init__,
                                   "(self, engine, transaction_type=<TransactionType.deferred: 'DEFERRED'>, allow_nested=True)"),
    "SQLiteTransaction.__aexit__": (sqlite.SQLiteTransaction.__aexit__, "(self, exception_type, exception, traceback)"),
    "aiosqlite.Connection._execute": (aiosqlite.Connection._execute, "(self, fn, *args, **kwargs)"),
}


def _plain(signature: inspect.Signature) -> str:
    """A signature without annotations (their text changes with `from __future__ import annotations`)."""
    return str(signature.replace(parameters=[p.replace(annotation=inspect.Parameter.empty)
                                             for p in signature.parameters.values()],
                                 return_annotation=inspect.Signature.empty))


def test_versions_are_the_ones_checked():
    assert db_engine.PICCOLO_CHECKED == PICCOLO
    assert version("piccolo") == PICCOLO, (
        f"Piccolo is {version('piccolo')}, the pool in server/db/engine.py was checked against {PICCOLO}: "
        "re-read the overridden methods (listed in this file), then update the pins")
    assert version("aiosqlite") == AIOSQLITE, (
        f"aiosqlite is {version('aiosqlite')}, server/db/writer.py drives Connection._execute/_conn as of {AIOSQLITE}")


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_overridden_source_is_unchanged(name):
    function, pinned = SOURCES[name]
    digest = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]
    assert digest == pinned, f"{name} changed upstream (sha256 {digest}, pinned {pinned}): re-check server/db/engine.py"


@pytest.mark.parametrize("name", sorted(SIGNATURES))
def test_overridden_signatures_are_unchanged(name):
    function, pinned = SIGNATURES[name]
    assert _plain(inspect.signature(function)) == pinned, f"{name}'s signature changed upstream"


def test_private_attributes_the_pool_reads_still_exist(tmp_path):
    engine = sqlite.SQLiteEngine(path=str(tmp_path / "x.sqlite3"))
    assert set(engine.connection_kwargs) == {"database", "detect_types", "isolation_level"}, \
        "SQLiteEngine.connection_kwargs changed: PooledSQLiteEngine._connect passes them to aiosqlite.connect"
    assert isinstance(engine.current_transaction, contextvars.ContextVar), "SQLiteEngine.current_transaction"
    transaction = sqlite.SQLiteTransaction(engine=engine)
    for attribute in ("_parent", "_committed", "_rolled_back", "engine", "transaction_type"):
        assert hasattr(transaction, attribute), f"SQLiteTransaction.{attribute} is gone (PooledSQLiteTransaction reads it)"
    assert {t.__name__ for t in sqlite.ADAPTERS} >= {"UUID", "datetime", "date", "Decimal"}, \
        "piccolo.engine.sqlite.ADAPTERS changed: db.driver_values applies them before the write lock"
    assert sqlite.TransactionType.immediate.value == "IMMEDIATE"
    for name in ("_execute", "_conn", "execute_fetchall", "in_transaction"):
        assert hasattr(aiosqlite.Connection, name) or name == "_conn", f"aiosqlite.Connection.{name} is gone"


def test_pool_overrides_match_the_methods_they_replace():
    """The overrides keep the names and parameters of what they replace, so Piccolo calls them."""
    pool, base = db_engine.PooledSQLiteEngine, sqlite.SQLiteEngine
    for name in ("_run_in_new_connection", "_run_in_existing_connection", "transaction"):
        ours = [p.name for p in inspect.signature(getattr(pool, name)).parameters.values()]
        theirs = [p.name for p in inspect.signature(getattr(base, name)).parameters.values()]
        assert ours == theirs, f"PooledSQLiteEngine.{name} no longer matches SQLiteEngine.{name}"
    for name in ("__aenter__", "__aexit__"):
        assert name in vars(db_engine.PooledSQLiteTransaction)
