"""An LLM app's dashboard: cost, tokens, latency (p50 / p95, time to first token), error and
flag rates broken down by one dimension (model, user, session, prompt version, route,
provider), over the page's range and over time.

``/ui/models/{model}/dashboard?by=model``: a table of every group (the costliest first) and
one chart per measure with the costliest groups as series. The range and ``by`` are in the
URL, like every view; the API twin is ``GET /v1/llm/breakdown``.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mlwarden.errors import ValidationError, expected
from mlwarden.server.services import Svc
from mlwarden.server.ui.llm_app import llm_app
from mlwarden.server.ui.routing import HTMLRoute, UIRead, render
from mlwarden.server.ui.tab_llm import PALETTE
from mlwarden.server.ui.views import Chart
from mlwarden.store import llm_breakdown as lb
from mlwarden.store.queries import Window

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
#: The dashboard's group-by choices and their labels.
GROUP_BY = {
    "model": "model",
    "user": "user",
    "session": "session",
    "prompt_version": "prompt version",
    "route": "route",
    "provider": "provider",
}
#: Groups drawn as series in each chart (the costliest of the range).
TOP = 6
#: Groups listed in the table.
MAX_ROWS = 200
#: Charts: (measure, title, y label, y format).
CHARTS = (
    ("cost", "Cost (USD)", "USD", "usd"),
    ("tokens", "Tokens (in + out)", "tokens", "num"),
    ("latency_p95", "Latency p95 (ms)", "ms", "num"),
    ("ttft_p95", "Time to first token p95 (ms)", "ms", "num"),
    ("error_rate", "Error rate", "share", "pct"),
    ("flag_rate", "Flagged share", "share", "pct"),
)


def _derived(r: dict[str, Any]) -> dict[str, Any]:
    r["tokens"] = (r["input_tokens"] or 0) + (r["output_tokens"] or 0)
    r["error_rate"] = r["errors"] / r["calls"] if r["calls"] else None
    r["flag_rate"] = r["flagged"] / r["calls"] if r["calls"] else None
    return r


def _name(key: Any) -> str:
    return "(none)" if key is None else str(key)


@router.get("/ui/models/{model}/dashboard", response_class=HTMLResponse)
def dashboard_page(model: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """The app's numbers by the chosen dimension: a table and charts over time."""
    store = sv.store
    app = llm_app(store, project, model, request.url.path, request.query_params)
    by = app.params.get("by", "model")
    if by not in GROUP_BY:
        raise ValidationError(expected("parameter", "by", f"be one of {', '.join(GROUP_BY)}", by))
    rng = app.range()
    rows = [_derived(r) for r in lb.breakdown(app.spans, by=by, **rng, limit=MAX_ROWS)]
    assert app.state.start is not None and app.state.end is not None
    bucket: Window = "hour" if app.state.end - app.state.start <= timedelta(days=3) else "day"
    step = 3600.0 if bucket == "hour" else 86400.0
    series = [_derived(r) for r in lb.breakdown(app.spans, by=by, window=bucket, **rng)]
    top = [r["key"] for r in rows[:TOP]]
    x = sorted({r["window_start"] for r in series})
    at = {(r["key"], r["window_start"]): r for r in series}
    charts = []
    for measure, title, y_label, y_format in CHARTS:
        c = Chart(id=f"llm-{measure.replace('_', '-')}-by", title=f"{title} by {GROUP_BY[by]}",
                  y_label=y_label, y_format=y_format)  # fmt: skip
        c.x, c.x_step = [t.replace(tzinfo=UTC).timestamp() for t in x], step
        for i, key in enumerate(top):
            vals = [at[(key, t)][measure] if (key, t) in at else None for t in x]
            c.add(_name(key), vals, color=PALETTE[i % len(PALETTE)], width=2)
        charts.append(c)
    return render(request, "llm_dashboard.html", {
        **app.context(), "project": project, "by": by, "group_by": GROUP_BY, "rows": rows,
        "charts": charts, "bucket": bucket, "capped": len(rows) >= MAX_ROWS,
        "shown": len(top)})  # fmt: skip
