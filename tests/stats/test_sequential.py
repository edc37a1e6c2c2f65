"""Page-Hinkley and CUSUM on metric series."""

from __future__ import annotations

import numpy as np
import pytest

from mlwarden.errors import ConfigError, StatisticsError
from mlwarden.stats.sequential import Cusum, PageHinkley, change_points


def step(seed: int, shift: float, n: int = 300, at: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, n) + np.where(np.arange(n) >= at, shift, 0.0)


@pytest.mark.parametrize(
    "detector",
    [
        Cusum(warmup=50),
        Cusum(target=0.0, std=1.0),
        PageHinkley(threshold=25.0, delta=0.1),
    ],
)
def test_detects_a_one_sigma_degradation_soon(detector: Cusum | PageHinkley) -> None:
    delays = []
    for seed in range(10):
        found = [i for i in change_points(step(seed, -1.0), detector) if i >= 200]
        delays.append(found[0] - 200 if found else 999)
    assert np.median(delays) <= 30 and sum(d < 999 for d in delays) >= 8


@pytest.mark.parametrize("detector", [Cusum(target=0.0, std=1.0), PageHinkley(threshold=25.0)])
def test_quiet_series_rarely_alarm(detector: Cusum | PageHinkley) -> None:
    alarms = sum(len(change_points(step(seed, 0.0, n=400), detector)) for seed in range(10))
    # two-sided CUSUM(k=.5, h=5) runs about 230 in-control values between false alarms
    assert alarms <= 30


def test_direction_and_slow_drift() -> None:
    ramp = np.linspace(0.9, 0.8, 200) + np.random.default_rng(0).normal(0, 0.005, 200)
    down = change_points(ramp, PageHinkley(delta=0.001, threshold=0.2, direction="decrease"))
    up = change_points(ramp, PageHinkley(delta=0.001, threshold=0.2, direction="increase"))
    assert down and not up


def test_config_is_the_constructor_and_state_has_underscores() -> None:
    ph = PageHinkley(delta=0.01, threshold=3.0)
    assert ph.get_params() == {
        "delta": 0.01,
        "threshold": 3.0,
        "min_instances": 30,
        "direction": "both",
    }
    assert repr(ph) == "PageHinkley(delta=0.01, threshold=3.0, min_instances=30, direction='both')"
    ph.update(1.0)
    assert ph.n_ == 1 and ph.mean_ == 1.0
    clone = PageHinkley(**ph.get_params())
    assert not hasattr(clone, "n_")
    cs = Cusum(k=0.25)
    assert repr(cs).startswith("Cusum(target=None, std=None, k=0.25")


def test_change_points_skips_missing_and_restarts() -> None:
    x = np.r_[np.zeros(40), np.full(40, 5.0), np.zeros(40)]
    x[10] = np.nan
    pts = change_points(x, Cusum(target=0.0, std=1.0))
    assert pts[0] == 41 and all(41 <= p < 80 for p in pts)


def test_errors() -> None:
    with pytest.raises(ConfigError, match="direction"):
        PageHinkley(direction="up").update(1.0)
    with pytest.raises(ConfigError, match="threshold"):
        PageHinkley(threshold=0).update(1.0)
    with pytest.raises(ConfigError, match="'std'"):
        Cusum(std=0.0).update(1.0)
    with pytest.raises(StatisticsError, match="finite"):
        Cusum().update(float("inf"))
