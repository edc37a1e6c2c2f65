"""Slice discovery on a real DuckDB store: planted segments recovered, none invented, the
pushed-down sums equal to the portable ibis oracle, the statistic equal to scipy's Welch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from analysis.conftest import END, START, store_events, synthetic
from mlwarden.analysis import find_slices
from mlwarden.analysis.slices_query import (
    bin_key,
    grouped_sums_ibis,
    label_key,
    outcomes,
)
from mlwarden.errors import ConfigError
from mlwarden.store import DuckDBStore


def planted(rows: int, seed: int = 0) -> tuple[Any, str]:
    """5% of the rows (c3 = v1, 25%, and n5 in its lowest quintile) are 20 points worse."""
    box: dict[str, float] = {}

    def accuracy(cols: dict[str, Any]) -> Any:
        q20 = float(np.quantile(cols["n5"], 0.2))
        box["q20"] = q20
        return np.where((cols["c3"] == "v1") & (cols["n5"] < q20), 0.6, 0.8)

    data = synthetic(rows, n_num=20, n_cat=10, seed=seed, accuracy=accuracy)
    return data, "c3 = v1"


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["auto", "accuracy"])
def test_a_planted_segment_comes_out_first_among_30_features(
    store: DuckDBStore, metric: str
) -> None:
    data, _ = planted(200_000)
    model = store_events(store, data)
    found = find_slices(store, model, start=START, end=END, metric=metric, reference=data.reference)
    assert found, "nothing found"
    top = found[0]
    cols = {c.column for c in top.conditions}
    assert cols == {"c3", "n5"}, top.describe()
    c3 = next(c for c in top.conditions if c.column == "c3")
    n5 = next(c for c in top.conditions if c.column == "n5")
    assert c3.value == "v1"
    assert n5.low is None and n5.high is not None  # the lowest range
    assert top.share == pytest.approx(0.05, abs=0.01)
    assert top.effect == pytest.approx(0.2, abs=0.03)
    assert top.metric == ("accuracy_vs_expected" if metric == "auto" else "accuracy")
    # the rest of the list is the planted segment's parents, nothing unrelated
    for s in found[1:]:
        assert {c.column for c in s.conditions} <= {"c3", "n5"}, s.describe()


def test_no_segment_is_invented_where_the_model_is_equally_good(store: DuckDBStore) -> None:
    data = synthetic(100_000, seed=1, accuracy=0.8)
    model = store_events(store, data)
    for metric in ("accuracy", "accuracy_vs_expected", "estimated_accuracy", "latency"):
        found = find_slices(store, model, start=START, end=END, metric=metric)
        assert found == [], (metric, [s.describe() for s in found])


def test_a_hard_segment_is_not_a_degraded_one(store: DuckDBStore) -> None:
    """Rows the model is unsure of are less accurate in any window; the automatic metric
    (correct minus confidence) reports the segment that got worse, not the hard one."""
    rng = np.random.default_rng(7)
    data = synthetic(120_000, seed=7)
    cols = data.columns
    hard = cols["c0"] == "v2"
    conf = np.where(hard, 0.58, 0.92)
    p1 = np.where(rng.random(len(conf)) < 0.5, conf, 1 - conf)  # calibrated scores
    pred = (p1 >= 0.5).astype(int)
    right = np.where(cols["c1"] == "v1", conf - 0.2, conf)  # this one degraded
    correct = rng.random(len(conf)) < right
    cols |= {"score": p1, "prediction": pred, "actual": np.where(correct, pred, 1 - pred)}
    model = store_events(store, data)
    by_accuracy = find_slices(store, model, start=START, end=END, metric="accuracy", pairs=False)
    assert by_accuracy[0].describe() == "c0 = v2"  # the hard one looks worst on plain accuracy
    auto = find_slices(store, model, start=START, end=END, pairs=False)
    assert auto[0].metric == "accuracy_vs_expected"
    assert auto[0].describe() == "c1 = v1"
    assert "c0 = v2" not in [s.describe() for s in auto]


def test_the_statistic_is_welch_as_scipy_computes_it(store: DuckDBStore) -> None:
    data, _ = planted(60_000, seed=3)
    model = store_events(store, data)
    found = find_slices(store, model, start=START, end=END, metric="accuracy", pairs=False)
    cols = data.columns
    y = (cols["prediction"] == cols["actual"]).astype(float)
    s = next(x for x in found if x.describe() == "c3 = v1")
    inside = cols["c3"] == "v1"
    ref = sps.ttest_ind(y[~inside], y[inside], equal_var=False)
    assert s.z == pytest.approx(ref.statistic, rel=1e-9)
    assert s.value == pytest.approx(y[inside].mean(), rel=1e-12)
    assert s.rest == pytest.approx(y[~inside].mean(), rel=1e-12)
    assert s.rows == int(inside.sum())
    tested = 10 * 8 + 20 * 5  # every single value and range was a candidate
    assert s.p_value == pytest.approx(min(1.0, sps.norm.sf(ref.statistic) * tested), rel=1e-6)


def test_the_duckdb_hot_path_equals_the_ibis_oracle(store: DuckDBStore) -> None:
    data, _ = planted(30_000, seed=4)
    data.columns["n2"][::97] = np.nan  # a missing group too
    model = store_events(store, data)
    base = outcomes(store, model, "accuracy", START, END)
    keys = {
        "n2": bin_key(base["n2"], [-1.0, 0.0, 1.0]),
        "c3": label_key(base["c3"]),
        "c4": label_key(base["c4"], ["v0", "v1"]),
    }
    sets = [(), ("n2",), ("c3",), ("n2", "c3"), ("c3", "c4")]
    fast = store.grouped_sums(base, keys, sets, limit=50)  # DuckDB: one scan
    slow = grouped_sums_ibis(base, keys, sets, limit=50)
    assert len(fast) == len(slow) == len(sets)
    for f, s in zip(fast, slow, strict=True):
        assert f.keys() == s.keys()
        for k in f:
            assert f[k][0] == s[k][0]
            assert f[k][1:] == pytest.approx(s[k][1:], rel=1e-12)
    assert fast[0][()][0] == 30_000
    assert sum(v[0] for v in fast[1].values()) == 30_000


def test_latency_and_errors_find_their_segments(store: DuckDBStore) -> None:
    rng = np.random.default_rng(9)
    data = synthetic(50_000, seed=9)
    cols = data.columns
    slow = cols["c2"] == "v3"
    cols["latency_ms"] = rng.gamma(4.0, 5.0, len(slow)) * np.where(slow, 1.6, 1.0)
    failing = cols["n0"] > 1.5
    cols["status"] = np.where(rng.random(len(slow)) < np.where(failing, 0.08, 0.01), "error", "ok")
    model = store_events(store, data)
    lat = find_slices(store, model, start=START, end=END, metric="latency", pairs=False)
    assert lat[0].describe() == "c2 = v3"
    err = find_slices(
        store, model, start=START, end=END, metric="error_rate", reference=data.reference
    )
    assert err[0].conditions[0].column == "n0" and err[0].conditions[0].high is None


def test_bad_parameters_name_what_is_wrong(store: DuckDBStore) -> None:
    data = synthetic(1_000)
    model = store_events(store, data)
    cases = [
        ({"metric": "abs_error"}, "'metric' parameter of find_slices must be one of auto"),
        ({"columns": ["nope"]}, "'columns' parameter of find_slices must list"),
        ({"bins": 1}, "'bins' parameter of find_slices must be an integer >= 2"),
        ({"alpha": 1.5}, "'alpha' parameter of find_slices must be a float in the range (0, 1)"),
        ({"end": START}, "'end' parameter of find_slices must be after start"),
    ]
    for kwargs, words in cases:
        params: dict[str, Any] = {"start": START, "end": END, **kwargs}
        with pytest.raises(ConfigError, match=None) as info:
            find_slices(store, model, **params)
        assert words in str(info.value), (kwargs, str(info.value))


def test_too_few_rows_or_no_labels_give_nothing(store: DuckDBStore) -> None:
    data = synthetic(40)
    model = store_events(store, data)
    assert find_slices(store, model, start=START, end=END) == []
    other = DuckDBStore()
    try:
        big = synthetic(20_000, seed=2)
        m2 = store_events(other, big, labels=False)
        # no labels: the automatic metric falls back to the model's own confidence
        found = find_slices(other, m2, start=START, end=END, metric="auto")
        assert all(s.metric == "estimated_accuracy" for s in found)
        with pytest.raises(ConfigError):
            find_slices(other, m2, start=START, end=END, metric="abs_error")
    finally:
        other.close()


def test_pairs_with_a_column_of_many_values(store: DuckDBStore) -> None:
    """A column with more values than are tested alone is paired with its rare tail folded
    into one 'other' key (the engine must accept that key in SQL)."""
    rng = np.random.default_rng(11)
    data = synthetic(60_000, n_num=4, n_cat=3, seed=11)
    cols = data.columns
    many = np.array([f"k{i}" for i in range(80)])[rng.integers(0, 80, len(cols["c0"]))]
    cols["c2"] = np.where(rng.random(len(many)) < 0.4, "v0", many)
    worse = (cols["c2"] == "v0") & (cols["c0"] == "v1")
    right = rng.random(len(many)) < np.where(worse, 0.55, 0.8)
    cols["actual"] = np.where(right, cols["prediction"], 1 - cols["prediction"])
    model = store_events(store, data)
    found = find_slices(store, model, start=START, end=END, metric="accuracy")
    assert found[0].describe() == "c0 = v1 and c2 = v0", [s.describe() for s in found]
