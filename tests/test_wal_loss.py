"""A write-ahead log cut short after SIGKILL: the WAL is folded within seconds, so nothing
acknowledged waits in it for long, and acknowledged commits that did not survive are reported
(log, /v1/health, a report file) instead of silently missing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from serverproc import ServerProcess
from test_server import ARROW, event_table, ipc, register

BATCHES, ROWS = 120, 500  # 60,000 acknowledged events


def _wal(data: Path) -> Path:
    return data / "mlwarden.duckdb.wal"


def _ingest(srv: ServerProcess) -> None:
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        for k in range(BATCHES):
            r = http.post(
                "/v1/models/churn/events",
                content=ipc(event_table(k * ROWS, ROWS, seed=k)),
                headers=ARROW,
            )
            assert r.status_code == 200, r.text


def _events(srv: ServerProcess) -> int:
    counts = httpx.get(
        f"{srv.url}/v1/models/churn/counts", params={"window": "all"}, timeout=60
    ).json()
    return sum(c["events"] for c in counts)


def _registered(data: Path) -> None:
    """A model whose registration is in the database file itself (clean stop checkpoints)."""
    srv = ServerProcess(data).start()
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        register(http)
    srv.stop()


def _tear(wal: Path) -> int:
    """Cut the WAL in the middle of a record, as a disk fault or a copy of a live file does."""
    size = wal.stat().st_size
    os.truncate(wal, size // 2 + 3)
    return size


def test_a_torn_wal_is_reported_loudly_not_silently(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _registered(data)
    # checkpoints by size only (DuckDB's 256 MB): every acknowledged event waits in the WAL
    srv = ServerProcess(data, "--checkpoint-after", "0").start()
    _ingest(srv)
    srv.kill()
    assert _tear(_wal(data)) > 1_000_000

    srv = ServerProcess(data).start()
    try:
        health = httpx.get(f"{srv.url}/v1/health", timeout=30).json()
        survived = _events(srv)
    finally:
        srv.stop()
    assert survived < BATCHES * ROWS, "the torn WAL should have cost acknowledged events"
    assert len(health["warnings"]) == 1, health
    warning = health["warnings"][0]
    assert "acknowledged commits" in warning and "missing" in warning
    assert f"{BATCHES * ROWS - survived} rows" in warning
    assert "Data loss detected" in srv.log.read_text()
    reports = sorted(data.glob("mlwarden.duckdb.loss-*.json"))
    assert len(reports) == 1 and str(reports[0]) in warning
    assert reports[0].stat().st_mode & 0o777 == 0o600

    # the warning stays until the operator removes the report; then start-up is clean
    srv = ServerProcess(data).start()
    try:
        assert httpx.get(f"{srv.url}/v1/health", timeout=30).json()["warnings"] == [warning]
    finally:
        srv.stop()
    reports[0].unlink()
    srv = ServerProcess(data).start()
    try:
        assert httpx.get(f"{srv.url}/v1/health", timeout=30).json()["warnings"] == []
    finally:
        srv.stop()


def test_the_wal_is_folded_within_seconds_so_a_torn_wal_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _registered(data)
    srv = ServerProcess(data).start()  # default policy: checkpoint 5 s after the first commit
    _ingest(srv)
    deadline = time.monotonic() + 120
    while _wal(data).exists() and _wal(data).stat().st_size > 64 * 1024:
        assert time.monotonic() < deadline, "the WAL was never folded into the database"
        time.sleep(0.2)
    srv.kill()
    if _wal(data).exists():
        _tear(_wal(data))

    srv = ServerProcess(data).start()
    try:
        health = httpx.get(f"{srv.url}/v1/health", timeout=30).json()
        assert _events(srv) == BATCHES * ROWS
    finally:
        srv.stop()
    assert health["warnings"] == []
