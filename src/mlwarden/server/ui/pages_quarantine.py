"""A model's quarantine: the rows ingest rejected, each with its reason and its payload.

Rows that fail validation are stored aside (``quarantine`` table) instead of being lost; this
page shows the latest of them so a user can see why their events or labels did not count.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mlwarden.server.services import Svc
from mlwarden.server.ui.routing import HTMLRoute, UIRead, positive_int, render
from mlwarden.server.ui.state import ViewState
from mlwarden.server.ui.views import paginate

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
#: The latest rejected rows read for the page (the API and the table hold all of them).
LATEST = 1000
PAGE_SIZE = 50


@router.get("/ui/models/{model}/quarantine", response_class=HTMLResponse)
def quarantine_page(model: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """The latest rejected rows of a model (events and actuals), newest first."""
    store = sv.store
    store.get_model(project, model)
    page_no = positive_int(request.query_params.get("page"), "page", 1)
    rows: list[dict[str, Any]] = store.quarantined(project, model, limit=LATEST).to_pylist()
    reasons = Counter((r["kind"], r["field"] or "", r["reason"]) for r in rows)
    return render(
        request,
        "quarantine.html",
        {
            "project": project,
            "model": model,
            "rows": paginate(rows, page_no, PAGE_SIZE),
            "reasons": reasons.most_common(10),
            "capped": len(rows) >= LATEST,
            "state": ViewState(page=page_no),
        },
    )
