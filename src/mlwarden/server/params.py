"""Checks every query-string and path parameter meets, before any route reads it.

* :func:`clean_params` (an app-wide dependency): no parameter name or value may hold a
  control character. A NUL byte in ``?version=`` reached the engine as a string literal and
  answered 500; no name, filter value or id of ours has a reason to hold one.
* :data:`TimeQ`: ``start`` and ``end`` are ISO 8601 dates or times within the accepted time
  range (:mod:`mlwarden.schema.limits`); a bare number (``start=0.5``, read as epoch seconds
  by pydantic) is refused rather than silently read as 1970.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BeforeValidator, Field

from mlwarden.errors import FieldError, ValidationError, expected
from mlwarden.schema.limits import EARLIEST_EVENT_TIME, LATEST_TIME

__all__ = [
    "SEGMENT_PATTERN",
    "RangeQ",
    "SegmentQ",
    "TimeQ",
    "clean_params",
    "parse_instant",
    "range_filter",
    "segment_filter",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_params(request: Request) -> None:
    """FastAPI dependency: refuse control characters in query and path parameters."""
    items: list[tuple[str, str, str]] = [
        ("query parameter", k, v) for k, v in request.query_params.multi_items()
    ]
    items += [("path parameter", k, str(v)) for k, v in request.path_params.items()]
    bad = [(what, k, v) for what, k, v in items if _CONTROL.search(k) or _CONTROL.search(v)]
    if bad:
        what, name, value = bad[0]
        raise ValidationError(
            expected(what, name, "not contain control characters (such as NUL)", value),
            [FieldError(k, "contains a control character") for _, k, _ in bad],
        )


class OutOfRange(ValueError):
    """A well-formed time outside the accepted range; ``clamped`` is the nearest bound."""

    def __init__(self, message: str, *, clamped: datetime) -> None:
        super().__init__(message)
        self.clamped = clamped


def parse_instant(value: Any) -> Any:
    """An ISO 8601 date or time within the accepted range (naive means UTC).

    Examples
    --------
    >>> parse_instant("2026-01-31")
    datetime.datetime(2026, 1, 31, 0, 0, tzinfo=datetime.timezone.utc)
    >>> parse_instant("0.5")
    Traceback (most recent call last):
    ...
    ValueError: must be an ISO 8601 date or time such as 2026-01-31 or 2026-01-31T12:00:00Z
    """
    if value is None or isinstance(value, datetime):
        return value
    must = "must be an ISO 8601 date or time such as 2026-01-31 or 2026-01-31T12:00:00Z"
    if not isinstance(value, str) or not value[:4].isdigit() or len(value) < 10:
        raise ValueError(must)
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(must) from None
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    if not EARLIEST_EVENT_TIME <= t < LATEST_TIME:
        raise OutOfRange(
            f"must be from {EARLIEST_EVENT_TIME.date()} up to (not including) "
            f"{LATEST_TIME.date()} UTC",
            clamped=max(EARLIEST_EVENT_TIME, min(t, LATEST_TIME - timedelta(microseconds=1))),
        )
    return t


def clamp_instant(value: Any) -> Any:
    """A query's time filter: an ISO 8601 date or time, brought into the accepted range (a
    filter from year 1717 means "from the first stored event"; nothing is stored outside).

    >>> clamp_instant("1717-09-30T19:11:12Z").year, clamp_instant("5590-01-01").year
    (1970, 2199)
    """
    try:
        return parse_instant(value)
    except OutOfRange as exc:
        return exc.clamped


#: ``start`` / ``end`` query parameters.
TimeQ = Annotated[
    datetime | None,
    BeforeValidator(clamp_instant),
    Query(
        description="ISO 8601 date or time (UTC unless it says otherwise); times before 1970 "
        "or from 2200 on read as those bounds."
    ),
]


SEGMENT_PATTERN = "^([^\\x00-\\x1f\\x7f:]+:[^\\x00-\\x1f\\x7f]*)?$"
SegmentQ = Annotated[
    list[Annotated[str, Field(pattern=SEGMENT_PATTERN)]] | None,
    Query(description="Filter 'column:value' (repeatable)."),
]


def segment_filter(items: list[str] | None) -> dict[str, str] | None:
    """The 'segment' query parameters ('column:value', repeatable) as a filter (None: none)."""
    if not items:
        return None
    out: dict[str, str] = {}
    for item in items:
        if not item:  # an empty 'segment=' filters nothing, like an absent one
            continue
        col, sep, value = item.partition(":")
        if not sep or not col:
            raise ValidationError(
                f"The 'segment' parameter must look like 'column:value'. Got {item!r} instead."
            )
        out[col] = value
    return out or None


RangeQ = Annotated[
    list[Annotated[str, Field(pattern=SEGMENT_PATTERN, max_length=300)]] | None,
    Query(
        description="Filter 'column:low:high' on a numeric column, low <= value < high; an "
        "empty bound is open (repeatable)."
    ),
]


def range_filter(items: list[str] | None) -> dict[str, tuple[float | None, float | None]] | None:
    """The 'range' query parameters ('column:low:high', repeatable) as a filter (None: none).

    >>> range_filter(["amount:100:", "age::30.5"])
    {'amount': (100.0, None), 'age': (None, 30.5)}
    >>> range_filter(["amount:5:1"])
    Traceback (most recent call last):
    ...
    mlwarden.errors.ValidationError: The 'range' parameter must look like 'column:low:high' with finite numbers, low < high and at least one bound. Got 'amount:5:1' instead.
    """  # noqa: E501
    if not items:
        return None
    out: dict[str, tuple[float | None, float | None]] = {}
    for item in items:
        if not item:
            continue
        col, _, bounds = item.rpartition(":")
        col, _, low_text = col.rpartition(":")
        must = "look like 'column:low:high' with finite numbers, low < high and at least one bound"
        try:
            low = float(low_text) if low_text else None
            high = float(bounds) if bounds else None
        except ValueError:
            raise ValidationError(expected("parameter", "range", must, item)) from None
        finite = all(b is None or math.isfinite(b) for b in (low, high))
        ordered = low is None or high is None or low < high
        if not col or not finite or not ordered or (low is None and high is None):
            raise ValidationError(expected("parameter", "range", must, item))
        out[col] = (low, high)
    return out or None
