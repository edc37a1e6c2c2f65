"""Scores of an LLM app's traces: has the thumbs-down share risen, or a rating's mean fallen?

The scores are those of the model's traces (:func:`~mlwarden.store.score_queries.
model_scores`), counted per window by score time (:class:`~mlwarden.store.score_queries.
ScoreTotals`). Two metrics:

* ``false_rate`` (boolean scores, e.g. ``user_feedback`` thumbs): the share of ``false``,
  judged exactly like the other LLM rate monitors (:mod:`mlwarden.monitors.llm_rates`):
  a stated ``max_rate`` (one-sided binomial test at the calibrated alpha), else the pooled
  share of the ``history`` earlier windows (Fisher's exact bound at the calibrated alpha and
  a ``min_effect`` in points);
* ``mean`` (numeric scores): the window's mean, against a stated ``min_mean`` (alert when the
  mean is significantly below it: a one-sided z test at the calibrated alpha; warn when it
  is below it at all), else the mean of the earlier windows (alert below it by more than
  chance at the calibrated alpha, z test on both windows' errors, and by at least
  ``min_effect`` of the baseline's standard deviation).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Self

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
from mlwarden.monitors.llm_rates import MIN_BASELINE, SpanRate
from mlwarden.stats.tails import norm_isf
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Request
from mlwarden.store.score_queries import ScoreTotals, model_scores, score_kinds

if TYPE_CHECKING:
    from mlwarden.store.base import Store

__all__ = ["METRICS", "LlmScore", "score_monitors"]

METRICS = ("false_rate", "mean")


@MONITORS.register
class LlmScore(SpanRate):
    """The share of ``false`` of a boolean score (``metric="false_rate"``: thumbs down) or
    the mean of a numeric score (``metric="mean"``) of the app's traces per window, against
    a stated ``max_rate`` / ``min_mean`` or the app's own recent past (see the module docs).

    Examples
    --------
    >>> LlmScore("user_feedback", max_rate=0.2).id
    'llm_score:user_feedback'
    """

    kind: ClassVar[str] = "llm_score"
    objective: ClassVar[Objective] = Objective.PERFORMANCE
    family: ClassVar[str] = "llm_score"
    tab: ClassVar[str] = "llm"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.MEDIUM

    def __init__(
        self,
        score: str = "user_feedback",
        *,
        metric: str = "false_rate",
        max_rate: float | None = None,
        min_mean: float | None = None,
        min_effect: float = 0.05,
        history: int = 24,
    ) -> None:
        self.score = score
        self.metric = metric
        self.max_rate = max_rate
        self.min_mean = min_mean
        self.min_effect = min_effect
        self.history = history

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.score}"

    def fit(self, ctx: FitContext) -> Self:
        if self.metric not in METRICS:
            raise ConfigError(
                expected("parameter", "metric", f"be one of {', '.join(METRICS)}", self.metric)
            )
        return super().fit(ctx)

    def totals_request(self) -> Request:
        return ScoreTotals(self.score, self.history)

    def keys(self) -> tuple[str, str]:
        return "false", "n"

    def words(self) -> tuple[str, str]:
        return f"'{self.score}' scores that are false", f"'{self.score}' scores"

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        plan = super().threshold_plan(rows)
        if self.metric != "mean":
            return plan
        if self.min_mean is not None:
            return ThresholdPlan(
                how=f"The stated floor: alerts when the mean '{self.score}' is significantly "
                f"below {self.min_mean:g}.",
                threshold=float(self.min_mean),
                direction="below",
                false_alerts_per_month=0.0,
            )
        return ThresholdPlan(
            how=f"Set by the app's own past: alerts when the mean '{self.score}' is below that "
            f"of the last {self.history} windows by more than chance at the monitor's share of "
            f"the false-alarm budget, and by at least {self.min_effect:g} standard deviations.",
            direction="below",
            false_alerts_per_month=plan.false_alerts_per_month,
        )

    def evaluate(self, data: WindowData) -> Result:
        if self.metric != "mean":
            return super().evaluate(data)
        agg = data.get(self.totals_request()) or {}
        cur, past = agg.get("current") or {}, agg.get("past") or {}
        n = int(cur.get("n", 0))
        mean = cur.get("sum", 0.0) / n if n else None
        early = self.gate(data, n, what=f"'{self.score}' scores", value=mean)
        if early is not None:
            return early
        assert mean is not None
        var = max(cur.get("sum_sq", 0.0) / n - mean * mean, 0.0) * n / max(n - 1, 1)
        cal = Calibration(**self.calibration_)
        alpha = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
        z, z_warn = norm_isf(alpha), norm_isf(min(10 * alpha, 0.5))
        details: dict[str, Any] = {"n": n, "mean": mean, "std": math.sqrt(var), "alpha": alpha}
        if self.min_mean is not None:
            floor = float(self.min_mean)
            alert, warn = floor - z * math.sqrt(var / n), floor
            basis = f"stated floor {floor:g} (a one-sided z test at alpha {alpha:.2g})"
            details["min_mean"] = floor
        else:
            n0 = int(past.get("n", 0))
            if n0 < MIN_BASELINE:
                return self.result(
                    data, Status.INSUFFICIENT_DATA, value=mean, n=n, details=details,
                    direction="below",
                    reason=f"mean '{self.score}' {mean:.3g} over {n} scores; no baseline yet: "
                    f"fewer than {MIN_BASELINE} scores in the {self.history} earlier windows "
                    "(or state a 'min_mean')",
                )  # fmt: skip
            mu0 = past["sum"] / n0
            var0 = max(past["sum_sq"] / n0 - mu0 * mu0, 0.0) * n0 / (n0 - 1)
            se = math.sqrt(var / n + var0 / n0)
            effect = self.min_effect * math.sqrt(var0)
            alert = mu0 - max(z * se, effect)
            warn = mu0 - max(z_warn * se, effect / 2)
            basis = f"mean {mu0:.3g} in the {agg.get('past_windows', 0)} earlier windows"
            details |= {"baseline_mean": mu0, "baseline_n": n0}
        status = Status.ALERT if mean < alert else Status.WARN if mean < warn else Status.OK
        return self.result(
            data, status, value=mean, threshold=alert, warn=warn, n=n, details=details,
            direction="below",
            reason=f"mean '{self.score}' {mean:.3g} over {n} scores; baseline {basis}, "
            f"threshold {alert:.3g}",
        )  # fmt: skip


def score_monitors(store: Store, model: Any) -> list[Monitor]:
    """One :class:`LlmScore` per boolean or numeric score name the model's traces have (none
    before the first score arrives)."""
    kinds: dict[str, str] = {}
    for name, kind in score_kinds(model_scores(store, model)):
        kinds.setdefault(name, kind)  # a name sent with two types: its first (boolean)
    return [
        LlmScore(name, metric="false_rate" if kind == "boolean" else "mean")
        for name, kind in kinds.items()
    ]
