"""Validate a batch of events (JSON rows or an Arrow table) into the canonical layout.

The canonical layout is one Arrow table, one column per field and per feature
(see :func:`canonical_schema`). Validation is per row: a bad row is reported
with its index, field and reason and left out; good rows are never lost
because of a bad neighbour. Unknown feature names are schema evolution: they
become new features, their kind inferred from the first value seen.

One rule set for both: JSON rows are checked for their shape row by row and
flattened into columns (no pydantic object per row); then JSON columns and Arrow
columns meet the same column rules (:func:`_column_rules`), so one defect reads
the same either way. Arrow columns are cast whole and only a column whose cast
fails is inspected value by value.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

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
    "shadow",
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
        # a shadow prediction (another version's answer to a request the champion served):
        # stored for the champion / challenger comparison, kept out of the model's monitors
        ("shadow", pa.bool_()),
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


@dataclass(frozen=True)
class _Embedding:
    """An embedding feature's converter: a list of ``dim`` finite numbers."""

    dim: int | None

    def __call__(self, v: Any) -> list[float] | None:
        if v is None:
            return None
        if not isinstance(v, list | tuple) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in v
        ):
            raise _Bad(f"must be a list of numbers. Got {_show(v)} instead.")
        if self.dim is not None and len(v) != self.dim:
            raise _Bad(f"must have {self.dim} values. Got {len(v)} instead.")
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
            return _Embedding(f.dim)
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

    Each row's shape is checked (an object of event fields, ``features`` and ``segments``
    objects of name: value, ``scores`` of the model's classes) and flattened into the columns
    of an Arrow table; the values then meet the same column rules as an Arrow table's
    (:func:`validate_table`), with the same messages.

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
    >>> r.rejected[0].reason
    "The 'features.x' must be a number or null. Got 'oops' instead."
    """
    now = now or datetime.now(UTC)
    n = len(rows)
    if limits is not None:  # every row would be one of the table (rejected ones only counted)
        limits.check_cells(model=spec.name, rows=n, columns=len(canonical_schema(spec)))
    bad = _Rejections(n, limits.max_listed_rejections if limits is not None else n)
    shape = _RowShape(spec, limits.room(spec.column_count) if limits is not None else None)
    # sparse while reading: (row positions, values) of each column, so a column seen once
    # does not cost a slot in every row
    cols: dict[str, tuple[list[int], list[Any]]] = {}
    for i, row in enumerate(rows):
        try:
            flat = shape.flatten(row)
        except _RowError as e:
            bad.add(i, e.field, e.reason)
            continue
        except _TooMany:
            assert limits is not None
            limits.check_new(
                model=spec.name,
                have=spec.column_count,
                new=_new_names(rows, shape.features, shape.tags),
            )
            raise AssertionError("check_new refuses what room refused") from None
        for name, value in flat.items():
            if value is not None:
                where, values = cols.setdefault(name, ([], []))
                where.append(i)
                values.append(value)

    new_features = list(shape.new_features.values())
    evolved = spec.with_features(new_features) if new_features else spec
    schema = canonical_schema(evolved)
    if limits is not None:
        limits.check_cells(model=spec.name, rows=n - bad.count, columns=len(schema))
    out: dict[str, pa.ChunkedArray | pa.Array] = {}

    def cast(src: str, dst: str, typ: pa.DataType, conv: Callable[[Any], Any], label: str) -> None:
        where, values = cols.get(src, ([], []))
        out[dst] = _convert(where, values, n, typ, conv, label, bad)

    result = _column_rules(spec, evolved, schema, n, cast, out, bad, now)
    result.rejected = [replace(r, row=rows[r.index]) for r in result.rejected]
    return result


class _TooMany(Exception):
    """A row brought a new feature name beyond what the limits allow."""


def _new_names(rows: Sequence[Any], features: Collection[str], tags: set[str]) -> int:
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


class _RowShape:
    """The shape of JSON event objects, row by row: what is not an object of event fields (or
    whose ``features``, ``segments`` or ``scores`` are not objects of the right names) is
    rejected here; the values are left to the column rules. New feature names are learned
    from their first non-null value."""

    def __init__(self, spec: ModelSpec, room: int | None) -> None:
        self.features = set(spec.feature_names)
        self.tags = set(spec.tag_columns)
        self.labels = _score_labels(spec)
        self.room = room
        self.new_features: dict[str, Feature] = {}

    def flatten(self, row: Any) -> dict[str, Any]:
        """One row as column name -> raw value (the columns of :func:`validate_table`)."""
        if not isinstance(row, dict):
            raise _RowError("", f"Each event must be a JSON object. Got {_show(row)} instead.")
        out: dict[str, Any] = {}
        for k, v in row.items():
            if k in _FLAT_FIELDS:
                out[k] = v
            elif k not in EVENT_FIELDS:
                raise _RowError(
                    k,
                    f"The {k!r} field is not an event field; expected one of "
                    f"{', '.join(EVENT_FIELDS)}.",
                )
        scores = row.get("scores")
        if scores is not None:
            out.update(self._scores(scores))
        feats = row.get("features")
        if feats is not None:
            out.update(self._features(feats))
        segs = row.get("segments")
        if segs is not None:
            out.update(self._segments(segs))
        return out

    def _scores(self, scores: Any) -> dict[str, Any]:
        if not isinstance(scores, dict):
            raise _RowError(
                "scores",
                f"The 'scores' must be an object of class: score. Got {_show(scores)} instead.",
            )
        out = {}
        for k, v in scores.items():
            key = _label(k)
            if self.labels and key not in self.labels:
                raise _RowError(
                    f"scores.{key}",
                    f"The class {key!r} is not one of the model's classes {list(self.labels)}.",
                )
            out[score_column(key)] = v
        return out

    def _features(self, feats: Any) -> dict[str, Any]:
        if not isinstance(feats, dict):
            raise _RowError(
                "features",
                f"The 'features' must be an object of name: value. Got {_show(feats)} instead.",
            )
        for name, value in feats.items():
            if name in self.features or name in self.tags or name in self.new_features:
                continue
            kind = kind_of_value(value)
            if kind is None:
                continue  # a new feature seen only as null: nothing to learn yet
            if self.room is not None and len(self.new_features) >= self.room:
                raise _TooMany
            try:
                feat = Feature(
                    name=name,
                    kind=kind,
                    dim=len(value) if kind is FeatureKind.EMBEDDING else None,
                )
            except ValueError as e:
                raise _RowError(f"features.{name}", f"The feature name is not valid: {e}") from None
            self.new_features[name] = feat
        return feats

    def _segments(self, segs: Any) -> dict[str, Any]:
        if not isinstance(segs, dict):
            raise _RowError(
                "segments",
                f"The 'segments' must be an object of name: value. Got {_show(segs)} instead.",
            )
        for name in segs:
            if name not in self.tags and name not in self.features:
                raise _RowError(
                    f"segments.{name}",
                    f"The segment {name!r} is not declared; the model's segments are "
                    f"{sorted(self.tags)} (declare it in the model spec).",
                )
        return segs


#: Event fields that are one column each (the others are objects of several).
_FLAT_FIELDS = frozenset(EVENT_FIELDS) - {"features", "scores", "segments"}


def _convert(
    where: Sequence[int],
    values: Sequence[Any],
    n: int,
    typ: pa.DataType,
    conv: Callable[[Any], Any],
    label: str,
    bad: _Rejections,
) -> pa.Array:
    """A column of ``n`` rows from the values at rows ``where``, each through ``conv``; a value
    it refuses is a rejection of its row, worded ``The '<label>' <why>``. NaN is a missing
    value (as pandas writes one)."""
    dense: list[Any] = [None] * n
    for i, v in zip(where, values, strict=True):
        try:
            if isinstance(v, float) and v != v:  # NaN
                if conv is _number:
                    continue
                v = None
            dense[i] = conv(v)
        except _Bad as e:
            bad.add(i, label, f"The {label!r} {e}")
    return pa.array(dense, type=typ)


class _Cast(Protocol):
    def __call__(
        self, src: str, dst: str, typ: pa.DataType, conv: Callable[[Any], Any], label: str
    ) -> None: ...


def _column_rules(
    spec: ModelSpec,
    evolved: ModelSpec,
    schema: pa.Schema,
    n: int,
    cast: _Cast,
    out: dict[str, pa.ChunkedArray | pa.Array],
    bad: _Rejections,
    now: datetime,
) -> BatchResult:
    """The rules of the wire contract, on columns: each source column through ``cast`` into
    ``out`` (which rejects the values its converter refuses), then defaults and the rules that
    span a row. One rule set for JSON rows and Arrow tables, so one defect reads the same."""
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
    for label in _score_labels(evolved):
        cast(score_column(label), score_column(label), pa.float64(), _number, f"scores.{label}")
    cast("latency_ms", "latency_ms", pa.float64(), _number, "latency_ms")
    for name in ("status", "error", "client_id"):
        cast(name, name, pa.string(), _text, name)
    cast("shadow", "shadow", pa.bool_(), _boolean, "shadow")
    for f in evolved.features:
        cast(f.name, f.name, feature_type(f), converter(f), f"features.{f.name}")
    for t in evolved.tag_columns:
        cast(t, t, pa.string(), _category, f"segments.{t}")

    # defaults and row-level rules
    eid = out["event_id"]
    if pc.any(pc.is_null(eid)).as_py():
        out["event_id"] = pc.coalesce(eid, _random_ids(n))
    out["version"] = pc.fill_null(out["version"], "default")
    out["shadow"] = pc.fill_null(out["shadow"], False)
    stamped = bool(pc.any(pc.is_null(out["ts"])).as_py())
    out["ts"] = pc.fill_null(out["ts"], pa.scalar(now, TS))
    pred = out["prediction"]
    if spec.task is not Task.LLM:
        required = "The 'prediction' field is required for this model."
        bad.add_all(pc.is_null(pred), "prediction", lambda i: required)
    if spec.classes and spec.task.is_classification:
        ok = pc.or_kleene(pc.is_in(pred, value_set=pa.array(list(spec.classes))), pc.is_null(pred))
        one_of = f"The 'prediction' must be one of the model's classes {sorted(spec.classes)}."
        bad.add_all(pc.invert(ok), "prediction", _got(one_of, pred))
    if not regression:
        for col, label in [
            ("score", "score"),
            *[(score_column(c), f"scores.{c}") for c in _score_labels(evolved)],
        ]:
            s = out[col]
            outside = pc.or_(pc.less(s, 0.0), pc.greater(s, 1.0))
            probability = f"The {label!r} must be a probability in [0, 1]."
            bad.add_all(outside, label, _got(probability, s))
    lat = out["latency_ms"]
    negative = "The 'latency_ms' must be >= 0."
    bad.add_all(pc.less(lat, 0.0), "latency_ms", _got(negative, lat))

    # chunked as they came: combining every column would copy the whole batch once more
    result = pa.Table.from_arrays([out[name] for name in schema.names], schema=schema)
    if bad.count:
        result = result.filter(pa.array(~bad.mask))
    listed = sorted(bad.listed.values(), key=lambda r: r.index)
    new_features = [f for f in evolved.features if f.name not in set(spec.feature_names)]
    return BatchResult(result, listed, new_features, stamped, unlisted=bad.count - len(listed))


def _got(rule: str, col: pa.ChunkedArray | pa.Array) -> Callable[[int], str]:
    """The message of a row that breaks ``rule``: the rule and the row's value."""
    return lambda i: f"{rule} Got {_show(col[i].as_py())} instead."


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
        "shadow",
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
            whole = _whole_cast(col, typ, conv)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            whole = None
        if whole is not None:
            if pa.types.is_timestamp(typ):  # parsed from text: in range as any time
                earliest = EARLIEST_EVENT_TIME if conv is _event_time else EARLIEST_VALUE_TIME
                whole = _times(whole, earliest, label, bad)
            out[dst] = whole
            return
        out[dst] = _convert(range(n), col.to_pylist(), n, typ, conv, label, bad)

    return _column_rules(spec, spec_now, schema, n, cast, out, bad, now)


