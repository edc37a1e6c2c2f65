"""Classification performance from additive aggregates.

The store returns small, additive numbers per window and segment; this module turns
them into metrics. Every aggregate is a frozen dataclass that merges by addition
(``a + b`` or :func:`merge`), so windows and segments combine without re-reading raw
data, and has a ``from_arrays`` constructor on raw arrays (tests, batch mode, the
reference).

* :class:`ConfusionCounts` -> :func:`accuracy`, :func:`precision`, :func:`recall`,
  :func:`f1` (binary, micro, macro, weighted), as scikit-learn computes them.
* :class:`ScoreHistogram` -> :func:`roc_auc` and :func:`average_precision` (PR AUC).
  Rows in one bin count as tied scores, handled as scikit-learn handles ties
  (trapezoid for ROC, one threshold for PR). So the result equals scikit-learn's
  exactly when each distinct score has its own bin, and is within
  ``0.5 * sum_b pos_b * neg_b / (P * N)`` of it otherwise (1000 equal-width bins
  on [0, 1] give errors below 1e-3 on continuous scores).
* :class:`LogLossSums` -> :func:`log_loss` (probabilities clipped to
  ``[eps, 1 - eps]``, ``eps`` the float64 machine epsilon, as scikit-learn does).
* :class:`CalibrationBins` -> :func:`expected_calibration_error`.

Undefined metrics (no rows, no predicted positives for precision, one class present
for ROC AUC, ...) are returned as ``None``, never as NaN; invalid input (negative
counts, mismatched shapes, NaN scores, an unknown label) raises
:class:`~mlwarden.errors.StatisticsError`.

Binning rule shared with the store: with edges ``e_0 < e_1 < ... < e_B`` a value
``x`` falls in bin ``b`` when ``e_b <= x < e_{b+1}``; values below ``e_1`` go to bin
0 and values at or above ``e_{B-1}`` to the last bin (see :func:`bin_index`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from mlwarden.errors import StatisticsError, expected

__all__ = [
    "CalibrationBins",
    "ConfusionCounts",
    "Label",
    "LogLossSums",
    "ScoreHistogram",
    "accuracy",
    "average_precision",
    "bin_index",
    "expected_calibration_error",
    "f1",
    "log_loss",
    "merge",
    "precision",
    "recall",
    "roc_auc",
    "roc_auc_draws",
]

Label: TypeAlias = str | int | float
"""A class label as the store returns it (a string, an integer or a float)."""

Average = Literal["binary", "micro", "macro", "weighted"]
FloatArray: TypeAlias = npt.NDArray[np.float64]
EPS = float(np.finfo(np.float64).eps)


# ----------------------------------------------------------------------------- helpers


def _label(value: Any) -> Label:
    """A plain Python label from a numpy scalar or a Python value."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str | int | float):
        if isinstance(value, float) and math.isnan(value):
            raise StatisticsError(expected("value", "label", "not be NaN", value))
        return value
    raise StatisticsError(expected("value", "label", "be a string or a number", value))


def _sorted_labels(values: Iterable[Any]) -> tuple[Label, ...]:
    if isinstance(values, np.ndarray):  # the distinct values first: one hash a row, not a check
        values = set(values.tolist())
    unique = {_label(v) for v in values}
    try:
        return tuple(sorted(unique))
    except TypeError as exc:
        raise StatisticsError(
            expected(
                "argument", "labels", "be all strings or all numbers", sorted(map(str, unique))
            )
        ) from exc


def _check_sorted_unique(labels: tuple[Label, ...], name: str) -> None:
    if _sorted_labels(labels) != labels or len(set(labels)) != len(labels):
        raise StatisticsError(expected("field", name, "hold sorted, unique labels", labels))


