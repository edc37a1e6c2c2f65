"""``/ui/search?q=``: models, features and incidents of the browser's project by name (the
search box in every page's header)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mlwarden.server.search import search
from mlwarden.server.services import Svc
from mlwarden.server.ui.routing import HTMLRoute, UIRead, render

__all__ = ["router"]

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
#: Hits of each kind shown.
LIMIT = 50


@router.get("/ui/search", response_class=HTMLResponse)
def search_page(request: Request, sv: Svc, project: UIRead) -> Response:
    """What matches the query; an empty query shows the box only."""
    q = (request.query_params.get("q") or "").strip()
    hits = search(sv.store, project, q, limit=LIMIT) if q else None
    return render(
        request,
        "search.html",
        {"project": project, "q": q, "hits": hits, "limit": LIMIT},
    )
