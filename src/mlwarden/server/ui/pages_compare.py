"""Version comparison: two versions side by side on the same windows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mlwarden.analysis.champion import Comparison, compare_versions
from mlwarden.analysis.champion_kpis import model_kpis
from mlwarden.errors import MlwardenError
from mlwarden.server.services import Svc
from mlwarden.server.ui import ops
from mlwarden.server.ui.pages_model import model_context
from mlwarden.server.ui.reference import reference_moments
from mlwarden.server.ui.routing import HTMLRoute, UIRead, render
from mlwarden.server.ui.run_links import version_runs
from mlwarden.server.ui.state import ViewState
from mlwarden.server.ui.views import Chart

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
COLORS = ("#1f5fa8", "#a15c00")
MAX_FEATURES = 40
#: Events of the two versions in the range up to which the champion / challenger comparison
#: runs with the page; above, the page offers a link (``verdict=1``) that runs it.
AUTO_LIMIT = 1_000_000


def _pick(versions: list[str], state: ViewState) -> tuple[str | None, str | None]:
    """The requested versions, else the two newest."""
    a = state.a or (versions[-2] if len(versions) >= 2 else versions[0] if versions else None)
    b = state.b or (versions[-1] if len(versions) >= 2 else None)
    return a, b


@router.get("/ui/models/{model}/compare", response_class=HTMLResponse)
def compare_page(model: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """Traffic, errors, latency, output and accuracy of two versions per window, and how far
    each version's features sit from the reference."""
    store = sv.store
    ctx = model_context(store, project, model, ViewState.parse(request.query_params))
    state: ViewState = ctx["state"]
    record = ctx["record"]
    a, b = _pick(ctx["versions"], state)
    state = replace(state, a=a, b=b)
    picked = [v for v in (a, b) if v]
    assert state.start is not None and state.end is not None
    roll = store.rollup(record, start=state.start, end=state.end, labels=True)
    unit = ops.bucket_for(state.start, state.end)
    rows = ops.version_windows(roll, record, unit=unit, versions=picked) if picked else []
    buckets = sorted({r["b"] for r in rows})
    cell = {(r["b"], r["version"]): r for r in rows}
    metrics: list[tuple[str, str, Any]] = [
        ("traffic", "events", lambda r: r["n"]),
        ("error rate", "share", lambda r: r["errors"] / r["n"] if r["n"] else None),
        ("latency p95", "ms", lambda r: r["p95"]),
        ("mean score", "score", lambda r: r["score"]),
    ]
    if record.spec.effective_positive_class is not None:
        metrics.append(("positive predictions", "share", lambda r: r.get("positive")))
    if record.spec.task.is_classification:
        metrics.append(
            (
                "accuracy (labelled)",
                "accuracy",
                lambda r: r["correct"] / r["labelled"] if r.get("labelled") else None,
            )
        )
    charts = []
    for title, unit, fn in metrics:
        c = Chart(
            id="cmp-" + title.split()[0],
            title=title,
            y_label=unit,
            y_format="pct" if unit == "share" else "num",
        )
        c.x = [t.timestamp() for t in buckets]
        for color, v in zip(COLORS, picked, strict=False):
            c.add(
                v,
                [fn(cell[(t, v)]) if (t, v) in cell else None for t in buckets],
                color=color,
                width=2,
            )
        charts.append(c)
    summary = _summary(rows, picked)
    moments = reference_moments(store, project, record)
    columns = sorted(moments)[:MAX_FEATURES]
    means = ops.version_features(
        store, record, roll, start=state.start, end=state.end, versions=picked, columns=columns
    )
    features: list[dict[str, Any]] = []
    for col in columns:
        mu, sd = moments[col]
        shifts: dict[str, float | None] = {}
        for v in picked:
            m = means.get(v, {}).get(col)
            shifts[v] = None if m is None or not sd else (m - mu) / sd
        top = max((abs(s) for s in shifts.values() if s is not None), default=0.0)
        features.append(
            {
                "column": col,
                "reference": mu,
                "means": {v: means.get(v, {}).get(col) for v in picked},
                "shifts": shifts,
                "top": top,
            }
        )
    features.sort(key=lambda f: -float(f["top"]))
    champion, champion_charts, champion_error, champion_link = None, [], None, None
    total = sum(int(x["events"]) for x in summary)
    asked = request.query_params.get("verdict") == "1"
    if a and b and a != b and total > AUTO_LIMIT and not asked:
        # the comparison joins the versions' events: on a large range, only when asked
        url = request.url.include_query_params(verdict="1")
        champion_link = {"href": f"{url.path}?{url.query}", "events": total}
    elif a and b and a != b:
        try:
            champion = compare_versions(
                store,
                record,
                champion=a,
                challenger=b,
                start=state.start,
                end=state.end,
                kpis=model_kpis(store, record.project, record.name, record.spec),
            )
            champion_charts = _champion_charts(champion)
        except MlwardenError as exc:  # no events of a version, not a classifier: said on the page
            champion_error = str(exc)
    return render(
        request,
        "compare.html",
        {
            **ctx,
            "state": state,
            "project": project,
            "picked": picked,
            "charts": charts,
            "summary": summary,
            "features": features,
            "labels_as_of": roll.labels_as_of,
            "runs": version_runs(store, project, model, picked),
            "champion": champion,
            "champion_charts": champion_charts,
            "champion_error": champion_error,
            "champion_link": champion_link,
        },
    )


def _champion_charts(c: Comparison) -> list[Chart]:
    """Daily accuracy of both versions; for an A/B split, the always-valid interval of the
    difference as it narrowed day by day."""
    x = [d["day"].replace(tzinfo=UTC).timestamp() for d in c.daily]
    acc = Chart(id="champion-accuracy", title="daily accuracy (labelled)", y_label="accuracy",
                y_format="pct", x=x, x_step=86400.0)  # fmt: skip
    for color, role, v in zip(COLORS, ("champion", "challenger"), (c.champion, c.challenger),
                              strict=True):  # fmt: skip
        acc.add(
            f"{v} ({role})",
            [d[f"hits_{role}"] / d[f"n_{role}"] if d[f"n_{role}"] else None for d in c.daily],
            color=color,
            width=2,
        )
    charts = [acc]
    if c.sequential:
        seq = Chart(id="champion-sequential", y_format="pct", x=x, x_step=86400.0,
                    title=f"accuracy of {c.challenger} minus {c.champion}, always-valid 95% interval",
                    y_label="difference")  # fmt: skip
        seq.add("difference", [s["diff"] for s in c.sequential], color=COLORS[1], width=2)
        seq.add("upper bound", [s["high"] for s in c.sequential], band=True)
        seq.add("lower bound", [s["low"] for s in c.sequential], band=True)
        seq.bands += [[2, 3]]
        charts.append(seq)
    return charts


def _summary(rows: list[dict[str, Any]], versions: list[str]) -> list[dict[str, Any]]:
    out = []
    for v in versions:
        rs = [r for r in rows if r["version"] == v]
        n = sum(r["n"] for r in rs)
        labelled = sum(r.get("labelled", 0) for r in rs)
        out.append(
            {
                "version": v,
                "events": n,
                "error_rate": sum(r["errors"] for r in rs) / n if n else None,
                "labelled": labelled,
                "accuracy": sum(r.get("correct", 0) for r in rs) / labelled if labelled else None,
                "windows": len(rs),
            }
        )
    return out
