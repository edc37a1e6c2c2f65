"""Prices in the UI: the price table's version, the prices set through the API or this page,
a form to set or remove a model's price and one to recost a time range.

The same rules as ``/v1/llm/prices`` (:mod:`mlwarden.server.routes_prices`): prices per token
or per million tokens (the unit is stated), non-negative; a change prices the next spans
received; stored spans keep their cost until a recost. Changing needs the ``admin`` scope and
the form token; every change is in the audit log.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mlwarden.errors import NotFoundError, ValidationError, expected
from mlwarden.server.audit import audit
from mlwarden.server.routes_otlp import prices_of
from mlwarden.server.routes_prices import PriceIn, RecostIn, forget_prices, overrides_of, recost
from mlwarden.server.services import Svc
from mlwarden.server.ui.routing import HTMLRoute, UIAdmin, UIRead, form_data, render

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)
_PRICE_FIELDS = ("input", "output", "cache_read", "cache_write")


def _checked(model: type[pydantic.BaseModel], data: dict[str, Any]) -> Any:
    """``data`` validated as ``model``; pydantic's errors become ours (field, value, rule)."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        e = exc.errors()[0]
        field = ".".join(str(p) for p in e["loc"]) or "form"
        raise ValidationError(expected("field", field, e["msg"].lower(), e.get("input"))) from None


def _number(text: str) -> float | str:
    """A form field as a number (as the API takes it); left as text (refused) when it is not."""
    try:
        return float(text)
    except ValueError:
        return text


@router.get("/ui/prices", response_class=HTMLResponse)
def prices_page(request: Request, sv: Svc, project: UIRead) -> Response:
    """The price table's version and overrides, with the forms that change them."""
    return render(request, "llm_prices.html", {
        "project": project, "version": prices_of(sv, project).version,
        "overrides": overrides_of(sv).models(project), "done": request.query_params.get("done", "")})  # fmt: skip


@router.post("/ui/prices")
async def prices_form(request: Request, sv: Svc, project: UIAdmin) -> Response:
    """Set or remove a model's price, or recost a range (``action``: set, remove, recost)."""
    form = await form_data(request)
    action = form.get("action", "")
    name = form.get("model", "").strip().lower()
    if action in ("set", "remove") and not 0 < len(name) <= 200:
        raise ValidationError(
            expected("field", "model", "be a model name (1 to 200 characters)", name)
        )
    if action == "set":
        data = {f: _number(form[f]) for f in _PRICE_FIELDS if form.get(f, "").strip()}
        body: PriceIn = _checked(PriceIn, {"unit": form.get("unit", ""), **data})
        before = overrides_of(sv).models(project).get(name)
        prices = body.per_million()
        overrides_of(sv).put(project, name, prices)
        forget_prices(sv, project)
        audit(request, "prices.update", name, before, prices, project=project)
        done = f"Price of {name} set."
    elif action == "remove":
        before = overrides_of(sv).models(project).get(name)
        if before is None or not overrides_of(sv).remove(project, name):
            raise NotFoundError(f"There is no price override for model {name!r}.")
        forget_prices(sv, project)
        audit(request, "prices.remove", name, before, None, project=project)
        done = f"Price of {name} removed."
    elif action == "recost":
        r: RecostIn = _checked(RecostIn, {"start": form.get("start", ""), "end": form.get("end", ""),
                                          "model": form.get("model") or None})  # fmt: skip
        if r.end <= r.start:
            raise ValidationError("The 'end' must be after the 'start'.")  # a form: say so
        table = prices_of(sv, project)
        checked, changed = await asyncio.to_thread(recost, sv.store, project, table,
                                                   start=r.start, end=r.end, model=r.model)  # fmt: skip
        after = {"start": r.start.isoformat(), "end": r.end.isoformat(), "model": r.model,
                 "checked": checked, "changed": changed, "version": table.version}  # fmt: skip
        audit(request, "prices.recost", r.model or "*", None, after, project=project)
        done = f"Recosted: {changed} of {checked} spans changed."
    else:
        raise ValidationError(expected("field", "action", "be set, remove or recost", action))
    return RedirectResponse("/ui/prices?" + urlencode({"done": done}), 303)
