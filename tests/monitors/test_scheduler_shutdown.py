"""Stopping the server while its scheduler evaluates: a clean exit, and nothing lost.

The scheduler runs in a worker thread, which cannot be cancelled. Shutdown used to close the
store under it: the evaluation died on "Connection already closed" with a traceback in the
log. Now shutdown waits for the running chunk of windows (``CHUNK_WINDOWS``), and the next
start evaluates what was left.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from mlwarden.cli.demo import feed
from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.monitors.service import CHUNK_WINDOWS
from serverproc import ServerProcess

DAYS = 2 * CHUNK_WINDOWS  # two chunks: the stop lands while the second one runs
MODEL = "loan-default"


def _days_with_results(http: httpx.Client) -> set[str]:
    rows = http.get(
        f"/v1/models/{MODEL}/results",
        params={"monitor": "feature_drift:credit_score", "limit": 1000},
    ).json()
    return {str(r["window_start"])[:10] for r in rows}


def _wait_for_days(http: httpx.Client, at_least: int, timeout: float = 300) -> set[str]:
    deadline = time.monotonic() + timeout
    days: set[str] = set()
    while time.monotonic() < deadline:
        days = _days_with_results(http)
        if len(days) >= at_least:
            return days
        time.sleep(0.2)
    raise AssertionError(f"only {len(days)} evaluated days after {timeout} s")


def test_stop_during_an_evaluation_is_clean_and_the_rest_is_done_after_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "d"
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    sim = Simulation(
        Scenario(
            days=DAYS,
            events_per_day=200,
            drift_start_day=None,
            start=today - timedelta(days=DAYS),
            reference_rows=3000,
        )
    )
    srv = ServerProcess(data, "--evaluate-every", "0.2").start()
    try:
        feed(srv.url, sim, now=datetime.now(UTC))
        with httpx.Client(base_url=srv.url, timeout=300) as http:
            r = http.post(f"/v1/models/{MODEL}/monitors/setup", json={"cadence": "1d"})
            assert r.status_code == 200, r.text
            first = _wait_for_days(http, 1)  # the first chunk is stored: the second one runs
        assert len(first) == CHUNK_WINDOWS
        srv.stop()
        # uvicorn re-raises the signal once its shutdown is complete
        assert srv.proc is not None and srv.proc.returncode in (0, -signal.SIGTERM)
        log = srv.log.read_text()
        assert "Traceback" not in log and "failed" not in log, log[-3000:]
    finally:
        srv.stop()

    again = ServerProcess(data, "--evaluate-every", "0.2").start()
    try:
        with httpx.Client(base_url=again.url, timeout=300) as http:
            days = _wait_for_days(http, DAYS)
        expected = {(today - timedelta(days=d)).isoformat()[:10] for d in range(1, DAYS + 1)}
        assert days == expected
    finally:
        again.stop()
    assert "Traceback" not in again.log.read_text()
