"""Regression metrics from sums, checked against scikit-learn on raw rows.

Tolerances: MAE, RMSE, MAPE relative 1e-9; R² absolute 1e-9 (1e-6 for actuals near
1e8 with a shift); quantiles within one bin width of ``numpy.quantile``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlwarden.errors import StatisticsError
from mlwarden.stats.regression import (
    ErrorHistogram,
    RegressionSums,
    abs_error_quantile,
    mae,
    mape,
    mean_error,
    mse,
    r2,
    rmse,
)

SETTINGS = settings(max_examples=80, deadline=None)
values = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
nonzero = values.filter(lambda v: abs(v) > 1e-3)


def rows(elem: st.SearchStrategy[float], min_size: int = 1) -> st.SearchStrategy[tuple]:
    return st.integers(min_size, 50).flatmap(
        lambda n: st.tuples(
            st.lists(elem, min_size=n, max_size=n), st.lists(values, min_size=n, max_size=n)
        )
    )


@SETTINGS
@given(rows(nonzero))
def test_metrics_match_sklearn(data: tuple[list[float], list[float]]) -> None:
    t, p = np.array(data[0]), np.array(data[1])
    s = RegressionSums.from_arrays(t, p)
    assert mae(s) == pytest.approx(skm.mean_absolute_error(t, p), rel=1e-9, abs=1e-12)
    assert mse(s) == pytest.approx(skm.mean_squared_error(t, p), rel=1e-9, abs=1e-12)
    assert rmse(s) == pytest.approx(skm.root_mean_squared_error(t, p), rel=1e-9, abs=1e-12)
    assert mape(s) == pytest.approx(skm.mean_absolute_percentage_error(t, p), rel=1e-9)
    assert mean_error(s) == pytest.approx(float(np.mean(p - t)), rel=1e-9, abs=1e-9)
    spread = np.var(t) * len(t)
    if len(t) >= 2 and spread > 1e-6 * max(1.0, float(np.mean(t * t))) * len(t):
        assert r2(s) == pytest.approx(skm.r2_score(t, p), rel=1e-9, abs=1e-9)
    elif len(t) < 2:
        assert r2(s) is None


def test_mape_with_zero_actuals_leaves_them_out() -> None:
    t = np.array([0.0, 2.0, 0.0, 4.0, -5.0])
    p = np.array([1.0, 1.0, 0.0, 5.0, -4.0])
    s = RegressionSums.from_arrays(t, p)
    nz = t != 0
    assert s.n_nonzero == 3
    assert mape(s) == pytest.approx(skm.mean_absolute_percentage_error(t[nz], p[nz]), rel=1e-12)
    # scikit-learn divides by eps instead: a zero actual with an error dominates
    assert skm.mean_absolute_percentage_error(t, p) > 1e14
    assert mape(RegressionSums.from_arrays([0.0, 0.0], [1.0, 0.0])) is None
    assert mae(RegressionSums.from_arrays([0.0, 0.0], [1.0, 0.0])) == 0.5


def test_r2_undefined_and_edge_cases() -> None:
    assert r2(RegressionSums.from_arrays([1.0], [2.0])) is None  # one row
    assert r2(RegressionSums.from_arrays([3.0, 3.0, 3.0], [1.0, 2.0, 3.0])) is None  # constant
    assert r2(RegressionSums.from_arrays([0.1] * 7, [0.1] * 7)) is None  # rounding residue
    empty = RegressionSums.from_arrays([], [])
    assert (mae(empty), rmse(empty), mape(empty), r2(empty), mean_error(empty)) == (None,) * 5
    one = RegressionSums.from_arrays([2.0], [3.0])
    assert mae(one) == 1.0 and rmse(one) == 1.0 and mape(one) == 0.5


def test_r2_with_large_offset_uses_shift() -> None:
    rng = np.random.default_rng(0)
    t = 1e8 + rng.normal(size=2000)
    p = t + 0.5 * rng.normal(size=2000)
    s = RegressionSums.from_arrays(t, p, shift=1e8)
    assert r2(s) == pytest.approx(skm.r2_score(t, p), abs=1e-6)
    # halves summed at different shifts merge exactly enough
    a = RegressionSums.from_arrays(t[:700], p[:700], shift=1e8)
    b = RegressionSums.from_arrays(t[700:], p[700:], shift=1e8 + 3.0)
    assert r2(a + b) == pytest.approx(skm.r2_score(t, p), abs=1e-6)


@SETTINGS
@given(rows(values, min_size=0), rows(values, min_size=0), st.sampled_from([0.0, 10.0]))
def test_merge_equals_concatenation(a: tuple, b: tuple, shift_b: float) -> None:
    whole = RegressionSums.from_arrays(a[0] + b[0], a[1] + b[1])
    merged = RegressionSums.from_arrays(*a) + RegressionSums.from_arrays(*b, shift=shift_b)
    assert merged.n == whole.n and merged.n_nonzero == whole.n_nonzero
    for name in ("sum_err", "sum_abs_err", "sum_sq_err", "sum_abs_pct_err", "sum_y", "sum_y2"):
        assert getattr(merged, name) == pytest.approx(getattr(whole, name), rel=1e-9, abs=1e-6), (
            name
        )


def test_huge_counts() -> None:
    n = 10**12
    s = RegressionSums(
        n=n,
        sum_err=0.0,
        sum_abs_err=2.0 * n,
        sum_sq_err=9.0 * n,
        n_nonzero=n,
        sum_abs_pct_err=0.1 * n,
        sum_y=0.0,
        sum_y2=18.0 * n,
    )
    total = s + s
    assert total.n == 2 * n
    assert mae(total) == 2.0 and rmse(total) == 3.0 and r2(total) == 0.5
    assert mape(total) == pytest.approx(0.1)


def test_invalid_sums_raise() -> None:
    with pytest.raises(StatisticsError):
        RegressionSums(1, 0.0, -1.0, 0.0, 0, 0.0, 0.0, 0.0)
    with pytest.raises(StatisticsError):
        RegressionSums(1, math.nan, 1.0, 0.0, 0, 0.0, 0.0, 0.0)
    with pytest.raises(StatisticsError):
        RegressionSums(1, 0.0, 1.0, 0.0, 2, 0.0, 0.0, 0.0)
    with pytest.raises(StatisticsError):
        RegressionSums.from_arrays([1.0, np.inf], [1.0, 2.0])
    with pytest.raises(StatisticsError):
        RegressionSums.from_arrays([1.0, 2.0], [1.0])


def test_abs_error_quantiles_within_a_bin() -> None:
    rng = np.random.default_rng(1)
    t = rng.normal(size=20000)
    p = t + rng.standard_t(4, size=20000)
    edges = np.linspace(0, 40, 401)
    h = ErrorHistogram.from_arrays(t, p, edges=edges)
    err = np.abs(p - t)
    for q in (0.0, 0.1, 0.5, 0.9, 0.99, 1.0):
        assert abs(abs_error_quantile(h, q) - np.quantile(err, q)) <= 0.1 + 1e-12
    halves = ErrorHistogram.from_arrays(t[:5], p[:5], edges=edges) + ErrorHistogram.from_arrays(
        t[5:], p[5:], edges=edges
    )
    assert halves == h
    assert abs_error_quantile(ErrorHistogram.from_arrays([], [], edges=edges), 0.5) is None
    one = ErrorHistogram.from_arrays([1.0], [1.25], edges=edges)
    assert 0.2 <= abs_error_quantile(one, 0.5) <= 0.3
    huge = ErrorHistogram((0.0, 1.0, 2.0), (10**12, 3 * 10**12))
    assert abs_error_quantile(huge, 0.5) == pytest.approx(1 + 1 / 3)
    with pytest.raises(StatisticsError):
        abs_error_quantile(h, 1.5)
    with pytest.raises(StatisticsError):
        ErrorHistogram((0.0, 1.0), (1, 2))
    with pytest.raises(StatisticsError):
        h + ErrorHistogram.from_arrays([0.0], [0.0], edges=[0.0, 1.0])
