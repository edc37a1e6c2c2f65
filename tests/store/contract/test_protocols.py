"""Every engine is each protocol it claims; what it does not claim fails loudly, by name."""

from __future__ import annotations

import pytest

from mlwarden.errors import StorageError, UnsupportedByEngineError
from mlwarden.store import ENGINES, PostgresStore, Store
from mlwarden.store.protocols import PROTOCOLS, SpanLog

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


@pytest.mark.parametrize(
    ("call", "method"),
    [
        (lambda s: s.spans("p"), "spans"),
        (lambda s: s.put_scores("p", None), "put_scores"),
        (lambda s: s.span_logs("p"), "span_logs"),
        (lambda s: s.fill_span_texts("p", None), "fill_span_texts"),
    ],
)
def test_postgres_names_what_it_does_not_implement(
    call: object, method: str, request: pytest.FixtureRequest
) -> None:
    assert SpanLog not in PostgresStore.protocols
    store: Store = fresh_store("postgres", request)
    try:
        with pytest.raises(UnsupportedByEngineError, match=f"'{method}'") as info:
            call(store)  # type: ignore[operator]
        assert isinstance(info.value, StorageError) and isinstance(info.value, NotImplementedError)
    finally:
        store.close()
