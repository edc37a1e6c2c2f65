"""The contract suites run on every engine that claims their protocol.

A test module names its protocol (``PROTOCOL = Catalog``); the ``engine`` fixture is
parameterised over the registered engines whose ``protocols`` include it, each giving a fresh,
empty store: DuckDB in memory, PostgreSQL a new database on one server started for the session
(``tests/pgserver.py``), ClickHouse a new database of the process's one chDB engine under a
DuckDB catalog (:class:`~mlwarden.store.composite.CompositeStore`). Nothing is skipped: an
engine that does not claim a protocol is simply not a parameter of its suite.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from mlwarden.store import ENGINES, DuckDBStore, PostgresStore, Store, open_store
from pgserver import PostgresServer

_databases = itertools.count()


def engines_claiming(protocol: type) -> list[str]:
    return [kind for kind in ENGINES if protocol in ENGINES.get(kind).protocols]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames:
        protocol = metafunc.module.PROTOCOL
        metafunc.parametrize("engine", engines_claiming(protocol), indirect=True)


def fresh_store(kind: str, request: pytest.FixtureRequest) -> Store:
    if kind == "duckdb":
        return DuckDBStore(":memory:")
    if kind == "postgres":
        srv: PostgresServer = request.getfixturevalue("pg_server")
        return PostgresStore(srv.create_database(f"contract_{next(_databases)}"))
    if kind == "clickhouse":
        return open_store(
            None, events=request.getfixturevalue("chdb_url")(f"contract_{next(_databases)}")
        )
    raise AssertionError(f"no test store for engine {kind!r}")


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> Iterator[Store]:
    store = fresh_store(request.param, request)
    try:
        yield store
    finally:
        store.close()
