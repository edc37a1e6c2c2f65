"""Window aggregates of events held as an in-memory Arrow table (batch mode), without a query.

Batch mode registers the current data with DuckDB as one window of events (no insert).
Numeric histograms and category counts of such a table are counted straight from its Arrow
buffers: DuckDB would scan them only to hand the same values back (histograms) or hash every
string again (categories), which measured 4x slower on 1M rows x 25 columns. Rows are the
ones ``aggregates._filtered`` keeps (the run's time range, the segment's value) and windows
are its ``_w``; ``tests/test_aggregates.py`` checks both against the ibis oracle. Anything
this module does not answer exactly (a segment or category column that is not text) returns
None, and the caller runs the query.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.stats.binning import WindowHistograms
from mlwarden.store.times import utc_naive

__all__ = [
    "Rows",
    "category_counts",
    "count_histograms",
    "histogram_batches",
    "rows",
    "sample",
    "volumes",
]

_US = 1_000_000


class Rows:
    """The rows of a window run (and segment) in an events table: their 0-based window and,
    when some rows are left out, the mask that keeps the others."""

    def __init__(
        self, table: pa.Table, w: npt.NDArray[np.intp], keep: Any, windows: int, first: int
    ) -> None:
        self.table = table
        self.first = first
        self.w = w
        self.keep = keep
        self.windows = windows

    def column(self, name: str) -> pa.ChunkedArray:
        col = self.table.column(name)
        return col if self.keep is None else col.filter(self.keep)

    @property
    def present(self) -> list[int]:
        """Windows holding at least one row (the windows a GROUP BY returns)."""
        return [int(k) for k in np.flatnonzero(np.bincount(self.w, minlength=self.windows))]


def _text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def rows(table: pa.Table, run: Any, segment: dict[str, str] | None) -> Rows | None:
    """The rows ``aggregates._filtered`` keeps, or None when a segment column is not text."""
    for col in segment or {}:
        if col not in table.column_names or not _text(table.schema.field(col).type):
            return None
    ts = pc.cast(table.column("ts"), pa.int64())
    micros = pc.fill_null(ts, np.iinfo(np.int64).min).to_numpy()
    lo = int(utc_naive(run.range_start).timestamp() * _US)
    hi = int(utc_naive(run.range_end).timestamp() * _US)
    mask = (micros >= lo) & (micros < hi)
    for col, value in (segment or {}).items():
        mask &= pc.fill_null(pc.equal(table.column(col), value), False).to_numpy(
            zero_copy_only=False
        )
    origin = int(utc_naive(run.origin).timestamp())
    secs = int(run.cadence.total_seconds())
    keep = None if mask.all() else pa.array(mask)
    kept = micros if keep is None else micros[mask]
    w = ((kept // _US - origin) // secs - run.first).astype(np.intp)
    return Rows(table, w, keep, run.last - run.first + 1, run.first)


def count_histograms(
    batches: Any, reqs: Sequence[Any], windows: int
) -> tuple[list[WindowHistograms], npt.NDArray[np.int64]]:
    """Histograms of ``reqs`` (``Histogram`` requests) over ``batches`` of ``(w, {column:
    float64 values})``, a column per core (numpy releases the GIL while it counts), and the
    rows of each window."""
    hists = [WindowHistograms(tuple(r.edges), windows) for r in reqs]
    seen = np.zeros(windows, dtype=np.int64)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for w, xs in batches:
            seen += np.bincount(w, minlength=windows)
            jobs = [pool.submit(h.add, xs[r.column], w) for h, r in zip(hists, reqs, strict=True)]
            for job in jobs:
                job.result()
    return hists, seen


def histogram_batches(
    sel: Rows, columns: Sequence[str]
) -> Iterator[tuple[npt.NDArray[np.intp], dict[str, Any]]]:
    """The columns of ``sel`` as float64 (nulls as NaN), record batch by record batch: a
    float column without nulls is its Arrow buffer, not a copy."""
    table = sel.table.select(list(columns))
    if sel.keep is not None:
        table = table.filter(sel.keep)
    start = 0
    for batch in table.to_batches():
        n = batch.num_rows
        xs = {
            c: pc.cast(batch.column(i), pa.float64()).to_numpy(zero_copy_only=False)
            for i, c in enumerate(columns)
        }
        yield sel.w[start : start + n], xs
        start += n


def category_counts(sel: Rows, columns: Sequence[str]) -> dict[str, dict[int, Any]] | None:
    """``{column: {window: (counts by value, missing)}}`` like ``aggregates._categories``, for
    text and boolean columns (None otherwise: their text form is the engine's cast)."""
    labels: dict[str, pa.ChunkedArray] = {}
    for c in columns:
        col = sel.column(c)
        if pa.types.is_boolean(col.type):
            col = pc.if_else(col, "1", "0")
        elif not _text(col.type):
            return None
        labels[c] = col
    present = sel.present
    if not present:
        return {c: {} for c in columns}
    one = len(present) == 1

    def count(c: str) -> dict[int, Any]:
        if one:
            vc = pc.value_counts(labels[c])
            values = vc.field("values").to_pylist()
            counts = vc.field("counts").to_pylist()
            return {sel.first + present[0]: _split(zip(values, counts, strict=True))}
        t = (
            pa.table({"w": sel.w, "v": labels[c]})
            .group_by(["w", "v"])
            .aggregate([([], "count_all")])
        )
        out: dict[int, list[tuple[Any, int]]] = {}
        for w, v, n in zip(
            *(t.column(x).to_pylist() for x in ("w", "v", "count_all")), strict=True
        ):
            out.setdefault(sel.first + int(w), []).append((v, n))
        return {w: _split(items) for w, items in out.items()}

    with ThreadPoolExecutor(max_workers=2) as pool:
        done: list[dict[int, Any]] = list(pool.map(count, columns))
    return dict(zip(columns, done, strict=True))


def _split(items: Any) -> tuple[dict[str, int], int]:
    counts: dict[str, int] = {}
    missing = 0
    for value, n in items:
        if value is None:
            missing += int(n)
        else:
            counts[value] = int(n)
    return counts, missing


def volumes(
    sel: Rows, *, light: bool, unique_ids: bool = False
) -> dict[int, dict[str, Any]] | None:
    """``aggregates._volume`` of windows without latencies (a batch report's): events, and
    errors and distinct ids unless ``light``. None when some row has a latency: its
    quantiles are the engine's to interpolate. ``unique_ids``: the ids are unique by
    construction, so each window's distinct ids are its non-null ids."""
    names = sel.table.column_names
    if "status" not in names or "latency_ms" not in names:
        return None
    if sel.column("latency_ms").null_count != len(sel.w):
        return None
    present = sel.present
    if not present:
        return {}
    n = np.bincount(sel.w, minlength=sel.windows)
    errors = ids = None
    if not light:
        err = pc.fill_null(pc.equal(sel.column("status"), "error"), False)
        errors = np.bincount(
            sel.w, weights=err.to_numpy(zero_copy_only=False), minlength=sel.windows
        )
        eid = sel.column("event_id")
        if unique_ids:  # a window's distinct ids are its non-null ids
            valid = pc.is_valid(eid).to_numpy(zero_copy_only=False)
            distinct = np.bincount(sel.w, weights=valid, minlength=sel.windows)
            ids = {k: int(distinct[k]) for k in present}
        elif len(present) == 1:  # unique's length: half the time of count_distinct here
            ids = {present[0]: len(pc.unique(eid)) - (1 if eid.null_count else 0)}
        else:
            t = pa.table({"w": sel.w, "e": eid}).group_by("w").aggregate([("e", "count_distinct")])
            ids = dict(
                zip(
                    t.column("w").to_pylist(), t.column("e_count_distinct").to_pylist(), strict=True
                )
            )
    out: dict[int, dict[str, Any]] = {}
    for k in present:
        # the keys and order of the query's rows (its "_w" included)
        v: dict[str, Any] = {"_w": sel.first + k, "n": int(n[k]), "latency_n": 0}
        if errors is not None and ids is not None:
            v["errors"] = int(errors[k])
            v["ids"] = int(ids[k])
        out[sel.first + k] = {**v, "p50": None, "p95": None, "p99": None}
    return out


def sample(
    sel: Rows, hashes: npt.NDArray[np.int64], columns: Sequence[str], limit: int, modulo: int
) -> dict[int, pa.Table]:
    """``aggregates._sample`` over in-memory events: the ``limit`` rows of each window with the
    smallest ``(|hash % modulo|, hash)`` (the remainder takes the dividend's sign, as in SQL),
    in that order. ``hashes``: the engine's ``hash(event_id)`` of every row of the table as
    signed 64-bit integers (the one thing only the engine computes).
    Like the query version, rows are first cut by the key (each window's ``limit``-th smallest
    from a partition, ties kept), so only those are sorted; the rows are the same."""
    h = hashes if sel.keep is None else hashes[np.asarray(sel.keep)]
    key = np.abs(np.fmod(h, modulo))
    if sel.windows == 1:
        groups = [np.arange(len(h))]
    else:  # rows by window: a stable sort of small integers is a radix sort
        by_w = np.argsort(sel.w.astype(np.int32), kind="stable")
        starts = np.searchsorted(sel.w[by_w], np.arange(sel.windows + 1))
        groups = [by_w[starts[k] : starts[k + 1]] for k in range(sel.windows)]
    table = sel.table.select(list(columns))
    if sel.keep is not None:
        table = table.filter(sel.keep)
    out: dict[int, pa.Table] = {}
    for k, rows in enumerate(groups):
        if not len(rows):
            continue
        if len(rows) > limit:
            kth = np.partition(key[rows], limit - 1)[limit - 1]
            rows = rows[key[rows] <= kth]
        picked = rows[np.lexsort((h[rows], key[rows]))][:limit]
        out[sel.first + k] = table.take(pa.array(picked))
    return out
