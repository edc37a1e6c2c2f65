"""Contract of :class:`~mlwarden.store.protocols.Suites` and
:class:`~mlwarden.store.protocols.Results`: stored monitors, the scheduler's marks, results
replaced per (monitor, segment, window)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from mlwarden.errors import NotFoundError
from mlwarden.monitors.service import RESULT_SCHEMA
from mlwarden.schema import Feature, ModelSpec
from mlwarden.store import Store
from mlwarden.store.protocols import Results, Suites

PROTOCOL = Suites  # every engine here claims Results with it (checked below)

SPEC = ModelSpec(name="m", task="regression", features=[Feature(name="x", kind="numeric")])
W0 = datetime(2026, 3, 1)


def test_the_engine_stores_results_too(engine: Store) -> None:
    assert Results in type(engine).protocols
    assert isinstance(engine, Suites) and isinstance(engine, Results)


def test_suites_and_marks(engine: Store) -> None:
    engine.create_model("p", SPEC)
    engine.create_model("a", SPEC)
    with pytest.raises(NotFoundError):
        engine.get_suite("p", "m")
    engine.put_suite("p", "m", "spec: 1\n", '{"s": 1}')
    engine.put_suite("a", "m", "spec: 2\n", "{}")
    assert engine.list_suites() == [("a", "m"), ("p", "m")]
    row = engine.get_suite("p", "m")
    assert (row.spec, row.state, row.evaluated_until) == ("spec: 1\n", '{"s": 1}', None)
    engine.mark_evaluated("p", "m", until=W0, labels_until=W0 + timedelta(hours=1))
    engine.mark_evaluated("p", "m", events_until=W0 + timedelta(hours=2))
    row = engine.get_suite("p", "m")
    assert (row.evaluated_until, row.labels_seen_until, row.events_seen_until) == (
        W0,
        W0 + timedelta(hours=1),
        W0 + timedelta(hours=2),
    )
    engine.put_suite("p", "m", "spec: 3\n", "{}")  # new monitors: evaluated again from scratch
    row = engine.get_suite("p", "m")
    assert (row.spec, row.evaluated_until, row.labels_seen_until) == (
        "spec: 3\n",
        None,
        W0 + timedelta(hours=1),
    )


def results(*rows: tuple[str, str | None, int, float]) -> pa.Table:
    cols: dict[str, list[object]] = {f.name: [] for f in RESULT_SCHEMA}
    for monitor, segment, day, value in rows:
        start = W0 + timedelta(days=day)
        for name, v in {
            "monitor": monitor,
            "kind": "feature_drift",
            "column": "x",
            "segment": segment,
            "window_start": start,
            "window_end": start + timedelta(days=1),
            "status": "ok",
            "value": value,
            "threshold": 0.2,
            "warn": None,
            "n": 100,
            "direction": "above",
            "reason": "",
            "details": "{}",
            "evaluated_at": W0,
        }.items():
            cols[name].append(v)
    return pa.Table.from_pydict(cols, schema=RESULT_SCHEMA)


def test_results_replace_per_monitor_segment_and_window(engine: Store) -> None:
    engine.create_model("p", SPEC)
    first = results(("d", None, 0, 0.1), ("d", None, 1, 0.2), ("d", "eu", 0, 0.3))
    assert engine.write_results("p", "m", first) == 3
    assert engine.write_results("p", "m", results()) == 0
    again = results(("d", None, 1, 0.5), ("e", None, 1, 0.6))
    assert engine.write_results("p", "m", again) == 2
    engine.write_results("q", "m", results(("d", None, 0, 9.0)))
    r = engine.results()
    got = (
        r.filter(r.project == "p", r.model == "m")
        .order_by(["monitor", "segment", "window_start"])
        .select("monitor", "segment", "window_start", "value", "n")
        .to_pyarrow()
        .to_pylist()
    )
    assert [(g["monitor"], g["segment"], g["window_start"], g["value"]) for g in got] == [
        ("d", "eu", W0, 0.3),
        ("d", None, W0, 0.1),
        ("d", None, W0 + timedelta(days=1), 0.5),
        ("e", None, W0 + timedelta(days=1), 0.6),
    ]
    assert all(g["n"] == 100 for g in got)
