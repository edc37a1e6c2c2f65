"""Multivariate drift: has the joint distribution of the numeric features moved?

Univariate monitors miss a change in how features move together (a correlation breaking,
a mix of segments shifting) and, one feature at a time, a small shift of several features
at once. This monitor compares a bounded sample of each window with a sample of the
reference kept at fit time. By default (``method="normal_scores"``) each feature is
mapped to normal scores through the reference's own quantiles (robust to heavy tails), and
the window's mean scores and their covariance are compared with the reference's
(:mod:`mlwarden.stats.joint_drift`); the threshold is the null quantile of that statistic
on random splits of the reference at the window's size, at the per-window alpha of the
false-alarm budget. ``method="classifier"`` trains a domain classifier instead
(cross-validated AUC of telling the two apart: slower, and it needs scikit-learn).

``method="reconstruction"`` (PCA reconstruction error, the default before) is read as
``"normal_scores"``: its normal band did not hold on heavy-tailed features, and with every
component kept the error was rounding noise.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa

from mlwarden.errors import ConfigError, expected
from mlwarden.monitors.base import (
    MONITORS,
    Monitor,
    Objective,
    Result,
    Severity,
    Status,
    ThresholdPlan,
)
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.schema.spec import FeatureKind
from mlwarden.stats.joint_drift import MIN_VALUES, JointReference
from mlwarden.stats.multivariate import domain_classifier_drift
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Request, Sample

__all__ = ["MultivariateDrift"]

METHODS = ("normal_scores", "classifier")
#: Methods of earlier versions, and what they are read as now.
RETIRED = {"reconstruction": "normal_scores"}
#: Null replicates per window size (the tail beyond their 90% quantile is fitted).
REPLICATES = 500


@MONITORS.register
class MultivariateDrift(Monitor):
    """Joint drift of the numeric features: their normal scores' means and covariance in a
    window sample vs the reference's (``method="normal_scores"``) or a domain classifier's
    AUC (``method="classifier"``), at a threshold calibrated by splitting the reference.

    Examples
    --------
    >>> MultivariateDrift().id
    'multivariate_drift'
    """

    kind: ClassVar[str] = "multivariate_drift"
    objective: ClassVar[Objective] = Objective.DATA
    family: ClassVar[str] = "drift"
    tab: ClassVar[str] = "drift"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.MEDIUM
    statistic: ClassVar[str] = "joint_normal_scores"
    min_rows: ClassVar[int] = 200
    _fitted: JointReference | None = None

    def __init__(
        self,
        *,
        method: str = "normal_scores",
        sample: int = 10_000,
        columns: list[str] | None = None,
    ) -> None:
        self.method = method
        self.sample = sample
        self.columns = columns

    @property
    def resolved_method(self) -> str:
        """The method this monitor runs (a retired name read as its successor)."""
        return RETIRED.get(self.method, self.method)

    def fit(self, ctx: FitContext) -> Self:
        if self.resolved_method not in METHODS:
            raise ConfigError(
                expected("parameter", "method", "be one of " + ", ".join(METHODS), self.method)
            )
        if self.sample < self.min_rows:
            raise ConfigError(
                expected("parameter", "sample", f"be at least {self.min_rows}", self.sample)
            )
        cols = self.columns or [f.name for f in ctx.spec.features if f.kind is FeatureKind.NUMERIC]
        rng = np.random.default_rng(0)
        n = ctx.reference.num_rows
        # twice the window sample: a null replicate splits it into a window and the rest
        idx = np.sort(rng.choice(n, size=min(n, 2 * self.sample), replace=False))
        kept, skipped, columns = [], [], []
        for c in cols:
            values = ctx.floats(c, rows=idx) if ctx.column(c) is not None else None
            if values is None:
                continue
            values = values.astype(np.float32)  # as stored, so as windows are read
            seen = values[~np.isnan(values)]
            if seen.size < MIN_VALUES or seen.min() == seen.max():
                skipped.append(c)
                continue
            kept.append(c)
            columns.append(values)
        if len(kept) < 2:
            raise ConfigError(
                "Multivariate drift needs at least two numeric features in the reference that "
                "are not constant."
            )
        matrix = np.ascontiguousarray(np.column_stack(columns), dtype=np.float32)
        self.features_ = kept
        self.skipped_ = skipped
        self.reference_ = {
            "rows": int(matrix.shape[0]),
            "float32": base64.b64encode(matrix.tobytes()).decode("ascii"),
        }
        self.calibration_ = ctx.calibration.to_dict()
        self._fitted = None
        return self

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.__dict__.setdefault("skipped_", [])
        self._fitted = None

    def _reference_matrix(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        ref: Any = self.reference_
        if isinstance(ref, list):  # the state of an earlier version: rows of float64
            return np.asarray(ref, dtype=np.float32).astype(np.float64)
        flat = np.frombuffer(base64.b64decode(ref["float32"]), dtype=np.float32)
        return flat.reshape(int(ref["rows"]), -1).astype(np.float64)

    def _reference(self) -> JointReference:
        """The reference sample scored once for all windows; it also keeps the null tails by
        window size, so each size is calibrated once while the suite stays loaded."""
        fitted = self._fitted
        if fitted is None:
            fitted = self._fitted = JointReference.fit(
                self._reference_matrix(), names=self.features_
            )
        return fitted

    def _alpha(self) -> float:
        cal = Calibration(**self.calibration_)
        return per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)

    def bounds(self, n: int) -> tuple[float, float]:
        """(alert, warn) thresholds of the joint statistic for a window of ``n`` sampled rows
        (the classifier's depend on the window's rows and are given with its results)."""
        tail = self._reference().tail(min(n, self.sample), replicates=REPLICATES)
        alpha = self._alpha()
        return float(tail.isf(alpha)), float(tail.isf(min(10 * alpha, 0.5)))

    def false_alerts_per_month(self, rows: int) -> float | None:
        """The monitor's share of the budget: known without the null replicates."""
        del rows
        return Calibration(**self.calibration_).per_month(self._alpha())

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        cal = Calibration(**self.calibration_)
        per_month = cal.per_month(self._alpha())
        if self.resolved_method == "classifier":
            return ThresholdPlan(
                how="A classifier tells the window's rows from the reference's; alerts when it "
                "does so better than chance at the monitor's share of the false-alarm budget.",
                false_alerts_per_month=per_month,
            )
        alert, warn = self.bounds(max(rows, self.min_rows))
        return ThresholdPlan(
            how=f"Calibrated on splits of the reference: the joint statistic chance reaches at "
            f"{min(rows, self.sample):,} sampled rows with the monitor's share of the "
            "false-alarm budget.",
            threshold=alert,
            warn=warn,
            false_alerts_per_month=per_month,
            statistic=self.statistic,
            method="reference splits",
        )

    def requests(self) -> list[Request]:
        return [Sample(tuple(self.features_), self.sample)]

    def evaluate(self, data: WindowData) -> Result:
        table: pa.Table | None = data.get(self.requests()[0])
        n = 0 if table is None else table.num_rows
        gate = self.gate(data, n, what="sampled rows")
        if gate is not None:
            return gate
        assert table is not None
        cur = np.column_stack(
            [
                table.column(c).to_numpy(zero_copy_only=False).astype(np.float32)
                for c in self.features_
            ]
        ).astype(np.float64)
        cal = Calibration(**self.calibration_)
        alpha = self._alpha()
        if self.resolved_method == "classifier":
            return self._classifier(data, cur, alpha, n)
        ref = self._reference()
        stat = ref.statistic(cur)
        tail = ref.tail(n, replicates=REPLICATES)
        value = float(stat.value)
        threshold, warn = self.bounds(n)
        p = float(min(max(tail.sf(value), 0.0), 1.0))
        shifts = dict(zip(self.features_, np.asarray(stat.mean_shift, dtype=float), strict=True))
        spreads = dict(zip(self.features_, np.asarray(stat.spread_ratio, dtype=float), strict=True))
        score = {c: shifts[c] ** 2 + (spreads[c] - 1) ** 2 / 2 for c in self.features_}
        top = sorted(score, key=lambda c: -score[c])[:5]
        details: dict[str, Any] = {
            "statistic": self.statistic,
            "location": float(stat.location),
            "dependence": float(stat.dependence),
            "p_value": p,
            "alpha": alpha,
            "expected_false_alerts_per_month": alpha * (timedelta(days=30) / cal.cadence),
            "method": self.resolved_method,
            "null": {
                "method": "reference splits",
                "replicates": REPLICATES,
                "window_rows": ref.null_size(n),
                "reference_rows": ref.n,
            },
            "contributions": {c: float(score[c]) for c in top},
            "mean_shift": {c: float(shifts[c]) for c in top},
            "spread_ratio": {c: float(spreads[c]) for c in top},
            "features": list(self.features_),
            "skipped": list(self.skipped_),
        }
        status = Status.ALERT if value > threshold else Status.WARN if value > warn else Status.OK
        part = "location" if stat.location >= stat.dependence else "dependence"
        what = (
            f"joint drift {value:.3g} vs threshold {threshold:.3g} at {n} rows "
            f"({part} of {len(self.features_)} features"
        )
        if status is not Status.OK and top:
            lead = top[0]
            what += f"; most from {lead!r}, mean moved {shifts[lead]:+.3g} SD"
        return self.result(
            data,
            status,
            value=value,
            threshold=threshold,
            warn=warn,
            n=n,
            details=details,
            reason=what + ")",
        )

    def _classifier(
        self, data: WindowData, cur: np.ndarray[Any, Any], alpha: float, n: int
    ) -> Result:
        c = domain_classifier_drift(
            self._reference_matrix(),
            cur,
            feature_names=self.features_,
            alpha=alpha,
            model="logistic",
        )
        top = sorted(dict(c.contributions).items(), key=lambda kv: -kv[1])[:5]
        drifted = bool(c.drifted)
        lead = f"; most from {top[0][0]!r}" if drifted and top else ""
        return self.result(
            data,
            Status.ALERT if drifted else Status.OK,
            value=float(c.auc),
            threshold=float(c.threshold),
            n=n,
            details={"p_value": c.p_value, "contributions": {k: float(v) for k, v in top}},
            reason=f"domain classifier AUC {c.auc:.3f} (threshold {c.threshold:.3f}){lead}",
        )
