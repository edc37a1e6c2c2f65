"""The probing statistics against direct computations and simulated null clients."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from mlwarden.errors import StatisticsError
from mlwarden.stats.probing import collision_rate, duplicates_p, grid_like, quantize


def test_grid_like_accepts_rounded_sweeps_and_rejects_random_samples() -> None:
    levels = np.round(np.linspace(500, 800, 12))  # an integer feature swept in 27.3 steps
    assert grid_like(levels, [12] * 12)
    rng = np.random.default_rng(0)
    flagged = 0
    for _ in range(500):
        sample = np.round(rng.normal(685, 70, 60))
        lv, ct = np.unique(sample, return_counts=True)
        flagged += grid_like(lv, ct)
    assert flagged == 0
    with pytest.raises(StatisticsError, match="'counts' argument"):
        grid_like([1.0, 2.0], [1])


def test_duplicates_p_is_the_poisson_tail_and_holds_its_level_on_null_draws() -> None:
    assert duplicates_p(3, 50, 1e-3) == pytest.approx(sps.poisson.sf(2, 50 * 49 / 2 * 1e-3))
    # draws from a population of 2,000 equally likely cells: pairs collide with q = 1/2000
    rng = np.random.default_rng(1)
    cells = rng.integers(0, 2000, (20_000, 1)).astype(float)
    q = collision_rate(cells)
    assert q == pytest.approx(1 / 2000, rel=0.05)
    ps = []
    for _ in range(2000):
        draw = rng.integers(0, 2000, 100)
        ps.append(duplicates_p(100 - len(np.unique(draw)), 100, q))
    # conservative: at most about alpha of null draws reach p <= alpha
    for alpha in (0.01, 0.05, 0.2):
        assert np.mean(np.array(ps) <= alpha) <= alpha * 1.2


def test_quantize_keeps_missing_values_apart_from_numbers() -> None:
    cells = quantize([[0.05, math.nan, 0.15, 0.16]], [0.0], [0.1])
    assert cells[:, 0].tolist()[0] == 0.0 and math.isnan(cells[1, 0])
    assert collision_rate(cells) == pytest.approx((1 + 3) / 6)
