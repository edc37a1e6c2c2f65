"""The monitors page: the editable spec, each threshold with its expected false alerts, and
edit-and-re-apply (with a preview that stores nothing)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mlwarden.errors import ConfigError, NotFoundError, ValidationError
from mlwarden.monitors import service
from mlwarden.monitors.evaluate import ORIGIN
from mlwarden.monitors.suite import MonitorSuite, parse_cadence
from mlwarden.server.routes_models import remove_model
from mlwarden.server.routes_monitors import check_calls_out
from mlwarden.server.services import Svc, services
from mlwarden.server.ui import data
from mlwarden.server.ui.routing import (
    HTMLRoute,
    UIAdmin,
    UIOperate,
    UIRead,
    form_data,
    positive_int,
    render,
)
from mlwarden.server.ui.state import ViewState, parse_time
from mlwarden.server.ui.views import paginate

if TYPE_CHECKING:
    from mlwarden.store.base import Store

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
PLAN_PAGE = 50


def rows_per_window(store: Store, project: str, model: str) -> int:
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
    delete_error: str = "",
    preview: bool = False,
    status_code: int = 200,
) -> Response:
    store = services(request).store
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
            "delete_error": delete_error,
            "preview": preview,
        },
        status_code=status_code,
    )


def _load(store: Store, project: str, model: str) -> MonitorSuite | None:
    try:
        return service.load_suite(store, project, model)
    except NotFoundError:
        return None


@router.get("/ui/models/{model}/monitors", response_class=HTMLResponse)
def monitors_page(model: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """The spec (YAML), and each monitor with its thresholds at the current window size."""
    store = sv.store
    store.get_model(project, model)
    q = request.query_params
    msg = "Applied." if q.get("applied") else ""
    if q.get("evaluated") is not None:
        n = int(q["evaluated"]) if q["evaluated"].isdigit() else 0
        lo, hi = (parse_time(q.get(k) or "2024-01-01", k) for k in ("from", "to"))
        msg = (
            f"Evaluated the windows from {lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M} UTC: "
            f"{n:,} result{'' if n == 1 else 's'} stored."
            if n
            else "Nothing to evaluate: this model has no data in a closed window yet."
        )
    return _page(request, project, model, suite=_load(store, project, model), message=msg)


@router.post("/ui/models/{model}/delete", response_class=HTMLResponse)
async def delete_model(model: str, request: Request, sv: Svc, project: UIAdmin) -> Response:
    """Delete the model and everything stored of it, once its name is typed to confirm."""
    form = await form_data(request)
    store = sv.store
    if form.get("confirm", "").strip() != model:
        return _page(
            request,
            project,
            model,
            suite=_load(store, project, model),
            delete_error=f"Nothing was deleted: type the model's name, {model}, to confirm.",
            status_code=422,
        )
    await asyncio.to_thread(remove_model, request, project, model)
    return RedirectResponse(f"/ui/?{urlencode({'deleted': model})}", 303)


def evaluation_range(store: Store, project: str, model: str) -> tuple[datetime, datetime] | None:
    """The windows "Evaluate now" runs: every window of the cadence holding the model's data,
    at most the latest ``MAX_EVALUATE_WINDOWS`` (None without data or monitors)."""
    suite = service.load_suite(store, project, model)
    lo, hi = service.time_range(store, store.get_model(project, model), suite)
    if lo is None or hi is None:
        return None
    lo, hi = data._aware(lo), data._aware(hi)
    cadence = parse_cadence(suite.cadence)
    start = ORIGIN + ((lo - ORIGIN) // cadence) * cadence
    end = ORIGIN + ((hi - ORIGIN) // cadence + 1) * cadence
    return max(start, end - service.MAX_EVALUATE_WINDOWS * cadence), end


@router.post("/ui/models/{model}/monitors/evaluate", response_class=HTMLResponse)
async def evaluate_now(model: str, request: Request, sv: Svc, project: UIOperate) -> Response:
    """Evaluate every window of the model's data now (idempotent: the API's ``evaluate`` over
    the model's whole range), then show how many results were stored."""
    await form_data(request)
    store = sv.store
    rng = await asyncio.to_thread(evaluation_range, store, project, model)
    n = 0
    if rng is not None:
        n = await asyncio.to_thread(
            service.evaluate_range,
            store,
            project,
            model,
            rng[0],
            rng[1],
            on_results=sv.on_results,
        )
    q = {"evaluated": str(n)}
    if rng is not None:
        q.update(
            {"from": rng[0].strftime("%Y-%m-%d %H:%M"), "to": rng[1].strftime("%Y-%m-%d %H:%M")}
        )
    return RedirectResponse(f"/ui/models/{quote(model, safe='')}/monitors?{urlencode(q)}", 303)


@router.post("/ui/models/{model}/monitors", response_class=HTMLResponse)
async def apply_monitors(model: str, request: Request, sv: Svc, project: UIAdmin) -> Response:
    """Preview (validate and fit, store nothing) or apply an edited spec."""
    form = await form_data(request)
    store = sv.store
    text = form.get("spec", "")
    preview = form.get("action") == "preview"
    try:
        policy = sv.settings.alerting_policy
        await asyncio.to_thread(check_calls_out, text, policy)  # as PUT .../monitors checks it
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
async def setup_monitors(model: str, request: Request, sv: Svc, project: UIAdmin) -> Response:
    """Set monitors up automatically from the model's spec and reference."""
    await form_data(request)
    store = sv.store
    await asyncio.to_thread(service.setup_suite, store, project, model)
    return RedirectResponse(f"/ui/models/{model}/monitors?applied=1", 303)
