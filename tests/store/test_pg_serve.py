"""``mlwarden serve --store postgresql://...`` end to end: register, ingest (a re-send stored
once), a reference from a window, monitors set up, evaluation, results; all in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from pgserver import PostgresServer
from serverproc import ServerProcess


@pytest.fixture(scope="module")
def pg_url(pg_server: PostgresServer) -> str:
    return pg_server.create_database("serve_e2e")


@pytest.fixture(scope="module")
def served(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("pg-serve"), "--store", pg_url).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_register_ingest_evaluate_results(served: ServerProcess, pg_url: str) -> None:
    with httpx.Client(base_url=served.url, timeout=120) as c:
        _journey(c, pg_url)


def _journey(c: httpx.Client, pg_url: str) -> None:
    assert c.get("/v1/health").json()["engine"] == "postgres"
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
    assert {r["window_start"][:10] for r in volume} >= {f"2026-11-{d:02d}" for d in range(4, 11)}
    assert all(r["n"] == 600 for r in volume)
    for path in ("/ui/models/m", "/ui"):  # pages: roll-ups and markers from PostgreSQL
        page = c.get(path, follow_redirects=True)
        assert page.status_code == 200, (path, page.text[:300])
    with psycopg.connect(pg_url) as con:  # where it all went
        (events,) = con.execute('SELECT count(*) FROM "events_1"').fetchone() or (0,)
        (stored,) = con.execute("SELECT count(*) FROM results").fetchone() or (0,)
    assert events == 6000 and stored >= len(results)
