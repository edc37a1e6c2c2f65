"""Ingest: events and actuals, JSON or Arrow IPC, validated per row, group-committed.

A request is answered only after its good rows (and the quarantine records of
its bad rows) are committed. 200: all rows accepted; 207: some rows rejected;
422: no row accepted. Each rejected row is reported with index, field, reason (the first
1,000 of them; `rejected_count` counts all).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Request

from mlwarden.schema.batch import (
    BatchResult,
    validate_actual_rows,
    validate_actuals_table,
    validate_rows,
    validate_table,
)
from mlwarden.schema.limits import Limits
from mlwarden.schema.spec import FeatureKind, ModelSpec
from mlwarden.server.api_models import IngestOut
from mlwarden.server.auth import Ingest
from mlwarden.server.body import (
    ARROW_TYPES,
    inflate,
    media_type,
    parse_arrow,
    parse_json,
    read_body,
)
from mlwarden.server.errors import JSONReply, json_reply
from mlwarden.server.services import services
from mlwarden.stats.pii_redaction import Redactor
from mlwarden.store.base import IngestResult, ModelRecord, Store
from mlwarden.store.protocols import EventLog

router = APIRouter(prefix="/v1", tags=["ingest"])

BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            ARROW_TYPES[0]: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
REPLIES: dict[int | str, dict[str, Any]] = {
    207: {"model": IngestOut, "description": "Some rows were rejected (see 'rejected')."},
    422: {"description": "No row was accepted, or the body is malformed."},
    413: {"description": "The body is over the size limit."},
}


async def _ingest(request: Request, project: str, model: str, kind: str) -> JSONReply:
    store: Store = services(request).store
    settings = services(request).settings
    record = await asyncio.to_thread(store.get_model, project, model)  # 404 before the body
    body = await read_body(request, settings.max_body_bytes, decompress=False)
    # everything CPU-bound (inflating, parsing, validating, redacting, the quarantine records)
    # on a worker thread: the event loop keeps answering health checks and pages meanwhile
    result, futures = await asyncio.to_thread(
        _accept,
        store,
        record,
        body,
        media_type(request),
        request.headers.get("content-encoding", ""),
        kind,
        limits=settings.limits,
        max_body_bytes=settings.max_body_bytes,
        redactor=services(request).redactor,
    )
    done: list[IngestResult] = list(
        await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
    )
    stored = done[0] if result.table.num_rows else IngestResult(0, 0)
    received = result.table.num_rows + result.rejected_count
    out = {
        "received": received,
        "accepted": result.table.num_rows,
        "duplicates": stored.duplicates,
        "rejected": [
            {"index": r.index, "field": r.field, "reason": r.reason} for r in result.rejected
        ],
        "rejected_count": result.rejected_count,
        "new_features": [f.model_dump(mode="json") for f in result.new_features],
    }
    code = 200 if not result.rejected_count else (207 if result.table.num_rows else 422)
    services(request).ingest_counter(
        project, model, kind, result.table.num_rows, result.rejected_count
    )
    return json_reply(out, status_code=code)


def _accept(
    store: EventLog,
    record: ModelRecord,
    body: bytes,
    media: str,
    encoding: str,
    kind: str,
    *,
    limits: Limits,
    max_body_bytes: int,
    redactor: Redactor,
) -> tuple[BatchResult, list[Future[IngestResult]]]:
    """Inflate and validate a body and hand its good rows and its rejections to the writer
    (on a worker thread); the futures resolve when they are committed."""
    body = inflate(body, encoding, max_body_bytes)
    result = _validate(record.spec, body, media, kind, limits, redactor)
    futures = []
    if result.table.num_rows:
        if kind == "events":
            futures.append(store.append_events(record, result.table, stamped=result.stamped))
        else:
            futures.append(store.append_actuals(record, result.table))
    if result.rejected:
        futures.append(store.quarantine(record.project, record.name, kind, result.rejected))
    return result, futures


def _validate(
    spec: ModelSpec, body: bytes, media: str, kind: str, limits: Limits, redactor: Redactor
) -> BatchResult:
    """The one funnel of an ingest body: parse (JSON or Arrow IPC), validate per row, and take
    personal data out of text features when the server redacts it."""
    arrow = media in ARROW_TYPES
    if kind == "events":
        if arrow:
            table = parse_arrow(body, max_cells=limits.max_cells)
            result = _with_payloads(validate_table(spec, table, limits=limits), table)
        else:
            result = validate_rows(spec, parse_json(body, what="events"), limits=limits)
        return _redacted(spec, result, redactor)
    if arrow:
        table = parse_arrow(body, max_cells=limits.max_cells)
        result = _with_payloads(validate_actuals_table(spec, table, limits=limits), table)
    else:
        result = validate_actual_rows(spec, parse_json(body, what="actuals"), limits=limits)
    return _redacted(spec, result, redactor)


def _with_payloads(result: BatchResult, table: pa.Table) -> BatchResult:
    """``result`` with each rejected row's own values from the Arrow ``table`` it came from:
    the column checks of a table name the row and the reason, not the row, and a quarantine
    record without its payload (the SDK sends Arrow) cannot be inspected or replayed."""
    if all(r.row is not None for r in result.rejected):
        return result
    rows = [
        replace(r, row=_row(table, r.index)) if r.row is None and 0 <= r.index < table.num_rows
        else r
        for r in result.rejected
    ]  # fmt: skip
    return replace(result, rejected=rows)


def _row(table: pa.Table, i: int) -> dict[str, Any]:
    """Row ``i`` as Python values; a value Python cannot hold (a timestamp in the year 31970,
    often the very reason of the rejection) as Arrow writes it."""
    out: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        cell = column.slice(i, 1)
        try:
            out[name] = cell.to_pylist()[0]
        except (OverflowError, ValueError, pa.ArrowException):
            try:
                out[name] = pc.cast(cell, pa.string()).to_pylist()[0]
            except pa.ArrowException:
                out[name] = f"<{column.type} value that cannot be shown>"
    return out


def _redacted(spec: ModelSpec, result: BatchResult, redactor: Redactor) -> BatchResult:
    """``result`` with its text features' values passed through ``redactor`` (before they are
    stored: the text drift and missing-value monitors then see the redacted text), and its
    rejected rows' payloads and reasons too (the quarantine keeps them)."""
    if not redactor.active:
        return result
    if result.rejected:  # quarantined rows are kept for people to read: no personal data either
        rejected = [
            replace(r, row=redactor.payload(r.row), reason=redactor.reason(r.reason))
            for r in result.rejected
        ]
        result = replace(result, rejected=rejected)
    if not result.table.num_rows:
        return result
    text = {f.name for f in (*spec.features, *result.new_features) if f.kind is FeatureKind.TEXT}
    table = result.table
    for name in sorted(text & set(table.column_names)):
        column = table.column(name)
        values = [redactor(v) for v in column.to_pylist()]
        table = table.set_column(
            table.column_names.index(name), name, pa.array(values, type=column.type)
        )
    return replace(result, table=table)


@router.post(
    "/models/{model}/events", response_model=IngestOut, responses=REPLIES, openapi_extra=BODY_DOC
)
async def post_events(model: str, request: Request, project: Ingest) -> JSONReply:
    """Log predictions: a JSON array of events or an Arrow IPC stream (flat columns).

    Re-sending an event with the same ``event_id`` is a no-op (counted in ``duplicates``)."""
    return await _ingest(request, project, model, "events")


@router.post(
    "/models/{model}/actuals", response_model=IngestOut, responses=REPLIES, openapi_extra=BODY_DOC
)
async def post_actuals(model: str, request: Request, project: Ingest) -> JSONReply:
    """Log ground truth: ``[{"event_id": ..., "actual": ...}]`` or an Arrow IPC stream."""
    return await _ingest(request, project, model, "actuals")
