"""The model page's tabs built from monitor results: performance, drift, quality, fairness.

Each function takes the store, project, model record and view state, and returns the
template context of its tab. Operations (from event aggregates) live in :mod:`.tabs_ops`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlwarden.errors import NotFoundError
from mlwarden.monitors import service
from mlwarden.monitors.taxonomy import kinds_in_family
from mlwarden.server.ui import data
from mlwarden.server.ui.cadence import CadencePick, one_cadence
from mlwarden.server.ui.format import num
from mlwarden.server.ui.placement import kinds_of
from mlwarden.server.ui.reference import model_importance
from mlwarden.server.ui.state import ViewState
from mlwarden.server.ui.views import Chart, HeatMap, bar_chart, heat_map, paginate

if TYPE_CHECKING:
    from mlwarden.store.base import Store

__all__ = ["drift_tab", "fairness_tab", "performance_tab", "quality_tab"]

DRIFT_KINDS = kinds_of("drift")
QUALITY_KINDS = kinds_of("quality")
#: The realised-vs-estimated charts pair these two kinds (other performance kinds, such as
#: custom metrics, have no estimate to draw beside them).
PERF_KINDS = ("performance", "estimated_performance")
#: Business KPIs, charted on the performance tab with their expected value and range.
KPI_KINDS = tuple(sorted(kinds_in_family("business")))
HEAT_ROWS_PER_PAGE = 25


def current_cadence(store: Store, project: str, model: str) -> str | None:
    """The window length of the model's monitors now (None without monitors)."""
    try:
        return str(service.load_suite(store, project, model).cadence)
    except NotFoundError:
        return None


def _one_cadence(
    store: Store, project: str, record: Any, state: ViewState, rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], CadencePick]:
    return one_cadence(
        rows, current=current_cadence(store, project, record.name), wanted=state.cadence
    )


def _x(windows: list[datetime]) -> list[float]:
    return [w.timestamp() for w in windows]


