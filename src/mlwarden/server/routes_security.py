"""Security API: the access log, the audit log and the security events (JSON lines).

Every route needs the ``admin`` scope (the logs name keys and client addresses). A caller
sees the entries of its own project and those no project can be told for (requests
without a key, or with a key id no key has); on a server without keys, everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from mlwarden.server.api_replies import AccessEntry, AuditEntry
from mlwarden.server.auth import DEFAULT_PROJECT, Admin
from mlwarden.server.params import TimeQ
from mlwarden.server.security import Security
from mlwarden.server.services import services

__all__ = ["router"]

router = APIRouter(prefix="/v1/security", tags=["security"])
Limit = Annotated[int, Query(ge=1, le=10_000)]


def _security(request: Request) -> Security:
    found: Security = services(request).security
    return found


def _aware(t: datetime | None) -> datetime | None:
    """A time without a zone is UTC."""
    if t is None:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def access_filter(
    visible: Callable[[dict[str, Any]], bool],
    *,
    key: str | None,
    status: int | None,
    route: str | None,
) -> Callable[[dict[str, Any]], bool]:
    """Access-log entries the caller may see that match the key, status and route filters."""

    def keep(e: dict[str, Any]) -> bool:
        return (
            visible(e)
            and (key is None or e.get("key_id") == key)
            and (status is None or e.get("status") == status)
            and (route is None or e.get("route") == route)
        )

    return keep


def visible_to(request: Request, project: str) -> Callable[[dict[str, Any]], bool]:
    keys = services(request).keys
    if project == DEFAULT_PROJECT and (keys is None or not keys.any_active()):
        return lambda e: True
    return lambda e: e.get("project") in (project, None)


@router.get("/access", response_model=list[AccessEntry])
def access(
    request: Request,
    project: Admin,
    key: Annotated[str | None, Query(description="A key id (the <id> of mlw_<id>_...).")] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    route: Annotated[str | None, Query(description="A route template, e.g. /v1/events.")] = None,
    since: TimeQ = None,
    until: TimeQ = None,
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    """Requests to the API and UI, newest first: who (key id, project), what (method, route
    template, status, bytes in and out, duration), from where (client address, user agent),
    when."""
    sec = _security(request)
    sec.access.flush()  # what this caller just did is in the answer
    keep = access_filter(visible_to(request, project), key=key, status=status, route=route)
    return sec.access.file.query(keep, limit=limit, since=_aware(since), until=_aware(until))


@router.get("/audit", response_model=list[AuditEntry])
def audit_log(
    request: Request,
    project: Admin,
    action: Annotated[str | None, Query(description="e.g. alerting.update")] = None,
    target: str | None = None,
    since: TimeQ = None,
    until: TimeQ = None,
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    """Administrative changes, newest first, each with who, when and the state before and
    after."""
    visible = visible_to(request, project)

    def keep(e: dict[str, Any]) -> bool:
        return (
            visible(e)
            and (action is None or e.get("action") == action)
            and (target is None or e.get("target") == target)
        )

    return _security(request).audit.query(
        keep, limit=limit, since=_aware(since), until=_aware(until)
    )


@router.get(
    "/events.jsonl",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One JSON object per line: 'at' (RFC 3339), 'type' (e.g. "
            "auth_failure, throttled, admin_change), 'severity', 'message', 'key_id', 'project', "
            "'client', and fields of the event's type (e.g. 'action' and 'target').",
            "content": {"application/x-ndjson": {}},
        }
    },
)
def events(
    request: Request,
    project: Admin,
    type: Annotated[str | None, Query(description="e.g. auth_failure")] = None,  # noqa: A002
    since: TimeQ = None,
    limit: Limit = 1000,
) -> StreamingResponse:
    """Security events as JSON lines, newest first, for a SIEM: failed authentication,
    throttled callers, administrative changes, security incidents."""
    sec = _security(request)
    sec.access.flush()
    visible = visible_to(request, project)
    rows = sec.events.file.query(
        lambda e: visible(e) and (type is None or e.get("type") == type),
        limit=limit,
        since=_aware(since),
    )

    def lines() -> Iterator[bytes]:
        for e in rows:
            yield orjson.dumps(e) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
