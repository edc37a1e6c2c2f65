"""Synthetic models stored in a real DuckDB store, for slice discovery."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlwarden.schema import Feature, ModelSpec, canonical_schema
from mlwarden.store import DuckDBStore, ModelRecord

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)
CATEGORY_P = np.array([0.3, 0.25, 0.15, 0.1, 0.08, 0.06, 0.04, 0.02])


@dataclass
class Synthetic:
    """Features (n0.. numeric, c0.. categorical), a binary prediction with a score, labels
    correct with probability ``accuracy``, and a reference sample of the features."""

    columns: dict[str, Any]
    reference: pa.Table
    spec: ModelSpec


def synthetic(
    rows: int,
    *,
    n_num: int = 20,
    n_cat: int = 10,
    seed: int = 0,
    accuracy: float | Callable[[dict[str, Any]], Any] = 0.8,
) -> Synthetic:
    """``accuracy`` is a number or a function of the columns giving per-row accuracy."""
    rng = np.random.default_rng(seed)

    def features(n: int) -> dict[str, Any]:
        cols: dict[str, Any] = {f"n{i}": rng.normal(size=n) for i in range(n_num)}
        for i in range(n_cat):
            cols[f"c{i}"] = np.array([f"v{k}" for k in range(8)])[
                rng.choice(8, size=n, p=CATEGORY_P)
            ]
        return cols

    cols = features(rows)
    score = rng.random(rows)
    pred = (score >= 0.5).astype(int)
    acc = accuracy(cols) if callable(accuracy) else np.full(rows, accuracy)
    correct = rng.random(rows) < acc
    cols |= {"score": score, "prediction": pred, "actual": np.where(correct, pred, 1 - pred)}
    spec = ModelSpec(
        name="synth",
        task="binary",
        classes=["0", "1"],
        features=[Feature(name=f"n{i}", kind="numeric") for i in range(n_num)]
        + [Feature(name=f"c{i}", kind="categorical") for i in range(n_cat)],
        score="score",
    )
    return Synthetic(cols, pa.table(features(20_000)), spec)


def store_events(store: DuckDBStore, data: Synthetic, *, labels: bool = True) -> ModelRecord:
    """Append the synthetic events (and their labels) to ``store``; returns the model."""
    model = store.create_model("p", data.spec)
    cols = data.columns
    rows = len(cols["score"])
    ts = pa.array(
        np.datetime64(START.replace(tzinfo=None), "us")
        + (np.arange(rows) * (86_400_000_000 // rows)).astype("timedelta64[us]"),
        pa.timestamp("us", tz="UTC"),
    )
    ids = pa.array([f"e{i}" for i in range(rows)])
    arrays: dict[str, Any] = {
        "event_id": ids,
        "version": pa.array(["v1"] * rows),
        "ts": ts,
        "prediction": pa.array(cols["prediction"].astype(str)),
        "score": pa.array(cols["score"]),
        "latency_ms": pa.array(cols.get("latency_ms", np.full(rows, 20.0))),
        "status": pa.array(cols.get("status", np.full(rows, "ok"))),
    }
    schema = canonical_schema(data.spec)
    table = pa.table(
        {
            f.name: arrays[f.name]
            if f.name in arrays
            else pa.array(cols[f.name], f.type)
            if f.name in cols
            else pa.nulls(rows, f.type)
            for f in schema
        },
        schema=schema,
    )
    store.append_events(model, table).result()
    if labels:
        actuals = pa.table(
            {
                "event_id": ids,
                "actual": pa.array(cols["actual"].astype(str)),
                "actual_value": pa.nulls(rows, pa.float64()),
                "ts": ts,
            }
        )
        store.append_actuals(model, actuals).result()
    return model


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore()
    yield s
    s.close()
