"""The model page: a header with filters, and one tab at a time (state in the URL)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mlwarden.errors import ValidationError
from mlwarden.schema.annotation import MAX_TEXT, AnnotationKind
from mlwarden.schema.spec import Task
from mlwarden.server.services import Svc
from mlwarden.server.ui import data, incident_source
from mlwarden.server.ui.markers import markers_for
from mlwarden.server.ui.placement import TAB_NAMES, tabs_for_llm
from mlwarden.server.ui.routing import HTMLRoute, UIRead, render
from mlwarden.server.ui.state import REFRESH, TABS, ViewState
from mlwarden.server.ui.tab_llm import llm_tab
from mlwarden.server.ui.tabs import drift_tab, fairness_tab, performance_tab, quality_tab
from mlwarden.server.ui.tabs_ops import operations_tab
from mlwarden.server.ui.views import paginate

if TYPE_CHECKING:
    from mlwarden.store.base import Store

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
INCIDENTS_PER_PAGE = 20
TAB_LABELS = TAB_NAMES


def model_context(store: Store, project: str, name: str, state: ViewState) -> dict[str, Any]:
    """What every view of a model shows: record, versions, segments, the resolved range."""
    record = store.get_model(project, name)
    _, hi = data.result_span(store, project, name)
    if hi is None:
        _, hi = store.event_time_range(record)
        hi = data._aware(hi)
    state = state.with_range(hi)
    segments = data.segments_of(store, project, name)
    return {
        "record": record,
        "model": name,
        "versions": [v.version for v in store.list_versions(project, name)],
        "segments": segments,
        # a segment from a hand-made or stale link: say so rather than show empty charts
        "unknown_segment": state.segment
        if state.segment and state.segment not in segments and len(segments) < data.MAX_SEGMENTS
        else None,
        "state": state,
    }


@router.get("/ui/models/{model}", response_class=HTMLResponse)
def model_page(model: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """One model, one tab: performance, drift, quality, operations, fairness or incidents."""
    store = sv.store
    ctx = model_context(store, project, model, ViewState.parse(request.query_params))
    state: ViewState = ctx["state"]
    record = ctx["record"]
    shown = [t for t in TABS if t != "llm"]
    if record.spec.task is Task.LLM:  # predictions, labels and features it has not
        shown = list(tabs_for_llm())
        if "tab" not in request.query_params:
            state = replace(state, tab="llm")
            ctx["state"] = state
    if state.tab not in shown:
        raise ValidationError(
            f"The 'tab' parameter of {record.spec.task.value} model {model!r} must be one of "
            f"{', '.join(shown)}. Got {state.tab!r} instead."
        )
    builders = {
        "performance": performance_tab,
        "drift": drift_tab,
        "quality": quality_tab,
        "operations": operations_tab,
        "fairness": fairness_tab,
    }
    tab: dict[str, Any]
    if state.tab == "incidents":
        tab = incidents_tab(store, project, model, state)
    elif state.tab == "llm":  # its own filters are in the query string too (see llm_state)
        tab = llm_tab(store, project, record, state, request.query_params)
    else:
        tab = builders[state.tab](store, project, record, state)
    tabs = [
        {
            "key": t,
            "label": TAB_LABELS[t],
            "href": state.query(tab=t, feature=None, window=None, page=None),
        }
        for t in shown
    ]
    assert state.start is not None and state.end is not None  # with_range filled them
    markers = markers_for(store, project, model, start=state.start, end=state.end)
    return render(
        request,
        "model.html",
        {
            **ctx,
            "project": project,
            "tabs": tabs,
            "tab": tab,
            "tab_key": state.tab,
            # deploys and notes on every chart, zoom and auto-refresh (ui.md "Time")
            "markers": markers,
            "marker_payload": [m.payload() for m in markers],
            "annotation_kinds": [k.value for k in AnnotationKind],
            "annotation_max_text": MAX_TEXT,
            "refresh_choices": list(REFRESH.items()),
            "zoomed": "start" in request.query_params or "end" in request.query_params,
            # the note form comes back to this exact view (not the range it resolved to)
            "back_query": f"?{request.url.query}" if request.url.query else "",
        },
    )


def incidents_tab(store: Store, project: str, model: str, state: ViewState) -> dict[str, Any]:
    total = incident_source.count(store, project, model=model, state=state.state)
    page = paginate(range(total), state.page, INCIDENTS_PER_PAGE)
    items = incident_source.listing(
        store,
        project,
        model=model,
        state=state.state,
        limit=INCIDENTS_PER_PAGE,
        offset=(page.number - 1) * INCIDENTS_PER_PAGE,
    )
    return {
        "incidents": items,
        "page": page,
        "available": incident_source.available(),
        "objectives": incident_source.objectives(store, project, model),
    }
