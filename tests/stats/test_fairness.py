"""Fairness metrics from per-group counts, checked against fairlearn (tolerance 1e-9)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score

from mlwarden.errors import StatisticsError
from mlwarden.stats import fairness as fm
from mlwarden.stats.fairness import GroupCounts

SETTINGS = settings(max_examples=60, deadline=None)
TOL = 1e-9


def data(min_size: int = 1) -> st.SearchStrategy[tuple[list[int], list[int], list[str]]]:
    return st.integers(min_size, 60).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 1), min_size=n, max_size=n),
            st.lists(st.integers(0, 1), min_size=n, max_size=n),
            st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n),
        )
    )


def same(ours: float | None, theirs: float) -> None:
    if ours is None:
        assert math.isnan(theirs)
    else:
        assert ours == pytest.approx(theirs, abs=TOL)


@settings(max_examples=40, deadline=None)
@given(data(min_size=2))  # fairlearn cannot take a single row (it squeezes it to 0-d)
def test_matches_fairlearn(rows: tuple[list[int], list[int], list[str]]) -> None:
    y, p, g = (np.asarray(r) for r in rows)
    gc = GroupCounts.from_arrays(y, p, g)
    mf = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "true_positive_rate": true_positive_rate,
            "false_positive_rate": false_positive_rate,
            "accuracy": accuracy_score,
            "count": count,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=g,
    )
    ours = fm.group_metrics(gc)
    assert sorted(ours) == sorted(mf.by_group.index)
    for group, row in mf.by_group.iterrows():
        for name in ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"):
            assert getattr(ours[group], name) == pytest.approx(row[name], abs=TOL), name
        assert ours[group].count == row["count"]
    kw = {"sensitive_features": g}
    same(fm.demographic_parity_difference(gc), demographic_parity_difference(y, p, **kw))
    same(fm.demographic_parity_ratio(gc), demographic_parity_ratio(y, p, **kw))
    for agg in ("worst_case", "mean"):
        same(
            fm.equalized_odds_difference(gc, agg=agg),
            equalized_odds_difference(y, p, agg=agg, **kw),
        )
        ratio = fm.equalized_odds_ratio(gc, agg=agg)
        if ratio is not None:  # None when a component ratio is 0/0 (see module notes)
            assert ratio == pytest.approx(equalized_odds_ratio(y, p, agg=agg, **kw), abs=TOL)


def test_group_without_positives_or_negatives_follows_fairlearn() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 1, 1])
    p = np.array([1, 0, 1, 0, 1, 0, 1, 1])
    g = np.array(["a"] * 4 + ["b"] * 2 + ["c"] * 2)
    gc = GroupCounts.from_arrays(y, p, g)
    m = fm.group_metrics(gc)
    assert m["b"].true_positive_rate == 0.0 and m["b"].n_positive == 0  # no positives
    assert m["c"].false_positive_rate == 0.0 and m["c"].n_negative == 0  # no negatives
    mf = MetricFrame(metrics=true_positive_rate, y_true=y, y_pred=p, sensitive_features=g)
    assert mf.by_group["b"] == 0.0
    same(fm.equalized_odds_difference(gc), equalized_odds_difference(y, p, sensitive_features=g))


def test_undefined_and_small_inputs() -> None:
    empty = GroupCounts.from_arrays([], [], [])
    assert fm.group_metrics(empty) == {}
    assert fm.demographic_parity_difference(empty) is None
    assert fm.equalized_odds_ratio(empty) is None
    assert fm.violates_four_fifths_rule(empty) is None
    one = GroupCounts.from_arrays([1], [1], ["a"])
    assert fm.demographic_parity_difference(one) == 0.0
    assert fm.demographic_parity_ratio(one) == 1.0
    nobody_selected = GroupCounts.from_arrays([1, 0, 1], [0, 0, 0], ["a", "b", "b"])
    assert fm.demographic_parity_ratio(nobody_selected) is None
    assert math.isnan(
        demographic_parity_ratio([1, 0, 1], [0, 0, 0], sensitive_features=["a", "b", "b"])
    )
    # a group present in the counts with no rows is left out
    gc = GroupCounts(("a", "b"), (1, 0), (0, 0), (0, 0), (1, 0))
    assert list(fm.group_metrics(gc)) == ["a"]


def test_four_fifths_rule_and_string_labels() -> None:
    gc = GroupCounts.from_arrays(
        ["y", "n", "y", "n", "y", "n", "y", "n", "n", "n"],
        ["y", "y", "y", "y", "y", "n", "n", "n", "n", "n"],
        ["m", "m", "m", "m", "m", "f", "f", "f", "f", "f"],
        pos_label="y",
    )
    assert fm.disparate_impact_ratio(gc) == 0.0
    assert fm.violates_four_fifths_rule(gc) is True
    fair = GroupCounts.from_rows([("a", 4, 1, 0, 5), ("b", 2, 2, 1, 5)])
    assert fm.disparate_impact_ratio(fair) == pytest.approx(0.8)
    assert fm.violates_four_fifths_rule(fair) is False
    with pytest.raises(StatisticsError):
        fm.violates_four_fifths_rule(fair, threshold=1.5)
    with pytest.raises(StatisticsError):
        fm.equalized_odds_difference(fair, agg="max")  # type: ignore[arg-type]


@SETTINGS
@given(data(min_size=0), data(min_size=0))
def test_merge_equals_concatenation(a: tuple, b: tuple) -> None:
    whole = GroupCounts.from_arrays(*(x + y for x, y in zip(a, b, strict=True)))
    assert GroupCounts.from_arrays(*a) + GroupCounts.from_arrays(*b) == whole


def test_huge_counts() -> None:
    big = 10**12
    gc = GroupCounts.from_rows(
        [("a", 3 * big, big, big, 3 * big), ("b", big, 2 * big, big, 2 * big)]
    )
    total = gc + gc
    assert total.tp == (6 * big, 2 * big)
    assert fm.equalized_odds_difference(total) == pytest.approx(0.25)
    assert fm.demographic_parity_ratio(total) == pytest.approx(0.5 / 0.5)


def test_invalid_counts_raise() -> None:
    with pytest.raises(StatisticsError):
        GroupCounts(("a",), (-1,), (0,), (0,), (0,))
    with pytest.raises(StatisticsError):
        GroupCounts(("b", "a"), (1, 1), (0, 0), (0, 0), (0, 0))
    with pytest.raises(StatisticsError):
        GroupCounts(("a",), (1, 2), (0,), (0,), (0,))
    with pytest.raises(StatisticsError):
        GroupCounts.from_arrays([1, 0], [1], ["a", "a"])
