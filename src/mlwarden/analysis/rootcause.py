"""Why an incident happened: what changed, where, and what else changed with it.

For an incident this gathers (1) features ranked by drift weighted by their importance to the
model, (2) the slices where the model does worst relative to elsewhere in the incident's
windows, (3) data-quality changes in the same windows (a missing-rate jump is the classic sign
of an upstream pipeline break) and (4) a version change or deployment around the onset. It
reads results and aggregates from the store; nothing here reads raw rows into Python.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlwarden.analysis.importance import model_importance
from mlwarden.analysis.slices import find_slices
from mlwarden.errors import MlwardenError
from mlwarden.monitors.taxonomy import kinds_in_family
from mlwarden.store.times import utc_aware, utc_naive

if TYPE_CHECKING:
    from mlwarden.store.base import Store
    from mlwarden.store.protocols import Catalog, Results

__all__ = ["explain"]

log = logging.getLogger("mlwarden.analysis")
_SLICE_METRIC = {"latency": "latency", "errors": "error_rate"}


def _reference(store: Catalog, record: Any) -> pa.Table | None:
    try:
        return store.get_reference(record.project, record.name)[1]
    except MlwardenError:
        return None


def _drift_ranking(
    store: Results, record: Any, start: datetime, end: datetime, importance: dict[str, float]
) -> list[dict[str, Any]]:
    """Every feature's worst drift in the range relative to its threshold, times importance."""
    t = store.results()
    rows = (
        t.filter(
            t.project == record.project,
            t.model == record.name,
            t.kind == "feature_drift",
            t.segment.isnull(),
            t.window_start >= utc_naive(start),
            t.window_start < utc_naive(end),
            t.value.notnull(),
            t.threshold > 0,
        )
        .select("column", "value", "threshold", "window_start", "status")
        .to_pyarrow()
        .to_pylist()
    )
    best: dict[str, dict[str, Any]] = {}
    # the earliest alerting window of each feature, kept apart from its worst window (a later,
    # worse window used to replace the record and, with it, when the alerts began)
    first_alert: dict[str, datetime] = {}
    for r in rows:
        ratio = r["value"] / r["threshold"]
        cur = best.get(r["column"])
        if cur is None or ratio > cur["drift"]:
            best[r["column"]] = {
                "name": r["column"],
                "drift": round(ratio, 3),
                "value": r["value"],
                "threshold": r["threshold"],
                "worst_window": utc_aware(r["window_start"]).isoformat(),
                "alert": r["status"] == "alert",
            }
        if r["status"] == "alert":
            when = utc_aware(r["window_start"])
            first_alert[r["column"]] = min(first_alert.get(r["column"], when), when)
    for name, when in first_alert.items():
        best[name]["alert"] = True
        best[name]["first_alert"] = when.isoformat()
    top = max(importance.values(), default=0.0) or 1.0
    out = []
    for name, item in best.items():
        imp = importance.get(name)
        # drift beyond its threshold, weighted by importance; a drifted input the model ignores
        # (importance 0) still shows, a quarter as strongly as one the model leans on
        weight = 0.25 + 0.75 * (imp / top) if imp is not None else 0.5
        out.append(
            {
                **item,
                "importance": None if imp is None else round(imp, 4),
                "score": round(item["drift"] * weight, 4),
            }
        )
    out.sort(key=lambda f: (not f["alert"], -f["score"]))
    return out


def _quality(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    quality_kinds = kinds_in_family("quality")
    out = []
    for m in members:
        if m["kind"] not in quality_kinds or m.get("segment") is not None:
            continue
        ev = m.get("evidence") or {}
        item = {
            "monitor": m["monitor"],
            "kind": m["kind"],
            "column": m.get("column"),
            "value": m.get("value"),
            "threshold": m.get("threshold"),
            "since": m["first_window"],
            "reason": m.get("reason", ""),
        }
        if "reference_rate" in ev:
            item["baseline"] = ev["reference_rate"]
        if m["kind"] == "schema_violations" and isinstance(ev.get("fields"), dict) and ev["fields"]:
            item["column"] = max(ev["fields"].items(), key=lambda kv: kv[1])[0]
        out.append(item)
    # a missing-rate jump first: the strongest hint of a broken producer
    out.sort(
        key=lambda q: (
            q["kind"] != "missing_values",
            q["kind"] != "schema_violations",
            -(q["value"] or 0),
        )
    )
    return out


def _versions(store: Store, record: Any, onset: datetime, cadence: timedelta) -> dict[str, Any]:
    """Traffic by version in the window before the onset and the onset window."""
    ev = store.events(record)
    lo, mid, hi = onset - cadence, onset, onset + cadence
    t = ev.filter(ev.ts >= utc_naive(lo), ev.ts < utc_naive(hi)).mutate(
        after=ev.ts >= utc_naive(mid)
    )
    rows = t.group_by(["after", "version"]).aggregate(n=t.count()).to_pyarrow().to_pylist()
    before = {r["version"]: r["n"] for r in rows if not r["after"]}
    after = {r["version"]: r["n"] for r in rows if r["after"]}
    nb, na = sum(before.values()), sum(after.values())
    if not na:
        return {}
    new = {
        v: n / na
        for v, n in after.items()
        if n / na >= 0.1 and before.get(v, 0) / max(nb, 1) < 0.02
    }
    created = [
        v.version
        for v in store.list_versions(record.project, record.name)
        if lo <= utc_aware(v.created_at) < hi
    ]
    if not new and not created:
        return {}
    current = max(new, key=lambda v: new[v]) if new else created[-1]
    previous = max(before, key=lambda v: before[v]) if before else None
    return {
        "changed": True,
        "current": current,
        "previous": previous if previous != current else None,
        "share": round(new.get(current, after.get(current, 0) / na), 3),
        "registered_in_window": created,
    }


def explain(
    store: Store,
    record: Any,
    incident: Any,
    *,
    cadence: timedelta,
    slices: bool = True,
) -> dict[str, Any]:
    """The causes of an incident (JSON-ready): ranked features, slices, quality, versions."""
    start = incident.first_window
    end = incident.last_window + cadence
    members = list(incident.members)
    causes: dict[str, Any] = {"onset": start.isoformat(), "window_end": end.isoformat()}
    # a business KPI moves with the model's inputs: its incidents rank drifted features too
    if incident.signature in ("model", "business"):
        importance = _safe("importance", lambda: model_importance(store, record), {})
        causes["features"] = _safe(
            "drift ranking",
            lambda: _drift_ranking(store, record, start, end, importance)[:10],
            [],
        )
        causes["quality"] = _quality(members)
    causes["versions"] = _safe("versions", lambda: _versions(store, record, start, cadence), {})
    if slices:
        metric = _SLICE_METRIC.get(incident.kind, "auto")
        causes["slices"] = _safe(
            "slices",
            lambda: [
                s.to_dict()
                for s in find_slices(
                    store,
                    record,
                    start=start,
                    end=end,
                    metric=metric,
                    reference=_reference(store, record),
                    top=5,
                )
            ],
            [],
        )
    return causes


def _safe(what: str, fn: Callable[[], Any], default: Any) -> Any:
    """One part of the analysis failing leaves the others (and the incident) standing."""
    try:
        return fn()
    except Exception:  # noqa: BLE001 - analysis never blocks an incident; the log says why
        log.exception("root cause analysis: %s failed", what)
        return default
