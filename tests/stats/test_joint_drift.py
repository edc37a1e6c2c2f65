"""Joint drift of normal scores: the scores against scipy, the null replicates against a
direct computation, calibration on heavy tails, and power on a small joint shift."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlwarden.errors import ConfigError, StatisticsError
from mlwarden.stats import joint_drift as jd
from mlwarden.stats.joint_drift import JointReference, _null, joint_drift


def mixed(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    """Student-t(2), lognormal, normal and a small-integer feature."""
    return np.column_stack(
        [
            rng.standard_t(2, n) + shift,
            rng.lognormal(size=n) + shift,
            rng.normal(size=n) + shift,
            rng.integers(0, 6, n).astype(float),
        ]
    )


def test_scores_are_van_der_waerden_scores_from_scipy() -> None:
    rng = np.random.default_rng(0)
    ref = mixed(rng, 500)
    ref[rng.random(500) < 0.05, 1] = np.nan
    fitted = JointReference.fit(ref)
    z = fitted.scores(ref)
    for j in range(ref.shape[1]):
        col = ref[:, j]
        ok = ~np.isnan(col)
        # the reference's own rows: normal scores of their mid-ranks
        want = stats.norm.ppf(stats.rankdata(col[ok]) / (ok.sum() + 1))
        np.testing.assert_allclose(z[ok, j], want, rtol=1e-10, atol=1e-12)
        assert np.all(z[~ok, j] == 0.0)  # missing: the median
    # new values: the reference's mean percentile of them, continuity-corrected
    new = mixed(rng, 50)
    zn = fitted.scores(new)
    for j in range(ref.shape[1]):
        s = ref[~np.isnan(ref[:, j]), j]
        pct = stats.percentileofscore(s, new[:, j], kind="mean") / 100
        want = stats.norm.ppf((pct * s.size + 0.5) / (s.size + 1))
        np.testing.assert_allclose(zn[:, j], want, rtol=1e-10, atol=1e-12)


def test_location_part_is_hotelling_on_the_scores() -> None:
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(size=(800, 3)), rng.normal(0.1, 1, size=(600, 3))
    fitted = JointReference.fit(ref)
    zr, zc = fitted.scores(ref), fitted.scores(cur)
    s = np.cov(zr.T, bias=True) + 1e-3 * np.eye(3)
    dm = zc.mean(0) - zr.mean(0)
    en = 800 * 600 / 1400
    t2 = en * dm @ np.linalg.solve(s, dm)
    got = fitted.statistic(cur)
    assert float(got.location) == pytest.approx((t2 - 3) / np.sqrt(6), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_null_replicate_is_the_statistic_on_a_split_of_the_reference(seed: int) -> None:
    rng = np.random.default_rng(10 + seed)
    x = mixed(rng, 400)
    x[rng.random(400) < 0.1, 2] = np.nan  # missing values and ties (the integer feature)
    fitted = JointReference.fit(x)
    got = _null(fitted.values, 150, 1, seed)[0]
    # the same split, drawn as _null draws it
    split = np.ones((1, 400), dtype=bool)
    split[:, :150] = False
    in_ref = np.random.default_rng(seed).permuted(split, axis=1)[0]
    want = JointReference.fit(x[in_ref]).statistic(x[~in_ref]).value
    assert got == pytest.approx(float(want), abs=1e-4)  # the replicates score in float32


def test_null_false_alarms_stay_within_alpha_on_heavy_tails() -> None:
    fired = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        res = joint_drift(mixed(rng, 600), mixed(rng, 600), alpha=0.05, replicates=300)
        fired += res.drifted
        assert 0.0 <= res.p_value <= 1.0
    assert fired <= 6  # alpha 0.05 over 40 runs: P(>= 7) < 1.5%


def test_a_small_joint_shift_of_three_features_is_seen() -> None:
    rng = np.random.default_rng(7)
    ref = rng.normal(size=(10_000, 4))
    cur = rng.normal(size=(10_000, 4)) + [0.05, 0.05, 0.05, 0.0]
    res = joint_drift(ref, cur, alpha=1e-3, replicates=300, feature_names=list("abcd"))
    assert res.drifted and res.location > res.dependence
    assert min(res.mean_shift, key=lambda k: abs(res.mean_shift[k])) == "d"


def test_a_broken_correlation_is_seen_by_the_dependence_part() -> None:
    rng = np.random.default_rng(8)

    def pair(n: int, rho: float) -> np.ndarray:
        z = rng.normal(size=(n, 2))
        return np.column_stack([z[:, 0], rho * z[:, 0] + np.sqrt(1 - rho**2) * z[:, 1]])

    res = joint_drift(pair(3000, 0.6), pair(2000, 0.0), alpha=1e-3, replicates=300)
    assert res.drifted and res.dependence > res.location


def test_errors() -> None:
    x = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(StatisticsError, match="at least 10 values, not all equal"):
        JointReference.fit(np.column_stack([x[:, 0], np.full(50, 3.0)]))
    with pytest.raises(StatisticsError, match="infinite"):
        JointReference.fit(np.full((20, 2), np.inf))
    with pytest.raises(StatisticsError, match="names"):
        JointReference.fit(x, names=["a"])
    with pytest.raises(StatisticsError, match="columns"):
        JointReference.fit(x).statistic(np.zeros((10, 3)))
    with pytest.raises(ConfigError, match="alpha"):
        joint_drift(x, x, alpha=0.7)


def test_the_statistic_is_the_whitened_one() -> None:
    """One solve against [S_c - S_r | m_c - m_r] gives what whitening by the symmetric inverse
    square root of the ridged reference covariance gave (the former eigendecomposition)."""
    rng = np.random.default_rng(7)
    d, b = 12, 40
    ref, cur = rng.standard_t(3, (b, 200, d)), rng.standard_t(3, (b, 50, d)) + 0.1
    m_r, m_c = ref.mean(axis=1), cur.mean(axis=1)
    s_r = np.einsum("bni,bnj->bij", ref - m_r[:, None], ref - m_r[:, None]) / 200
    s_c = np.einsum("bni,bnj->bij", cur - m_c[:, None], cur - m_c[:, None]) / 50
    got = jd._score(m_r, s_r, 200, m_c, s_c, 50)
    lam, vec = np.linalg.eigh(s_r + jd.RIDGE * np.eye(d))
    w = (vec / np.sqrt(lam)[:, None, :]) @ np.swapaxes(vec, -1, -2)
    en = 200 * 50 / 250
    loc = en * np.sum((w @ (m_c - m_r)[..., None])[..., 0] ** 2, axis=-1)
    dep = en / 2 * np.sum((w @ (s_c - s_r) @ w) ** 2, axis=(-2, -1))
    np.testing.assert_allclose(got.location, (loc - d) / np.sqrt(2 * d), rtol=1e-10)
    k2 = d * (d + 1) / 2
    np.testing.assert_allclose(got.dependence, (dep - k2) / np.sqrt(2 * k2), rtol=1e-10)
