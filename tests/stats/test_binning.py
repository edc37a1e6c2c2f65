"""The look-up-table bin index equals a binary search; window histograms equal the baseline's."""

from __future__ import annotations

import numpy as np
import pytest

from mlwarden.stats.baseline import NumericBaseline
from mlwarden.stats.binning import EdgeIndex, WindowHistograms


@pytest.mark.parametrize("kind", ["normal", "lognormal", "discrete", "heavy", "tiny"])
def test_edge_index_equals_searchsorted(kind: str) -> None:
    rng = np.random.default_rng(1)
    data = {
        "normal": rng.normal(size=50_000),
        "lognormal": rng.lognormal(0, 3, 50_000),
        "discrete": rng.integers(0, 40, 50_000).astype(float),
        "heavy": np.where(rng.random(50_000) < 0.3, 1.0, rng.normal(size=50_000)),
        "tiny": rng.normal(size=50_000) * 1e-300,
    }[kind]
    edges = np.asarray(NumericBaseline.from_values(data, max_bins=256).edges)
    x = np.concatenate([data, rng.choice(edges, 20_000), np.nextafter(rng.choice(edges, 5000), -1)])
    x = np.concatenate([x, [edges[0] - 1, edges[-1] + 1, -1e308, 1e308]])
    ix = EdgeIndex(edges)
    want = np.searchsorted(edges, x, side="right")
    # the first call searches (the table is built once twice its cells were searched), the
    # second reads the table
    assert np.array_equal(ix.index(x), want)
    assert np.array_equal(ix.index(x), want)
    assert ix._lut is not None or edges.size <= 64


def test_window_histograms_equal_the_baseline_histogram() -> None:
    rng = np.random.default_rng(2)
    ref = rng.normal(size=20_000)
    base = NumericBaseline.from_values(ref, max_bins=256)
    x = rng.normal(0.3, 1.2, 30_000)
    x[rng.random(30_000) < 0.03] = np.nan
    x[rng.random(30_000) < 0.01] = np.inf
    x[rng.random(30_000) < 0.01] = -np.inf
    w = rng.integers(0, 3, x.size)
    h = WindowHistograms(base.edges, windows=3)
    for part in np.array_split(np.arange(x.size), 7):  # batch by batch
        h.add(x[part], w[part])
    for k in range(3):
        want = base.bin(x[w == k])
        got = h.result(k)
        assert tuple(got["counts"]) == want.counts and got["n_missing"] == want.n_missing
        assert got["low_sum"] == pytest.approx(want.low_sum)
        assert got["high_sum"] == pytest.approx(want.high_sum)
