"""Evaluations: datasets (versioned items), experiment runs and their comparison.

* ``/v1/llm/datasets``: create and list datasets; add items (given, uploaded as JSONL or
  CSV, or taken from stored traces by span ids, trace ids or a filter); each addition makes
  a new version. Reads need ``read``, changes ``operate``.
* ``/v1/llm/experiments``: start a run (``operate``; ``202``: it runs in the background with
  visible ``status`` and ``done`` / ``total``), list and read runs and compare two of them.
* ``/v1/llm/evaluators``: the evaluator kinds and judge templates.

Endpoints named by a run (its task's, its judges') must pass the server's destination policy,
the one alerting channels pass: public addresses, or the hosts and networks the operator
allows with ``mlwarden serve --alerting-allow-host`` (a local model server on 127.0.0.1 needs
``--alerting-allow-host 127.0.0.1``): an API key with ``operate`` cannot make the server call
its own internal network otherwise.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from mlwarden.errors import ConfigError, FieldError, ValidationError, expected
from mlwarden.evals.catalog import build_evaluators, describe
from mlwarden.evals.compare import compare_runs
from mlwarden.evals.from_traces import MAX_FROM_TRACES, SpanPick, items_from_spans
from mlwarden.evals.items import MAX_ITEMS, parse_upload, text_ok, validate_items
from mlwarden.evals.jobs import EvalJobs
from mlwarden.evals.judges import TEMPLATES
from mlwarden.evals.runner import STATUSES, ExperimentRun, RunLimits
from mlwarden.evals.tasks import build_task
from mlwarden.server.api_models import RejectedRow, UTCDateTime
from mlwarden.server.auth import Operate, Read
from mlwarden.server.body import read_body
from mlwarden.server.services import Svc, services
from mlwarden.store.base import Store
from mlwarden.store.protocols import EvalRepository

__all__ = ["router"]

router = APIRouter(prefix="/v1/llm", tags=["evals"])
MAX_IDS = 5000


def _text(v: str) -> str:
    if not text_ok(v):
        raise ValueError("must be text without NUL characters or lone surrogates")
    return v


#: A span or trace id: what the store holds (hex), a little wider for other dialects.
Id = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._:\-]{1,128}$")]
#: A name or label in a filter: no NUL, no lone surrogate (neither can be stored or matched).
Text = Annotated[str, StringConstraints(max_length=200), AfterValidator(_text)]


class DatasetIn(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$",
                      description="1-100 letters, digits, '_', '.', '-'.")  # fmt: skip
    description: str | None = Field(default=None, max_length=2000)


class DatasetOut(BaseModel):
    name: str
    description: str | None
    created_at: UTCDateTime
    version: int = Field(description="The latest version (0: no items yet).")
    items: int = Field(description="Distinct items over all versions.")


class ItemOut(BaseModel):
    id: str
    version: int = Field(description="The version that added this form of the item.")
    input: str
    output: str | None
    expected_output: str | None
    context: list[str] | None
    metadata: dict[str, Any] | None
    source_trace_id: str | None
    source_span_id: str | None


class DatasetPage(DatasetOut):
    shown_version: int
    total: int = Field(description="Items in the version shown.")
    page: list[ItemOut]


class SpanFilter(BaseModel):
    model: Text | None = None
    service: Text | None = None
    start: datetime | None = None
    end: datetime | None = None
    flag: Text | None = Field(default=None, description="A flag spans raised (pii_in_prompt, ...).")
    flagged: bool | None = None
    score_name: Text | None = None
    score_min: float | None = None
    score_max: float | None = None
    limit: int = Field(default=100, ge=1, le=MAX_FROM_TRACES)
    sample: bool = Field(default=False, description="A random sample instead of the newest.")


class ItemsIn(BaseModel):
    """One of: ``items`` (objects), ``span_ids`` / ``trace_ids`` (stored LLM spans), ``filter``."""

    items: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_ITEMS)
    span_ids: list[Id] | None = Field(default=None, max_length=MAX_IDS)
    trace_ids: list[Id] | None = Field(default=None, max_length=MAX_IDS)
    filter: SpanFilter | None = None


class ItemsAdded(BaseModel):
    version: int = Field(description="The new version (unchanged when nothing was added).")
    added: int
    replaced: int = Field(description="Added items whose id the dataset held already.")
    rejected: list[RejectedRow]


class ExperimentIn(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    dataset: str = Field(min_length=1, max_length=100)
    version: int | None = Field(default=None, ge=0, description="Default: the latest.")
    task: dict[str, Any] = Field(
        default_factory=lambda: {"kind": "stored"},
        description='{"kind": "stored"} or {"kind": "endpoint", "endpoint", "model", "prompt", '
        '"system"?, "api_key_env"?, "timeout_s"?}',
    )
    evaluators: list[dict[str, Any]] = Field(
        min_length=1, max_length=20, description='[{"kind": ..., parameters...}]'
    )
    concurrency: int = Field(default=4, ge=1, le=32)
    budget_s: float = Field(default=600.0, gt=0, le=86_400)


class RunOut(BaseModel):
    id: str
    name: str | None
    dataset: str
    version: int
    task: dict[str, Any]
    evaluators: list[dict[str, Any]]
    status: str = Field(description=", ".join(STATUSES))
    done: int
    total: int
    error: str | None
    created_at: UTCDateTime
    started_at: UTCDateTime | None
    finished_at: UTCDateTime | None
    tokens: int | None
    cost: float | None


class EvaluatorSummary(BaseModel):
    evaluator: str
    graded: int
    mean: float | None
    pass_rate: float | None
    templates: list[str]


class RunDetail(RunOut):
    summary: list[EvaluatorSummary]
    results: list[dict[str, Any]] = Field(description="Per item: output and grades.")


class EvaluatorKind(BaseModel):
    kind: str
    description: str
    scale: str
    remote: bool
    params: dict[str, Any]


class Catalog(BaseModel):
    evaluators: list[EvaluatorKind]
    templates: list[dict[str, Any]]


def _store(request: Request) -> Store:
    store: Store = services(request).store
    return store


def _jobs(request: Request) -> EvalJobs:
    jobs: EvalJobs = services(request).evals
    return jobs


@router.get("/evaluators", response_model=Catalog)
def evaluators(project: Read) -> dict[str, Any]:
    """The evaluator kinds (parameters with defaults) and the judge prompt templates."""
    templates = [{"name": t.name, "version": t.version, "ref": t.ref, "text": t.text,
                  "needs_context": t.needs_context} for t in TEMPLATES.values()]  # fmt: skip
    return {"evaluators": describe(), "templates": templates}


@router.post("/datasets", response_model=DatasetOut, status_code=201)
def create_dataset(body: DatasetIn, request: Request, project: Operate) -> dict[str, Any]:
    """Create an empty dataset (409 if the name is taken)."""
    return _store(request).create_dataset(project, body.name, body.description)


@router.get("/datasets", response_model=list[DatasetOut])
def list_datasets(request: Request, project: Read) -> list[dict[str, Any]]:
    """The project's datasets with their latest version and item count."""
    return _store(request).list_datasets(project)


