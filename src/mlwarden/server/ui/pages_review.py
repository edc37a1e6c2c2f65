"""The annotation queue of an LLM app: traces to review, one at a time, with keyboard keys.

``/ui/models/{model}/review?mode=flagged`` lists the traces of the range that no human has
scored yet (``mode``: ``flagged`` first, ``unscored`` newest first, or ``sampled`` in a fixed
pseudo-random order; :func:`mlwarden.store.llm_sessions.review_queue`) and shows one of them
(``trace``, by default the first). A verdict is a boolean ``review`` score (thumbs up: true)
with the reviewer's note as its comment, source ``human``, stored like any score of the
scores API (:func:`mlwarden.schema.scores.validate_scores`); the reviewer then sees the next
trace. Keys (``static/review.js``): ``1`` thumbs down, ``2`` thumbs up, ``j`` / ``k`` next /
previous trace, ``n`` write a note. One verdict per trace and reviewer's key: a second one
replaces the first. Posting needs the ``operate`` scope and the form token.
"""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mlwarden.errors import ValidationError, expected
from mlwarden.schema.scores import MAX_COMMENT, validate_scores
from mlwarden.server.services import Svc
from mlwarden.server.ui.llm_app import llm_app
from mlwarden.server.ui.routing import HTMLRoute, UIOperate, UIRead, form_data, render, ui_principal
from mlwarden.server.ui.tab_llm import trace_view
from mlwarden.store import llm_sessions as ls
from mlwarden.store import score_queries as sc

__all__ = ["REVIEW_NAME", "router"]

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
#: The name of the boolean score a review writes (true: thumbs up).
REVIEW_NAME = "review"
#: Traces held in one queue (the next ones come as these are reviewed).
QUEUE = 100
MODES = {"flagged": "flagged first", "unscored": "newest first", "sampled": "a random sample"}
_VOTES = {"up": True, "down": False}


@router.get("/ui/models/{model}/review", response_class=HTMLResponse)
def review_page(model: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """The queue and the trace under review."""
    store = sv.store
    app = llm_app(store, project, model, request.url.path, request.query_params)
    mode = app.params.get("mode", "flagged")
    if mode not in MODES:
        raise ValidationError(expected("parameter", "mode", f"be one of {', '.join(MODES)}", mode))
    queue = ls.review_queue(app.spans, sc.model_scores(store, app.record), mode=mode,
                            **app.range(), limit=QUEUE)  # fmt: skip
    current = app.params.get("trace") or (queue[0] if queue else None)
    at = queue.index(current) if current in queue else None
    view = trace_view(app.spans, current) if current else None
    prev_id = queue[at - 1] if at is not None and at > 0 else None
    if at is None:  # reviewed already (or from a link): next is the queue's first
        next_id = queue[0] if queue and queue[0] != current else None
    else:
        next_id = queue[at + 1] if at + 1 < len(queue) else None
    mine = []
    if view is not None:
        s = store.scores(project)
        mine = s.filter(s.trace_id == current, s.name == REVIEW_NAME).to_pyarrow().to_pylist()
    return render(request, "llm_review.html", {
        **app.context(), "project": project, "mode": mode, "modes": MODES, "queue": queue,
        "at": at, "trace": view, "current": current, "prev_id": prev_id, "next_id": next_id,
        "verdicts": mine})  # fmt: skip


@router.post("/ui/models/{model}/review/{trace_id}")
async def review_verdict(
    model: str, trace_id: str, request: Request, sv: Svc, project: UIOperate
) -> Response:
    """Record a verdict (thumbs up or down, a note) on a trace and go to the next one."""
    form = await form_data(request)
    vote = form.get("vote", "")
    if vote not in _VOTES:
        raise ValidationError(expected("field", "vote", "be up or down", vote))
    note = form.get("note", "").strip() or None
    if note is not None and len(note) > MAX_COMMENT:
        raise ValidationError(
            expected("field", "note", f"be at most {MAX_COMMENT} characters", note[:40] + "…")
        )
    store = sv.store
    store.get_model(project, model)  # 404 for a model that is not there
    who = ui_principal(request).key_id or "keyless"
    key = hashlib.sha256(f"{trace_id}\0{who}\0{REVIEW_NAME}".encode()).hexdigest()[:32]
    batch = validate_scores([{"id": f"ui-review-{key}", "trace_id": trace_id, "name": REVIEW_NAME,
                              "value": _VOTES[vote], "comment": note, "source": "human"}])  # fmt: skip
    if batch.rejected:
        raise ValidationError(batch.rejected[0].reason)
    await asyncio.wrap_future(store.put_scores(project, batch.table))
    keep = {k: form[k] for k in ("mode", "start", "end") if form.get(k)}
    if form.get("next"):
        keep["trace"] = form["next"]
    return RedirectResponse(f"/ui/models/{quote(model, safe='')}/review?{urlencode(keep)}", 303)