def _whole_cast(
    col: pa.ChunkedArray, typ: pa.DataType, conv: Callable[[Any], Any]
) -> pa.ChunkedArray | None:
    """The column cast whole to ``typ`` when that is what ``conv`` makes of each of its values
    (so every value is valid), else None: the column then goes value by value through ``conv``
    (:func:`_convert`), which words each rejection as for JSON. Arrow's own casts are more
    lenient than the wire contract (true as 1.0, 5 as "5", 2.5 as a version, lists of any
    length), so only the source types whose cast agrees are cast whole."""
    src = col.type
    text = pa.types.is_string(src) or pa.types.is_large_string(src)
    labels = text or (pa.types.is_dictionary(src) and pa.types.is_string(src.value_type))
    number = pa.types.is_integer(src) or pa.types.is_floating(src) or pa.types.is_decimal(src)
    if conv is _number:
        if not number:
            return None
        cast = pc.cast(col, typ)
        big = pc.greater(pc.abs(cast), MAX_MAGNITUDE)  # inf too; NaN is false
        return None if pc.any(pc.or_(pc.is_nan(cast), big)).as_py() else cast
    if conv is _boolean:
        return pc.cast(col, typ) if pa.types.is_boolean(src) else None
    if conv is _text:
        return pc.cast(col, typ) if labels else None
    if conv is _identifier:
        if not (text or pa.types.is_integer(src)):
            return None
        ids = pc.cast(col, typ)
        lengths = pc.utf8_length(ids)
        ok = pc.and_(pc.greater_equal(lengths, 1), pc.less_equal(lengths, MAX_ID))
        return ids if pc.all(ok).as_py() in (True, None) else None
    if conv is _category:
        return pc.cast(col, typ) if labels else _labels(col)
    if pa.types.is_timestamp(typ):  # numbers are epoch times: the converter reads them
        return pc.cast(col, typ) if text else None
    if isinstance(conv, _Embedding):  # lists of numbers of the feature's length
        if not (pa.types.is_list(src) or pa.types.is_large_list(src)):
            return None
        item = src.value_type
        if not (pa.types.is_integer(item) or pa.types.is_floating(item)):
            return None
        flat = pc.list_flatten(col)
        if flat.null_count or (
            len(flat) and not pc.all(pc.less_equal(pc.abs(flat), _FLOAT32_MAX)).as_py()
        ):
            return None
        if conv.dim is not None and len(col) - col.null_count:
            lengths = pc.list_value_length(col)
            if pc.min(lengths).as_py() != conv.dim or pc.max(lengths).as_py() != conv.dim:
                return None
        return pc.cast(col, typ)
    return None


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
        outside, label, lambda i: f"The {label!r} {_time_problem(values[i], unit, earliest)}"
    )
    kept = pc.if_else(outside, pa.scalar(None, raw.type), raw)
    return pc.cast(pc.cast(kept, pa.timestamp(unit, tz=col.type.tz)), TS, safe=False)


def _time_problem(value: Any, unit: str, earliest: datetime) -> str:
    """Why a time of ``value`` ``unit`` since 1970 is outside [earliest, 2200), worded as for a
    JSON time when a datetime holds it."""
    per_s = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
    try:
        t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=int(value) * 1_000_000 // per_s
        )
    except OverflowError:
        return (
            f"must be from {earliest.date()} up to (not including) {LATEST_TIME.date()} UTC. "
            f"Got {int(value)} {unit} since 1970-01-01 instead."
        )
    return time_problem(t, earliest=earliest) or ""


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
