"""The model spec: what a model's events look like.

A spec names the model, its task, its features (each with a kind), where the
prediction, score and target live in reference data, and which columns are
segments or sensitive attributes. Specs are immutable, JSON round-trip, and
validated with messages that name the field, the value and what was expected.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

__all__ = [
    "RESERVED_FIELDS",
    "Feature",
    "FeatureKind",
    "ModelSpec",
    "Task",
    "check_name",
]

#: A class label as requests may send it (it is stored as its canonical string).
_LABEL_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]
}
_LABELS_SCHEMA: dict[str, Any] = {"type": "array", "items": _LABEL_SCHEMA}
_LABEL_OR_NULL_SCHEMA: dict[str, Any] = {"anyOf": [*_LABEL_SCHEMA["anyOf"], {"type": "null"}]}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
#: Column names as data frames have them ("age (years)", "income/month", "# visits", "Größe"):
#: 1-128 characters, not starting or ending with a space, without control characters, quotes,
#: backslash, or the separators of monitor and segment names ('=', ':', ',').
COLUMN_RE = re.compile(
    r"^[^\x00-\x20\x7f-\x9f\"'\\=:,](?:[^\x00-\x1f\x7f-\x9f\"'\\=:,]{0,126}"
    r"[^\x00-\x20\x7f-\x9f\"'\\=:,])?$"
)

#: Top-level fields of an event; no feature or segment may use these names.
RESERVED_FIELDS: frozenset[str] = frozenset(
    {
        "event_id",
        "timestamp",
        "version",
        "features",
        "segments",
        "prediction",
        "score",
        "scores",
        "latency_ms",
        "status",
        "error",
        "client_id",
        "shadow",
        "received_at",
        "actual",
    }
)

#: A feature, segment or sensitive column name, as the OpenAPI document states it.
_COLUMN_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": COLUMN_RE.pattern,
    "not": {"enum": sorted(RESERVED_FIELDS)},
}
ColumnName = Annotated[str, WithJsonSchema(_COLUMN_SCHEMA)]


class Task(StrEnum):
    """What the model does."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    LLM = "llm"

    @property
    def is_classification(self) -> bool:
        return self in (Task.BINARY, Task.MULTICLASS)


