"""Pydantic models of model specs, events and actuals; batch validation; schema inference."""

from mlwarden.schema.batch import (
    BatchResult,
    Rejection,
    canonical_schema,
    validate_rows,
    validate_table,
)
from mlwarden.schema.event import Actual, Event
from mlwarden.schema.infer import Inference, infer_spec, to_arrow
from mlwarden.schema.spec import Feature, FeatureKind, ModelSpec, Task

__all__ = [
    "Actual",
    "BatchResult",
    "Event",
    "Feature",
    "FeatureKind",
    "Inference",
    "ModelSpec",
    "Rejection",
    "Task",
    "canonical_schema",
    "infer_spec",
    "to_arrow",
    "validate_rows",
    "validate_table",
]
