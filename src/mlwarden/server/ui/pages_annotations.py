"""The model page's note form: add an annotation at a time, or delete one, from the browser.

Both posts need the ``operate`` scope and the form token (as incident actions), are audited
like the API's (:mod:`mlwarden.server.routes_annotations`) and go back to the page they came
from (its query string), at its list of annotations.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import quote

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from mlwarden.errors import ValidationError, expected
from mlwarden.schema.annotation import AnnotationIn
from mlwarden.server.routes_annotations import record_annotation, remove_annotation
from mlwarden.server.ui.routing import HTMLRoute, UIOperate, form_data, ui_principal

__all__ = ["router"]

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)


def _back(model: str, form: dict[str, str]) -> str:
    back = form.get("back", "")
    query = back if back.startswith("?") and len(back) < 2000 else ""
    return f"/ui/models/{quote(model, safe='')}{query}#annotations"


def _time(value: str) -> datetime | None:
    """The form's ``datetime-local`` value (UTC, as every time on the pages); empty: now."""
    if not value.strip():
        return None
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(
            expected("field", "time", "be a date and time such as 2026-01-31T12:00", value)
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@router.post("/ui/models/{model}/annotations")
async def add_annotation(model: str, request: Request, project: UIOperate) -> Response:
    """Add a note (or a deploy, an incident ...) at the form's time on the model's charts."""
    form = await form_data(request)
    try:
        body = AnnotationIn(
            text=form.get("text", ""),
            kind=form.get("kind") or "note",
            time=_time(form.get("time", "")),
            author=form.get("author", ""),
        )
    except pydantic.ValidationError as exc:
        raise ValidationError("; ".join(str(e["msg"]).removeprefix("Value error, ")
                                        for e in exc.errors())) from None  # fmt: skip
    key_id = ui_principal(request).key_id
    await asyncio.to_thread(record_annotation, request, project, model, body, key_id=key_id)
    return RedirectResponse(_back(model, form), 303)


@router.post("/ui/models/{model}/annotations/{annotation_id}/delete")
async def delete_annotation(
    model: str, annotation_id: int, request: Request, project: UIOperate
) -> Response:
    """Delete one annotation of the model (the project's are deleted through the API)."""
    form = await form_data(request)
    await asyncio.to_thread(remove_annotation, request, project, model, annotation_id)
    return RedirectResponse(_back(model, form), 303)
