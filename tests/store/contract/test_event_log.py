"""Contract of :class:`mlwarden.store.protocols.EventLog`: idempotent appends with exact
counts, labels (the latest wins), windows, the scheduler's time marks, rejected rows."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from mlwarden.schema import Feature, ModelSpec, validate_rows
from mlwarden.schema.batch import Rejection, validate_actual_rows
from mlwarden.store import IngestResult, ModelRecord, Store
from mlwarden.store.protocols import EventLog

PROTOCOL = EventLog

SPEC = ModelSpec(
    name="m", task="binary", classes=[0, 1], features=[Feature(name="x", kind="numeric")]
)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def rows(ids: range, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"e{i}",
            "timestamp": (T0 + timedelta(minutes=i)).isoformat(),
            "features": {"x": float(i)},
            "prediction": i % 2,
            **extra,
        }
        for i in ids
    ]


def append(store: Store, m: ModelRecord, items: list[dict[str, Any]]) -> IngestResult:
    batch = validate_rows(m.spec, items)
    return store.append_events(m, batch.table, stamped=batch.stamped).result()


def count(expr: Any) -> int:
    return int(expr.count().to_pyarrow().as_py())


def test_the_engine_is_an_event_log(engine: Store) -> None:
    assert isinstance(engine, EventLog)


def test_resent_events_are_stored_once_with_exact_counts(engine: Store) -> None:
    m = engine.create_model("p", SPEC)
    first = append(engine, m, rows(range(100)))
    again = append(engine, m, rows(range(50, 150)))
    inside = append(engine, m, rows(range(150, 160)) * 2)  # repeated inside one batch
    assert (first.received, first.inserted) == (100, 100)
    assert (again.received, again.inserted, again.duplicates) == (100, 50, 50)
    assert (inside.received, inside.inserted) == (20, 10)
    assert append(engine, m, []).inserted == 0
    ev = engine.events(m)
    assert count(ev) == 160
    assert count(ev.filter(ev.event_id == "e7")) == 1
    assert [v.version for v in engine.list_versions("p", "m")] == ["default"]


def test_values_and_windows_read_back_exactly(engine: Store) -> None:
    m = engine.create_model("p", SPEC)
    append(engine, m, rows(range(60)))
    ev = engine.events(m)
    start, end = T0.replace(tzinfo=None), (T0 + timedelta(minutes=30)).replace(tzinfo=None)
    window = ev.filter(ev.ts >= start, ev.ts < end).order_by("ts")
    got = window.select("event_id", "ts", "x", "prediction").to_pyarrow().to_pylist()
    assert [r["event_id"] for r in got] == [f"e{i}" for i in range(30)]
    assert [r["x"] for r in got] == [float(i) for i in range(30)]
    assert [r["prediction"] for r in got] == [str(i % 2) for i in range(30)]
    assert got[1]["ts"].replace(tzinfo=None) == (T0 + timedelta(minutes=1)).replace(tzinfo=None)
    lo, hi = engine.event_time_range(m)
    assert (lo, hi) == (T0.replace(tzinfo=None), (T0 + timedelta(minutes=59)).replace(tzinfo=None))


def test_a_new_field_becomes_a_column_and_a_feature(engine: Store) -> None:
    m = engine.create_model("p", SPEC)
    append(engine, m, [{"event_id": "a", "features": {"x": 1, "color": "red"}, "prediction": 1}])
    m2 = engine.get_model("p", "m")
    assert m2.spec.feature_names == ("x", "color")
    append(engine, m2, [{"event_id": "b", "features": {"x": 2}, "prediction": 0}])
    got = engine.events(m2).order_by("event_id").select("event_id", "color").to_pyarrow()
    assert got.to_pylist() == [{"event_id": "a", "color": "red"}, {"event_id": "b", "color": None}]


def test_the_latest_label_wins_and_marks_move(engine: Store) -> None:
    m = engine.create_model("p", SPEC)
    append(engine, m, rows(range(10)))
    assert engine.latest_label_time(m) is None
    before = datetime.now(UTC)
    engine.append_actuals(
        m, validate_actual_rows(SPEC, [{"event_id": "e1", "actual": 0}]).table
    ).result()
    result = engine.append_actuals(
        m,
        validate_actual_rows(
            SPEC, [{"event_id": "e1", "actual": 1}, {"event_id": "e3", "actual": 0}]
        ).table,
    ).result()
    assert (result.received, result.inserted) == (2, 2)
    ac = engine.actuals(m).order_by("event_id").select("event_id", "actual").to_pyarrow()
    assert ac.to_pylist() == [{"event_id": "e1", "actual": "1"}, {"event_id": "e3", "actual": "0"}]
    latest = engine.latest_label_time(m)
    assert latest is not None and latest >= before.replace(tzinfo=None) - timedelta(seconds=5)
    lo, hi = engine.labelled_event_range(m, before - timedelta(minutes=1))
    assert (lo, hi) == ((T0 + timedelta(minutes=1)).replace(tzinfo=None),
                        (T0 + timedelta(minutes=3)).replace(tzinfo=None))  # fmt: skip
    assert engine.labelled_event_range(m, datetime.now(UTC) + timedelta(hours=1)) == (None, None)


def test_late_events_are_found_by_their_arrival(engine: Store) -> None:
    m = engine.create_model("p", SPEC)
    append(engine, m, rows(range(5)))
    first = engine.latest_event_receipt(m)
    assert first is not None
    deadline = time.monotonic() + 5
    while datetime.now(UTC).replace(tzinfo=None) <= first and time.monotonic() < deadline:
        time.sleep(0.001)  # the clock must move past the first receipt
    append(engine, m, rows(range(100, 103)))  # late: times inside windows seen already
    later = engine.latest_event_receipt(m)
    assert later is not None and later > first
    lo, hi = engine.late_event_range(m, first, later, T0 + timedelta(hours=3))
    assert (lo, hi) == ((T0 + timedelta(minutes=100)).replace(tzinfo=None),
                        (T0 + timedelta(minutes=102)).replace(tzinfo=None))  # fmt: skip
    assert engine.late_event_range(m, first, later, T0) == (None, None)


def test_rejected_rows_newest_first(engine: Store) -> None:
    engine.create_model("p", SPEC)
    engine.quarantine("p", "m", "events", [Rejection(3, "features.x", "bad", {"x": "a"})]).result()
    engine.quarantine(
        "p", "m", "actuals", [Rejection(0, "actual", "missing", {}), Rejection(1, "x", "y", {})]
    ).result()
    got = engine.quarantined("p", "m").to_pylist()
    assert [(r["kind"], r["row_index"]) for r in got] == [
        ("actuals", 0),
        ("actuals", 1),
        ("events", 3),
    ]
    assert got[2]["payload"] == '{"x": "a"}'
    assert engine.quarantined("p", "other").num_rows == 0
    assert engine.quarantined("p", "m", limit=1).num_rows == 1
    q = engine.quarantine_table()
    assert count(q.filter(q.project == "p")) == 3


def test_retention_deletes_old_events(engine: Store) -> None:
    m = engine.create_model("p", SPEC)
    append(engine, m, rows(range(5)))  # T0 .. T0+4min
    later = [{**r, "timestamp": (T0 + timedelta(days=10)).isoformat()} for r in rows(range(10, 13))]
    append(engine, m, later)
    engine.retention_days = 7  # type: ignore[attr-defined]  # a constructor argument
    assert engine.apply_retention(now=T0 + timedelta(days=12)) == 5
    assert count(engine.events(m)) == 3


@pytest.mark.parametrize("n", [2_000])
def test_a_larger_batch_and_its_resend(engine: Store, n: int) -> None:
    m = engine.create_model("p", SPEC)
    table = validate_rows(m.spec, rows(range(n))).table
    assert engine.append_events(m, table).result().inserted == n
    half = table.slice(n // 2)
    assert engine.append_events(m, pa.concat_tables([half, half])).result().inserted == 0
    assert count(engine.events(m)) == n


def test_shadow_rows_are_stored_but_are_not_traffic(engine: Store) -> None:
    m = engine.create_model("p", SPEC)
    append(engine, m, rows(range(40), version="v1"))
    shadow = append(engine, m, rows(range(40), version="v2", shadow=True))
    assert (shadow.received, shadow.inserted) == (40, 40)  # same ids, another version: kept
    again = append(engine, m, rows(range(40), version="v2", shadow=True))
    assert (again.inserted, again.duplicates) == (0, 40)  # a resent shadow batch: a no-op
    ev = engine.events(m)
    assert count(ev) == 40
    assert set(ev.version.to_pyarrow().to_pylist()) == {"v1"}
    everything = engine.events(m, shadow=True)
    assert count(everything) == 80
    assert count(everything.filter(everything.shadow)) == 40
    assert {v.version for v in engine.list_versions("p", "m")} == {"v1", "v2"}
    assert "shadow" not in engine.get_model("p", "m").spec.feature_names
