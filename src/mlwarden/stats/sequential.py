"""Sequential change detection on a metric series (slow degradation, e.g. daily accuracy).

Two classic detectors, scikit-learn style: constructor arguments are the
configuration (stored verbatim), learned state lives in attributes ending in
``_``. ``update(x)`` feeds one value and returns True when a change is
signalled; the detector then restarts, so later changes are found too.
:func:`change_points` runs a fresh copy over a whole series.

* :class:`PageHinkley` (Page 1954; Hinkley 1971): cumulative deviation of
  the values from their running mean, minus a tolerance ``delta``; alarm when
  it rises more than ``threshold`` above its running minimum (an increase), or
  symmetrically for a decrease.
* :class:`Cusum` (Page's tabular CUSUM): values standardised by a target mean
  and std (given, or learned from the first ``warmup`` values); one-sided sums
  ``S+ = max(0, S+ + z - k)`` and ``S- = max(0, S- - z - k)``; alarm when one
  exceeds ``h``; the sums then restart (and a learned target and std are
  relearned on the new regime). ``k = 0.5, h = 5`` detect a 1-std shift with an in-control
  average run length of about 465 values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from mlwarden.errors import ConfigError, StatisticsError, expected

__all__ = ["Cusum", "PageHinkley", "change_points"]

_DIRECTIONS = ("increase", "decrease", "both")


def _value(x: float) -> float:
    v = float(x)
    if not math.isfinite(v):
        raise StatisticsError(expected("value", "x", "be a finite number", x))
    return v


def _check_direction(direction: str) -> None:
    if direction not in _DIRECTIONS:
        raise ConfigError(
            expected("parameter", "direction", "be one of " + ", ".join(_DIRECTIONS), direction)
        )


class PageHinkley:
    """Page-Hinkley test for a change in the mean of a series.

    Examples
    --------
    >>> ph = PageHinkley(delta=0.01, threshold=1.0, min_instances=5)
    >>> [ph.update(x) for x in [0.9] * 10 + [0.6] * 5].index(True)
    14
    """

    def __init__(
        self,
        *,
        delta: float = 0.005,
        threshold: float = 50.0,
        min_instances: int = 30,
        direction: str = "both",
    ) -> None:
        self.delta = delta
        self.threshold = threshold
        self.min_instances = min_instances
        self.direction = direction

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {
            "delta": self.delta,
            "threshold": self.threshold,
            "min_instances": self.min_instances,
            "direction": self.direction,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"PageHinkley({args})"

    def reset(self) -> PageHinkley:
        """Forget the learned state."""
        self.n_ = 0
        self.mean_ = 0.0
        self.sum_up_ = self.min_up_ = 0.0
        self.sum_down_ = self.max_down_ = 0.0
        return self

    def update(self, x: float) -> bool:
        """Feed one value; True when a change is signalled (the state then restarts)."""
        _check_direction(self.direction)
        if self.threshold <= 0:
            raise ConfigError(expected("parameter", "threshold", "be positive", self.threshold))
        if not hasattr(self, "n_"):
            self.reset()
        v = _value(x)
        self.n_ += 1
        self.mean_ += (v - self.mean_) / self.n_
        self.sum_up_ += v - self.mean_ - self.delta
        self.min_up_ = min(self.min_up_, self.sum_up_)
        self.sum_down_ += v - self.mean_ + self.delta
        self.max_down_ = max(self.max_down_, self.sum_down_)
        if self.n_ < self.min_instances:
            return False
        up = self.sum_up_ - self.min_up_ > self.threshold
        down = self.max_down_ - self.sum_down_ > self.threshold
        fired = (up and self.direction != "decrease") or (down and self.direction != "increase")
        if fired:
            self.reset()
        return fired


class Cusum:
    """Tabular CUSUM on standardised values.

    ``target`` / ``std`` are the in-control mean and std; when None they are
    learned from the first ``warmup`` values (no alarm during warm-up).

    Examples
    --------
    >>> cs = Cusum(target=0.0, std=1.0, k=0.5, h=4.0)
    >>> [cs.update(x) for x in [0.1, -0.2, 0.0, 2.0, 2.0, 2.0]]
    [False, False, False, False, False, True]
    """

    def __init__(
        self,
        *,
        target: float | None = None,
        std: float | None = None,
        k: float = 0.5,
        h: float = 5.0,
        warmup: int = 30,
        direction: str = "both",
    ) -> None:
        self.target = target
        self.std = std
        self.k = k
        self.h = h
        self.warmup = warmup
        self.direction = direction

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {
            "target": self.target,
            "std": self.std,
            "k": self.k,
            "h": self.h,
            "warmup": self.warmup,
            "direction": self.direction,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"Cusum({args})"

    def reset(self) -> Cusum:
        """Forget the learned state (a learned target and std are relearned too)."""
        self.n_ = 0
        self.warm_: list[float] = []
        self.mean_ = self.target
        self.scale_ = self.std
        self.pos_ = self.neg_ = 0.0
        return self

    def update(self, x: float) -> bool:
        """Feed one value; True when a change is signalled (the sums then restart)."""
        _check_direction(self.direction)
        if self.h <= 0:
            raise ConfigError(expected("parameter", "h", "be positive", self.h))
        if self.std is not None and self.std <= 0:
            raise ConfigError(expected("parameter", "std", "be positive", self.std))
        if not hasattr(self, "n_"):
            self.reset()
        v = _value(x)
        self.n_ += 1
        if self.mean_ is None or self.scale_ is None:
            self.warm_.append(v)
            if len(self.warm_) < max(self.warmup, 2):
                return False
            arr = np.asarray(self.warm_)
            self.mean_ = float(arr.mean()) if self.target is None else self.target
            sd = float(arr.std(ddof=1))
            self.scale_ = self.std if self.std is not None else (sd if sd > 0 else 1.0)
            return False
        z = (v - self.mean_) / self.scale_
        self.pos_ = max(0.0, self.pos_ + z - self.k)
        self.neg_ = max(0.0, self.neg_ - z - self.k)
        up = self.pos_ > self.h and self.direction != "decrease"
        down = self.neg_ > self.h and self.direction != "increase"
        if up or down:
            if self.target is None or self.std is None:
                self.reset()  # learn the new regime
            else:
                self.pos_ = self.neg_ = 0.0
            return True
        return False


def change_points(series: npt.ArrayLike, detector: PageHinkley | Cusum) -> list[int]:
    """Indices at which a fresh copy of ``detector`` signals a change over ``series``.

    NaN values (missing windows) are skipped.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.r_[np.zeros(50), np.ones(50)] + np.random.default_rng(2).normal(0, 0.1, 100)
    >>> change_points(x, Cusum(warmup=20))
    [50]
    """
    fresh = type(detector)(**detector.get_params())
    arr = np.asarray(series, dtype=np.float64).ravel()
    return [i for i, v in enumerate(arr) if not math.isnan(v) and fresh.update(float(v))]
