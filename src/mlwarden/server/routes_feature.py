"""One column over time, per window: the feature page's numbers for the API (and Grafana).

``GET /v1/models/{model}/columns/{column}/windows`` answers, per window of the monitors'
cadence (or ``cadence``), the count, missing values and either quantiles (5, 25, 50, 75, 95 %)
of a numeric column or the counts of its ``top`` categories (the rest as ``(other)``); the
computation is :func:`mlwarden.store.feature_history.feature_history`, the page's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, BeforeValidator, Field

from mlwarden.errors import ConfigError, NotFoundError, ValidationError
from mlwarden.monitors.evaluate import ORIGIN
from mlwarden.monitors.service import load_suite
from mlwarden.monitors.suite import parse_cadence
from mlwarden.server.api_models import UTCDateTime
from mlwarden.server.auth import Read
from mlwarden.server.params import SegmentQ, clamp_instant, segment_filter
from mlwarden.server.routes_query import is_numeric
from mlwarden.server.services import Svc
from mlwarden.store.aggregates import WindowRun
from mlwarden.store.base import Store
from mlwarden.store.feature_history import QUANTILES, feature_history

__all__ = ["FeatureWindowOut", "MAX_WINDOWS", "router", "window_run"]

router = APIRouter(prefix="/v1", tags=["query"])
#: Windows one request answers.
MAX_WINDOWS = 3000
WindowTime = Annotated[
    datetime,
    BeforeValidator(clamp_instant),
    Query(description="ISO 8601 date or time (UTC unless it says otherwise)."),
]


class FeatureWindowOut(BaseModel):
    """One window of one column."""

    window_start: UTCDateTime
    n: int = Field(description="Events in the window (and segment, version).")
    missing: int = Field(description="Events without a value of the column.")
    quantiles: dict[str, float | None] | None = Field(
        default=None, description="A numeric column's p5, p25, p50, p75 and p95."
    )
    counts: dict[str, int] | None = Field(
        default=None,
        description="Another column's values per category: the most frequent over the "
        "whole range, the rest as '(other)'.",
    )


def window_run(start: datetime, end: datetime, cadence: timedelta, label: str) -> WindowRun:
    """The monitors' windows that cover ``[start, end)``; at most :data:`MAX_WINDOWS`.

    Examples
    --------
    >>> from datetime import UTC
    >>> run = window_run(datetime(2026, 1, 1, 5, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC),
    ...                  timedelta(hours=6), "6h")
    >>> run.range_start.hour, run.last - run.first + 1
    (0, 4)
    """
    first = (start - ORIGIN) // cadence
    last = -((ORIGIN - end) // cadence) - 1  # the window holding the instant before 'end'
    if last - first + 1 > MAX_WINDOWS:
        raise ValidationError(
            f"The range {start.date()} – {end.date()} holds {last - first + 1} windows of "
            f"{label}; at most {MAX_WINDOWS} are drawn: narrow the range."
        )
    return WindowRun(ORIGIN, cadence, int(first), int(max(first, last)))


def _cadence(store: Store, project: str, model: str, wanted: str | None) -> tuple[timedelta, str]:
    text = wanted
    if text is None:
        try:
            text = str(load_suite(store, project, model).cadence)
        except NotFoundError:
            text = "1d"
    try:
        return parse_cadence(text), text
    except ConfigError as exc:
        raise ValidationError(str(exc)) from exc


@router.get(
    "/models/{model}/columns/{column:path}/windows",
    response_model=list[FeatureWindowOut],
    response_model_exclude_none=True,
)
def column_windows(
    model: str,
    column: str,
    sv: Svc,
    project: Read,
    start: WindowTime,
    end: WindowTime,
    cadence: Annotated[
        str | None,
        Query(
            pattern="^[1-9][0-9]{0,3}[mhdw]$",
            description="Window length ('1h', '6h', '1d', '1w'); default the monitors' own.",
        ),
    ] = None,
    version: str | None = None,
    segment: SegmentQ = None,
    top: Annotated[int, Query(ge=1, le=50, description="Categories counted by name.")] = 8,
) -> list[FeatureWindowOut]:
    """A column per window: count, missing, and quantiles (numeric) or category counts."""
    if end <= start:
        raise ValidationError(
            f"The 'end' parameter must be after the 'start' ({start.isoformat()}). "
            f"Got {end.isoformat()!r} instead."
        )
    store: Store = sv.store
    rec = store.get_model(project, model)
    length, label = _cadence(store, project, model, cadence)
    numeric = is_numeric(rec, column)
    windows = feature_history(
        store.events(rec),
        column,
        run=window_run(start, end, length, label),
        numeric=numeric,
        top=top,
        segment=segment_filter(segment),
        version=version,
    )
    names = [f"p{round(100 * q)}" for q in QUANTILES]
    return [
        FeatureWindowOut(
            window_start=w.start,
            n=w.n,
            missing=w.missing,
            quantiles=dict(zip(names, w.quantiles, strict=True))
            if numeric and w.quantiles
            else None,
            counts=None if numeric else w.counts,
        )
        for w in windows
    ]
