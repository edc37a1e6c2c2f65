"""The numpy isotonic fit CBPE calibrates with equals scikit-learn's IsotonicRegression."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from mlwarden.errors import StatisticsError
from mlwarden.stats.isotonic import isotonic_fit


def sklearn_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    return np.asarray(iso.fit(x, y).predict(x))


@pytest.mark.parametrize("n", [1, 2, 10, 333, 5000, 60_000])
@pytest.mark.parametrize("ties", [False, True])
def test_the_fit_is_scikit_learns(n: int, ties: bool) -> None:
    rng = np.random.default_rng(n + ties)
    y = (rng.random(n) < 0.37).astype(np.float64)
    score = 1 / (1 + np.exp(-(2.5 * (y - 0.5) + rng.normal(size=n))))
    if ties:  # scores of a few decimals: many rows share a score and are pooled
        score = np.round(score, 2)
    got = isotonic_fit(score, y, y_min=0.0, y_max=1.0)
    np.testing.assert_allclose(got, sklearn_fit(score, y), rtol=0, atol=1e-14)


def test_values_within_1e_15_of_their_runs_first_are_one_point() -> None:
    x = np.array([0.0, 4e-16, 8e-16, 1.2e-15, 0.5, 0.5 + 1e-16, 1.0])
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(isotonic_fit(x, y, y_min=0.0, y_max=1.0), sklearn_fit(x, y))


def test_weighted_means_and_clipping() -> None:
    x = np.arange(6.0)
    y = np.array([3.0, 1.0, 2.0, -5.0, 4.0, 9.0])
    np.testing.assert_allclose(isotonic_fit(x, y), IsotonicRegression().fit(x, y).predict(x))
    assert isotonic_fit(x, y, y_min=0.0, y_max=5.0).tolist() == [0.25, 0.25, 0.25, 0.25, 4.0, 5.0]


def test_bad_input() -> None:
    with pytest.raises(StatisticsError, match="finite"):
        isotonic_fit([0.0, np.nan], [1.0, 0.0])
    with pytest.raises(StatisticsError, match="3 values like x"):
        isotonic_fit([0.0, 1.0, 2.0], [1.0, 0.0])
    assert isotonic_fit([], []).size == 0
