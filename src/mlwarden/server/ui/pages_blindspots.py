"""The blind spots page: the slices of a time range where a metric is significantly worst
(:mod:`mlwarden.analysis.blindspots`), as a ranked table and a bar chart of the gaps with
their intervals, each slice linking to its events and its features' pages.

State is in the URL as on every page (:mod:`mlwarden.server.ui.state`: ``start``, ``end``,
``segment``) plus the page's own ``metric``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mlwarden.analysis.blindspots import (
    METRICS,
    BlindSpot,
    BlindSpots,
    find_blind_spots,
    reference_of,
)
from mlwarden.analysis.importance import model_importance
from mlwarden.analysis.slices import Condition
from mlwarden.errors import ValidationError, expected
from mlwarden.server.services import Svc
from mlwarden.server.ui.pages_model import model_context
from mlwarden.server.ui.routing import HTMLRoute, UIRead, render, templates
from mlwarden.server.ui.state import ViewState

__all__ = ["blind_spots_href", "gap_bars", "router", "slice_sample_href"]

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
#: Bars drawn in the chart (the table lists every slice returned).
MAX_BARS = 12


def blind_spots_href(model: str, state: ViewState, metric: str | None = None) -> str:
    """The page's link, keeping a view's range and segment.

    >>> blind_spots_href("churn", ViewState.parse({"tab": "drift", "start": "2026-01-01"}))
    '/ui/models/churn/blind-spots?start=2026-01-01'
    """
    p = state.params(tab=None, feature=None, window=None, sort=None, page=None, state=None,
                     a=None, b=None, version=None, refresh=None, cadence=None)  # fmt: skip
    if metric:
        p["metric"] = metric
    return f"/ui/models/{quote(model, safe='')}/blind-spots" + ("?" + urlencode(p) if p else "")


templates.env.globals["blind_spots_href"] = blind_spots_href


def slice_sample_href(model: str, state: ViewState, conditions: tuple[Condition, ...]) -> str:
    """The UI sample download of a slice's events (a missing-value condition is left out).

    >>> from datetime import UTC, datetime
    >>> s = ViewState(start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 1, 2, tzinfo=UTC))
    >>> slice_sample_href("m", s, (Condition("region", "==", value="west"),
    ...                            Condition("amount", "range", low=2.5)))
    '/ui/models/m/events/sample?start=2026-01-01T00%3A00%3A00%2B00%3A00&end=2026-01-02T00%3A00%3A00%2B00%3A00&segment=region%3Dwest&range=amount%3A2.5%3A&format=csv'
    """  # noqa: E501
    assert state.start is not None and state.end is not None
    params = [("start", state.start.isoformat()), ("end", state.end.isoformat())]
    if state.segment:
        params.append(("segment", state.segment))
    for c in conditions:
        if c.op == "==" and c.value is not None:
            params.append(("segment", f"{c.column}={c.value}"))
        elif c.op == "range":
            low = "" if c.low is None else repr(float(c.low))
            high = "" if c.high is None else repr(float(c.high))
            params.append(("range", f"{c.column}:{low}:{high}"))
    params.append(("format", "csv"))
    return f"/ui/models/{quote(model, safe='')}/events/sample?{urlencode(params)}"


def gap_bars(spots: tuple[BlindSpot, ...], *, width: float = 640.0) -> dict[str, Any]:
    """Geometry of a horizontal bar chart of the gaps (slice minus rest) with their
    intervals, zero at ``x0``: one bar per slice, worst-ranked first.

    >>> from mlwarden.analysis.slices import Condition
    >>> s = BlindSpot((Condition("r", "==", value="w"),), rows=10, share=0.1, value=0.5,
    ...               rest=0.8, gap=-0.3, low=-0.4, high=-0.2, p_value=1e-3, adjusted_p=1e-2,
    ...               impact=3.0)
    >>> g = gap_bars((s,), width=400)
    >>> g["bars"][0]["x"] < g["x0"], g["bars"][0]["lo"] < g["bars"][0]["x"]
    (True, True)
    """
    shown = spots[:MAX_BARS]
    label_w, pad, row = 260.0, 10.0, 26.0
    lo = min([0.0, *(s.low for s in shown)])
    hi = max([0.0, *(s.high for s in shown)])
    span = (hi - lo) or 1.0
    plot = width - label_w - 2 * pad

    def x(v: float) -> float:
        return round(label_w + pad + (v - lo) / span * plot, 1)

    bars = []
    for i, s in enumerate(shown):
        x1, x2 = sorted((x(0.0), x(s.gap)))
        bars.append({
            "label": s.describe(), "y": round(pad + i * row, 1), "x": x1, "w": round(x2 - x1, 1),
            "lo": x(s.low), "hi": x(s.high), "gap": s.gap, "low": s.low, "high": s.high,
        })  # fmt: skip
    return {"bars": bars, "x0": x(0.0), "width": width, "height": 2 * pad + row * len(shown),
            "row": row, "lo": lo, "hi": hi}  # fmt: skip


@router.get("/ui/models/{model}/blind-spots", response_class=HTMLResponse)
def blind_spots_page(model: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """The slices where the chosen metric is significantly worst, ranked by rows x gap."""
    store = sv.store
    ctx = model_context(store, project, model, ViewState.parse(request.query_params))
    state: ViewState = ctx["state"]
    record = ctx["record"]
    valid = [m for m, spec in METRICS.items() if record.spec.task in spec.tasks]
    default = "accuracy" if "accuracy" in valid else "mae" if "mae" in valid else "error_rate"
    metric = request.query_params.get("metric") or default
    if metric not in valid:
        raise ValidationError(
            expected("parameter", "metric", f"be one of {', '.join(valid)}", metric)
        )
    segment = None
    if state.segment:
        col, _, value = state.segment.partition("=")
        segment = {col: value}
    assert state.start is not None and state.end is not None
    result: BlindSpots = find_blind_spots(
        store,
        record,
        start=state.start,
        end=state.end,
        metric=metric,
        segment=segment,
        reference=reference_of(store, record),
        importance=model_importance(store, record),
    )
    features = {f.name for f in record.spec.features}
    rows = [
        {"spot": s, "events": slice_sample_href(model, state, s.conditions),
         "features": [c.column for c in s.conditions if c.column in features]}
        for s in result.spots
    ]  # fmt: skip
    return render(
        request,
        "blindspots.html",
        {
            **ctx,
            "project": project,
            "metric": metric,
            "metrics": valid,
            "result": result,
            "rows": rows,
            "bars": gap_bars(result.spots),
            "feature_state": ViewState(start=state.start, end=state.end, segment=state.segment),
        },
    )
