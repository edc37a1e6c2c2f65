"""Models are deleted (with every row of theirs, in every table) and renamed, versions and
references deleted, over the API and the CLI, on the real server; other models untouched."""

from __future__ import annotations

import getpass
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serverproc import ServerProcess

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _reference(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 600)
    pq.write_table(
        pa.table(
            {
                "x": rng.normal(size=600),
                "c": rng.choice(["a", "b"], 600),
                "prediction": np.where(rng.random(600) < 0.9, y, 1 - y),
                "outcome": y,
            }
        ),
        path,
    )
    return path


def _events(http: httpx.Client, model: str, *, shift: float, version: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for i in range(400):
        y = int(rng.integers(0, 2))
        eid = f"{model}-{version}-{i}"
        rows.append(
            {
                "event_id": eid,
                "timestamp": (T0 + timedelta(minutes=i * 0.1)).isoformat(),
                "version": version,
                "features": {"x": float(rng.normal() + shift), "c": "a" if i % 3 else "b"},
                "prediction": y if rng.random() < 0.9 else 1 - y,
            }
        )
        labels.append({"event_id": eid, "actual": y})
    rows.append({"event_id": f"{model}-bad", "prediction": 9})  # quarantined
    r = http.post(f"/v1/models/{model}/events", json=rows)
    assert r.status_code in (200, 207, 422), r.text
    assert http.post(f"/v1/models/{model}/actuals", json=labels).is_success


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("lifecycle"), "--evaluate-every", "0").start()
    try:
        yield srv
    finally:
        srv.stop()


def _rows_of(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, int]:
    """Rows naming model ``name`` in every table that has a model column, by table."""
    out: dict[str, int] = {}
    for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
        cols = {r[0] for r in con.execute(f'DESCRIBE "{t}"').fetchall()}
        if "model" in cols:
            (n,) = con.execute(f'SELECT count(*) FROM "{t}" WHERE model = ?', [name]).fetchone()
            if n:
                out[t] = n
    return out


