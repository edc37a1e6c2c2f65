"""The count of window values outside a reference's range: beta-binomial, against scipy and
against raw draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlwarden.errors import StatisticsError
from mlwarden.stats.range_null import OutsideCount, outside_sf, outside_upper


@pytest.mark.parametrize(
    ("n_ref", "m"), [(1, 1), (10, 5), (1000, 1000), (1000, 100_000), (100_000, 10_000)]
)
def test_matches_scipy_betabinom(n_ref: int, m: int) -> None:
    law = OutsideCount(n_ref, m)
    ref = stats.betabinom(m, 2, max(n_ref - 1, 1e-9))
    for k in (1, 2, 5, 17, 300):
        if k <= m:
            assert law.sf(k) == pytest.approx(
                float(ref.sf(k - 1)), rel=1e-4, abs=1e-10
            )  # scipy: 1 - cdf
    for alpha in (0.05, 1e-3, 1e-5):
        c = law.upper(alpha)
        assert ref.sf(c) <= alpha and (c == 0 or ref.sf(c - 1) > alpha)


def test_matches_raw_draws_of_any_continuous_population() -> None:
    rng = np.random.default_rng(3)
    n_ref, m, reps = 200, 400, 4000
    for draw in (rng.normal, rng.standard_cauchy):
        ref = draw(size=(reps, n_ref))
        cur = draw(size=(reps, m))
        lo, hi = ref.min(1, keepdims=True), ref.max(1, keepdims=True)
        k = ((cur < lo) | (cur > hi)).sum(1)
        for c in (2, 5, 10):
            want = outside_sf(c, n_ref, m)
            se = np.sqrt(want * (1 - want) / reps)
            assert abs(np.mean(k >= c) - want) < 4 * se + 1e-3


def test_bad_input() -> None:
    with pytest.raises(StatisticsError):
        outside_upper(0, 10, 0.01)
    with pytest.raises(StatisticsError):
        outside_upper(10, 10, 1.5)


@pytest.mark.parametrize(("n_ref", "m"), [(1000, 200_000), (2000, 5_000_000), (50, 1_000_000)])
def test_windows_far_larger_than_the_reference_read_a_scaled_beta(n_ref: int, m: int) -> None:
    """A window of 100+ times the reference reads m x Beta(2, n - 1): within 1% of scipy's exact
    beta-binomial quantiles (and without summing millions of terms)."""
    law = OutsideCount(n_ref, m)
    ref = stats.betabinom(m, 2, n_ref - 1)
    for alpha in (0.05, 1e-3, 1e-5):
        exact = int(ref.isf(alpha))  # the smallest c with P(K > c) <= alpha
        assert law.upper(alpha) == pytest.approx(exact, rel=0.01)
        assert law.sf(exact) == pytest.approx(float(ref.sf(exact - 1)), rel=0.05, abs=1e-8)
