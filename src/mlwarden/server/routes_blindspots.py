"""Blind spots of a model (``GET /v1/models/{model}/blind-spots``): the slices of a time
range where a metric is significantly worst, ranked by size x gap, each with a link to its
events; see :mod:`mlwarden.analysis.blindspots` for the statistics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mlwarden.analysis.blindspots import MAX_PAIRS, BlindSpot, find_blind_spots, reference_of
from mlwarden.analysis.importance import model_importance
from mlwarden.analysis.slices import Condition
from mlwarden.server.auth import Read
from mlwarden.server.params import SegmentQ, TimeQ, segment_filter
from mlwarden.server.services import Svc
from mlwarden.store.base import Store

__all__ = ["events_link", "router"]

router = APIRouter(prefix="/v1", tags=["query"])


class ConditionOut(BaseModel):
    column: str
    op: str = Field(description="'==' (value None: missing) or 'range' ([low, high)).")
    value: str | None
    low: float | None
    high: float | None


class BlindSpotOut(BaseModel):
    description: str = Field(description="e.g. 'region = west and amount >= 212.5'.")
    conditions: list[ConditionOut]
    rows: int
    share: float = Field(description="Share of the range's rows in the slice.")
    value: float = Field(description="The metric in the slice.")
    rest: float = Field(description="The metric on every other row.")
    gap: float = Field(description="value - rest.")
    low: float = Field(description="Lower bound of the gap's interval (see 'level').")
    high: float
    p_value: float = Field(description="Two-sided p-value of the gap (see 'test').")
    adjusted_p: float = Field(description="Holm-adjusted over every slice tested.")
    impact: float = Field(description="Rows x how much worse the slice is; the ranking.")
    explained_by: str | None = Field(
        description="A reported pair inside this slice that accounts for its gap (listed last)."
    )
    events: str = Field(description="The slice's events: the sample endpoint's URL.")
    exact_link: bool = Field(description="False when the link cannot filter a missing value.")


class BlindSpotsOut(BaseModel):
    model: str
    start: datetime
    end: datetime
    metric: str
    test: str = Field(description="two_proportion_z (rates) or welch_t (means).")
    correction: str = Field(description="holm: family-wise over every slice tested.")
    alpha: float
    level: float = Field(description="Confidence level of the gaps' intervals.")
    rows: int = Field(description="Rows with the metric's outcome in the range.")
    overall: float | None
    slices_tested: int
    pair_columns: list[str] = Field(description="Columns paired, most promising first.")
    pairs_tested: int = Field(description="Column pairs tested (at most max_pairs).")
    max_pairs: int
    blind_spots: list[BlindSpotOut]


def events_link(
    model: str, start: datetime, end: datetime, conditions: tuple[Condition, ...]
) -> tuple[str, bool]:
    """The sample endpoint's URL for a slice's events, and whether it filters exactly (a
    missing value cannot be filtered: that condition is left out).

    >>> c = (Condition("region", "==", value="west"), Condition("amount", "range", low=2.5))
    >>> events_link("m", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), c)
    ('/v1/models/m/events/sample?start=2026-01-01T00%3A00%3A00%2B00%3A00&end=2026-01-02T00%3A00%3A00%2B00%3A00&segment=region%3Awest&range=amount%3A2.5%3A', True)
    """  # noqa: E501
    params: list[tuple[str, str]] = [("start", start.isoformat()), ("end", end.isoformat())]
    exact = True
    for c in conditions:
        if c.op == "==" and c.value is not None:
            params.append(("segment", f"{c.column}:{c.value}"))
        elif c.op == "range":
            low = "" if c.low is None else repr(float(c.low))
            high = "" if c.high is None else repr(float(c.high))
            params.append(("range", f"{c.column}:{low}:{high}"))
        else:
            exact = False
    return f"/v1/models/{quote(model, safe='')}/events/sample?{urlencode(params)}", exact


def _out(model: str, start: datetime, end: datetime, s: BlindSpot) -> BlindSpotOut:
    link, exact = events_link(model, start, end, s.conditions)
    return BlindSpotOut(
        description=s.describe(),
        conditions=[ConditionOut(**c.to_dict()) for c in s.conditions],
        rows=s.rows, share=s.share, value=s.value, rest=s.rest, gap=s.gap, low=s.low,
        high=s.high, p_value=s.p_value, adjusted_p=s.adjusted_p, impact=s.impact,
        explained_by=s.explained_by, events=link, exact_link=exact,
    )  # fmt: skip


@router.get("/models/{model}/blind-spots", response_model=BlindSpotsOut)
async def blind_spots(
    model: str,
    sv: Svc,
    project: Read,
    start: TimeQ = None,
    end: TimeQ = None,
    metric: Annotated[
        Literal["accuracy", "error_rate", "mae", "latency"],
        Query(description="accuracy and error_rate (rates), mae (regressors), latency (ms)."),
    ] = "accuracy",
    max_pairs: Annotated[
        int, Query(ge=0, le=435, description="Most column pairs tested (cost bound).")
    ] = MAX_PAIRS,
    alpha: Annotated[float, Query(gt=0, lt=1, description="Family-wise error rate.")] = 0.05,
    top: Annotated[int, Query(ge=1, le=200)] = 20,
    segment: SegmentQ = None,
) -> BlindSpotsOut:
    """The slices (single features and pairs; numeric features binned at quartiles: the
    reference's, else the range's) where ``metric`` is significantly worse than on the rest
    of ``[start, end)`` (default: the last 7 days), ranked by rows x gap."""
    store: Store = sv.store
    rec = store.get_model(project, model)
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=7)
    r = await asyncio.to_thread(
        find_blind_spots, store, rec, start=start, end=end, metric=metric,
        max_pairs=max_pairs, segment=segment_filter(segment), alpha=alpha, top=top,
        reference=reference_of(store, rec),
        importance=model_importance(store, rec),
    )  # fmt: skip
    return BlindSpotsOut(
        model=rec.name, start=start, end=end, metric=r.metric, test=r.test,
        correction=r.correction, alpha=r.alpha, level=r.level, rows=r.rows, overall=r.overall,
        slices_tested=r.slices_tested, pair_columns=list(r.pair_columns),
        pairs_tested=r.pairs_tested, max_pairs=r.max_pairs,
        blind_spots=[_out(rec.name, start, end, s) for s in r.spots],
    )  # fmt: skip
