"""The commit ledger on real files: one store keeps it; a second store of the same process on
the same database writes beside it without false loss reports."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.store import DuckDBStore

SPEC = ModelSpec(name="m", task="regression", features=[Feature(name="x", kind="numeric")])


def _batch(k: int) -> pa.Table:
    t = pa.table(
        {
            "event_id": [f"{k}-{i}" for i in range(100)],
            "timestamp": pa.array(
                [1_770_000_000_000_000 + k * 1000 + i for i in range(100)], pa.timestamp("us")
            ),
            "prediction": [float(i) for i in range(100)],
            "x": [float(i) for i in range(100)],
        }
    )
    return validate_table(SPEC, t).table


def test_two_stores_on_one_file_do_not_report_false_losses(tmp_path: Path) -> None:
    """Two monitors writing to one data directory from one process (in turns: DuckDB refuses
    concurrent catalog writes from two stores, as before)."""
    path = tmp_path / "mlwarden.duckdb"
    a = DuckDBStore(path)
    model = a.create_model("default", SPEC)
    b = DuckDBStore(path)
    assert b.warnings() == []
    for k, store in enumerate([a, b, a, b, a]):
        store.append_events(model, _batch(k)).result()
    a.close()  # the store keeping the ledger goes first
    b.append_events(model, _batch(5)).result()
    b.close()
    again = DuckDBStore(path)
    try:
        assert again.warnings() == []
        assert again.events(again.get_model("default", "m")).count().to_pyarrow().as_py() == 600
    finally:
        again.close()


def test_a_database_behind_its_ledger_is_reported(tmp_path: Path) -> None:
    """A backup restored over a newer database: the ledger remembers more commits."""
    path = tmp_path / "mlwarden.duckdb"
    store = DuckDBStore(path)
    model = store.create_model("default", SPEC)
    store.append_events(model, _batch(0)).result()
    store.close()
    backup = path.read_bytes()
    store = DuckDBStore(path)
    store.append_events(model, _batch(1)).result()
    store.append_events(model, _batch(2)).result()
    store.close()
    path.write_bytes(backup)
    store = DuckDBStore(path)
    try:
        (warning,) = store.warnings()
        assert "2 acknowledged commits (200 rows) are missing" in warning
    finally:
        store.close()
    assert len(list(tmp_path.glob("mlwarden.duckdb.loss-*.json"))) == 1
