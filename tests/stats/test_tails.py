"""The scipy.special-based tails equal scipy.stats' distributions to the last bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mlwarden.stats import tails

XS = [-1.0, 0.0, 1e-300, 1e-9, 0.1, 0.5, 1.0, 1.36, 2.0, 5.0, 30.0, 1e3, math.inf, math.nan]
QS = [0.0, 1e-300, 1e-12, 5.6e-5, 1e-3, 0.025, 0.05, 0.5, 0.9, 1 - 1e-9, 1.0, -0.1, 1.5, math.nan]


def same(got: float, want: float) -> bool:
    want = float(want)
    return (math.isnan(got) and math.isnan(want)) or got == want


@pytest.mark.parametrize("x", XS)
def test_kolmogorov_and_normal_sf(x: float) -> None:
    assert same(tails.kolmogorov_sf(x), stats.kstwobign.sf(x))
    assert same(tails.norm_sf(x), stats.norm.sf(x))
    assert same(tails.norm_sf(-x), stats.norm.sf(-x))
    for df in (1, 2, 7, 255, 1000.5):
        assert same(tails.chi2_sf(x, df), stats.chi2.sf(x, df))
        assert same(tails.chi2_sf(x * 100, df), stats.chi2.sf(x * 100, df))


@pytest.mark.parametrize("q", QS)
def test_inverse_tails(q: float) -> None:
    assert same(tails.kolmogorov_isf(q), stats.kstwobign.isf(q))
    assert same(tails.norm_isf(q), stats.norm.isf(q))
    for df in (1, 2, 7, 255):
        assert same(tails.chi2_isf(q, df), stats.chi2.isf(q, df))


@pytest.mark.parametrize("n", [0, 1, 30, 861, 10_000, 1_000_000])
def test_binomial(n: int) -> None:
    for p in (0.0, 1e-6, 2e-6, 0.01, 0.3, 0.5, 1.0):
        for q in QS:
            assert same(tails.binom_isf(q, n, p), stats.binom.isf(q, n, p)), (q, n, p)
        for k in (-1, 0, 0.5, 3, n // 2, n - 1, n, n + 1, math.inf, math.nan):
            assert same(tails.binom_sf(k, n, p), stats.binom.sf(k, n, p)), (k, n, p)


def test_invalid_parameters_give_nan() -> None:
    assert math.isnan(tails.chi2_sf(1.0, 0)) and math.isnan(tails.chi2_isf(0.5, -1))
    assert math.isnan(tails.binom_isf(0.5, 2.5, 0.1))  # type: ignore[arg-type]
    assert math.isnan(tails.binom_sf(1, 10, 1.5))
    assert np.isnan(stats.binom.isf(0.5, 2.5, 0.1)) and np.isnan(stats.binom.sf(1, 10, 1.5))


@pytest.mark.parametrize("n", [1, 2, 7, 140, 141, 909, 1000, 10_000])
def test_kstwo_sf_is_scipys_to_the_last_bit(n: int) -> None:
    grid = [*XS, 0.5 / n, 1 / n, 2 / n, 1 - 1 / n, *np.linspace(0.005, 0.995, 67).tolist()]
    for x in grid:
        assert same(tails.kstwo_sf(x, n), stats.kstwo.sf(x, n)), (x, n)


@pytest.mark.parametrize("n", [1, 2, 7, 50, 140, 141, 200, 909, 1000, 5000, 10_000])
def test_kstwo_isf_inverts_scipys_sf_and_stays_near_scipys_isf(n: int) -> None:
    """Where scipy's sf is 2 smirnov (every alert level of a drift monitor) the inverse is
    exact: scipy's sf at it gives back q. scipy's isf solves the Pelz-Good series above 140
    values instead, so it differs by that series' error: under 1e-3 relative at q = 1e-8, 141
    values, under 3e-5 at 1e-5 and 1,000 values; up to 140 values only by the root search
    (which solves CDF = 1 - q, so it loses digits below q = 1e-6)."""
    for q in QS:
        got, want = tails.kstwo_isf(q, n), float(stats.kstwo.isf(q, n))
        if not 0 < q < 1 or math.isnan(want):
            assert same(got, want), (q, n)
            continue
        rel = 5e-3 if q < 1e-6 else 1e-3 if n > 140 else 1e-8
        if q >= 1e-12:  # below, 1 - q has no digits left for scipy's root search
            assert got == pytest.approx(want, rel=rel), (q, n)
        if 1e-6 <= q <= 1e-3 and n > 140:
            assert got == pytest.approx(want, rel=3e-5 if n >= 1000 else 1e-3), (q, n)
        if tails._two_smirnov(got, n):
            assert float(stats.kstwo.sf(got, n)) == pytest.approx(q, rel=1e-9), (q, n)


@pytest.mark.parametrize("mu", [0.0, 1e-3, 0.5, 3.7, 100.0, 1e6])
def test_poisson(mu: float) -> None:
    for k in (-3, -0.5, 0, 0.5, 2, 9.9, 199, 1e4, 1e7, math.nan):
        assert same(tails.poisson_cdf(k, mu), stats.poisson.cdf(k, mu)), (k, mu)
        assert same(tails.poisson_sf(k, mu), stats.poisson.sf(k, mu)), (k, mu)
