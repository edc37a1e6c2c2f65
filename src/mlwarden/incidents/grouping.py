"""Which firing results belong together, and what kind of problem they describe.

One shift in one upstream column fires thirty monitors: drift of the column, of the
prediction, multivariate drift, estimated and then realised performance, each on the whole
model and on segments. They share a cause, so they share an incident. Monitors are grouped
into *families* whose members explain one another (a model's data and its performance; its
serving operations; its fairness); an open incident of a family absorbs that family's later
firing windows until it has been healthy for a while. Both the families and an incident's
kind come from the ``family`` each monitor kind declares (:mod:`mlwarden.monitors.taxonomy`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlwarden.monitors.base import Result
from mlwarden.monitors.taxonomy import (
    MODEL_FAMILIES,
    OPERATIONS_FAMILIES,
    incident_family_of,
)
from mlwarden.monitors.taxonomy import family_of as family_of_kind

__all__ = ["Group", "family_of", "group_firing", "incident_kind", "member_of"]

#: Firing windows remembered per member (the count of older ones is not kept).
MAX_WINDOWS = 400


def family_of(kind: str) -> str:
    """The incident family of a monitor kind (from the ``family`` its class declares, see
    :mod:`mlwarden.monitors.taxonomy`).

    Examples
    --------
    >>> family_of("feature_drift"), family_of("latency"), family_of("llm_cost")
    ('model', 'operations', 'cost')
    >>> family_of("llm_injection")
    'llm_injection'
    """
    return incident_family_of(kind)


def incident_kind(family: str, kinds: Iterable[str]) -> str:
    """What an incident is about, from the kinds of its members (the rule table keys on it).

    Examples
    --------
    >>> incident_kind("model", ["feature_drift", "performance"])
    'drift'
    >>> incident_kind("model", ["missing_values", "feature_drift"])
    'quality'
    >>> incident_kind("operations", ["latency"])
    'latency'
    """
    families = {family_of_kind(k) for k in kinds}
    if family == "model":
        return next((f for f in MODEL_FAMILIES if f in families), "quality")
    if family == "operations":
        return next((f for f in OPERATIONS_FAMILIES if f in families), "traffic")
    return family


@dataclass(frozen=True)
class Group:
    """Firing results of one window that share a family."""

    family: str
    results: tuple[Result, ...]

    @property
    def kinds(self) -> list[str]:
        return sorted({r.kind for r in self.results})


def group_firing(results: Iterable[Result]) -> list[Group]:
    """Group one window's firing (alert) results by family."""
    by: dict[str, list[Result]] = {}
    for r in results:
        if r.status.firing:
            by.setdefault(family_of(r.kind), []).append(r)
    return [Group(f, tuple(rs)) for f, rs in sorted(by.items())]


def member_of(r: Result, *, severity: str) -> dict[str, Any]:
    """The compact record of a firing result kept in an incident."""
    ratio = None
    if r.value is not None and r.threshold:
        ratio = (
            r.value / r.threshold if r.direction == "above" else r.threshold / max(r.value, 1e-12)
        )
    return {
        "monitor": r.monitor,
        "kind": r.kind,
        "column": r.column,
        "segment": r.segment,
        "severity": severity,
        "first_window": r.window_start.isoformat(),
        "last_window": r.window_start.isoformat(),
        "windows": [r.window_start.isoformat()],
        "value": r.value,
        "threshold": r.threshold,
        "direction": r.direction,
        "ratio": ratio,
        "reason": r.reason,
        "evidence": _evidence(r.details),
    }


def _evidence(details: dict[str, Any]) -> dict[str, Any]:
    """The small numbers of a result's details (charts and long lists left in the results)."""
    out: dict[str, Any] = {}
    for k, v in details.items():
        if k == "chart":
            continue
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[k] = v
        elif isinstance(v, dict) and len(v) <= 10:
            out[k] = {str(a): b for a, b in v.items() if isinstance(b, (int, float, str, bool))}
    return out


def merge_member(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Fold another firing window of the same monitor and segment into its record (the same
    window again, from a re-evaluation, counts once)."""
    out = dict(old)
    out["first_window"] = min(old["first_window"], new["first_window"])
    if new["last_window"] >= old["last_window"]:
        for k in ("last_window", "value", "threshold", "ratio", "reason", "evidence"):
            out[k] = new[k]
    out["windows"] = sorted(set(old.get("windows", [])) | set(new["windows"]))[-MAX_WINDOWS:]
    return out