def _count(value: Any, name: str) -> int:
    """A non-negative integer count (numpy integers and integral floats accepted)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StatisticsError(expected("field", name, "hold non-negative integer counts", value))
    return value


def _counts(values: Iterable[Any], name: str) -> tuple[int, ...]:
    return tuple(_count(v, name) for v in values)


def _finite(value: Any, name: str) -> float:
    out = float(value)
    if not math.isfinite(out):
        raise StatisticsError(expected("field", name, "be finite", value))
    return out


def _as_1d(values: Any, name: str) -> npt.NDArray[Any]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise StatisticsError(expected("argument", name, "be one-dimensional", arr.shape))
    return arr


def _as_float(values: Any, name: str, *, ndim: tuple[int, ...] = (1,)) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatisticsError(expected("argument", name, "hold numbers", type(values))) from exc
    if arr.ndim not in ndim:
        raise StatisticsError(expected("argument", name, f"have {ndim} dimensions", arr.shape))
    if not np.all(np.isfinite(arr)):
        raise StatisticsError(expected("argument", name, "hold finite numbers", "NaN or inf"))
    return arr


def _same_length(*arrays: tuple[str, npt.NDArray[Any]]) -> None:
    n = len(arrays[0][1])
    for name, arr in arrays[1:]:
        if len(arr) != n:
            raise StatisticsError(expected("argument", name, f"have {n} rows", len(arr)))


def _edges(values: Iterable[Any], name: str = "edges") -> tuple[float, ...]:
    out = tuple(_finite(v, name) for v in values)
    if len(out) < 2 or any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise StatisticsError(
            expected("field", name, "hold at least two strictly increasing numbers", out[:5])
        )
    return out


def _index(labels: Sequence[Label], values: npt.NDArray[Any], name: str) -> npt.NDArray[np.intp]:
    """Positions of ``values`` in ``labels``; unknown values raise."""
    lookup = {lab: i for i, lab in enumerate(labels)}
    try:
        if isinstance(values, np.ndarray) and values.ndim == 1:
            # each distinct value checked once, then one dictionary look-up a row
            items = values.tolist()
            codes = {v: lookup[_label(v)] for v in set(items)}
            return np.fromiter(map(codes.__getitem__, items), dtype=np.intp, count=len(items))
        return np.fromiter((lookup[_label(v)] for v in values), dtype=np.intp, count=len(values))
    except KeyError as exc:
        raise StatisticsError(
            expected("argument", name, f"hold only labels in {list(labels)}", exc.args[0])
        ) from exc


def bin_index(values: npt.ArrayLike, edges: Sequence[float]) -> npt.NDArray[np.intp]:
    """Bin of each value: ``b`` with ``edges[b] <= x < edges[b+1]``, clipped to the end bins.

    In SQL this is the number of inner edges (``edges[1:-1]``) that are ``<= x``.

    Examples
    --------
    >>> bin_index([-1.0, 0.0, 0.25, 0.5, 0.99, 1.0, 7.0], [0.0, 0.5, 1.0]).tolist()
    [0, 0, 0, 1, 1, 1, 1]
    """
    arr = _as_float(values, "values")
    inner = np.asarray(edges, dtype=np.float64)[1:-1]
    return np.searchsorted(inner, arr, side="right").astype(np.intp)


def merge(a: Any, b: Any) -> Any:
    """Merge two aggregates of the same type (same as ``a + b``).

    Examples
    --------
    >>> a = ConfusionCounts.from_arrays([0, 1], [0, 1])
    >>> merge(a, a).counts
    ((2, 0), (0, 2))
    """
    if type(a) is not type(b):
        raise StatisticsError(expected("argument", "b", f"be a {type(a).__name__}", type(b)))
    return a + b


# ----------------------------------------------------------------------------- confusion


@dataclass(frozen=True)
class ConfusionCounts:
    """Confusion counts of one window: ``counts[i][j]`` rows of actual ``labels[i]``
    predicted as ``labels[j]`` (rows actual, columns predicted, as scikit-learn).

    ``labels`` are sorted and unique; a label may have no rows at all (the store may
    fill a fixed label set), and such labels are ignored by the averages, as
    scikit-learn ignores labels absent from both ``y_true`` and ``y_pred``. Merging
    takes the union of the labels. SQL: ``GROUP BY actual, prediction`` with
    ``count(*)``, passed to :meth:`from_pairs`.

    Examples
    --------
    >>> cc = ConfusionCounts.from_arrays(["a", "b", "b"], ["a", "a", "b"])
    >>> cc.labels, cc.counts
    (('a', 'b'), ((1, 0), (1, 1)))
    >>> (cc + ConfusionCounts.from_pairs([("c", "c", 2)])).counts
    ((1, 0, 0), (1, 1, 0), (0, 0, 2))
    """

    labels: tuple[Label, ...]
    counts: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        _check_sorted_unique(self.labels, "labels")
        k = len(self.labels)
        if len(self.counts) != k or any(len(row) != k for row in self.counts):
            raise StatisticsError(expected("field", "counts", f"be a {k}x{k} matrix", self.counts))
        object.__setattr__(self, "counts", tuple(_counts(r, "counts") for r in self.counts))

    @classmethod
    def from_pairs(cls, rows: Iterable[tuple[Any, Any, Any]]) -> ConfusionCounts:
        """Build from ``(actual, predicted, count)`` rows (a SQL group-by result).

        Examples
        --------
        >>> ConfusionCounts.from_pairs([(1, 1, 5), (0, 1, 2)]).counts
        ((0, 2), (0, 5))
        """
        items = [(_label(a), _label(p), _count(c, "count")) for a, p, c in rows]
        labels = _sorted_labels([a for a, _, _ in items] + [p for _, p, _ in items])
        pos = {lab: i for i, lab in enumerate(labels)}
        mat = [[0] * len(labels) for _ in labels]
        for a, p, c in items:
            mat[pos[a]][pos[p]] += c
        return cls(labels, tuple(tuple(r) for r in mat))

    @classmethod
    def from_arrays(
        cls, y_true: npt.ArrayLike, y_pred: npt.ArrayLike, *, labels: Sequence[Any] | None = None
    ) -> ConfusionCounts:
        """Count raw actual and predicted labels (``labels`` adds labels with no rows).

        Examples
        --------
        >>> ConfusionCounts.from_arrays([1, 0], [1, 1], labels=[0, 1, 2]).counts
        ((0, 1, 0), (0, 1, 0), (0, 0, 0))
        """
        t, p = _as_1d(y_true, "y_true"), _as_1d(y_pred, "y_pred")
        _same_length(("y_true", t), ("y_pred", p))
        labs = _sorted_labels([*t.tolist(), *p.tolist(), *(labels or [])])
        k = len(labs)
        flat = _index(labs, t, "y_true") * k + _index(labs, p, "y_pred")
        mat = np.bincount(flat, minlength=k * k).reshape(k, k)
        return cls(labs, tuple(tuple(r) for r in mat.tolist()))

    def matrix(self, labels: Sequence[Label] | None = None) -> npt.NDArray[np.float64]:
        """The counts as a float matrix, re-indexed on ``labels`` (zeros for new ones)."""
        k = len(self.labels)
        mat = np.asarray(self.counts, dtype=np.float64).reshape(k, k)
        return _reindex(self.labels, mat, labels)

    @property
    def n(self) -> int:
        """Number of rows."""
        return sum(sum(r) for r in self.counts)

    def __add__(self, other: ConfusionCounts) -> ConfusionCounts:
        if not isinstance(other, ConfusionCounts):
            return NotImplemented
        labels = _sorted_labels(self.labels + other.labels)
        pos = {lab: i for i, lab in enumerate(labels)}
        mat = [[0] * len(labels) for _ in labels]
        for src in (self, other):
            for i, a in enumerate(src.labels):
                for j, p in enumerate(src.labels):
                    mat[pos[a]][pos[p]] += src.counts[i][j]
        return ConfusionCounts(labels, tuple(tuple(r) for r in mat))


def _reindex(have: Sequence[Label], mat: FloatArray, labels: Sequence[Label] | None) -> FloatArray:
    if labels is None:
        return mat
    pos = {lab: i for i, lab in enumerate(have)}
    idx = [pos.get(lab, -1) for lab in labels]
    out = np.zeros((len(idx), len(idx)), dtype=np.float64)
    for a, i in enumerate(idx):
        for b, j in enumerate(idx):
            if i >= 0 and j >= 0:
                out[a, b] = mat[i, j]
    return out


def accuracy(counts: ConfusionCounts) -> float | None:
    """Share of rows whose prediction equals the actual; ``None`` for no rows.

    Examples
    --------
    >>> accuracy(ConfusionCounts.from_arrays([0, 1, 1, 1], [0, 1, 0, 1]))
    0.75
    """
    return _accuracy(counts.matrix())


def _accuracy(mat: FloatArray) -> float | None:
    n = float(mat.sum())
    return float(np.trace(mat)) / n if n > 0 else None


def _prf(
    metric: str,
    mat: FloatArray,
    labels: Sequence[Label],
    average: Average,
    pos_label: Label,
    zero_division: float | None,
) -> float | None:
    """Precision, recall or F1 from a (possibly expected, float) confusion matrix."""
    if average not in ("binary", "micro", "macro", "weighted"):
        raise StatisticsError(
            expected("argument", "average", "be one of binary, micro, macro, weighted", average)
        )
    if zero_division is not None and not 0.0 <= zero_division <= 1.0:
        raise StatisticsError(
            expected("argument", "zero_division", "be None or in [0, 1]", zero_division)
        )
    support = mat.sum(axis=1)
    predicted = mat.sum(axis=0)
    tp = np.diag(mat)
    present = (support + predicted) > 0
    if average == "binary":
        present_labels = {lab for lab, p in zip(labels, present, strict=True) if p}
        if len(present_labels) == 2 and pos_label not in present_labels:
            raise StatisticsError(
                expected(
                    "argument",
                    "pos_label",
                    f"be one of {sorted(map(str, present_labels))}",
                    pos_label,
                )
            )
        if len(present_labels | {pos_label}) > 2:
            raise StatisticsError(
                expected(
                    "argument",
                    "average",
                    "be micro, macro or weighted when more than two labels are present",
                    average,
                )
            )
        if pos_label not in labels:
            return zero_division if zero_division is not None else None
        i = list(labels).index(pos_label)
        return _one(metric, tp[i], predicted[i], support[i], zero_division)
    if not present.any():
        return None
    if average == "micro":
        # single-label classification: micro precision = micro recall = micro F1 = accuracy
        return float(tp.sum() / mat.sum())
    values = [
        _one(metric, tp[i], predicted[i], support[i], zero_division)
        for i in range(len(labels))
        if present[i]
    ]
    if average == "macro":
        if any(v is None for v in values):
            return None
        return float(np.mean(np.asarray(values, dtype=np.float64)))
    weights = support[present]
    if weights.sum() <= 0:
        return None
    if any(v is None and w > 0 for v, w in zip(values, weights, strict=True)):
        return None
    vals = np.asarray([0.0 if v is None else v for v in values], dtype=np.float64)
    return float(np.sum(vals * weights) / weights.sum())


def _one(
    metric: str, tp: float, predicted: float, support: float, zero_division: float | None
) -> float | None:
    if metric == "precision":
        den = predicted
        num = tp
    elif metric == "recall":
        den = support
        num = tp
    else:
        den = predicted + support  # 2TP + FP + FN
        num = 2.0 * tp
    if den <= 0:
        return zero_division
    return float(num / den)


def precision(
    counts: ConfusionCounts,
    *,
    average: Average = "binary",
    pos_label: Label = 1,
    zero_division: float | None = None,
) -> float | None:
    """Precision as scikit-learn's ``precision_score``.

    ``average="binary"`` reports ``pos_label`` (at most two labels may be present).
    A class with no predicted rows has undefined precision: the result is then
    ``None`` unless ``zero_division`` gives the value to use (as scikit-learn's
    ``zero_division=0`` or ``1``). For ``"weighted"`` only classes with actual rows
    count. Labels with no rows at all are ignored.

    Examples
    --------
    >>> cc = ConfusionCounts.from_arrays([0, 1, 1, 0], [1, 1, 1, 0])
    >>> precision(cc)
    0.6666666666666666
    >>> precision(ConfusionCounts.from_arrays([0, 1], [0, 0])) is None
    True
    """
    return _prf("precision", counts.matrix(), counts.labels, average, pos_label, zero_division)


def recall(
    counts: ConfusionCounts,
    *,
    average: Average = "binary",
    pos_label: Label = 1,
    zero_division: float | None = None,
) -> float | None:
    """Recall as scikit-learn's ``recall_score`` (``None`` when undefined, see :func:`precision`).

    Examples
    --------
    >>> recall(ConfusionCounts.from_arrays([0, 1, 1, 0], [1, 1, 0, 0]))
    0.5
    >>> recall(ConfusionCounts.from_arrays(["a", "b", "c"], ["a", "c", "c"]), average="macro")
    0.6666666666666666
    """
    return _prf("recall", counts.matrix(), counts.labels, average, pos_label, zero_division)


def f1(
    counts: ConfusionCounts,
    *,
    average: Average = "binary",
    pos_label: Label = 1,
    zero_division: float | None = None,
) -> float | None:
    """F1 as scikit-learn's ``f1_score``: ``2TP / (2TP + FP + FN)`` per class.

    F1 of a class is undefined only when it has neither actual nor predicted rows.

    Examples
    --------
    >>> f1(ConfusionCounts.from_arrays([0, 1, 1, 0], [1, 1, 0, 0]))
    0.5
    """
    return _prf("f1", counts.matrix(), counts.labels, average, pos_label, zero_division)


# ----------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class ScoreHistogram:
    """Per-class histograms of model scores over fixed bin edges.

    ``counts[s][c][b]`` is the number of rows of class ``classes[c]`` whose score for
    class ``score_classes[s]`` falls in bin ``b`` of ``edges[s]`` (see
    :func:`bin_index`). For performance the class of a row is its *actual* label;
    label-free estimation (:mod:`mlwarden.stats.estimation`) groups by the
    *predicted* label instead. A binary model has one score column
    (``score_classes == (pos_label,)``); a multiclass model one per class.
    SQL: for each score column, ``GROUP BY bin(score), label`` with ``count(*)``.
    Merging requires equal edges and score classes and takes the union of classes.

    Examples
    --------
    >>> h = ScoreHistogram.from_arrays([0.1, 0.8, 0.6], [0, 1, 0], score_classes=[1],
    ...                                edges=[0.0, 0.5, 1.0])
    >>> h.classes, h.counts
    ((0, 1), (((1, 1), (0, 1)),))
    """

    edges: tuple[tuple[float, ...], ...]
    score_classes: tuple[Label, ...]
    classes: tuple[Label, ...]
    counts: tuple[tuple[tuple[int, ...], ...], ...]

    def __post_init__(self) -> None:
        if len(self.score_classes) == 0 or len(set(self.score_classes)) != len(self.score_classes):
            raise StatisticsError(
                expected(
                    "field", "score_classes", "hold at least one unique label", self.score_classes
                )
            )
        _check_sorted_unique(self.classes, "classes")
        if len(self.edges) != len(self.score_classes):
            raise StatisticsError(
                expected(
                    "field", "edges", f"hold {len(self.score_classes)} edge lists", len(self.edges)
                )
            )
        edges = tuple(_edges(e) for e in self.edges)
        object.__setattr__(self, "edges", edges)
        if len(self.counts) != len(edges):
            raise StatisticsError(
                expected("field", "counts", f"hold {len(edges)} score columns", len(self.counts))
            )
        fixed = []
        for s, per_class in enumerate(self.counts):
            nbins = len(edges[s]) - 1
            if len(per_class) != len(self.classes) or any(len(r) != nbins for r in per_class):
                raise StatisticsError(
                    expected(
                        "field",
                        "counts",
                        f"be {len(self.classes)} x {nbins} for score {s}",
                        per_class,
                    )
                )
            fixed.append(tuple(_counts(r, "counts") for r in per_class))
        object.__setattr__(self, "counts", tuple(fixed))

    @classmethod
    def from_arrays(
        cls,
        scores: npt.ArrayLike,
        by: npt.ArrayLike,
        *,
        score_classes: Sequence[Any],
        edges: Sequence[float] | Sequence[Sequence[float]],
        classes: Sequence[Any] | None = None,
    ) -> ScoreHistogram:
        """Histogram raw scores (1-D for one score column, else ``n x len(score_classes)``)
        by class ``by``; ``edges`` is one edge list for all columns or one per column.

        Examples
        --------
        >>> h = ScoreHistogram.from_arrays([[0.9, 0.1], [0.2, 0.8]], ["x", "y"],
        ...     score_classes=["x", "y"], edges=[0.0, 0.5, 1.0])
        >>> h.counts
        (((0, 1), (1, 0)), ((1, 0), (0, 1)))
        """
        sc = tuple(_label(s) for s in score_classes)
        arr = _as_float(scores, "scores", ndim=(1, 2))
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.shape[1] != len(sc):
            raise StatisticsError(
                expected("argument", "scores", f"have {len(sc)} columns", arr.shape[1])
            )
        lab = _as_1d(by, "by")
        _same_length(("scores", arr), ("by", lab))
        edge_lists = _edge_lists(edges, len(sc))
        labs = _sorted_labels([*lab.tolist(), *(classes or [])])
        idx = _index(labs, lab, "by")
        out = []
        for s, e in enumerate(edge_lists):
            nb = len(e) - 1
            flat = idx * nb + bin_index(arr[:, s], e)
            mat = np.bincount(flat, minlength=len(labs) * nb).reshape(len(labs), nb)
            out.append(tuple(tuple(r) for r in mat.tolist()))
        return cls(edge_lists, sc, labs, tuple(out))

    def array(self, classes: Sequence[Label] | None = None) -> npt.NDArray[np.float64]:
        """Counts as a float array ``[score column, class, bin]`` (all columns must share
        a bin count), re-indexed on ``classes`` when given."""
        nbins = {len(e) - 1 for e in self.edges}
        if len(nbins) != 1:
            raise StatisticsError(
                expected("field", "edges", "have the same bin count in every column", nbins)
            )
        arr = np.asarray(self.counts, dtype=np.float64)
        if classes is None:
            return arr
        pos = {lab: i for i, lab in enumerate(self.classes)}
        out = np.zeros((arr.shape[0], len(classes), arr.shape[2]))
        for c, lab in enumerate(classes):
            if lab in pos:
                out[:, c, :] = arr[:, pos[lab], :]
        return out

    def __add__(self, other: ScoreHistogram) -> ScoreHistogram:
        if not isinstance(other, ScoreHistogram):
            return NotImplemented
        if other.edges != self.edges or other.score_classes != self.score_classes:
            raise StatisticsError(
                expected("argument", "other", "have the same edges and score classes", "others")
            )
        classes = _sorted_labels(self.classes + other.classes)
        out = []
        for s in range(len(self.edges)):
            nb = len(self.edges[s]) - 1
            rows = {lab: [0] * nb for lab in classes}
            for src in (self, other):
                for c, lab in enumerate(src.classes):
                    rows[lab] = [x + y for x, y in zip(rows[lab], src.counts[s][c], strict=True)]
            out.append(tuple(tuple(rows[lab]) for lab in classes))
        return ScoreHistogram(self.edges, self.score_classes, classes, tuple(out))


def _edge_lists(
    edges: Sequence[float] | Sequence[Sequence[float]], k: int
) -> tuple[tuple[float, ...], ...]:
    if len(edges) > 0 and isinstance(edges[0], Sequence | np.ndarray):
        lists = tuple(_edges(e) for e in edges)  # type: ignore[arg-type]
        if len(lists) != k:
            raise StatisticsError(expected("argument", "edges", f"hold {k} edge lists", len(lists)))
        return lists
    return (_edges(edges),) * k


def _pos_neg(hist: ScoreHistogram, s: int) -> tuple[FloatArray, FloatArray]:
    """Positive and negative counts per bin for score column ``s`` (one-vs-rest)."""
    arr = np.asarray(hist.counts[s], dtype=np.float64)
    total = arr.sum(axis=0)
    label = hist.score_classes[s]
    pos = arr[hist.classes.index(label)] if label in hist.classes else np.zeros_like(total)
    return pos, total - pos


def _auc_from_bins(pos: FloatArray, neg: FloatArray) -> float | None:
    """ROC AUC of positives/negatives per ascending score bin, ties within a bin as
    scikit-learn's trapezoid (a tied pair counts one half). ``None`` if a class is absent."""
    p, n = float(pos.sum()), float(neg.sum())
    if p <= 0 or n <= 0:
        return None
    above = np.cumsum(pos[::-1])[::-1] - pos  # positives in strictly higher bins
    return float(np.sum(neg * (above + 0.5 * pos)) / (p * n))


