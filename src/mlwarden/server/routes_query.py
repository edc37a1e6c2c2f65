"""Query endpoints: counts and simple aggregates, computed in the engine."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from mlwarden.errors import ValidationError
from mlwarden.schema.spec import FeatureKind, Task
from mlwarden.server.api_replies import (
    ColumnNumeric,
    ColumnTop,
    ConfusionRow,
    CountsRow,
    QuarantineRow,
    RegressionRow,
)
from mlwarden.server.auth import Read
from mlwarden.server.params import SegmentQ, TimeQ, segment_filter
from mlwarden.server.services import Svc
from mlwarden.store import queries
from mlwarden.store.base import ModelRecord, Store

router = APIRouter(prefix="/v1", tags=["query"])
WindowQ = Annotated[
    Literal["minute", "hour", "day", "week", "all"],
    Query(description="Bucket size ('all': one row)."),
]


def _window(w: str) -> queries.Window:
    return None if w == "all" else w  # type: ignore[return-value]


#: 'column:value' (an empty one filters nothing), no control characters (what the server reads).
def _rows(table: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


@router.get(
    "/models/{model}/counts", response_model=list[CountsRow], response_model_exclude_unset=True
)
def counts(
    model: str,
    sv: Svc,
    project: Read,
    window: WindowQ = "hour",
    start: TimeQ = None,
    end: TimeQ = None,
    version: str | None = None,
    segment: SegmentQ = None,
) -> list[dict[str, Any]]:
    """Events, errors, labelled events and latency sums per window and version."""
    store: Store = sv.store
    rec = store.get_model(project, model)
    return _rows(
        queries.event_counts(
            store.events(rec),
            store.actuals(rec),
            window=_window(window),
            start=start,
            end=end,
            version=version,
            segment=segment_filter(segment),
        )
    )


def is_numeric(rec: ModelRecord, column: str) -> bool:
    """Whether a stored column is summarised as numbers (else as categories)."""
    feat = rec.spec.feature(column)
    return (
        (feat is not None and feat.kind is FeatureKind.NUMERIC)
        or column in ("latency_ms", "score")
        or (column == "prediction" and rec.spec.task is Task.REGRESSION)
    )


# a name may hold '/' ("income/month"); routes under a column (.../windows) are registered first
@router.get("/models/{model}/columns/{column:path}", response_model=ColumnNumeric | ColumnTop)
def column(
    model: str,
    column: str,
    sv: Svc,
    project: Read,
    start: TimeQ = None,
    end: TimeQ = None,
    version: str | None = None,
    segment: SegmentQ = None,
    top: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    """Count, nulls, and moments and quantiles (numeric) or top values (other kinds) of a column."""
    store: Store = sv.store
    rec = store.get_model(project, model)
    feat = rec.spec.feature(column)
    numeric = is_numeric(rec, column)
    out = queries.column_summary(
        store.events(rec),
        column,
        numeric=numeric,
        top=top,
        start=start,
        end=end,
        version=version,
        segment=segment_filter(segment),
    )
    return {"column": column, "kind": feat.kind.value if feat else column, **out}


@router.get(
    "/models/{model}/confusion",
    response_model=list[ConfusionRow] | list[RegressionRow],
    response_model_exclude_unset=True,
)
def confusion(
    model: str,
    sv: Svc,
    project: Read,
    window: WindowQ = "all",
    by: str | None = None,
    start: TimeQ = None,
    end: TimeQ = None,
    version: str | None = None,
    segment: SegmentQ = None,
) -> list[dict[str, Any]]:
    """Counts of (prediction, actual) pairs of labelled events (classification), or error sums
    (regression), per window and optional group column."""
    store: Store = sv.store
    rec = store.get_model(project, model)
    ev, ac = store.events(rec), store.actuals(rec)
    flt = {"start": start, "end": end, "version": version, "segment": segment_filter(segment)}
    if rec.spec.task is Task.REGRESSION:
        return _rows(queries.regression_sums(ev, ac, window=_window(window), **flt))
    by = by or None  # an empty 'by=' groups by nothing, like an absent one
    if by is not None and by not in ev.columns:
        raise ValidationError(
            f"The 'by' column must be a column of model {model!r}. Got {by!r} instead."
        )
    return _rows(queries.confusion_counts(ev, ac, window=_window(window), by=by, **flt))


@router.get("/models/{model}/quarantine", response_model=list[QuarantineRow])
def quarantine(
    model: str,
    sv: Svc,
    project: Read,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """The most recently rejected rows of a model, with their reasons."""
    store: Store = sv.store
    store.get_model(project, model)
    return _rows(store.quarantined(project, model, limit=limit))
