"""The monitors page: the editable spec, each threshold with its expected false alerts, and
edit-and-re-apply (with a preview that stores nothing)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mlwarden.errors import ConfigError, NotFoundError, ValidationError
from mlwarden.monitors import service
from mlwarden.monitors.suite import MonitorSuite
from mlwarden.server.ui import data
from mlwarden.server.ui.routing import HTMLRoute, UIAdmin, UIRead, form_data, positive_int, render
from mlwarden.server.ui.state import ViewState
from mlwarden.server.ui.views import paginate

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
PLAN_PAGE = 50


def rows_per_window(store: Any, project: str, model: str) -> int:
    """Threshold sizes are shown at the latest window's volume (1000 without one)."""
    latest = data.latest_rows(store, project, model, kinds=["volume", "feature_drift"])
    sizes = [int(r["n"]) for r in latest if r["n"]]
    return max(sizes) if sizes else 1000


def _plan_rows(
    suite: MonitorSuite, rows: int, latest: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The plan's thresholds at ``rows`` per window; for kinds whose threshold depends on
    history (volume, latency) or is fixed by the data, the one of the latest evaluated window."""
    out = []
    for item in service.plan(suite, rows_per_window=rows):
        th = item.get("threshold") or {}
        last = latest.get(item["monitor"], {})
        from_latest = not th and last.get("threshold") is not None
        out.append(
            {
                **item,
                "alert_at": th.get("threshold", last.get("threshold")),
                "warn_at": th.get("warn", last.get("warn")),
                "from_latest": from_latest,
                "direction": last.get("direction") or "above",
                "statistic": th.get("statistic", ""),
                "false_alerts": item.get("expected_false_alerts_per_month"),
                "method": th.get("method", ""),
            }
        )
    return out


def _page(
    request: Request,
    project: str,
    model: str,
    *,
    suite: MonitorSuite | None,
    text: str | None = None,
    message: str = "",
    error: str = "",
    preview: bool = False,
    status_code: int = 200,
) -> Response:
    store = request.app.state.store
    store.get_model(project, model)
    q = request.query_params
    rows = positive_int(q.get("rows"), "rows", 0) or rows_per_window(store, project, model)
    state = ViewState.parse({"page": q.get("page", "1")})
    latest = {r["monitor"]: r for r in data.latest_rows(store, project, model, with_value=True)}
    plan = _plan_rows(suite, rows, latest) if suite is not None else []
    return render(
        request,
        "monitors.html",
        {
            "project": project,
            "model": model,
            "suite": suite,
            "spec_text": text if text is not None else (suite.to_yaml() if suite else ""),
            "plan": paginate(plan, state.page, PLAN_PAGE),
            "state": state,
            "rows": rows,
            "message": message,
            "error": error,
            "preview": preview,
        },
        status_code=status_code,
    )


def _load(store: Any, project: str, model: str) -> MonitorSuite | None:
    try:
        return service.load_suite(store, project, model)
    except NotFoundError:
        return None


@router.get("/ui/models/{model}/monitors", response_class=HTMLResponse)
def monitors_page(model: str, request: Request, project: UIRead) -> Response:
    """The spec (YAML), and each monitor with its thresholds at the current window size."""
    store = request.app.state.store
    store.get_model(project, model)
    msg = "Applied." if request.query_params.get("applied") else ""
    return _page(request, project, model, suite=_load(store, project, model), message=msg)


@router.post("/ui/models/{model}/monitors", response_class=HTMLResponse)
async def apply_monitors(model: str, request: Request, project: UIAdmin) -> Response:
    """Preview (validate and fit, store nothing) or apply an edited spec."""
    form = await form_data(request)
    store = request.app.state.store
    text = form.get("spec", "")
    preview = form.get("action") == "preview"
    try:
        suite = await asyncio.to_thread(
            service.apply_suite, store, project, model, text, dry_run=preview
        )
    except (ConfigError, ValidationError) as exc:
        return _page(
            request,
            project,
            model,
            suite=_load(store, project, model),
            text=text,
            error=str(exc),
            # the form again with the reason in it: a page that works, not a failed load
            # (browsers log every 4xx document as a console error)
            status_code=200,
        )
    if preview:
        return _page(
            request,
            project,
            model,
            suite=suite,
            text=text,
            message="Preview: this is what the edited spec would monitor. Nothing was stored.",
            preview=True,
        )
    return RedirectResponse(f"/ui/models/{model}/monitors?applied=1", 303)


@router.post("/ui/models/{model}/monitors/setup", response_class=HTMLResponse)
async def setup_monitors(model: str, request: Request, project: UIAdmin) -> Response:
    """Set monitors up automatically from the model's spec and reference."""
    await form_data(request)
    store = request.app.state.store
    await asyncio.to_thread(service.setup_suite, store, project, model)
    return RedirectResponse(f"/ui/models/{model}/monitors?applied=1", 303)
