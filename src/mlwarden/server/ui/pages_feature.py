"""The feature page: one feature over time beside its reference, with its drift results,
its data quality, its importance and the incidents that name it.

``/ui/models/{model}/features/{column}`` takes the model page's URL state (range, segment,
version, cadence; :mod:`.state`). The distribution per window (quantile bands of a numeric
feature, category shares of another) is computed in the engine over the monitors' windows
(:mod:`mlwarden.store.feature_history`); the model's outputs (``prediction``, ``score``) have a
page too, as the drift heat map names them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mlwarden.errors import NotFoundError
from mlwarden.monitors.suite import parse_cadence
from mlwarden.schema.spec import FeatureKind, Task
from mlwarden.server.routes_feature import window_run
from mlwarden.server.services import Svc
from mlwarden.server.ui import data, incident_source
from mlwarden.server.ui.pages_model import model_context
from mlwarden.server.ui.reference import feature_reference, model_importance
from mlwarden.server.ui.routing import HTMLRoute, UIRead, render, templates
from mlwarden.server.ui.state import ViewState
from mlwarden.server.ui.tabs import DRIFT_KINDS, QUALITY_KINDS, current_cadence
from mlwarden.server.ui.views import Chart
from mlwarden.store.feature_history import OTHER, QUANTILES, FeatureWindow, feature_history

if TYPE_CHECKING:
    from mlwarden.store.base import Store

__all__ = ["feature_columns", "feature_href", "router"]

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
#: Categories drawn per window (the rest are one "other").
TOP_CATEGORIES = 8
#: Incidents of the model looked through for the feature's name.
INCIDENTS_SCANNED = 200
DISTRIBUTED = (FeatureKind.NUMERIC, FeatureKind.CATEGORICAL, FeatureKind.BOOLEAN)


def feature_columns(record: Any) -> dict[str, tuple[str, str]]:
    """Every name with a feature page: name -> (stored column, kind); the model's outputs are
    ``prediction`` and ``score`` as the drift heat map names them."""
    out = {f.name: (f.name, f.kind.value) for f in record.spec.features}
    if record.spec.prediction:
        numeric = record.spec.task is Task.REGRESSION
        out.setdefault("prediction", ("prediction", "numeric" if numeric else "categorical"))
    if record.spec.score:
        out.setdefault("score", ("score", "numeric"))
    return out


def feature_href(model: str, column: str, state: ViewState | None = None) -> str:
    """The feature page's link, keeping a view's range, segment, version and cadence.

    >>> feature_href("churn", "age", ViewState.parse({"tab": "drift", "start": "2026-01-01"}))
    '/ui/models/churn/features/age?start=2026-01-01'
    """
    keep = ""
    if state is not None:
        keep = state.query(
            tab=None, feature=None, window=None, sort=None, page=None, state=None, a=None, b=None
        )
    return f"/ui/models/{quote(model, safe='')}/features/{quote(column, safe='')}{keep}"


templates.env.globals["feature_href"] = feature_href


def _segment(state: ViewState) -> dict[str, str] | None:
    if not state.segment:
        return None
    col, _, value = state.segment.partition("=")
    return {col: value}


def _x(windows: list[FeatureWindow]) -> list[float]:
    return [w.start.timestamp() for w in windows]


def numeric_chart(
    name: str, windows: list[FeatureWindow], ref: dict[str, Any], step: float
) -> Chart:
    """Quantile bands per window (5–95 % and 25–75 %), the median, the reference median."""
    chart = Chart(id="feature-dist", title=f"{name}: quantiles per window", y_label=name)
    chart.x, chart.x_step = _x(windows), step
    qs = [[(w.quantiles or (None,) * len(QUANTILES))[i] for w in windows] for i in range(5)]
    chart.add("95th percentile", qs[4], band=True)
    chart.add("5th percentile", qs[0], band=True)
    chart.add("75th percentile", qs[3], band=True)
    chart.add("25th percentile", qs[1], band=True)
    chart.bands += [[1, 2], [3, 4]]
    chart.add("median", qs[2], color="#1f5fa8", width=2)
    ref_q = ref.get("quantiles")
    if ref_q:
        chart.add("reference median", [ref_q[2]] * len(windows), color="#6b6b6b", dash=[6, 4])
    return chart


def share_chart(
    name: str, windows: list[FeatureWindow], categories: list[str], step: float
) -> Chart:
    """Each category's share of the window's values (top categories and the rest)."""
    chart = Chart(
        id="feature-dist",
        title=f"{name}: share of each category per window",
        y_label="share",
        y_format="pct",
    )
    chart.x, chart.x_step = _x(windows), step
    for c in categories:
        chart.add(
            c,
            [(w.counts.get(c, 0) / sum(w.counts.values())) if w.counts else None for w in windows],
        )
    return chart


def missing_chart(name: str, windows: list[FeatureWindow], step: float) -> Chart:
    chart = Chart(
        id="feature-missing", title=f"{name}: missing values", y_label="share", y_format="pct"
    )
    chart.x, chart.x_step = _x(windows), step
    chart.add("missing", [w.missing / w.n if w.n else None for w in windows], color="#b3261e")
    return chart


def _results(
    store: Store, project: str, record: Any, state: ViewState, column: str, kinds: tuple[str, ...]
) -> dict[str, list[dict[str, Any]]]:
    """This column's results of ``kinds`` in the view, per monitor, oldest window first."""
    rows = data.view_rows(
        store,
        project,
        record.name,
        state,
        kinds=kinds,
    )
    monitors = sorted({r["monitor"] for r in rows if r.get("column") == column})
    if not monitors:
        return {}
    detailed = data.view_rows(
        store,
        project,
        record.name,
        state,
        monitors=monitors,
        details=True,
    )
    cadence = state.cadence or current_cadence(store, project, record.name)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in detailed:
        if cadence and r["window_end"] - r["window_start"] != parse_cadence(cadence):
            continue  # one cadence at a time, as the heat maps
        r["details"].pop("chart", None)
        out.setdefault(r["monitor"], []).append(r)
    return out


