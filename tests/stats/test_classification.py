"""Classification metrics from aggregates, checked against scikit-learn on raw rows.

Tolerances: confusion-count metrics, log loss and ECE 1e-12; ROC AUC and average
precision exactly (1e-12) when every distinct score has its own bin, and within 1e-3
with 1000 equal-width bins on continuous scores.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from mlwarden.errors import StatisticsError
from mlwarden.stats.classification import (
    CalibrationBins,
    ConfusionCounts,
    LogLossSums,
    ScoreHistogram,
    accuracy,
    average_precision,
    bin_index,
    expected_calibration_error,
    f1,
    log_loss,
    merge,
    precision,
    recall,
    roc_auc,
)

FINE = np.linspace(0.0, 1.0, 1001)
SETTINGS = settings(max_examples=60, deadline=None)

labels_st = st.lists(st.integers(0, 3), min_size=0, max_size=60)


def pairs(min_size: int = 0) -> st.SearchStrategy[tuple[list[int], list[int]]]:
    return st.integers(min_size, 60).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
            st.lists(st.integers(0, 3), min_size=n, max_size=n),
        )
    )


def sk_prf(metric: str, t: list[int], p: list[int], **kw: object) -> float:
    fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[metric]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(t, p, **kw))


# ----------------------------------------------------------------------------- confusion


@SETTINGS
@given(pairs(min_size=1))
def test_confusion_metrics_match_sklearn(data: tuple[list[int], list[int]]) -> None:
    t, p = data
    cc = ConfusionCounts.from_arrays(t, p)
    assert accuracy(cc) == pytest.approx(skm.accuracy_score(t, p), abs=1e-12)
    ours = {"precision": precision, "recall": recall, "f1": f1}
    for name, fn in ours.items():
        for average in ("micro", "macro", "weighted"):
            for zd in (0.0, 1.0):
                got = fn(cc, average=average, zero_division=zd)
                want = sk_prf(name, t, p, average=average, zero_division=zd)
                assert got == pytest.approx(want, abs=1e-12), (name, average, zd)
            strict = fn(cc, average=average)
            if strict is not None:  # defined: no zero-division substitute was needed
                assert strict == pytest.approx(fn(cc, average=average, zero_division=0.0))


@SETTINGS
@given(
    st.integers(1, 60).flatmap(
        lambda n: st.tuples(
            st.lists(st.sampled_from(["no", "yes"]), min_size=n, max_size=n),
            st.lists(st.sampled_from(["no", "yes"]), min_size=n, max_size=n),
        )
    )
)
def test_binary_metrics_match_sklearn(data: tuple[list[str], list[str]]) -> None:
    t, p = data
    cc = ConfusionCounts.from_arrays(t, p)
    for name, fn in {"precision": precision, "recall": recall, "f1": f1}.items():
        got = fn(cc, pos_label="yes", zero_division=0.0)
        want = sk_prf(name, t, p, pos_label="yes", zero_division=0.0)
        assert got == pytest.approx(want, abs=1e-12)


def test_undefined_metrics_are_none() -> None:
    empty = ConfusionCounts.from_arrays([], [])
    assert accuracy(empty) is None
    assert precision(empty, average="macro") is None
    assert f1(empty, average="micro") is None
    none_predicted = ConfusionCounts.from_arrays([0, 1], [0, 0])
    assert precision(none_predicted) is None
    assert precision(none_predicted, zero_division=0.0) == 0.0
    assert recall(none_predicted) == 0.0
    assert f1(none_predicted) == 0.0
    only_negatives = ConfusionCounts.from_arrays([0, 0], [0, 0])
    assert precision(only_negatives) is None and recall(only_negatives) is None
    assert f1(only_negatives) is None and accuracy(only_negatives) == 1.0
    assert precision(none_predicted, average="macro") is None
    assert precision(none_predicted, average="weighted") is None  # class 1 has support


def test_one_row_and_single_class() -> None:
    one = ConfusionCounts.from_arrays([1], [1])
    assert accuracy(one) == 1.0 and precision(one) == 1.0 and recall(one) == 1.0
    assert f1(ConfusionCounts.from_arrays(["a"], ["a"]), average="macro") == 1.0


def test_labels_with_no_rows_are_ignored() -> None:
    cc = ConfusionCounts.from_arrays([0, 1, 1], [0, 1, 0], labels=[0, 1, 2, 3])
    assert recall(cc, average="macro") == pytest.approx(
        skm.recall_score([0, 1, 1], [0, 1, 0], average="macro")
    )
    assert precision(cc) == 1.0  # binary still fine: only 0 and 1 are present


def test_invalid_input_raises() -> None:
    with pytest.raises(StatisticsError):
        ConfusionCounts((0, 1), ((1, -1), (0, 0)))
    with pytest.raises(StatisticsError):
        ConfusionCounts((1, 0), ((1, 0), (0, 0)))  # unsorted labels
    with pytest.raises(StatisticsError):
        ConfusionCounts((0, 1), ((1, 0),))
    with pytest.raises(StatisticsError):
        ConfusionCounts.from_arrays([0, 1], [0])
    with pytest.raises(StatisticsError):
        ConfusionCounts.from_arrays([0, "a"], [0, 0])
    with pytest.raises(StatisticsError):
        ConfusionCounts.from_arrays([0.0, float("nan")], [0.0, 0.0])
    three = ConfusionCounts.from_arrays([0, 1, 2], [0, 1, 2])
    with pytest.raises(StatisticsError):
        precision(three)  # binary with three labels present
    with pytest.raises(StatisticsError):
        precision(ConfusionCounts.from_arrays(["a", "b"], ["a", "b"]), pos_label="c")
    with pytest.raises(StatisticsError):
        precision(three, average="samples")  # type: ignore[arg-type]
    with pytest.raises(StatisticsError):
        precision(three, average="macro", zero_division=2.0)


@SETTINGS
@given(pairs(), pairs())
def test_confusion_merge_equals_concatenation(
    a: tuple[list[int], list[int]], b: tuple[list[int], list[int]]
) -> None:
    whole = ConfusionCounts.from_arrays(a[0] + b[0], a[1] + b[1])
    merged = ConfusionCounts.from_arrays(*a) + ConfusionCounts.from_arrays(*b)
    assert merged == whole
    assert merge(ConfusionCounts.from_arrays(*a), ConfusionCounts.from_arrays(*b)) == whole


def test_from_pairs_and_huge_counts() -> None:
    big = 10**12
    cc = ConfusionCounts.from_pairs(
        [(0, 0, 4 * big), (0, 1, big), (1, 0, 2 * big), (1, 1, 3 * big)]
    )
    assert accuracy(cc) == pytest.approx(0.7, abs=1e-15)
    assert precision(cc) == pytest.approx(0.75) and recall(cc) == pytest.approx(0.6)
    huge = ConfusionCounts((0, 1), ((5 * 10**18, 0), (0, 5 * 10**18)))
    total = huge + huge  # beyond int64: exact Python integers
    assert total.counts[0][0] == 10**19 and total.n == 2 * 10**19
    assert accuracy(total) == 1.0
    with pytest.raises(StatisticsError):
        merge(cc, LogLossSums(1, 0.0))


# ----------------------------------------------------------------------------- AUC / AP

GRID = [0.02, 0.1, 0.25, 0.3, 0.5, 0.51, 0.77, 0.9, 0.99]


@SETTINGS
@given(
    st.integers(2, 80).flatmap(
        lambda n: st.tuples(
            st.lists(st.sampled_from(GRID), min_size=n, max_size=n),
            st.lists(st.integers(0, 1), min_size=n, max_size=n),
        )
    )
)
def test_auc_exact_when_each_score_has_its_bin(data: tuple[list[float], list[int]]) -> None:
    scores, y = data
    h = ScoreHistogram.from_arrays(scores, y, score_classes=[1], edges=FINE)
    if len(set(y)) < 2:
        assert roc_auc(h) is None
        if 1 not in y:
            assert average_precision(h) is None
        return
    assert roc_auc(h) == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
    assert average_precision(h) == pytest.approx(skm.average_precision_score(y, scores), abs=1e-12)


def test_auc_on_continuous_scores_within_tolerance() -> None:
    rng = np.random.default_rng(1)
    for n in (200, 5000, 50000):
        y = rng.integers(0, 2, n)
        scores = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y - 0.5)))
        h = ScoreHistogram.from_arrays(scores, y, score_classes=[1], edges=FINE)
        assert abs(roc_auc(h) - skm.roc_auc_score(y, scores)) < 1e-3
        assert abs(average_precision(h) - skm.average_precision_score(y, scores)) < 1e-3
        # the stated bound: half the within-bin pairs
        pos, tot = np.asarray(h.counts[0][1], float), np.asarray(h.counts[0], float).sum(0)
        bound = 0.5 * np.sum(pos * (tot - pos)) / (pos.sum() * (tot - pos).sum())
        assert abs(roc_auc(h) - skm.roc_auc_score(y, scores)) <= bound + 1e-12


def test_multiclass_ovr_exact_on_grid() -> None:
    rng = np.random.default_rng(2)
    n = 300
    a = rng.integers(0, 60, n) / 100
    b = rng.integers(0, 40, n) / 100
    proba = np.column_stack([a, b, np.round(1 - a - b, 2)])
    y = np.array(["x", "y", "z"])[rng.integers(0, 3, n)]
    h = ScoreHistogram.from_arrays(proba, y, score_classes=["x", "y", "z"], edges=FINE)
    assert roc_auc(h) == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"), abs=1e-12)
    assert average_precision(h) == pytest.approx(skm.average_precision_score(y, proba), abs=1e-12)


def test_auc_edge_cases() -> None:
    empty = ScoreHistogram.from_arrays([], [], score_classes=[1], edges=FINE, classes=[0, 1])
    assert roc_auc(empty) is None and average_precision(empty) is None
    one = ScoreHistogram.from_arrays([0.3], [1], score_classes=[1], edges=FINE)
    assert roc_auc(one) is None and average_precision(one) == 1.0
    y = [0, 1, 1, 0, 1]
    const = ScoreHistogram.from_arrays([0.4] * 5, y, score_classes=[1], edges=FINE)
    assert roc_auc(const) == skm.roc_auc_score(y, [0.4] * 5) == 0.5
    assert average_precision(const) == pytest.approx(skm.average_precision_score(y, [0.4] * 5))
    # scores outside the edges fall in the end bins
    out = ScoreHistogram.from_arrays([-5.0, 7.0], [0, 1], score_classes=[1], edges=FINE)
    assert roc_auc(out) == 1.0
    big = 10**12
    h = ScoreHistogram(((0.0, 0.5, 1.0),), (1,), (0, 1), (((big, 3 * big), (big, 3 * big)),))
    assert roc_auc(h) == 0.5
    h = ScoreHistogram(((0.0, 0.5, 1.0),), (1,), (0, 1), (((big, 0), (0, 7 * big)),))
    assert roc_auc(h) == 1.0 and average_precision(h) == 1.0


def test_score_histogram_invalid() -> None:
    with pytest.raises(StatisticsError):
        ScoreHistogram.from_arrays([0.1, np.nan], [0, 1], score_classes=[1], edges=FINE)
    with pytest.raises(StatisticsError):
        ScoreHistogram.from_arrays([0.1], [0, 1], score_classes=[1], edges=FINE)
    with pytest.raises(StatisticsError):
        ScoreHistogram.from_arrays([0.1], [0], score_classes=[1], edges=[0.5, 0.5])
    with pytest.raises(StatisticsError):
        ScoreHistogram.from_arrays([[0.1, 0.9]], [0], score_classes=[1], edges=FINE)
    a = ScoreHistogram.from_arrays([0.1], [0], score_classes=[1], edges=FINE)
    b = ScoreHistogram.from_arrays([0.1], [0], score_classes=[1], edges=[0.0, 1.0])
    with pytest.raises(StatisticsError):
        a + b


@SETTINGS
@given(
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 2)), max_size=40),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 2)), max_size=40),
)
def test_score_histogram_merge_equals_concatenation(
    a: list[tuple[float, int]], b: list[tuple[float, int]]
) -> None:
    def hist(rows: list[tuple[float, int]]) -> ScoreHistogram:
        s = np.array([r[0] for r in rows], dtype=float)
        y = np.array([r[1] for r in rows], dtype=int)
        return ScoreHistogram.from_arrays(
            np.column_stack([s, 1 - s]) if rows else np.zeros((0, 2)),
            y,
            score_classes=[1, 0],
            edges=np.linspace(0, 1, 11),
        )

    assert hist(a) + hist(b) == hist(a + b)


def test_bin_index_matches_digitize() -> None:
    rng = np.random.default_rng(3)
    edges = np.sort(rng.uniform(size=12))
    x = np.concatenate([rng.uniform(-0.5, 1.5, 500), edges])
    want = np.clip(np.digitize(x, edges[1:-1], right=False), 0, len(edges) - 2)
    assert np.array_equal(bin_index(x, edges), want)


# ----------------------------------------------------------------------------- log loss


def test_log_loss_matches_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500)
    p = rng.uniform(size=500)
    p[:5] = [0.0, 1.0, 0.0, 1.0, 1e-20]  # clipped as scikit-learn clips
    s = LogLossSums.from_arrays(y, p, labels=[0, 1])
    assert log_loss(s) == pytest.approx(skm.log_loss(y, p, labels=[0, 1]), rel=1e-12)
    proba = rng.dirichlet([1, 1, 1], 400)
    proba[0] = [1.0, 0.0, 0.0]
    yk = np.array(["a", "b", "c"])[rng.integers(0, 3, 400)]
    sk = LogLossSums.from_arrays(yk, proba, labels=["a", "b", "c"])
    assert log_loss(sk) == pytest.approx(skm.log_loss(yk, proba, labels=["a", "b", "c"]), rel=1e-12)
    # single class present, one row, merge, empty
    one = LogLossSums.from_arrays([1], [0.8], labels=[0, 1])
    assert log_loss(one) == pytest.approx(skm.log_loss([1], [0.8], labels=[0, 1]))
    halves = LogLossSums.from_arrays(y[:200], p[:200], labels=[0, 1]) + LogLossSums.from_arrays(
        y[200:], p[200:], labels=[0, 1]
    )
    assert halves.n == s.n and halves.sum_neg_log_p == pytest.approx(s.sum_neg_log_p, rel=1e-12)
    assert log_loss(LogLossSums.from_arrays([], [], labels=[0, 1])) is None
    assert log_loss(LogLossSums(10**12, 5e11)) == 0.5


def test_log_loss_invalid() -> None:
    with pytest.raises(StatisticsError):
        LogLossSums.from_arrays([0], [1.5], labels=[0, 1])
    with pytest.raises(StatisticsError):
        LogLossSums.from_arrays([2], [0.5], labels=[0, 1])
    with pytest.raises(StatisticsError):
        LogLossSums.from_arrays([0], [0.5], labels=[0, 1, 2])
    with pytest.raises(StatisticsError):
        LogLossSums(1, float("nan"))
    with pytest.raises(StatisticsError):
        LogLossSums(-1, 0.0)


# ----------------------------------------------------------------------------- ECE


def test_ece_matches_calibration_curve() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(size=3000)
    y = (rng.uniform(size=3000) < p**1.5).astype(int)
    edges = np.linspace(0, 1, 11)
    cb = CalibrationBins.from_arrays(y, p, edges=edges)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    counts = np.bincount(bin_index(p, edges), minlength=10)
    counts = counts[counts > 0]
    want = float(np.sum(counts / counts.sum() * np.abs(prob_true - prob_pred)))
    assert expected_calibration_error(cb) == pytest.approx(want, abs=1e-12)
    halves = CalibrationBins.from_arrays(y[:999], p[:999], edges=edges) + (
        CalibrationBins.from_arrays(y[999:], p[999:], edges=edges)
    )
    assert halves.count == cb.count and halves.sum_hit == cb.sum_hit
    assert np.allclose(halves.sum_score, cb.sum_score, rtol=1e-12)
    assert expected_calibration_error(CalibrationBins.from_arrays([], [], edges=edges)) is None
    one = CalibrationBins.from_arrays([1], [0.75], edges=edges)
    assert expected_calibration_error(one) == pytest.approx(0.25)
    huge = CalibrationBins((0.0, 1.0), (10**12,), (0.5e12,), (10**12,))
    assert expected_calibration_error(huge) == 0.5
    with pytest.raises(StatisticsError):
        CalibrationBins.from_arrays([2], [0.5], edges=edges)
    with pytest.raises(StatisticsError):
        CalibrationBins((0.0, 1.0), (1,), (0.5,), (2,))
