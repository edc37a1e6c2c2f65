"""A custom metric: a user function over a window's aggregates, no SQL to write."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, ClassVar, Self

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
from mlwarden.monitors.context import FitContext, WindowData
from mlwarden.store.aggregates import Categories, Request, Volume

__all__ = ["CustomMetric"]


def _load(path: str) -> Callable[[WindowData], float | None]:
    module, _, name = path.partition(":")
    if not module or not name:
        raise ConfigError(
            f"The 'function' must look like 'package.module:function'. Got {path!r} instead."
        )
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"The function {path!r} cannot be imported: {exc}") from exc
    if not callable(fn):
        raise ConfigError(f"{path!r} is not callable.")
    return fn  # type: ignore[no-any-return]


@MONITORS.register
class CustomMetric(Monitor):
    """Your metric: ``function`` ('module:name') receives the window's aggregates (volume and
    the value counts of ``columns``) and returns a number, compared with ``threshold``.

    Examples
    --------
    >>> CustomMetric(name="vip_share", function="mypkg.metrics:vip_share", columns=["tier"],
    ...              threshold=0.3, direction="above").id
    'custom:vip_share'
    """

    kind: ClassVar[str] = "custom"
    objective: ClassVar[Objective] = Objective.PERFORMANCE
    family: ClassVar[str] = "performance"
    tab: ClassVar[str] = "performance"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.MEDIUM

    def __init__(
        self,
        name: str,
        function: str,
        *,
        columns: list[str] | None = None,
        threshold: float | None = None,
        direction: str = "above",
    ) -> None:
        self.name = name
        self.function = function
        self.columns = columns
        self.threshold = threshold
        self.direction = direction

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"

    def fit(self, ctx: FitContext) -> Self:
        if self.direction not in ("above", "below"):
            raise ConfigError(
                f"The 'direction' must be 'above' or 'below'. Got {self.direction!r} instead."
            )
        _load(self.function)
        self.fitted_ = True
        return self

    def requests(self) -> list[Request]:
        return [Volume(), *(Categories(c) for c in self.columns or [])]

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        if self.threshold is None:
            return ThresholdPlan(
                how="No threshold: the value is recorded, never alerted on.",
                false_alerts_per_month=0.0,
            )
        return ThresholdPlan(
            how=f"Stated in the spec: alerts {self.direction} {self.threshold:g}; how often it "
            "fires on a healthy model depends on your metric.",
            threshold=float(self.threshold),
            direction=self.direction,
        )

    def evaluate(self, data: WindowData) -> Result:
        if data.n == 0:
            return self.result(data, Status.NO_DATA, reason="No events in this window.")
        try:
            value = _load(self.function)(data)
        except Exception as exc:  # noqa: BLE001 - a user function must not stop the evaluation
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=data.n,
                reason=f"{self.function} failed: {type(exc).__name__}: {exc}",
            )
        if value is None:
            return self.result(
                data, Status.INSUFFICIENT_DATA, n=data.n, reason=f"{self.function} returned None."
            )
        value = float(value)
        status = Status.OK
        if self.threshold is not None:
            bad = value > self.threshold if self.direction == "above" else value < self.threshold
            status = Status.ALERT if bad else Status.OK
        details: dict[str, Any] = {}
        return self.result(
            data,
            status,
            value=value,
            threshold=self.threshold,
            n=data.n,
            direction=self.direction,
            details=details,
            reason=f"{self.name} = {value:.4g}",
        )
