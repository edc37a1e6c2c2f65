"""Which column of reference data holds the label (the target), when nobody said.

Reference data usually holds the features, the model's prediction (and score) and the
label it was scored against. The label is found, in this order:

1. by name: a column named like a label (``target``, ``label``, ``y``, ``outcome``,
   ``ground_truth``, ``is_fraud_label``, ...), never one named like a prediction or score;
2. by value, when there is a classification prediction: a column holding (a subset of) the
   prediction's labels, with at least two of them, that agrees with the prediction clearly
   more often than any other such column does (a model is better than chance on the data
   it is judged on).

When neither finds exactly one column, nothing is guessed: the caller is told which columns
could be the target, to pass one explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["TARGET_NAMES", "TargetGuess", "guess_target", "normalized_name"]

#: Exact names of a label column (compared lower-cased, punctuation as '_'), by priority.
TARGET_NAMES = (
    "target",
    "label",
    "y",
    "y_true",
    "actual",
    "ground_truth",
    "outcome",
    "labels",
    "truth",
    "true_label",
    "class",
    "true_class",
    "actuals",
    "gold",
    "observed",
)
#: Parts that make a name a label's (``churn_label``, ``target_default``, ``true_price``).
_TARGET_PARTS = ("label", "target", "actual", "outcome", "truth", "true")
#: Parts that make a name a prediction's or score's, never a label's.
_NOT_TARGET = re.compile(r"pred|score|prob|proba|estimate|forecast|logit|output")
#: Most distinct values a classification prediction may have for the by-value guess.
_MAX_LABELS = 50
#: Least share of rows the chosen column agrees on with the prediction, and its lead.
_MIN_AGREEMENT = 0.5
_MIN_LEAD = 0.1


@dataclass(frozen=True)
class TargetGuess:
    """The column chosen (or ``None``), why, and the other columns that could be the target."""

    column: str | None
    reason: str
    candidates: tuple[str, ...] = ()


def normalized_name(name: str) -> str:
    """A column's name lower-cased, each run of other characters as one '_'.

    >>> normalized_name("Score (prob)")
    'score_prob'
    """
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


_norm = normalized_name


def _by_name(columns: list[str]) -> list[str]:
    normed = {c: _norm(c) for c in columns}
    for n in TARGET_NAMES:
        exact = [c for c in columns if normed[c] == n]
        if exact:
            return exact[:1]
    found = []
    for c in columns:
        parts = normed[c].split("_")
        if _NOT_TARGET.search(normed[c]):
            continue
        if any(p in _TARGET_PARTS for p in parts) or parts[0] == "is" and "true" in parts:
            found.append(c)
    return found


def _labels(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """A column as canonical label strings ('1' for 1, 1.0 and True), if it can be labels."""
    t = col.type
    if pa.types.is_boolean(t):
        return pc.if_else(col, "1", "0")
    if pa.types.is_integer(t):
        return pc.cast(col, pa.string())
    if pa.types.is_floating(t):
        values = col.drop_null()
        if len(values) and not pc.all(pc.equal(values, pc.floor(values))).as_py():
            return None
        return pc.cast(pc.cast(col, pa.int64(), safe=False), pa.string())
    if pa.types.is_dictionary(t):
        return pc.cast(col, pa.string())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.cast(col, pa.string())
    return None


def _distinct(col: pa.ChunkedArray) -> set[str]:
    return {v for v in pc.unique(col).to_pylist() if v is not None}


def guess_target(table: pa.Table, *, taken: Collection[str], prediction: str | None) -> TargetGuess:
    """The label column of ``table`` among the columns not ``taken`` by another role.

    Examples
    --------
    >>> t = pa.table({"radius": [1.2, 3.4, 2.2, 0.5], "malignant": [0, 1, 1, 0],
    ...               "pred": [0, 1, 0, 0]})
    >>> guess_target(t, taken={"pred"}, prediction="pred").column
    'malignant'
    >>> guess_target(t.drop_columns(["pred"]), taken=(), prediction=None).candidates
    ('malignant',)
    """
    free = [c for c in table.column_names if c not in taken]
    named = _by_name(free)
    if len(named) == 1:
        return TargetGuess(named[0], f"named like a label ({named[0]!r})")
    if len(named) > 1:
        return TargetGuess(None, "several columns are named like a label", tuple(named))
    pred_labels = _labels(table.column(prediction)) if prediction is not None else None
    if pred_labels is None or not 2 <= len(classes := _distinct(pred_labels)) <= _MAX_LABELS:
        few = tuple(
            c
            for c in free
            if (lab := _labels(table.column(c))) is not None and len(_distinct(lab)) == 2
        )
        why = (
            "no column is named like a label and there is no classification prediction "
            "to compare values with"
        )
        return TargetGuess(None, why, few)
    agreement: dict[str, float] = {}
    for c in free:
        lab = _labels(table.column(c))
        if lab is None:
            continue
        values = _distinct(lab)
        if len(values) < 2 or not values <= classes:
            continue
        both = pc.and_(pc.is_valid(lab), pc.is_valid(pred_labels))
        n = pc.sum(both).as_py() or 0
        same = pc.sum(pc.and_kleene(both, pc.equal(lab, pred_labels))).as_py()
        agreement[c] = (same or 0) / n if n else 0.0
    ranked = sorted(agreement, key=lambda c: -agreement[c])
    if not ranked:
        return TargetGuess(None, f"no column holds the labels of the prediction {prediction!r}")
    best = ranked[0]
    lead = agreement[best] - (agreement[ranked[1]] if len(ranked) > 1 else 0.0)
    if agreement[best] >= _MIN_AGREEMENT and lead >= _MIN_LEAD:
        return TargetGuess(
            best,
            f"holds the prediction's labels and agrees with it on {agreement[best]:.0%} of rows",
            tuple(ranked[1:]),
        )
    return TargetGuess(
        None, f"several columns hold the labels of the prediction {prediction!r}", tuple(ranked)
    )
