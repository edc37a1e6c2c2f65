"""Resource use of the serving processes: CPU, memory, GPU, from the SDK's sampler."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any, ClassVar, Self

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
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Request, ResourceUse

__all__ = ["DEFAULT_COLUMNS", "Resources", "resource_monitors"]

#: Watched by auto set-up: what saturates first on a model server (GPU columns are added
#: when the sampler reports a GPU, see :func:`resource_monitors`).
DEFAULT_COLUMNS = ("process_cpu_percent", "process_rss_bytes", "host_memory_percent")
GPU_SUFFIXES = ("_utilization_percent", "_memory_used_bytes")
#: A MAD of nothing (a constant series) would make any wiggle significant.
MIN_SPREAD = 0.02


@MONITORS.register
class Resources(Monitor):
    """Mean resource use per window (``<model>.resources``, the SDK's sampler): above
    ``max_value`` when a limit is set; else above both ``factor`` times its median over the
    previous windows and that median plus z(alpha) robust standard deviations (MAD) of them,
    so a saturating server is seen and a normal daily wiggle is not.

    Each window's mean is one observation of a slowly moving, autocorrelated series (samples
    seconds apart are not independent), so the window is compared with the spread of earlier
    windows' means, not with a test on its samples.

    Examples
    --------
    >>> Resources("host_memory_percent", max_value=90).id
    'resources:host_memory_percent'
    """

    kind: ClassVar[str] = "resources"
    objective: ClassVar[Objective] = Objective.RESOURCES
    family: ClassVar[str] = "resources"
    tab: ClassVar[str] = "operations"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.MEDIUM
    min_rows: ClassVar[int] = 10

    def __init__(
        self,
        column: str = "process_cpu_percent",
        *,
        max_value: float | None = None,
        factor: float = 1.5,
        history: int = 24,
    ) -> None:
        self.column = column
        self.max_value = max_value
        self.factor = factor
        self.history = history

    @property
    def per_segment(self) -> bool:
        return False  # the serving hosts' use, not a segment of the traffic's

    def fit(self, ctx: FitContext) -> Self:
        self.calibration_ = ctx.calibration.to_dict()
        return self

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        if self.max_value is not None:
            return ThresholdPlan(
                how=f"The limit: alerts when the window's mean is above {self.max_value:g}.",
                threshold=float(self.max_value),
                warn=0.9 * float(self.max_value),
                false_alerts_per_month=0.0,
            )
        cal = Calibration(**self.calibration_)
        return ThresholdPlan(
            how=f"Set by the server's own past: above {self.factor:g}x the median of the last "
            f"{self.history} windows and as many robust standard deviations above it as the "
            "monitor's share of the false-alarm budget allows.",
            false_alerts_per_month=cal.per_month(cal.alpha),
        )

    def requests(self) -> list[Request]:
        return [ResourceUse(self.column, self.history)]

    def evaluate(self, data: WindowData) -> Result:
        agg: dict[str, Any] = data.get(self.requests()[0]) or {}
        n = int(agg.get("n") or 0)
        if n == 0:
            return self.result(
                data,
                Status.NO_DATA,
                reason=(
                    f"No {self.column} samples in this window (the SDK samples resources with "
                    "mlwarden.init(..., resource_interval=15))."
                ),
            )
        mean = float(agg["mean"])
        gate = self.gate(data, n, what=f"{self.column} samples", value=mean)
        if gate is not None:
            return gate
        peak = float(agg["max"])
        if self.max_value is not None:
            alert = float(self.max_value)
            warn = 0.9 * alert
            basis = f"the limit {_fmt(self.column, alert)}"
            details: dict[str, Any] = {"max": peak}
        else:
            past = [float(v) for v in agg.get("past") or []]
            if len(past) < 3:
                return self.result(
                    data,
                    Status.INSUFFICIENT_DATA,
                    value=mean,
                    n=n,
                    reason="No limit set and fewer than 3 earlier windows with samples.",
                )
            cal = Calibration(**self.calibration_)
            alpha = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
            med = statistics.median(past)
            mad = 1.4826 * statistics.median([abs(v - med) for v in past])
            spread = max(mad, MIN_SPREAD * abs(med), 1e-12)
            z = NormalDist().inv_cdf(1.0 - alpha)
            alert = max(med + z * spread, self.factor * med)
            warn = med + 0.8 * (alert - med)
            basis = (
                f"{self.factor:g}x the recent median {_fmt(self.column, med)} and "
                f"{z:.1f} MADs above it"
            )
            details = {
                "max": peak,
                "median": med,
                "mad": mad,
                "z": z,
                "alpha": alpha,
                "windows": len(past),
            }
        status = Status.ALERT if mean > alert else Status.WARN if mean > warn else Status.OK
        return self.result(
            data,
            status,
            value=mean,
            threshold=alert,
            warn=warn,
            n=n,
            details=details,
            reason=(
                f"mean {self.column} {_fmt(self.column, mean)} (max {_fmt(self.column, peak)}) "
                f"vs {_fmt(self.column, alert)}: {basis}"
            ),
        )


def resource_monitors(columns: Sequence[str] = ()) -> list[Resources]:
    """The resource monitors of auto set-up: the default columns, and the GPU ones among
    ``columns`` (the features the sampler has reported so far).

    Examples
    --------
    >>> [m.column for m in resource_monitors(["gpu0_utilization_percent", "process_threads"])]
    ['process_cpu_percent', 'process_rss_bytes', 'host_memory_percent', 'gpu0_utilization_percent']
    """
    gpu = [c for c in columns if c.startswith("gpu") and c.endswith(GPU_SUFFIXES)]
    return [Resources(c) for c in (*DEFAULT_COLUMNS, *sorted(gpu))]


def _fmt(column: str, value: float) -> str:
    """A resource figure in its unit.

    Examples
    --------
    >>> _fmt("process_rss_bytes", 3 * 2**30), _fmt("host_cpu_percent", 71.26)
    ('3.00 GiB', '71.3%')
    """
    if column.endswith("_bytes"):
        for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if abs(value) >= size:
                return f"{value / size:.2f} {unit}"
        return f"{value:.0f} B"
    if column.endswith("_percent"):
        return f"{value:.1f}%"
    return f"{value:.4g}"
