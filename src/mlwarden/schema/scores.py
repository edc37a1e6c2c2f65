"""Scores of LLM app traces: human feedback (thumbs up / down), API-sent ratings, eval results.

A score names a trace (and optionally one of its spans and the session), has a ``name``
(``user_feedback``, ``helpfulness``, ...) and a value of one of three data types:

* ``boolean`` -- ``true`` / ``false`` (or 1 / 0), stored as 1.0 / 0.0;
* ``numeric`` -- a finite number;
* ``categorical`` -- a label (a string), stored in ``label``.

The data type is inferred from the value when not given. A score with an ``id`` replaces
the earlier score of that id (re-sending is safe); without one it gets a fresh id.
:func:`validate_scores` checks each item on its own: a bad item is reported with its index,
field and reason and never takes the good ones down.

Examples
--------
>>> good = validate_scores([{"trace_id": "t1", "name": "user_feedback", "value": False},
...                         {"trace_id": "t1", "name": "stars", "value": 9e999}])
>>> good.table.column("data_type").to_pylist(), [r.field for r in good.rejected]
(['boolean'], ['value'])
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from mlwarden.errors import expected
from mlwarden.schema.batch import Rejection
from mlwarden.schema.limits import EARLIEST_EVENT_TIME, LATEST_TIME

__all__ = [
    "DATA_TYPES",
    "MAX_COMMENT",
    "MAX_ID",
    "MAX_NAME",
    "SCORE_SCHEMA",
    "SOURCES",
    "ScoreBatch",
    "validate_scores",
]

DATA_TYPES = ("numeric", "categorical", "boolean")
SOURCES = ("human", "api", "eval")
#: Longest id, trace / span / session id, name and label; longest comment.
MAX_ID = 128
MAX_NAME = 200
MAX_COMMENT = 4000

#: One row per score (the ``scores`` table; ``project`` is set by the store).
SCORE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("session_id", pa.string()),
        ("name", pa.string()),
        ("data_type", pa.string()),
        ("value", pa.float64()),
        ("label", pa.string()),
        ("comment", pa.string()),
        ("source", pa.string()),
        ("ts", pa.timestamp("us")),
    ]
)
_FIELDS = {f.name for f in SCORE_SCHEMA} | {"timestamp"}


@dataclass(frozen=True)
class ScoreBatch:
    """The good items as :data:`SCORE_SCHEMA` rows (one per id: the last item of an id sent
    twice in one request wins) and the rejected items."""

    table: pa.Table
    rejected: list[Rejection]


class _Bad(Exception):
    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason


def _text(item: dict[str, Any], field: str, limit: int, *, required: bool = False) -> str | None:
    v = item.get(field)
    if v is None:
        if required:
            raise _Bad(field, f"The {field!r} field is required.")
        return None
    if not isinstance(v, str) or (required and not v.strip()) or len(v) > limit:
        must = f"be a{' non-empty' if required else ''} string of at most {limit} characters"
        raise _Bad(field, expected("field", field, must, v if not isinstance(v, str) else v[:40]))
    return v


def _value(item: dict[str, Any]) -> tuple[str, float | None, str | None]:
    v = item.get("value")
    given = item.get("data_type")
    if given is not None and given not in DATA_TYPES:
        raise _Bad(
            "data_type", expected("field", "data_type", f"be one of {', '.join(DATA_TYPES)}", given)
        )
    kind = given or (
        "boolean" if isinstance(v, bool)
        else "numeric" if isinstance(v, int | float)
        else "categorical" if isinstance(v, str)
        else None
    )  # fmt: skip
    if kind == "boolean":
        if isinstance(v, bool) or (isinstance(v, int | float) and v in (0, 1)):
            return kind, float(v), None
        raise _Bad("value", expected("field", "value", "be true or false for a boolean score", v))
    if kind == "numeric":
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            return kind, float(v), None
        raise _Bad("value", expected("field", "value", "be a finite number for a numeric score", v))
    if kind == "categorical":
        if isinstance(v, str) and v.strip() and len(v) <= MAX_NAME:
            return kind, None, v
        must = f"be a non-empty label of at most {MAX_NAME} characters for a categorical score"
        raise _Bad("value", expected("field", "value", must, v))
    raise _Bad("value", expected("field", "value", "be a number, true / false or a label", v))


def _time(item: dict[str, Any], now: datetime) -> datetime:
    v = item.get("timestamp", item.get("ts"))
    if v is None:
        return now
    try:
        t = datetime.fromisoformat(v) if isinstance(v, str) else None
    except ValueError:
        t = None
    if t is not None and t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    if t is None or not EARLIEST_EVENT_TIME <= t < LATEST_TIME:
        must = f"be an ISO 8601 time between {EARLIEST_EVENT_TIME:%Y} and {LATEST_TIME:%Y}"
        raise _Bad("timestamp", expected("field", "timestamp", must, v))
    return t.astimezone(UTC).replace(tzinfo=None)


def _row(item: Any, now: datetime) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _Bad("", f"A score must be a JSON object. Got {type(item).__name__} instead.")
    unknown = sorted(set(item) - _FIELDS - {"value"})
    if unknown:
        must = f"be one of {', '.join(sorted(_FIELDS | {'value'}))}"
        raise _Bad(unknown[0], expected("field name", unknown[0], must, unknown[0]))
    source = item.get("source")
    source = "api" if source is None else source
    if source not in SOURCES:
        raise _Bad("source", expected("field", "source", f"be one of {', '.join(SOURCES)}", source))
    data_type, value, label = _value(item)
    return {
        "id": _text(item, "id", MAX_ID) or uuid.uuid4().hex,
        "trace_id": _text(item, "trace_id", MAX_ID, required=True),
        "span_id": _text(item, "span_id", MAX_ID),
        "session_id": _text(item, "session_id", MAX_ID),
        "name": _text(item, "name", MAX_NAME, required=True),
        "data_type": data_type,
        "value": value,
        "label": label,
        "comment": _text(item, "comment", MAX_COMMENT),
        "source": source,
        "ts": _time(item, now),
    }


def validate_scores(items: Sequence[Any], *, now: datetime | None = None) -> ScoreBatch:
    """Check each item (a JSON object) of a scores request; see the module docs."""
    at = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    good: dict[str, dict[str, Any]] = {}
    rejected: list[Rejection] = []
    for i, item in enumerate(items):
        try:
            row = _row(item, at)
        except _Bad as bad:
            rejected.append(Rejection(i, bad.field, bad.reason, row=item))
            continue
        good.pop(row["id"], None)  # the last of an id wins, in request order
        good[row["id"]] = row
    return ScoreBatch(pa.Table.from_pylist(list(good.values()), schema=SCORE_SCHEMA), rejected)
