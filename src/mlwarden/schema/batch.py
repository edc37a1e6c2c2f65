"""Validate a batch of events (JSON rows or an Arrow table) into the canonical layout.

The canonical layout is one Arrow table, one column per field and per feature
(see :func:`canonical_schema`). Validation is per row: a bad row is reported
with its index, field and reason and left out; good rows are never lost
because of a bad neighbour. Unknown feature names are schema evolution: they
become new features, their kind inferred from the first value seen.

JSON rows are checked in one tight pass (no pydantic object per row); Arrow
columns are cast whole and only a column whose cast fails is inspected value
by value.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.errors import FieldError, ValidationError
from mlwarden.schema.limits import (
    EARLIEST_EVENT_TIME,
    EARLIEST_VALUE_TIME,
    LATEST_TIME,
    MAX_MAGNITUDE,
    Limits,
    time_problem,
)
from mlwarden.schema.spec import Feature, FeatureKind, ModelSpec, Task, _label

__all__ = [
    "ACTUAL_SCHEMA",
    "BatchResult",
    "Rejection",
    "canonical_schema",
    "feature_type",
    "kind_from_arrow",
    "validate_actual_rows",
    "validate_actuals_table",
    "validate_rows",
    "validate_table",
]

MAX_ID = 128
#: Embeddings are stored as float32: a larger value would become inf.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
TS = pa.timestamp("us", tz="UTC")
EVENT_FIELDS = (
    "event_id",
    "timestamp",
    "version",
    "features",
    "prediction",
    "score",
    "scores",
    "segments",
    "latency_ms",
    "status",
    "error",
    "client_id",
)
ACTUAL_SCHEMA = pa.schema(
    [("event_id", pa.string()), ("actual", pa.string()), ("actual_value", pa.float64()), ("ts", TS)]
)


@dataclass(frozen=True)
class Rejection:
    """One rejected row: its index in the request, the field at fault and why."""

    index: int
    field: str
    reason: str
    row: Any = None


@dataclass
class BatchResult:
    """The good rows in canonical layout, the rejected rows, and features first seen here."""

    table: pa.Table
    rejected: list[Rejection] = field(default_factory=list)
    new_features: list[Feature] = field(default_factory=list)
    #: Some rows had no timestamp and were stamped with the time they arrived.
    stamped: bool = False
    #: Rows rejected beyond those in ``rejected`` (only counted, under :class:`Limits`).
    unlisted: int = 0

    @property
    def rejected_count(self) -> int:
        return len(self.rejected) + self.unlisted


def feature_type(f: Feature) -> pa.DataType:
    """Arrow type a feature is stored as."""
    match f.kind:
        case FeatureKind.NUMERIC:
            return pa.float64()
        case FeatureKind.BOOLEAN:
            return pa.bool_()
        case FeatureKind.EMBEDDING:
            return pa.list_(pa.float32())
        case FeatureKind.TIMESTAMP:
            return TS
        case _:
            return pa.string()


def prediction_type(spec: ModelSpec) -> pa.DataType:
    return pa.float64() if spec.task is Task.REGRESSION else pa.string()


def score_column(label: str) -> str:
    """Column holding a multiclass model's score for ``label``."""
    return f"score__{label}"


def canonical_schema(spec: ModelSpec) -> pa.Schema:
    """The Arrow schema of a model's stored events.

    Examples
    --------
    >>> spec = ModelSpec(name="m", task="binary", features=[Feature(name="x", kind="numeric")])
    >>> canonical_schema(spec).names[:4]
    ['event_id', 'version', 'ts', 'prediction']
    """
    cols: list[tuple[str, pa.DataType]] = [
        ("event_id", pa.string()),
        ("version", pa.string()),
        ("ts", TS),
        ("prediction", prediction_type(spec)),
        ("score", pa.float64()),
        *[(score_column(c), pa.float64()) for c in _score_labels(spec)],
        ("latency_ms", pa.float64()),
        ("status", pa.string()),
        ("error", pa.string()),
        ("client_id", pa.string()),
        *[(f.name, feature_type(f)) for f in spec.features],
        *[(t, pa.string()) for t in spec.tag_columns],
    ]
    return pa.schema(cols)


def _score_labels(spec: ModelSpec) -> tuple[str, ...]:
    return spec.classes if spec.task is Task.MULTICLASS else ()


