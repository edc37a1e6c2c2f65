"""Pair cells (:mod:`mlwarden.store.pair_cells`) kept in DuckDB, recomputed only for the hours
whose events or labels changed.

A mixin of :class:`~mlwarden.store.duckdb_engine.DuckDBStore`. ``pair_cells`` holds, per model
(``uid``), hour and pair of versions (``va < vb``), the pairs per (score bin of each, outcome
flags); ``pair_slices`` the pairs per (slice column, value, flags) with the value of ``va``'s
event. ``rollup_state`` (part ``pairs``) keeps the latest ``received_at`` stamps of events and
labels the cells account for, and the key they were built with (positive class, columns).

A refresh finds the hours of events received since, and of events whose label arrived since,
and recomputes them in one query (the join of the hour's events of every version on event
id, and their labels, grouped with grouping sets); the first one builds every hour. It runs
after each evaluation with the other roll-ups (:meth:`refresh_rollups`) and before a
comparison reads the cells, so a read pays only for what arrived since. The compute reads on
its own cursor; the writer only swaps the hours' rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from mlwarden.schema.spec import FeatureKind, ModelSpec
from mlwarden.store.duckdb_rollups import NEVER, _arrow, _lock, _now, _read
from mlwarden.store.pair_cells import FLAGS, GRID_BINS, PairCells, numeric_code_sql
from mlwarden.store.times import utc_naive
from mlwarden.store.traffic import SHADOW
from mlwarden.store.writer import GroupCommitWriter

__all__ = ["PAIR_DDL", "PairTables", "pair_columns"]

PAIR_DDL = [
    """CREATE TABLE IF NOT EXISTS pair_cells (uid BIGINT, hour TIMESTAMP, va VARCHAR,
        vb VARCHAR, ba SMALLINT, bb SMALLINT, flags SMALLINT, n BIGINT)""",
    """CREATE TABLE IF NOT EXISTS pair_slices (uid BIGINT, hour TIMESTAMP, va VARCHAR,
        vb VARCHAR, col VARCHAR, value VARCHAR, code INTEGER, flags SMALLINT, n BIGINT)""",
]
#: Slice columns kept (the comparison's own cap).
MAX_COLUMNS = 30
_SLICE_FLAGS = FLAGS["lab"] | FLAGS["oka"] | FLAGS["okb"]


def pair_columns(spec: ModelSpec) -> tuple[list[str], set[str]]:
    """The slice columns the cells keep (segment tags, then categorical, boolean and numeric
    features, at most :data:`MAX_COLUMNS`) and which of them are numeric."""
    kinds = (FeatureKind.CATEGORICAL, FeatureKind.BOOLEAN, FeatureKind.NUMERIC)
    feats = [f.name for f in spec.features if f.kind in kinds]
    cols = list(dict.fromkeys([*spec.tag_columns, *feats]))[:MAX_COLUMNS]
    numeric = {f.name for f in spec.features if f.kind is FeatureKind.NUMERIC}
    return cols, {c for c in cols if c in numeric}


def _key(spec: ModelSpec) -> str:
    cols, numeric = pair_columns(spec)
    return json.dumps(
        {"positive": spec.effective_positive_class, "columns": cols,
         "numeric": sorted(numeric), "bins": GRID_BINS, "v": 1},
        separators=(",", ":"),
    )  # fmt: skip


def _bin(score: str) -> str:
    return (
        f"CASE WHEN {score} IS NULL THEN -1 ELSE greatest(least(CAST(floor({score} * "
        f"{GRID_BINS} + 1e-9) AS BIGINT), {GRID_BINS - 1}), 0) END"
    )


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class PairTables:
    """Pair-cell storage for :class:`DuckDBStore` (which provides the cursor and the writer)."""

    _cursor: Callable[[], duckdb.DuckDBPyConnection]
    _writer: GroupCommitWriter

    def pair_cells(
        self,
        model: Any,
        *,
        versions: tuple[str, str],
        start: datetime | None,
        end: datetime | None,
        columns: Sequence[str],
    ) -> PairCells | None:
        lo = NEVER if start is None else utc_naive(start)
        hi = datetime(9999, 1, 1) if end is None else utc_naive(end)
        whole = all(t.minute == t.second == t.microsecond == 0 for t in (lo, hi))
        kept, _ = pair_columns(model.spec)
        if not whole or not set(columns) <= set(kept) or not model.spec.task.is_classification:
            return None
        if not self.has_shadow_rows(model):
            return None  # an A/B split: no cells to build (nor pairs to find)
        self.refresh_pairs(model)
        va, vb = sorted(versions)
        where = "uid = ? AND va = ? AND vb = ? AND hour >= ? AND hour < ?"
        params = [model.uid, va, vb, lo, hi]
        cur = self._cursor()
        grid = _arrow(
            cur,
            f"SELECT ba, bb, flags, sum(n) AS n FROM pair_cells WHERE {where} GROUP BY ALL",
            params,
        )
        days = _arrow(
            cur,
            "SELECT date_trunc('day', hour) AS day, flags, sum(n) AS n FROM pair_cells "
            f"WHERE {where} GROUP BY ALL",
            params,
        )
        slices: dict[str, tuple[list[Any], Any, Any]] = {c: ([], [], []) for c in columns}
        if columns:
            marks = ", ".join("?" for _ in columns)
            rows = _read(
                cur,
                "SELECT col, coalesce(CAST(code AS VARCHAR), value), code IS NOT NULL, flags, "
                f"sum(n) FROM pair_slices WHERE {where} AND col IN ({marks}) GROUP BY ALL",
                [*params, *columns],
            )
            for col, value, is_code, flags, n in rows:
                s = slices[col]
                s[0].append(int(value) if is_code and value is not None else value)
                s[1].append(int(flags))
                s[2].append(int(n))

        def arr(t: pa.Table, name: str, dtype: Any) -> np.ndarray[Any, Any]:
            return np.asarray(t.column(name).to_numpy(zero_copy_only=False), dtype=dtype)

        cells = PairCells(
            grid={"ba": arr(grid, "ba", np.int64), "bb": arr(grid, "bb", np.int64),
                  "flags": arr(grid, "flags", np.int64), "n": arr(grid, "n", np.float64)},
            days={"day": np.array(days.column("day").to_pylist(), dtype=object),
                  "flags": arr(days, "flags", np.int64), "n": arr(days, "n", np.float64)},
            slices={c: (v, np.asarray(f, dtype=np.int64), np.asarray(n, dtype=np.float64))
                    for c, (v, f, n) in slices.items()},
        )  # fmt: skip
        return cells.oriented(swapped=(va, vb) != tuple(versions))

    def has_shadow_rows(self, model: Any) -> bool:
        """Whether any event of the model is marked shadow (pairs are kept for those only)."""
        ev = _q(f"events_{model.uid}")
        have = {r[0] for r in _read(self._cursor(), f"SELECT column_name FROM (DESCRIBE {ev})")}
        return SHADOW in have and bool(_read(self._cursor(), f"SELECT 1 FROM {ev} WHERE "
                                             f"{SHADOW} LIMIT 1"))  # fmt: skip

    def refresh_pairs(self, model: Any) -> None:
        """Bring a classifier's pair cells up to date (the hours that changed since)."""
        if not model.spec.task.is_classification:
            return
        with _lock(self, model.uid, "pairs"):
            self._refresh_pairs_unlocked(model)

    def _refresh_pairs_unlocked(self, model: Any) -> None:
        key = _key(model.spec)
        cur = self._cursor()
        hours, seen = dirty_hours(cur, model.uid, "pairs", key)
        if hours is not None and not hours:
            return
        cells, slices = self._compute_pairs(cur, model, hours)
        replace_hours(self._writer, model.uid, "pairs", key, seen, hours,
                      {"pair_cells": cells, "pair_slices": slices})  # fmt: skip

    def _compute_pairs(
        self, cur: duckdb.DuckDBPyConnection, model: Any, hours: list[datetime] | None
    ) -> tuple[pa.Table, pa.Table]:
        uid, spec = model.uid, model.spec
        ev, ac = _q(f"events_{uid}"), _q(f"actuals_{uid}")
        have = {r[0] for r in _read(cur, f"SELECT column_name FROM (DESCRIBE {ev})")}
        cols, numeric = pair_columns(spec)
        cols = [c for c in cols if c in have]
        pos = _lit(spec.effective_positive_class or "")
        score = "score" if "score" in have else "CAST(NULL AS DOUBLE)"
        where = "" if hours is None else "WHERE list_contains(?, date_trunc('hour', ts))"
        params: list[Any] = [] if hours is None else [hours, hours]
        extra = "".join(f", {_q(c)} AS s{i}" for i, c in enumerate(cols))
        side = (
            f"SELECT event_id, version, date_trunc('hour', ts) AS hour, "
            f"CAST(prediction AS VARCHAR) AS p, {score} AS s{{extra}} FROM {ev} {where}"
        )
        f = FLAGS
        flags = (
            f"(CASE WHEN l.actual IS NULL THEN 0 ELSE {f['lab']} END"
            f" + CASE WHEN coalesce(l.actual = {pos}, false) THEN {f['pos']} ELSE 0 END"
            f" + CASE WHEN coalesce(a.p = {pos}, false) THEN {f['pa']} ELSE 0 END"
            f" + CASE WHEN coalesce(b.p = {pos}, false) THEN {f['pb']} ELSE 0 END"
            f" + CASE WHEN coalesce(a.p = l.actual, false) THEN {f['oka']} ELSE 0 END"
            f" + CASE WHEN coalesce(b.p = l.actual, false) THEN {f['okb']} ELSE 0 END"
            f" + CASE WHEN coalesce(a.p = b.p, false) THEN {f['agree']} ELSE 0 END)"
        )
        keys = [f"{_bin('a.s')} AS ba", f"{_bin('b.s')} AS bb", f"{flags} AS flags"]
        for i, c in enumerate(cols):
            if c in numeric:
                keys.append(f"{numeric_code_sql(f'a.s{i}')} AS k{i}")
            else:
                keys.append(f"CAST(a.s{i} AS VARCHAR) AS k{i}")
        ks = [f"k{i}" for i in range(len(cols))]
        sets = ["(hour, va, vb, ba, bb, flags)"] + [f"(hour, va, vb, {k}, sflags)" for k in ks]
        sql = (
            f"SELECT GROUPING_ID(ba, bb, flags{''.join(', ' + k for k in ks)}, sflags) AS g, "
            f"hour, va, vb, ba, bb, flags{''.join(', ' + k for k in ks)}, sflags, count(*) AS n "
            f"FROM (SELECT a.hour, a.version AS va, b.version AS vb, {', '.join(keys)}, "
            f"({flags}) & {_SLICE_FLAGS} AS sflags "
            f"FROM ({side.format(extra=extra)}) a JOIN ({side.format(extra='')}) b "
            "ON a.event_id = b.event_id AND a.version < b.version AND a.hour = b.hour "
            f"LEFT JOIN {ac} l ON l.event_id = a.event_id) "
            f"GROUP BY GROUPING SETS ({', '.join(sets)})"
        )
        t = _arrow(cur, sql, params)
        width = 4 + len(ks)  # ba, bb, flags, k..., sflags
        g = t.column("g").to_numpy()
        cell_mask = sum(1 << j for j in range(len(ks) + 1))
        grid = t.filter(pa.array(g == cell_mask)).select(["hour", "va", "vb", "ba", "bb",
                                                           "flags", "n"])  # fmt: skip
        parts = []
        for c, k in zip(cols, ks, strict=True):
            grouped = {k, "sflags"}
            names = ["ba", "bb", "flags", *ks, "sflags"]
            mask = sum(1 << (width - 1 - j) for j, nm in enumerate(names) if nm not in grouped)
            part = t.filter(pa.array(g == mask))
            vals = part.column(k)
            n = part.num_rows
            parts.append(
                pa.table(
                    {
                        "hour": part.column("hour"),
                        "va": part.column("va"),
                        "vb": part.column("vb"),
                        "col": pa.array([c] * n, pa.string()),
                        "value": vals.cast(pa.string())
                        if c not in numeric
                        else pa.nulls(n, pa.string()),
                        "code": vals.cast(pa.int32()) if c in numeric else pa.nulls(n, pa.int32()),
                        "flags": part.column("sflags").cast(pa.int16()),
                        "n": part.column("n"),
                    }
                )
            )
        empty = pa.schema([("hour", pa.timestamp("us")), ("va", pa.string()),
                           ("vb", pa.string()), ("col", pa.string()), ("value", pa.string()),
                           ("code", pa.int32()), ("flags", pa.int16()), ("n", pa.int64())])  # fmt: skip
        slices = pa.concat_tables(parts) if parts else empty.empty_table()
        return grid, slices