def performance_tab(store: Store, project: str, record: Any, state: ViewState) -> dict[str, Any]:
    """Realized and estimated performance over time with confidence bands, and per segment."""
    rows = data.view_rows(
        store,
        project,
        record.name,
        state,
        kinds=PERF_KINDS,
        details=True,
    )
    rows, pick = _one_cadence(store, project, record, state, rows)
    by_metric: dict[str, dict[str, dict[datetime, dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for r in rows:
        kind, _, metric = r["monitor"].partition(":")
        by_metric[metric][kind][r["window_start"]] = r
    charts = []
    for metric in sorted(by_metric):
        kinds = by_metric[metric]
        windows = sorted({w for k in kinds.values() for w in k})
        real = kinds.get("performance", {})
        est = kinds.get("estimated_performance", {})
        chart = Chart(id=f"perf-{metric}", title=metric.replace("_", " "), y_label=metric)
        chart.x = _x(windows)
        chart.add("realized", [_val(real.get(w)) for w in windows], color="#1f5fa8", width=2)
        if est:
            chart.add(
                "estimated", [_val(est.get(w)) for w in windows], color="#7a3e9d", dash=[6, 4]
            )
            chart.add("estimate lower", [_det(est.get(w), "lower") for w in windows], band=True)
            chart.add("estimate upper", [_det(est.get(w), "upper") for w in windows], band=True)
            chart.bands.append([4, 3])
        thresholds = [_th(real.get(w)) or _th(est.get(w)) for w in windows]
        chart.add("alert threshold", thresholds, color="#b3261e", dash=[2, 3])
        latest = [real.get(w) or est.get(w) for w in windows]
        last = next((r for r in reversed(latest) if r and r["value"] is not None), None)
        charts.append({"chart": chart, "latest": last})
    charts += _kpi_charts(store, project, record, state)
    segments = data.latest_rows(
        store,
        project,
        record.name,
        any_segment=True,
        start=state.start,
        end=state.end,
        kinds=PERF_KINDS + KPI_KINDS,
        with_value=True,
    )
    segments.sort(key=lambda r: (r["monitor"], r["segment"] is not None, r["segment"] or ""))
    return {"charts": charts, "segment_rows": segments, "cadence": pick}


def _kpi_charts(store: Store, project: str, record: Any, state: ViewState) -> list[dict[str, Any]]:
    """A chart per business KPI: its value, the value expected at each window's size from
    the reference with the range chance allows around it, and the alert threshold."""
    rows = data.result_rows(
        store,
        project,
        record.name,
        start=state.start,
        end=state.end,
        segment=state.segment,
        kinds=KPI_KINDS,
        details=True,
    )
    rows, _ = _one_cadence(store, project, record, state, rows)
    by: dict[str, dict[datetime, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        by[r["monitor"]][r["window_start"]] = r
    out = []
    for monitor in sorted(by):
        got = by[monitor]
        windows = sorted(got)
        name = monitor.partition(":")[2].replace("_", " ")
        chart = Chart(id=f"kpi-{monitor.replace(':', '-')}", title=f"KPI: {name}", y_label=name)
        chart.x = _x(windows)
        chart.add("value", [_val(got.get(w)) for w in windows], color="#1f5fa8", width=2)
        chart.add(
            "expected",
            [_det(got.get(w), "expected") for w in windows],
            color="#5f6b7a",
            dash=[6, 4],
        )
        chart.add("expected low", [_det(got.get(w), "low") for w in windows], band=True)
        chart.add("expected high", [_det(got.get(w), "high") for w in windows], band=True)
        chart.bands.append([4, 3])
        chart.add(
            "alert threshold", [_th(got.get(w)) for w in windows], color="#b3261e", dash=[2, 3]
        )
        last = next((got[w] for w in reversed(windows) if got[w]["value"] is not None), None)
        out.append({"chart": chart, "latest": last})
    return out


def _val(r: dict[str, Any] | None) -> float | None:
    return None if r is None else r["value"]


def _th(r: dict[str, Any] | None) -> float | None:
    return None if r is None else r["threshold"]


def _det(r: dict[str, Any] | None, key: str) -> float | None:
    if r is None:
        return None
    v = r.get("details", {}).get(key)
    return float(v) if isinstance(v, int | float) else None


def _heat(
    store: Store,
    project: str,
    record: Any,
    state: ViewState,
    kinds: tuple[str, ...],
    *,
    importance: dict[str, float] | None,
    name_of: Any = None,
) -> dict[str, Any]:
    rows = data.view_rows(
        store,
        project,
        record.name,
        state,
        kinds=kinds,
    )
    rows, pick = _one_cadence(store, project, record, state, rows)

    drill = state.drill_link()

    def link(name: str, w: datetime) -> str:
        return drill(name, w) + "#drilldown"

    names = {
        r["monitor"]: (name_of(r) if name_of else r.get("column") or r["monitor"]) for r in rows
    }
    hm = heat_map(
        rows,
        lambda mon, w: link(names[mon], w),
        importance=importance,
        sort=state.sort,
        selected=(state.feature, state.window) if state.feature and state.window else None,
        name_of=name_of,
    )
    page = paginate(hm.rows, state.page, HEAT_ROWS_PER_PAGE)
    ctx: dict[str, Any] = {
        "heat": HeatMap(windows=hm.windows, rows=page.items),
        "heat_page": page,
        "drill": None,
        "cadence": pick,
    }
    if state.feature and state.window:
        mon = next((m for m, n in names.items() if n == state.feature), None)
        if mon is not None:
            ctx["drill"] = drilldown(
                data.one_result(store, project, record.name, mon, state.window, state.segment)
            )
    return ctx


def drilldown(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """One result's explanation; reference vs current histogram when it carries one."""
    if result is None:
        return None
    details = dict(result.get("details") or {})
    chart = details.pop("chart", None)
    out: dict[str, Any] = {"result": result, "histogram": None, "facts": []}
    if chart and chart.get("labels"):
        labels = [str(x) for x in chart["labels"]]
        ref = [float(x) for x in chart.get("reference", [])]
        cur = [float(x) for x in chart.get("current", [])]
        keep = [i for i in range(len(labels)) if ref[i] > 0 or cur[i] > 0]
        labels = [labels[i] for i in keep]
        ref = [ref[i] for i in keep]
        cur = [cur[i] for i in keep]
        quantiles = chart.get("reference_quantiles")
        axis = [labels[0], labels[len(labels) // 2], labels[-1]] if len(labels) > 2 else labels
        ticks, x_title = list(labels), "category"
        if quantiles and all(x.startswith("bin ") for x in labels):
            # numeric bins hold equal shares of the reference: name them by its percentiles
            edges = [0.0]
            for share in ref:
                edges.append(edges[-1] + share)
            labels = [
                f"{x} (reference percentiles {100 * lo:.0f}–{100 * hi:.0f})"
                for x, lo, hi in zip(labels, edges, edges[1:], strict=False)
            ]
            ticks = [f"{100 * hi:.0f}" for hi in edges[1:]]
            x_title = "bins by reference percentile (upper edge), low to high"
            if len(quantiles) == 7:  # min, 1, 10, 50, 90, 99 %, max
                axis = [
                    f"← low (reference min {num(quantiles[0])})",
                    f"reference median {num(quantiles[3])}",
                    f"high (reference max {num(quantiles[6])}) →",
                ]
        out["histogram"] = {
            "svg": bar_chart(
                labels,
                [("reference", ref, "ref"), ("current", cur, "cur")],
                title=f"Reference vs current distribution of {result.get('column') or result['monitor']}",
                ticks=ticks,
                x_title=x_title,
            ),
            "rows": list(zip(labels, ref, cur, strict=True)),
            "quantiles": quantiles,
            "axis": axis,
        }
    for k, v in details.items():
        if isinstance(v, dict):
            v = ", ".join(
                f"{a}: {b:.4g}" if isinstance(b, float) else f"{a}: {b}"
                for a, b in list(v.items())[:12]
            )
        out["facts"].append((k.replace("_", " "), v))
    return out


def drift_tab(store: Store, project: str, record: Any, state: ViewState) -> dict[str, Any]:
    """Features × windows, sorted by importance; a cell opens reference vs current."""
    importance = model_importance(store, project, record)

    def name_of(r: dict[str, Any]) -> str:
        return str(
            r.get("column")
            or ("multivariate" if r["kind"] == "multivariate_drift" else r["monitor"])
        )

    return _heat(store, project, record, state, DRIFT_KINDS, importance=importance, name_of=name_of)


def quality_tab(store: Store, project: str, record: Any, state: ViewState) -> dict[str, Any]:
    """Data-quality monitors × windows (missing values, ranges, new categories, rejects)."""

    def name_of(r: dict[str, Any]) -> str:
        return str(r["monitor"])

    return _heat(store, project, record, state, QUALITY_KINDS, importance=None, name_of=name_of)


def fairness_tab(store: Store, project: str, record: Any, state: ViewState) -> dict[str, Any]:
    """Per sensitive attribute: disparate impact over time and each group's selection rate."""
    rows = data.view_rows(
        store,
        project,
        record.name,
        state,
        kinds=["fairness"],
        details=True,
    )
    by_monitor: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:  # one section per monitor: an attribute may be judged by several metrics
        by_monitor[str(r["monitor"])].append(r)
    sections = []
    for mon in sorted(by_monitor):
        rs = by_monitor[mon]
        col = str(rs[0].get("column") or mon)
        label = next(
            (r["details"]["metric_label"] for r in rs if r["details"].get("metric_label")), ""
        )
        label = label or "disparate impact"
        windows = [r["window_start"] for r in rs]
        key = mon.replace(":", "-")
        ratio = Chart(
            id=f"fair-{key}",
            title=f"{label[0].upper()}{label[1:]} across {col}",
            y_label="ratio" if label == "disparate impact" else "difference",
        )
        ratio.x = _x(windows)
        ratio.add(label, [r["value"] for r in rs], color="#1f5fa8", width=2)
        ratio.add("alert threshold", [r["threshold"] for r in rs], color="#b3261e", dash=[2, 3])
        groups = sorted({g for r in rs for g in (r["details"].get("groups") or {})})
        sel = Chart(
            id=f"sel-{key}",
            title=f"Selection rate by {col}",
            y_label="selection rate",
            y_format="pct",
        )
        sel.x = _x(windows)
        for g in groups:
            sel.add(
                g,
                [(r["details"].get("groups") or {}).get(g, {}).get("selection_rate") for r in rs],
            )
        last = next((r for r in reversed(rs) if r["details"].get("groups")), None)
        sections.append(
            {
                "column": col if label == "disparate impact" else f"{col}: {label}",
                "ratio": ratio,
                "selection": sel,
                "latest": last,
                "groups": sorted((last["details"].get("groups") or {}).items()) if last else [],
            }
        )
    return {"sections": sections}
