"""Query endpoints over LLM trace spans: spans, one trace as a tree, usage and cost, flag rates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mlwarden.errors import NotFoundError
from mlwarden.server.api_models import UTCDateTime, utc
from mlwarden.server.api_replies import QuarantineRow
from mlwarden.server.auth import Read
from mlwarden.server.params import TimeQ
from mlwarden.server.routes_otlp import QUARANTINE_MODEL
from mlwarden.server.services import Svc
from mlwarden.store import span_queries as sq
from mlwarden.store.base import Store

__all__ = ["router"]

router = APIRouter(prefix="/v1/llm", tags=["llm"])
WindowQ = Annotated[
    Literal["minute", "hour", "day", "week", "all"],
    Query(description="Bucket size ('all': one row)."),
]
ByQ = Annotated[
    Literal["model", "user", "session", "provider", "service", "operation", "span_type"] | None,
    Query(description="Group by this column too."),
]
FlagQ = Literal["pii_in_prompt", "pii_in_response", "injection", "refusal", "json_invalid"]
_JSON_COLUMNS = ("attributes", "resource", "events", "findings")


class SpanPage(BaseModel):
    spans: list[dict[str, Any]] = Field(
        description="Spans, newest first (columns of the span table)."
    )
    next_cursor: str | None = Field(
        description="Pass as 'cursor' for the next page; null at the end."
    )


class TraceOut(BaseModel):
    trace_id: str
    spans: int
    start_time: UTCDateTime
    end_time: UTCDateTime
    duration_ms: float
    input_tokens: int | None = Field(description="Null when no span reported token counts.")
    output_tokens: int | None = Field(description="Null when no span reported token counts.")
    cost: float | None = Field(description="Null when no span was priced or reported a cost.")
    flagged: bool = Field(description="Some span raised a PII, injection, refusal or JSON flag.")
    roots: list[dict[str, Any]] = Field(description="Span tree: each span with its 'children'.")


class UsageRow(BaseModel):
    window_start: UTCDateTime | None = None
    key: str | None = Field(default=None, description="The value of the 'by' column.")
    spans: int
    llm_spans: int
    usage_missing: int = Field(description="LLM spans that reported no token counts.")
    errors: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost: float
    priced: int
    unpriced: int = Field(description="Spans with token counts but no price for their model.")


class FlagRow(BaseModel):
    window_start: UTCDateTime | None = None
    key: str | None = None
    spans: int
    with_prompt: int
    with_response: int
    json_checked: int
    flagged: int
    counts: dict[str, int] = Field(description="Spans that raised each flag.")
    rates: dict[str, float | None] = Field(
        description="Each flag's count over the spans it was checked on (null when none)."
    )


def _window(w: str) -> Any:
    return None if w == "all" else w


def _span_json(row: dict[str, Any]) -> dict[str, Any]:
    for col in _JSON_COLUMNS:
        if isinstance(row.get(col), str):
            row[col] = orjson.loads(row[col])
    row.pop("project", None)
    for k, v in row.items():
        if isinstance(v, datetime):
            row[k] = utc(v)
    return row


def _grouped(rows: list[dict[str, Any]], by: str | None) -> list[dict[str, Any]]:
    for r in rows:
        if by is not None:
            r["key"] = r.pop(by)
    return rows


@router.get("/spans", response_model=SpanPage)
def list_spans(
    sv: Svc,
    project: Read,
    trace_id: str | None = None,
    model: str | None = None,
    user: str | None = None,
    session: str | None = None,
    service: str | None = None,
    span_type: Annotated[str | None, Query(description="llm, chain, tool, agent, ...")] = None,
    flagged: Annotated[
        bool | None, Query(description="Only spans with (true) or without (false) a flag.")
    ] = None,
    flag: Annotated[FlagQ | None, Query(description="Only spans that raised this flag.")] = None,
    start: TimeQ = None,
    end: TimeQ = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> SpanPage:
    """Spans, newest first, filtered and paginated (``next_cursor``)."""
    store: Store = sv.store
    page, next_cursor = sq.page_spans(
        store.spans(project),
        limit=limit,
        cursor=cursor or None,  # an empty cursor is the first page
        start=start,
        end=end,
        trace_id=trace_id,
        model=model,
        user=user,
        session=session,
        service=service,
        span_type=span_type,
        flagged=flagged,
        flag=flag,
    )
    return SpanPage(spans=[_span_json(r) for r in page.to_pylist()], next_cursor=next_cursor)


@router.get("/traces/{trace_id}", response_model=TraceOut)
def get_trace(trace_id: str, sv: Svc, project: Read) -> TraceOut:
    """One trace as a span tree, with its totals."""
    store: Store = sv.store
    rows = [_span_json(r) for r in sq.trace_spans(store.spans(project), trace_id).to_pylist()]
    if not rows:
        raise NotFoundError(f"There is no trace {trace_id!r} in project {project!r}.")
    by_id = {r["span_id"]: {**r, "children": []} for r in rows}
    roots: list[dict[str, Any]] = []
    for node in by_id.values():
        parent = by_id.get(node["parent_span_id"] or "")
        (parent["children"] if parent is not None else roots).append(node)
    start = min(r["start_time"] for r in rows)
    end = max(r["end_time"] for r in rows)
    flags = ("pii_in_prompt", "pii_in_response", "injection", "refusal")
    return TraceOut(
        trace_id=trace_id,
        spans=len(rows),
        start_time=start,
        end_time=end,
        duration_ms=(end - start).total_seconds() * 1000.0,
        input_tokens=sq.known_sum(r["input_tokens"] for r in rows),
        output_tokens=sq.known_sum(r["output_tokens"] for r in rows),
        cost=sq.known_sum(r["cost"] for r in rows),
        flagged=any(any(r[f] for f in flags) or r["json_valid"] is False for r in rows),
        roots=roots,
    )


@router.get("/usage", response_model=list[UsageRow])
def usage(
    sv: Svc,
    project: Read,
    window: WindowQ = "day",
    by: ByQ = "model",
    start: TimeQ = None,
    end: TimeQ = None,
    model: str | None = None,
    user: str | None = None,
    session: str | None = None,
    service: str | None = None,
) -> list[dict[str, Any]]:
    """Tokens (input, output, cache read and write, reasoning) and cost per window and group."""
    store: Store = sv.store
    table = sq.usage(
        store.spans(project),
        window=_window(window),
        by=by,
        start=start,
        end=end,
        model=model,
        user=user,
        session=session,
        service=service,
    )
    return _grouped(table.to_pylist(), by)


@router.get("/flags", response_model=list[FlagRow])
def flags(
    sv: Svc,
    project: Read,
    window: WindowQ = "day",
    by: ByQ = None,
    start: TimeQ = None,
    end: TimeQ = None,
    model: str | None = None,
    service: str | None = None,
) -> list[dict[str, Any]]:
    """How many spans raised each flag per window (and group), and the rates: PII in prompts and
    responses, injection and refusal over spans with a prompt / response, invalid JSON over
    responses that had to be JSON."""
    store: Store = sv.store
    table = sq.flag_counts(
        store.spans(project),
        window=_window(window),
        by=by,
        start=start,
        end=end,
        model=model,
        service=service,
    )
    denominators = {
        "pii_in_prompt": "with_prompt",
        "injection": "with_prompt",
        "pii_in_response": "with_response",
        "refusal": "with_response",
        "json_invalid": "json_checked",
    }
    out = []
    for r in _grouped(table.to_pylist(), by):
        counts = {f: int(r.pop(f)) for f in sq.FLAGS}
        rates = {f: (counts[f] / r[d] if r[d] else None) for f, d in denominators.items()}
        out.append({**r, "counts": counts, "rates": rates})
    return out


@router.get("/quarantine", response_model=list[QuarantineRow])
def span_quarantine(
    sv: Svc,
    project: Read,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """The most recently rejected spans, with their reasons."""
    store: Store = sv.store
    rows: list[dict[str, Any]] = store.quarantined(
        project, QUARANTINE_MODEL, limit=limit
    ).to_pylist()
    return rows