# -- value converters: return the converted value or raise _Bad(reason) -------------------------


class _Bad(Exception):
    pass


def _number(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _Bad(f"must be a number or null. Got {_show(v)} instead.")
    try:
        x = float(v)
    except OverflowError:  # an integer beyond float64 (JSON parsed by the standard library)
        x = math.inf if v > 0 else -math.inf
    if not abs(x) <= MAX_MAGNITUDE:
        raise _Bad(
            f"must be a finite number of magnitude at most {MAX_MAGNITUDE:g}. "
            f"Got {_show(v)} instead."
        )
    return x


def _category(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str | int | bool) or (isinstance(v, float) and math.isfinite(v)):
        return _label(v)
    raise _Bad(f"must be a string, number or boolean. Got {_show(v)} instead.")


def _boolean(v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int | float) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    raise _Bad(f"must be true, false, 0, 1 or null. Got {_show(v)} instead.")


def _text(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    raise _Bad(f"must be a string or null. Got {_show(v)} instead.")


def _timestamp(v: Any) -> datetime | None:
    """A timestamp feature's value: a time from 1800 up to 2200."""
    return _in_range(_any_time(v), EARLIEST_VALUE_TIME)


def _event_time(v: Any) -> datetime | None:
    """An event's, actual's or span's time: from 1970 up to 2200."""
    return _in_range(_any_time(v), EARLIEST_EVENT_TIME)


def _in_range(t: datetime | None, earliest: datetime) -> datetime | None:
    if t is not None and (problem := time_problem(t, earliest=earliest)) is not None:
        raise _Bad(problem)
    return t


def _any_time(v: Any) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        secs = v / 1000.0 if abs(v) > 1e11 else float(v)
        try:
            return datetime.fromtimestamp(secs, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise _Bad(f"must be a valid epoch time. Got {_show(v)} instead.") from None
    if isinstance(v, str):
        try:
            d = datetime.fromisoformat(v)
        except ValueError:
            raise _Bad(
                f"must be an ISO 8601 time or epoch seconds. Got {_show(v)} instead."
            ) from None
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    raise _Bad(f"must be an ISO 8601 time or epoch seconds. Got {_show(v)} instead.")


def _embedding(dim: int | None) -> Callable[[Any], list[float] | None]:
    def conv(v: Any) -> list[float] | None:
        if v is None:
            return None
        if not isinstance(v, list | tuple) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in v
        ):
            raise _Bad(f"must be a list of numbers. Got {_show(v)} instead.")
        if dim is not None and len(v) != dim:
            raise _Bad(f"must have {dim} values. Got {len(v)} instead.")
        try:
            out = [float(x) for x in v]
        except OverflowError:
            out = [math.inf]
        if not all(abs(x) <= _FLOAT32_MAX for x in out):  # stored as float32: no inf, no NaN
            raise _Bad(
                f"must hold finite numbers of magnitude at most {_FLOAT32_MAX:.4g}. "
                f"Got {_show(v)} instead."
            )
        return out

    return conv


def _identifier(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise _Bad(f"must be a string or integer. Got {_show(v)} instead.")
    s = str(v)
    if not s or len(s) > MAX_ID:
        raise _Bad(f"must be 1-{MAX_ID} characters. Got {len(s)} characters instead.")
    return s


def _show(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def converter(f: Feature) -> Callable[[Any], Any]:
    match f.kind:
        case FeatureKind.NUMERIC:
            return _number
        case FeatureKind.CATEGORICAL:
            return _category
        case FeatureKind.BOOLEAN:
            return _boolean
        case FeatureKind.TEXT:
            return _text
        case FeatureKind.TIMESTAMP:
            return _timestamp
        case FeatureKind.EMBEDDING:
            return _embedding(f.dim)
    raise AssertionError(f.kind)  # pragma: no cover


def kind_of_value(v: Any) -> FeatureKind | None:
    """Kind of a feature first seen in an event, from its value (None: cannot tell yet)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return FeatureKind.BOOLEAN
    if isinstance(v, int | float):
        return FeatureKind.NUMERIC
    if isinstance(v, list | tuple):
        return FeatureKind.EMBEDDING
    return FeatureKind.CATEGORICAL


# -- JSON rows ----------------------------------------------------------------------------------


def validate_rows(
    spec: ModelSpec,
    rows: Sequence[Any],
    *,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> BatchResult:
    """Validate JSON event objects into the canonical layout.

    With ``limits``, a request that brings more new feature names than they allow, or whose
    table would hold more cells than they allow, is refused whole (:class:`ValidationError`).

    Examples
    --------
    >>> spec = ModelSpec(name="m", task="binary", classes=[0, 1],
    ...                  features=[Feature(name="x", kind="numeric")])
    >>> r = validate_rows(spec, [{"event_id": "a", "features": {"x": 1.5}, "prediction": 1},
    ...                          {"event_id": "b", "features": {"x": "oops"}, "prediction": 0}])
    >>> r.table.num_rows, [(x.index, x.field) for x in r.rejected]
    (1, [(1, 'features.x')])
    """
    now = now or datetime.now(UTC)
    features = {f.name: (f, converter(f)) for f in spec.features}
    tags = set(spec.tag_columns)
    classes = set(spec.classes)
    labels = _score_labels(spec)
    regression = spec.task is Task.REGRESSION
    llm = spec.task is Task.LLM
    new_features: dict[str, Feature] = {}
    room = limits.room(spec.column_count) if limits is not None else None
    listed = limits.max_listed_rejections if limits is not None else len(rows)
    if limits is not None:  # every row would be one of the table (rejected ones only counted)
        limits.check_cells(model=spec.name, rows=len(rows), columns=len(canonical_schema(spec)))
    unlisted = 0

    # sparse while reading: (row positions, values) of each column, so a column seen once
    # does not cost a slot in every row
    cols: dict[str, tuple[list[int], list[Any]]] = {}
    rejected: list[Rejection] = []
    stamped = [False]
    n = 0
    for i, row in enumerate(rows):
        try:
            out = _check_row(
                row,
                features,
                tags,
                classes,
                labels,
                regression,
                llm,
                new_features,
                now,
                stamped,
                room,
            )
        except _RowError as e:
            if len(rejected) < listed:
                rejected.append(Rejection(i, e.field, e.reason, row))
            else:
                unlisted += 1
            continue
        except _TooMany:
            assert limits is not None
            limits.check_new(
                model=spec.name, have=spec.column_count, new=_new_names(rows, features, tags)
            )
            raise AssertionError("check_new refuses what room refused") from None
        for name, value in out.items():
            if value is not None:
                where, values = cols.setdefault(name, ([], []))
                where.append(n)
                values.append(value)
        n += 1

    evolved = spec.with_features(list(new_features.values())) if new_features else spec
    schema = canonical_schema(evolved)
    if limits is not None:
        limits.check_cells(model=spec.name, rows=n, columns=len(schema))
    arrays = []
    for f in schema:
        where, values = cols.get(f.name, ([], []))
        if len(values) == n:
            arrays.append(pa.array(values, type=f.type))
            continue
        dense: list[Any] = [None] * n
        for k, v in zip(where, values, strict=True):
            dense[k] = v
        arrays.append(pa.array(dense, type=f.type))
    table = pa.Table.from_arrays(arrays, schema=schema)
    return BatchResult(table, rejected, list(new_features.values()), stamped[0], unlisted)


class _TooMany(Exception):
    """A row brought a new feature name beyond what the limits allow."""


def _new_names(rows: Sequence[Any], features: Mapping[str, Any], tags: set[str]) -> int:
    """How many distinct new feature names (with a value) the rows bring (one linear pass)."""
    names: set[str] = set()
    for row in rows:
        feats = row.get("features") if isinstance(row, dict) else None
        if isinstance(feats, dict):
            names.update(
                k for k, v in feats.items() if v is not None and k not in features and k not in tags
            )
    return len(names)


class _RowError(Exception):
    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason


def _check_row(
    row: Any,
    features: dict[str, tuple[Feature, Callable[[Any], Any]]],
    tags: set[str],
    classes: set[str],
    labels: tuple[str, ...],
    regression: bool,
    llm: bool,
    new_features: dict[str, Feature],
    now: datetime,
    stamped: list[bool],
    room: int | None,
) -> dict[str, Any]:
    if not isinstance(row, dict):
        raise _RowError("", f"Each event must be a JSON object. Got {_show(row)} instead.")
    unknown = [k for k in row if k not in EVENT_FIELDS]
    if unknown:
        raise _RowError(
            unknown[0],
            f"The {unknown[0]!r} field is not an event field; expected one of "
            f"{', '.join(EVENT_FIELDS)}.",
        )
    out: dict[str, Any] = {}
    try:
        eid = _identifier(row.get("event_id"))
    except _Bad as e:
        raise _RowError("event_id", f"The 'event_id' {e}") from None
    out["event_id"] = eid if eid is not None else uuid.uuid4().hex
    try:
        version = _identifier(row.get("version"))
    except _Bad as e:
        raise _RowError("version", f"The 'version' {e}") from None
    out["version"] = version if version is not None else "default"
    try:
        ts = _event_time(row.get("timestamp"))
    except _Bad as e:
        raise _RowError("timestamp", f"The 'timestamp' {e}") from None
    if ts is None:
        stamped[0] = True
    out["ts"] = ts if ts is not None else now

    pred = row.get("prediction")
    if pred is None and not llm:
        raise _RowError("prediction", "The 'prediction' field is required for this model.")
    try:
        if regression:
            out["prediction"] = _number(pred)
        else:
            out["prediction"] = _category(pred)
    except _Bad as e:
        raise _RowError("prediction", f"The 'prediction' {e}") from None
    if classes and out["prediction"] is not None and out["prediction"] not in classes:
        raise _RowError(
            "prediction",
            f"The 'prediction' must be one of the model's classes {sorted(classes)}. "
            f"Got {_show(pred)} instead.",
        )
    try:
        score = _number(row.get("score"))
    except _Bad as e:
        raise _RowError("score", f"The 'score' {e}") from None
    if score is not None and not regression and not 0.0 <= score <= 1.0:
        raise _RowError(
            "score", f"The 'score' must be a probability in [0, 1]. Got {score!r} instead."
        )
    out["score"] = score
    scores = row.get("scores")
    if scores is not None:
        if not isinstance(scores, dict):
            raise _RowError(
                "scores",
                f"The 'scores' must be an object of class: score. Got {_show(scores)} instead.",
            )
        for k, v in scores.items():
            key = _label(k)
            if labels and key not in labels:
                raise _RowError(
                    f"scores.{k}",
                    f"The class {key!r} is not one of the model's classes {list(labels)}.",
                )
            try:
                x = _number(v)
            except _Bad as e:
                raise _RowError(f"scores.{k}", f"The score {e}") from None
            if x is not None and not 0.0 <= x <= 1.0:
                raise _RowError(
                    f"scores.{k}", f"The score must be a probability in [0, 1]. Got {x!r} instead."
                )
            out[score_column(key)] = x
    try:
        out["latency_ms"] = _number(row.get("latency_ms"))
    except _Bad as e:
        raise _RowError("latency_ms", f"The 'latency_ms' {e}") from None
    if out["latency_ms"] is not None and out["latency_ms"] < 0:
        raise _RowError(
            "latency_ms", f"The 'latency_ms' must be >= 0. Got {out['latency_ms']!r} instead."
        )
    for name in ("status", "error", "client_id"):
        try:
            out[name] = _text(row.get(name))
        except _Bad as e:
            raise _RowError(name, f"The {name!r} {e}") from None

    feats = row.get("features")
    if feats is None:
        feats = {}
    if not isinstance(feats, dict):
        raise _RowError(
            "features",
            f"The 'features' must be an object of name: value. Got {_show(feats)} instead.",
        )
    for name, value in feats.items():
        known = features.get(name) or (
            (new_features[name], converter(new_features[name])) if name in new_features else None
        )
        if known is None:
            if name in tags:
                known_tag = True
            else:
                known_tag = False
                kind = kind_of_value(value)
                if kind is None:
                    continue  # a new feature seen only as null: nothing to learn yet
                if room is not None and len(new_features) >= room:
                    raise _TooMany
                try:
                    feat = Feature(
                        name=name,
                        kind=kind,
                        dim=len(value) if kind is FeatureKind.EMBEDDING else None,
                    )
                except ValueError as e:
                    raise _RowError(
                        f"features.{name}", f"The feature name is not valid: {e}"
                    ) from None
                new_features[name] = feat
                known = (feat, converter(feat))
            if known_tag:
                try:
                    out[name] = _category(value)
                except _Bad as e:
                    raise _RowError(f"features.{name}", f"The value of {name!r} {e}") from None
                continue
        assert known is not None
        try:
            out[name] = known[1](value)
        except _Bad as e:
            raise _RowError(
                f"features.{name}", f"The value of {known[0].kind.value} feature {name!r} {e}"
            ) from None

    segs = row.get("segments")
    if segs is not None:
        if not isinstance(segs, dict):
            raise _RowError(
                "segments",
                f"The 'segments' must be an object of name: value. Got {_show(segs)} instead.",
            )
        for name, value in segs.items():
            if name not in tags and name not in features:
                raise _RowError(
                    f"segments.{name}",
                    f"The segment {name!r} is not declared; the model's segments are "
                    f"{sorted(tags | (set(features) & set()))} (declare it in the model spec).",
                )
            try:
                out[name] = _category(value) if name in tags else features[name][1](value)
            except _Bad as e:
                raise _RowError(f"segments.{name}", f"The value of segment {name!r} {e}") from None
    return out


# -- Arrow tables -------------------------------------------------------------------------------


def validate_table(
    spec: ModelSpec,
    table: pa.Table,
    *,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> BatchResult:
    """Validate a flat Arrow table (one column per event field, feature and segment).

    Columns are named like the JSON fields; features and segments by their own
    names; multiclass scores as ``score__<class>``. Unknown columns become new
    features (schema evolution). A table with a repeated column name, or (with ``limits``)
    more new columns or cells than they allow, is refused whole (:class:`ValidationError`).
    """
    now = now or datetime.now(UTC)
    n = table.num_rows
    check_unique_columns(table.column_names)
    present = set(table.column_names)
    keep = limits.max_listed_rejections if limits is not None else n
    bad = _Rejections(n, keep)
    new_features: list[Feature] = []
    spec_now = spec
    feature_names = set(spec.feature_names)
    tags = set(spec.tag_columns)
    reserved_cols = {
        "event_id",
        "timestamp",
        "version",
        "prediction",
        "score",
        "latency_ms",
        "status",
        "error",
        "client_id",
    }
    unknown = [
        name
        for name in table.column_names
        if not (
            name in reserved_cols
            or name in feature_names
            or name in tags
            or name.startswith("score__")
        )
    ]
    if limits is not None:
        limits.check_new(model=spec.name, have=spec.column_count, new=len(unknown))
    for name in unknown:
        col = table.column(name)
        kind = kind_from_arrow(col.type)
        if kind is None:
            if n:
                bad.add(
                    0, name, f"The column {name!r} has type {col.type} which is not a feature type."
                )
            continue
        try:
            feat = Feature(name=name, kind=kind)
        except ValueError as e:
            reason = f"The column name is not valid: {e}"
            return BatchResult(
                pa.Table.from_pylist([], schema=canonical_schema(spec)),
                [Rejection(i, name, reason) for i in range(min(n, keep))],
                unlisted=max(0, n - keep),
            )
        new_features.append(feat)
    if new_features:
        spec_now = spec.with_features(new_features)
    schema = canonical_schema(spec_now)
    if limits is not None:
        limits.check_cells(model=spec.name, rows=n, columns=len(schema))

    out: dict[str, pa.ChunkedArray | pa.Array] = {}

    def cast(src: str, dst: str, typ: pa.DataType, conv: Callable[[Any], Any], label: str) -> None:
        if src not in present:
            out[dst] = pa.nulls(n, typ)
            return
        col = table.column(src)
        if pa.types.is_timestamp(typ) and (
            pa.types.is_timestamp(col.type) or pa.types.is_date(col.type)
        ):
            earliest = EARLIEST_EVENT_TIME if conv is _event_time else EARLIEST_VALUE_TIME
            out[dst] = _times(col, earliest, label, bad)
            return
        try:
            if pa.types.is_timestamp(typ) and (
                pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
            ):
                raise pa.ArrowInvalid("epoch numbers go through the converter")
            textual = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
            if textual and (pa.types.is_floating(typ) or pa.types.is_boolean(typ)):
                raise pa.ArrowInvalid("numbers and booleans as text are checked as in JSON")
            if (
                pa.types.is_string(typ)
                and conv is _category
                and not (
                    pa.types.is_string(col.type)
                    or pa.types.is_large_string(col.type)
                    or pa.types.is_dictionary(col.type)
                )
            ):
                labels = _labels(col)
                if labels is None:
                    raise pa.ArrowInvalid("labels go through the converter for canonical form")
                out[dst] = labels
                return
            out[dst] = pc.cast(col, typ)
            if pa.types.is_floating(typ):
                big = pc.greater(pc.abs(out[dst]), MAX_MAGNITUDE)  # inf too; NaN is false
                nonfinite = pc.or_(pc.is_nan(out[dst]), big)
                if pc.any(nonfinite).as_py():
                    raise pa.ArrowInvalid("non-finite or too large values")
            return
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass
        values = col.to_pylist()
        conv_values: list[Any] = []
        for i, v in enumerate(values):
            try:
                if isinstance(v, float) and math.isnan(v) and conv is not _number:
                    v = None
                if isinstance(v, float) and math.isnan(v):
                    conv_values.append(None)
                    continue
                conv_values.append(conv(v))
            except _Bad as e:
                bad.add(i, label, f"The {label!r} {e}")
                conv_values.append(None)
        out[dst] = pa.array(conv_values, type=typ)

    cast("event_id", "event_id", pa.string(), _identifier, "event_id")
    cast("version", "version", pa.string(), _identifier, "version")
    cast("timestamp", "ts", TS, _event_time, "timestamp")
    regression = spec.task is Task.REGRESSION
    cast(
        "prediction",
        "prediction",
        prediction_type(spec),
        _number if regression else _category,
        "prediction",
    )
    cast("score", "score", pa.float64(), _number, "score")
    for label in _score_labels(spec_now):
        cast(score_column(label), score_column(label), pa.float64(), _number, score_column(label))
    cast("latency_ms", "latency_ms", pa.float64(), _number, "latency_ms")
    for name in ("status", "error", "client_id"):
        cast(name, name, pa.string(), _text, name)
    for f in spec_now.features:
        cast(f.name, f.name, feature_type(f), converter(f), f"features.{f.name}")
    for t in spec_now.tag_columns:
        cast(t, t, pa.string(), _category, f"segments.{t}")

    # defaults and row-level rules
    eid = out["event_id"]
    if pc.any(pc.is_null(eid)).as_py():
        out["event_id"] = pc.coalesce(eid, _random_ids(n))
    out["version"] = pc.fill_null(out["version"], "default")
    stamped = bool(pc.any(pc.is_null(out["ts"])).as_py())
    out["ts"] = pc.fill_null(out["ts"], pa.scalar(now, TS))
    if spec.task is not Task.LLM:
        required = "The 'prediction' field is required for this model."
        bad.add_all(pc.is_null(out["prediction"]), "prediction", lambda i: required)
    if spec.classes and spec.task.is_classification:
        ok = pc.or_kleene(
            pc.is_in(out["prediction"], value_set=pa.array(list(spec.classes))),
            pc.is_null(out["prediction"]),
        )
        one_of = f"The 'prediction' must be one of the model's classes {sorted(spec.classes)}."
        bad.add_all(pc.invert(ok), "prediction", lambda i: one_of)
    if not regression:
        s = out["score"]
        outside = pc.or_(pc.less(s, 0.0), pc.greater(s, 1.0))
        probability = "The 'score' must be a probability in [0, 1]."
        bad.add_all(outside, "score", lambda i: probability)
    negative = "The 'latency_ms' must be >= 0."
    bad.add_all(pc.less(out["latency_ms"], 0.0), "latency_ms", lambda i: negative)

    # chunked as they came: combining every column would copy the whole batch once more
    result = pa.Table.from_arrays([out[name] for name in schema.names], schema=schema)
    if bad.count:
        result = result.filter(pa.array(~bad.mask))
    listed = sorted(bad.listed.values(), key=lambda r: r.index)
    return BatchResult(result, listed, new_features, stamped, unlisted=bad.count - len(listed))


def _random_ids(n: int) -> pa.Array:
    """``n`` random 128-bit ids as 32 hex digits (uuid4().hex per row took seconds at 2M rows)."""
    digits = os.urandom(16 * n).hex()
    return pa.array([digits[i : i + 32] for i in range(0, 32 * n, 32)], pa.string())


class _Rejections:
    """The rejected rows of a table: a mask of all of them, and the reasons of the first
    ``keep`` marked (a reason object per row of a 2M-row table took seconds and 300 MB).
    A row keeps the first reason it was marked with."""

    def __init__(self, n: int, keep: int) -> None:
        self.mask = np.zeros(n, dtype=bool)
        self.listed: dict[int, Rejection] = {}
        self.keep = keep

    @property
    def count(self) -> int:
        return int(self.mask.sum())

    def add(self, i: int, field: str, reason: str) -> None:
        if not self.mask[i]:
            self.mask[i] = True
            if len(self.listed) < self.keep:
                self.listed[i] = Rejection(i, field, reason)

    def add_all(
        self, where: pa.ChunkedArray | pa.Array, field: str, reason: Callable[[int], str]
    ) -> None:
        """Mark the rows where ``where`` is true (null: false); ``reason(i)`` words row i."""
        hit = _combine(pc.fill_null(where, False)).to_numpy(zero_copy_only=False)
        new = hit & ~self.mask
        room = self.keep - len(self.listed)
        if room > 0 and new.any():
            for i in np.flatnonzero(new)[:room].tolist():
                self.listed[i] = Rejection(i, field, reason(i))
        self.mask |= hit


def check_unique_columns(names: Sequence[str]) -> None:
    """Refuse a table whose columns repeat a name (which of them would be the value?)."""
    seen: set[str] = set()
    repeated: set[str] = set()
    for name in names:
        (repeated if name in seen else seen).add(name)
    dupes = sorted(repeated)
    if dupes:
        raise ValidationError(
            f"The column names of an Arrow table must be unique. Got {dupes[:10]} more than once.",
            [FieldError(name, "the column name appears more than once") for name in dupes[:10]],
        )


def _times(
    col: pa.ChunkedArray, earliest: datetime, label: str, bad: _Rejections
) -> pa.ChunkedArray:
    """A timestamp or date column as UTC microseconds; rows outside [earliest, 2200) go to
    ``bad``. Compared in the column's own unit, so a year the target type cannot hold
    (timestamp[s] in year 300,000) is a rejected row, not an overflow."""
    if pa.types.is_date(col.type):  # days or ms since the epoch: as seconds, never overflows
        col = pc.cast(col, pa.timestamp("s" if pa.types.is_date32(col.type) else "ms"))
    unit = col.type.unit
    per_s = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    lo, hi = (int(t.timestamp()) * per_s for t in (earliest, LATEST_TIME))
    raw = pc.cast(col, pa.int64())
    outside = pc.fill_null(pc.or_(pc.less(raw, lo), pc.greater_equal(raw, hi)), False)
    if not pc.any(outside).as_py():  # in range: microseconds hold it (safe=False only
        return pc.cast(col, TS, safe=False)  # truncates nanoseconds)
    values = raw.to_numpy(zero_copy_only=False)
    bad.add_all(
        outside,
        label,
        lambda i: (
            f"The {label!r} must be from {earliest.date()} up to (not including) "
            f"{LATEST_TIME.date()} UTC. Got {int(values[i])} {unit} since 1970-01-01 instead."
        ),
    )
    kept = pc.if_else(outside, pa.scalar(None, raw.type), raw)
    return pc.cast(pc.cast(kept, pa.timestamp(unit, tz=col.type.tz)), TS, safe=False)


def _labels(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """Canonical class labels of a numeric or boolean column, vectorised (as :func:`_label`)."""
    t = col.type
    if pa.types.is_integer(t):
        return pc.cast(col, pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(col, "1", "0")
    if pa.types.is_floating(t):
        valid = col.drop_null()
        if len(valid) and not pc.all(pc.is_finite(valid)).as_py():
            return None
        if pc.all(pc.equal(valid, pc.floor(valid))).as_py() in (True, None):
            return pc.cast(pc.cast(col, pa.int64()), pa.string())
    return None


def _combine(a: pa.ChunkedArray | pa.Array) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def kind_from_arrow(t: pa.DataType) -> FeatureKind | None:
    if pa.types.is_boolean(t):
        return FeatureKind.BOOLEAN
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return FeatureKind.NUMERIC
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
        return FeatureKind.CATEGORICAL
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return FeatureKind.TIMESTAMP
    if pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t):
        return FeatureKind.EMBEDDING
    return None


# -- actuals ------------------------------------------------------------------------------------


def validate_actual_rows(
    spec: ModelSpec,
    rows: Sequence[Any],
    *,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> BatchResult:
    """Validate ``{"event_id": ..., "actual": ..., "timestamp": ...}`` objects."""
    now = now or datetime.now(UTC)
    listed = limits.max_listed_rejections if limits is not None else len(rows)
    unlisted = 0
    regression = spec.task is Task.REGRESSION
    eids: list[str] = []
    labels: list[str | None] = []
    values: list[float | None] = []
    tss: list[datetime] = []
    rejected: list[Rejection] = []
    for i, row in enumerate(rows):
        try:
            if not isinstance(row, dict):
                raise _RowError("", f"Each actual must be a JSON object. Got {_show(row)} instead.")
            extra = [k for k in row if k not in ("event_id", "actual", "timestamp")]
            if extra:
                raise _RowError(
                    extra[0],
                    f"The {extra[0]!r} field is not an actual field; expected event_id, actual, timestamp.",
                )
            if row.get("event_id") is None:
                raise _RowError("event_id", "The 'event_id' field is required.")
            try:
                eid = _identifier(row["event_id"])
            except _Bad as e:
                raise _RowError("event_id", f"The 'event_id' {e}") from None
            if "actual" not in row or row["actual"] is None:
                raise _RowError("actual", "The 'actual' field is required.")
            a = row["actual"]
            try:
                label, value = _actual(a, regression, spec)
            except _Bad as e:
                raise _RowError("actual", f"The value {e}") from None
            try:
                ts = _event_time(row.get("timestamp"))
            except _Bad as e:
                raise _RowError("timestamp", f"The 'timestamp' {e}") from None
        except _RowError as e:
            if len(rejected) < listed:
                rejected.append(Rejection(i, e.field, e.reason, row))
            else:
                unlisted += 1
            continue
        assert eid is not None
        eids.append(eid)
        labels.append(label)
        values.append(value)
        tss.append(ts or now)
    table = pa.Table.from_pydict(
        {"event_id": eids, "actual": labels, "actual_value": values, "ts": tss},
        schema=ACTUAL_SCHEMA,
    )
    return BatchResult(table, rejected, unlisted=unlisted)


def _actual(a: Any, regression: bool, spec: ModelSpec) -> tuple[str | None, float | None]:
    if regression:
        x = _number(a)
        return None, x
    label = _category(a)
    if spec.classes and label not in spec.classes:
        raise _Bad(
            f"must be one of the model's classes {sorted(spec.classes)}. Got {_show(a)} instead."
        )
    return label, None


def validate_actuals_table(
    spec: ModelSpec,
    table: pa.Table,
    *,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> BatchResult:
    """Validate an Arrow table of actuals (columns event_id, actual, optional timestamp).

    Columns are checked whole; only a table with a value that is not plainly valid goes row
    by row (:func:`validate_actual_rows`, which words each rejection).
    """
    fast = _actuals_columns(spec, table, now or datetime.now(UTC))
    if fast is not None:
        return BatchResult(fast)
    return validate_actual_rows(spec, table.to_pylist(), now=now, limits=limits)


def _actuals_columns(spec: ModelSpec, table: pa.Table, now: datetime) -> pa.Table | None:
    """The canonical actuals table when every row is valid as it stands, else None."""
    if set(table.column_names) - {"event_id", "actual"} or table.num_rows == 0:
        return None  # a timestamp (any of its forms) or unknown fields: the row path
    eid, actual = table.column("event_id"), table.column("actual")
    if not (pa.types.is_string(eid.type) or pa.types.is_integer(eid.type)) or eid.null_count:
        return None
    ids = pc.cast(eid, pa.string())
    lengths = pc.utf8_length(ids)
    if pc.min(lengths).as_py() < 1 or pc.max(lengths).as_py() > MAX_ID or actual.null_count:
        return None
    n = table.num_rows
    if spec.task is Task.REGRESSION:
        if not (pa.types.is_integer(actual.type) or pa.types.is_floating(actual.type)):
            return None
        values = pc.cast(actual, pa.float64())
        if not pc.all(pc.less_equal(pc.abs(values), MAX_MAGNITUDE)).as_py():
            return None
        labels: Any = pa.nulls(n, pa.string())
    else:
        if pa.types.is_string(actual.type):
            labels = actual
        else:
            labels = _labels(actual)
            if labels is None:
                return None
        if spec.classes and not pc.all(pc.is_in(labels, value_set=pa.array(spec.classes))).as_py():
            return None
        values = pa.nulls(n, pa.float64())
    ts = pa.repeat(pa.scalar(now, TS), n)
    return pa.Table.from_arrays(
        [_combine(ids), _combine(labels), _combine(values), ts], schema=ACTUAL_SCHEMA
    )
