"""A lake table's rows in the shape of mlwarden's events and actuals, computed on Spark.

The DuckDB engine validates every row on ingest (``schema/batch.py``) and stores the
canonical columns (:func:`~mlwarden.schema.batch.canonical_schema`). Lake tables are read
where they are, so the same canonical forms are made here as Spark column expressions:
numbers as doubles, class labels and categories as their canonical strings (``1``, ``1.0``
and ``true`` all become ``"1"``, as :func:`~mlwarden.schema.spec._label` makes them), times as
UTC instants. A column whose type has no exact counterpart is refused with its name and
type rather than cast differently from DuckDB.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from mlwarden.errors import ValidationError
from mlwarden.schema.batch import canonical_schema
from mlwarden.schema.spec import FeatureKind, ModelSpec, Task
from mlwarden.store.spark_session import spark_errors
from mlwarden.store.times import utc_naive

__all__ = ["canonical_actuals", "canonical_events"]

#: fields of the event log a lake table may carry under these names
_TIME_COLUMNS = ("ts", "timestamp")


def canonical_events(
    df: Any, spec: ModelSpec, *, ts: datetime | None = None, ids: bool = True
) -> Any:
    """``df`` (a Spark DataFrame of a batch pipeline's rows) as the model's canonical events.

    ``ts``: the time of every row (a batch report's one window); otherwise the table's
    ``ts`` or ``timestamp`` column. ``ids``: make row ids when the table has no ``event_id``
    (unique, not stable across reads: a report joins its labels from the same rows)."""
    from pyspark.sql import functions as F  # noqa: N812 - Spark's own spelling

    have = {f.name: f.dataType for f in df.schema.fields}
    cols: list[Any] = []
    labels = _label_columns(spec)
    for field in canonical_schema(spec):
        name = field.name
        if name == "ts":
            cols.append(_time(df, have, ts).alias("ts"))
        elif name == "event_id" and "event_id" not in have and ids:
            cols.append(F.monotonically_increasing_id().cast("string").alias("event_id"))
        elif name not in have:
            cols.append(F.lit(None).cast(_spark_type(field.type)).alias(name))
        elif name in labels:
            cols.append(label_column(df, name, have[name]).alias(name))
        else:
            cols.append(_cast(df, name, have[name], field.type).alias(name))
    out = df.select(*cols)
    # a report describes traffic: shadow predictions are kept out of the model's monitors
    return out.filter(F.col("shadow").isNull() | ~F.col("shadow"))


def canonical_actuals(df: Any, spec: ModelSpec, *, column: str) -> Any:
    """The labels of ``df``: ``event_id`` and its ``column`` (the target) as ``actual`` (a
    class label) or ``actual_value`` (regression), rows without a label left out."""
    from pyspark.sql import functions as F  # noqa: N812

    have = {f.name: f.dataType for f in df.schema.fields}
    for need in ("event_id", column):
        if need not in have:
            raise ValidationError(
                f"The actuals table has no {need!r} column; its columns are {', '.join(have)}."
            )
    ids = F.col("event_id").cast("string").alias("event_id")
    if spec.task is Task.REGRESSION:
        value = _cast(df, column, have[column], pa.float64())
        rows = df.select(
            ids, F.lit(None).cast("string").alias("actual"), value.alias("actual_value")
        )
        return rows.filter(F.col("actual_value").isNotNull())
    label = label_column(df, column, have[column])
    rows = df.select(ids, label.alias("actual"), F.lit(None).cast("double").alias("actual_value"))
    return rows.filter(F.col("actual").isNotNull())


def _label_columns(spec: ModelSpec) -> set[str]:
    out = {f.name for f in spec.features if f.kind is FeatureKind.CATEGORICAL}
    out |= set(spec.tag_columns)
    if spec.task is not Task.REGRESSION and spec.task is not Task.LLM:
        out.add("prediction")
    return out


def label_column(df: Any, name: str, dtype: Any) -> Any:
    """A column as canonical label strings: text as is, integers in decimal, booleans as
    ``1`` / ``0``, floats with integral values as integers (others are refused: their text
    form would be Spark's, not mlwarden's)."""
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql import types as T  # noqa: N812

    col = F.col(name)
    if isinstance(dtype, T.StringType):
        return col
    if isinstance(dtype, T.IntegralType):
        return col.cast("string")
    if isinstance(dtype, T.BooleanType):
        return F.when(col.isNull(), F.lit(None)).when(col, F.lit("1")).otherwise(F.lit("0"))
    if isinstance(dtype, T.FractionalType):
        with spark_errors(f"Checking the labels of {name!r}"):
            odd = df.filter(col.isNotNull() & ((col != F.floor(col)) | F.isnan(col))).limit(1)
            bad = odd.collect()
        if bad:
            raise ValidationError(
                f"The {name!r} column holds labels that are not whole numbers (e.g. "
                f"{bad[0][name]!r}); write them as text or integers."
            )
        return col.cast("bigint").cast("string")
    raise ValidationError(
        f"The {name!r} column has type {dtype.simpleString()}, which is not a label type "
        "(text, integer, boolean or whole numbers)."
    )


def _time(df: Any, have: dict[str, Any], ts: datetime | None) -> Any:
    from pyspark.sql import functions as F  # noqa: N812

    if ts is not None:
        return F.lit(utc_naive(ts)).cast("timestamp")
    for name in _TIME_COLUMNS:
        if name in have:
            # TIMESTAMP_NTZ (a naive Parquet time) is read as UTC: the session's time zone
            return F.col(name).cast("timestamp")
    raise ValidationError(
        f"The events table has no time column ({' or '.join(_TIME_COLUMNS)}); its columns are "
        f"{', '.join(have)}."
    )


def _cast(df: Any, name: str, dtype: Any, want: pa.DataType) -> Any:
    from pyspark.sql import functions as F  # noqa: N812
    from pyspark.sql import types as T  # noqa: N812

    col = F.col(name)
    if pa.types.is_floating(want):
        if isinstance(dtype, T.NumericType):
            return col.cast("double")
    elif pa.types.is_boolean(want):
        if isinstance(dtype, T.BooleanType):
            return col
    elif pa.types.is_string(want):
        if isinstance(dtype, T.StringType):
            return col
        if isinstance(dtype, T.IntegralType) and name in ("event_id", "client_id", "version"):
            return col.cast("string")
    elif pa.types.is_timestamp(want):
        if isinstance(dtype, T.TimestampType | T.TimestampNTZType | T.DateType):
            return col.cast("timestamp")
    elif pa.types.is_list(want):
        if isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, T.NumericType):
            return col.cast("array<float>")
    raise ValidationError(
        f"The {name!r} column has type {dtype.simpleString()}; mlwarden stores it as {want}."
    )


def _spark_type(t: pa.DataType) -> str:
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_list(t):
        return "array<float>"
    return "string"
