"""Every engine is each protocol it claims; what it does not claim fails loudly, by name."""

from __future__ import annotations

import pytest

from mlwarden.store import ENGINES, PostgresStore
from mlwarden.store.protocols import PROTOCOLS

from .conftest import fresh_store


@pytest.mark.parametrize("kind", list(ENGINES))
def test_an_engine_is_every_protocol_it_claims(kind: str, request: pytest.FixtureRequest) -> None:
    cls = ENGINES.get(kind)
    assert cls.protocols and cls.protocols <= set(PROTOCOLS)
    store = fresh_store(kind, request)
    try:
        for proto in cls.protocols:
            assert isinstance(store, proto), proto.__name__
    finally:
        store.close()


def test_duckdb_claims_every_protocol() -> None:
    assert ENGINES.get("duckdb").protocols == set(PROTOCOLS)


def test_postgres_claims_every_protocol() -> None:
    assert PostgresStore.protocols == set(PROTOCOLS)
