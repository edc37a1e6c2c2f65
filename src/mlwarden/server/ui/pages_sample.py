"""The browser's "download sample" links: the API's event sample behind the UI's login.

A browser cannot send the API's key header, so pages link to
``/ui/models/{model}/events/sample`` (the page's own ``segment`` syntax, ``column=value``),
which answers the same download as ``GET /v1/models/{model}/events/sample``
(:func:`mlwarden.server.routes_samples.sample_download`). Templates build the links with the
``sample_href`` global.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlwarden.errors import ValidationError
from mlwarden.server.params import range_filter
from mlwarden.server.routes_samples import sample_download
from mlwarden.server.services import Svc
from mlwarden.server.ui.routing import HTMLRoute, UIRead, positive_int, templates
from mlwarden.server.ui.state import parse_time
from mlwarden.store.event_sample import MAX_SAMPLE

__all__ = ["router", "sample_href"]

router = APIRouter(route_class=HTMLRoute, include_in_schema=False)


def sample_href(
    model: str, start: datetime, end: datetime, segment: str | None = None, fmt: str = "csv"
) -> str:
    """The link to a window's sample (``segment`` as pages write it, ``column=value``).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> sample_href("churn", datetime(2026, 1, 3, tzinfo=UTC), datetime(2026, 1, 4, tzinfo=UTC),
    ...             "region=eu", "parquet")
    '/ui/models/churn/events/sample?start=2026-01-03T00%3A00%3A00%2B00%3A00&end=2026-01-04T00%3A00%3A00%2B00%3A00&segment=region%3Deu&format=parquet'
    """
    params = {"start": start.isoformat(), "end": end.isoformat()}
    if segment:
        params["segment"] = segment
    params["format"] = fmt
    return f"/ui/models/{quote(model, safe='')}/events/sample?{urlencode(params)}"


templates.env.globals["sample_href"] = sample_href


@router.get("/ui/models/{model}/events/sample")
def sample_page(model: str, request: Request, sv: Svc, project: UIRead) -> Response:
    """A uniform random sample of a window's events (and segment's) as CSV or Parquet."""
    q = request.query_params
    if not q.get("start") or not q.get("end"):
        raise ValidationError("A sample needs a window: the 'start' and 'end' parameters.")
    segment: dict[str, str] | None = None
    for item in q.getlist("segment"):  # repeatable: a blind spot is a pair of conditions
        if not item:
            continue
        col, sep, value = item.partition("=")
        if not sep or not col:
            raise ValidationError(
                f"The 'segment' parameter must look like 'column=value'. Got {item!r} instead."
            )
        segment = {**(segment or {}), col: value}
    limit = positive_int(q.get("limit"), "limit", 1000)
    if limit > MAX_SAMPLE:
        raise ValidationError(
            f"The 'limit' parameter must be at most {MAX_SAMPLE}. Got {limit} instead."
        )
    store = sv.store
    return sample_download(
        store,
        store.get_model(project, model),
        start=parse_time(q["start"], "start"),
        end=parse_time(q["end"], "end"),
        segment=segment,
        ranges=range_filter(q.getlist("range")),
        limit=limit,
        fmt=q.get("format") or "csv",
        seed=None,
    )
