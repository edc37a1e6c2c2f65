"""The start-up warming: roll-ups built and reference-derived numbers cached before any page."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mlwarden.analysis.importance import _computed
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.server.ui import warm
from mlwarden.store import DuckDBStore

SPEC = ModelSpec(
    name="w",
    task="binary",
    classes=["0", "1"],
    features=[Feature(name="x", kind="numeric")],
    score="score",
    prediction="prediction",
)


def _store(path: Path) -> DuckDBStore:
    rng = np.random.default_rng(0)
    store = DuckDBStore(path)
    model = store.create_model("default", SPEC)
    n = 2000
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    score = rng.random(n)
    table = pa.table(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "timestamp": [t0 + timedelta(minutes=i) for i in range(n)],
            "x": rng.normal(size=n),
            "score": score,
            "prediction": (score > 0.5).astype(np.int64),
            "latency_ms": rng.lognormal(3, 0.5, n),
        }
    )
    store.append_events(model, validate_table(SPEC, table).table).result()
    ref = pa.table({"x": rng.normal(size=500), "score": rng.random(500)})
    store.put_reference("default", "w", ref)
    return store


def test_warming_builds_rollups_and_caches_importance(tmp_path: Path) -> None:
    store = _store(tmp_path / "db.duckdb")
    try:
        model = store.get_model("default", "w")
        assert store._state(model.uid, "events") is None  # nothing built at ingest
        assert warm(store, threading.Event()) == 1
        assert store._state(model.uid, "events") is not None
        assert store._events_part(model, submit=False)[0] == set()  # nothing left to compute
        assert store._state(model.uid, "labels") is not None
        assert [k[:2] for k in _computed[store]] == [("default", "w")]
    finally:
        store.close()


def test_warming_stops_when_the_server_does(tmp_path: Path) -> None:
    store = _store(tmp_path / "db.duckdb")
    try:
        stop = threading.Event()
        stop.set()
        assert warm(store, stop) == 0
        assert store._state(store.get_model("default", "w").uid, "events") is None
    finally:
        store.close()


def test_the_drift_map_ranks_features_by_the_incidents_importance(tmp_path: Path) -> None:
    """One definition of feature importance: the page's numbers are the incidents' numbers."""
    from mlwarden.analysis import model_importance as incidents_importance
    from mlwarden.server.ui.reference import model_importance as page_importance

    store = _store(tmp_path / "db.duckdb")
    try:
        model = store.get_model("default", "w")
        shared = incidents_importance(store, model)
        page = page_importance(store, "default", model)
        assert shared and all(page[f] == v for f, v in shared.items())
        assert sum(shared.values()) == pytest.approx(1.0)
        assert page["score"] == page["prediction"] == 1.0  # the outputs head the map
    finally:
        store.close()
