"""Fairness of a binary decision from per-group confusion counts.

:class:`GroupCounts` holds, per value of a sensitive attribute, the four binary
confusion counts (additive: windows and segments merge by addition). From them:
per-group selection rate, true/false positive and false negative rate, accuracy and
count (:func:`group_metrics`), demographic-parity difference and ratio, the
disparate-impact ratio with the four-fifths rule, the differences of one error rate
across groups (false positive rate, false negative rate, true positive rate = equal
opportunity) and equalized-odds difference and ratio, all equal to fairlearn's
(``MetricFrame``, ``demographic_parity_*``, ``equalized_odds_*`` with
``method="between_groups"``) on the same rows. :meth:`GroupCounts.only` keeps some
groups (a monitor leaves out groups too small to judge), and :func:`ratio_p_value` /
:func:`difference_p_value` say whether a gap between two groups is beyond chance.

Conventions, chosen to agree with fairlearn:

* A group with no actual positives has TPR 0 and FNR 0, and one with no actual negatives FPR 0
  (fairlearn computes the rates with scikit-learn's ``confusion_matrix(normalize=
  "true")``, which turns 0/0 into 0). :class:`GroupMetrics` carries ``n_positive`` and
  ``n_negative`` so a caller can tell such a rate from a measured 0.
* Every label other than ``pos_label`` counts as negative.
* Ratios are ``min / max`` across groups; they are undefined (``None``) when the
  largest rate is 0 (fairlearn returns NaN). Equalized-odds ratio is ``None`` when
  either of its TPR or FPR ratios is undefined (fairlearn's ``min`` over a NaN then
  depends on the order of the two).
* No groups at all: every disparity is ``None``; one group: differences 0, ratio 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlwarden.errors import StatisticsError, expected
from mlwarden.stats.classification import (
    Label,
    _as_1d,
    _check_sorted_unique,
    _count,
    _counts,
    _label,
    _same_length,
    _sorted_labels,
)
from mlwarden.stats.tails import norm_sf

__all__ = [
    "FOUR_FIFTHS",
    "GroupCounts",
    "GroupMetrics",
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "difference_p_value",
    "disparate_impact_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "false_negative_rate_difference",
    "false_positive_rate_difference",
    "group_metrics",
    "ratio_p_value",
    "violates_four_fifths_rule",
]

FOUR_FIFTHS = 0.8
Agg = Literal["worst_case", "mean"]


@dataclass(frozen=True)
class GroupCounts:
    """Binary confusion counts per group: for ``groups[g]``, ``tp[g]`` (actual and
    predicted positive), ``fp[g]`` (predicted positive, actual negative), ``fn[g]``
    and ``tn[g]``. Groups are sorted and unique. SQL: ``GROUP BY sensitive`` with
    ``sum(case ...)`` for the four cells (or a group-by on actual and prediction).

    Examples
    --------
    >>> gc = GroupCounts.from_arrays([1, 0, 1, 0], [1, 1, 0, 0], ["a", "a", "b", "b"])
    >>> gc.groups, gc.tp, gc.fp, gc.fn, gc.tn
    (('a', 'b'), (1, 0), (1, 0), (0, 1), (0, 1))
    >>> (gc + gc).tp
    (2, 0)
    """

    groups: tuple[Label, ...]
    tp: tuple[int, ...]
    fp: tuple[int, ...]
    fn: tuple[int, ...]
    tn: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_sorted_unique(self.groups, "groups")
        for name in ("tp", "fp", "fn", "tn"):
            values = getattr(self, name)
            if len(values) != len(self.groups):
                raise StatisticsError(
                    expected("field", name, f"hold {len(self.groups)} counts", len(values))
                )
            object.__setattr__(self, name, _counts(values, name))

    @classmethod
    def from_arrays(
        cls,
        y_true: npt.ArrayLike,
        y_pred: npt.ArrayLike,
        sensitive: npt.ArrayLike,
        *,
        pos_label: Any = 1,
    ) -> GroupCounts:
        """Count raw rows (``sensitive`` is one attribute; combine several into one key).

        Examples
        --------
        >>> GroupCounts.from_arrays(["y", "n"], ["y", "y"], [0, 0], pos_label="y").fp
        (1,)
        """
        t, p, s = _as_1d(y_true, "y_true"), _as_1d(y_pred, "y_pred"), _as_1d(sensitive, "sensitive")
        _same_length(("y_true", t), ("y_pred", p), ("sensitive", s))
        pos = _label(pos_label)
        actual = np.fromiter((_label(v) == pos for v in t), dtype=bool, count=len(t))
        predicted = np.fromiter((_label(v) == pos for v in p), dtype=bool, count=len(p))
        groups = _sorted_labels(s.tolist())
        lookup = {g: i for i, g in enumerate(groups)}
        gidx = np.fromiter((lookup[_label(v)] for v in s), dtype=np.intp, count=len(s))
        k = len(groups)

        def cell(mask: npt.NDArray[np.bool_]) -> tuple[int, ...]:
            return tuple(np.bincount(gidx[mask], minlength=k).tolist())

        return cls(
            groups,
            tp=cell(actual & predicted),
            fp=cell(~actual & predicted),
            fn=cell(actual & ~predicted),
            tn=cell(~actual & ~predicted),
        )

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[Any, Any, Any, Any, Any]]) -> GroupCounts:
        """Build from ``(group, tp, fp, fn, tn)`` rows; repeated groups add up.

        Examples
        --------
        >>> GroupCounts.from_rows([("b", 1, 0, 0, 2), ("a", 0, 1, 1, 0)]).groups
        ('a', 'b')
        """
        acc: dict[Label, list[int]] = {}
        for g, *cells in rows:
            cur = acc.setdefault(_label(g), [0, 0, 0, 0])
            for i, c in enumerate(cells):
                cur[i] += _count(c, "count")
        groups = _sorted_labels(acc)
        cols = list(zip(*(acc[g] for g in groups), strict=True)) or [(), (), (), ()]
        return cls(groups, *(tuple(c) for c in cols))

    def only(self, groups: Iterable[Label]) -> GroupCounts:
        """The counts of ``groups`` alone (groups not present are ignored).

        Examples
        --------
        >>> GroupCounts.from_rows([("a", 1, 0, 0, 0), ("b", 0, 1, 0, 0)]).only(["b"]).fp
        (1,)
        """
        keep = set(groups)
        idx = [i for i, g in enumerate(self.groups) if g in keep]
        return GroupCounts(
            tuple(self.groups[i] for i in idx),
            *(tuple(getattr(self, f)[i] for i in idx) for f in ("tp", "fp", "fn", "tn")),
        )

    def __add__(self, other: GroupCounts) -> GroupCounts:
        if not isinstance(other, GroupCounts):
            return NotImplemented
        rows = [
            (g, *(getattr(src, f)[i] for f in ("tp", "fp", "fn", "tn")))
            for src in (self, other)
            for i, g in enumerate(src.groups)
        ]
        return GroupCounts.from_rows(rows)


@dataclass(frozen=True)
class GroupMetrics:
    """Metrics of one group (rates as fairlearn reports them, see the module notes)."""

    count: int
    n_positive: int
    n_negative: int
    selection_rate: float
    true_positive_rate: float
    false_positive_rate: float
    false_negative_rate: float
    accuracy: float


def group_metrics(counts: GroupCounts) -> dict[Label, GroupMetrics]:
    """Per-group count, selection rate, TPR, FPR and accuracy (groups with no rows are
    left out).

    Examples
    --------
    >>> gc = GroupCounts.from_arrays([1, 0, 1, 0], [1, 1, 0, 0], ["a", "a", "b", "b"])
    >>> m = group_metrics(gc)["a"]
    >>> m.selection_rate, m.true_positive_rate, m.false_positive_rate, m.accuracy
    (1.0, 1.0, 1.0, 0.5)
    """
    out: dict[Label, GroupMetrics] = {}
    for i, g in enumerate(counts.groups):
        tp, fp, fn, tn = counts.tp[i], counts.fp[i], counts.fn[i], counts.tn[i]
        n = tp + fp + fn + tn
        if n == 0:
            continue
        out[g] = GroupMetrics(
            count=n,
            n_positive=tp + fn,
            n_negative=fp + tn,
            selection_rate=(tp + fp) / n,
            true_positive_rate=tp / (tp + fn) if tp + fn else 0.0,
            false_positive_rate=fp / (fp + tn) if fp + tn else 0.0,
            false_negative_rate=fn / (tp + fn) if tp + fn else 0.0,
            accuracy=(tp + tn) / n,
        )
    return out


def _spread(values: list[float]) -> tuple[float, float] | None:
    if not values:
        return None
    return min(values), max(values)


def _difference(values: list[float]) -> float | None:
    mm = _spread(values)
    return None if mm is None else mm[1] - mm[0]


def _ratio(values: list[float]) -> float | None:
    mm = _spread(values)
    if mm is None or mm[1] <= 0:
        return None
    return mm[0] / mm[1]


def _rates(counts: GroupCounts, field: str) -> list[float]:
    return [float(getattr(m, field)) for m in group_metrics(counts).values()]


def demographic_parity_difference(counts: GroupCounts) -> float | None:
    """Largest minus smallest selection rate across groups.

    Examples
    --------
    >>> gc = GroupCounts.from_rows([("a", 3, 1, 0, 0), ("b", 1, 0, 1, 2)])
    >>> demographic_parity_difference(gc)
    0.75
    """
    return _difference(_rates(counts, "selection_rate"))


def demographic_parity_ratio(counts: GroupCounts) -> float | None:
    """Smallest over largest selection rate (``None`` if no group is ever selected).

    Examples
    --------
    >>> gc = GroupCounts.from_rows([("a", 3, 1, 0, 0), ("b", 1, 0, 1, 2)])
    >>> demographic_parity_ratio(gc)
    0.25
    """
    return _ratio(_rates(counts, "selection_rate"))


def disparate_impact_ratio(counts: GroupCounts) -> float | None:
    """Disparate-impact ratio: the demographic-parity ratio (lowest selection rate
    over highest), compared with 0.8 by the four-fifths rule.

    Examples
    --------
    >>> disparate_impact_ratio(GroupCounts.from_rows([("a", 4, 1, 0, 5), ("b", 2, 2, 1, 5)]))
    0.8
    """
    return demographic_parity_ratio(counts)


def violates_four_fifths_rule(
    counts: GroupCounts, *, threshold: float = FOUR_FIFTHS
) -> bool | None:
    """True when the disparate-impact ratio is below ``threshold`` (0.8, the
    four-fifths rule); ``None`` when the ratio is undefined.

    Examples
    --------
    >>> violates_four_fifths_rule(GroupCounts.from_rows([("a", 4, 1, 0, 5), ("b", 1, 1, 1, 7)]))
    True
    """
    if not 0.0 < threshold <= 1.0:
        raise StatisticsError(expected("argument", "threshold", "be in (0, 1]", threshold))
    ratio = disparate_impact_ratio(counts)
    return None if ratio is None else ratio < threshold


def _check_agg(agg: str) -> None:
    if agg not in ("worst_case", "mean"):
        raise StatisticsError(expected("argument", "agg", "be one of worst_case, mean", agg))


def equalized_odds_difference(counts: GroupCounts, *, agg: Agg = "worst_case") -> float | None:
    """The larger (``agg="worst_case"``) or the mean of the TPR and FPR differences
    across groups, as fairlearn's ``equalized_odds_difference``.

    Examples
    --------
    >>> gc = GroupCounts.from_rows([("a", 3, 1, 1, 3), ("b", 1, 2, 1, 2)])
    >>> equalized_odds_difference(gc)
    0.25
    """
    _check_agg(agg)
    tpr = _difference(_rates(counts, "true_positive_rate"))
    fpr = _difference(_rates(counts, "false_positive_rate"))
    if tpr is None or fpr is None:
        return None
    return max(tpr, fpr) if agg == "worst_case" else (tpr + fpr) / 2.0


def equalized_odds_ratio(counts: GroupCounts, *, agg: Agg = "worst_case") -> float | None:
    """The smaller (``agg="worst_case"``) or the mean of the TPR and FPR ratios
    (``None`` if either ratio is undefined).

    Examples
    --------
    >>> gc = GroupCounts.from_rows([("a", 3, 1, 1, 3), ("b", 1, 2, 1, 2)])
    >>> equalized_odds_ratio(gc)
    0.5
    """
    _check_agg(agg)
    tpr = _ratio(_rates(counts, "true_positive_rate"))
    fpr = _ratio(_rates(counts, "false_positive_rate"))
    if tpr is None or fpr is None:
        return None
    return min(tpr, fpr) if agg == "worst_case" else (tpr + fpr) / 2.0


def false_positive_rate_difference(counts: GroupCounts) -> float | None:
    """Largest minus smallest false positive rate across groups (ProPublica's COMPAS
    finding is a gap in this rate).

    Examples
    --------
    >>> false_positive_rate_difference(GroupCounts.from_rows([("a", 0, 1, 0, 3), ("b", 0, 2, 0, 2)]))
    0.25
    """
    return _difference(_rates(counts, "false_positive_rate"))


def false_negative_rate_difference(counts: GroupCounts) -> float | None:
    """Largest minus smallest false negative rate across groups.

    Examples
    --------
    >>> false_negative_rate_difference(GroupCounts.from_rows([("a", 3, 0, 1, 0), ("b", 1, 0, 1, 0)]))
    0.25
    """
    return _difference(_rates(counts, "false_negative_rate"))


def equal_opportunity_difference(counts: GroupCounts) -> float | None:
    """Largest minus smallest true positive rate across groups (equal opportunity; the same
    number as the false negative rate difference).

    Examples
    --------
    >>> equal_opportunity_difference(GroupCounts.from_rows([("a", 3, 0, 1, 0), ("b", 1, 0, 1, 0)]))
    0.25
    """
    return _difference(_rates(counts, "true_positive_rate"))


def _clipped(rate: float, n: int) -> float:
    """A rate kept half a count away from 0 and 1, so its variance is never 0."""
    half = 0.5 / n
    return min(max(rate, half), 1.0 - half)


def _check_pair(low: tuple[float, int], high: tuple[float, int]) -> None:
    for name, (rate, n) in (("low", low), ("high", high)):
        if not (0.0 <= rate <= 1.0 and n >= 1):
            raise StatisticsError(
                expected("argument", name, "be a (rate in [0, 1], size >= 1) pair", (rate, n))
            )


def ratio_p_value(low: tuple[float, int], high: tuple[float, int], *, bound: float) -> float:
    """One-sided p-value of "the true ratio of the ``low`` rate over the ``high`` rate is at
    least ``bound``" from two ``(rate, rows it is measured on)`` pairs: the delta method on the
    log of the ratio, rates kept half a count from 0 and 1. Small when the ratio is
    convincingly below ``bound``.

    Examples
    --------
    >>> round(ratio_p_value((0.2, 1000), (0.5, 1000), bound=0.8), 6)
    0.0
    >>> ratio_p_value((0.0, 2), (0.5, 40), bound=0.8) > 0.05  # 0 of 2 proves nothing
    True
    """
    _check_pair(low, high)
    if not 0.0 < bound:
        raise StatisticsError(expected("argument", "bound", "be above 0", bound))
    (r1, n1), (r2, n2) = low, high
    p1, p2 = _clipped(r1, n1), _clipped(r2, n2)
    var = (1 - p1) / (n1 * p1) + (1 - p2) / (n2 * p2)
    z = (math.log(bound) - math.log(p1 / p2)) / math.sqrt(var)
    return norm_sf(z)


def difference_p_value(low: tuple[float, int], high: tuple[float, int], *, bound: float) -> float:
    """One-sided p-value of "the true ``high`` rate minus the ``low`` rate is at most
    ``bound``" from two ``(rate, rows it is measured on)`` pairs (a Wald test, rates kept half
    a count from 0 and 1). Small when the gap is convincingly above ``bound``.

    Examples
    --------
    >>> difference_p_value((0.23, 2000), (0.45, 2000), bound=0.1) < 1e-9
    True
    >>> difference_p_value((0.0, 3), (0.5, 3), bound=0.1) > 0.05
    True
    """
    _check_pair(low, high)
    (r1, n1), (r2, n2) = low, high
    p1, p2 = _clipped(r1, n1), _clipped(r2, n2)
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return norm_sf((r2 - r1 - bound) / se)
