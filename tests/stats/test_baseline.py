"""Baselines: bin edges, binning against a searchsorted oracle, merging, JSON round-trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mlwarden.errors import StatisticsError
from mlwarden.stats.baseline import (
    OTHER,
    QUANTILE_LEVELS,
    UNSEEN,
    CategoricalBaseline,
    CategoryCounts,
    NumericBaseline,
    NumericHistogram,
)

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


def oracle_counts(b: NumericBaseline, values: np.ndarray) -> list[int]:
    """Bin layout by definition: -inf | below e0 | [e_i, e_i+1) ... | at/above last | +inf."""
    x = values[~np.isnan(values)]
    fin = x[np.isfinite(x)]
    mid = (
        np.bincount(
            np.searchsorted(np.asarray(b.edges), fin, side="right"), minlength=len(b.edges) + 1
        )
        if b.edges
        else np.array([fin.size])
    )
    return [int(np.sum(x == -np.inf)), *mid.tolist(), int(np.sum(x == np.inf))]


@pytest.mark.parametrize("n", [1, 2, 999, 5000, 300_000])
def test_continuous_bins_are_fine(n: int) -> None:
    x = np.random.default_rng(n).normal(size=n)
    b = NumericBaseline.from_values(x)
    assert b.n == n and b.n_bins == len(b.edges) + 3
    assert b.edges[0] == x.min() and b.edges[-1] == np.nextafter(x.max(), np.inf)
    counts = np.asarray(b.reference.counts)
    assert counts[:2].sum() == 0 and counts[-2:].sum() == 0  # nothing outside the range
    # KS binning error is bounded by the largest reference bin mass
    assert counts.max() / n <= max(1 / n, 0.0015)


def test_discrete_values_get_one_bin_each() -> None:
    x = np.random.default_rng(0).poisson(3, size=50_000).astype(float)
    b = NumericBaseline.from_values(x)
    assert b.point_bins
    assert set(np.unique(x)) <= set(b.edges)
    assert b.tails == (0.0, 0.0, 0.0, 0.0)


def test_heavy_values_get_their_own_bin() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=50_000), np.zeros(50_000), np.full(5_000, 2.5)])
    b = NumericBaseline.from_values(x)
    assert not b.point_bins
    e = list(b.edges)
    for v in (0.0, 2.5):
        i = e.index(v)
        assert e[i + 1] == np.nextafter(v, np.inf)  # [v, nextafter(v)) holds v only


def test_constant_inf_nan_columns() -> None:
    b = NumericBaseline.from_values([4.0, 4.0, np.nan, np.inf, -np.inf])
    assert b.edges == (4.0, np.nextafter(4.0, np.inf))
    assert b.reference.counts == (1, 0, 2, 0, 1) and b.n_missing == 1
    assert b.std == 0.0 and b.scale == 1.0 and b.mean == 4.0
    assert b.bin([3.0, 4.0, 5.0]).counts == (0, 1, 1, 1, 0)


@pytest.mark.parametrize("values", [[], [np.nan, np.nan], [np.inf, -np.inf, np.nan]])
def test_empty_reference(values: list[float]) -> None:
    b = NumericBaseline.from_values(values)
    assert b.edges == () and b.n_bins == 3 and b.mean is None and b.quantiles is None
    assert b.bin([1.0, np.inf, np.nan]).counts == (0, 1, 1)
    assert NumericBaseline.from_dict(json.loads(json.dumps(b.to_dict()))) == b


def test_rejects_non_numeric() -> None:
    with pytest.raises(StatisticsError, match="'values' input must be numeric"):
        NumericBaseline.from_values(["a", "b"])
    with pytest.raises(StatisticsError, match="max_bins"):
        NumericBaseline.from_values([1.0], max_bins=1)


@settings(max_examples=60, deadline=None)
@given(
    ref=arrays(np.float64, st.integers(0, 300), elements=floats),
    cur=arrays(np.float64, st.integers(0, 300), elements=floats),
)
def test_binning_matches_oracle(ref: np.ndarray, cur: np.ndarray) -> None:
    b = NumericBaseline.from_values(ref, max_bins=64)
    h = b.bin(cur)
    assert list(h.counts) == oracle_counts(b, cur)
    assert h.n_missing == int(np.isnan(cur).sum())


@settings(max_examples=40, deadline=None)
@given(
    ref=arrays(np.float64, st.integers(1, 200), elements=finite),
    a=arrays(np.float64, st.integers(0, 100), elements=floats),
    b=arrays(np.float64, st.integers(0, 100), elements=floats),
)
def test_merge_of_windows_is_the_whole(ref: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    base = NumericBaseline.from_values(ref)
    whole = base.bin(np.concatenate([a, b]))
    merged = base.bin(a) + base.bin(b)
    assert merged.counts == whole.counts and merged.n_missing == whole.n_missing
    for got, want in ((merged.low_sum, whole.low_sum), (merged.high_sum, whole.high_sum)):
        if np.isfinite(want):  # sums of values near the float limits may overflow
            assert got == pytest.approx(want, rel=1e-9, abs=1e-6)


def test_large_lookup_path_matches_oracle() -> None:
    rng = np.random.default_rng(3)
    for ref in (
        rng.standard_t(2, 300_000),
        rng.lognormal(0, 3, 300_000),
        1e6 + 1e-6 * rng.normal(size=300_000),
    ):
        b = NumericBaseline.from_values(ref)
        cur = np.concatenate([rng.choice(ref, 200_000), [1e308, -1e308, 5e-324, ref.max()]])
        assert list(b.bin(cur).counts) == oracle_counts(b, cur)


def test_subsampled_edges_and_summary() -> None:
    x = np.random.default_rng(1).lognormal(size=1_000_000)
    b = NumericBaseline.from_values(x, sample_size=100_000)
    counts = np.asarray(b.reference.counts)
    assert counts.sum() == x.size and counts.max() / x.size < 0.002
    assert b.mean == pytest.approx(x.mean()) and b.std == pytest.approx(x.std())
    exact = np.quantile(x, QUANTILE_LEVELS)
    assert b.quantiles is not None
    assert np.allclose(b.quantiles, exact, rtol=0.01)


def test_tail_shape() -> None:
    rng = np.random.default_rng(2)
    t2 = NumericBaseline.from_values(rng.standard_t(2, 200_000))
    normal = NumericBaseline.from_values(rng.normal(size=200_000))
    assert 0.3 < t2.tails[2] <= 0.6 and 0.3 < t2.tails[0] <= 0.6
    assert normal.tails[0] < 0.15 and normal.tails[2] < 0.15 and normal.tails[3] > 0


def test_json_round_trip_and_coarsen() -> None:
    b = NumericBaseline.from_values(np.random.default_rng(0).gamma(2.0, size=20_000))
    again = NumericBaseline.from_dict(json.loads(json.dumps(b.to_dict())))
    assert again == b
    coarse = b.coarsen(b.reference.counts)
    assert coarse.sum() == 20_000 and len(coarse) == 10
    assert np.all(np.abs(coarse - 2000) <= 30)
    with pytest.raises(StatisticsError):
        b.coarsen([1, 2, 3])
    bad = b.to_dict() | {"edges": [2.0, 1.0]}
    with pytest.raises(StatisticsError, match="strictly increasing"):
        NumericBaseline.from_dict(bad)


def test_histogram_round_trip_and_mismatch() -> None:
    h = NumericHistogram(counts=(1, 2, 3), n_missing=4, low_sum=-1.5)
    assert NumericHistogram.from_dict(json.loads(json.dumps(h.to_dict()))) == h
    with pytest.raises(StatisticsError, match="have 3 bins"):
        h + NumericHistogram(counts=(1, 2))
    with pytest.raises(StatisticsError, match="non-negative"):
        NumericHistogram.from_dict({"counts": [1, -1]})
    huge = NumericHistogram(counts=(10**12, 3 * 10**12, 0))
    assert (huge + huge).counts == (2 * 10**12, 6 * 10**12, 0)


def test_categorical_baseline() -> None:
    values = ["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] + [None, float("nan")]
    b = CategoricalBaseline.from_values(values, top_k=2)
    assert b.categories == ("a", "b") and b.labels[-2:] == (OTHER, UNSEEN)
    assert b.reference.counts == (5, 3, 4, 0) and b.n_missing == 2 and b.truncated
    # truncated: unknown values may be rare reference ones, counted as other
    assert b.count(["a", "zz", None]).counts == (1, 0, 1, 0)
    full = CategoricalBaseline.from_values(values)
    assert not full.truncated
    assert full.count(["zz", "c", 1, True]).counts == (0, 0, 1, 0, 0, 3)
    assert CategoricalBaseline.from_dict(json.loads(json.dumps(b.to_dict()))) == b
    assert full.count(np.array(["a", "c", "c"])).counts == (1, 0, 2, 0, 0, 0)


def test_categorical_merge_and_errors() -> None:
    b = CategoricalBaseline.from_counts({"x": 10**12, "y": 1})
    w = b.count_mapping({"x": 10**12, "q": 7}, n_missing=2) + b.count(["y"])
    assert w.counts == (10**12, 1, 0, 7) and w.n_missing == 2 and w.n == 10**12 + 8
    with pytest.raises(StatisticsError):
        w + CategoryCounts(counts=(1,))
    with pytest.raises(StatisticsError, match="non-negative"):
        CategoricalBaseline.from_counts({"x": -1})
    with pytest.raises(StatisticsError, match="sequence"):
        CategoricalBaseline.from_values("abc")
    with pytest.raises(StatisticsError, match="kind"):
        CategoricalBaseline.from_dict({"kind": "numeric"})
    empty = CategoricalBaseline.from_values([None])
    assert empty.categories == () and empty.n == 0 and empty.n_missing == 1
