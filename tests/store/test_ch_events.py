"""The ClickHouse event engine (chDB in this process): exact quantiles where ibis would sample,
re-sent rows counted once before ClickHouse merges them, labels latest-wins, the table design.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from mlwarden._lazy import ibis
from mlwarden.errors import ConfigError
from mlwarden.schema import Feature, ModelSpec, validate_rows
from mlwarden.schema.batch import validate_actual_rows
from mlwarden.store import DuckDBStore, Store, open_store
from mlwarden.store import aggregates as agg
from mlwarden.store.ch_connection import ClickHouseTarget
from mlwarden.store.queries import column_summary
from pgserver import PostgresServer

T0 = datetime(2026, 3, 1, tzinfo=UTC)
#: more than the 8,192 values ClickHouse's `quantile` keeps per group
N = 20_000
SPEC = ModelSpec(name="m", task="regression", features=[Feature(name="x", kind="numeric")])


def _rows(n: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "event_id": f"e{i}",
            "timestamp": (T0 + timedelta(seconds=i % 3600)).isoformat(),
            "features": {"x": float(rng.lognormal(0, 2))},
            "prediction": float(i),
            "latency_ms": float(np.round(rng.lognormal(3, 1.0), 3)),
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def pair(chdb_url: Callable[[str], str]) -> Iterator[tuple[Store, Store]]:
    duck: Store = DuckDBStore(":memory:")
    ch = open_store(None, events=chdb_url("ch_events"))
    rows = _rows(N)
    for s in (duck, ch):
        m = s.create_model("p", SPEC)
        s.append_events(m, validate_rows(SPEC, rows).table).result()
    yield duck, ch
    duck.close()
    ch.close()


def test_quantiles_of_a_large_window_are_exact(pair: tuple[Store, Store]) -> None:
    """ibis' ClickHouse `quantile` samples 8,192 values: over 20,000 it is off; the engine's
    compiler makes it ``quantileExactInclusive``, DuckDB's numbers."""
    duck, ch = pair
    want = column_summary(duck.events(duck.get_model("p", "m")), "x", numeric=True)
    got = column_summary(ch.events(ch.get_model("p", "m")), "x", numeric=True)
    for k in ("p50", "p95", "p99"):
        assert got[k] == pytest.approx(want[k], rel=1e-12), k
    assert (got["n"], got["nulls"]) == (want["n"], want["nulls"]) == (N, 0)

    # the plain ibis backend over the same table: ClickHouse's sampling quantile
    plain = ibis.clickhouse.from_connection(
        ClickHouseTarget(ch.events_.url).client(database=ch.events_.database_)  # type: ignore[attr-defined]
    )
    t = plain.table(f"events_{ch.get_model('p', 'm').uid}")
    sampled = t.x.quantile(0.99).to_pyarrow().as_py()
    assert sampled != pytest.approx(want["p99"], rel=1e-9)


def test_window_volumes_of_a_large_window_match_duckdb_bit_for_bit(
    pair: tuple[Store, Store],
) -> None:
    run = agg.WindowRun(origin=T0, cadence=timedelta(hours=1), first=0, last=0)
    got = [agg.collect(s, s.get_model("p", "m"), [agg.Volume()], run)[agg.Volume()] for s in pair]
    assert got[0][0]["n"] == N
    for k in ("n", "latency_n", "errors", "ids", "p50", "p95", "p99"):
        assert got[1][0][k] == got[0][0][k], k
        assert type(got[1][0][k]) is type(got[0][0][k]), k  # ints, not numpy's UInt64


def test_rows_stored_twice_count_once_before_any_merge(chdb_url: Callable[[str], str]) -> None:
    """Another server process storing the same rows at the same moment (both looked before
    either inserted): two parts hold them until ClickHouse merges; reads are exact already."""
    store = open_store(None, events=chdb_url("ch_twice"))
    try:
        m = store.create_model("p", SPEC)
        table = validate_rows(SPEC, _rows(50)).table
        assert store.append_events(m, table).result().inserted == 50
        racer = ClickHouseTarget(chdb_url("ch_twice")).client(database="ch_twice")
        racer.command("SYSTEM STOP MERGES")
        stored = racer.query_arrow(f"SELECT * FROM events_{m.uid}")
        racer.insert_arrow(f"events_{m.uid}", stored)  # the racing process's copy
        raw = racer.command(f"SELECT count() FROM events_{m.uid}")
        assert int(raw) == 100  # on disk twice
        ev = store.events(m)
        assert int(ev.count().to_pyarrow().as_py()) == 50
        assert int(ev.event_id.nunique().to_pyarrow().as_py()) == 50
        run = agg.WindowRun(origin=T0, cadence=timedelta(hours=1), first=0, last=0)
        assert agg.collect(store, m, [agg.Volume()], run)[agg.Volume()][0]["n"] == 50
        racer.command("SYSTEM START MERGES")
    finally:
        store.close()


