"""The DuckDB engine: catalog, idempotent group-committed ingest, evolution, retention."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from mlwarden.errors import ConflictError, NotFoundError, StorageError
from mlwarden.schema import Feature, ModelSpec, validate_rows
from mlwarden.schema.batch import Rejection, validate_actual_rows
from mlwarden.store import DuckDBStore, IngestResult, ModelRecord, Store, open_store
from mlwarden.store import queries as q
from mlwarden.store.writer import GroupCommitWriter

SPEC = ModelSpec(
    name="m", task="binary", classes=[0, 1], features=[Feature(name="x", kind="numeric")]
)


def append(
    store: DuckDBStore | Store, m: ModelRecord, items: list[dict[str, object]]
) -> IngestResult:
    batch = validate_rows(m.spec, items)
    return store.append_events(m, batch.table, stamped=batch.stamped).result()


def rows(ids: range, **extra: object) -> list[dict[str, object]]:
    return [
        {"event_id": f"e{i}", "features": {"x": float(i)}, "prediction": i % 2, **extra}
        for i in ids
    ]


def test_events_are_idempotent_and_persist(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    m = store.create_model("p", SPEC)
    first = append(store, m, rows(range(100)))
    again = append(store, m, rows(range(50, 150)))
    inside = append(store, m, rows(range(150, 160)) * 2)
    assert (first.inserted, again.inserted, again.duplicates) == (100, 50, 50)
    assert (inside.received, inside.inserted) == (20, 10)
    store.close()
    store = open_store(tmp_path)
    m = store.get_model("p", "m")
    assert store.events(m).count().to_pyarrow().as_py() == 160
    assert [v.version for v in store.list_versions("p", "m")] == ["default"]
    store.close()


def test_idempotency_key_is_the_id_at_its_time() -> None:
    store = DuckDBStore(dedup_lookback_days=1)
    m = store.create_model("p", SPEC)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    stamped = rows(range(3))  # no timestamp: stamped on arrival, looked for over the look-back
    assert append(store, m, stamped).inserted == 3
    assert append(store, m, stamped).inserted == 0
    timed = rows(range(10, 13), timestamp=t0.isoformat())
    assert append(store, m, timed).inserted == 3
    assert append(store, m, timed).inserted == 0
    # the same id sent with another time is another event (documented)
    moved = rows(range(10, 11), timestamp=(t0 + timedelta(days=3)).isoformat())
    assert append(store, m, moved).inserted == 1
    store.close()


def test_schema_evolution_adds_columns_and_features() -> None:
    store = DuckDBStore()
    m = store.create_model("p", SPEC)
    batch = validate_rows(
        SPEC, [{"event_id": "a", "features": {"x": 1, "color": "red"}, "prediction": 1}]
    )
    store.append_events(m, batch.table).result()
    m2 = store.get_model("p", "m")
    assert m2.spec.feature_names == ("x", "color")
    later = validate_rows(m2.spec, [{"event_id": "b", "features": {"x": 2}, "prediction": 0}])
    store.append_events(m2, later.table).result()
    colors = store.events(m2).color.to_pyarrow().to_pylist()
    assert sorted(colors, key=str) == ["red", None] or sorted(map(str, colors)) == ["None", "red"]
    store.close()


def test_actuals_join_and_latest_label_wins() -> None:
    store = DuckDBStore()
    m = store.create_model("p", SPEC)
    append(store, m, rows(range(10)))
    store.append_actuals(
        m, validate_actual_rows(SPEC, [{"event_id": "e1", "actual": 0}]).table
    ).result()
    store.append_actuals(
        m, validate_actual_rows(SPEC, [{"event_id": "e1", "actual": 1}]).table
    ).result()
    conf = q.confusion_counts(store.events(m), store.actuals(m)).to_pylist()
    assert conf == [{"prediction": "1", "actual": "1", "n": 1}]
    store.close()


def test_catalog_conflicts_and_not_found() -> None:
    store = DuckDBStore()
    store.create_model("p", SPEC)
    assert store.create_model("p", SPEC).spec == SPEC  # same spec: idempotent
    other = SPEC.model_copy(update={"features": (Feature(name="y", kind="numeric"),)})
    with pytest.raises(ConflictError, match="replace"):
        store.create_model("p", other)
    assert store.create_model("p", other, replace=True).spec.feature_names == ("y",)
    with pytest.raises(ConflictError, match="task"):
        store.create_model(
            "p",
            ModelSpec.model_validate({**SPEC.model_dump(), "task": "regression", "classes": []}),
            replace=True,
        )
    with pytest.raises(NotFoundError, match="'nope'"):
        store.get_model("p", "nope")
    with pytest.raises(NotFoundError):
        store.get_model("other-project", "m")
    with pytest.raises(NotFoundError, match="no reference"):
        store.get_reference("p", "m")
    store.close()


def test_references_roundtrip() -> None:
    store = DuckDBStore()
    store.create_model("p", SPEC)
    ref = pa.table({"x": [1.0, 2.0], "ts": pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * 2)})
    rec = store.put_reference("p", "m", ref, version="v1", name="train")
    got_rec, got = store.get_reference("p", "m", version="v1")
    assert got_rec == rec and got.column("x").to_pylist() == [1.0, 2.0]
    store.close()


def test_quarantine_and_retention() -> None:
    store = DuckDBStore(retention_days=7)
    m = store.create_model("p", SPEC)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    old = rows(range(5), timestamp=(now - timedelta(days=10)).isoformat())
    new = rows(range(5, 8), timestamp=(now - timedelta(days=1)).isoformat())
    append(store, m, old + new)
    assert store.apply_retention(now=now) == 5
    assert store.events(m).count().to_pyarrow().as_py() == 3
    store.quarantine("p", "m", "events", [Rejection(3, "features.x", "bad", {"x": "a"})]).result()
    (row,) = store.quarantined("p", "m").to_pylist()
    assert (row["row_index"], row["field"], row["payload"]) == (3, "features.x", '{"x": "a"}')
    store.close()


def test_second_process_gets_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    store = open_store(tmp_path)
    code = (
        "from mlwarden.store import open_store\n"
        "from mlwarden.errors import StorageError\n"
        f"try:\n    open_store({str(tmp_path)!r})\nexcept StorageError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "ERR" in out.stdout and "HTTP" in out.stdout
    store.close()


def test_group_commit_batches_and_isolates_failures() -> None:
    groups: list[int] = []

    def commit(reqs: list[object]) -> list[object]:
        groups.append(len(reqs))
        if any(r.payload == "poison" for r in reqs):
            raise RuntimeError("poisoned")
        return [r.payload for r in reqs]

    w = GroupCommitWriter(commit, interval=0.2, idle=0.1)
    futures = [w.submit("x", None, i, 1) for i in range(20)]
    bad = w.submit("x", None, "poison", 1)
    assert [f.result(10) for f in futures] == list(range(20))
    with pytest.raises(StorageError, match="poisoned"):
        bad.result(10)
    assert groups[0] > 1  # requests shared a commit
    w.close()
    with pytest.raises(StorageError, match="closed"):
        w.submit("x", None, 1, 1)


def test_concurrent_writers_and_readers() -> None:
    store = DuckDBStore()
    m = store.create_model("p", SPEC)
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for j in range(10):
                base = k * 1000 + j * 100
                store.append_events(
                    m, validate_rows(SPEC, rows(range(base, base + 100))).table
                ).result()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def read() -> None:
        try:
            for _ in range(20):
                q.event_counts(store.events(m), store.actuals(m), window="day")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)] + [
        threading.Thread(target=read) for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.events(m).count().to_pyarrow().as_py() == 4000
    store.close()


def test_a_file_from_before_late_event_marks_gets_the_column(tmp_path: Path) -> None:
    import duckdb

    store = open_store(tmp_path)
    store.create_model("p", SPEC)
    store.put_suite("p", "m", "spec: {}", "{}")
    path = store.path
    store.close()
    con = duckdb.connect(str(path))  # the table as the first release made it
    con.execute("ALTER TABLE monitor_suites DROP COLUMN events_seen_until")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    store = open_store(tmp_path)
    try:
        assert store.get_suite("p", "m").events_seen_until is None
        when = datetime(2026, 3, 1, 12, tzinfo=UTC)
        store.mark_evaluated("p", "m", events_until=when)
        assert store.get_suite("p", "m").events_seen_until == when.replace(tzinfo=None)
        store.put_suite("p", "m", "spec: {}", "{}")  # re-applying keeps working
        assert store.get_suite("p", "m")[2] is None
    finally:
        store.close()
