"""The incident lifecycle on the real engine: grouping, dedup across windows, auto-resolve,
acknowledge / resolve / snooze, idempotent re-evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlwarden.errors import ConfigError, ConflictError, NotFoundError
from mlwarden.incidents import lifecycle
from mlwarden.incidents.record import IncidentEvent, IncidentState, from_row
from mlwarden.monitors.base import Result, Status
from mlwarden.store import DuckDBStore

DAY = timedelta(days=1)
T0 = datetime(2026, 3, 1, tzinfo=UTC)
MONITORS = [
    ("feature_drift:credit_score", "feature_drift", "credit_score"),
    ("feature_drift:interest_rate", "feature_drift", "interest_rate"),
    ("prediction_drift:score", "prediction_drift", "score"),
    ("multivariate_drift", "multivariate_drift", None),
    ("performance:accuracy", "performance", None),
    ("latency:p99", "latency", None),
]


def window(day: int, firing: set[str], *, segment: str | None = None) -> list[Result]:
    w = T0 + day * DAY
    return [
        Result(
            monitor=m,
            kind=k,
            window_start=w,
            window_end=w + DAY,
            status=Status.ALERT if m in firing else Status.OK,
            value=0.3 if m in firing else 0.01,
            threshold=0.1,
            n=1000,
            column=c,
            segment=segment,
            reason=f"{m} on day {day}",
        )
        for m, k, c in MONITORS
    ]


@pytest.fixture
def store() -> DuckDBStore:
    s = DuckDBStore()
    yield s
    s.close()


def run(store: DuckDBStore, days: range, firing: dict[int, set[str]]) -> list[lifecycle.Change]:
    results = [r for d in days for r in window(d, firing.get(d, set()))]
    return lifecycle.update(store, "p", "m", results, cadence=DAY, now=T0 + 90 * DAY)


def test_one_shift_many_monitors_is_one_incident(store: DuckDBStore) -> None:
    drift = {
        "feature_drift:credit_score",
        "feature_drift:interest_rate",
        "prediction_drift:score",
        "multivariate_drift",
    }
    changes = run(store, range(0, 5), {2: drift, 3: drift | {"performance:accuracy"}, 4: drift})
    assert [c.event for c in changes] == [IncidentEvent.OPENED]
    inc = changes[0].incident
    assert inc.kind == "drift" and inc.signature == "model"
    assert inc.first_window == T0 + 2 * DAY and inc.last_window == T0 + 4 * DAY
    assert {m["monitor"] for m in inc.members} == drift | {"performance:accuracy"}
    by = {m["monitor"]: m for m in inc.members}
    assert len(by["feature_drift:credit_score"]["windows"]) == 3
    assert inc.severity == "high"  # prediction drift and performance are high-severity kinds
    assert store.count_incidents("p") == [("p", "m", "open", "high", 1)]


def test_separate_families_are_separate_incidents(store: DuckDBStore) -> None:
    changes = run(store, range(0, 3), {1: {"feature_drift:credit_score", "latency:p99"}})
    kinds = sorted(c.incident.kind for c in changes)
    assert kinds == ["drift", "latency"]


def test_persisting_condition_is_deduplicated_across_runs(store: DuckDBStore) -> None:
    f = {"feature_drift:credit_score"}
    first = run(store, range(0, 2), {1: f})
    again = run(store, range(2, 4), {2: f, 3: f | {"performance:accuracy"}})
    assert [c.event for c in first] == [IncidentEvent.OPENED]
    assert [c.event for c in again] == [IncidentEvent.ESCALATED]
    assert again[0].incident.id == first[0].incident.id
    assert len(store.list_incidents("p")) == 1


def test_re_evaluating_the_same_windows_changes_nothing(store: DuckDBStore) -> None:
    f = {"feature_drift:credit_score", "multivariate_drift"}
    run(store, range(0, 4), {1: f, 2: f})
    before = from_row(store.list_incidents("p")[0])
    changes = run(store, range(0, 4), {1: f, 2: f})
    after = from_row(store.list_incidents("p")[0])
    assert changes == []
    assert before.members == after.members and before.healthy_windows == after.healthy_windows


def test_auto_resolves_after_healthy_windows_and_a_new_one_opens_later(store: DuckDBStore) -> None:
    f = {"feature_drift:credit_score"}
    changes = run(store, range(0, 6), {1: f})  # healthy on days 2, 3, 4 -> resolved on day 4
    assert [c.event for c in changes] == [IncidentEvent.OPENED, IncidentEvent.RESOLVED]
    inc = from_row(store.list_incidents("p")[0])
    assert inc.state is IncidentState.RESOLVED and inc.healthy_windows >= lifecycle.RESOLVE_AFTER
    assert inc.timeline[-1]["event"] == "resolved"
    later = run(store, range(20, 21), {20: f})
    assert [c.event for c in later] == [IncidentEvent.OPENED]
    assert later[0].incident.id != inc.id


def test_late_evidence_for_a_resolved_incident_is_folded_in_silently(store: DuckDBStore) -> None:
    f = {"feature_drift:credit_score"}
    run(store, range(0, 6), {1: f})
    # late labels re-evaluate day 1: performance fired there too
    late = run(store, range(1, 2), {1: f | {"performance:accuracy"}})
    assert late == []
    rows = store.list_incidents("p")
    assert len(rows) == 1
    assert "performance:accuracy" in {m["monitor"] for m in from_row(rows[0]).members}


def test_segment_alerts_open_an_incident_only_when_they_persist(store: DuckDBStore) -> None:
    def day(d: int, firing: set[str]) -> list[Result]:
        return window(d, set()) + window(d, firing, segment="region=north")

    acc = {"performance:accuracy"}
    # one window of a segment alert is mostly chance (segments multiply the tests run)
    assert lifecycle.update(store, "p", "m", day(1, acc) + day(2, set()), cadence=DAY, now=T0) == []
    # the same monitor in the same segment two windows running opens one
    changes = lifecycle.update(store, "p", "m", day(4, acc) + day(5, acc), cadence=DAY, now=T0)
    (inc,) = [c.incident for c in changes]
    assert inc.kind == "performance" and inc.first_window == T0 + 5 * DAY
    assert [(m["monitor"], m["segment"]) for m in inc.members] == [
        ("performance:accuracy", "region=north")
    ]


def test_lone_segment_alerts_join_as_evidence_without_keeping_it_open(store: DuckDBStore) -> None:
    f = {"feature_drift:credit_score"}
    run(store, range(0, 2), {1: f})
    noise = [r for d in range(2, 6) for r in window(d, set())]
    noise += window(3, f, segment="region=east")
    changes = lifecycle.update(store, "p", "m", noise, cadence=DAY, now=T0)
    assert [c.event for c in changes] == [IncidentEvent.RESOLVED]
    members = {(m["monitor"], m["segment"]) for m in changes[0].incident.members}
    assert ("feature_drift:credit_score", "region=east") in members


def test_people_acknowledge_snooze_and_resolve(store: DuckDBStore) -> None:
    (ch,) = run(store, range(0, 2), {1: {"latency:p99"}})
    i = ch.incident.id
    now = T0 + 3 * DAY
    inc = lifecycle.acknowledge(store, "p", i, by="ana", note="looking", now=now)
    assert inc.state is IncidentState.ACKNOWLEDGED and inc.timeline[-1]["by"] == "ana"
    with pytest.raises(ConflictError, match="only an open incident"):
        lifecycle.acknowledge(store, "p", i, now=now)
    with pytest.raises(ConfigError, match="in the future"):
        lifecycle.snooze(store, "p", i, until=now - DAY, now=now)
    inc = lifecycle.snooze(store, "p", i, until=now + DAY, now=now)
    assert inc.snoozed_until == now + DAY
    # an acknowledged incident still absorbs its family's firing windows
    again = run(store, range(2, 3), {2: {"latency:p99"}})
    assert again == [] and from_row(store.get_incident("p", i)).last_window == T0 + 2 * DAY
    inc = lifecycle.resolve(store, "p", i, by="ana", now=now)
    assert inc.state is IncidentState.RESOLVED and inc.resolved_at == now
    with pytest.raises(ConflictError, match="resolved already"):
        lifecycle.resolve(store, "p", i, now=now)
    with pytest.raises(NotFoundError, match="no incident 999"):
        lifecycle.acknowledge(store, "p", 999)
    with pytest.raises(NotFoundError):
        lifecycle.acknowledge(store, "other-project", i)


def test_incidents_survive_reopening_the_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "m.duckdb"
    s = DuckDBStore(path)
    run(s, range(0, 2), {1: {"feature_drift:credit_score"}})
    s.close()
    s = DuckDBStore(path)
    try:
        (row,) = s.list_incidents("p")
        inc = from_row(row)
        assert inc.kind == "drift" and inc.first_window == T0 + DAY
        assert inc.members[0]["monitor"] == "feature_drift:credit_score"
    finally:
        s.close()
