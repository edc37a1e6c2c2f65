"""Incidents: the list, one incident (what, when, causes, slices, recommendation, objectives,
timeline) and its acknowledge / resolve buttons."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mlwarden.errors import NotFoundError, ValidationError
from mlwarden.monitors.suite import parse_cadence
from mlwarden.server.audit import audit
from mlwarden.server.services import Svc, services
from mlwarden.server.ui import format as fmt
from mlwarden.server.ui import incident_source
from mlwarden.server.ui.pages_feature import feature_columns
from mlwarden.server.ui.placement import TAB_NAMES, tabs_of_monitors
from mlwarden.server.ui.routing import HTMLRoute, UIOperate, UIRead, form_data, render
from mlwarden.server.ui.run_links import version_runs, versions_seen
from mlwarden.server.ui.state import ViewState
from mlwarden.server.ui.tabs import current_cadence
from mlwarden.server.ui.views import paginate

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
PER_PAGE = 25
STATES = ("open", "acknowledged", "resolved")


def _id(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise NotFoundError(f"There is no incident {value!r}.") from exc


@router.get("/ui/incidents", response_class=HTMLResponse)
def incidents_page(request: Request, sv: Svc, project: UIRead) -> Response:
    """Every incident of the project, newest first; filter by model and state."""
    store = sv.store
    state = ViewState.parse({k: v for k, v in request.query_params.items() if k != "model"})
    model = request.query_params.get("model") or None
    if state.state is not None and state.state not in STATES:
        raise ValidationError(
            f"The 'state' parameter must be one of {', '.join(STATES)}. Got {state.state!r} instead."
        )
    total = incident_source.count(store, project, model=model, state=state.state)
    page = paginate(range(total), state.page, PER_PAGE)
    items = incident_source.listing(
        store,
        project,
        model=model,
        state=state.state,
        limit=PER_PAGE,
        offset=(page.number - 1) * PER_PAGE,
    )
    return render(
        request,
        "incidents.html",
        {
            "project": project,
            "state": state,
            "model": model,
            "models": sorted(r.name for r in store.list_models(project)),
            "tab": {"incidents": items},
            "page": page,
            "available": incident_source.available(),
        },
    )


def shown(value: Any) -> str:
    """A cause's value as text: numbers to 4 digits, ISO times to the minute, yes / no.

    Examples
    --------
    >>> shown(True), shown(0.123456), shown("2026-01-02T00:00:00+00:00"), shown(None)
    ('yes', '0.1235', '2026-01-02 00:00', '–')
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return fmt.num(value)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return fmt.when(datetime.fromisoformat(value)).removesuffix(" UTC")
        except ValueError:
            return value
    if isinstance(value, list | tuple):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {shown(v)}" for k, v in value.items())
    return str(value)


def causes_view(causes: dict[str, Any]) -> list[dict[str, Any]]:
    """The analysis as sections, in the order it gave them: single values together first (one
    list of pairs), then each table (lists of records; nested columns left out) or list of
    pairs; an empty finding says so rather than showing a bare heading.

    Examples
    --------
    >>> [(c["title"], c["kind"]) for c in causes_view(
    ...     {"onset": "2026-01-02", "slices": [], "features": [{"name": "x", "drift": 3.1}]})]
    [('', 'pairs'), ('slices', 'empty'), ('features', 'table')]
    """
    out: list[dict[str, Any]] = []
    single: list[tuple[str, str]] = []
    for key, value in causes.items():
        title = key.replace("_", " ")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            cols = [
                c
                for c in dict.fromkeys(k for v in value for k in v)
                if not any(isinstance(v.get(c), list | dict) for v in value)
            ]
            rows = [[shown(v.get(c)) for c in cols] for v in value]
            out.append({"title": title, "kind": "table", "columns": cols, "rows": rows})
        elif isinstance(value, dict) and value:
            pairs = [(k.replace("_", " "), shown(v)) for k, v in value.items()]
            out.append({"title": title, "kind": "pairs", "value": pairs})
        elif value in (None, "", [], {}):
            out.append({"title": title, "kind": "empty"})
        else:
            single.append((title, shown(value)))
    if single:
        out.insert(0, {"title": "", "kind": "pairs", "value": single})
    return out


@router.get("/ui/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(incident_id: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """What happened, when, why, what to do, what it threatens, and who did what."""
    store = sv.store
    inc = incident_source.get(store, project, _id(incident_id))
    around = ViewState(
        start=inc.first_window - timedelta(days=7), end=inc.last_window + timedelta(days=2)
    )
    cadence = parse_cadence(current_cadence(store, project, inc.model) or "1d")
    try:
        features = feature_columns(store.get_model(project, inc.model))
    except NotFoundError:  # the model was deleted since: its incidents stay
        features = {}
    seen = versions_seen(store, project, inc.model, inc.first_window, inc.last_window + cadence)
    runs = version_runs(store, project, inc.model, seen or None)  # else every linked version
    fired = Counter(str(m["segment"]) for m in inc.members if m.get("segment"))
    segments = [s for s, _ in fired.most_common(3)]  # the segments most of it is about
    return render(
        request,
        "incident.html",
        {
            "project": project,
            "inc": inc,
            "causes": causes_view(dict(inc.causes or {})),
            "deliveries": store.deliveries(project, incident_id=inc.id, limit=50),
            "action_runs": store.action_runs(project, incident_id=inc.id, limit=50),
            "links": [
                (TAB_NAMES[t], f"/ui/models/{quote(inc.model, safe='')}" + around.query(tab=t))
                for t in tabs_of_monitors(str(m.get("monitor", "")) for m in inc.members)
                or ["incidents"]
            ],
            "features": features,
            "runs": runs,
            "feature_state": ViewState(start=around.start, end=around.end),
            # the incident's windows, whole model and each segment that fired
            "sample_window": (inc.first_window, inc.last_window + cadence),
            "sample_segments": [None, *segments] if features else [],
            "message": {"acknowledged": "Acknowledged.", "resolved": "Resolved."}.get(
                request.query_params.get("done", ""), ""
            ),
        },
    )


async def _act(request: Request, project: str, incident_id: str, action: str) -> Response:
    form = await form_data(request)
    fn = incident_source.acknowledge if action == "acknowledged" else incident_source.resolve
    by, note = form.get("by", "").strip()[:200] or "web UI", form.get("note", "").strip()[:2000]
    await asyncio.to_thread(fn, services(request), project, _id(incident_id), by=by, note=note)
    verb = "acknowledge" if action == "acknowledged" else "resolve"
    after = {"state": action, "by": by, "note": note}
    audit(request, f"incident.{verb}", f"incident {_id(incident_id)}", None, after, project=project)
    return RedirectResponse(f"/ui/incidents/{_id(incident_id)}?done={action}", 303)


@router.post("/ui/incidents/{incident_id}/acknowledge", response_class=HTMLResponse)
async def acknowledge(incident_id: str, request: Request, project: UIOperate) -> Response:
    return await _act(request, project, incident_id, "acknowledged")


@router.post("/ui/incidents/{incident_id}/resolve", response_class=HTMLResponse)
async def resolve(incident_id: str, request: Request, project: UIOperate) -> Response:
    return await _act(request, project, incident_id, "resolved")
