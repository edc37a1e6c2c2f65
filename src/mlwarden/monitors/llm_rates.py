"""Shared machinery of the LLM rate monitors: a share of a model's spans against a baseline.

The counts come from :class:`~mlwarden.store.span_aggregates.SpanTotals` (the engine counts
flags and calls per window; the earlier windows' counts are summed, not re-read). The verdict
is the rate monitors' rule (:mod:`mlwarden.monitors.missing_values`) with the baseline's own
counting error taken into account: alert above the share at which Fisher's exact test of the
window against the baseline counts is significant at the calibrated alpha
(:func:`mlwarden.stats.rate_tests.fisher_upper`) *and* a minimum effect above the baseline
rate; warn at ten times alpha and half the effect. The baseline is, first found:

1. a stated limit (``max_rate``), judged from the first window on the window's own counts:
   alert when the one-sided binomial test of the window's count against the limit is
   significant at the calibrated alpha (a window of 3 with 1 flagged is not evidence that a
   2% limit is broken; 70 of 400 is), warn when the window's share is above the limit without
   being significantly so;
2. the pooled rate of the ``history`` earlier windows, when they hold at least
   :data:`MIN_BASELINE` counted spans (the recent past of this app);
3. the rate in the reference data, for checks that can be run on a reference text column
   (``prompt`` / ``response``).

Without any of them the window is ``insufficient_data``, with the reason.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from mlwarden.monitors.base import Monitor, Result, Status, ThresholdPlan
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.monitors.missing_values import binomial_upper
from mlwarden.stats.llm_checks import CheckResult
from mlwarden.stats.rate_tests import fisher_upper
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Request
from mlwarden.store.span_aggregates import SpanTotals

__all__ = ["MIN_BASELINE", "REFERENCE_ROWS", "SpanRate", "reference_rate"]

#: Counted spans the earlier windows (or the reference) must hold to serve as a baseline.
MIN_BASELINE = 100
#: Reference rows a check is run on at fit time (the first ones).
REFERENCE_ROWS = 2000


def reference_rate(ctx: FitContext, column: str, check: Any) -> list[int] | None:
    """``[flagged, checked]`` of ``check`` (text -> :class:`CheckResult`) over the first
    :data:`REFERENCE_ROWS` non-empty values of a reference column, or None without it."""
    col = ctx.column(column)
    if col is None:
        return None
    texts = [v for v in col.slice(0, REFERENCE_ROWS).to_pylist() if isinstance(v, str) and v]
    if not texts:
        return None
    results: list[CheckResult] = [check(t) for t in texts]
    return [sum(r.flagged for r in results), len(results)]


class SpanRate(Monitor):
    """Base of the span rate kinds; subclasses name their counts and wording.

    Subclasses set ``numerator`` and ``denominator`` (keys of the span totals), ``noun`` (what
    is counted, plural) and ``of`` (what it is a share of), or override :meth:`keys` and
    :meth:`words`, and take ``max_rate``, ``min_effect`` and ``history`` in their constructor.
    """

    source: ClassVar[str] = "spans"
    numerator: ClassVar[str] = ""
    denominator: ClassVar[str] = ""
    noun: ClassVar[str] = ""
    of: ClassVar[str] = ""

    max_rate: float | None
    min_effect: float
    history: int

    def reference_counts(self, ctx: FitContext) -> list[int] | None:
        """``[flagged, checked]`` in the reference, for kinds whose check runs on its text."""
        return None

    def fit(self, ctx: FitContext) -> Self:
        self.calibration_ = ctx.calibration.to_dict()
        self.reference_ = self.reference_counts(ctx)
        return self

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        noun, of = self.words()
        if self.max_rate is not None:
            return ThresholdPlan(
                how=f"The stated limit: alerts above {self.max_rate:.2%} {noun}.",
                threshold=float(self.max_rate),
                warn=float(self.max_rate) / 2,
                false_alerts_per_month=0.0,
            )
        cal = Calibration(**self.calibration_)
        return ThresholdPlan(
            how=f"Set by the app's own past (or the reference): alerts when the share of "
            f"{noun} is significantly above that of the last {self.history} windows at the "
            f"monitor's share of the false-alarm budget, and at least {self.min_effect:.0%} "
            "above it.",
            false_alerts_per_month=cal.per_month(cal.alpha),
        )

    def totals_request(self) -> Request:
        """The request whose answer :meth:`counts` reads (the span totals; kinds over other
        counts, such as the scores', name theirs)."""
        return SpanTotals(self.history)

    def requests(self) -> list[Request]:
        return [self.totals_request()]

    def keys(self) -> tuple[str, str]:
        """The span totals counted: (flagged, out of)."""
        return self.numerator, self.denominator

    def words(self) -> tuple[str, str]:
        """What is counted (plural) and what it is a share of, for reasons."""
        return self.noun, self.of

    def counts(self, totals: dict[str, Any]) -> tuple[int, int]:
        num, den = self.keys()
        return int(totals.get(num, 0)), int(totals.get(den, 0))

    def extra(self, current: dict[str, Any]) -> dict[str, Any]:
        """More details of the window (kinds add their own)."""
        return {}

    def evaluate(self, data: WindowData) -> Result:
        agg = data.get(self.totals_request()) or {}
        current = agg.get("current") or {}
        k, n = self.counts(current)
        num, den = self.keys()
        noun, of = self.words()
        rate = k / n if n else 0.0
        early = self.gate(data, n, what=of, value=rate if n else None)
        if early is not None:
            return early
        past_k, past_n = self.counts(agg.get("past") or {})
        cal = Calibration(**self.calibration_)
        alpha = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
        details: dict[str, Any] = {num: k, den: n, **self.extra(current)}
        if self.max_rate is not None:
            limit = float(self.max_rate)
            alert, warn = binomial_upper(limit, n, alpha), limit
            basis = f"stated limit {limit:.2%} (a one-sided binomial test at alpha {alpha:.2g})"
            details |= {"max_rate": limit, "alpha": alpha}
        else:
            if past_n >= MIN_BASELINE:
                k0, n0 = past_k, past_n
                basis = f"{k0 / n0:.2%} in the {agg.get('past_windows', 0)} earlier windows"
                details["baseline"] = "history"
            elif self.reference_ is not None and self.reference_[1] >= MIN_BASELINE:
                k0, n0 = self.reference_
                basis = f"{k0 / n0:.2%} in the reference"
                details["baseline"] = "reference"
            else:
                return self.result(
                    data,
                    Status.INSUFFICIENT_DATA,
                    value=rate,
                    n=n,
                    details=details,
                    reason=(
                        f"{rate:.2%} {noun} ({k} of {n} {of}); no baseline yet: "
                        f"fewer than {MIN_BASELINE} {of} in the {self.history} earlier "
                        "windows and none in the reference (or state a 'max_rate')"
                    ),
                )
            p0 = k0 / n0
            alert = max(fisher_upper(k0, n0, n, alpha), p0 + self.min_effect)
            warn = max(fisher_upper(k0, n0, n, min(10 * alpha, 0.5)), p0 + self.min_effect / 2)
            details |= {"baseline_rate": p0, "baseline_flagged": k0, "baseline_n": n0,
                        "alpha": alpha}  # fmt: skip
        status = Status.ALERT if rate > alert else Status.WARN if rate > warn else Status.OK
        return self.result(
            data,
            status,
            value=rate,
            threshold=alert,
            warn=warn,
            n=n,
            details=details,
            reason=(
                f"{rate:.2%} {noun} ({k} of {n} {of}); baseline {basis}, threshold {alert:.2%}"
            ),
        )
