"""An LLM app's sessions and users: lists with filters, a session's conversation, a user's page.

* ``/ui/models/{model}/sessions``: sessions active in the range, latest first; filters
  ``user``, ``flagged`` (yes / no), ``min_cost``.
* ``/ui/models/{model}/sessions/{session_id}``: the session's turns in order (the user's
  message, the answer, tokens, cost, latency, time to first token, flags, scores).
* ``/ui/models/{model}/users``: users with usage, cost, flags, sessions and scores; ``sort``,
  ``search``, ``flagged``, ``min_cost``.
* ``/ui/models/{model}/users/{user_id}``: one user's totals and sessions.

Sessions and users are attributed by trace (:mod:`mlwarden.store.llm_sessions`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from mlwarden.errors import NotFoundError
from mlwarden.server.services import Svc
from mlwarden.server.ui.llm_app import llm_app, optional_float, yes_no
from mlwarden.server.ui.routing import HTMLRoute, UIRead, render
from mlwarden.server.ui.views import Page
from mlwarden.store import llm_sessions as ls
from mlwarden.store import score_queries as sc
from mlwarden.store.span_queries import known_sum

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
PAGE_SIZE = 25
#: Labels of the users list's sort choices.
USER_SORTS = {
    "cost": "cost",
    "calls": "LLM calls",
    "tokens": "tokens",
    "flagged": "flagged calls",
    "sessions": "sessions",
    "last_seen": "last seen",
    "user": "user id",
}


def _shown(row: dict[str, Any]) -> str:
    if row["data_type"] == "categorical":
        return str(row["label"])
    if row["data_type"] == "boolean":
        return "true" if row["value"] == 1.0 else "false"
    return f"{row['value']:g}"


@router.get("/ui/models/{model}/sessions", response_class=HTMLResponse)
def sessions_page(model: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """The app's sessions, latest activity first, filtered and paged."""
    store = sv.store
    app = llm_app(store, project, model, request.url.path, request.query_params)
    q = app.params
    page_no = app.state.page
    rows, total = ls.sessions(app.spans, **app.range(), user=q.get("user") or None,
                              flagged=yes_no(q, "flagged"), min_cost=optional_float(q, "min_cost"),
                              limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)  # fmt: skip
    pages = max(1, -(-total // PAGE_SIZE))
    return render(request, "llm_sessions.html", {
        **app.context(), "project": project, "sessions": rows,
        "page": Page([], min(page_no, pages), pages, total)})  # fmt: skip


@router.get("/ui/models/{model}/sessions/{session_id}", response_class=HTMLResponse)
def session_page(
    model: str, session_id: str, request: Request, sv: Svc, project: UIRead
) -> Response:
    """One session as a conversation: its turns in order, each with its numbers."""
    store = sv.store
    app = llm_app(store, project, model, request.url.path, request.query_params)
    turns = ls.session_turns(app.spans, session_id)
    if not turns:
        raise NotFoundError(f"The app {model!r} has no session {session_id!r}.")
    ids = [t["trace_id"] for t in turns]
    s = store.scores(project)
    rows = s.filter(s.trace_id.isin(ids)).order_by([s.ts, s.id]).to_pyarrow().to_pylist()
    for t in turns:
        t["scores"] = [{**r, "shown": _shown(r)} for r in rows if r["trace_id"] == t["trace_id"]]
    users = sorted({t["user_id"] for t in turns if t["user_id"]})
    totals = {
        "calls": sum(len(t["calls"]) for t in turns),
        "input_tokens": known_sum(t["input_tokens"] for t in turns),
        "output_tokens": known_sum(t["output_tokens"] for t in turns),
        "cost": known_sum(t["cost"] for t in turns),
        "flagged": sum(1 for t in turns if t["flags"]),
    }
    return render(request, "llm_session.html", {
        **app.context(), "project": project, "session_id": session_id, "turns": turns,
        "users": users, "totals": totals})  # fmt: skip


@router.get("/ui/models/{model}/users", response_class=HTMLResponse)
def users_page(model: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """The app's users: usage, cost, flags, sessions and scores; sorted and filtered."""
    store = sv.store
    app = llm_app(store, project, model, request.url.path, request.query_params)
    q = app.params
    page_no = app.state.page
    sort = q.get("sort") or "cost"
    rows = ls.users(app.spans, sc.model_scores(store, app.record), **app.range(),
                    search=q.get("search") or None, flagged=yes_no(q, "flagged"),
                    min_cost=optional_float(q, "min_cost"), sort=sort, limit=PAGE_SIZE + 1,
                    offset=(page_no - 1) * PAGE_SIZE)  # fmt: skip
    more = len(rows) > PAGE_SIZE
    return render(request, "llm_users.html", {
        **app.context(), "project": project, "users": rows[:PAGE_SIZE], "sort": sort,
        "sorts": USER_SORTS, "page_no": page_no, "more": more})  # fmt: skip


@router.get("/ui/models/{model}/users/{user_id}", response_class=HTMLResponse)
def user_page(model: str, user_id: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """One user: totals over the range and their sessions."""
    store = sv.store
    app = llm_app(store, project, model, request.url.path, request.query_params)
    mine = app.spans.filter(app.spans.user_id == user_id)
    found = ls.users(mine, sc.model_scores(store, app.record), **app.range(), limit=1)
    page_no = app.state.page
    rows, total = ls.sessions(app.spans, **app.range(), user=user_id, limit=PAGE_SIZE,
                              offset=(page_no - 1) * PAGE_SIZE)  # fmt: skip
    if not found and not total:
        raise NotFoundError(f"The app {model!r} has no user {user_id!r} in this range.")
    pages = max(1, -(-total // PAGE_SIZE))
    return render(request, "llm_user.html", {
        **app.context(), "project": project, "user_id": user_id,
        "user": found[0] if found else None, "sessions": rows,
        "page": Page([], min(page_no, pages), pages, total)})  # fmt: skip
