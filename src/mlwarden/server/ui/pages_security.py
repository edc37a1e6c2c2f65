"""Security: the recent access log (filter by key, status, route), security events and
administrative changes of the browser's project."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mlwarden.errors import ValidationError
from mlwarden.server.routes_security import access_filter, visible_to
from mlwarden.server.services import Svc
from mlwarden.server.ui.routing import HTMLRoute, UIAdmin, render

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
SHOWN = 100


@router.get("/ui/security", response_class=HTMLResponse)
def security_page(request: Request, sv: Svc, project: UIAdmin) -> Response:
    """The latest requests, security events and audit entries."""
    sec = sv.security
    q = request.query_params
    key, route = q.get("key") or None, q.get("route") or None
    status: int | None = None
    if q.get("status"):
        try:
            status = int(q["status"])
        except ValueError as exc:
            raise ValidationError(
                f"The 'status' parameter must be an HTTP status. Got {q['status']!r} instead."
            ) from exc
    visible = visible_to(request, project)
    keep = access_filter(visible, key=key, status=status, route=route)

    sec.access.flush()
    return render(
        request,
        "security.html",
        {
            "project": project,
            "key": key or "",
            "status": status,
            "route": route or "",
            "access": sec.access.file.query(keep, limit=SHOWN),
            "events": sec.events.file.query(visible, limit=20),
            "audit": sec.audit.query(visible, limit=20),
        },
    )
