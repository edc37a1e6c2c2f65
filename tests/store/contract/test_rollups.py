"""Contract of :class:`~mlwarden.store.protocols.RollupStore`: what an engine serves for a range
equals :func:`mlwarden.store.rollups.compute_events` / ``compute_labels`` over the same raw
events, exactly, also after more events and labels arrive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from mlwarden.schema import Feature, ModelSpec, validate_rows
from mlwarden.schema.batch import validate_actual_rows
from mlwarden.store import ModelRecord, Store
from mlwarden.store.protocols import RollupStore
from mlwarden.store.rollups import compute_events, compute_labels

PROTOCOL = RollupStore

SPEC = ModelSpec(
    name="m",
    task="binary",
    classes=[0, 1],
    score="score",
    features=[Feature(name="x", kind="numeric"), Feature(name="y", kind="numeric")],
)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def ingest(engine: Store, m: ModelRecord, ids: range) -> None:
    rows = [
        {
            "event_id": f"e{i}",
            "timestamp": (T0 + timedelta(minutes=7 * i)).isoformat(),
            "version": "v1" if i % 3 else "v2",
            "features": {"x": i * 0.5, "y": None if i % 4 == 0 else float(i % 5)},
            "prediction": i % 2,
            "score": (i % 10) / 10,
            "latency_ms": None if i % 6 == 0 else 5.0 + i % 40,
            "status": "error" if i % 11 == 0 else "ok",
        }
        for i in ids
    ]
    engine.append_events(m, validate_rows(m.spec, rows).table).result()


def _sorted(t: pa.Table) -> list[dict[str, Any]]:
    return sorted(t.to_pylist(), key=repr)


def check(engine: Store, m: ModelRecord, start: datetime, end: datetime) -> None:
    got = engine.rollup(m, start=start, end=end, labels=True)
    ev = engine.events(m)
    ev = ev.filter(ev.ts >= start.replace(tzinfo=None), ev.ts < end.replace(tzinfo=None))
    ops, latency, features = compute_events(ev, m.spec)
    assert _sorted(got.ops) == _sorted(ops)
    assert _sorted(got.latency) == _sorted(latency)
    assert _sorted(got.features) == _sorted(features)
    assert got.labels is not None
    assert _sorted(got.labels) == _sorted(compute_labels(ev, engine.actuals(m), m.spec))
    assert sum(got.ops.column("n").to_pylist()) == ev.count().to_pyarrow().as_py()


def test_served_rollups_equal_the_computation(engine: Store) -> None:
    m = engine.create_model("p", SPEC)
    ingest(engine, m, range(200))
    engine.refresh_rollups(m)
    check(engine, m, T0, T0 + timedelta(hours=30))
    check(engine, m, T0 + timedelta(hours=3), T0 + timedelta(hours=9))
    ingest(engine, m, range(150, 260))  # overlapping: some re-sent, some new hours
    labels = [{"event_id": f"e{i}", "actual": (i // 2) % 2} for i in range(0, 260, 3)]
    engine.append_actuals(m, validate_actual_rows(m.spec, labels).table).result()
    engine.refresh_rollups(m)
    check(engine, m, T0, T0 + timedelta(hours=40))


def test_rollups_count_traffic_not_shadow_predictions(engine: Store) -> None:
    m = engine.create_model("p", SPEC)
    ingest(engine, m, range(120))
    shadow = [
        {
            "event_id": f"e{i}",
            "timestamp": (T0 + timedelta(minutes=7 * i)).isoformat(),
            "version": "v9",
            "features": {"x": i * 0.5},
            "prediction": 1 - i % 2,
            "shadow": True,
        }
        for i in range(120)
    ]
    engine.append_events(m, validate_rows(m.spec, shadow).table).result()
    engine.refresh_rollups(m)
    got = engine.rollup(m, start=T0, end=T0 + timedelta(hours=30))
    assert sum(got.ops.column("n").to_pylist()) == 120
    assert "v9" not in set(got.ops.column("version").to_pylist())
    check(engine, m, T0, T0 + timedelta(hours=30))