def _orphans(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Per-model and per-reference tables, and roll-up rows, that no model or reference owns."""
    models = {r[0] for r in con.execute("SELECT uid FROM models").fetchall()}
    refs = {r[0] for r in con.execute("SELECT uid FROM refs").fetchall()}
    out = []
    for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
        kind, _, num = t.rpartition("_")
        if kind in ("events", "actuals") and num.isdigit() and int(num) not in models:
            out.append(t)
        if kind == "ref" and num.isdigit() and int(num) not in refs:
            out.append(t)
        if t.startswith("rollup"):
            uids = {r[0] for r in con.execute(f'SELECT DISTINCT uid FROM "{t}"').fetchall()}
            out += [f"{t}:{u}" for u in uids - models]
    ids = {r[0] for r in con.execute("SELECT id FROM incidents").fetchall()}
    for t in ("deliveries", "action_runs"):
        used = {r[0] for r in con.execute(f"SELECT DISTINCT incident_id FROM {t}").fetchall()}
        out += [f"{t}:{i}" for i in used - ids - {None}]
    return out


def _uid_of(data_dir: Path, name: str) -> int:
    con = duckdb.connect(str(next(data_dir.glob("*.duckdb"))), read_only=True)
    try:
        (uid,) = con.execute("SELECT uid FROM models WHERE name = ?", [name]).fetchone()
        return int(uid)
    finally:
        con.close()


def test_delete_rename_and_what_is_left(server: ServerProcess, tmp_path: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as http:
        _play(server, http, tmp_path)
    server.stop()
    _check_file(server)


def _play(server: ServerProcess, http: httpx.Client, tmp_path: Path) -> None:
    for name, seed in (("gone", 1), ("kept", 2)):
        r = cli(
            "models", "register", str(_reference(tmp_path / f"{name}.parquet", seed)),
            "--name", name, "--url", server.url,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "Target: column 'outcome'" in r.stderr and "monitors" in r.stdout
    _events(http, "gone", shift=4.0, version="v1", seed=3)  # drifts: an incident
    _events(http, "kept", shift=0.0, version="v1", seed=4)
    _events(http, "kept", shift=0.0, version="v2", seed=5)
    span = {"start": T0.isoformat(), "end": (T0 + timedelta(days=1)).isoformat()}
    for name in ("gone", "kept"):
        assert http.post(f"/v1/models/{name}/evaluate", json=span).json()["results"] > 0
    incidents = http.get("/v1/incidents", params={"model": "gone"}).json()["items"]
    assert incidents, "the drift of 'gone' should have opened an incident"
    r = cli("incidents", "snooze", str(incidents[0]["id"]), "--hours", "2", "--url", server.url)
    assert r.returncode == 0 and "silenced until" in r.stdout, r.stderr
    timeline = http.get(f"/v1/incidents/{incidents[0]['id']}").json()["timeline"]
    assert timeline[-1]["event"] == "snoozed" and timeline[-1]["by"] == getpass.getuser()

    # a delete without --yes and without a terminal asks for --yes and deletes nothing
    r = cli("models", "delete", "gone", "--url", server.url)
    assert r.returncode == 2 and "--yes" in r.stderr
    assert http.get("/v1/models/gone").status_code == 200

    # version, reference, rename: on 'kept'
    r = http.delete("/v1/models/kept/versions/v2")
    assert r.status_code == 200 and r.json()["removed"]["events"] == 400, r.text
    assert http.delete("/v1/models/kept/versions/v9").status_code == 404
    counts = http.get("/v1/models/kept/counts", params={"window": "all"}).json()
    assert [c["version"] for c in counts] == ["v1"] and counts[0]["events"] == 400
    refs = http.get("/v1/models/kept/references").json()
    assert http.delete(f"/v1/models/kept/references/{refs[0]['id']}").status_code == 204
    assert len(http.get("/v1/models/kept/references").json()) == len(refs) - 1
    r = cli("models", "rename", "kept", "kept2", "--url", server.url)
    assert r.returncode == 0, r.stderr
    assert http.get("/v1/models/kept").status_code == 404
    assert http.get("/v1/models/kept2/monitors").status_code == 200
    assert http.get("/v1/models/kept2/results").json()
    assert http.patch("/v1/models/kept2", json={"name": "bad name!"}).status_code == 422

    r = cli("models", "delete", "gone", "--yes", "--url", server.url)
    assert r.returncode == 0 and "Deleted model 'gone'" in r.stdout, r.stderr
    assert http.get("/v1/models/gone").status_code == 404
    r = http.get("/v1/incidents", params={"model": "gone"})
    assert r.status_code == 404 or r.json()["items"] == [], r.text
    assert http.delete("/v1/models/gone").status_code == 404
    # the name is free again
    r = cli(
        "models", "register", str(tmp_path / "gone.parquet"), "--name", "gone",
        "--no-monitors", "--url", server.url,
    )  # fmt: skip
    assert r.returncode == 0 and "monitors" not in r.stdout, r.stderr
    assert http.get("/v1/models/gone/counts", params={"window": "all"}).json() == []
    assert http.delete("/v1/models/gone").status_code == 200


def _check_file(server: ServerProcess) -> None:
    kept_uid = _uid_of(server.data_dir, "kept2")

    db = next(server.data_dir.glob("*.duckdb"))
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert _rows_of(con, "gone") == {}
        assert _orphans(con) == []
        kept = _rows_of(con, "kept2")
        assert _rows_of(con, "kept") == {}
        for table in ("results", "monitor_suites", "quarantine"):
            assert kept.get(table), (table, kept)
        assert con.execute(
            "SELECT count(*) FROM events_" + str(kept_uid) + " WHERE version = 'v1'"
        ).fetchone() == (400,)
    finally:
        con.close()