def _auc_from_bins_batch(pos: FloatArray, neg: FloatArray) -> FloatArray:
    """:func:`_auc_from_bins` along the last axis; NaN marks an undefined draw (internal)."""
    p, n = pos.sum(axis=-1), neg.sum(axis=-1)
    above = np.cumsum(pos[..., ::-1], axis=-1)[..., ::-1] - pos
    num = np.sum(neg * (above + 0.5 * pos), axis=-1)
    den = p * n
    out = np.full(den.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def roc_auc_draws(pos: npt.ArrayLike, neg: npt.ArrayLike) -> FloatArray:
    """ROC AUC of many binned draws at once (a bootstrap): positives and negatives per
    ascending score bin along the last axis; NaN where a draw lacks a class. Each value is
    :func:`roc_auc` of the same counts.

    Examples
    --------
    >>> roc_auc_draws([[0, 1, 1], [0, 0, 0]], [[1, 1, 0], [1, 0, 1]]).tolist()
    [0.875, nan]
    """
    return _auc_from_bins_batch(
        np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    )


def _ap_from_bins(pos: FloatArray, neg: FloatArray) -> float | None:
    """Average precision (scikit-learn's step sum) with one threshold per non-empty bin."""
    p = float(pos.sum())
    if p <= 0:
        return None
    tp = np.cumsum(pos[::-1])
    fp = np.cumsum(neg[::-1])
    seen = tp + fp
    mask = pos[::-1] > 0
    return float(np.sum(pos[::-1][mask] * tp[mask] / seen[mask]) / p)


def roc_auc(hist: ScoreHistogram) -> float | None:
    """ROC AUC from a score histogram grouped by actual label.

    One score column: binary AUC of ``score_classes[0]`` against every other class.
    Several: one-vs-rest macro average, as ``roc_auc_score(..., multi_class="ovr")``.
    ``None`` when a score class has no positive or no negative rows.

    Examples
    --------
    >>> h = ScoreHistogram.from_arrays([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1],
    ...     score_classes=[1], edges=np.linspace(0, 1, 1001))
    >>> roc_auc(h)
    0.75
    """
    values = [_auc_from_bins(*_pos_neg(hist, s)) for s in range(len(hist.score_classes))]
    if any(v is None for v in values):
        return None
    return float(np.mean(np.asarray(values, dtype=np.float64)))


def average_precision(hist: ScoreHistogram) -> float | None:
    """PR AUC as scikit-learn's ``average_precision_score`` (macro one-vs-rest for
    several score columns); ``None`` when a score class has no positive rows.

    Examples
    --------
    >>> h = ScoreHistogram.from_arrays([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1],
    ...     score_classes=[1], edges=np.linspace(0, 1, 1001))
    >>> round(average_precision(h), 6)
    0.833333
    """
    values = [_ap_from_bins(*_pos_neg(hist, s)) for s in range(len(hist.score_classes))]
    if any(v is None for v in values):
        return None
    return float(np.mean(np.asarray(values, dtype=np.float64)))


# ----------------------------------------------------------------------------- log loss


@dataclass(frozen=True)
class LogLossSums:
    """``n`` rows and ``sum_neg_log_p``, the sum of ``-ln(clip(p_true, eps, 1 - eps))``
    where ``p_true`` is the probability given to the actual class and ``eps`` is the
    float64 machine epsilon (2.22e-16), as scikit-learn clips.
    SQL: ``count(*)``, ``sum(-ln(least(greatest(p_true, eps), 1 - eps)))``.

    Examples
    --------
    >>> s = LogLossSums.from_arrays([1, 0], [0.9, 0.2], labels=[0, 1])
    >>> s.n, round(s.sum_neg_log_p, 6)
    (2, 0.328504)
    """

    n: int
    sum_neg_log_p: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _count(self.n, "n"))
        value = _finite(self.sum_neg_log_p, "sum_neg_log_p")
        if value < 0:
            raise StatisticsError(expected("field", "sum_neg_log_p", "be >= 0", value))
        object.__setattr__(self, "sum_neg_log_p", value)

    @classmethod
    def from_arrays(
        cls, y_true: npt.ArrayLike, proba: npt.ArrayLike, *, labels: Sequence[Any]
    ) -> LogLossSums:
        """Sum raw rows: ``proba`` is ``n x len(labels)`` (columns in ``labels`` order) or,
        for two labels, 1-D: the probability of ``labels[1]``.

        Examples
        --------
        >>> LogLossSums.from_arrays(["a"], [[0.5, 0.5]], labels=["a", "b"]).n
        1
        """
        labs = tuple(_label(v) for v in labels)
        p = _as_float(proba, "proba", ndim=(1, 2))
        if p.ndim == 1:
            if len(labs) != 2:
                raise StatisticsError(
                    expected("argument", "labels", "hold two labels for 1-D proba", labs)
                )
            p = np.column_stack([1.0 - p, p])
        if p.shape[1] != len(labs):
            raise StatisticsError(
                expected("argument", "proba", f"have {len(labs)} columns", p.shape[1])
            )
        if p.size and (p.min() < 0.0 or p.max() > 1.0):
            raise StatisticsError(expected("argument", "proba", "lie in [0, 1]", "other values"))
        t = _as_1d(y_true, "y_true")
        _same_length(("y_true", t), ("proba", p))
        p_true = p[np.arange(len(t)), _index(labs, t, "y_true")]
        loss = -np.log(np.clip(p_true, EPS, 1.0 - EPS))
        return cls(len(t), float(loss.sum()))

    def __add__(self, other: LogLossSums) -> LogLossSums:
        if not isinstance(other, LogLossSums):
            return NotImplemented
        return LogLossSums(self.n + other.n, self.sum_neg_log_p + other.sum_neg_log_p)


