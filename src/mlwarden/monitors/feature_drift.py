"""Feature drift: has a feature's distribution moved away from the reference?"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np

from mlwarden.errors import ConfigError
from mlwarden.monitors.base import (
    MONITORS,
    Monitor,
    Objective,
    Result,
    Severity,
    Status,
    ThresholdPlan,
)
from mlwarden.monitors.calibrated import ThresholdCache
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.schema.spec import FeatureKind
from mlwarden.stats.baseline import (
    CategoricalBaseline,
    CategoryCounts,
    NumericBaseline,
    NumericHistogram,
)
from mlwarden.stats.drift import categorical_drift, numeric_drift
from mlwarden.store.aggregates import Categories, Histogram, Request

__all__ = ["FeatureDrift"]

NUMERIC_DEFAULT = "ks"
CATEGORICAL_DEFAULT = "jensen_shannon"
CHART_BINS = 20


@MONITORS.register
class FeatureDrift(Monitor):
    """Distribution of a feature vs the reference (KS for numbers, Jensen-Shannon for categories),
    alerting on an effect beyond what chance gives at this window size.

    Examples
    --------
    >>> FeatureDrift(column="age").id
    'feature_drift:age'
    """

    kind: ClassVar[str] = "feature_drift"
    objective: ClassVar[Objective] = Objective.DATA
    family: ClassVar[str] = "drift"
    tab: ClassVar[str] = "drift"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.MEDIUM
    min_rows: ClassVar[int] = 50

    def __init__(
        self,
        column: str,
        *,
        statistic: str | None = None,
        threshold: float | None = None,
        min_effect: float | None = None,
    ) -> None:
        self.column = column
        self.statistic = statistic  # type: ignore[misc,assignment]
        self.threshold = threshold
        self.min_effect = min_effect

    # -- state ---------------------------------------------------------------------------------
    def state_to_dict(self) -> dict[str, Any]:
        if not hasattr(self, "baseline_"):
            return {}
        return {
            "baseline": self.baseline_.to_dict(),
            "numeric": isinstance(self.baseline_, NumericBaseline),
            "statistic": self.statistic_,
            "calibration": self.calibration_.to_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        if not state:
            return
        cls = NumericBaseline if state["numeric"] else CategoricalBaseline
        self.baseline_: NumericBaseline | CategoricalBaseline = cls.from_dict(state["baseline"])
        self.statistic_: str = state["statistic"]
        self.calibration_ = Calibration(**state["calibration"])
        self._thresholds = ThresholdCache(
            self.baseline_, self.statistic_, self.calibration_, min_effect=self.min_effect
        )

    # -- behaviour -----------------------------------------------------------------------------
    def _numeric(self, ctx: FitContext) -> bool:
        feat = ctx.spec.feature(self.column)
        if feat is not None:
            return feat.kind is FeatureKind.NUMERIC
        return self.column == "score" or (
            self.column == "prediction" and not ctx.spec.task.is_classification
        )

    def fit(self, ctx: FitContext) -> Self:
        ref_col = self.reference_column(ctx)
        if ctx.column(ref_col) is None:
            raise ConfigError(f"The reference has no column {ref_col!r} for monitor {self.id!r}.")
        if self._numeric(ctx):
            baseline: NumericBaseline | CategoricalBaseline = ctx.numeric_baseline(ref_col)
            statistic = self.statistic or NUMERIC_DEFAULT
        else:
            counts, missing = ctx.category_counts(ref_col) or ({}, 0)
            baseline = CategoricalBaseline.from_counts(counts, n_missing=missing)
            statistic = self.statistic or CATEGORICAL_DEFAULT
        self.load_state(
            {
                "baseline": baseline.to_dict(),
                "numeric": isinstance(baseline, NumericBaseline),
                "statistic": statistic,
                "calibration": ctx.calibration.to_dict(),
            }
        )
        return self

    def reference_column(self, ctx: FitContext) -> str:
        """Where this column lives in the reference (prediction/score may be named differently)."""
        if self.column == "prediction" and ctx.spec.prediction:
            return ctx.spec.prediction
        if self.column == "score" and ctx.spec.score:
            return ctx.spec.score
        return self.column

    def requests(self) -> list[Request]:
        if isinstance(getattr(self, "baseline_", None), NumericBaseline):
            return [Histogram(self.column, self.baseline_.edges)]  # type: ignore[union-attr]
        return [Categories(self.column)]

    def current(self, data: WindowData) -> NumericHistogram | CategoryCounts | None:
        raw = data.get(self.requests()[0])
        if raw is None:
            return None
        if isinstance(self.baseline_, NumericBaseline):
            return NumericHistogram.from_dict(raw)
        counts, missing = raw
        return self.baseline_.count_mapping(counts, n_missing=missing)

    def evaluate(self, data: WindowData) -> Result:
        cur = self.current(data)
        if cur is None or cur.n == 0:
            return self.result(
                data, Status.NO_DATA, reason=f"No values of {self.column!r} in this window."
            )
        if cur.n < self.min_rows:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=cur.n,
                reason=f"{cur.n} values; at least {self.min_rows} are needed for a drift verdict.",
            )
        if isinstance(self.baseline_, NumericBaseline):
            assert isinstance(cur, NumericHistogram)
            stats = numeric_drift(self.baseline_, cur)
        else:
            assert isinstance(cur, CategoryCounts)
            stats = categorical_drift(self.baseline_, cur)
        value = float(stats[self.statistic_].value)
        th = self._thresholds.get(cur.n)
        alert, warn = th.value, th.warn
        if self.threshold is not None:
            alert, warn = self.threshold, self.threshold / 2
        status = Status.ALERT if value > alert else Status.WARN if value > warn else Status.OK
        details: dict[str, Any] = {
            "statistics": {k: v.value for k, v in stats.items()},
            # the calibrated null's (every statistic has one, categorical ones included)
            "p_value": self._thresholds.p_value(cur.n, value),
            "threshold": self._thresholds.describe(cur.n),
            "chart": self.chart(cur),
            "missing": cur.n_missing,
        }
        return self.result(
            data,
            status,
            value=value,
            threshold=alert,
            warn=warn,
            n=cur.n,
            reason=f"{self.statistic_} = {value:.4g} vs threshold {alert:.4g} at {cur.n} values",
            details=details,
        )

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        if self.threshold is not None:
            return ThresholdPlan(
                how=f"Fixed in the spec: {self.statistic_} above {self.threshold:g}.",
                threshold=self.threshold,
                warn=self.threshold / 2,
                statistic=self.statistic_,
            )
        return self._thresholds.plan(
            rows,
            how=f"Calibrated on the reference: the {self.statistic_} chance reaches at this "
            "window size with the monitor's share of the false-alarm budget, and at least the "
            "smallest effect worth an alert.",
        )

    def chart(self, cur: NumericHistogram | CategoryCounts) -> dict[str, Any]:
        """Reference vs current shares on a few bins, for the UI and reports."""
        if isinstance(self.baseline_, NumericBaseline):
            assert isinstance(cur, NumericHistogram)
            ref = self.baseline_.coarsen(self.baseline_.reference.counts, CHART_BINS)
            now = self.baseline_.coarsen(cur.counts, CHART_BINS)
            q = self.baseline_.quantiles
            labels = [f"bin {i + 1}" for i in range(len(ref))]
            chart: dict[str, Any] = {
                "labels": labels,
                "reference": _shares(ref).tolist(),
                "current": _shares(now).tolist(),
            }
            if q:
                chart["reference_quantiles"] = list(q)
            return chart
        labels = list(self.baseline_.labels)
        ref_counts = np.asarray(self.baseline_.reference.counts, dtype=float)
        cur_counts = np.asarray(cur.counts, dtype=float)
        keep = np.argsort(-(ref_counts + cur_counts))[:CHART_BINS]
        return {
            "labels": [labels[i] for i in keep],
            "reference": [float(x) for x in _shares(ref_counts)[keep]],
            "current": [float(x) for x in _shares(cur_counts)[keep]],
        }


def _shares(counts: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    arr = np.asarray(counts, dtype=np.float64)
    total = arr.sum()
    return arr / total if total else arr
