"""Multivariate drift: has the joint distribution of the numeric features moved?

Univariate monitors miss a change in how features move together (a correlation breaking,
a mix of segments shifting). This monitor compares a bounded random sample of each window
with a sample of the reference, by PCA reconstruction error (default, cheap) or a
domain classifier (cross-validated AUC of telling the two apart), and names the features
that contribute most.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa

from mlwarden.errors import ConfigError
from mlwarden.monitors.base import MONITORS, Monitor, Objective, Result, Severity, Status
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.schema.spec import FeatureKind
from mlwarden.stats.multivariate import (
    Reconstruction,
    domain_classifier_drift,
    fit_reconstruction,
    reconstruction_drift,
)
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Request, Sample

__all__ = ["MultivariateDrift"]

METHODS = ("reconstruction", "classifier")


@MONITORS.register
class MultivariateDrift(Monitor):
    """Joint drift of the numeric features: PCA reconstruction error of a window sample vs the
    reference's (``method="reconstruction"``) or a domain classifier's AUC
    (``method="classifier"``), at the calibrated alpha, with per-feature contributions.

    Examples
    --------
    >>> MultivariateDrift().id
    'multivariate_drift'
    """

    kind: ClassVar[str] = "multivariate_drift"
    objective: ClassVar[Objective] = Objective.DATA
    severity: ClassVar[Severity] = Severity.MEDIUM
    min_rows: ClassVar[int] = 200
    _fitted: tuple[np.ndarray[Any, Any], Reconstruction | None] | None = None

    def __init__(
        self,
        *,
        method: str = "reconstruction",
        sample: int = 2000,
        columns: list[str] | None = None,
    ) -> None:
        self.method = method
        self.sample = sample
        self.columns = columns

    def fit(self, ctx: FitContext) -> Self:
        if self.method not in METHODS:
            raise ConfigError(
                f"The 'method' must be one of {', '.join(METHODS)}. Got {self.method!r} instead."
            )
        cols = self.columns or [f.name for f in ctx.spec.features if f.kind is FeatureKind.NUMERIC]
        cols = [c for c in cols if ctx.column(c) is not None]
        if len(cols) < 2:
            raise ConfigError(
                "Multivariate drift needs at least two numeric features in the reference."
            )
        rng = np.random.default_rng(0)
        n = ctx.reference.num_rows
        idx = np.sort(rng.choice(n, size=min(n, 5 * self.sample), replace=False))
        matrix = np.column_stack([ctx.floats(c, rows=idx) for c in cols])  # type: ignore[misc]
        self.features_ = cols
        self.reference_ = matrix.tolist()
        self.calibration_ = ctx.calibration.to_dict()
        self._fitted = None
        return self

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self._fitted = None

    def _reference(self) -> tuple[np.ndarray[Any, Any], Reconstruction | None]:
        """The reference sample as a matrix and, for the reconstruction method, its PCA: both
        depend on the reference only, so they are built once for all windows."""
        fitted = getattr(self, "_fitted", None)
        if fitted is None:
            ref = np.asarray(self.reference_, dtype=float)
            pca = fit_reconstruction(ref) if self.method == "reconstruction" else None
            fitted = self._fitted = (ref, pca)
        return fitted

    def requests(self) -> list[Request]:
        return [Sample(tuple(self.features_), self.sample)]

    def evaluate(self, data: WindowData) -> Result:
        table: pa.Table | None = data.get(self.requests()[0])
        n = 0 if table is None else table.num_rows
        if n == 0:
            return self.result(data, Status.NO_DATA, reason="No events in this window.")
        if n < self.min_rows:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                reason=f"{n} sampled rows; at least {self.min_rows} are needed.",
            )
        assert table is not None
        cur = np.column_stack(
            [table.column(c).to_numpy(zero_copy_only=False).astype(float) for c in self.features_]
        )
        ref, pca = self._reference()
        cal = Calibration(**self.calibration_)
        alpha = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
        details: dict[str, Any]
        if self.method == "reconstruction":
            r = reconstruction_drift(
                ref, cur, feature_names=self.features_, alpha=alpha, fitted=pca
            )
            value, threshold, drifted = float(r.current_error), float(r.upper), bool(r.drifted)
            details = {
                "reference_error": r.reference_error,
                "band": [r.lower, r.upper],
                "components": r.n_components,
                "p_value": r.p_value,
            }
            contributions = r.contributions
            what = f"reconstruction error {value:.4g} (reference {r.reference_error:.4g}, band up to {threshold:.4g})"
        else:
            c = domain_classifier_drift(
                ref, cur, feature_names=self.features_, alpha=alpha, model="logistic"
            )
            value, threshold, drifted = float(c.auc), float(c.threshold), bool(c.drifted)
            details = {"p_value": c.p_value}
            contributions = c.contributions
            what = f"domain classifier AUC {value:.3f} (threshold {threshold:.3f})"
        top = sorted(dict(contributions).items(), key=lambda kv: -kv[1])[:5]
        details["contributions"] = {k: float(v) for k, v in top}
        status = Status.ALERT if drifted else Status.OK
        lead = f"; most from {top[0][0]!r}" if drifted and top else ""
        return self.result(
            data, status, value=value, threshold=threshold, n=n, details=details, reason=what + lead
        )