def log_loss(sums: LogLossSums) -> float | None:
    """Mean log loss (natural log), as scikit-learn's ``log_loss``; ``None`` for no rows.

    Examples
    --------
    >>> round(log_loss(LogLossSums.from_arrays([1, 0], [0.9, 0.2], labels=[0, 1])), 6)
    0.164252
    """
    return sums.sum_neg_log_p / sums.n if sums.n > 0 else None


# ----------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class CalibrationBins:
    """Per score bin: ``count`` rows, ``sum_score`` of their scores and ``sum_hit`` of
    rows that were right. Binary: score = probability of the positive class, hit =
    actual is positive. Multiclass (top-label): score = the highest probability, hit =
    the predicted class is the actual one. SQL: ``GROUP BY bin(score)`` with
    ``count(*)``, ``sum(score)``, ``sum(hit)``.

    Examples
    --------
    >>> cb = CalibrationBins.from_arrays([1, 0, 1], [0.9, 0.3, 0.6], edges=[0.0, 0.5, 1.0])
    >>> cb.count, cb.sum_hit
    ((1, 2), (0, 2))
    """

    edges: tuple[float, ...]
    count: tuple[int, ...]
    sum_score: tuple[float, ...]
    sum_hit: tuple[int, ...]

    def __post_init__(self) -> None:
        edges = _edges(self.edges)
        nb = len(edges) - 1
        object.__setattr__(self, "edges", edges)
        for name in ("count", "sum_score", "sum_hit"):
            if len(getattr(self, name)) != nb:
                raise StatisticsError(
                    expected("field", name, f"hold {nb} bins", getattr(self, name))
                )
        object.__setattr__(self, "count", _counts(self.count, "count"))
        object.__setattr__(self, "sum_hit", _counts(self.sum_hit, "sum_hit"))
        object.__setattr__(
            self, "sum_score", tuple(_finite(v, "sum_score") for v in self.sum_score)
        )
        if any(h > c for h, c in zip(self.sum_hit, self.count, strict=True)):
            raise StatisticsError(expected("field", "sum_hit", "not exceed count", self.sum_hit))

    @classmethod
    def from_arrays(
        cls, hits: npt.ArrayLike, scores: npt.ArrayLike, *, edges: Sequence[float]
    ) -> CalibrationBins:
        """Bin raw rows: ``hits`` are 0/1 (or booleans), ``scores`` in [0, 1].

        Examples
        --------
        >>> CalibrationBins.from_arrays([True], [0.2], edges=[0.0, 1.0]).sum_score
        (0.2,)
        """
        e = _edges(edges)
        s = _as_float(scores, "scores")
        h = _as_float(hits, "hits")
        _same_length(("hits", h), ("scores", s))
        if not np.all((h == 0) | (h == 1)):
            raise StatisticsError(expected("argument", "hits", "hold only 0 and 1", "other values"))
        b = bin_index(s, e)
        nb = len(e) - 1
        count = np.bincount(b, minlength=nb)
        ssum = np.bincount(b, weights=s, minlength=nb)
        hsum = np.bincount(b, weights=h, minlength=nb)
        return cls(e, tuple(count.tolist()), tuple(ssum.tolist()), tuple(int(x) for x in hsum))

    def __add__(self, other: CalibrationBins) -> CalibrationBins:
        if not isinstance(other, CalibrationBins):
            return NotImplemented
        if other.edges != self.edges:
            raise StatisticsError(expected("argument", "other", "have the same edges", other.edges))
        return CalibrationBins(
            self.edges,
            tuple(a + b for a, b in zip(self.count, other.count, strict=True)),
            tuple(a + b for a, b in zip(self.sum_score, other.sum_score, strict=True)),
            tuple(a + b for a, b in zip(self.sum_hit, other.sum_hit, strict=True)),
        )


def expected_calibration_error(bins: CalibrationBins) -> float | None:
    """ECE = ``sum_b (n_b / N) * |mean score_b - hit rate_b|`` = ``sum_b |S_b - H_b| / N``;
    ``None`` for no rows.

    Examples
    --------
    >>> cb = CalibrationBins.from_arrays([1, 0, 1, 1], [0.9, 0.3, 0.6, 0.7], edges=[0, 0.5, 1])
    >>> round(expected_calibration_error(cb), 6)
    0.275
    """
    n = sum(bins.count)
    if n == 0:
        return None
    gap = np.abs(np.asarray(bins.sum_score) - np.asarray(bins.sum_hit, dtype=np.float64))
    return float(gap.sum() / n)
