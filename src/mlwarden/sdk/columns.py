"""Turn queued events into the flat Arrow wire layout, off the serving path.

``Monitor.log`` only appends a tuple (:data:`EventItem`); the batching thread
calls :func:`event_tables` on a few hundred of them at once. Columns are built
whole. When a column mixes kinds of values (numbers in most rows, a string in
one), the rows of the rarer kinds go into a table of their own, so that the
server judges each row on its own value (and quarantines just the bad one)
instead of every row being sent as text. All-null optional columns are left
out, which the server reads as null.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from mlwarden.schema.batch import TS
from mlwarden.schema.infer import to_arrow
from mlwarden.schema.spec import RESERVED_FIELDS

__all__ = [
    "EventItem",
    "actual_tables",
    "batch_table",
    "column",
    "event_tables",
    "timestamps",
    "version_of",
]

#: ``(model or None, event_id, timestamp, features, prediction, score, scores, segments,
#: latency_ms, status, error, client_id, job)``; ``job`` is a deferred extraction or None.
#: A shadow prediction (another version's, for the same request) carries a 14th item: its
#: version (see :func:`version_of`).
EventItem = tuple[Any, ...]
DEST, EID, TSTAMP, FEATURES, PREDICTION, SCORE, SCORES, SEGMENTS = range(8)
LATENCY, STATUS, ERROR, CLIENT, JOB, VERSION = range(8, 14)


def version_of(item: EventItem, default: str | None) -> str | None:
    """The version an item is logged under: its own (a shadow prediction) or ``default``."""
    return item[VERSION] if len(item) > VERSION else default


class _Mixed(Exception):
    """A column mixes kinds of values; ``rows`` are those of the rarer kinds."""

    def __init__(self, rows: list[int]) -> None:
        self.rows = rows


def _kind(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return "bool"
    if isinstance(v, int | float | np.number):
        return "number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, list | tuple | np.ndarray):
        return "list"
    return type(v).__name__


def column(values: Sequence[Any], *, split: bool = False) -> pa.Array:
    """One column from Python values. Mixed kinds raise :class:`_Mixed` with ``split`` (the
    caller sends those rows apart), else fall back to text, as do values Arrow cannot type.

    Examples
    --------
    >>> column([1, 2.5, None]).type, column([1, "a"]).to_pylist()
    (DataType(double), ['1', 'a'])
    """
    # Let the serving threads in between columns: a batch holds the GIL for a millisecond or
    # more, which would otherwise show up in the request latencies of the model server.
    time.sleep(0)
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        pass
    if split:
        kinds = [None if v is None else _kind(v) for v in values]
        counts = Counter(k for k in kinds if k is not None)
        if len(counts) > 1:
            major = counts.most_common(1)[0][0]
            raise _Mixed([i for i, k in enumerate(kinds) if k is not None and k != major])
    return pa.array([None if v is None else _text(v) for v in values], pa.string())


def _apart(items: Sequence[Any], build: Callable[[Sequence[Any]], Any]) -> list[Any]:
    """``build(items)``, or, when a column mixes kinds, build the odd rows apart (recursively)."""
    try:
        return [build(items)]
    except _Mixed as mixed:
        odd = set(mixed.rows)
        keep = [it for i, it in enumerate(items) if i not in odd]
        rest = [items[i] for i in sorted(odd)]
        return _apart(keep, build) + _apart(rest, build)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _epoch(v: Any) -> float | None:
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).timestamp()
    if isinstance(v, str):
        try:
            return _epoch(datetime.fromisoformat(v))
        except ValueError:
            return None
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def timestamps(values: Sequence[Any]) -> pa.Array:
    """Epoch seconds (or milliseconds), datetimes or ISO strings as ``timestamp[us, UTC]``.

    Examples
    --------
    >>> timestamps([0.5, "1970-01-01T00:00:01+00:00", None]).to_pylist()[1].second
    1
    """
    try:
        secs = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        secs = np.array([_epoch(v) for v in values], dtype=np.float64)
    secs = np.where(np.abs(secs) > 1e11, secs / 1000.0, secs)  # epoch milliseconds
    null = ~np.isfinite(secs)
    micros = np.round(np.where(null, 0.0, secs) * 1e6).astype(np.int64)
    return pa.array(micros, pa.int64(), mask=null).cast(TS)


def _dict_columns(dicts: Sequence[Any], skip: Iterable[str] = ()) -> dict[str, pa.Array]:
    """One column per key seen in any of ``dicts`` (rows without it get null)."""
    skipped = set(skip)
    keys = dict.fromkeys(k for d in dicts if d for k in d)
    out: dict[str, pa.Array] = {}
    for k in keys:
        if k in skipped:
            continue
        arr = column([d.get(k) if d else None for d in dicts], split=True)
        if not pa.types.is_null(arr.type):  # never seen with a value: nothing to send yet
            out[str(k)] = arr
    return out


def event_tables(
    items: Sequence[EventItem], *, version: str | None
) -> list[tuple[pa.Table, list[str]]]:
    """The wire tables of a group of queued events (all for one model), with their segment
    columns: one table, or more when a column mixes kinds of values.

    Features named like event fields (``score``, ``timestamp``, ...) cannot be
    told apart from those fields on the wire and are left out.

    Examples
    --------
    >>> def item(x, pred):
    ...     return (None, "e", 0.0, {"x": x}, pred, None, None, {"region": "eu"}, 12.0, None, None,
    ...             None, None)
    >>> [(table, segments)] = event_tables([item(1.5, 1)], version="v1")
    >>> table.column_names, segments
    (['event_id', 'timestamp', 'version', 'prediction', 'latency_ms', 'x', 'region'], ['region'])
    >>> [t.column("x").to_pylist() for t, _ in event_tables(
    ...     [item(1.5, 1), item("oops", 0), item(2.5, 1)], version=None)]
    [[1.5, 2.5], ['oops']]
    """
    return _apart(items, lambda group: _events_table(group, version))


def _events_table(items: Sequence[EventItem], version: str | None) -> tuple[pa.Table, list[str]]:
    n = len(items)
    cols = list(zip(*(it[:VERSION] for it in items), strict=True))
    out: dict[str, pa.Array] = {
        "event_id": pa.array(cols[EID], pa.string()),
        "timestamp": timestamps(cols[TSTAMP]),
    }
    if version is not None:
        out["version"] = pa.array([version] * n, pa.string())
    for name, idx in (
        ("prediction", PREDICTION),
        ("score", SCORE),
        ("latency_ms", LATENCY),
        ("status", STATUS),
        ("error", ERROR),
        ("client_id", CLIENT),
    ):
        values = cols[idx]
        if any(v is not None for v in values):
            out[name] = column(values, split=True)
    if any(cols[SCORES]):  # multiclass: one column per class
        for label, arr in _dict_columns(cols[SCORES]).items():
            out[f"score__{label}"] = arr
    shadow = [len(it) > VERSION for it in items]
    if any(shadow):  # kept out of the monitors, read by the champion comparison
        out["shadow"] = pa.array(shadow, pa.bool_())
    out.update(_dict_columns(cols[FEATURES], skip=RESERVED_FIELDS))
    segments = []
    if any(cols[SEGMENTS]):
        for name, arr in _dict_columns(cols[SEGMENTS], skip=RESERVED_FIELDS).items():
            if name not in out:  # a segment named like a feature: the feature wins
                out[name] = arr
                segments.append(name)
    return pa.table(out), segments


def actual_tables(items: Sequence[tuple[Any, ...]]) -> list[pa.Table]:
    """``(model, event_id, actual, timestamp)`` tuples as actuals wire tables (more than one
    when the actuals mix kinds of values).

    Examples
    --------
    >>> [t.column_names for t in actual_tables([(None, "e1", 1, 0.0)])]
    [['event_id', 'actual', 'timestamp']]
    """

    def build(group: Sequence[tuple[Any, ...]]) -> pa.Table:
        cols = list(zip(*group, strict=True))
        return pa.table(
            {
                "event_id": pa.array(cols[1], pa.string()),
                "actual": column(cols[2], split=True),
                "timestamp": timestamps(cols[3]),
            }
        )

    return _apart(items, build)


def batch_table(
    data: Any,
    *,
    ids: Any,
    prediction: str | None,
    score: str | None,
    event_id: str | None,
    timestamp: str | None,
    features: Sequence[str] | None,
    segments: Sequence[str],
    actual: str | None,
    version: str | None,
    now: float,
) -> tuple[pa.Table, pa.Table | None]:
    """A data frame (pandas, polars) or Arrow table as wire events, plus its actuals if any.

    ``ids`` makes ``n`` fresh event ids when the data has no event id column.
    """
    table = to_arrow(data)
    n = table.num_rows
    names = set(table.column_names)
    roles = {"prediction": prediction, "score": score, "event_id": event_id}
    roles |= {"timestamp": timestamp, "actual": actual}
    for role, col in roles.items():
        if col is not None and col not in names:
            raise KeyError(
                f"The {role!r} column {col!r} is not in the data; its columns are {sorted(names)}."
            )
    used = {c for c in roles.values() if c is not None}
    out: dict[str, pa.ChunkedArray | pa.Array] = {}
    eids = table.column(event_id).cast(pa.string()) if event_id else pa.array(ids(n), pa.string())
    out["event_id"] = eids
    if timestamp is not None:
        col = table.column(timestamp)
        ts_type = pa.types.is_timestamp(col.type) or pa.types.is_date(col.type)
        out["timestamp"] = col if ts_type else timestamps(col.to_pylist())
    else:
        out["timestamp"] = pa.array(np.full(n, round(now * 1e6), np.int64)).cast(TS)
    if version is not None:
        out["version"] = pa.array([version] * n, pa.string())
    if prediction is not None:
        out["prediction"] = table.column(prediction)
    if score is not None:
        out["score"] = table.column(score)
    chosen = list(features) if features is not None else [c for c in table.column_names]
    for c in [*chosen, *segments]:
        if c not in used and c not in out and c not in RESERVED_FIELDS:
            out[c] = table.column(c)
    actuals = None
    if actual is not None:
        actuals = pa.table(
            {"event_id": eids, "actual": table.column(actual), "timestamp": out["timestamp"]}
        )
        valid = actuals.column("actual").is_valid()
        actuals = actuals.filter(valid)
    return pa.table(out), actuals