def test_the_latest_label_wins_before_any_merge(chdb_url: Callable[[str], str]) -> None:
    store = open_store(None, events=chdb_url("ch_labels"))
    try:
        m = store.create_model("p", SPEC)
        store.append_events(m, validate_rows(SPEC, _rows(10)).table).result()
        for value in (1.0, 2.0, 3.0):
            labels = [{"event_id": "e4", "actual": value}, {"event_id": "e5", "actual": -value}]
            store.append_actuals(m, validate_actual_rows(SPEC, labels).table).result()
        ac = store.actuals(m).order_by("event_id").select("event_id", "actual_value")
        assert ac.to_pyarrow().to_pylist() == [
            {"event_id": "e4", "actual_value": 3.0},
            {"event_id": "e5", "actual_value": -3.0},
        ]
    finally:
        store.close()


def test_tables_are_made_for_clickhouse(chdb_url: Callable[[str], str]) -> None:
    store = open_store(None, events=chdb_url("ch_ddl"), retention_days=30)
    try:
        m = store.create_model("p", SPEC)
        client = ClickHouseTarget(chdb_url("ch_ddl")).client(database="ch_ddl")
        ddl = client.command(f"SHOW CREATE TABLE events_{m.uid}")
        for part in (
            "ReplacingMergeTree",
            "PARTITION BY toDate(ts)",
            "ORDER BY (ts, event_id, version)",
            "TTL toDateTime(ts) + toIntervalSecond(2592000)",
        ):
            assert part in ddl, part
        assert "ReplacingMergeTree(_seq)" in client.command(f"SHOW CREATE TABLE actuals_{m.uid}")
    finally:
        store.close()


def test_a_bad_events_url_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="--events"):
        ClickHouseTarget("chdb://")
    with pytest.raises(ConfigError, match="database"):
        ClickHouseTarget("clickhouse://localhost:8123/bad-name")
    with pytest.raises(ConfigError, match="events=URL"):
        open_store(None, engine="clickhouse")


def test_deleting_a_model_drops_its_tables(chdb_url: Callable[[str], str]) -> None:
    store = open_store(None, events=chdb_url("ch_drop"))
    try:
        m = store.create_model("p", SPEC)
        store.append_events(m, validate_rows(SPEC, _rows(7)).table).result()
        removed = store.delete_model("p", "m")
        assert removed["events"] == 7
        client = ClickHouseTarget(chdb_url("ch_drop")).client(database="ch_drop")
        tables = [r[0] for r in client.query("SHOW TABLES").result_rows]
        assert tables and not [t for t in tables if t.startswith(f"events_{m.uid}")]
    finally:
        store.close()


def test_request_slos_count_the_events_in_clickhouse(pair: tuple[Store, Store]) -> None:
    """SLOs over a model's requests read its events where they are (not the primary's empty
    table); over probes, the primary's."""
    duck, ch = pair
    until = T0 + timedelta(hours=1)
    windows = [timedelta(minutes=10), timedelta(hours=2)]
    for threshold in (None, 30.0):
        kw: dict[str, Any] = {"source": "requests", "threshold_ms": threshold}
        want = duck.slo_counts("p", "m", until=until, windows=windows, **kw)  # type: ignore[attr-defined]
        got = ch.slo_counts("p", "m", until=until, windows=windows, **kw)  # type: ignore[attr-defined]
        assert got == want and want[timedelta(hours=2)][1] > 0
        span = {"since": T0 - timedelta(hours=1), "until": until, "step": timedelta(minutes=15)}
        assert ch.slo_series("p", "m", **span, **kw) == duck.slo_series("p", "m", **span, **kw)  # type: ignore[attr-defined]
    assert ch.list_probes() == []  # type: ignore[attr-defined]


def test_events_in_clickhouse_under_a_postgresql_catalog(
    chdb_url: Callable[[str], str], pg_server: PostgresServer
) -> None:
    """``serve --store postgresql://... --events ...``: the catalog (versions included) in
    PostgreSQL, the events in ClickHouse, removal in both."""
    store = open_store(pg_server.create_database("ch_catalog"), events=chdb_url("ch_over_pg"))
    try:
        m = store.create_model("p", SPEC)
        rows = _rows(30)
        v1 = validate_rows(SPEC, [{**r, "version": "v1"} for r in rows[:20]]).table
        v2 = validate_rows(SPEC, [{**r, "version": "v2"} for r in rows[20:]]).table
        assert store.append_events(m, v1).result().inserted == 20
        assert store.append_events(m, v1).result().inserted == 0
        assert store.append_events(m, v2).result().inserted == 10
        assert {v.version for v in store.list_versions("p", "m")} == {"v1", "v2"}
        removed = store.delete_version("p", "m", "v2")
        assert removed["events"] == 10
        assert int(store.events(m).count().to_pyarrow().as_py()) == 20
        assert {v.version for v in store.list_versions("p", "m")} == {"v1"}
        assert store.append_events(m, v2).result().inserted == 10  # the version comes back
        assert {v.version for v in store.list_versions("p", "m")} == {"v1", "v2"}
    finally:
        store.close()
