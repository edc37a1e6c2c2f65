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
