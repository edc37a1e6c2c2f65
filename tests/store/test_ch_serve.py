"""``mlwarden serve --events chdb://...`` end to end: register, ingest (a re-send stored
once), a reference from a window, monitors set up, evaluation, results, pages; the catalog and
results in DuckDB, the events and labels in ClickHouse (chDB in the server's process)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from serverproc import ServerProcess, free_port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("ch-serve")
    events = f"chdb://{root / 'clickhouse'}?database=serve_e2e"
    srv = ServerProcess(root / "data", "--events", events).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_register_ingest_evaluate_results(served: ServerProcess) -> None:
    with httpx.Client(base_url=served.url, timeout=120) as c:
        assert c.get("/v1/health").json()["engine"] == "clickhouse"
        spec = {"name": "m", "task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
        assert c.post("/v1/models", json=spec).status_code == 201
        rows = [
            {
                "event_id": f"e{i}",
                "timestamp": f"2026-11-{1 + i % 10:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                "features": {"x": (i * 37 % 101) / 101},
                "prediction": (i * 53 % 97) / 97,
            }
            for i in range(6000)
        ]
        first = c.post("/v1/models/m/events", json=rows).json()
        again = c.post("/v1/models/m/events", json=rows[:1000]).json()
        assert (first["received"], first["duplicates"]) == (6000, 0)
        assert (again["received"], again["duplicates"]) == (1000, 1000)
        labels = [{"event_id": f"e{i}", "actual": 0.5} for i in range(0, 6000, 3)]
        assert c.post("/v1/models/m/actuals", json=labels).status_code in (200, 202)
        window = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-04T00:00:00Z"}
        ref = c.post("/v1/models/m/reference/from-window", json=window)
        assert ref.status_code == 201 and ref.json()["events"] == 1800
        assert c.post("/v1/models/m/monitors/setup", json={"cadence": "1d"}).status_code == 200
        span = {"start": "2026-11-04T00:00:00Z", "end": "2026-11-11T00:00:00Z"}
        done = c.post("/v1/models/m/evaluate", json=span)
        assert done.status_code == 200, done.text
        assert done.json()["results"] > 0
        results = c.get("/v1/models/m/results").json()
        volume = [r for r in results if r["monitor"] == "duplicate_ids"]
        days = {r["window_start"][:10] for r in volume}
        assert days >= {f"2026-11-{d:02d}" for d in range(4, 11)}
        assert all(r["n"] == 600 for r in volume)
        for path in ("/ui/models/m", "/ui"):  # pages: roll-ups computed in ClickHouse
            page = c.get(path, follow_redirects=True)
            assert page.status_code == 200, (path, page.text[:300])
    served.stop()
    _nothing_but_the_catalog_in_duckdb(served.data_dir / "mlwarden.duckdb", len(results))


def _nothing_but_the_catalog_in_duckdb(path: Path, results: int) -> None:
    """The DuckDB file holds the model and its results, and none of its events."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        (uid,) = con.execute("SELECT uid FROM models WHERE name = 'm'").fetchone() or (0,)
        (events,) = con.execute(f'SELECT count(*) FROM "events_{uid}"').fetchone() or (-1,)
        (actuals,) = con.execute(f'SELECT count(*) FROM "actuals_{uid}"').fetchone() or (-1,)
        (stored,) = con.execute("SELECT count(*) FROM results").fetchone() or (0,)
    finally:
        con.close()
    assert (events, actuals) == (0, 0)
    assert stored >= results > 0


def test_a_bad_or_unopenable_events_url_is_one_line(tmp_path: Path) -> None:
    """Not a ClickHouse URL: usage (2); one that cannot be opened: the store's exit (4)."""

    (tmp_path / "file").write_text("not a directory")

    def serve(events: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "mlwarden.cli.main", "serve", "--data-dir", str(tmp_path)]
        return subprocess.run(
            [*cmd, "--port", str(free_port()), "--events", events],
            capture_output=True,
            text=True,
            timeout=120,
        )

    r = serve("mysql://db/x")
    assert r.returncode == 2 and "'--events' option must be a chdb://" in r.stderr
    r = serve(f"chdb://{tmp_path / 'file'}/sub")
    assert r.returncode == 4, r.stderr
    assert "Cannot open the ClickHouse event store" in r.stderr and "Traceback" not in r.stderr
    assert "Stack trace" not in r.stderr
