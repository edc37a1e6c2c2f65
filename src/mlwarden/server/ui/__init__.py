"""The web UI served by ``mlwarden serve``: server-rendered pages under ``/ui``.

No front-end server and no JavaScript build: Jinja2 templates, a small script for charts
(uPlot, vendored at a pinned version under ``static/vendor``) and filters that keep every
view's state in the URL. See ``docs/ui.md``.
"""

from __future__ import annotations

from fastapi import APIRouter

from mlwarden.server.ui import (
    pages_annotations,
    pages_blindspots,
    pages_compare,
    pages_compare_windows,
    pages_evals,
    pages_feature,
    pages_feedback,
    pages_incidents,
    pages_llm_dashboard,
    pages_llm_sessions,
    pages_model,
    pages_monitors,
    pages_overview,
    pages_prices,
    pages_quarantine,
    pages_review,
    pages_sample,
    pages_search,
    pages_security,
    pages_slos,
)
from mlwarden.server.ui.routing import STATIC_DIR
from mlwarden.server.ui.warm import prepare, warm

__all__ = ["STATIC_DIR", "prepare", "router", "warm"]

router = APIRouter(include_in_schema=False)
for _pages in (
    pages_overview,
    pages_model,
    pages_monitors,
    pages_compare,
    pages_compare_windows,
    pages_blindspots,
    pages_feature,
    pages_sample,
    pages_incidents,
    pages_quarantine,
    pages_search,
    pages_security,
    pages_slos,
    pages_feedback,
    pages_annotations,
    pages_llm_sessions,
    pages_llm_dashboard,
    pages_review,
    pages_prices,
    pages_evals,
):
    router.include_router(_pages.router)