Stamps = tuple[datetime | None, datetime | None]


def dirty_hours(
    cur: duckdb.DuckDBPyConnection, uid: int, part: str, key: str
) -> tuple[list[datetime] | None, Stamps]:
    """The hours of model ``uid`` whose events or labels arrived since ``part`` was last
    stored (None: all, when it never was or was built with another ``key``), and the stamps
    to store with the recomputed hours."""
    ev, ac = _q(f"events_{uid}"), _q(f"actuals_{uid}")
    state = _read(
        cur,
        "SELECT key, seen_events, seen_actuals FROM rollup_state WHERE uid = ? AND part = ?",
        [uid, part],
    )
    (seen_e, seen_a) = _read(
        cur, f"SELECT (SELECT max(received_at) FROM {ev}), (SELECT max(received_at) FROM {ac})"
    )[0]
    if not state or state[0][0] != key:
        return None, (seen_e, seen_a)
    since_e, since_a = state[0][1] or NEVER, state[0][2] or NEVER
    rows = _read(
        cur,
        f"SELECT DISTINCT date_trunc('hour', ts) FROM {ev} WHERE received_at > ? "
        f"UNION SELECT DISTINCT date_trunc('hour', e.ts) FROM {ac} l JOIN {ev} e "
        "ON e.event_id = l.event_id WHERE l.received_at > ?",
        [since_e, since_a],
    )
    return sorted(r[0] for r in rows if r[0] is not None), (seen_e, seen_a)


def replace_hours(
    writer: GroupCommitWriter,
    uid: int,
    part: str,
    key: str,
    seen: Stamps,
    hours: list[datetime] | None,
    tables: dict[str, pa.Table],
) -> None:
    """Swap the stored rows of ``hours`` (None: all) for ``tables`` and record the stamps, in
    one transaction of the writer; waits for it."""

    def fn(con: duckdb.DuckDBPyConnection) -> None:
        for table, data in tables.items():
            if hours is None:
                con.execute(f"DELETE FROM {table} WHERE uid = ?", [uid])
            else:
                con.execute(
                    f"DELETE FROM {table} WHERE uid = ? AND list_contains(?, hour)", [uid, hours]
                )
            if data.num_rows:
                con.register("_cell_rows", data)
                try:
                    con.execute(f"INSERT INTO {table} BY NAME SELECT ? AS uid, * FROM _cell_rows",
                                [uid])  # fmt: skip
                finally:
                    con.unregister("_cell_rows")
        con.execute(
            "INSERT OR REPLACE INTO rollup_state VALUES (?, ?, ?, ?, ?, ?)",
            [uid, part, key, seen[0], seen[1], _now()],
        )

    writer.submit("call", None, fn, 1).result()