class FeatureKind(StrEnum):
    """How a feature's values are compared (and stored)."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    TEXT = "text"
    EMBEDDING = "embedding"
    TIMESTAMP = "timestamp"


def check_name(value: str, what: str) -> str:
    """Validate a model / version / project name.

    Examples
    --------
    >>> check_name("churn-v2", "model name")
    'churn-v2'
    >>> check_name("bad name!", "model name")
    Traceback (most recent call last):
    ...
    ValueError: The model name must be 1-128 letters, digits, '_', '.', '-', starting with a letter or digit. Got 'bad name!' instead.
    """  # noqa: E501
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ValueError(
            f"The {what} must be 1-128 letters, digits, '_', '.', '-', starting with a letter "
            f"or digit. Got {value!r} instead."
        )
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class Feature(_Frozen):
    """One input column of a model."""

    name: ColumnName
    kind: FeatureKind
    #: Embedding dimension (embedding features only).
    dim: Annotated[int, Field(gt=0)] | None = None
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not COLUMN_RE.match(v):
            raise ValueError(
                "The feature name must be 1-128 characters, not starting or ending with a space, "
                "without control characters, quotes, backslash, '=', ':' or ','. "
                f"Got {v!r} instead."
            )
        if v in RESERVED_FIELDS:
            raise ValueError(
                f"The feature name must not be one of the reserved event fields "
                f"{', '.join(sorted(RESERVED_FIELDS))}. Got {v!r} instead."
            )
        return v

    @model_validator(mode="after")
    def _dim(self) -> Feature:
        if self.dim is not None and self.kind is not FeatureKind.EMBEDDING:
            raise ValueError(f"Feature {self.name!r}: 'dim' applies to embedding features only.")
        return self


class ModelSpec(_Frozen):
    """Everything mlwarden needs to know about a model's data.

    Column names (``prediction``, ``score``, ``target``, ``timestamp``,
    ``event_id``) say where those values live in *reference* data frames;
    in events they are always the fields of the same name.

    Examples
    --------
    >>> spec = ModelSpec(name="churn", task="binary",
    ...                  features=[Feature(name="age", kind="numeric")], classes=["0", "1"])
    >>> ModelSpec.model_validate_json(spec.model_dump_json()) == spec
    True
    """

    # validators word the errors; the schema states the same rules
    name: Annotated[str, WithJsonSchema({"type": "string", "pattern": NAME_RE.pattern})]
    task: Task
    features: tuple[Feature, ...] = ()
    prediction: str | None = "prediction"
    score: str | None = None
    #: Per-class score columns of a multiclass model, in the order of ``classes``.
    scores: tuple[str, ...] = ()
    target: str | None = None
    timestamp: str | None = None
    event_id: str | None = None
    #: Class labels (as strings) of a classifier; empty means "learn from data".
    classes: Annotated[tuple[str, ...], WithJsonSchema(_LABELS_SCHEMA)] = ()
    positive_class: Annotated[str | None, WithJsonSchema(_LABEL_OR_NULL_SCHEMA)] = None
    segments: tuple[ColumnName, ...] = ()
    sensitive: tuple[ColumnName, ...] = ()
    description: str = ""
    #: LLM apps: the OpenTelemetry ``service.name`` whose trace spans are this model's (its LLM
    #: monitors and LLM tab read them); ``None`` means the model's own name.
    service: Annotated[
        str | None,
        WithJsonSchema(
            {"anyOf": [{"type": "string", "minLength": 1, "maxLength": 256}, {"type": "null"}]}
        ),
    ] = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "model name")

    @field_validator("service")
    @classmethod
    def _service(cls, v: str | None) -> str | None:
        if v is not None and not 0 < len(v) <= 256:
            raise ValueError(
                f"The 'service' must be a service.name of 1-256 characters. Got {v!r} instead."
            )
        return v

    @field_validator("classes", mode="before")
    @classmethod
    def _classes(cls, v: Any) -> Any:
        if isinstance(v, list | tuple):
            return tuple(_label(x) for x in v)
        return v

    @field_validator("positive_class", mode="before")
    @classmethod
    def _positive(cls, v: Any) -> Any:
        return None if v is None else _label(v)

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        # one pass: a spec of 20k features took 32 s with names.count() per name
        dupes = sorted(n for n, k in Counter(f.name for f in self.features).items() if k > 1)
        if dupes:
            raise ValueError(f"Feature names must be unique. Got duplicates {dupes} instead.")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"The 'classes' must be unique. Got {list(self.classes)} instead.")
        if self.task is Task.BINARY and self.classes and len(self.classes) != 2:
            raise ValueError(
                f"The 'classes' of a binary model must be two labels. Got {list(self.classes)} instead."
            )
        if (
            self.positive_class is not None
            and self.classes
            and self.positive_class not in self.classes
        ):
            raise ValueError(
                f"The 'positive_class' must be one of {list(self.classes)}. "
                f"Got {self.positive_class!r} instead."
            )
        for group in ("segments", "sensitive"):
            for col in getattr(self, group):
                if col in RESERVED_FIELDS:
                    raise ValueError(
                        f"The {group} column must not be a reserved event field. Got {col!r} instead."
                    )
                if not COLUMN_RE.match(col):
                    raise ValueError(f"The {group} column name is not valid. Got {col!r} instead.")
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy (pydantic's), without the look-ups cached on this spec: they describe its
        fields, which ``update`` may change."""
        copy = super().model_copy(update=update, deep=deep)
        for name in _CACHED:
            copy.__dict__.pop(name, None)
        return copy

    # -- helpers used by ingest and the store -------------------------------------------------

    @property
    def span_service(self) -> str:
        """The ``service.name`` of this model's trace spans (``service``, else the name)."""
        return self.service if self.service is not None else self.name

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @cached_property
    def _by_name(self) -> dict[str, Feature]:
        return {f.name: f for f in self.features}

    def feature(self, name: str) -> Feature | None:
        """The feature called ``name`` (a dict look-up: callers loop over every feature)."""
        return self._by_name.get(name)

    @cached_property
    def tag_columns(self) -> tuple[str, ...]:
        """Segment and sensitive columns that are not features (stored as strings)."""
        feats = set(self.feature_names)
        return tuple(c for c in dict.fromkeys((*self.segments, *self.sensitive)) if c not in feats)

    @property
    def column_count(self) -> int:
        """Columns the model's events have beside the event fields: features, tag columns
        and the per-class scores of a multiclass model (what ``--max-features`` bounds)."""
        scores = len(self.classes) if self.task is Task.MULTICLASS else 0
        return len(self.features) + len(self.tag_columns) + scores

    @property
    def effective_positive_class(self) -> str | None:
        if self.task is not Task.BINARY:
            return None
        if self.positive_class is not None:
            return self.positive_class
        return self.classes[1] if len(self.classes) == 2 else None

    def with_features(self, extra: list[Feature]) -> ModelSpec:
        """A copy with ``extra`` features appended (schema evolution), validated again.

        Not ``model_copy``: that would copy the cached look-ups of this spec into the new one.
        """
        data = self.model_dump()
        data["features"] = [*self.features, *extra]
        return type(self).model_validate(data)


#: The cached_property look-ups of a ModelSpec (derived from its fields).
_CACHED = ("feature_names", "_by_name", "tag_columns")


def _label(v: Any) -> str:
    """Canonical string form of a class label (``1``, ``1.0`` and ``True`` become ``"1"``);
    a label is a string, number or boolean, never a list or mapping."""
    if not isinstance(v, str | int | float | bool):
        raise ValueError(f"A class label must be a string, number or boolean. Got {v!r} instead.")
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
