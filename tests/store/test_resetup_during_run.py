"""Monitors set up again while the scheduler evaluates the ones they replace: the set-up resets
the model's marks (every window is evaluated again with the new monitors), and the running
pass of the old monitors must not move them back, or the new monitors' windows up to that
mark are never evaluated (found by killing the scheduler's holder of two PostgreSQL servers:
a reference from a window sets monitors up at the default cadence, the scheduler starts on
them, and the set-up at another cadence right after lost its reset)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mlwarden.monitors import service
from mlwarden.schema import Feature, ModelSpec, validate_rows
from mlwarden.store import DuckDBStore, PostgresStore, Store
from pgserver import PostgresServer

SPEC = ModelSpec(name="m", task="regression", features=[Feature(name="x", kind="numeric")])
T0 = datetime(2026, 3, 2, tzinfo=UTC)
NOW = T0 + timedelta(days=3)


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "duckdb":
        s: Store = DuckDBStore()
    else:
        pg: PostgresServer = request.getfixturevalue("pg_server")
        s = PostgresStore(pg.create_database("resetup"))
    try:
        yield s
    finally:
        s.close()


def test_a_set_up_during_a_run_keeps_its_reset_and_no_window_is_skipped(store: Store) -> None:
    model = store.create_model("p", SPEC)
    rows = [
        {
            "event_id": f"e{i}",
            "timestamp": (T0 + i * timedelta(minutes=10)).isoformat(),
            "features": {"x": (i * 37 % 101) / 101},
            "prediction": (i * 53 % 97) / 97,
        }
        for i in range(3 * 24 * 6)
    ]
    store.append_events(model, validate_rows(SPEC, rows).table).result()
    store.put_reference("p", "m", store.events(model).limit(144).to_pyarrow())
    service.setup_suite(store, "p", "m", cadence="1h")
    asked = [0]

    def set_up_again_meanwhile() -> bool:  # the scheduler asks before each chunk
        asked[0] += 1
        if asked[0] == 2:  # the pass has read the 1h monitors: someone sets up 15m ones
            service.setup_suite(store, "p", "m", cadence="15m")
        return False

    service.run_due(store, now=NOW, stop=set_up_again_meanwhile)
    assert asked[0] >= 2
    # the old pass did not move the marks the set-up reset
    assert store.get_suite("p", "m").evaluated_until is None
    service.run_due(store, now=NOW)  # the next round: the new monitors, every window
    assert store.get_suite("p", "m").evaluated_until == NOW.replace(tzinfo=None)
    results = store.results().to_pyarrow().to_pylist()
    quarter = timedelta(minutes=15)
    starts = [
        r["window_start"]
        for r in results
        if r["monitor"] == "duplicate_ids" and r["window_end"] - r["window_start"] == quarter
    ]
    assert len(starts) == len(set(starts)) == 3 * 24 * 4  # every 15 min window, once
