"""Contract of :class:`~mlwarden.store.protocols.IncidentRepository` (compare-and-set on
``version``, all rows or none), :class:`~mlwarden.store.protocols.DeliveryLog` and
:class:`~mlwarden.store.protocols.ActionLog`."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlwarden.errors import NotFoundError
from mlwarden.store import Store
from mlwarden.store.protocols import ActionLog, DeliveryLog, IncidentRepository

PROTOCOL = IncidentRepository

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def incident(store: Store, *, model: str = "m", title: str = "drift of x", day: int = 0,
             state: str = "open") -> dict[str, Any]:  # fmt: skip
    return {
        "id": store.new_incident_id(),
        "project": "p",
        "model": model,
        "signature": f"{model}:drift",
        "kind": "drift",
        "state": state,
        "severity": "high",
        "title": title,
        "opened_at": T0,
        "updated_at": T0,
        "first_window": T0 + timedelta(days=day),
        "last_window": T0 + timedelta(days=day),
        "resolved_at": None,
        "snoozed_until": None,
        "healthy_windows": 0,
        "body": '{"timeline": []}',
        "version": 0,
    }


def test_the_engine_keeps_the_incident_logs(engine: Store) -> None:
    claimed = type(engine).protocols
    assert DeliveryLog in claimed and ActionLog in claimed
    assert isinstance(engine, IncidentRepository)


def test_compare_and_set(engine: Store) -> None:
    a, b = incident(engine), incident(engine, model="n", day=1)
    assert b["id"] > a["id"]
    assert engine.put_incidents([a, b]) == []
    stored = engine.get_incident("p", a["id"])
    assert stored["version"] == 1 and stored["opened_at"] == T0 and stored["title"] == "drift of x"
    # a person acknowledges (read at version 1) ...
    engine.put_incidents([{**stored, "state": "acknowledged"}])
    # ... while a slow writer still holds the version-1 snapshot: refused, nothing written
    b_now = engine.get_incident("p", b["id"])
    stale = [{**stored, "state": "open", "title": "overwritten"}, {**b_now, "title": "changed"}]
    assert engine.put_incidents(stale) == [a["id"]]
    assert engine.get_incident("p", a["id"])["state"] == "acknowledged"
    assert engine.get_incident("p", b["id"])["title"] == "drift of x"  # all or none
    # re-read, re-apply: goes in
    fresh = engine.get_incident("p", a["id"])
    assert fresh["version"] == 2
    assert engine.put_incidents([{**fresh, "title": "re-applied"}]) == []
    assert engine.get_incident("p", a["id"])["version"] == 3
    # storing a "new" incident whose id exists is a conflict too
    assert engine.put_incidents([{**a, "version": 0}]) == [a["id"]]
    with pytest.raises(NotFoundError):
        engine.get_incident("other", a["id"])


def test_concurrent_writers_of_one_version_one_wins(engine: Store) -> None:
    row = incident(engine)
    engine.put_incidents([row])
    snap = engine.get_incident("p", row["id"])
    outcomes: list[list[int]] = []
    barrier = threading.Barrier(4)

    def write(i: int) -> None:
        barrier.wait(timeout=30)
        outcomes.append(engine.put_incidents([{**snap, "title": f"writer {i}"}]))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(len(o) for o in outcomes) == [0, 1, 1, 1]
    assert engine.get_incident("p", row["id"])["version"] == 2


def test_listing_finding_and_counting(engine: Store) -> None:
    rows = [
        incident(engine, day=0),
        incident(engine, model="n", title="Latency of n", day=2),
        incident(engine, day=1, state="resolved"),
    ]
    engine.put_incidents(rows)
    ids = [r["id"] for r in rows]
    listed = engine.list_incidents("p")
    assert [r["id"] for r in listed] == [ids[1], ids[2], ids[0]]  # newest window first
    assert [r["id"] for r in engine.list_incidents("p", state=["open"])] == [ids[1], ids[0]]
    assert [r["id"] for r in engine.list_incidents("p", model="m", limit=1)] == [ids[2]]
    assert [r["id"] for r in engine.list_incidents("p", limit=1, offset=1)] == [ids[2]]
    assert [r["id"] for r in engine.list_incidents("p", signature="n:drift")] == [ids[1]]
    assert [r["id"] for r in engine.find_incidents("p", "LATENCY")] == [ids[1]]
    assert engine.find_incidents("p", f"#{ids[0]}")[0]["id"] == ids[0]
    assert engine.find_incidents("p", "100%") == []
    assert engine.count_incidents("p") == [
        ("p", "m", "open", "high", 1),
        ("p", "m", "resolved", "high", 1),
        ("p", "n", "open", "high", 1),
    ]
    assert engine.count_incidents(state=["resolved"]) == [("p", "m", "resolved", "high", 1)]


def test_deliveries_actions_and_alerting(engine: Store) -> None:
    for i, status in enumerate(("failed", "delivered")):
        engine.record_delivery(
            "p",
            {
                "channel": "slack",
                "kind": "slack",
                "key": "k1",
                "incident_id": 7,
                "event": "opened",
                "status": status,
                "attempts": i + 1,
                "code": 200,
                "error": None,
                "started_at": T0 + timedelta(minutes=i),
                "finished_at": (T0 + timedelta(minutes=i)).isoformat(),
            },
        )
    assert engine.delivered("p", "slack", "k1") and not engine.delivered("p", "slack", "k2")
    got = engine.deliveries("p", incident_id=7)
    assert [d["status"] for d in got] == ["delivered", "failed"]  # newest first
    assert engine.deliveries("p", incident_id=8) == [] and len(engine.deliveries("p", limit=1)) == 1
    for i, status in enumerate(("ok", "rate_limited", "dry_run")):
        engine.record_action(
            "p",
            {"action": "rollback", "incident_id": 7, "event": "opened", "dry_run": i == 2,
             "status": status, "detail": "", "at": T0 + timedelta(minutes=i), "key": f"k{i}"},
        )  # fmt: skip
    assert engine.count_actions("p", "rollback", T0) == 2  # rate-limited runs do not count
    assert engine.count_actions("p", "rollback", T0 + timedelta(minutes=1)) == 1
    assert [r["status"] for r in engine.action_runs("p", incident_id=7)] == [
        "dry_run",
        "rate_limited",
        "ok",
    ]
    assert engine.get_alerting("p") is None
    engine.put_alerting("p", "routes: []\n")
    engine.put_alerting("p", "routes: [a]\n")
    assert engine.get_alerting("p") == "routes: [a]\n"


def test_the_guard_holds_one_fold_of_a_model_at_a_time(engine: Store) -> None:
    holding, release, entered = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with engine.incident_guard("p", "m"):
            holding.set()
            release.wait(60)

    def second() -> None:
        with engine.incident_guard("p", "m"):
            entered.set()

    a = threading.Thread(target=first)
    a.start()
    assert holding.wait(30)
    b = threading.Thread(target=second)
    b.start()
    with engine.incident_guard("p", "other model"):  # another model's folds do not wait
        pass
    assert not entered.wait(0.5), "a second fold of the model ran while the first held the guard"
    release.set()
    assert entered.wait(60), "the second fold never ran after the first let go"
    a.join(30)
    b.join(30)


def test_concurrent_folds_open_one_incident(engine: Store) -> None:
    """The scheduler and a backfill request folding the same alerting window at once: one
    incident, not one each (both used to open their own)."""
    from mlwarden.incidents import lifecycle
    from mlwarden.monitors.base import Result, Status

    day = timedelta(days=1)
    results = [
        Result(
            monitor="latency:p99", kind="latency", window_start=T0, window_end=T0 + day,
            status=Status.ALERT, value=300.0, threshold=100.0, n=1000, reason="p99 300 ms",
        )
    ]  # fmt: skip
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def fold() -> None:
        try:
            start.wait(30)
            lifecycle.update(engine, "p", "m", results, cadence=day, now=T0 + 2 * day)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fold) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    found = engine.list_incidents("p", model="m")
    assert len(found) == 1, [(i["id"], i["title"]) for i in found]
