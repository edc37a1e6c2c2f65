"""Multivariate drift: domain classifier and PCA reconstruction error."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mlwarden.errors import ConfigError, StatisticsError
from mlwarden.stats.multivariate import (
    domain_classifier_drift,
    fit_reconstruction,
    reconstruction_drift,
)


def correlated(rng: np.random.Generator, n: int, decouple: bool = False) -> np.ndarray:
    z = rng.normal(size=(n, 1))
    second = rng.normal(size=(n, 1)) if decouple else z + 0.3 * rng.normal(size=(n, 1))
    return np.hstack([z, second, rng.normal(size=(n, 2))])


def test_domain_classifier_no_drift_stays_quiet() -> None:
    fired = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        res = domain_classifier_drift(
            rng.normal(size=(600, 3)),
            rng.normal(size=(400, 3)),
            model="logistic",
            alpha=0.05,
            min_auc=0.5,
            seed=seed,
            importance_repeats=0,
        )
        assert abs(res.auc - 0.5) < 6 * res.null_std
        assert res.null_std == pytest.approx(np.sqrt((1001) / (12 * 600 * 400)))
        fired += res.drifted
    assert fired <= 2  # alpha 0.05 over 8 runs: P(>= 3) < 0.6%


def test_domain_classifier_finds_the_drifted_feature() -> None:
    rng = np.random.default_rng(1)
    ref = correlated(rng, 3000)
    cur = correlated(rng, 3000, decouple=True)  # marginals unchanged, correlation broken
    res = domain_classifier_drift(
        ref, cur, feature_names=["a", "b", "c", "d"], max_rows=1500, folds=3
    )
    assert res.drifted and res.auc > 0.6 and res.p_value < 1e-6
    assert res.n_reference == 1500 and res.n_current == 1500
    top = sorted(res.contributions, key=res.contributions.get, reverse=True)[:2]
    assert set(top) == {"a", "b"}


def test_domain_classifier_auc_is_cross_validated() -> None:
    rng = np.random.default_rng(2)
    ref, cur = rng.normal(size=(500, 2)), rng.normal(0.5, 1, size=(500, 2))
    res = domain_classifier_drift(ref, cur, model="logistic", importance_repeats=0)
    # close to the AUC of the true discriminant (sum of the two features)
    oracle = roc_auc_score(np.r_[np.zeros(500), np.ones(500)], np.r_[ref.sum(1), cur.sum(1)])
    assert res.auc == pytest.approx(oracle, abs=0.03)


def test_domain_classifier_handles_missing_values() -> None:
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(300, 2))
    cur = rng.normal(size=(300, 2))
    cur[:150, 1] = np.nan  # a feature suddenly missing is drift the trees can see
    res = domain_classifier_drift(ref, cur, folds=3, importance_repeats=1)
    assert res.drifted
    # the logistic pipeline imputes: it runs, and sees nothing
    res = domain_classifier_drift(ref, cur, model="logistic", folds=3, importance_repeats=0)
    assert not res.drifted


def test_domain_classifier_errors() -> None:
    x = np.zeros((10, 2))
    with pytest.raises(ConfigError, match="model"):
        domain_classifier_drift(x, x, model="forest")
    with pytest.raises(StatisticsError, match="columns"):
        domain_classifier_drift(x, np.zeros((10, 3)))
    with pytest.raises(StatisticsError, match="at least 5 rows"):
        domain_classifier_drift(x[:3], x)
    with pytest.raises(StatisticsError, match="infinite"):
        domain_classifier_drift(np.full((10, 2), np.inf), x)
    with pytest.raises(StatisticsError, match="feature_names"):
        domain_classifier_drift(x, x, feature_names=["a"])


def test_reconstruction_no_drift_and_drift() -> None:
    rng = np.random.default_rng(4)
    ref = correlated(rng, 6000)
    quiet = reconstruction_drift(ref, correlated(rng, 3000), variance=0.6)
    assert not quiet.drifted and quiet.lower < quiet.current_error < quiet.upper
    loud = reconstruction_drift(
        ref, correlated(rng, 3000, decouple=True), feature_names=["a", "b", "c", "d"], variance=0.6
    )
    assert loud.drifted and loud.current_error > loud.upper and loud.p_value < 1e-6
    top = sorted(loud.contributions, key=loud.contributions.get, reverse=True)[:2]
    assert set(top) == {"a", "b"}


def test_reconstruction_false_alarms_are_rare() -> None:
    fired = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        res = reconstruction_drift(
            correlated(rng, 2000),
            correlated(rng, 500),
            alpha=0.05,
            min_relative_change=0.0,
            seed=seed,
        )
        fired += res.drifted
    assert fired <= 4  # alpha 0.05 over 20 runs: P(>= 5) < 0.3%


def test_reconstruction_edge_cases() -> None:
    rng = np.random.default_rng(5)
    ref = correlated(rng, 500)
    ref[:, 3] = 7.0  # a constant column
    ref[:50, 2] = np.nan
    res = reconstruction_drift(ref, correlated(rng, 200))
    assert np.isfinite(res.current_error) and res.n_components >= 1
    with pytest.raises(StatisticsError, match="at least 2 features"):
        reconstruction_drift(ref[:, :1], ref[:, :1])
    with pytest.raises(ConfigError, match="variance"):
        reconstruction_drift(ref, ref, variance=1.5)


def _sklearn_residuals(ref: np.ndarray, cur: np.ndarray, variance: float) -> tuple:
    """The reconstruction as it was written with scikit-learn's PCA (the oracle)."""
    from sklearn.decomposition import PCA

    order = np.random.default_rng(0).permutation(ref.shape[0])
    fit, cal = ref[order[: ref.shape[0] // 2]], ref[order[ref.shape[0] // 2 :]]
    seen = (~np.isnan(fit)).sum(axis=0)
    mean = np.nansum(fit, axis=0) / np.maximum(seen, 1)
    var = np.nansum((fit - mean) ** 2, axis=0) / np.maximum(seen, 1)
    std = np.where(var > 0, np.sqrt(var), 1.0)
    pca = PCA(n_components=variance, svd_solver="full", random_state=0)
    pca.fit(np.nan_to_num((fit - mean) / std))

    def residuals(a: np.ndarray) -> np.ndarray:
        s = np.nan_to_num((a - mean) / std)
        return (s - pca.inverse_transform(pca.transform(s))) ** 2

    return residuals(cal), residuals(cur), int(pca.n_components_)


@pytest.mark.parametrize("variance", [0.3, 0.6, 0.9, 0.99])
def test_reconstruction_equals_scikit_learn_pca(variance: float) -> None:
    rng = np.random.default_rng(9)
    ref = np.hstack([correlated(rng, 3000), rng.normal(size=(3000, 6)) @ rng.normal(size=(6, 6))])
    ref[rng.random(ref.shape) < 0.01] = np.nan
    ref[:, 4] = 3.0  # a constant column
    cur = np.hstack([correlated(rng, 700, decouple=True), rng.normal(size=(700, 6))])
    want_ref, want_cur, k = _sklearn_residuals(ref, cur, variance)
    fitted = fit_reconstruction(ref, variance=variance)
    assert fitted.n_components == k
    np.testing.assert_allclose(fitted.reference_residuals, want_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fitted.residuals(cur), want_cur, rtol=1e-9, atol=1e-12)
    # fitted once and passed in (as the monitor does for every window): the same result
    assert reconstruction_drift(ref, cur, variance=variance, fitted=fitted) == reconstruction_drift(
        ref, cur, variance=variance
    )
