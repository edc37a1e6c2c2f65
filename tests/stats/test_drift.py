"""Drift statistics against scipy on the same inputs (raw data or the same counts)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlwarden.errors import StatisticsError
from mlwarden.stats import drift
from mlwarden.stats.baseline import CategoricalBaseline, NumericBaseline

count_pairs = st.integers(1, 40).flatmap(
    lambda k: st.tuples(
        st.lists(st.integers(0, 10**12), min_size=k, max_size=k).filter(lambda v: sum(v) > 0),
        st.lists(st.integers(0, 10**12), min_size=k, max_size=k).filter(lambda v: sum(v) > 0),
    )
)
small_pairs = st.integers(1, 12).flatmap(
    lambda k: st.tuples(
        st.lists(st.integers(0, 50), min_size=k, max_size=k).filter(lambda v: sum(v) > 0),
        st.lists(st.integers(0, 50), min_size=k, max_size=k).filter(lambda v: sum(v) > 0),
    )
)

DISTS = {
    "normal": lambda r, n, s: r.normal(s, 1, n),
    "lognormal": lambda r, n, s: r.lognormal(s, 1, n),
    "t2": lambda r, n, s: r.standard_t(2, n) + s,
}


def raw_ks(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sample KS statistic as scipy.stats.ks_2samp computes it (which warns for n=1)."""
    pts = np.concatenate([x, y])
    fx = np.searchsorted(np.sort(x), pts, side="right") / x.size
    fy = np.searchsorted(np.sort(y), pts, side="right") / y.size
    return float(np.abs(fx - fy).max())


@pytest.mark.parametrize("name", sorted(DISTS))
@pytest.mark.parametrize(
    ("n_ref", "n_cur", "shift"), [(2000, 500, 0.0), (100_000, 10_000, 0.1), (300_000, 1000, 0.5)]
)
def test_ks_and_wasserstein_match_raw_data(name: str, n_ref: int, n_cur: int, shift: float) -> None:
    rng = np.random.default_rng(n_ref + n_cur)
    x, y = DISTS[name](rng, n_ref, 0.0), DISTS[name](rng, n_cur, shift)
    b = NumericBaseline.from_values(x)
    h = b.bin(y)
    res = drift.ks(b.reference, h)
    raw = stats.ks_2samp(x, y, method="asymp")
    assert abs(res.value - raw.statistic) <= 0.002
    assert res.n_reference == n_ref and res.n_current == n_cur
    w = drift.wasserstein(b, h).value
    w_raw = stats.wasserstein_distance(x, y) / x.std()
    # documented tolerance: 2% + 0.002 std on light / moderate tails, 15% on Student-t(2)
    tol = 0.15 * w_raw if name == "t2" else 0.02 * w_raw + 0.002
    assert abs(w - w_raw) <= tol


def test_ks_pvalue_matches_scipy() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.poisson(3, 3000).astype(float), rng.poisson(3.15, 800).astype(float)
    b = NumericBaseline.from_values(x)
    res = drift.ks(b.reference, b.bin(y))
    raw = stats.ks_2samp(x, y, method="asymp")
    assert res.value == pytest.approx(raw.statistic, abs=1e-12)
    assert res.p_value == pytest.approx(raw.pvalue, rel=1e-6)
    for en in (2e4, 1e5, 5e6):  # the fast branch agrees with scipy's kstwo
        for d in (0.5 / math.sqrt(en), 1.5 / math.sqrt(en), 2.5 / math.sqrt(en)):
            assert drift.ks_sf(d, en) == pytest.approx(stats.kstwo.sf(d, round(en)), abs=2e-3)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), support=st.integers(1, 15))
def test_ks_exact_on_discrete_data(data: st.DataObject, support: int) -> None:
    values = st.integers(0, support - 1).map(float)
    x = np.array(data.draw(st.lists(values, min_size=1, max_size=200)))
    seen = sorted(set(x.tolist()))
    y = np.array(data.draw(st.lists(st.sampled_from(seen), min_size=1, max_size=200)))
    b = NumericBaseline.from_values(x)
    h = b.bin(y)
    assert drift.ks(b.reference, h).value == pytest.approx(raw_ks(x, y), abs=1e-12)
    # each distinct value in its own bin: Wasserstein is exact too
    want = stats.wasserstein_distance(x, y) / b.scale
    assert drift.wasserstein(b, h).value == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_wasserstein_outside_reference_range() -> None:
    x = np.random.default_rng(0).uniform(0, 1, 5000)
    b = NumericBaseline.from_values(x)
    y = np.array([-3.0, 0.5, 7.0, 9.0])
    want = stats.wasserstein_distance(x, y) / x.std()
    assert drift.wasserstein(b, b.bin(y)).value == pytest.approx(want, rel=0.01)
    with pytest.raises(StatisticsError, match="finite value"):
        drift.wasserstein(b, b.bin([np.inf, np.nan]))


@settings(max_examples=100, deadline=None)
@given(pair=count_pairs)
def test_jensen_shannon_matches_scipy(pair: tuple[list[int], list[int]]) -> None:
    r, c = pair
    want = jensenshannon(np.array(r, float), np.array(c, float), base=2)
    assert drift.jensen_shannon(r, c).value == pytest.approx(want, abs=1e-7)


