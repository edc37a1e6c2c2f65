"""The version comparison tests against references on the same inputs.

McNemar and Holm against statsmodels; DeLong's paired test from binned counts equal to the
raw-score form on scores rounded to the bins, and its standard error against a large bootstrap
with scikit-learn's AUC; the paired bootstrap's interval coverage on seeded data; the mSPRT's
error rate when looked at after every window, against the naive fixed-sample test's.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests

from mlwarden.errors import StatisticsError
from mlwarden.stats.always_valid import sequential_difference
from mlwarden.stats.version_tests import (
    delong_paired,
    delong_raw,
    delong_unpaired,
    holm,
    mcnemar,
    paired_bootstrap,
    two_proportions,
)


@pytest.mark.parametrize(
    ("b", "c", "n"), [(0, 3, 10), (3, 12, 100), (10, 14, 200), (30, 55, 500), (400, 310, 5000)]
)
def test_mcnemar_matches_statsmodels(b: int, c: int, n: int) -> None:
    r = mcnemar(b=b, c=c, n=n)
    table = [[n - b - c, b], [c, 0]]
    exact = b + c < 25
    ref = sm_mcnemar(table, exact=exact, correction=True)
    assert r.test == ("exact" if exact else "chi2")
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.statistic == pytest.approx(ref.statistic)
    assert r.diff == pytest.approx((c - b) / n)


def test_mcnemar_refuses_impossible_counts() -> None:
    with pytest.raises(StatisticsError, match="'n' count must be at least"):
        mcnemar(b=5, c=6, n=10)


def test_holm_matches_statsmodels() -> None:
    p = np.random.default_rng(0).random(12) ** 3
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])


def _pair(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = (rng.random(n) < 0.4).astype(int)
    shared = rng.normal(size=n)
    a = 1 / (1 + np.exp(-(1.0 * (2 * y - 1) + shared + rng.normal(size=n))))
    b = 1 / (1 + np.exp(-(1.3 * (2 * y - 1) + shared + rng.normal(size=n))))
    return y, a, b


def test_delong_from_bins_is_delong_on_rounded_scores() -> None:
    y, a, b = _pair(np.random.default_rng(1), 3000)
    k = 50
    ba, bb = np.minimum((a * k).astype(int), k - 1), np.minimum((b * k).astype(int), k - 1)
    pos, neg = np.zeros((k, k)), np.zeros((k, k))
    np.add.at(pos, (ba[y == 1], bb[y == 1]), 1)
    np.add.at(neg, (ba[y == 0], bb[y == 0]), 1)
    grid = delong_paired(pos, neg)
    raw = delong_raw(y, ba, bb)
    assert grid.auc_a == pytest.approx(roc_auc_score(y, ba))
    assert grid.auc_b == pytest.approx(roc_auc_score(y, bb))
    assert (grid.diff, grid.se, grid.p_value) == pytest.approx((raw.diff, raw.se, raw.p_value))


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney AUC (scikit-learn's roc_auc_score is the oracle of the point values; this
    is its fast equal, for the bootstrap loops)."""
    m = int(y.sum())
    return float((stats.rankdata(s)[y == 1].sum() - m * (m + 1) / 2) / (m * (len(y) - m)))


