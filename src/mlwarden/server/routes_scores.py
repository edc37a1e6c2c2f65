"""Scores of LLM app traces: human feedback, API ratings and eval results.

``POST /v1/llm/scores`` takes one score or a JSON array of them (or ``{"scores": [...]}``),
checks each on its own (:func:`mlwarden.schema.scores.validate_scores`) and stores the good
ones: 200 when all were accepted, 207 when some were rejected, 422 when none was. A score
sent again with its ``id`` replaces the stored one (counted in ``replaced``).
``GET /v1/llm/scores`` lists scores, filtered, with aggregates per score name.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from mlwarden.errors import ValidationError
from mlwarden.schema.scores import (
    DATA_TYPES,
    MAX_COMMENT,
    MAX_ID,
    MAX_NAME,
    SOURCES,
    validate_scores,
)
from mlwarden.server.api_models import RejectedRow, UTCDateTime, utc
from mlwarden.server.auth import Ingest, Read
from mlwarden.server.body import parse_json, read_body
from mlwarden.server.errors import JSONReply, json_reply
from mlwarden.server.params import TimeQ
from mlwarden.server.services import Svc
from mlwarden.store import score_queries as sc
from mlwarden.store.base import Store

__all__ = ["MAX_SCORES", "router"]

router = APIRouter(prefix="/v1/llm", tags=["llm"])
#: Most scores in one request.
MAX_SCORES = 10_000

_ID = {"type": "string", "maxLength": MAX_ID}
_NULL_ID = {"type": ["string", "null"], "maxLength": MAX_ID}
#: One score of the request body (what JSON Schema can say; the rest is checked per item).
SCORE_ITEM: dict[str, Any] = {
    "type": "object",
    "required": ["trace_id", "name", "value"],
    "additionalProperties": False,
    "properties": {
        "id": {**_NULL_ID, "description": "Re-sending a score with its id replaces it."},
        "trace_id": {**_ID, "minLength": 1},
        "span_id": _NULL_ID,
        "session_id": _NULL_ID,
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
        "value": {"oneOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}]},
        "data_type": {"enum": [*DATA_TYPES, None], "description": "Inferred from the value."},
        "comment": {"type": ["string", "null"], "maxLength": MAX_COMMENT},
        "source": {"enum": [*SOURCES, None], "default": "api"},
        "timestamp": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "Default: now.",
        },
    },
}
BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [{"type": "array", "items": SCORE_ITEM}, SCORE_ITEM]}
            }
        },
    }
}


class ScoresIn(BaseModel):
    received: int = Field(description="Scores in the request.")
    accepted: int = Field(description="Scores stored (new ones and replacements).")
    replaced: int = Field(description="Accepted scores whose id was stored already (replaced).")
    ids: list[str] = Field(description="The ids of the accepted scores, in request order.")
    rejected: list[RejectedRow] = Field(description="Scores left out, with their reasons.")


class ScoreOut(BaseModel):
    id: str
    trace_id: str
    span_id: str | None
    session_id: str | None
    name: str
    data_type: str = Field(description="numeric, categorical or boolean.")
    value: float | bool | str = Field(description="A number, true / false, or a label.")
    comment: str | None
    source: str = Field(description="human, api or eval.")
    timestamp: UTCDateTime


class ScoreAggregate(BaseModel):
    name: str
    data_type: str
    count: int
    mean: float | None = Field(description="Mean value (numeric scores).")
    true_share: float | None = Field(description="Share of true (boolean scores).")
    categories: dict[str, float] | None = Field(description="Share of each label (categorical).")


class ScoresPage(BaseModel):
    scores: list[ScoreOut] = Field(description="Matching scores, newest first (up to 'limit').")
    total: int = Field(description="All matching scores.")
    aggregates: list[ScoreAggregate] = Field(description="Per score name, over all matching.")


REPLIES: dict[int | str, dict[str, Any]] = {
    207: {"model": ScoresIn, "description": "Some scores were rejected (see 'rejected')."},
    422: {"description": "No score was accepted, or the body is malformed."},
}


@router.post("/scores", response_model=ScoresIn, responses=REPLIES, openapi_extra=BODY_DOC)
async def post_scores(request: Request, sv: Svc, project: Ingest) -> JSONReply:
    """Score traces: ``{trace_id, name, value, span_id?, session_id?, comment?, source?,
    data_type?, id?, timestamp?}``, one or a JSON array."""
    store: Store = sv.store
    body = await read_body(request, sv.settings.max_body_bytes)
    items = parse_json(body, what="scores")
    if len(items) > MAX_SCORES:
        raise ValidationError(f"A request holds at most {MAX_SCORES} scores; got {len(items)}.")
    batch = await asyncio.to_thread(validate_scores, items)
    new, replaced = 0, 0
    if batch.table.num_rows:
        new, replaced = await asyncio.wrap_future(store.put_scores(project, batch.table))
    accepted = batch.table.num_rows
    out = {
        "received": len(items),
        "accepted": accepted,
        "replaced": replaced,
        "ids": batch.table.column("id").to_pylist(),
        "rejected": [
            {"index": r.index, "field": r.field, "reason": r.reason} for r in batch.rejected
        ],  # fmt: skip
    }
    code = 200 if not batch.rejected else (207 if accepted else 422)
    return json_reply(out, status_code=code)


def _out(r: dict[str, Any]) -> dict[str, Any]:
    kind = r["data_type"]
    value = r["label"] if kind == "categorical" else (
        r["value"] == 1.0 if kind == "boolean" else r["value"])  # fmt: skip
    keep = ("id", "trace_id", "span_id", "session_id", "name", "comment", "source")
    return {**{k: r[k] for k in keep}, "data_type": kind, "value": value,
            "timestamp": utc(r["ts"])}  # fmt: skip


@router.get("/scores", response_model=ScoresPage)
def list_scores(
    sv: Svc,
    project: Read,
    trace_id: str | None = None,
    span_id: str | None = None,
    session_id: str | None = None,
    name: str | None = None,
    start: TimeQ = None,
    end: TimeQ = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Scores filtered by trace, span, session, name and time (``[start, end)``), newest
    first, with per-name aggregates: count, mean (numeric), share of true (boolean), share
    of each label (categorical)."""
    store: Store = sv.store
    t = sc.filtered(store.scores(project), trace_id=trace_id, span_id=span_id,
                    session_id=session_id, name=name, start=start, end=end)  # fmt: skip
    rows = t.order_by([t.ts.desc(), t.id]).limit(limit).to_pyarrow().to_pylist()
    total = int(t.count().to_pyarrow().as_py())
    return {"scores": [_out(r) for r in rows], "total": total, "aggregates": sc.aggregates(t)}