def _item_out(r: dict[str, Any]) -> dict[str, Any]:
    out = dict(r)
    for k in ("context", "metadata"):
        out[k] = orjson.loads(r[k]) if r.get(k) else None
    return out


@router.get("/datasets/{name}", response_model=DatasetPage)
def get_dataset(
    name: str,
    request: Request,
    project: Read,
    version: Annotated[int | None, Query(ge=0)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """A dataset and a page of the items of a version (default: the latest)."""
    store = _store(request)
    ds = store.get_dataset(project, name)
    items = store.dataset_items(project, name, version)
    page = [_item_out(r) for r in items[offset : offset + limit]]
    shown = ds["version"] if version is None else version
    return {**ds, "shown_version": shown, "total": len(items), "page": page}


def _add(store: EvalRepository, project: str, name: str, raw: list[Any]) -> dict[str, Any]:
    store.get_dataset(project, name)  # 404 before anything else
    batch = validate_items(raw)
    rejected = [{"index": r.index, "field": r.field, "reason": r.reason} for r in batch.rejected]
    if not batch.items:
        if rejected:
            errors = [FieldError(r.field, r.reason, r.index) for r in batch.rejected[:20]]
            raise ValidationError(f"No item was accepted: {rejected[0]['reason']}", errors)
        return {"version": store.get_dataset(project, name)["version"], "added": 0,
                "replaced": 0, "rejected": []}  # fmt: skip
    return {**store.add_items(project, name, batch.items), "rejected": rejected}


@router.post("/datasets/{name}/items", response_model=ItemsAdded)
def add_items(name: str, body: ItemsIn, request: Request, project: Operate) -> dict[str, Any]:
    """Add items as a new version: given ``items``, or stored LLM spans by ``span_ids``,
    ``trace_ids`` or a ``filter`` (prompt as input, response as output, span as source)."""
    given = [
        k for k in ("items", "span_ids", "trace_ids", "filter") if getattr(body, k) is not None
    ]
    if len(given) != 1:
        raise ValidationError(expected("body", "items", "hold exactly one of items, span_ids, "
                                       "trace_ids, filter", given))  # fmt: skip
    store = _store(request)
    if body.items is not None:
        raw: list[Any] = body.items
    else:
        f = body.filter or SpanFilter(limit=MAX_FROM_TRACES)
        pick = SpanPick(span_ids=tuple(body.span_ids or ()), trace_ids=tuple(body.trace_ids or ()),
                        **f.model_dump())  # fmt: skip
        raw = items_from_spans(store, project, pick)
        if not raw:
            raise ValidationError(
                f"No stored LLM span with a prompt matches the {given[0]!r} given."
            )
    return _add(store, project, name, raw)


@router.post(
    "/datasets/{name}/upload",
    response_model=ItemsAdded,
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/x-ndjson": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}}}}},
)  # fmt: skip
async def upload_items(
    name: str,
    request: Request,
    sv: Svc,
    project: Operate,
    format: Literal["jsonl", "csv"] | None = None,
) -> dict[str, Any]:
    """Add items from a JSON Lines or CSV body (``format``, or the content type:
    ``application/x-ndjson`` / ``text/csv``) as a new version."""
    body = await read_body(request, sv.settings.max_body_bytes)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = format or ("csv" if ctype == "text/csv" else "jsonl")
    raw = parse_upload(body, fmt=fmt)
    if not raw:
        raise ValidationError(f"The upload holds no items: send {fmt.upper()} rows with an input.")
    return await asyncio.to_thread(_add, _store(request), project, name, raw)


def _check_destination(request: Request, url: str, field: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        services(request).settings.alerting_policy.addresses(host, port)
    except ConfigError as exc:
        raise ValidationError(f"The {field!r} endpoint {url!r} is refused: {exc}") from exc


def _run_out(r: dict[str, Any]) -> dict[str, Any]:
    return {**r, "task": orjson.loads(r["task"]), "evaluators": orjson.loads(r["evaluators"])}


@router.post("/experiments", response_model=RunOut, status_code=202)
def start_experiment(body: ExperimentIn, request: Request, project: Operate) -> dict[str, Any]:
    """Start a run over a dataset version: the task gives each item's output, the evaluators
    grade it. It runs in the background: poll ``GET /v1/llm/experiments/{id}``."""
    store = _store(request)
    task = build_task(body.task)
    evs = build_evaluators(body.evaluators)
    if task.endpoint is not None:
        _check_destination(request, task.endpoint.url, "task")
    for ev in evs:
        if ev.remote:
            _check_destination(request, str(ev.params()["endpoint"]), ev.label)
    items = store.dataset_items(project, body.dataset, body.version)
    if not items:
        raise ValidationError(
            f"Dataset {body.dataset!r} has no items in that version; add some first."
        )
    ds = store.get_dataset(project, body.dataset)
    run_id = uuid.uuid4().hex[:16]
    run = {"id": run_id, "name": body.name, "dataset": body.dataset,
           "version": ds["version"] if body.version is None else body.version,
           "task": orjson.dumps(task.spec()).decode(),
           "evaluators": orjson.dumps([e.spec() for e in evs]).decode(), "status": "queued",
           "done": 0, "total": len(items), "created_at": datetime.now(UTC).replace(tzinfo=None),
           "tokens": 0, "cost": 0.0}  # fmt: skip
    store.put_run(project, run)
    limits = RunLimits(concurrency=body.concurrency, budget_s=body.budget_s)
    _jobs(request).submit(ExperimentRun(store, project, run_id, items, task, evs, limits))
    return _run_out(store.get_run(project, run_id))


@router.get("/experiments", response_model=list[RunOut])
def list_experiments(
    request: Request, project: Read, dataset: str | None = None
) -> list[dict[str, Any]]:
    """Runs, newest first (of one dataset when given)."""
    return [_run_out(r) for r in _store(request).list_runs(project, dataset)]


def run_detail(store: EvalRepository, project: str, run_id: str) -> dict[str, Any]:
    """A run with a summary per evaluator and its per-item results."""
    run = _run_out(store.get_run(project, run_id))
    grades = store.run_grades(project, run_id)
    per: dict[str, list[dict[str, Any]]] = {}
    by_item: dict[str, dict[str, Any]] = {}
    for g in grades:
        per.setdefault(g["evaluator"], []).append(g)
        by_item.setdefault(g["item_id"], {})[g["evaluator"]] = {
            k: g[k] for k in ("value", "passed", "detail", "template", "tokens", "cost")}  # fmt: skip
    summary = []
    for name, gs in sorted(per.items()):
        vals = [g["value"] for g in gs if g["value"] is not None]
        passed = [g["passed"] for g in gs if g["passed"] is not None]
        summary.append({"evaluator": name, "graded": len(vals),
                        "mean": sum(vals) / len(vals) if vals else None,
                        "pass_rate": sum(passed) / len(passed) if passed else None,
                        "templates": sorted({g["template"] for g in gs if g["template"]})})  # fmt: skip
    results = [{**o, "grades": by_item.get(o["item_id"], {})}
               for o in store.run_outputs(project, run_id)]  # fmt: skip
    return {**run, "summary": summary, "results": results}


@router.get("/experiments/{run_id}", response_model=RunDetail)
def get_experiment(run_id: str, request: Request, project: Read) -> dict[str, Any]:
    """A run: status and progress, per-evaluator summary, per-item outputs and grades."""
    return run_detail(_store(request), project, run_id)


class Compared(BaseModel):
    a: RunOut
    b: RunOut
    evaluators: list[dict[str, Any]] = Field(
        description="Per evaluator: means with 95% intervals, mean difference (b - a), the "
        "paired test (mcnemar_exact or wilcoxon, with the paired t-test's p beside) and p-value."
    )
    items: list[dict[str, Any]] = Field(description="Per item: both outputs and grades.")


@router.get("/experiments/{run_id}/compare/{other_id}", response_model=Compared)
def compare_experiments(
    run_id: str, other_id: str, request: Request, project: Read
) -> dict[str, Any]:
    """Run ``other_id`` against run ``run_id`` (the baseline): per item and aggregate
    differences with a paired significance test per evaluator."""
    out = compare_runs(_store(request), project, run_id, other_id)
    return {**out, "a": _run_out(out["a"]), "b": _run_out(out["b"])}
