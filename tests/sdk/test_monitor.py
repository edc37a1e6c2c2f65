"""The monitor in-process: what log() queues, what leaves, and how every row is accounted for."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import mlwarden
from mlwarden.errors import ConfigError, ValidationError
from mlwarden.sdk import Monitor, MonitorStats

from .scripted import Scripted


def monitor(tmp_path: Path, transport: mlwarden.sdk.Transport, **kw: object) -> Monitor:
    options: dict[str, object] = {"spool_dir": tmp_path / "spool", "max_backoff": 0.05}
    return mlwarden.init(model="churn", transport=transport, **(options | kw))  # type: ignore[arg-type]


def at_rest(s: MonitorStats) -> bool:
    return s.logged == s.queued + s.sent + s.rejected + s.spooled + s.dropped


def test_log_queues_flat_wire_columns_and_returns_unique_ids(tmp_path: Path) -> None:
    memory = mlwarden.InMemoryTransport()
    m = monitor(tmp_path, memory, version="v3")
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    a = m.log({"age": 41, "plan": "pro"}, 1, score=0.8, segments={"region": "eu"}, latency_ms=3.5)
    b = m.log({"age": 29, "emb": [0.1, 0.2]}, 0, timestamp=when, status="ok", client_id="c1")
    c = m.log({"age": 33}, "b", scores={"a": 0.2, "b": 0.8}, event_id="mine")
    assert c == "mine" and a != b and len(a) > 16
    assert m.flush(5)
    t = memory.events_table("churn")
    assert t.column("event_id").to_pylist() == [a, b, "mine"]
    assert t.column("version").to_pylist() == ["v3"] * 3
    assert t.column("age").to_pylist() == [41, 29, 33]
    assert t.column("plan").to_pylist() == ["pro", None, None]
    assert t.column("emb").to_pylist()[1] == pytest.approx([0.1, 0.2])
    assert t.column("region").to_pylist() == ["eu", None, None]
    assert t.column("score__b").to_pylist() == [None, None, 0.8]
    assert t.column("prediction").to_pylist() == ["1", "0", "b"]  # (two batches, unified here)
    assert [tb.num_rows for _, tb in memory.events] == [2, 1]  # "b" sent apart from 1 and 0
    assert t.column("timestamp").to_pylist()[1] == when
    assert t.column("client_id").to_pylist() == [None, "c1", None]
    m.close()
    s = m.stats()
    assert (s.logged, s.sent, s.dropped, s.queued) == (3, 3, 0, 0) and at_rest(s)


def test_log_copies_features_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    memory = mlwarden.InMemoryTransport()
    m = monitor(tmp_path, memory)
    features = {"age": 41}
    m.log(features, 1)
    features["age"] = 99  # the caller reuses its dict
    assert m.log(42, 1)  # type: ignore[arg-type]  # not a mapping: counted, not raised
    m.close()
    assert memory.events_table("churn").column("age").to_pylist() == [41]
    s = m.stats()
    assert s.dropped == 1 and "TypeError" in next(iter(s.drop_reasons)) and at_rest(s)
    assert m.log({"age": 1}, 0)  # after close: an id, a count, no error
    assert m.stats().drop_reasons["logged after close()"] == 1


def test_full_queue_drops_the_oldest_and_counts_exactly(tmp_path: Path) -> None:
    memory = mlwarden.InMemoryTransport()
    m = monitor(tmp_path, memory, max_queue=10, batch_size=1000, flush_interval=600)
    ids = [m.log({"i": i}, 1) for i in range(25)]
    s = m.stats()
    assert (s.queued, s.dropped, s.drop_reasons) == (10, 15, {"queue full": 15})
    assert m.flush(5)
    assert memory.events_table("churn").column("event_id").to_pylist() == ids[15:]
    m.close()
    assert at_rest(m.stats())


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow"])
def test_log_batch_from_data_frames(tmp_path: Path, kind: str) -> None:
    data = {
        "id": ["r1", "r2", "r3"],
        "age": [41, 29, 33],
        "region": ["eu", "us", "eu"],
        "pred": [1, 0, 1],
        "proba": [0.9, 0.2, 0.7],
        "label": [1, None, 0],
    }
    frame = {"pandas": pd.DataFrame, "polars": pl.DataFrame, "arrow": pa.table}[kind](data)
    memory = mlwarden.InMemoryTransport()
    m = monitor(tmp_path, memory)
    roles = {"prediction": "pred", "score": "proba", "event_id": "id", "actual": "label"}
    ids = m.log_batch(frame, segments=["region"], **roles)
    assert ids == ["r1", "r2", "r3"]
    generated = m.log_batch(frame, prediction="pred", features=["age"])
    assert len(set(generated)) == 3 and not set(generated) & set(ids)
    m.close()
    t = memory.events_table("churn")
    assert set(t.column_names) == {"event_id", "timestamp", "prediction", "score", "age", "region"}
    assert t.column("score").to_pylist()[:3] == [0.9, 0.2, 0.7]
    actuals = memory.actuals_table("churn")
    assert actuals.column("event_id").to_pylist() == ["r1", "r3"]  # no label yet: not sent
    s = m.stats()
    assert (s.logged, s.sent) == (8, 8) and at_rest(s)


def test_log_batch_names_a_missing_column(tmp_path: Path) -> None:
    m = monitor(tmp_path, mlwarden.InMemoryTransport())
    with pytest.raises(ValidationError, match="'score' column 'proba' is not in the data"):
        m.log_batch(pa.table({"prediction": [1]}), score="proba")
    m.close()


def test_bad_configuration_is_refused_with_the_usual_wording() -> None:
    with pytest.raises(ConfigError, match="The 'batch_size' argument must be >= 1. Got 0 instead."):
        mlwarden.init(model="churn", transport=mlwarden.InMemoryTransport(), batch_size=0)
    with pytest.raises(ConfigError, match="model name"):
        mlwarden.init(model="bad name!", transport=mlwarden.InMemoryTransport())
    with pytest.raises(ConfigError, match="The 'task' argument must be one of binary, multic"):
        mlwarden.init(model="churn", transport=mlwarden.InMemoryTransport(), task="clasification")


def test_unreachable_receiver_spools_then_replays(tmp_path: Path) -> None:
    t = Scripted("retry")
    m = monitor(tmp_path, t)
    ids = [m.log({"i": i}, 1) for i in range(50)]
    m.log_actual(ids[0], 1)
    assert not m.flush(2)
    s = m.stats()
    assert (s.spooled, s.sent, s.queued) == (51, 0, 0)
    files = list((tmp_path / "spool" / "churn").glob("*/*.arrow"))
    assert files and all(f.parent.name.split("-")[0] == str(os.getpid()) for f in files)
    spooled = pa.concat_tables(
        pa.ipc.open_file(str(f)).read_all() for f in files if ".events." in f.name
    )
    assert sorted(spooled.column("event_id").to_pylist()) == sorted(ids)  # plain Arrow IPC files
    t.mode = "ok"
    assert m.flush(5)
    assert sorted(t.ids("churn")) == sorted(ids) and len(t.actuals) == 1
    assert not list((tmp_path / "spool" / "churn").glob("*/*.arrow"))
    m.close()
    assert at_rest(m.stats()) and m.stats().sent == 51


def test_full_spool_drops_the_oldest_batches_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    t = Scripted("retry")
    m = monitor(tmp_path, t, spool_max_mb=0.004)  # ~4 KB: a few batches
    batches = []
    for _ in range(12):
        batches.append([m.log({"i": i, "text": "x" * 40}, 1) for i in range(20)])
        m.flush(0.5)
    s = m.stats()
    assert s.drop_reasons.get("spool full", 0) > 0 and at_rest(s)
    assert any("spool full" in r.message for r in caplog.records if r.levelno == logging.WARNING)
    t.mode = "ok"
    assert m.flush(5)
    m.close()
    s = m.stats()
    assert s.sent + s.dropped == s.logged == 240 and at_rest(s)
    assert set(batches[-1]) <= set(t.ids("churn"))  # the newest survive
    assert not set(batches[0]) & set(t.ids("churn"))  # the oldest went first


def test_too_large_batches_are_split(tmp_path: Path) -> None:
    t = Scripted()
    t.max_rows = 3
    m = monitor(tmp_path, t)
    ids = [m.log({"i": i}, 1) for i in range(20)]
    assert m.flush(5)
    m.close()
    assert sorted(t.ids("churn")) == sorted(ids)
    assert max(tb.num_rows for _, tb in t.events) <= 3


def test_refused_batches_are_dropped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    t = Scripted("fail")
    m = monitor(tmp_path, t)
    for _ in range(3):
        for i in range(10):
            m.log({"i": i}, 1)
        assert m.flush(5)
    m.close()
    s = m.stats()
    assert s.dropped == 30 and s.spooled == 0 and at_rest(s)
    assert list(s.drop_reasons) == ["HTTP 401 AuthError: The API key is unknown."]
    assert sum("401" in r.message for r in caplog.records) == 1


def test_a_transport_that_raises_is_retried(tmp_path: Path) -> None:
    t = Scripted("crash")
    m = monitor(tmp_path, t)
    ids = [m.log({"i": i}, 1) for i in range(5)]
    assert not m.flush(2) and m.stats().spooled == 5
    t.mode = "ok"
    assert m.flush(5)
    m.close()
    assert sorted(t.ids("churn")) == sorted(ids)


def test_missing_model_is_registered_when_the_task_is_known(tmp_path: Path) -> None:
    t = Scripted()
    t.known = set()
    m = monitor(tmp_path, t, task="binary", create=True)
    m.log({"age": 41}, 1, segments={"region": "eu"})
    assert m.flush(5)
    m.close()
    (spec,) = t.registered
    assert (spec.name, spec.task.value, spec.segments) == ("churn", "binary", ("region",))
    assert m.stats().sent == 1


def test_missing_model_without_a_task_is_dropped_and_explained(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    t = Scripted()
    t.known = set()
    m = monitor(tmp_path, t)
    m.log({"age": 41}, 1)
    assert m.flush(5)
    m.close()
    assert not t.registered and m.stats().dropped == 1
    assert any("create=True and task=" in r.message for r in caplog.records)


def test_spool_of_an_ended_process_is_adopted(tmp_path: Path) -> None:
    down = Scripted("retry")
    first = monitor(tmp_path, down)
    ids = [first.log({"i": i}, 1) for i in range(30)]
    first.close(timeout=1)  # undeliverable: kept on disk, the directory's lock released
    assert first.stats().spooled == 30
    up = Scripted()
    second = monitor(tmp_path, up)
    assert second.flush(5)
    second.close()
    assert sorted(up.ids("churn")) == sorted(ids)
    assert list((tmp_path / "spool" / "churn").iterdir()) == []


def test_a_live_spool_is_not_adopted(tmp_path: Path) -> None:
    first = monitor(tmp_path, Scripted("retry"))
    first.log({"i": 1}, 1)
    first.flush(1)
    up = Scripted()
    second = monitor(tmp_path, up)
    assert second.flush(2)
    assert up.events == [] and first.stats().spooled == 1
    second.close()
    first.close(timeout=0.5)


def test_resource_sampler_logs_to_the_companion_model(tmp_path: Path) -> None:
    from mlwarden.sdk.resources import ResourceSampler

    t = Scripted()
    t.known = set()
    m = monitor(tmp_path, t)
    ResourceSampler(m, interval=60).log_sample()
    assert m.flush(5)
    m.close()
    (spec,) = t.registered
    assert spec.name == "churn.resources" and spec.segments == ("host",)
    row = t.rows("churn.resources").to_pylist()[0]
    assert (
        row["process_rss_bytes"] > 0
        and row["host"]
        and row["client_id"].endswith(f":{os.getpid()}")
    )


def test_resource_interval_starts_a_sampler(tmp_path: Path) -> None:
    memory = mlwarden.InMemoryTransport()
    m = monitor(tmp_path, memory, resource_interval=0.05)
    from .conftest import wait_for

    wait_for(lambda: m.stats().logged >= 2, what="samples")
    m.close()
    assert memory.events_table("churn.resources").num_rows >= 2
