"""An LLM app's sessions, users and breakdowns: the API twins of the UI's views.

``GET /v1/llm/breakdown`` (cost, tokens, latency and TTFT quantiles, error and flag rates by
model, user, session, prompt version or route), ``GET /v1/llm/sessions`` and
``/v1/llm/sessions/{session_id}`` (a session's turns in order), ``GET /v1/llm/users``. All
read the project's spans (``service``: one app's), attributed by trace.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from mlwarden.errors import NotFoundError
from mlwarden.server.api_models import UTCDateTime, utc
from mlwarden.server.auth import Read
from mlwarden.server.params import TimeQ
from mlwarden.server.services import Svc, services
from mlwarden.store import llm_breakdown as lb
from mlwarden.store import llm_sessions as ls
from mlwarden.store.base import Store

__all__ = ["router"]

router = APIRouter(prefix="/v1/llm", tags=["llm"])
DimensionQ = Literal["model", "user", "session", "prompt_version", "route", "provider", "service"]
UserSortQ = Literal["cost", "calls", "tokens", "flagged", "sessions", "last_seen", "user"]
ServiceQ = Annotated[str | None, Query(description="Only the spans of this service (one app).")]
_CALL_FIELDS = ("span_id", "name", "model", "start_time", "duration_ms", "ttft_ms",
                "status_code", "input_tokens", "output_tokens", "cost", "prompt", "response",
                "finish_reason", "flags")  # fmt: skip


class BreakdownRow(BaseModel):
    window_start: UTCDateTime | None = None
    key: str | None = Field(description="The group (null: calls without a value for 'by').")
    calls: int = Field(description="LLM calls.")
    errors: int
    flagged: int = Field(description="Calls that raised a PII, injection, refusal or JSON flag.")
    error_rate: float
    flag_rate: float
    input_tokens: int | None = Field(description="Null when no call reported tokens.")
    output_tokens: int | None
    cost: float
    latency_p50: float | None = Field(description="Call duration, ms.")
    latency_p95: float | None
    ttft_p50: float | None = Field(description="Time to first token, ms (null: none known).")
    ttft_p95: float | None


def _spans(request: Request, project: str, service: str | None) -> Any:
    store: Store = services(request).store
    t = store.spans(project)
    return t if service is None else t.filter(t.service_name == service)


@router.get("/breakdown", response_model=list[BreakdownRow])
def breakdown(
    request: Request,
    project: Read,
    by: Annotated[DimensionQ, Query(description="Group by this dimension.")] = "model",
    window: Annotated[
        Literal["minute", "hour", "day", "week", "all"],
        Query(description="Bucket size ('all': one row per group)."),
    ] = "all",
    start: TimeQ = None,
    end: TimeQ = None,
    service: ServiceQ = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Costliest groups ('all').")] = 100,
) -> list[dict[str, Any]]:
    """LLM calls per group (and bucket): cost, tokens, p50 / p95 latency and time to first
    token, error and flag rates. Prompt version and route are attributed by trace."""
    rows = lb.breakdown(_spans(request, project, service), by=by,
                        window=None if window == "all" else window, start=start, end=end,
                        limit=limit if window == "all" else None)  # fmt: skip
    for r in rows:
        r["error_rate"] = r["errors"] / r["calls"] if r["calls"] else 0.0
        r["flag_rate"] = r["flagged"] / r["calls"] if r["calls"] else 0.0
    return rows


class SessionRow(BaseModel):
    session_id: str
    user_id: str | None
    first_seen: UTCDateTime
    last_seen: UTCDateTime
    turns: int = Field(description="Traces of the session.")
    calls: int
    errors: int
    flagged: int
    input_tokens: int | None
    output_tokens: int | None
    cost: float


class SessionPage(BaseModel):
    sessions: list[SessionRow]
    total: int = Field(description="Sessions matching the filters.")


@router.get("/sessions", response_model=SessionPage)
def list_sessions(
    request: Request,
    project: Read,
    user: str | None = None,
    flagged: Annotated[
        bool | None, Query(description="Only sessions with (true) or without (false) a flag.")
    ] = None,
    min_cost: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    start: TimeQ = None,
    end: TimeQ = None,
    service: ServiceQ = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Sessions active in the range, latest activity first, with their totals."""
    rows, total = ls.sessions(_spans(request, project, service), start=start, end=end,
                              user=user, flagged=flagged, min_cost=min_cost, limit=limit,
                              offset=offset)  # fmt: skip
    return {"sessions": rows, "total": total}


class TurnOut(BaseModel):
    trace_id: str
    start: UTCDateTime
    duration_ms: float
    user_id: str | None
    question: str | None = Field(description="The user's last message of the first call.")
    answer: str | None = Field(description="The last call's response.")
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    ttft_ms: float | None
    errors: int
    flags: list[str]
    calls: list[dict[str, Any]] = Field(description="The turn's LLM calls in start order.")


class SessionOut(BaseModel):
    session_id: str
    turns: list[TurnOut]


def _turn(t: dict[str, Any]) -> dict[str, Any]:
    t["start"] = utc(t["start"])
    t["calls"] = [
        {k: (utc(c[k]) if isinstance(c[k], datetime) else c[k]) for k in _CALL_FIELDS}
        for c in t["calls"]
    ]
    return t


@router.get("/sessions/{session_id}", response_model=SessionOut)
def get_session(
    session_id: str, request: Request, project: Read, service: ServiceQ = None
) -> dict[str, Any]:
    """A session's turns (its traces) in order: question, answer, tokens, cost, latency,
    time to first token, flags, and each LLM call."""
    turns = ls.session_turns(_spans(request, project, service), session_id)
    if not turns:
        raise NotFoundError(f"There is no session {session_id!r} in project {project!r}.")
    return {"session_id": session_id, "turns": [_turn(t) for t in turns]}


class UserRow(BaseModel):
    user_id: str
    first_seen: UTCDateTime
    last_seen: UTCDateTime
    calls: int
    traces: int
    sessions: int
    errors: int
    flagged: int
    input_tokens: int | None
    output_tokens: int | None
    tokens: int
    cost: float
    scores: int = Field(description="Scores of the user's traces.")
    thumbs_up: int = Field(description="Boolean scores that are true.")
    thumbs_down: int = Field(description="Boolean scores that are false.")


@router.get("/users", response_model=list[UserRow])
def list_users(
    request: Request,
    sv: Svc,
    project: Read,
    sort: UserSortQ = "cost",
    search: Annotated[
        str | None, Query(max_length=256, description="User ids containing this.")
    ] = None,
    flagged: bool | None = None,
    min_cost: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    start: TimeQ = None,
    end: TimeQ = None,
    service: ServiceQ = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    """Per user: LLM calls, traces, sessions, tokens, cost, errors, flags and scores."""
    store: Store = sv.store
    return ls.users(_spans(request, project, service), store.scores(project), start=start,
                    end=end, search=search, flagged=flagged, min_cost=min_cost, sort=sort,
                    limit=limit, offset=offset)  # fmt: skip
