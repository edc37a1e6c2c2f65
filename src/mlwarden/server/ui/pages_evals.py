"""Evaluation pages: datasets (list, a version's items, its runs), a run, and two runs side
by side with per-item differences and each evaluator's paired test.

The LLM tab posts its "Add to dataset" forms here (traces ticked in the traces table, or the
trace open in the trace view): their LLM calls become items (prompt as input, response as
output, the span as source) of the dataset named, created when it does not exist yet. That
post needs the ``operate`` scope and the form token, like the feedback buttons.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mlwarden.errors import NotFoundError, ValidationError, expected
from mlwarden.evals.compare import compare_runs
from mlwarden.evals.from_traces import SpanPick, items_from_spans
from mlwarden.evals.items import validate_items
from mlwarden.server.routes_evals import run_detail
from mlwarden.server.services import Svc
from mlwarden.server.ui.routing import (
    HTMLRoute,
    UIOperate,
    UIRead,
    form_data,
    positive_int,
    render,
)
from mlwarden.server.ui.state import ViewState
from mlwarden.server.ui.views import paginate

__all__ = ["router"]

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
PAGE_SIZE = 50
#: Most traces added from one form post.
MAX_PICKED = 200
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"


@router.get("/ui/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, sv: Svc, project: UIRead) -> Response:
    """Every dataset of the project and the latest experiment runs."""
    store = sv.store
    runs = store.list_runs(project)[:50]
    return render(request, "datasets.html", {"project": project,
                                             "datasets": store.list_datasets(project),
                                             "runs": runs})  # fmt: skip


@router.get("/ui/datasets/{name}", response_class=HTMLResponse)
def dataset_page(name: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """A dataset: a version's items (``?version=``, default the latest) and its runs, two of
    which can be picked for comparison."""
    store = sv.store
    ds = store.get_dataset(project, name)
    raw = request.query_params.get("version")
    version = ds["version"] if not raw else positive_int(raw, "version", ds["version"])
    page_no = positive_int(request.query_params.get("page"), "page", 1)
    items = store.dataset_items(project, name, version) if ds["version"] else []
    runs = store.list_runs(project, name)
    return render(request, "dataset.html", {
        "project": project, "ds": ds, "version": version, "runs": runs,
        "items": paginate(items, page_no, PAGE_SIZE), "state": ViewState(page=page_no),
    })  # fmt: skip


@router.get("/ui/experiments/compare", response_class=HTMLResponse)
def compare_page(request: Request, sv: Svc, project: UIRead) -> Response:
    """Run ``b`` against run ``a``: each evaluator's means, difference and p-value, and the
    items side by side."""
    a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
    if not a or not b:
        raise ValidationError("Pick two runs to compare (query parameters 'a' and 'b').")
    out = compare_runs(sv.store, project, a, b)
    page_no = positive_int(request.query_params.get("page"), "page", 1)
    return render(request, "experiment_compare.html", {
        "project": project, "cmp": out, "rows": paginate(out["items"], page_no, PAGE_SIZE),
        "names": [e["evaluator"] for e in out["evaluators"]], "state": ViewState(page=page_no),
    })  # fmt: skip


@router.get("/ui/experiments/{run_id}", response_class=HTMLResponse)
def run_page(run_id: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """One run: its status and progress, a summary per evaluator and its items' grades."""
    run = run_detail(sv.store, project, run_id)
    page_no = positive_int(request.query_params.get("page"), "page", 1)
    return render(request, "experiment.html", {
        "project": project, "run": run, "rows": paginate(run["results"], page_no, PAGE_SIZE),
        "names": [s["evaluator"] for s in run["summary"]], "state": ViewState(page=page_no),
    })  # fmt: skip


@router.post("/ui/datasets/add")
async def add_to_dataset(request: Request, sv: Svc, project: UIOperate) -> Response:
    """Add the LLM calls of the selected traces (``trace_id``, repeated; or one of their
    spans, ``span_id``) to a dataset and go back to the LLM tab."""
    form = await form_data(request)  # origin and form token checked; first value of each
    picked = parse_qs((await request.body()).decode("utf-8", "replace")).get("trace_id", [])
    name = form.get("dataset", "").strip()
    if not re.fullmatch(_NAME, name):
        raise ValidationError(
            expected("field", "dataset", "be 1-100 letters, digits, '_', '.', '-'", name)
        )
    if not picked or len(picked) > MAX_PICKED:
        raise ValidationError(f"Select from 1 to {MAX_PICKED} traces to add to a dataset.")
    store = sv.store

    def add() -> dict[str, Any]:
        try:
            store.get_dataset(project, name)
        except NotFoundError:
            store.create_dataset(project, name, "Made from traces in the UI.")
        span = form.get("span_id") or None
        pick = SpanPick(trace_ids=tuple(picked), span_ids=(span,) if span else ())
        batch = validate_items(items_from_spans(store, project, pick))
        if not batch.items:
            raise ValidationError("The selected traces have no LLM call with a prompt to add.")
        out: dict[str, Any] = store.add_items(project, name, batch.items)
        return out

    await asyncio.to_thread(add)
    back = form.get("back", "")
    model = form.get("model", "")
    if model and back.startswith("?"):
        at = "#trace" if "trace=" in back else ""
        return RedirectResponse(f"/ui/models/{quote(model, safe='')}{back}{at}", 303)
    return RedirectResponse(f"/ui/datasets/{quote(name, safe='')}", 303)
