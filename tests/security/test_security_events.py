"""Security events of monitor results, and the JSON lines logs' time ranges and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlwarden.monitors.base import Result, Status
from mlwarden.server.security import Security
from mlwarden.server.settings import ServerSettings
from mlwarden.store.security_log import JsonLinesLog

W = datetime(2026, 6, 1, tzinfo=UTC)


def result(kind: str, status: Status, **details: str) -> Result:
    return Result(
        monitor=kind,
        kind=kind,
        window_start=W,
        window_end=W + timedelta(days=1),
        status=status,
        reason=f"{kind} {status.value}",
        details=details,
    )


def test_alerts_of_security_kinds_become_security_incident_events(tmp_path: Path) -> None:
    sec = Security(ServerSettings(data_dir=tmp_path), keys=None)
    seen: list[int] = []
    watched = sec.watch_results(lambda p, m, rs, c: seen.append(len(rs)))
    results = [
        result("probing", Status.ALERT, client="probe-7", patterns="grid sweep"),
        result("probing", Status.OK),
        result("latency", Status.ALERT),
    ]
    watched("p", "loan", results, timedelta(days=1))
    assert seen == [3]  # the incidents hook got every result
    (event,) = sec.events.file.query(lambda e: True, limit=10)
    assert event["type"] == "security_incident" and event["severity"] == "high"
    assert event["client"] == "probe-7" and event["patterns"] == "grid sweep"
    assert event["model"] == "loan" and event["project"] == "p"
    # on disk, as a JSON lines file of the day
    assert list((tmp_path / "security" / "events").glob("*.jsonl"))


def test_time_ranges_span_days_and_retention_deletes_old_days(tmp_path: Path) -> None:
    log = JsonLinesLog(tmp_path, "access")
    log.append({"at": (W + timedelta(hours=h)).isoformat(), "n": h} for h in range(0, 72, 6))
    got = log.query(
        lambda e: True, limit=100, since=W + timedelta(hours=20), until=W + timedelta(hours=50)
    )
    assert [e["n"] for e in got] == [48, 42, 36, 30, 24]
    assert [e["n"] for e in log.query(lambda e: e["n"] % 12 == 0, limit=2)] == [60, 48]
    assert log.prune(keep_days=1, now=W + timedelta(days=2, hours=1)) == 1  # June 1st only
    assert min(e["n"] for e in log.query(lambda e: True, limit=100)) == 24


def test_memory_log_without_a_data_directory() -> None:
    log = JsonLinesLog(None, "audit")
    log.append([{"at": W.isoformat(), "action": "a"}, {"at": W.isoformat(), "action": "b"}])
    assert [e["action"] for e in log.query(lambda e: True, limit=5)] == ["b", "a"]