def test_delong_standard_error_matches_a_large_bootstrap() -> None:
    rng = np.random.default_rng(2)
    y, a, b = _pair(rng, 800)
    r = delong_raw(y, a, b)
    assert r.auc_a == pytest.approx(roc_auc_score(y, a))
    assert r.auc_b == pytest.approx(roc_auc_score(y, b))
    assert _auc(y, a) == pytest.approx(r.auc_a)
    diffs = []
    for _ in range(1500):
        i = rng.integers(0, len(y), len(y))
        diffs.append(_auc(y[i], b[i]) - _auc(y[i], a[i]))
    assert r.se == pytest.approx(float(np.std(diffs)), rel=0.12)
    # unpaired: the two halves as independent samples, against the bootstrap of each half
    h = len(y) // 2
    k = 1000
    pa, na = [np.bincount(np.minimum((a[:h] * k).astype(int), k - 1)[y[:h] == c], minlength=k)
              for c in (1, 0)]  # fmt: skip
    pb, nb = [np.bincount(np.minimum((b[h:] * k).astype(int), k - 1)[y[h:] == c], minlength=k)
              for c in (1, 0)]  # fmt: skip
    u = delong_unpaired(pa, na, pb, nb)
    boot = []
    for _ in range(1500):
        i, j = rng.integers(0, h, h), h + rng.integers(0, len(y) - h, len(y) - h)
        boot.append(_auc(y[j], b[j]) - _auc(y[i], a[i]))
    assert u.se == pytest.approx(float(np.std(boot)), rel=0.12)


def test_paired_bootstrap_covers_the_true_difference() -> None:
    """95% intervals of the recall difference over 120 seeded samples of 600 pairs cover the
    population's difference about 95% of the time."""
    rng = np.random.default_rng(3)

    def sample(n: int) -> np.ndarray:
        y = rng.random(n) < 0.4
        pa = np.where(y, rng.random(n) < 0.75, rng.random(n) < 0.2)
        pb = np.where(y, (rng.random(n) < 0.8) | (pa & (rng.random(n) < 0.5)), rng.random(n) < 0.2)
        cells = np.bincount(4 * pa + 2 * pb + y, minlength=8)
        return cells

    big = sample(2_000_000)
    [truth] = paired_bootstrap(big, metrics=["recall"], replicates=10)
    assert truth.diff is not None
    hits = 0
    runs = 120
    for seed in range(runs):
        [d] = paired_bootstrap(sample(600), metrics=["recall"], replicates=400, seed=seed)
        assert d.low is not None and d.high is not None
        hits += d.low <= truth.diff <= d.high
    assert 0.88 <= hits / runs <= 0.99


def test_two_proportions_matches_scipy_on_a_2x2_table() -> None:
    r = two_proportions(hits_a=410, n_a=500, hits_b=440, n_b=510)
    chi2 = stats.chi2_contingency([[410, 90], [440, 70]], correction=False)
    assert r.p_value == pytest.approx(chi2.pvalue, rel=1e-9)


def test_sequential_test_stays_valid_when_checked_every_window() -> None:
    """No difference, 30 windows, looked at after each: the always-valid test's false alarms
    stay below alpha while the fixed-sample test read every window alarms far more often."""
    rng = np.random.default_rng(4)
    runs, windows, per = 300, 30, 200
    seq_alarms = naive_alarms = 0
    for _ in range(runs):
        ha, hb = rng.binomial(per, 0.8, windows), rng.binomial(per, 0.8, windows)
        steps = sequential_difference(n_a=[per] * windows, hits_a=ha, n_b=[per] * windows,
                                      hits_b=hb)  # fmt: skip
        seq_alarms += steps[-1].p_value < 0.05
        ca, cb = np.cumsum(ha), np.cumsum(hb)
        naive_alarms += any(
            two_proportions(hits_a=int(ca[t]), n_a=per * (t + 1), hits_b=int(cb[t]),
                            n_b=per * (t + 1)).p_value < 0.05
            for t in range(windows)
        )  # fmt: skip
    assert seq_alarms / runs <= 0.05
    assert naive_alarms / runs > 0.15


def test_sequential_test_finds_a_real_difference() -> None:
    rng = np.random.default_rng(5)
    ha, hb = rng.binomial(300, 0.80, 30), rng.binomial(300, 0.84, 30)
    steps = sequential_difference(n_a=[300] * 30, hits_a=ha, n_b=[300] * 30, hits_b=hb)
    last = steps[-1]
    assert last.p_value < 0.01 and last.low is not None and 0 < last.low < 0.04
