"""Incidents as the server and CLI use them: fold results in, explain, recommend, tell people.

:func:`process` is what runs after each evaluation: the lifecycle decides what opened, grew or
resolved; each opened or grown incident is explained (root cause, slices), given
recommendations from the rule table, a headline and the objectives it threatens; then a
notification per change goes to the dispatcher (channels and actions, see
:mod:`mlwarden.incidents.alerting`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from mlwarden.analysis.recommend import headline, recommend
from mlwarden.analysis.rootcause import explain
from mlwarden.errors import MlwardenError
from mlwarden.incidents import lifecycle, versioned
from mlwarden.incidents.lifecycle import RESOLVE_AFTER, Change
from mlwarden.incidents.record import (
    SEVERITIES,
    Incident,
    IncidentEvent,
    IncidentState,
    Notification,
    from_row,
)
from mlwarden.monitors.base import Result
from mlwarden.monitors.objectives import ObjectiveSpec, objective_status
from mlwarden.monitors.service import latest_results, load_suite

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import IncidentRepository

__all__ = [
    "Dispatcher",
    "acknowledge",
    "count_incidents",
    "get_incident",
    "incident_url",
    "list_incidents",
    "notification",
    "process",
    "resolve",
    "snooze",
]

log = logging.getLogger("mlwarden.incidents")


class Dispatcher(Protocol):
    """Sends notifications (channels) and runs automated actions for a project."""

    def dispatch(self, project: str, notes: Sequence[Notification]) -> None: ...


def incident_url(public_url: str | None, incident: Incident) -> str:
    """Link to the incident's page in the UI ("" without a public URL).

    Examples
    --------
    >>> from mlwarden.incidents.record import Incident, IncidentState
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> inc = Incident(7, "default", "m", "model", "drift", "t", "high", IncidentState.OPEN,
    ...                t, t, t, t)
    >>> incident_url("http://mlwarden:8000/", inc)
    'http://mlwarden:8000/ui/incidents/7'
    """
    if not public_url:
        return ""
    return f"{public_url.rstrip('/')}/ui/incidents/{incident.id}"


def _text(inc: Incident, url: str) -> str:
    lines = [f"[{inc.severity}] {inc.model}: {inc.title}"]
    feats = [f for f in inc.causes.get("features", []) if f.get("alert")][:3]
    if feats:
        lines.append(
            "Top causes: " + "; ".join(f"{f['name']} (drift {f['drift']}x)" for f in feats)
        )
    for q in (inc.causes.get("quality") or [])[:1]:
        lines.append(f"Data quality: {q.get('reason') or q['monitor']}")
    for s in (inc.causes.get("slices") or [])[:1]:
        lines.append(f"Worst slice: {s['description']}")
    if inc.recommendations:
        lines.append(f"Recommended: {inc.recommendations[0]['action']}")
    if inc.objectives:
        lines.append("Objectives at stake: " + ", ".join(o["name"] for o in inc.objectives))
    if url:
        lines.append(url)
    return "\n".join(lines)


def notification(
    inc: Incident, event: IncidentEvent, *, public_url: str | None = None
) -> Notification:
    """The notification of one event of an incident."""
    url = incident_url(public_url, inc)
    return Notification(
        incident_id=inc.id,
        project=inc.project,
        model=inc.model,
        event=event,
        severity=inc.severity,
        title=f"[{event.value}] {inc.model}: {inc.title}",
        text=_text(inc, url),
        url=url,
        objectives=tuple(o["name"] for o in inc.objectives),
        payload={**inc.to_dict(), "event": event.value},
        sequence=len(inc.timeline),
    )


def _threatened(
    specs: Sequence[ObjectiveSpec], inc: Incident, latest: dict[str, tuple[str, str, Any]]
) -> list[dict[str, Any]]:
    """The objectives this incident threatens, each with its status *in the incident*: what
    the incident's own firing results do to it (violated by a whole-model alert, at risk when
    only segments alerted), not the latest results, which may be later and healthy (a drift
    incident read "data-quality: met"). ``status_now`` is the latest status, for reference."""
    linked = [o for o in specs if any(o.matches(m["monitor"]) for m in inc.members)]
    at_incident: dict[str, tuple[str, str, Any]] = {}
    for m in inc.members:
        status = "alert" if m.get("segment") is None else "warn"
        seen = at_incident.get(m["monitor"])
        if seen is None or (seen[0] == "warn" and status == "alert"):
            at_incident[m["monitor"]] = (status, m.get("reason", ""), m["last_window"])
    now = {s["name"]: s["status"] for s in objective_status(linked, latest)}
    return [
        {
            "name": s["name"],
            "description": s.get("description", ""),
            "status": s["status"],
            "status_now": now.get(s["name"], "unknown"),
            "severity": s["severity"],
            "monitors": [f["monitor"] for f in s["firing"]],
        }
        for s in objective_status(linked, at_incident)
    ]


def _analyse(store: Store, inc: Incident, cadence: timedelta, *, slices: bool) -> dict[str, Any]:
    """Root cause analysis of an incident (the slow part: seconds on a large model)."""
    record = store.get_model(inc.project, inc.model)
    try:
        return explain(store, record, inc, cadence=cadence, slices=slices)
    except MlwardenError as exc:
        log.warning("root cause analysis of incident %s failed: %s", inc.id, exc)
        return {"error": str(exc)}


def _enrich(store: Store, inc: Incident, causes: dict[str, Any]) -> Incident:
    """``inc`` with its causes, and what follows from them and its members: recommendations,
    headline, threatened objectives, severity (cheap: applied again to a re-read incident)."""
    inc = inc.evolve(causes=causes)
    try:
        suite = load_suite(store, inc.project, inc.model)
        objectives = _threatened(
            suite.objective_specs, inc, latest_results(store, inc.project, inc.model)
        )
    except MlwardenError:
        objectives = []
    severity = inc.severity
    for o in objectives:
        if o["status"] == "violated" and SEVERITIES.index(o["severity"]) > SEVERITIES.index(
            severity
        ):
            severity = o["severity"]
    return inc.evolve(
        recommendations=tuple(recommend(inc, causes)),
        title=headline(inc, causes),
        objectives=tuple(objectives),
        severity=severity,
    )


def _store_analyses(
    store: Store, analysed: dict[int, tuple[Incident, dict[str, Any]]]
) -> dict[int, Incident]:
    """Store each incident with its analysis. The analysis took time, in which people may have
    acknowledged, snoozed or resolved it (or a later evaluation grown it): then the incident is
    read again and the analysis applied to what is stored now, so nothing they did is lost."""
    first = [True]

    def attempt() -> list[Incident]:
        fresh = not first[0]
        first[0] = False
        out = []
        for inc, causes in analysed.values():
            if fresh:
                inc = from_row(store.get_incident(inc.project, inc.id))
            out.append(_enrich(store, inc, causes))
        return out

    stored = versioned.commit(store, attempt, what="the root cause analyses")
    return {i.id: i for i in stored}


def process(
    store: Store,
    project: str,
    model: str,
    results: Sequence[Result],
    *,
    cadence: timedelta,
    dispatcher: Dispatcher | None = None,
    public_url: str | None = None,
    resolve_after: int = RESOLVE_AFTER,
    slices: bool = True,
    now: datetime | None = None,
    on_analysed: Callable[[Incident], None] | None = None,
) -> list[Change]:
    """Fold evaluated results into incidents, explain what changed and tell people.

    ``on_analysed`` is called after each incident's root cause analysis, before the analysis
    is stored (a seam for tests and tracing: what happens to the incident meanwhile is kept).
    """
    now = now or datetime.now(UTC)
    changes = lifecycle.update(
        store, project, model, results, cadence=cadence, resolve_after=resolve_after, now=now
    )
    analysed: dict[int, tuple[Incident, dict[str, Any]]] = {}
    for ch in changes:
        if (
            ch.event in (IncidentEvent.OPENED, IncidentEvent.ESCALATED)
            and ch.incident.id not in analysed
        ):
            analysed[ch.incident.id] = (
                ch.incident,
                _analyse(store, ch.incident, cadence, slices=slices),
            )
            if on_analysed is not None:
                on_analysed(ch.incident)
    enriched = _store_analyses(store, analysed) if analysed else {}
    out = [Change(enriched.get(ch.incident.id, ch.incident), ch.event) for ch in changes]
    if dispatcher is not None:
        # a snooze silences what is news (opened, escalated, reopened), never the resolution:
        # receivers that track state (Alertmanager, PagerDuty, a ticket) must hear it ended
        notes = [
            notification(ch.incident, ch.event, public_url=public_url)
            for ch in out
            if ch.event is IncidentEvent.RESOLVED
            or not (ch.incident.snoozed_until and ch.incident.snoozed_until > now)
        ]
        if notes:
            dispatcher.dispatch(project, notes)
    return out


# -- reads and what people do -------------------------------------------------------------------
def list_incidents(
    store: IncidentRepository,
    project: str,
    *,
    model: str | None = None,
    state: str | Sequence[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Incident]:
    states = [state] if isinstance(state, str) else state
    for s in states or ():
        IncidentState(s)  # raises ValueError on unknown states; routes validate first
    rows = store.list_incidents(project, model=model, state=states, limit=limit, offset=offset)
    return [from_row(r) for r in rows]


def count_incidents(
    store: IncidentRepository,
    project: str,
    *,
    model: str | None = None,
    state: str | Sequence[str] | None = None,
) -> int:
    states = [state] if isinstance(state, str) else state
    return sum(r[4] for r in store.count_incidents(project, model=model, state=states))


def get_incident(store: IncidentRepository, project: str, incident_id: int) -> Incident:
    return from_row(store.get_incident(project, incident_id))


def _tell(
    store: Store,
    inc: Incident,
    event: IncidentEvent,
    dispatcher: Dispatcher | None,
    public_url: str | None,
) -> None:
    if dispatcher is not None:
        dispatcher.dispatch(inc.project, [notification(inc, event, public_url=public_url)])


def acknowledge(
    store: Store,
    project: str,
    incident_id: int,
    *,
    by: str = "",
    note: str = "",
    dispatcher: Dispatcher | None = None,
    public_url: str | None = None,
) -> Incident:
    inc = lifecycle.acknowledge(store, project, incident_id, by=by, note=note)
    _tell(store, inc, IncidentEvent.ACKNOWLEDGED, dispatcher, public_url)
    return inc


def resolve(
    store: Store,
    project: str,
    incident_id: int,
    *,
    by: str = "",
    note: str = "",
    dispatcher: Dispatcher | None = None,
    public_url: str | None = None,
) -> Incident:
    inc = lifecycle.resolve(store, project, incident_id, by=by, note=note)
    _tell(store, inc, IncidentEvent.RESOLVED, dispatcher, public_url)
    return inc


def snooze(
    store: Store, project: str, incident_id: int, *, until: datetime, by: str = "", note: str = ""
) -> Incident:
    return lifecycle.snooze(store, project, incident_id, until=until, by=by, note=note)
