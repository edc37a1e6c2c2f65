"""The operations tab: traffic, errors, latency quantiles and resources over time, and the
operational monitors (from event aggregates and results)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlwarden.server.ui import ops
from mlwarden.server.ui.placement import kinds_of
from mlwarden.server.ui.state import ViewState
from mlwarden.server.ui.tabs import _heat
from mlwarden.server.ui.views import Chart

if TYPE_CHECKING:
    from mlwarden.store.base import Store

__all__ = ["operations_tab"]

#: Traffic, errors, latency, resources...: every kind placed on this tab.
OPS_KINDS = kinds_of("operations")
PALETTE = ("#1f5fa8", "#7a3e9d", "#0f7b6c", "#a15c00", "#b3261e", "#4a4a4a")


def operations_tab(store: Store, project: str, record: Any, state: ViewState) -> dict[str, Any]:
    assert state.start is not None and state.end is not None
    rows = ops.operations(
        store,
        record,
        start=state.start,
        end=state.end,
        version=state.version,
        segment=state.segment,
    )
    buckets = sorted({r["b"] for r in rows})
    x = [b.timestamp() for b in buckets]
    versions = sorted({r["version"] or "(none)" for r in rows})
    cell = {(r["b"], r["version"] or "(none)"): r for r in rows}

    traffic = Chart(id="ops-traffic", title="Traffic", y_label="events")
    errors = Chart(id="ops-errors", title="Error rate", y_label="share of events", y_format="pct")
    latency = Chart(id="ops-latency", title="Latency", y_label="ms")
    step = {"hour": 3600.0, "day": 86400.0, "week": 7 * 86400.0}[
        ops.bucket_for(state.start, state.end)
    ]
    for c in (traffic, errors, latency):
        c.x, c.x_step = x, step
    for i, v in enumerate(versions):
        color = PALETTE[i % len(PALETTE)]
        traffic.add(f"{v}", [_get(cell, b, v, "n") for b in buckets], color=color, width=2)
        errors.add(
            f"{v}",
            [
                (r["errors"] / r["n"]) if (r := cell.get((b, v))) and r["n"] else None
                for b in buckets
            ],
            color=color,
        )
        for q, q_color in (("p50", "#1f5fa8"), ("p95", "#a15c00"), ("p99", "#b3261e")):
            style: dict[str, Any] = {"color": q_color}
            line = ""
            if i:  # the legend shows colours only: say which line style is which version
                style["dash"] = [6, 4] if i == 1 else [2, 3]
                line = " (dashed)" if i == 1 else " (dotted)"
            latency.add(f"{v} {q}{line}", [_get(cell, b, v, q) for b in buckets], **style)
    res_cols, res_rows = ops.resources(
        store, project, record.name, start=state.start, end=state.end
    )
    resources = None
    if res_rows:
        resources = Chart(id="ops-resources", title="Resources (mean)", y_label="percent")
        resources.x, resources.x_step = [r["b"].timestamp() for r in res_rows], step
        for i, name in enumerate(col for col in res_cols if col.endswith("_percent")):
            resources.add(name.replace("_", " "), [r[name] for r in res_rows], color=PALETTE[i % 6])
    totals = {
        "events": sum(r["n"] for r in rows),
        "errors": sum(r["errors"] for r in rows),
    }
    ctx = _heat(store, project, record, state, OPS_KINDS, importance=None, name_of=_name)
    ctx.update(
        {
            "charts": [c for c in (traffic, errors, latency, resources) if c is not None],
            "totals": totals,
            "versions": versions,
            "exact_latency": bool(state.segment),
        }
    )
    return ctx


def _name(r: dict[str, Any]) -> str:
    return str(r["monitor"])


def _get(cell: dict[Any, dict[str, Any]], b: Any, v: str, key: str) -> Any:
    r = cell.get((b, v))
    return None if r is None else r[key]
