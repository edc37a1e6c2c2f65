"""The thumbs up / down buttons of a trace in the LLM tab: a ``user_feedback`` score.

One vote per browser key and trace: the score's id is made of the trace and the key (the
keyless server's browsers share one), so pressing the other button changes the vote instead
of adding one. The post needs the ``operate`` scope and the form token, like incident actions.
"""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from mlwarden.errors import ValidationError, expected
from mlwarden.schema.scores import validate_scores
from mlwarden.server.services import Svc
from mlwarden.server.ui.routing import HTMLRoute, UIOperate, form_data, ui_principal

__all__ = ["FEEDBACK_NAME", "router"]

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
#: The name of the boolean score the buttons send (true: thumbs up).
FEEDBACK_NAME = "user_feedback"
_VOTES = {"up": True, "down": False}


@router.post("/ui/models/{model}/traces/{trace_id}/feedback")
async def trace_feedback(
    model: str, trace_id: str, request: Request, sv: Svc, project: UIOperate
) -> Response:
    """Record a thumbs up or down on a trace and go back to it."""
    form = await form_data(request)
    vote = form.get("vote", "")
    if vote not in _VOTES:
        raise ValidationError(expected("field", "vote", "be up or down", vote))
    store = sv.store
    store.get_model(project, model)  # 404 for a model that is not there
    who = ui_principal(request).key_id or "keyless"
    key = hashlib.sha256(f"{trace_id}\0{who}".encode()).hexdigest()[:32]
    batch = validate_scores([{"id": f"ui-{key}", "trace_id": trace_id, "name": FEEDBACK_NAME,
                              "value": _VOTES[vote], "source": "human"}])  # fmt: skip
    if batch.rejected:
        raise ValidationError(batch.rejected[0].reason)
    await asyncio.wrap_future(store.put_scores(project, batch.table))
    back = form.get("back", "")
    query = back if back.startswith("?") else f"?tab=llm&trace={quote(trace_id, safe='')}"
    return RedirectResponse(f"/ui/models/{quote(model, safe='')}{query}#trace", 303)
