"""The models overview: each model's health at a glance, and the login page."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mlwarden.errors import AuthError, NotFoundError
from mlwarden.monitors import service as monitor_service
from mlwarden.schema.spec import Task
from mlwarden.server.services import Svc
from mlwarden.server.sessions import SESSION_COOKIE, SessionStore
from mlwarden.server.ui import data, incident_source, ops
from mlwarden.server.ui.format import worst
from mlwarden.server.ui.routing import HTMLRoute, UIRead, form_data, render
from mlwarden.server.ui.state import ViewState
from mlwarden.server.ui.views import paginate, sparkline
from mlwarden.store import span_queries as sq
from mlwarden.store.span_aggregates import model_spans

if TYPE_CHECKING:
    from mlwarden.store.base import Store

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
PAGE_SIZE = 20
#: Preferred key metrics, best first (the first one a model has results for is shown).
KEY_METRICS = ("accuracy", "roc_auc", "f1", "mae", "rmse", "r2")


def _key_monitor(monitors: set[str]) -> str | None:
    for kind in ("performance", "estimated_performance"):
        for metric in KEY_METRICS:
            if f"{kind}:{metric}" in monitors:
                return f"{kind}:{metric}"
    perf = sorted(m for m in monitors if m.startswith(("performance:", "estimated_performance:")))
    return perf[0] if perf else None


def applied_monitors(store: Store, project: str, model: str) -> int:
    """How many monitors a model has applied (whether or not any window was evaluated yet)."""
    try:
        return len(monitor_service.load_suite(store, project, model).monitors)
    except NotFoundError:
        return 0


def traffic(store: Store, rec: Any, *, start: Any, end: Any) -> list[tuple[Any, int]]:
    """Per day: events, or the spans of an LLM app (which sends traces, not events)."""
    if rec.spec.task is not Task.LLM:
        return ops.daily_counts(store, rec, start=start, end=end)
    rows = sq.usage(model_spans(store, rec), window="day", by=None, start=start, end=end)
    return sorted((data._aware(r["window_start"]), int(r["spans"])) for r in rows.to_pylist())


def companion(name: str, names: set[str]) -> bool:
    """``churn.resources`` is shown on churn's operations tab, not as a model of its own."""
    return name.endswith(".resources") and name[: -len(".resources")] in names


@router.get("/", response_class=HTMLResponse)
def root() -> Response:
    return RedirectResponse("/ui/", 307)


@router.get("/ui", response_class=HTMLResponse)
def ui_root() -> Response:
    return RedirectResponse("/ui/", 307)


@router.get("/ui/", response_class=HTMLResponse)
def overview(request: Request, sv: Svc, project: UIRead) -> Response:
    """Every model: status, alerts, open incidents, traffic and its key metric with trend."""
    store = sv.store
    state = ViewState.parse(request.query_params)
    records = store.list_models(project)
    names = {r.name for r in records}
    records = sorted((r for r in records if not companion(r.name, names)), key=lambda r: r.name)
    page = paginate(records, state.page, PAGE_SIZE)
    shown = [r.name for r in page.items]
    latest = data.latest_rows(store, project, None) if shown else []
    hi = max((r["window_end"] for r in latest), default=None)
    state = state.with_range(hi)
    assert state.start is not None and state.end is not None
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in latest:
        by_model[r["model"]].append(r)
    perf = data.result_rows(
        store,
        project,
        None,
        start=state.start,
        end=state.end,
        kinds=["performance", "estimated_performance"],
    )
    series: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in perf:
        series[(r["model"], r["monitor"])].append(r)
    cards = []
    for rec in page.items:
        rows = by_model.get(rec.name, [])
        statuses = [r["status"] for r in rows]
        key = _key_monitor({m for (mod, m) in series if mod == rec.name})
        points = [r for r in series.get((rec.name, key or ""), []) if r["value"] is not None]
        counts = traffic(store, rec, start=state.end - timedelta(days=14), end=state.end)
        cards.append(
            {
                "name": rec.name,
                "task": rec.spec.task.value,
                "status": worst(statuses),
                "alerts": sorted(r["monitor"] for r in rows if r["status"] == "alert"),
                "monitors": max(len(rows), applied_monitors(store, project, rec.name)),
                "evaluated": len(rows),
                "unit": "span" if rec.spec.task is Task.LLM else "event",
                "incidents": incident_source.count(
                    store, project, model=rec.name, state=incident_source.UNRESOLVED
                ),
                "traffic_last": counts[-1][1] if counts else 0,
                "traffic_day": counts[-1][0] if counts else None,
                "traffic_spark": sparkline([float(n) for _, n in counts]),
                "key": key,
                "key_value": points[-1]["value"] if points else None,
                "key_first": points[0]["value"] if points else None,
                "key_spark": sparkline([p["value"] for p in points]),
            }
        )
    return render(
        request,
        "overview.html",
        {
            "project": project,
            "cards": cards,
            "page": page,
            "state": state,
            "incidents_available": incident_source.available(),
            "deleted": request.query_params.get("deleted", ""),
        },
    )


@router.get("/ui/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return render(request, "login.html", {"next": _safe_next(request.query_params.get("next"))})


@router.post("/ui/login", response_class=HTMLResponse)
async def login(request: Request, sv: Svc) -> Response:
    """Check an API key and open a server-side session for the pages (the browser keeps only
    the session's random id, in an HttpOnly cookie that expires with the session)."""
    form = await form_data(request)
    key = form.get("key", "").strip()
    keys = sv.keys
    nxt = _safe_next(form.get("next"))
    try:
        if keys is None or not key:
            raise AuthError("Enter an API key of this server.")
        found = keys.authenticate(key)
    except AuthError as exc:
        return render(request, "login.html", {"next": nxt, "error": str(exc)}, status_code=401)
    sessions: SessionStore = sv.sessions
    old = request.cookies.get(SESSION_COOKIE)
    if old:  # a new login never reuses an id the browser had before (session fixation)
        sessions.drop(old)
    resp = RedirectResponse(nxt, 303)
    resp.set_cookie(
        SESSION_COOKIE,
        sessions.create(found.key_id),
        max_age=int(sessions.ttl_s),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return resp


@router.post("/ui/logout", response_class=HTMLResponse)
async def logout(request: Request, sv: Svc) -> Response:
    await form_data(request)
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        sv.sessions.drop(sid)
    resp = RedirectResponse("/ui/login", 303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


def _safe_next(value: str | None) -> str:
    """Only local paths under /ui (no open redirect)."""
    if not value:
        return "/ui/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui"):
        return "/ui/"
    return value
