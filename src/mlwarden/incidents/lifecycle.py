"""The life of an incident: opened by firing results, grown while the condition persists,
acknowledged and resolved by people or resolved by itself after healthy windows.

:func:`update` folds a run of evaluated windows (in window order) into the model's incidents:
a firing family with an open incident of its signature joins it; otherwise a new incident is
opened. Windows after an incident's last firing window count as healthy; after
``resolve_after`` of them it resolves itself. Re-evaluating the same windows (late labels,
a backfill) changes nothing twice: members remember their windows and healthy windows are
counted from time, not from calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlwarden.errors import ConfigError, ConflictError
from mlwarden.incidents import versioned
from mlwarden.incidents.grouping import (
    group_firing,
    incident_kind,
    member_of,
    merge_member,
)
from mlwarden.incidents.record import (
    SEVERITIES,
    Incident,
    IncidentEvent,
    IncidentState,
    from_row,
)
from mlwarden.monitors.base import MONITORS, Result
from mlwarden.store.times import utc_aware, utc_naive

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import IncidentRepository, Results

__all__ = [
    "RESOLVE_AFTER",
    "Change",
    "acknowledge",
    "resolve",
    "snooze",
    "update",
]

#: Healthy windows after which an incident resolves itself.
RESOLVE_AFTER = 3
_ACTIVE = (IncidentState.OPEN.value, IncidentState.ACKNOWLEDGED.value)


@dataclass(frozen=True)
class Change:
    """An incident after :func:`update` and what happened to it."""

    incident: Incident
    event: IncidentEvent


def _severity_of(kind: str) -> str:
    if kind in MONITORS:
        return str(MONITORS.get(kind).severity.value)
    return "medium"


def _worst(severities: Sequence[str]) -> str:
    return max(severities, key=SEVERITIES.index, default="low")


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _event(at: datetime, event: str, *, by: str = "mlwarden", note: str = "") -> dict[str, Any]:
    return {"at": at.isoformat(), "event": event, "by": by, "note": note}


def update(
    store: Store,
    project: str,
    model: str,
    results: Sequence[Result],
    *,
    cadence: timedelta,
    resolve_after: int = RESOLVE_AFTER,
    now: datetime | None = None,
) -> list[Change]:
    """Fold evaluated windows into the model's incidents; return what changed, one change per
    incident (its most important event in this run)."""
    if resolve_after < 1:
        raise ConfigError(
            f"The 'resolve_after' parameter must be >= 1. Got {resolve_after} instead."
        )
    now = _now(now)
    by_window: dict[datetime, list[Result]] = {}
    for r in results:
        by_window.setdefault(r.window_start, []).append(r)
    seen = _alerts(store, project, model, results, cadence)
    happened: dict[int, set[IncidentEvent]] = {}

    def attempt() -> list[Incident]:  # again from a fresh read if a person acted meanwhile
        touched, events = _fold(
            store,
            project,
            model,
            by_window,
            seen,
            cadence=cadence,
            resolve_after=resolve_after,
            now=now,
        )
        happened.clear()
        happened.update(events)
        return list(touched.values())

    # guarded: two evaluations of this model at once (the scheduler and a backfill request, or
    # two servers) would otherwise both open an incident for the same problem
    with store.incident_guard(project, model):
        folded = versioned.commit(store, attempt, what=f"the incidents of model {model!r}")
    stored = {i.id: i for i in folded}
    changes = []
    for i, evs in happened.items():
        if IncidentEvent.OPENED in evs:
            changes.append(Change(stored[i], IncidentEvent.OPENED))
        elif IncidentEvent.ESCALATED in evs:
            changes.append(Change(stored[i], IncidentEvent.ESCALATED))
        if IncidentEvent.RESOLVED in evs:
            changes.append(Change(stored[i], IncidentEvent.RESOLVED))
    return changes


def _fold(
    store: IncidentRepository,
    project: str,
    model: str,
    by_window: dict[datetime, list[Result]],
    seen: set[tuple[str, str | None, datetime]],
    *,
    cadence: timedelta,
    resolve_after: int,
    now: datetime,
) -> tuple[dict[int, Incident], dict[int, set[IncidentEvent]]]:
    """The model's incidents as stored now, with the windows folded in: the incidents touched
    and what happened to each."""
    active = {
        inc.signature: inc
        for inc in (
            from_row(r)
            for r in store.list_incidents(project, model=model, state=_ACTIVE, limit=1000)
        )
    }
    happened: dict[int, set[IncidentEvent]] = {}
    touched: dict[int, Incident] = {}

    def note(inc: Incident, ev: IncidentEvent | None) -> None:
        touched[inc.id] = inc
        if ev is not None:
            happened.setdefault(inc.id, set()).add(ev)

    def strong(r: Result) -> bool:
        # A whole-model alert counts at once; a segment's alert only when the same monitor
        # fired in that segment the window before too (segments multiply the tests run, so
        # one-window segment alerts are mostly chance; they join an incident as evidence).
        return r.segment is None or (r.monitor, r.segment, r.window_start - cadence) in seen

    for w in sorted(by_window):
        groups = {g.family: g for g in group_firing(by_window[w])}
        weak = {f for f, g in groups.items() if not any(strong(r) for r in g.results)}
        for fam in weak:
            inc = active.get(fam)
            if inc is not None:  # evidence only: no escalation, no reset of the healthy count
                members = _members(inc.members, groups[fam].results)
                note(inc.evolve(members=members), None)
                active[fam] = touched[inc.id]
        for fam, group in groups.items():
            if fam in weak:
                continue
            inc = active.get(fam)
            if inc is None:
                late = _late_member_of_resolved(
                    store, project, model, fam, w, cadence, resolve_after
                )
                if late is not None:  # late evidence for an incident already closed: fold silently
                    note(_absorb(late, group.results, w, now)[0], None)
                    continue
                inc = _open(store, project, model, fam, group.results, w, now)
                active[fam] = inc
                note(inc, IncidentEvent.OPENED)
                continue
            inc, grew = _absorb(inc, group.results, w, now)
            active[fam] = inc
            note(inc, IncidentEvent.ESCALATED if grew else None)
        for fam, inc in list(active.items()):
            if fam in groups or w <= inc.last_window:
                continue
            healthy = max(inc.healthy_windows, int((w - inc.last_window) / cadence))
            inc = inc.evolve(healthy_windows=healthy)
            active[fam] = inc
            note(inc, None)
            if healthy >= resolve_after:
                inc = inc.evolve(
                    state=IncidentState.RESOLVED,
                    resolved_at=now,
                    updated_at=now,
                    timeline=(
                        *inc.timeline,
                        _event(now, "resolved", note=f"{healthy} healthy windows in a row"),
                    ),
                )
                del active[fam]
                note(inc, IncidentEvent.RESOLVED)
    return touched, happened


def _alerts(
    store: Results, project: str, model: str, results: Sequence[Result], cadence: timedelta
) -> set[tuple[str, str | None, datetime]]:
    """(monitor, segment, window) of every alert in ``results`` and in the two windows before."""
    out = {(r.monitor, r.segment, r.window_start) for r in results if r.status.firing}
    if not results:
        return out
    first = min(r.window_start for r in results)
    t = store.results()
    rows = (
        t.filter(
            t.project == project,
            t.model == model,
            t.status == "alert",
            t.window_start >= utc_naive(first - 2 * cadence),
            t.window_start < utc_naive(first),
        )
        .select("monitor", "segment", "window_start")
        .to_pyarrow()
        .to_pylist()
    )
    out |= {(r["monitor"], r["segment"], utc_aware(r["window_start"])) for r in rows}
    return out


def _open(
    store: IncidentRepository,
    project: str,
    model: str,
    family: str,
    results: Sequence[Result],
    w: datetime,
    now: datetime,
) -> Incident:
    members = _members((), results)
    kind = incident_kind(family, [m["kind"] for m in members])
    return Incident(
        id=store.new_incident_id(),
        project=project,
        model=model,
        signature=family,
        kind=kind,
        title=f"{kind.capitalize()} in model {model!r}",
        severity=_worst([m["severity"] for m in members]),
        state=IncidentState.OPEN,
        opened_at=now,
        updated_at=now,
        first_window=w,
        last_window=w,
        members=members,
        timeline=(
            _event(now, "opened", note=f"{len(members)} monitors fired in window {w.isoformat()}"),
        ),
    )


def _members(
    old: Sequence[dict[str, Any]], results: Sequence[Result]
) -> tuple[dict[str, Any], ...]:
    by = {(m["monitor"], m.get("segment")): m for m in old}
    for r in results:
        # a result may say its own severity (an SLO's page is critical, its ticket medium)
        new = member_of(r, severity=str(r.details.get("severity") or _severity_of(r.kind)))
        key = (r.monitor, r.segment)
        by[key] = merge_member(by[key], new) if key in by else new
    return tuple(
        sorted(
            by.values(), key=lambda m: (m["segment"] is not None, m["monitor"], m["segment"] or "")
        )
    )


def _absorb(
    inc: Incident, results: Sequence[Result], w: datetime, now: datetime
) -> tuple[Incident, bool]:
    """Fold a firing window into an incident; ``grew``: new monitors joined or severity rose."""
    members = _members(inc.members, results)
    before = {(m["monitor"], m.get("segment")) for m in inc.members}
    joined = [m for m in members if (m["monitor"], m.get("segment")) not in before]
    severity = _worst([inc.severity, *(m["severity"] for m in members)])
    grew = bool([m for m in joined if m.get("segment") is None]) or severity != inc.severity
    timeline = inc.timeline
    if grew:
        names = ", ".join(sorted({m["monitor"] for m in joined})) or "-"
        timeline = (
            *timeline,
            _event(now, "escalated", note=f"joined: {names}; severity {severity}"),
        )
    later = w > inc.last_window
    return (
        inc.evolve(
            members=members,
            kind=incident_kind(inc.signature, [m["kind"] for m in members]),
            severity=severity,
            first_window=min(inc.first_window, w),
            last_window=max(inc.last_window, w),
            healthy_windows=0 if later else inc.healthy_windows,
            updated_at=now,
            timeline=timeline,
        ),
        grew,
    )


def _late_member_of_resolved(
    store: IncidentRepository,
    project: str,
    model: str,
    family: str,
    w: datetime,
    cadence: timedelta,
    resolve_after: int,
) -> Incident | None:
    rows = store.list_incidents(
        project, model=model, state=[IncidentState.RESOLVED.value], signature=family, limit=1
    )
    if not rows:
        return None
    inc = from_row(rows[0])
    if inc.first_window <= w <= inc.last_window + resolve_after * cadence:
        return inc
    return None


# -- what people do --------------------------------------------------------------------------------
def _transition(
    store: Store,
    project: str,
    incident_id: int,
    target: IncidentState,
    *,
    by: str,
    note: str,
    now: datetime | None,
    **changes: Any,
) -> Incident:
    now = _now(now)

    def act(inc: Incident) -> Incident:
        if target is IncidentState.ACKNOWLEDGED and inc.state is not IncidentState.OPEN:
            raise ConflictError(
                f"Incident {incident_id} is {inc.state.value}; only an open incident can be "
                "acknowledged."
            )
        if target is IncidentState.RESOLVED and inc.state is IncidentState.RESOLVED:
            raise ConflictError(f"Incident {incident_id} is resolved already.")
        return inc.evolve(
            state=target,
            updated_at=now,
            timeline=(*inc.timeline, _event(now, target.value, by=by or "someone", note=note)),
            **changes,
        )

    return versioned.change(store, project, incident_id, act, what=f"the {target.value} state")


def acknowledge(
    store: Store,
    project: str,
    incident_id: int,
    *,
    by: str = "",
    note: str = "",
    now: datetime | None = None,
) -> Incident:
    """Someone is on it: notifications of escalations go on, re-notification of the same stops."""
    return _transition(
        store, project, incident_id, IncidentState.ACKNOWLEDGED, by=by, note=note, now=now
    )


def resolve(
    store: Store,
    project: str,
    incident_id: int,
    *,
    by: str = "",
    note: str = "",
    now: datetime | None = None,
) -> Incident:
    """Close an incident by hand (it reopens as a new incident if the condition fires again)."""
    return _transition(
        store,
        project,
        incident_id,
        IncidentState.RESOLVED,
        by=by,
        note=note,
        now=now,
        resolved_at=_now(now),
    )


def snooze(
    store: Store,
    project: str,
    incident_id: int,
    *,
    until: datetime,
    by: str = "",
    note: str = "",
    now: datetime | None = None,
) -> Incident:
    """Silence an incident's notifications until a time (it keeps being updated)."""
    now = _now(now)
    if until.tzinfo is None:
        raise ConfigError(
            f"The 'until' parameter must be a timezone-aware time. Got {until!r} instead."
        )
    if until <= now:
        raise ConfigError(
            f"The 'until' parameter must be in the future. Got {until.isoformat()!r} instead."
        )

    def act(inc: Incident) -> Incident:
        return inc.evolve(
            snoozed_until=until,
            updated_at=now,
            timeline=(
                *inc.timeline,
                _event(
                    now, "snoozed", by=by or "someone", note=note or f"until {until.isoformat()}"
                ),
            ),
        )

    return versioned.change(store, project, incident_id, act, what="the snooze")
