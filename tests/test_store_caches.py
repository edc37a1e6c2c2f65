"""State derived from a store lives as long as the store: a closed, collected store leaves no
cache entries behind, and a store made later (perhaps at the same address) reads none of its."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from mlwarden.analysis.importance import _computed
from mlwarden.monitors import service
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.server.ui import reference
from mlwarden.store import DuckDBStore, duckdb_rollups

SPEC = ModelSpec(
    name="m",
    task="binary",
    classes=["0", "1"],
    features=[Feature(name="x", kind="numeric")],
    score="score",
    prediction="prediction",
    target="y",
)


def _used_store(feature_mean: float) -> DuckDBStore:
    rng = np.random.default_rng(0)
    store = DuckDBStore()
    model = store.create_model("default", SPEC)
    n = 600
    score = rng.random(n)
    ref = pa.table(
        {
            "x": rng.normal(feature_mean, 1, n) + score,
            "score": score,
            "prediction": (score > 0.5).astype(np.int64).astype(str),
            "y": (score > 0.5).astype(np.int64).astype(str),
        }
    )
    store.put_reference("default", "m", ref)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    events = ref.drop(["y"]).append_column(
        "timestamp", pa.array([t0 + timedelta(minutes=i) for i in range(n)])
    )
    events = events.append_column("event_id", pa.array([f"e{i}" for i in range(n)]))
    store.append_events(model, validate_table(SPEC, events).table).result()
    service.setup_suite(store, "default", "m")
    service.load_suite(store, "default", "m")
    reference.model_importance(store, "default", model)
    reference.reference_moments(store, "default", model)
    return store


def _holders() -> list[int]:
    return [
        len(service._cache),
        len(reference._cache),
        len(_computed),
        len(duckdb_rollups._LOCKS),
    ]


def test_caches_go_with_their_store() -> None:
    gc.collect()
    before = _holders()
    store = _used_store(0.0)
    assert _holders()[:3] == [b + 1 for b in before[:3]]
    moments = reference.reference_moments(store, "default", store.get_model("default", "m"))
    store.close()
    del store
    gc.collect()
    assert _holders() == before
    # a new store with other data reads its own numbers, never the collected one's
    other = _used_store(5.0)
    try:
        again = reference.reference_moments(other, "default", other.get_model("default", "m"))
        assert again["x"][0] > moments["x"][0] + 4
    finally:
        other.close()
