"""Issue 18: what people do to an incident is never lost to a machine write.

The evaluation folds results into an incident, then runs the root cause analysis (seconds on a
large model) and writes the incident back. A person acknowledging (resolving, snoozing) it in
between used to be erased: the write-back was the snapshot taken before the analysis. The
races are reproduced deterministically: the service's ``on_analysed`` seam makes the analysis
wait until another thread's acknowledge is stored, through the real store and service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from mlwarden.errors import ConflictError
from mlwarden.incidents import lifecycle, service, versioned
from mlwarden.incidents.record import Incident, IncidentState, Notification, from_row, to_row
from mlwarden.monitors.base import Result, Status
from mlwarden.schema import Feature, ModelSpec
from mlwarden.store import DuckDBStore

DAY = timedelta(days=1)
T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = T0 + 30 * DAY
SPEC = ModelSpec(
    name="m",
    task="regression",
    features=[Feature(name="x", kind="numeric"), Feature(name="y", kind="numeric")],
    prediction="prediction",
)


@pytest.fixture
def store() -> Iterator[DuckDBStore]:
    s = DuckDBStore()
    s.create_model("p", SPEC)
    yield s
    s.close()


def fired(day: int, *monitors: str) -> list[Result]:
    w = T0 + day * DAY
    return [
        Result(
            monitor=m,
            kind="feature_drift",
            window_start=w,
            window_end=w + DAY,
            status=Status.ALERT,
            value=0.3,
            threshold=0.1,
            n=500,
            column=m.split(":")[1],
            reason=f"{m} on day {day}",
        )
        for m in monitors
    ]


def in_another_thread(fn: Callable[[], object]) -> None:
    """Run ``fn`` on another thread (as the API runs a person's action) and wait for it."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            errors.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "the action did not finish"
    if errors:
        raise errors[0]


class Outbox:
    """A dispatcher that keeps what it is given."""

    def __init__(self) -> None:
        self.notes: list[Notification] = []

    def dispatch(self, project: str, notes: Sequence[Notification]) -> None:
        self.notes.extend(notes)


def events(inc: Incident) -> list[str]:
    return [e["event"] for e in inc.timeline]


def test_acknowledge_during_the_analysis_of_a_new_incident_is_kept(store: DuckDBStore) -> None:
    def acknowledge_now(inc: Incident) -> None:  # the analysis waits for the person's action
        in_another_thread(
            lambda: lifecycle.acknowledge(store, "p", inc.id, by="alice", note="on it", now=NOW)
        )

    (change,) = service.process(
        store, "p", "m", fired(1, "feature_drift:x"), cadence=DAY, slices=False, now=NOW,
        on_analysed=acknowledge_now,
    )  # fmt: skip
    stored = service.get_incident(store, "p", change.incident.id)
    assert stored.state is IncidentState.ACKNOWLEDGED  # was "open": the ack was overwritten
    assert events(stored) == ["opened", "acknowledged"]
    assert stored.timeline[1]["by"] == "alice" and stored.timeline[1]["note"] == "on it"
    assert stored.causes  # and the analysis landed too
    assert change.incident == stored  # what the caller is told is what is stored


def test_acknowledge_during_the_analysis_of_an_escalation_is_kept(store: DuckDBStore) -> None:
    """The issue's case: final state ``open``, timeline ``opened, escalated``."""
    (opened,) = service.process(
        store, "p", "m", fired(1, "feature_drift:x"), cadence=DAY, slices=False, now=NOW
    )
    i = opened.incident.id

    def acknowledge_now(inc: Incident) -> None:
        in_another_thread(lambda: lifecycle.acknowledge(store, "p", i, by="bob", now=NOW))

    outbox = Outbox()
    (grown,) = service.process(
        store, "p", "m", fired(2, "feature_drift:x", "feature_drift:y"), cadence=DAY,
        slices=False, now=NOW, dispatcher=outbox, on_analysed=acknowledge_now,
    )  # fmt: skip
    stored = service.get_incident(store, "p", i)
    assert stored.state is IncidentState.ACKNOWLEDGED
    assert events(stored) == ["opened", "escalated", "acknowledged"]
    assert {m["monitor"] for m in stored.members} == {"feature_drift:x", "feature_drift:y"}
    # escalations of an acknowledged incident are still told
    assert [n.event.value for n in outbox.notes] == ["escalated"]
    assert grown.incident.state is IncidentState.ACKNOWLEDGED


def test_resolve_and_snooze_during_the_analysis_are_kept(store: DuckDBStore) -> None:
    (opened,) = service.process(
        store, "p", "m", fired(1, "feature_drift:x"), cadence=DAY, slices=False, now=NOW
    )
    i = opened.incident.id
    until = NOW + 5 * DAY

    def snooze_and_resolve(inc: Incident) -> None:
        in_another_thread(lambda: lifecycle.snooze(store, "p", i, until=until, by="c", now=NOW))
        in_another_thread(lambda: lifecycle.resolve(store, "p", i, by="d", note="fixed", now=NOW))

    outbox = Outbox()
    service.process(
        store, "p", "m", fired(2, "feature_drift:x", "feature_drift:y"), cadence=DAY,
        slices=False, now=NOW, dispatcher=outbox, on_analysed=snooze_and_resolve,
    )  # fmt: skip
    stored = service.get_incident(store, "p", i)
    assert stored.state is IncidentState.RESOLVED and stored.resolved_at == NOW
    assert stored.snoozed_until == until
    assert events(stored) == ["opened", "escalated", "snoozed", "resolved"]
    assert outbox.notes == []  # snoozed meanwhile: the escalation is not sent


def test_a_write_from_a_stale_read_is_refused_whole(store: DuckDBStore) -> None:
    (a,) = service.process(
        store, "p", "m", fired(1, "feature_drift:x"), cadence=DAY, slices=False, now=NOW
    )
    first = a.incident
    assert first.version >= 1 and service.get_incident(store, "p", first.id) == first
    other = first.evolve(id=store.new_incident_id(), signature="other", version=0)
    assert store.put_incidents([to_row(other)]) == []  # a new incident: version 0 goes in
    lifecycle.acknowledge(store, "p", first.id, by="e", now=NOW)
    stale = [first.evolve(title="stale"), service.get_incident(store, "p", other.id)]
    assert store.put_incidents([to_row(i) for i in stale]) == [first.id]
    assert service.get_incident(store, "p", first.id).state is IncidentState.ACKNOWLEDGED
    assert service.get_incident(store, "p", other.id).version == 1  # all or none: not written


def test_a_change_is_applied_again_to_what_another_writer_stored(store: DuckDBStore) -> None:
    (a,) = service.process(
        store, "p", "m", fired(1, "feature_drift:x"), cadence=DAY, slices=False, now=NOW
    )
    seen: list[IncidentState] = []

    def retitle(inc: Incident) -> Incident:
        seen.append(inc.state)
        if len(seen) == 1:  # between this read and its write, someone acknowledges
            in_another_thread(lambda: lifecycle.acknowledge(store, "p", inc.id, now=NOW))
        return inc.evolve(title="renamed")

    out = versioned.change(store, "p", a.incident.id, retitle, what="a title")
    assert seen == [IncidentState.OPEN, IncidentState.ACKNOWLEDGED]
    assert out.title == "renamed" and out.state is IncidentState.ACKNOWLEDGED
    assert service.get_incident(store, "p", a.incident.id) == out


def test_two_people_acknowledging_at_once_one_is_told_it_is_done(store: DuckDBStore) -> None:
    (a,) = service.process(
        store, "p", "m", fired(1, "feature_drift:x"), cadence=DAY, slices=False, now=NOW
    )
    i = a.incident.id
    calls = [0]

    def second_person_first(inc: Incident) -> Incident:
        calls[0] += 1
        if calls[0] == 1:
            in_another_thread(lambda: lifecycle.acknowledge(store, "p", i, by="f", now=NOW))
        if inc.state is not IncidentState.OPEN:
            raise ConflictError("acknowledged already")
        return inc.evolve(state=IncidentState.ACKNOWLEDGED)

    with pytest.raises(ConflictError):
        versioned.change(store, "p", i, second_person_first, what="an acknowledge")
    assert events(service.get_incident(store, "p", i)) == ["opened", "acknowledged"]


def test_a_file_from_before_versions_opens_and_its_incidents_take_actions(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    inc = Incident(7, "p", "m", "model", "drift", "t", "high", IncidentState.OPEN, T0, T0, T0, T0)
    row = {k: v for k, v in to_row(inc).items() if k != "version"}
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE incidents (id BIGINT PRIMARY KEY, project VARCHAR, model VARCHAR, "
            "signature VARCHAR, kind VARCHAR, state VARCHAR, severity VARCHAR, title VARCHAR, "
            "opened_at TIMESTAMP, updated_at TIMESTAMP, first_window TIMESTAMP, "
            "last_window TIMESTAMP, resolved_at TIMESTAMP, snoozed_until TIMESTAMP, "
            "healthy_windows INTEGER, body VARCHAR)"
        )
        values = [v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row.values()]
        con.execute(f"INSERT INTO incidents VALUES ({', '.join('?' * len(values))})", values)
    s = DuckDBStore(path)
    try:
        assert from_row(s.get_incident("p", 7)).version == 0
        done = lifecycle.acknowledge(s, "p", 7, by="g", now=NOW)
        assert done.version == 1 and service.get_incident(s, "p", 7) == done
    finally:
        s.close()


def healthy(day: int, *monitors: str) -> list[Result]:
    return [
        r.__class__(**{**r.__dict__, "status": Status.OK, "value": 0.01})
        for r in fired(day, *monitors)
    ]


def test_a_snoozed_incident_that_resolves_itself_still_says_so(store: DuckDBStore) -> None:
    """A snooze silences news, not the end: Alertmanager, PagerDuty or a ticket that heard of
    the incident must hear it resolved, or it stays firing there."""
    (opened,) = service.process(
        store, "p", "m", fired(1, "feature_drift:x"), cadence=DAY, slices=False, now=NOW
    )
    lifecycle.snooze(store, "p", opened.incident.id, until=NOW + 20 * DAY, by="c", now=NOW)
    outbox = Outbox()
    service.process(
        store, "p", "m", fired(2, "feature_drift:x"), cadence=DAY, slices=False, now=NOW,
        dispatcher=outbox,
    )  # fmt: skip
    assert outbox.notes == []  # still firing while snoozed: silent
    recovered = [r for d in (3, 4, 5, 6) for r in healthy(d, "feature_drift:x")]
    (change,) = service.process(
        store, "p", "m", recovered, cadence=DAY, slices=False, now=NOW, dispatcher=outbox
    )
    assert change.incident.state is IncidentState.RESOLVED
    assert [n.event.value for n in outbox.notes] == ["resolved"]
