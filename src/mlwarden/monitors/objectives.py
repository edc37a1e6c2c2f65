"""Business objectives and requirements, traced to the monitors that watch them.

An objective is declared in the monitoring spec ("default losses stay within plan", "p99
latency under 300 ms") and linked to monitors by id or glob pattern. Its status follows from
the latest whole-model results of its monitors: *violated* when one alerts, *at risk* when one
warns, *met* when all are ok, *unknown* when none has a verdict yet. Incidents name the
objectives they threaten and take their severity into account.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlwarden.errors import ConfigError, expected
from mlwarden.monitors.base import Monitor, Objective

__all__ = [
    "OBJECTIVE_STATUSES",
    "ObjectiveSpec",
    "default_objectives",
    "objective_status",
    "objectives_of",
]

OBJECTIVE_STATUSES = ("met", "at_risk", "violated", "unknown")
_SEVERITIES = ("low", "medium", "high", "critical")
_KEYS = ("name", "description", "monitors", "severity", "owner")

#: The objective auto set-up declares for each area practitioners monitor.
_DEFAULTS: dict[Objective, tuple[str, str]] = {
    Objective.PERFORMANCE: ("model-performance", "The model predicts as well as on its reference."),
    Objective.DATA: ("data-quality", "Inputs arrive complete and distributed as in training."),
    Objective.LATENCY: ("response-time", "Responses stay as fast as usual (p99 latency)."),
    Objective.RELIABILITY: ("reliability", "Requests succeed and traffic flows as usual."),
    Objective.FAIRNESS: ("fairness", "Outcomes stay fair across sensitive groups."),
    Objective.RESOURCES: ("resources", "The serving resources stay within their usual range."),
    Objective.SECURITY: ("security-and-privacy", "No leaks of personal data, no prompt attacks."),
    Objective.COST: ("cost", "Spending stays within budget."),
}


@dataclass(frozen=True)
class ObjectiveSpec:
    """A business objective or requirement and the monitors (ids or glob patterns) tracing to it.

    Examples
    --------
    >>> o = ObjectiveSpec("latency-slo", "p99 latency under 300 ms", ["latency:*"])
    >>> o.matches("latency:p99"), o.matches("error_rate")
    (True, False)
    """

    name: str
    description: str = ""
    monitors: Sequence[str] = field(default_factory=tuple)
    #: Incidents that threaten this objective get at least this severity.
    severity: str = "medium"
    owner: str = ""

    def matches(self, monitor_id: str) -> bool:
        return any(fnmatch.fnmatchcase(monitor_id, p) for p in self.monitors)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["monitors"] = list(self.monitors)
        out["severity"] = self.severity
        if self.owner:
            out["owner"] = self.owner
        return out

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "objective") -> ObjectiveSpec:
        if not isinstance(data, dict):
            raise ConfigError(f"The {where} must be a mapping. Got {type(data).__name__} instead.")
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"The {where} has an unknown key {unknown[0]!r}; keys are {', '.join(_KEYS)}."
            )
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(
                expected(f"field of the {where}", "name", "be a non-empty string", name)
            )
        monitors = data.get("monitors", [])
        if isinstance(monitors, str):
            monitors = [monitors]
        if not isinstance(monitors, list) or not all(isinstance(m, str) for m in monitors):
            raise ConfigError(
                expected(
                    f"field of {where} {name!r}", "monitors", "be a list of monitor ids", monitors
                )
            )
        severity = data.get("severity", "medium")
        if severity not in _SEVERITIES:
            raise ConfigError(
                expected(
                    f"field of {where} {name!r}",
                    "severity",
                    f"be one of {', '.join(_SEVERITIES)}",
                    severity,
                )
            )
        return cls(
            name=name.strip(),
            description=str(data.get("description", "")),
            monitors=tuple(monitors),
            severity=severity,
            owner=str(data.get("owner", "")),
        )


def default_objectives(monitors: Iterable[Monitor]) -> list[ObjectiveSpec]:
    """One objective per monitored area, linked to that area's monitors (edit the wording)."""
    by_area: dict[Objective, set[str]] = {}
    for m in monitors:
        by_area.setdefault(m.objective, set()).add(f"{m.kind}:*" if ":" in m.id else m.id)
    out = []
    for area, (name, text) in _DEFAULTS.items():
        ids = by_area.get(area)
        if ids:
            severity = (
                "high" if area in (Objective.PERFORMANCE, Objective.RELIABILITY) else "medium"
            )
            out.append(ObjectiveSpec(name, text, tuple(sorted(ids)), severity))
    return out


def objectives_of(monitor_id: str, objectives: Iterable[ObjectiveSpec]) -> list[ObjectiveSpec]:
    """The objectives a monitor traces to."""
    return [o for o in objectives if o.matches(monitor_id)]


def objective_status(
    objectives: Sequence[ObjectiveSpec],
    latest: dict[str, tuple[str, str, Any]],
    *,
    monitors: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Status of each objective from the latest whole-model result of each monitor.

    ``latest`` maps monitor id to (status, reason, window_start). ``monitors``: the ids of the
    model's monitors, so ``linked`` lists each monitor an objective's patterns match (one
    pattern such as ``feature_drift:*`` matches many), with a result yet or not; by default
    those with a result.

    Examples
    --------
    >>> o = ObjectiveSpec("slo", "p99 under 300 ms", ["latency:*"])
    >>> objective_status([o], {"latency:p99": ("alert", "p99 412 ms", "2026-01-02")})[0]["status"]
    'violated'
    >>> d = ObjectiveSpec("data", "", ["feature_drift:*"])
    >>> objective_status([d], {}, monitors=["feature_drift:a", "feature_drift:b"])[0]["linked"]
    ['feature_drift:a', 'feature_drift:b']
    """
    ids = set(latest) if monitors is None else set(monitors) | set(latest)
    out = []
    for o in objectives:
        linked = sorted(m for m in ids if o.matches(m))
        statuses = {m: latest[m][0] for m in linked if m in latest}
        if any(s == "alert" for s in statuses.values()):
            status = "violated"
        elif any(s == "warn" for s in statuses.values()):
            status = "at_risk"
        elif any(s == "ok" for s in statuses.values()):
            status = "met"
        else:
            status = "unknown"
        firing = [m for m in linked if statuses.get(m) in ("alert", "warn")]
        out.append(
            {
                **o.to_dict(),
                "status": status,
                "linked": linked,
                "firing": [
                    {"monitor": m, "status": statuses[m], "reason": latest[m][1]} for m in firing
                ],
                "as_of": max((str(latest[m][2]) for m in statuses), default=None),
            }
        )
    return out
