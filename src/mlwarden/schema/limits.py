"""Bounds on what one request may ask of the server: columns, nesting, time.

Every input path (JSON rows, Arrow tables, OTLP spans, model specs) checks the
same bounds, so one small hostile request cannot take the memory or the pages
of a server down. The numeric bounds are server settings (``mlwarden serve
--max-features``, ``--max-new-features``); the time range is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.errors import ConfigError, FieldError, ValidationError, expected

__all__ = [
    "EARLIEST_EVENT_TIME",
    "EARLIEST_VALUE_TIME",
    "LATEST_TIME",
    "MAX_DEPTH",
    "MAX_MAGNITUDE",
    "Limits",
    "check_depth",
    "time_problem",
    "without_huge_rows",
]

#: Event, actual and span times must lie in [EARLIEST_EVENT_TIME, LATEST_TIME).
EARLIEST_EVENT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
#: Timestamp *features* (a birth date, a contract start) may be older, down to this.
EARLIEST_VALUE_TIME = datetime(1800, 1, 1, tzinfo=UTC)
#: Nothing later: windows and axes are computed by adding to times, and a stored year 9999
#: made every page of its model fail.
LATEST_TIME = datetime(2200, 1, 1, tzinfo=UTC)
#: Deepest nesting of arrays and objects in a JSON body (an event needs 3: list, event,
#: features; an embedding 4). Deeper bodies are rejected whole before any row is looked at.
MAX_DEPTH = 32
#: Largest magnitude a number (feature, prediction, score, latency, actual) may have. A
#: window's sum of squares must stay a finite float64: 1e308 twice made the sums of 4,435
#: rows null. With every value within 1e150, even 1e8 rows of it sum (and square) finite.
MAX_MAGNITUDE = 1e150


def without_huge_rows(table: pa.Table) -> tuple[pa.Table, dict[str, int]]:
    """``table`` without the rows holding a number beyond :data:`MAX_MAGNITUDE` (or infinite)
    in a numeric column, and how many rows each such column put out.

    Events with such values are rejected; a reference holding them (often a sentinel such as
    1e300 for "unknown") would give monitors infinite sums and thresholds, so they are left out
    of it the same way. NaN and null stay: they are missing values.

    >>> t, out = without_huge_rows(pa.table({"a": [1.0, 1e200, float("nan")], "b": [1, 2, 3]}))
    >>> t.column("b").to_pylist(), out
    ([1, 3], {'a': 1})
    """
    keep = None
    out: dict[str, int] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        if not pa.types.is_floating(column.type):
            continue  # integers of 64 bits cannot exceed 1e150
        huge = pc.fill_null(pc.greater(pc.abs(column), MAX_MAGNITUDE), False)
        n = pc.sum(huge).as_py() or 0
        if n:
            out[name] = int(n)
            keep = pc.invert(huge) if keep is None else pc.and_(keep, pc.invert(huge))
    return (table if keep is None else table.filter(keep)), out


def time_problem(t: datetime, *, earliest: datetime = EARLIEST_EVENT_TIME) -> str | None:
    """Why ``t`` (aware) is outside the accepted range, or None when it is inside.

    Examples
    --------
    >>> time_problem(datetime(2024, 5, 1, tzinfo=UTC)) is None
    True
    >>> time_problem(datetime(9999, 12, 31, tzinfo=UTC))
    'must be from 1970-01-01 up to (not including) 2200-01-01 UTC. Got 9999-12-31T00:00:00+00:00 instead.'
    """  # noqa: E501
    if earliest <= t < LATEST_TIME:
        return None
    return (
        f"must be from {earliest.date()} up to (not including) {LATEST_TIME.date()} UTC. "
        f"Got {t.isoformat()} instead."
    )


@dataclass(frozen=True)
class Limits:
    """How many columns a model may have and a request may add (server settings).

    ``max_features`` counts every column a model's events get beside the event fields:
    features, segment and sensitive columns that are not features, and the per-class score
    columns of a multiclass model. ``max_new_features`` bounds the feature names one request
    may add by schema evolution (each is a new column: measured, a request adding 2,000 took
    1.5 GB, 4,000 over 3 GB).

    Examples
    --------
    >>> Limits().check_new(model="m", have=10, new=5) is None
    True
    >>> Limits(max_new_features=3).check_new(model="m", have=10, new=5)
    Traceback (most recent call last):
    ...
    mlwarden.errors.ValidationError: The request brings 5 new feature names for model 'm'; at most 3 may be added per request (server setting --max-new-features). Send the new features in smaller requests, or declare them in the model spec.
    """  # noqa: E501

    max_features: int = 1000
    max_new_features: int = 100
    #: Rows times columns of one request's validated table (~8 bytes a cell): a request of
    #: many tiny rows for a wide model must not build a table of gigabytes.
    max_cells: int = 25_000_000
    #: Rejected rows a reply lists and quarantine keeps, each; the rest are only counted (a
    #: 3 MB body of a million ``{}`` rows made a 100 MB reply).
    max_listed_rejections: int = 1000

    def validate(self) -> Limits:
        if self.max_features < 1:
            raise ConfigError(expected("option", "max-features", "be >= 1", self.max_features))
        if self.max_new_features < 0:
            raise ConfigError(
                expected("option", "max-new-features", "be >= 0", self.max_new_features)
            )
        if self.max_cells < 1:
            raise ConfigError(expected("option", "max-cells", "be >= 1", self.max_cells))
        return self

    def room(self, have: int) -> int:
        """How many new feature columns one request may still add to a model with ``have``."""
        return max(0, min(self.max_new_features, self.max_features - have))

    def check_new(self, *, model: str, have: int, new: int) -> None:
        """Refuse a request that brings ``new`` feature names to a model with ``have`` columns."""
        if new > self.max_new_features:
            raise ValidationError(
                f"The request brings {new} new feature names for model {model!r}; at most "
                f"{self.max_new_features} may be added per request (server setting "
                "--max-new-features). Send the new features in smaller requests, or declare "
                "them in the model spec.",
                [FieldError("features", f"{new} new names; the limit is {self.max_new_features}")],
            )
        self.check_model(model=model, columns=have + new)

    def check_model(self, *, model: str, columns: int) -> None:
        """Refuse a model (spec or evolved spec) with more than ``max_features`` columns."""
        if columns > self.max_features:
            raise ValidationError(
                f"Model {model!r} would have {columns} feature columns (features, segment "
                f"columns and class scores); the limit is {self.max_features} (server setting "
                "--max-features).",
                [FieldError("features", f"{columns} columns; the limit is {self.max_features}")],
            )

    def check_cells(self, *, model: str, rows: int, columns: int) -> None:
        """Refuse a request whose table for ``model`` would hold more than ``max_cells``."""
        if rows * columns > self.max_cells:
            raise ValidationError(
                f"The request for model {model!r} has {rows} rows of {columns} columns "
                f"({rows * columns} cells); the limit is {self.max_cells} cells per request "
                "(server setting --max-cells). Send smaller batches.",
                [FieldError("", f"{rows * columns} cells; the limit is {self.max_cells}")],
            )


def check_depth(value: Any, *, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` (iteratively: no recursion to exhaust).

    Examples
    --------
    >>> check_depth([{"features": {"x": [1.0, 2.0]}}])
    >>> deep: list[object] = []
    >>> for _ in range(40):
    ...     deep = [deep]
    >>> check_depth(deep)
    Traceback (most recent call last):
    ...
    mlwarden.errors.ValidationError: The body nests arrays and objects deeper than 32 levels.
    """
    level: list[Any] = [value]
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            raise ValidationError(
                f"The body nests arrays and objects deeper than {limit} levels.",
                [FieldError("", f"nesting deeper than {limit}")],
            )
        nxt: list[Any] = []
        for v in level:
            if isinstance(v, dict):
                nxt.extend(x for x in v.values() if isinstance(x, dict | list))
            elif isinstance(v, list):
                nxt.extend(x for x in v if isinstance(x, dict | list))
        level = nxt