def drift_chart(monitor: str, rows: list[dict[str, Any]]) -> Chart:
    chart = Chart(id=f"drift-{monitor.replace(':', '-')}", title=f"{monitor}: statistic")
    chart.x = [r["window_start"].timestamp() for r in rows]
    chart.add("statistic", [r["value"] for r in rows], color="#1f5fa8", width=2)
    chart.add("alert threshold", [r["threshold"] for r in rows], color="#b3261e", dash=[2, 3])
    return chart


def _incidents(store: Store, project: str, model: str, column: str) -> list[Any]:
    found = []
    for inc in incident_source.listing(store, project, model=model, limit=INCIDENTS_SCANNED):
        named = any(m.get("column") == column for m in inc.members)
        features = (inc.causes or {}).get("features") if isinstance(inc.causes, dict) else None
        if not named and isinstance(features, list):
            # the root cause ranks every feature: only one that alerted names it
            named = any(
                isinstance(f, dict) and f.get("name") == column and f.get("alert") for f in features
            )
        if named:
            found.append(inc)
    return found


@router.get("/ui/models/{model}/features/{column:path}", response_class=HTMLResponse)
def feature_page(model: str, column: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """One feature of a model: its distribution over time, drift, quality, importance and
    incidents."""
    store = sv.store
    ctx = model_context(store, project, model, ViewState.parse(request.query_params))
    record, state = ctx["record"], ctx["state"]
    columns = feature_columns(record)
    if column not in columns:
        names = ", ".join(sorted(columns)[:30]) or "none"
        raise NotFoundError(
            f"Model {model!r} has no feature {column!r}. Its features are: {names}."
        )
    stored, kind = columns[column]
    cadence_text = state.cadence or current_cadence(store, project, model) or "1d"
    cadence = parse_cadence(cadence_text)
    run = window_run(state.start, state.end, cadence, cadence_text)
    numeric = kind == FeatureKind.NUMERIC.value
    drawn = kind in {k.value for k in DISTRIBUTED}
    windows = (
        feature_history(
            store.events(record),
            stored,
            run=run,
            numeric=numeric,
            top=TOP_CATEGORIES,
            segment=_segment(state),
            version=state.version,
        )
        if drawn
        else []
    )
    ref = feature_reference(store, project, record, stored, numeric=numeric) if drawn else {}
    step = cadence.total_seconds()
    categories: list[str] = []
    ref_rows: list[tuple[str, float | None, float | None]] = []
    if drawn and not numeric:
        seen: dict[str, int] = {}
        for w in windows:
            for c, n in w.counts.items():
                seen[c] = seen.get(c, 0) + n
        categories = [c for c in sorted(seen, key=lambda c: -seen[c]) if c != OTHER]
        categories += [OTHER] if OTHER in seen else []
        total = sum(seen.values()) or 1
        shares = ref.get("shares") or {}
        for c in categories:
            if c == OTHER:
                r_share = 1 - sum(shares.get(x, 0.0) for x in categories if x != OTHER)
            else:
                r_share = shares.get(c, 0.0) if shares else None
            ref_rows.append((c, r_share if shares else None, seen.get(c, 0) / total))
        unseen_ref = [c for c in shares if c not in seen][:TOP_CATEGORIES]
        ref_rows += [(c, shares[c], 0.0) for c in unseen_ref]
    dist = None
    if drawn:
        dist = (
            numeric_chart(column, windows, ref, step)
            if numeric
            else share_chart(column, windows, categories, step)
        )
    importance = model_importance(store, project, record)
    ranked = sorted(
        (n for n in importance if n not in ("prediction", "score")),
        key=lambda n: -importance[n],
    )
    drift = _results(store, project, record, state, stored, DRIFT_KINDS)
    quality = _results(store, project, record, state, stored, QUALITY_KINDS)
    window = None
    if state.window is not None:
        window = (state.window, state.window + cadence)
    return render(
        request,
        "feature.html",
        {
            **ctx,
            "project": project,
            "column": column,
            "kind": kind,
            "cadence": cadence_text,
            "windows": windows,
            "distribution": dist,
            "missing": missing_chart(column, windows, step) if windows else None,
            "reference": ref,
            "quantile_names": [f"{round(100 * q)}%" for q in QUANTILES],
            "category_rows": ref_rows,
            "drift": [(m, drift_chart(m, rs), rs) for m, rs in drift.items()],
            "quality": list(quality.items()),
            "importance": importance.get(column) if column not in ("prediction", "score") else None,
            "rank": ranked.index(column) + 1 if column in ranked else None,
            "n_ranked": len(ranked),
            "incidents": _incidents(store, project, model, column),
            "sample_window": window,
            "model_href": f"/ui/models/{quote(model, safe='')}",
        },
    )
