"""A model's MLflow signature as mlwarden's spec (``integrations/mlflow_model.py``): pure
functions on what the REST API returns; the round trip with a real MLflow is in
tests/integrations/mlflow/."""

from __future__ import annotations

import pyarrow as pa
import pytest

from mlwarden.errors import SchemaError
from mlwarden.integrations.mlflow_model import (
    MlflowModel,
    Signature,
    parse_model_uri,
    pick_dataset,
    spec_of,
)

INPUTS = (
    {"type": "double", "name": "amount", "required": True},
    {"type": "long", "name": "visits", "required": True},
    {"type": "string", "name": "plan", "required": True},
    {"type": "boolean", "name": "promo", "required": True},
    {"type": "binary", "name": "blob", "required": True},
)
TABLE = pa.table(
    {
        "amount": [10.5, 3.2, 8.0, 1.1],
        "visits": [3, 1, 7, 2],
        "plan": ["a", "b", "a", "c"],
        "promo": [True, False, False, True],
        "blob": [b"x", b"y", b"z", b"w"],
        "spend": [120.0, 33.5, 78.25, 11.0],
    }
)


def _model(
    *outputs: dict[str, object], datasets: tuple[dict[str, object], ...] = ()
) -> MlflowModel:
    return MlflowModel(
        ref=parse_model_uri("models:/m/1"),
        signature=Signature(INPUTS, outputs),
        run_id="r1",
        source="models:/m-1",
        datasets=datasets,
    )


def test_inputs_become_features_with_their_kinds() -> None:
    out = {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}
    spec, notes = spec_of(_model(out), TABLE, name="spend")
    assert [(f.name, f.kind.value) for f in spec.features] == [
        ("amount", "numeric"),
        ("visits", "numeric"),
        ("plan", "categorical"),
        ("promo", "boolean"),
    ]
    assert any("'blob' (binary) left out" in n for n in notes)
    # the one column that is no input is the target; a float target and output: regression
    assert (spec.target, spec.task.value) == ("spend", "regression")


def test_without_a_target_the_output_type_decides_the_task() -> None:
    table = TABLE.drop_columns(["spend"])
    spec, notes = spec_of(_model({"type": "long"}), table, name="m")
    assert spec.task.value == "binary" and spec.target is None
    assert "Task: 'binary' (from the signature's long output)." in notes
    spec, _ = spec_of(_model({"type": "double"}), table, name="m")
    assert spec.task.value == "regression"


def test_a_reference_without_the_inputs_is_refused() -> None:
    with pytest.raises(SchemaError, match=r"lacks the signature's input columns \['visits'\]"):
        spec_of(_model({"type": "long"}), TABLE.drop_columns(["visits"]), name="m")


def test_a_scored_dataset_is_preferred_then_training() -> None:
    train = {"context": "training", "predictions": None}
    scored = {"context": "evaluation", "predictions": "pred"}
    other = {"context": "test", "predictions": None}
    assert pick_dataset(_model(datasets=(other, train, scored))) is scored
    assert pick_dataset(_model(datasets=(other, train))) is train
    assert pick_dataset(_model(datasets=({"context": "x", "predictions": None},))) is not None
    assert pick_dataset(_model()) is None
