"""Issue 21's probe scenario: an endpoint failing 2% of requests for an hour pages within the
workbook's detection time and the page resolves when the burn stops; 0.2% only raises the
slow-burn ticket.

Time is driven explicitly: the probe job sends real HTTP probes to a real server on loopback,
stamped with a simulated clock, and the SLOs are evaluated and folded into incidents at that
clock. The slow scenario (two days) stores its probe results directly: the HTTP part is the
same code, already exercised by the fast one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlwarden.incidents import service as incidents
from mlwarden.incidents.channels.policy import AlertingPolicy
from mlwarden.incidents.record import IncidentEvent
from mlwarden.monitors.scheduler import StoreJobs
from mlwarden.monitors.slo import STEP, evaluate_slos, slo_results
from mlwarden.monitors.synthetic import ProbeJob
from mlwarden.schema import Feature, ModelSpec
from mlwarden.stats.burn import WINDOWS, detection_time
from mlwarden.store.duckdb_engine import DuckDBStore
from monitors.slo_endpoint import Endpoint

T0 = datetime(2026, 3, 2, tzinfo=UTC)
LOCAL = AlertingPolicy(allow_hosts=("127.0.0.1",))
SLO = {"name": "available", "objective": 99.9, "source": "probes"}


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint()
    yield ep
    ep.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    s = DuckDBStore(tmp_path / "slo.duckdb")
    s.create_model(
        "default", ModelSpec(name="m", task="binary", features=[Feature(name="x", kind="numeric")])
    )
    s.put_slos("default", "m", json.dumps([SLO]))
    yield s
    s.close()


def _healthy(store: DuckDBStore, *, until: datetime, days: float, every_s: int) -> None:
    n = int(days * 86_400 / every_s)
    rows = [
        {"probe": "predict", "at": until - timedelta(seconds=every_s * (n - i)), "ok": True,
         "status_code": 200, "latency_ms": 20.0}
        for i in range(n)
    ]  # fmt: skip
    store.append_probe_results("default", "m", rows)


def _evaluate(store: DuckDBStore, now: datetime) -> tuple[str, list[incidents.Change]]:
    statuses = evaluate_slos(store, "default", "m", now=now)
    changes = incidents.process(
        store, "default", "m", [r for s in statuses for r in slo_results(s)], cadence=STEP, now=now,
        slices=False,
    )  # fmt: skip
    return statuses[0].level, changes


def test_two_percent_failing_pages_within_the_detection_time_and_resolves(
    store: DuckDBStore, endpoint: Endpoint
) -> None:
    probe = {
        "name": "predict",
        "url": f"http://127.0.0.1:{endpoint.port}/predict",
        "method": "POST",
        "body": '{"x": 1.5}',
        "json_path": "label",
        "json_equals": "ham",
        "interval_s": 6,
        "timeout_s": 5,
    }
    store.put_probe("default", "m", "predict", json.dumps(probe))
    _healthy(store, until=T0 - timedelta(hours=6), days=2, every_s=60)
    _healthy(store, until=T0, days=0.25, every_s=6)  # the page windows hold probes as dense
    job = ProbeJob(store, jobs=StoreJobs(), policy=LOCAL, every=60)
    endpoint.fail_every = 50  # 2% of requests fail from T0 on (one every 5 minutes)
    limit = detection_time(WINDOWS[0], bad_share=0.02, budget=0.001, period=timedelta(days=30))
    assert limit == timedelta(minutes=43.2)
    paged_at = None
    page = None
    levels = []
    try:
        t = T0
        while t < T0 + timedelta(hours=1) and paged_at is None:
            assert job.run_due(now=t) == 1
            # every minute once a page is possible, every 5 minutes before (a faster test)
            every = STEP if t - T0 >= timedelta(minutes=25) else 5 * STEP
            if (t - T0) % every == timedelta(0):
                level, changes = _evaluate(store, t)
                levels.append(level)
                if level == "page" and paged_at is None:
                    paged_at = t
                    (change,) = [c for c in changes if c.incident.kind == "slo_page"]
                    assert change.event is IncidentEvent.OPENED
                    page = change.incident
                    assert page.severity == "critical"
                    assert "burns its error budget" in page.members[0]["reason"]
                    assert page.members[0]["evidence"]["alert"] == "1h/5m"
                    assert page.title.startswith("SLO page: availability SLO 'available'")
                    assert page.recommendations[0]["rule"] == "slo-burn"
            t += timedelta(seconds=6)
        assert paged_at is not None and page is not None, levels
        # the burn is 20x: the 1 h window reaches 14.4x once 72% of it holds the failures
        assert paged_at - T0 <= limit
        assert paged_at - T0 >= timedelta(minutes=30)  # not before: the 1 h window had to fill
        # the endpoint recovers: the 5 min window clears, the page stops and resolves, while
        # the ticket (a 6 h short window) may go on: it is an incident of its own
        endpoint.fail_every = 0
        recovered, resolved_at = t, None
        while t < recovered + timedelta(minutes=20) and resolved_at is None:
            job.run_due(now=t)
            if (t - T0) % STEP == timedelta(0):
                level, changes = _evaluate(store, t)
                assert level != "page" or t - recovered <= timedelta(minutes=5)
                if any(
                    c.event is IncidentEvent.RESOLVED and c.incident.id == page.id for c in changes
                ):
                    resolved_at = t
            t += timedelta(seconds=6)
        assert resolved_at is not None
        assert resolved_at - recovered <= timedelta(minutes=10)
        results = store.probe_results("default", "m", probe="predict", limit=1000)
        bad = [r for r in results if not r["ok"]]
        assert len(bad) == (paged_at - T0) // timedelta(minutes=5) + 1  # one every 5 minutes
        assert all(r["status_code"] == 503 for r in bad)
        assert "HTTP 503, expected 200" in bad[0]["error"]
    finally:
        job.stop()


def test_point_two_percent_failing_raises_only_the_slow_burn_ticket(store: DuckDBStore) -> None:
    _healthy(store, until=T0, days=3, every_s=30)
    start = T0
    n = 2 * 86_400 // 30  # two days of probes every 30 s, every 500th failing (0.2%)
    store.append_probe_results(
        "default",
        "m",
        [
            {
                "probe": "predict",
                "at": start + timedelta(seconds=30 * (i + 1)),
                "ok": i % 500 != 0,
                "status_code": 200 if i % 500 else 503,
                "latency_ms": 25.0,
            }
            for i in range(n)
        ],  # fmt: skip
    )
    limit = detection_time(WINDOWS[2], bad_share=0.002, budget=0.001, period=timedelta(days=30))
    assert limit == timedelta(hours=36)
    levels: dict[datetime, str] = {}
    ticket = None
    t = start
    while t <= start + timedelta(days=2):
        # the burn every 30 minutes; the incidents every 2 hours (folding them in is the slow part)
        if (t - start) % timedelta(hours=2):
            levels[t] = evaluate_slos(store, "default", "m", now=t)[0].level
        else:
            level, changes = _evaluate(store, t)
            levels[t] = level
            opened = [c for c in changes if c.event is IncidentEvent.OPENED]
            if opened:
                assert ticket is None
                ticket = (t, opened[0].incident)
        t += timedelta(minutes=30)
    assert "page" not in levels.values()
    assert ticket is not None
    at, incident = ticket
    assert incident.kind == "slo_ticket" and incident.severity == "medium"
    assert levels[at] == "ticket"
    assert at - start <= limit
    status = evaluate_slos(store, "default", "m", now=start + timedelta(days=2))[0]
    assert status.budget_left is not None and 0 < status.budget_left < 1


def test_a_probe_to_a_refused_address_makes_no_connection(
    store: DuckDBStore, endpoint: Endpoint
) -> None:
    # stored directly (the API refuses it): the policy is checked again when the probe is sent
    probe = {"name": "predict", "url": f"http://127.0.0.1:{endpoint.port}/", "interval_s": 5}
    store.put_probe("default", "m", "predict", json.dumps(probe))
    job = ProbeJob(store, jobs=StoreJobs(), policy=AlertingPolicy(), every=60)
    try:
        assert job.run_due(now=T0) == 1
        assert job.run_due(now=T0 + timedelta(seconds=4)) == 0  # not due before its interval
    finally:
        job.stop()
    (row,) = store.probe_results("default", "m")
    assert not row["ok"] and row["status_code"] is None
    assert "refused by the server's destination policy" in row["error"]
    assert endpoint.count == 0
