"""OTLP/HTTP logs and metrics: ``POST /v1/logs``, ``POST /v1/metrics``, ``GET /v1/llm/metrics``.

Same encodings, auth scope (``Ingest``), size limit and reply shapes as ``/v1/traces``.

* Logs: GenAI events (``gen_ai.*`` log records: prompts and responses sent "in event
  mode") are stored in ``span_logs``; their texts are joined to their span by trace and span
  id, whichever arrives first (:func:`~mlwarden.server.routes_otlp.apply_logs`), and checked
  as span texts are. Other log records are acknowledged and not stored.
* Metrics: every gauge, sum and histogram data point is stored in ``llm_metrics``
  (GenAI client metrics such as ``gen_ai.client.token.usage``,
  ``gen_ai.client.operation.duration``, ``gen_ai.server.time_to_first_token``);
  ``GET /v1/llm/metrics`` sums them per metric, model and token type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from mlwarden.errors import MlwardenError, PayloadTooLargeError, ValidationError
from mlwarden.schema.batch import Rejection
from mlwarden.schema.otlp import JSON_TYPE, PROTOBUF_TYPE, error_reply, partial_reply
from mlwarden.schema.otlp_logs import decode_logs, logs_table
from mlwarden.schema.otlp_metrics import decode_metrics, metrics_table
from mlwarden.server.api_models import UTCDateTime
from mlwarden.server.auth import Ingest, Read
from mlwarden.server.body import media_type, read_body
from mlwarden.server.params import TimeQ
from mlwarden.server.routes_otlp import (
    BODY_DOC,
    apply_logs,
    fill_from_logs,
    otlp_response,
    prices_of,
)
from mlwarden.server.services import services
from mlwarden.stats.pii_redaction import Redactor
from mlwarden.store import metric_queries

__all__ = ["ingest_logs", "ingest_metrics", "log_reply", "metric_reply", "router"]

router = APIRouter(tags=["llm"])


def _replies(what: str, rejected: str) -> dict[int | str, dict[str, Any]]:
    partial = {
        "type": "object",
        "description": f"Present when some {what} were rejected.",
        "properties": {
            rejected: {"type": "integer", "minimum": 1},
            "errorMessage": {"type": "string"},
        },
        "required": [rejected, "errorMessage"],
        "additionalProperties": False,
    }
    reply = {"type": "object", "properties": {"partialSuccess": partial},
             "additionalProperties": False}  # fmt: skip
    return {
        200: {
            "description": f"The export response (partialSuccess counts rejected {what}).",
            "content": {PROTOBUF_TYPE: {}, JSON_TYPE: {"schema": reply}},
        },
        400: {"description": "The body is not a decodable export request."},
        413: {"description": "The body is over the size limit."},
        415: {"description": "Neither application/x-protobuf nor application/json."},
    }


def log_reply(rejected: int, message: str, *, protobuf: bool) -> bytes:
    """An ``ExportLogsServiceResponse``.

    Examples
    --------
    >>> log_reply(1, "bad id", protobuf=False)
    b'{"partialSuccess":{"rejectedLogRecords":1,"errorMessage":"bad id"}}'
    """
    return partial_reply(
        "opentelemetry.proto.collector.logs.v1.logs_service_pb2.ExportLogsServiceResponse",
        "rejected_log_records",
        rejected,
        message,
        protobuf=protobuf,
    )


def metric_reply(rejected: int, message: str, *, protobuf: bool) -> bytes:
    """An ``ExportMetricsServiceResponse``."""
    return partial_reply(
        "opentelemetry.proto.collector.metrics.v1.metrics_service_pb2.ExportMetricsServiceResponse",
        "rejected_data_points",
        rejected,
        message,
        protobuf=protobuf,
    )


def _message(what: str, rejected: list[Rejection]) -> str:
    reasons = "; ".join(f"{what} {r.index}: {r.reason}" for r in rejected[:5])
    return f"{len(rejected)} {what}(s) rejected: {reasons}" if rejected else ""


async def _decoded(request: Request, decode: Callable[..., Any]) -> tuple[bool, Any] | Response:
    """(protobuf?, decode's result) or the error reply."""
    ctype = media_type(request)
    protobuf = ctype == PROTOBUF_TYPE
    if not protobuf and ctype != JSON_TYPE:
        msg = (
            f"The 'Content-Type' header must be {PROTOBUF_TYPE} or {JSON_TYPE}. "
            f"Got {ctype!r} instead."
        )
        return otlp_response(error_reply(3, msg, protobuf=False), 415, protobuf=False)
    try:
        body = await read_body(request, services(request).settings.max_body_bytes)
        return protobuf, await asyncio.to_thread(decode, body, protobuf=protobuf)
    except PayloadTooLargeError as exc:
        return otlp_response(error_reply(8, str(exc), protobuf=protobuf), 413, protobuf=protobuf)
    except ValidationError as exc:
        return otlp_response(error_reply(3, str(exc), protobuf=protobuf), 400, protobuf=protobuf)


def _redacted(table: Any, redactor: Redactor) -> Any:
    if not redactor.active:
        return table
    for name in ("attributes", "body"):
        i = table.schema.get_field_index(name)
        values = [redactor(v) for v in table.column(name).to_pylist()]
        table = table.set_column(i, name, [values])
    return table


@router.post(
    "/v1/logs",
    responses=_replies("log records", "rejectedLogRecords"),
    openapi_extra=BODY_DOC,
    response_class=Response,
)
async def post_logs(request: Request, project: Ingest) -> Response:
    """OTLP/HTTP log export (GenAI events: ``gen_ai.user.message``, ``gen_ai.choice``,
    ``gen_ai.client.inference.operation.details``, ...), joined to their spans."""
    got = await _decoded(request, decode_logs)
    if isinstance(got, Response):
        return got
    protobuf, (rows, rejected) = got
    genai = [r for r in rows if str(r["event_name"] or "").startswith("gen_ai.")]
    try:
        if genai:
            table = _redacted(logs_table(genai, project), services(request).redactor)
            await asyncio.wrap_future(services(request).store.append_span_logs(project, table))
            keys = {(r["trace_id"], r["span_id"]) for r in genai if r["trace_id"] and r["span_id"]}
            await apply_logs(request, project, keys)
    except MlwardenError as exc:
        return otlp_response(error_reply(14, str(exc), protobuf=protobuf), 503, protobuf=protobuf)
    reply = log_reply(len(rejected), _message("log record", rejected), protobuf=protobuf)
    return otlp_response(reply, 200, protobuf=protobuf)


@router.post(
    "/v1/metrics",
    responses=_replies("data points", "rejectedDataPoints"),
    openapi_extra=BODY_DOC,
    response_class=Response,
)
async def post_metrics(request: Request, project: Ingest) -> Response:
    """OTLP/HTTP metric export (gauges, sums and histograms; GenAI client metrics)."""
    got = await _decoded(request, decode_metrics)
    if isinstance(got, Response):
        return got
    protobuf, (points, rejected) = got
    try:
        if points:
            table = metrics_table(points, project)
            await asyncio.wrap_future(services(request).store.append_metric_points(project, table))
    except MlwardenError as exc:
        return otlp_response(error_reply(14, str(exc), protobuf=protobuf), 503, protobuf=protobuf)
    reply = metric_reply(len(rejected), _message("metric", rejected), protobuf=protobuf)
    return otlp_response(reply, 200, protobuf=protobuf)


def ingest_logs(state: Any, project: str, body: bytes) -> list[Rejection]:
    """A protobuf ``ExportLogsServiceRequest`` stored as ``POST /v1/logs`` stores it, in the
    calling thread (the gRPC receiver's); returns the rejected records."""
    rows, rejected = decode_logs(body, protobuf=True)
    genai = [r for r in rows if str(r["event_name"] or "").startswith("gen_ai.")]
    if genai:
        table = _redacted(logs_table(genai, project), state.redactor)
        state.store.append_span_logs(project, table).result()
        keys = {(r["trace_id"], r["span_id"]) for r in genai if r["trace_id"] and r["span_id"]}
        filled = fill_from_logs(
            state.store, project, keys, prices_of(state, project), state.redactor
        )
        if filled is not None:
            filled.result()
    return rejected


def ingest_metrics(state: Any, project: str, body: bytes) -> list[Rejection]:
    """A protobuf ``ExportMetricsServiceRequest`` stored as ``POST /v1/metrics`` stores it."""
    points, rejected = decode_metrics(body, protobuf=True)
    if points:
        state.store.append_metric_points(project, metrics_table(points, project)).result()
    return rejected


class MetricRow(BaseModel):
    name: str
    model: str | None
    token_type: str | None
    points: int
    count: int | None
    sum: float | None
    min: float | None
    max: float | None
    first: UTCDateTime | None
    last: UTCDateTime


@router.get("/v1/llm/metrics", response_model=list[MetricRow])
def llm_metrics(
    request: Request,
    project: Read,
    name: Annotated[str | None, Query(description="Only this metric.")] = None,
    start: TimeQ = None,
    end: TimeQ = None,
) -> list[dict[str, Any]]:
    """OTLP metrics per metric, model and token type: data points, and the count, sum, min
    and max they add up to (a cumulative series counts once, with its newest point)."""
    points = services(request).store.metric_points(project)
    return metric_queries.summary(points, name=name, start=start, end=end)
