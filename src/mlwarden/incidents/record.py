"""What an incident is, and what a channel is given to tell people about it.

An incident groups the firing results of one model that share a window and a likely cause
(one shift in one upstream column fires thirty monitors; the user gets one incident). It
carries its explanation (causes, slices), a recommendation, the objectives it threatens, its
state and a timeline. Records are immutable; the lifecycle makes new ones.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "SEVERITIES",
    "Incident",
    "IncidentEvent",
    "IncidentState",
    "Notification",
    "from_row",
    "to_row",
]

#: Severities from least to most urgent.
SEVERITIES = ("low", "medium", "high", "critical")


class IncidentState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class IncidentEvent(StrEnum):
    """What happened to an incident; channels are told of each (per their routing)."""

    OPENED = "opened"
    ESCALATED = "escalated"  # severity rose or more monitors joined
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    REOPENED = "reopened"


@dataclass(frozen=True)
class Incident:
    """One incident of one model.

    ``signature`` is the grouping key (what went wrong and where, e.g.
    ``drift:credit_score`` or ``quality:income``); an open incident with the same signature
    absorbs later firing windows instead of a new incident being opened.
    """

    id: int
    project: str
    model: str
    signature: str
    kind: str  # drift, quality, performance, latency, errors, traffic, fairness, cost, ...
    title: str
    severity: str
    state: IncidentState
    opened_at: datetime
    updated_at: datetime
    first_window: datetime
    last_window: datetime
    #: The firing results: monitor, segment, window_start, value, threshold, reason.
    members: tuple[dict[str, Any], ...] = ()
    #: Root cause analysis: ranked features, slices, co-occurring quality changes, versions.
    causes: dict[str, Any] = field(default_factory=dict)
    #: Recommended actions, each with ``action``, ``why`` and the rule that chose it.
    recommendations: tuple[dict[str, Any], ...] = ()
    #: Objectives the incident threatens: name and status.
    objectives: tuple[dict[str, Any], ...] = ()
    #: Consecutive evaluated windows without a firing member (auto-resolve counts these).
    healthy_windows: int = 0
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None
    #: Who did what when: ``{"at": iso, "event": ..., "by": ..., "note": ...}``.
    timeline: tuple[dict[str, Any], ...] = ()
    #: Writes of the stored row this record was read from (0: not stored yet); a write of the
    #: record is refused once the row moved on (see :mod:`mlwarden.incidents.versioned`).
    version: int = 0

    def evolve(self, **changes: Any) -> Incident:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat()
            elif isinstance(v, tuple):
                out[k] = list(v)
        out["state"] = self.state.value
        del out["version"]  # bookkeeping of the store, not part of the incident as shown
        return out


@dataclass(frozen=True)
class Notification:
    """What a channel sends: one event of one incident, ready to render.

    ``payload`` is the incident as JSON (``Incident.to_dict()``) plus ``event``; ``url`` links
    to the incident in the UI (empty when the server has no public URL configured).
    """

    incident_id: int
    project: str
    model: str
    event: IncidentEvent
    severity: str
    title: str
    #: Plain text: summary, top causes, the recommendation, the link.
    text: str
    url: str
    objectives: tuple[str, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)
    #: Position of this event in the incident's timeline (an incident escalates more than once).
    sequence: int = 0

    @property
    def key(self) -> str:
        """Identity of this notification: a channel delivers each key at most once."""
        return f"{self.project}/{self.model}/{self.incident_id}/{self.sequence}/{self.event.value}"


_BODY = ("members", "causes", "recommendations", "objectives", "timeline")


def to_row(inc: Incident) -> dict[str, Any]:
    """The incident as the engine stores it (see ``store.duckdb_incidents.INCIDENT_COLUMNS``)."""
    return {
        "id": inc.id,
        "project": inc.project,
        "model": inc.model,
        "signature": inc.signature,
        "kind": inc.kind,
        "state": inc.state.value,
        "severity": inc.severity,
        "title": inc.title,
        "opened_at": inc.opened_at,
        "updated_at": inc.updated_at,
        "first_window": inc.first_window,
        "last_window": inc.last_window,
        "resolved_at": inc.resolved_at,
        "snoozed_until": inc.snoozed_until,
        "healthy_windows": inc.healthy_windows,
        "body": json.dumps({k: getattr(inc, k) for k in _BODY}, default=_jsonable),
        "version": inc.version,
    }


def from_row(row: dict[str, Any]) -> Incident:
    body = json.loads(row.get("body") or "{}")
    return Incident(
        id=int(row["id"]),
        project=row["project"],
        model=row["model"],
        signature=row["signature"],
        kind=row["kind"],
        title=row["title"],
        severity=row["severity"],
        state=IncidentState(row["state"]),
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        first_window=row["first_window"],
        last_window=row["last_window"],
        resolved_at=row.get("resolved_at"),
        snoozed_until=row.get("snoozed_until"),
        healthy_windows=int(row.get("healthy_windows") or 0),
        members=tuple(body.get("members", ())),
        causes=dict(body.get("causes", {})),
        recommendations=tuple(body.get("recommendations", ())),
        objectives=tuple(body.get("objectives", ())),
        timeline=tuple(body.get("timeline", ())),
        version=int(row.get("version") or 0),
    )


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    if isinstance(x, datetime):
        return x.isoformat()
    return str(x)
