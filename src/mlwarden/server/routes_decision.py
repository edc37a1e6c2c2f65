"""Decision threshold and cost analysis of a binary classifier (``GET .../decision``).

Counts of labelled events' scores in 1,000 bins per class (from the store's hourly score cells
when it keeps them and the range is whole hours without a segment filter, else one aggregate
query; no rows read into Python), then :mod:`mlwarden.stats.decision`: the confusion matrix, precision, recall and
cost at every threshold, the threshold of least cost against the deployed one, and what moving
would save with a bootstrap interval.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mlwarden.errors import ValidationError
from mlwarden.schema.spec import Task
from mlwarden.server.auth import Read
from mlwarden.server.params import SegmentQ, TimeQ, segment_filter
from mlwarden.server.services import Svc
from mlwarden.stats.decision import Costs, DecisionCurve, decision_curve, gain_interval
from mlwarden.store import queries
from mlwarden.store.base import ModelRecord, Store
from mlwarden.store.score_cells import ScoreCellSource

router = APIRouter(prefix="/v1", tags=["query"])

#: Score bins the thresholds are read at (a threshold is a multiple of 1/BINS).
BINS = 1000
#: Points of the curve in a reply (every threshold is computed; the reply thins them).
CURVE_POINTS = 101
#: Share of scores outside [0, 1] above which the scores are not taken for probabilities.
MAX_OUTSIDE = 0.001


class Operating(BaseModel):
    """One threshold and what it does over the range."""

    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None
    recall: float | None
    false_positive_rate: float | None
    cost: float = Field(description="Expected cost per prediction (negative: a net value).")


class GainOut(BaseModel):
    change: float = Field(
        description="Cost per prediction at the best threshold minus at the deployed one."
    )
    low: float = Field(description="2.5th percentile of the change (paired bootstrap).")
    high: float = Field(description="97.5th percentile.")
    relative: float | None = Field(description="The change over the deployed cost's magnitude.")
    relative_low: float | None
    relative_high: float | None
    significant: bool = Field(description="The whole interval is a saving.")


class DecisionOut(BaseModel):
    model: str
    n: int = Field(description="Labelled events with a score in the range.")
    positives: int
    positive_class: str
    costs: dict[str, float]
    deployed: Operating
    best: Operating
    gain: GainOut
    recommendation: str | None = Field(
        description="Move the threshold, when the saving is significant; else null."
    )
    curve: list[Operating] = Field(description=f"{CURVE_POINTS} thresholds from 0 to 1.")


def _at(c: DecisionCurve, j: int) -> dict[str, Any]:
    def num(x: Any) -> float | None:
        v = float(x)
        return None if v != v else v

    return {
        "threshold": float(c.thresholds[j]),
        "tp": int(c.tp[j]),
        "fp": int(c.fp[j]),
        "fn": int(c.fn[j]),
        "tn": int(c.tn[j]),
        "precision": num(c.precision()[j]),
        "recall": num(c.recall()[j]),
        "false_positive_rate": num(c.fpr()[j]),
        "cost": float(c.cost[j]),
    }


def _score_bins(
    store: Store,
    rec: ModelRecord,
    *,
    positive: str,
    start: datetime | None,
    end: datetime | None,
    version: str | None,
    segment: dict[str, str] | None,
) -> tuple[list[int], list[int], int, int]:
    """The labelled scores per bin and class: from the store's hourly score cells when it
    keeps them and the range is whole hours without a segment filter, else one query."""
    if not segment and isinstance(store, ScoreCellSource):
        got = store.score_cells(
            rec, bins=BINS, positive=positive, start=start, end=end, version=version
        )
        if got is not None:
            return got
    return queries.score_bins(
        store.events(rec), store.actuals(rec), bins=BINS, positive=positive, start=start,
        end=end, version=version, segment=segment,
    )  # fmt: skip


@router.get("/models/{model}/decision", response_model=DecisionOut)
async def decision(
    model: str,
    sv: Svc,
    project: Read,
    start: TimeQ = None,
    end: TimeQ = None,
    version: str | None = None,
    segment: SegmentQ = None,
    cost_fp: Annotated[float, Query(description="Cost of a false positive.")] = 1.0,
    cost_fn: Annotated[float, Query(description="Cost of a false negative.")] = 1.0,
    value_tp: Annotated[float, Query(description="Value of a true positive.")] = 0.0,
    value_tn: Annotated[float, Query(description="Value of a true negative.")] = 0.0,
    deployed: Annotated[
        float, Query(ge=0.0, le=1.0, description="The threshold the model uses now.")
    ] = 0.5,
) -> dict[str, Any]:
    """Confusion matrix, precision, recall and cost at every threshold of a binary classifier's
    labelled events in the range; the threshold of least cost against the deployed one, and
    what moving would change, with a 95% bootstrap interval."""
    store: Store = sv.store
    rec = store.get_model(project, model)
    if rec.spec.task is not Task.BINARY or rec.spec.score is None:
        raise ValidationError(
            f"The decision analysis needs a binary classifier with a score; model {model!r} is "
            f"{rec.spec.task.value}{'' if rec.spec.score else ' without a score'}."
        )
    costs = Costs(fp=cost_fp, fn=cost_fn, tp=value_tp, tn=value_tn).check()
    classes = list(rec.spec.classes)
    positive = rec.spec.effective_positive_class or (classes[-1] if classes else "1")
    pos, neg, below, above = await asyncio.to_thread(
        _score_bins, store, rec, positive=positive, start=start, end=end, version=version,
        segment=segment_filter(segment),
    )  # fmt: skip
    n = sum(pos) + sum(neg)
    if n == 0:
        raise ValidationError(
            f"Model {model!r} has no labelled events with a score in this range: the analysis "
            "needs actuals (POST .../actuals) for scored events."
        )
    if below + above > MAX_OUTSIDE * n:
        raise ValidationError(
            f"{below + above} of {n} scores are outside [0, 1]: the decision analysis reads "
            "scores as probabilities of the positive class."
        )
    curve = await asyncio.to_thread(decision_curve, pos, neg, costs=costs)
    at = curve.index(deployed)
    gain = await asyncio.to_thread(
        gain_interval, pos, neg, costs=costs, deployed=at, best=curve.best
    )
    rec_text = None
    if gain.significant and curve.best != at:
        rel = (
            f": {gain.relative:+.0%} expected cost [{gain.relative_low:+.0%}, "
            f"{gain.relative_high:+.0%}]"
            if gain.relative is not None
            else f": {gain.change:+.4g} cost per prediction [{gain.low:+.4g}, {gain.high:+.4g}]"
        )
        rec_text = (
            f"Move the decision threshold from {curve.thresholds[at]:.3g} to "
            f"{curve.thresholds[curve.best]:.3g}{rel}."
        )
    step = BINS // (CURVE_POINTS - 1)
    return {
        "model": model,
        "n": n,
        "positives": sum(pos),
        "positive_class": positive,
        "costs": {"fp": costs.fp, "fn": costs.fn, "tp": costs.tp, "tn": costs.tn},
        "deployed": _at(curve, at),
        "best": _at(curve, curve.best),
        "gain": {
            "change": gain.change,
            "low": gain.low,
            "high": gain.high,
            "relative": gain.relative,
            "relative_low": gain.relative_low,
            "relative_high": gain.relative_high,
            "significant": gain.significant,
        },
        "recommendation": rec_text,
        "curve": [_at(curve, j) for j in range(0, BINS + 1, step)],
    }
