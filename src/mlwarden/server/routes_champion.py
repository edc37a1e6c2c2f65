"""Champion / challenger comparison of two versions (``GET .../champion``).

Paired when the challenger runs in shadow (its events share the champion's event ids), else
an A/B split; see :mod:`mlwarden.analysis.champion` for the tests and the verdict.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from mlwarden.analysis.champion import MODES, compare_versions
from mlwarden.analysis.champion_kpis import model_kpis
from mlwarden.server.auth import Read
from mlwarden.server.params import SegmentQ, TimeQ, segment_filter
from mlwarden.server.services import Svc
from mlwarden.store.base import Store

router = APIRouter(prefix="/v1", tags=["query"])

VersionQ = Annotated[str, Query(min_length=1, max_length=128)]


class MetricOut(BaseModel):
    metric: str = Field(description="roc_auc, accuracy, precision, recall, f1, positive_rate.")
    champion: float | None
    challenger: float | None
    diff: float | None = Field(description="Challenger minus champion.")
    low: float | None = Field(description="Lower bound of the difference's interval.")
    high: float | None
    p_value: float | None
    test: str = Field(description="mcnemar_exact, mcnemar_chi2, delong_*, *bootstrap, ...")
    significant: bool = Field(description="The interval excludes 0.")


class SliceOut(BaseModel):
    column: str
    condition: str = Field(description="The slice, e.g. 'region = west' or 'x >= 0.67'.")
    n: int = Field(description="Labelled pairs (A/B: events of both versions) in the slice.")
    diff: float = Field(description="Challenger accuracy minus champion accuracy.")
    low: float
    high: float
    p_value: float = Field(
        description="McNemar's test in the slice (A/B: difference of proportions)."
    )
    adjusted_p: float = Field(description="Holm-adjusted over every slice tested.")


class KpiOut(BaseModel):
    kpi: str = Field(description="The KPI monitor's name (kind: kpi in the monitoring spec).")
    expression: str
    champion: float | None
    challenger: float | None
    diff: float | None = Field(description="Challenger minus champion.")
    low: float | None = Field(description="Lower bound of the difference's 95% interval.")
    high: float | None
    p_value: float | None
    test: str = Field(description="paired_bucket_bootstrap, bucket_bootstrap or none.")
    significant: bool = Field(description="The interval excludes 0.")
    note: str | None = Field(description="Why a number is missing (e.g. a quantile KPI).")


class SequentialOut(BaseModel):
    day: datetime
    diff: float | None
    low: float | None = Field(description="Always-valid confidence sequence, lower bound.")
    high: float | None
    p_value: float = Field(description="Always-valid p-value (mSPRT) so far.")


class DayOut(BaseModel):
    day: datetime
    n_champion: int
    hits_champion: int
    n_challenger: int
    hits_challenger: int


class ChampionOut(BaseModel):
    model: str
    champion: str
    challenger: str
    mode: str = Field(description="paired (shadow: same requests) or unpaired (A/B split).")
    events: dict[str, int]
    labelled: dict[str, int]
    agreement: float | None = Field(description="Share of paired requests predicted alike.")
    metrics: list[MetricOut]
    worse_slices: list[SliceOut]
    before_labels: dict[str, Any] = Field(
        description="Positive rate, mean score, score distance, estimated accuracy, histogram."
    )
    sequential: list[SequentialOut] = Field(description="A/B: the mSPRT after each day.")
    daily: list[DayOut]
    auc_method: str | None
    verdict: str
    recommendation: str
    notes: list[str]
    kpis: list[KpiOut] = Field(
        description="The model's business KPIs of both versions, with the difference's interval."
    )


def champion_report(
    store: Store,
    project: str,
    model: str,
    *,
    champion: str,
    challenger: str,
    start: datetime | None = None,
    end: datetime | None = None,
    segment: dict[str, str] | None = None,
    mode: str = "auto",
) -> dict[str, Any]:
    """The comparison as the API returns it (a plain dict); the function integrations (MLflow
    aliases champion / challenger) call with the two versions they resolved."""
    rec = store.get_model(project, model)
    c = compare_versions(
        store, rec, champion=champion, challenger=challenger, start=start, end=end,
        segment=segment, mode=mode, kpis=model_kpis(store, project, model, rec.spec),
    )  # fmt: skip
    out = asdict(c)
    out["metrics"] = [asdict(m) | {"significant": m.significant} for m in c.metrics]
    out["kpis"] = [asdict(k) | {"significant": k.significant} for k in c.kpis]
    return out


@router.get("/models/{model}/champion", response_model=ChampionOut)
async def champion(
    model: str,
    sv: Svc,
    project: Read,
    champion: VersionQ,
    challenger: VersionQ,
    start: TimeQ = None,
    end: TimeQ = None,
    segment: SegmentQ = None,
    mode: Annotated[
        str, Query(pattern="^(" + "|".join(MODES) + ")$", description="auto, paired, unpaired.")
    ] = "auto",
) -> dict[str, Any]:
    """Compare a challenger version with the champion on the same requests (shadow: paired
    tests) or on an A/B split (unpaired, with a sequential test valid when checked every
    day): metrics with 95% intervals and p-values, the slices where the challenger is worse,
    the predictions before labels, a verdict in plain words and a promotion recommendation."""
    store: Store = sv.store
    return await asyncio.to_thread(
        champion_report, store, project, model, champion=champion, challenger=challenger,
        start=start, end=end, segment=segment_filter(segment), mode=mode,
    )  # fmt: skip
