"""The target is inferred from reference data as users name it, on the column names of
scikit-learn's bundled data sets: by name, else as the column that holds the prediction's
labels and agrees with it; where that is ambiguous nothing is guessed and the notes ask."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest
from sklearn import datasets

from mlwarden.schema.infer import infer_spec


def _frame(
    loader: str, label: str, *, pred: str | None = "prediction", acc: float = 0.9
) -> pa.Table:
    """A data set's features (names made column-safe) and its label under ``label``, with a
    prediction right on ``acc`` of the rows."""
    b = getattr(datasets, loader)()
    rng = np.random.default_rng(0)
    cols: dict[str, object] = {
        re.sub(r"[^A-Za-z0-9_. -]", "_", str(n)): b.data[:, i]
        for i, n in enumerate(b.feature_names)
    }
    y = b.target
    if getattr(b, "target_names", None) is not None and loader != "load_breast_cancer":
        y = np.asarray(b.target_names)[y]  # iris, wine: string labels
    cols[label] = y
    if pred is not None:
        if y.dtype.kind == "f":  # regression
            cols[pred] = y + rng.normal(scale=y.std() / 3, size=len(y))
        else:
            other = rng.permutation(y)
            cols[pred] = np.where(rng.random(len(y)) < acc, y, other)
    return pa.table(cols)


@pytest.mark.parametrize(
    ("loader", "label"),
    [
        ("load_breast_cancer", "malignant"),  # 0/1 beside 30 numeric features
        ("load_iris", "species"),  # strings
        ("load_wine", "cultivar"),  # three strings
        ("load_digits", "digit"),  # ten integers beside 64 integer pixel columns
    ],
)
def test_the_label_is_found_by_agreeing_with_the_prediction(loader: str, label: str) -> None:
    inf = infer_spec(_frame(loader, label), name="m")
    assert inf.spec.target == label, inf.notes
    assert label not in inf.spec.feature_names
    assert inf.spec.task.value in ("binary", "multiclass")
    assert any(n.startswith(f"Target: column {label!r}") for n in inf.notes), inf.notes


@pytest.mark.parametrize(
    "label", ["target", "label", "y", "Outcome", "ground_truth", "is_churn_label"]
)
def test_the_label_is_found_by_name_even_without_a_prediction(label: str) -> None:
    inf = infer_spec(_frame("load_breast_cancer", label, pred=None), name="m")
    assert inf.spec.target == label, inf.notes


def test_a_regression_target_is_found_by_name_and_asked_for_otherwise() -> None:
    assert infer_spec(_frame("load_diabetes", "target"), name="m").spec.target == "target"
    inf = infer_spec(_frame("load_diabetes", "progression"), name="m")
    assert inf.spec.target is None
    assert "progression" in inf.spec.feature_names
    assert any("--target" in n for n in inf.notes), inf.notes


def test_no_prediction_and_no_label_name_lists_the_candidates() -> None:
    inf = infer_spec(_frame("load_breast_cancer", "malignant", pred=None), name="m")
    assert inf.spec.target is None
    (note,) = [n for n in inf.notes if n.startswith("No target column")]
    assert "'malignant'" in note and "--target" in note


def test_two_columns_agreeing_alike_are_ambiguous_and_the_given_one_wins() -> None:
    t = _frame("load_breast_cancer", "malignant")
    t = t.append_column("relapse", t.column("malignant"))  # a copy agrees just as well
    inf = infer_spec(t, name="m")
    assert inf.spec.target is None
    (note,) = [n for n in inf.notes if n.startswith("No target column")]
    assert "'malignant'" in note and "'relapse'" in note
    assert infer_spec(t, name="m", target="relapse").spec.target == "relapse"


def test_a_label_like_prediction_name_is_never_the_target() -> None:
    t = _frame("load_breast_cancer", "malignant").rename_columns(
        [*_frame("load_breast_cancer", "malignant").column_names[:-1], "predicted_label"]
    )
    inf = infer_spec(t, name="m", prediction="predicted_label")
    assert inf.spec.target == "malignant"