@settings(max_examples=100, deadline=None)
@given(pair=st.one_of(count_pairs, small_pairs))
def test_chi_square_matches_scipy(pair: tuple[list[int], list[int]]) -> None:
    r, c = pair
    res = drift.chi_square(r, c)
    table = np.array([r, c], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] == 1:
        assert res.value == 0.0 and res.p_value == 1.0
        return
    want = stats.chi2_contingency(table, correction=False)
    assert res.value == pytest.approx(want.statistic, rel=1e-6, abs=1e-6)
    assert res.p_value == pytest.approx(want.pvalue, rel=1e-6, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(pair=st.one_of(count_pairs, small_pairs))
def test_bin_wise_statistics_by_definition(pair: tuple[list[int], list[int]]) -> None:
    r, c = pair
    p, q = np.array(r, float) / sum(r), np.array(c, float) / sum(c)
    assert drift.total_variation(r, c).value == pytest.approx(0.5 * np.abs(p - q).sum())
    assert drift.l_infinity(r, c).value == pytest.approx(np.abs(p - q).max())
    pe, qe = np.maximum(p, drift.PSI_EPSILON), np.maximum(q, drift.PSI_EPSILON)
    assert drift.psi(r, c).value == pytest.approx(((qe - pe) * np.log(qe / pe)).sum())
    assert drift.new_category_share(r, c).value == pytest.approx(q[p == 0].sum())
    for fn in (
        drift.ks,
        drift.psi,
        drift.jensen_shannon,
        drift.chi_square,
        drift.total_variation,
        drift.l_infinity,
        drift.new_category_share,
    ):
        res = fn(r, c)
        assert math.isfinite(res.value) and res.value >= 0
        assert res.p_value is None or 0 <= res.p_value <= 1


def test_huge_counts_keep_precision() -> None:
    r = [10**12, 3 * 10**12, 2 * 10**12]
    c = [2 * 10**12, 2 * 10**12, 2 * 10**12]
    assert drift.ks(r, c).value == pytest.approx(1 / 6, abs=1e-15)
    assert drift.total_variation(r, c).value == pytest.approx(1 / 6, abs=1e-15)
    assert drift.chi_square(r, c).p_value == 0.0
    # one more count among 1e12 is still seen
    assert drift.chi_square([10**12, 10**12], [10**12, 10**12 + 1]).value > 0


@pytest.mark.parametrize(
    ("reference", "current", "match"),
    [
        ([1, 2], [1, 2, 3], "have 2 bins"),
        ([1, -2], [1, 2], "non-negative"),
        ([0, 0], [1, 2], "no data"),
        ([1, 2], [0, 0], "no data"),
        ([], [], "non-empty"),
        ([1, np.nan], [1, 1], "finite"),
        ([[1, 2]], [[1, 2]], "1-D"),
        (["a"], [1], "numbers"),
    ],
)
def test_invalid_counts_raise(reference: object, current: object, match: str) -> None:
    for fn in (drift.ks, drift.psi, drift.chi_square, drift.jensen_shannon):
        with pytest.raises(StatisticsError, match=match):
            fn(reference, current)  # type: ignore[arg-type]


def test_one_row_and_constant_columns() -> None:
    b = NumericBaseline.from_values([5.0])
    res = drift.numeric_drift(b, [5.0])
    assert res["ks"].value == 0 and res["wasserstein"].value == 0
    moved = drift.numeric_drift(b, [6.0])
    assert moved["ks"].value == 1.0 and moved["wasserstein"].value == 1.0  # std 0: raw units
    with pytest.raises(StatisticsError):
        drift.numeric_drift(b, [np.nan, np.nan])
    with pytest.raises(StatisticsError):
        drift.numeric_drift([np.nan], [1.0])


def test_convenience_entry_points() -> None:
    rng = np.random.default_rng(0)
    res = drift.numeric_drift(rng.normal(size=20_000), rng.normal(0.3, 1, 5000))
    assert res["ks"].p_value is not None and res["ks"].p_value < 1e-10
    assert 0.25 < res["wasserstein"].value < 0.35
    assert set(res) == {
        "ks",
        "wasserstein",
        "psi",
        "jensen_shannon",
        "chi_square",
        "total_variation",
        "l_infinity",
    }
    cat = drift.categorical_drift(
        ["a"] * 50 + ["b"] * 50 + ["r"] * 2, ["a"] * 60 + ["b"] * 35 + ["new"] * 5
    )
    assert cat["new_category_share"].value == 0.05
    # rare 'r' and the unseen 'new' are pooled: a | b | rare
    assert cat["chi_square"].value == pytest.approx(
        stats.chi2_contingency([[50, 50, 2], [60, 35, 5]], correction=False).statistic
    )
    base = CategoricalBaseline.from_values(["x", "y"] * 10)
    assert drift.categorical_drift(base, base.count(["x"] * 20))["l_infinity"].value == 0.5


def test_pool_rare() -> None:
    r, c = drift.pool_rare([100, 4, 0, 7], [90, 10, 3, 0], min_count=5)
    assert r.tolist() == [100, 0, 0, 7, 4] and c.tolist() == [90, 0, 0, 0, 13]
