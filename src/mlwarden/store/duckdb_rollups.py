"""Hourly roll-ups of events (:mod:`mlwarden.store.rollups`) kept in DuckDB, recomputed only
for the hours whose events or labels changed.

A mixin of :class:`~mlwarden.store.duckdb_engine.DuckDBStore`. Tables ``rollup_ops``,
``rollup_latency``, ``rollup_features`` and ``rollup_labels`` hold the hourly rows of every
model (``uid``); ``rollup_state`` holds, per model and part (``events``, ``labels``), the
latest ``received_at`` stamps its rows account for.

What changed is told by ``received_at``, which the writer stamps on every event and label it
stores. Commits are sequential, so a row committed after a refresh read the stamps carries a
later one; and since events are appended, zone maps make "rows received after t" a scan of
the newest row groups only.

* Events: the hours of events received since the last refresh are recomputed from raw
  events. Cheap (one hour is a small scan), so every read does it first.
* Labels: the hours of events whose label arrived since, and of new events that already have
  a label. That is a join over the event ids, so a read runs it only when its counts are
  older than :data:`LABELS_MAX_AGE`; after evaluation the scheduler runs it anyway
  (:meth:`refresh_rollups`).

A read serves the recomputed hours merged with the stored ones at once and hands the write
to the writer without waiting for it. The write applies only if nobody refreshed the model
since the read (compare-and-set on ``rollup_state``), so a slow refresh never overwrites a
newer one; until it commits, the next read recomputes the same hours. Rows deleted by
retention leave their hours in place: the aggregates stay.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, wait
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.errors import StorageError
from mlwarden.store.rollups import (
    FEATURES_SCHEMA,
    LABELS_SCHEMA,
    LATENCY_SCHEMA,
    OPS_SCHEMA,
    Rollup,
    compute_events,
    compute_labels,
    rollup_key,
)
from mlwarden.store.times import utc_aware, utc_naive
from mlwarden.store.writer import GroupCommitWriter

__all__ = ["LABELS_MAX_AGE", "ROLLUP_DDL", "RollupTables"]

log = logging.getLogger(__name__)

#: How old a read lets label counts get before it brings them up to date itself.
LABELS_MAX_AGE = timedelta(minutes=5)
#: A stamp before every row (rows stored by other tools may have no stamp at all).
NEVER = datetime(1970, 1, 1)

_TABLES = {
    "rollup_ops": OPS_SCHEMA,
    "rollup_latency": LATENCY_SCHEMA,
    "rollup_features": FEATURES_SCHEMA,
    "rollup_labels": LABELS_SCHEMA,
}
_SQL_TYPES = {pa.int64(): "BIGINT", pa.int32(): "INTEGER", pa.float64(): "DOUBLE"}


def _ddl(name: str, schema: pa.Schema) -> str:
    cols = ", ".join(
        f'"{f.name}" '
        + (
            "TIMESTAMP"
            if pa.types.is_timestamp(f.type)
            else "VARCHAR"
            if pa.types.is_string(f.type)
            else _SQL_TYPES[f.type]
        )
        for f in schema
    )
    return f"CREATE TABLE IF NOT EXISTS {name} (uid BIGINT, {cols})"


ROLLUP_DDL = [
    """CREATE TABLE IF NOT EXISTS rollup_state (
        uid BIGINT, part VARCHAR, key VARCHAR, seen_events TIMESTAMP, seen_actuals TIMESTAMP,
        refreshed_at TIMESTAMP, PRIMARY KEY (uid, part))""",
    *(_ddl(name, schema) for name, schema in _TABLES.items()),
]

State = tuple[str, datetime | None, datetime | None, datetime | None]


class RollupTables:
    """Roll-up storage for :class:`DuckDBStore` (which provides the cursor, the writer and the
    ibis tables of events and actuals)."""

    _cursor: Callable[[], duckdb.DuckDBPyConnection]
    _writer: GroupCommitWriter
    events: Callable[..., Any]
    actuals: Callable[[Any], Any]
    refresh_pairs: Callable[[Any], None]
    has_shadow_rows: Callable[[Any], bool]
    refresh_score_cells: Callable[[Any], None]

    # -- reads -------------------------------------------------------------------------------
    def rollup(self, model: Any, *, start: datetime, end: datetime, labels: bool = False) -> Rollup:
        """The hourly roll-ups of ``[start, end)``, brought up to date (labels: see
        :data:`LABELS_MAX_AGE`)."""
        lo, hi = utc_naive(start), utc_naive(end)
        stale, fresh, _ = self._events_part(model)
        ops, latency, features = (
            self._served(name, model.uid, lo, hi, stale, table)
            for name, table in zip(
                ("rollup_ops", "rollup_latency", "rollup_features"), fresh, strict=True
            )
        )
        lab, as_of = None, None
        if labels and model.spec.task.is_classification:
            l_stale, l_fresh, as_of, _ = self._labels_part(model, force=False)
            lab = self._served("rollup_labels", model.uid, lo, hi, l_stale, l_fresh)
        return Rollup(ops, latency, features, lab, as_of)

    def refresh_rollups(self, model: Any, *, wait: bool = True) -> None:
        """Bring the stored roll-ups of a model up to date, labels too (after an evaluation,
        at start-up); ``wait``: until the write is committed."""
        futures = [self._events_part(model, submit=True)[2]]
        if model.spec.task.is_classification:
            futures.append(self._labels_part(model, force=True, submit=True)[3])
        if wait:
            for f in futures:
                if f is not None:
                    f.result()
            # the score cells (store/duckdb_score_cells.py), and the shadow pairs' cells
            # (store/duckdb_pairs.py) of a model that has shadow rows
            self.refresh_score_cells(model)
            if model.spec.task.is_classification and self.has_shadow_rows(model):
                self.refresh_pairs(model)

    def _served(
        self,
        name: str,
        uid: int,
        lo: datetime,
        hi: datetime,
        stale: Collection[datetime] | None,
        fresh: pa.Table | None,
    ) -> pa.Table:
        """Stored rows of ``[lo, hi)`` but for ``stale`` hours (None: all), plus ``fresh``."""
        schema = _TABLES[name]
        parts = []
        if stale is not None:
            cols = ", ".join(f'"{f.name}"' for f in schema)
            stored = _arrow(
                self._cursor(),
                f"SELECT {cols} FROM {name} WHERE uid = ? AND hour >= ? AND hour < ?",
                [uid, lo, hi],
            )
            if stale and stored.num_rows:
                gone = pc.is_in(stored.column("hour"), value_set=pa.array(sorted(stale), _TS))
                stored = stored.filter(pc.invert(gone))
            parts.append(stored.cast(schema))
        if fresh is not None and fresh.num_rows:
            hour = fresh.column("hour")
            keep = pc.and_(
                pc.greater_equal(hour, pa.scalar(lo, _TS)), pc.less(hour, pa.scalar(hi, _TS))
            )
            parts.append(fresh.filter(keep))
        return pa.concat_tables(parts) if parts else schema.empty_table()

    # -- refresh -----------------------------------------------------------------------------
    def _state(self, uid: int, part: str) -> State | None:
        rows = _read(
            self._cursor(),
            "SELECT key, seen_events, seen_actuals, refreshed_at FROM rollup_state "
            "WHERE uid = ? AND part = ?",
            [uid, part],
        )
        return tuple(rows[0]) if rows else None

    def _events_part(
        self, model: Any, *, submit: bool = True
    ) -> tuple[set[datetime] | None, tuple[pa.Table | None, ...], Future[Any] | None]:
        """``(stale hours or None for all, fresh (ops, latency, features), pending write)``.

        One refresh of a model at a time: a read arriving while another computes waits for it
        (and, after a full build, for its write) instead of doing the same work again."""
        with _lock(self, model.uid, "events"):
            return self._events_unlocked(model, submit=submit)

    def _events_unlocked(
        self, model: Any, *, submit: bool
    ) -> tuple[set[datetime] | None, tuple[pa.Table | None, ...], Future[Any] | None]:
        key = rollup_key(model.spec)
        table = f"events_{model.uid}"
        state = self._state(model.uid, "events")
        hours: set[datetime] | None
        if state is None or state[0] != key:
            hours = None
            (seen,) = _read(self._cursor(), f'SELECT max(received_at) FROM "{table}"')[0]
        else:
            since = state[1] or NEVER
            rows = _read(
                self._cursor(),
                f"SELECT date_trunc('hour', ts), max(received_at) FROM \"{table}\" "
                "WHERE received_at > ? GROUP BY 1",
                [since],
            )
            if not rows:
                return set(), (None, None, None), None
            hours = {r[0] for r in rows}
            seen = max(r[1] for r in rows)
        fresh = compute_events(
            self.events(model), model.spec, hours=None if hours is None else sorted(hours)
        )
        future = None
        if submit:
            new: State = (key, seen, None, _now())
            future = self._put(
                model.uid,
                "events",
                state,
                new,
                hours,
                dict(zip(("rollup_ops", "rollup_latency", "rollup_features"), fresh, strict=True)),
            )
            if hours is None and future is not None:
                wait([future])
        return hours, fresh, future

    def _labels_part(
        self, model: Any, *, force: bool, submit: bool = True
    ) -> tuple[set[datetime] | None, pa.Table | None, datetime | None, Future[Any] | None]:
        """``(stale hours or None for all, fresh labels, as of, pending write)``; one at a time
        per model, the write waited for."""
        with _lock(self, model.uid, "labels"):
            out = self._labels_unlocked(model, force=force, submit=submit)
            if out[3] is not None:
                wait([out[3]])
            return out

    def _labels_unlocked(
        self, model: Any, *, force: bool, submit: bool
    ) -> tuple[set[datetime] | None, pa.Table | None, datetime | None, Future[Any] | None]:
        key = rollup_key(model.spec)
        ev, ac = f'"events_{model.uid}"', f'"actuals_{model.uid}"'
        state = self._state(model.uid, "labels")
        now = _now()
        valid = state is not None and state[0] == key
        if (
            valid
            and not force
            and state is not None
            and state[3] is not None
            and state[3] > now - LABELS_MAX_AGE
        ):
            return set(), None, utc_aware(state[3]), None
        cur = self._cursor()
        hours: set[datetime] | None
        if not valid:
            hours = None
            seen_e = _read(cur, f"SELECT max(received_at) FROM {ev}")[0][0]
            seen_a = _read(cur, f"SELECT max(received_at) FROM {ac}")[0][0]
        else:
            assert state is not None
            since_e, since_a = state[1] or NEVER, state[2] or NEVER
            new_e = _read(
                cur, f"SELECT max(received_at) FROM {ev} WHERE received_at > ?", [since_e]
            )[0][0]
            new_a = _read(
                cur, f"SELECT max(received_at) FROM {ac} WHERE received_at > ?", [since_a]
            )[0][0]
            if new_e is None and new_a is None:
                return set(), None, now, None
            hours = set()
            if new_a is not None:
                hours |= {
                    r[0]
                    for r in _read(
                        cur,
                        f"SELECT DISTINCT date_trunc('hour', e.ts) FROM {ac} a JOIN {ev} e "
                        "USING (event_id) WHERE a.received_at > ? AND a.received_at <= ?",
                        [since_a, new_a],
                    )
                }
            if new_e is not None:
                hours |= {
                    r[0]
                    for r in _read(
                        cur,
                        f"SELECT DISTINCT date_trunc('hour', e.ts) FROM {ev} e JOIN {ac} a "
                        "USING (event_id) WHERE e.received_at > ? AND e.received_at <= ?",
                        [since_e, new_e],
                    )
                }
            seen_e, seen_a = new_e or state[1], new_a or state[2]
        fresh = compute_labels(
            self.events(model),
            self.actuals(model),
            model.spec,
            hours=None if hours is None else sorted(hours),
        )
        future = None
        if submit:
            future = self._put(
                model.uid,
                "labels",
                state,
                (key, seen_e, seen_a, now),
                hours,
                {"rollup_labels": fresh},
            )
        return hours, fresh, utc_aware(now), future

    def _put(
        self,
        uid: int,
        part: str,
        expected: State | None,
        new: State,
        hours: set[datetime] | None,
        tables: dict[str, pa.Table],
    ) -> Future[Any] | None:
        """Hand the write of recomputed hours to the writer (compare-and-set on the state)."""

        def fn(con: duckdb.DuckDBPyConnection) -> bool:
            rows = con.execute(
                "SELECT key, seen_events, seen_actuals, refreshed_at FROM rollup_state "
                "WHERE uid = ? AND part = ?",
                [uid, part],
            ).fetchall()
            if (tuple(rows[0]) if rows else None) != expected:
                return False  # refreshed by someone else since our reads
            if hours is not None:
                con.register("rollup_hours", pa.table({"hour": pa.array(sorted(hours), _TS)}))
            try:
                for name, table in tables.items():
                    if hours is None:
                        con.execute(f"DELETE FROM {name} WHERE uid = ?", [uid]).fetchall()
                    else:
                        con.execute(
                            f"DELETE FROM {name} WHERE uid = ? AND hour IN "
                            "(SELECT hour FROM rollup_hours)",
                            [uid],
                        ).fetchall()
                    if table.num_rows:
                        con.register(
                            "rollup_batch",
                            table.add_column(
                                0, "uid", pa.array([uid] * table.num_rows, pa.int64())
                            ),
                        )
                        try:
                            con.execute(
                                f"INSERT INTO {name} BY NAME SELECT * FROM rollup_batch"
                            ).fetchall()
                        finally:
                            con.unregister("rollup_batch")
            finally:
                if hours is not None:
                    con.unregister("rollup_hours")
            con.execute(
                "INSERT OR REPLACE INTO rollup_state VALUES (?, ?, ?, ?, ?, ?)", [uid, part, *new]
            ).fetchall()
            return True

        try:
            future: Future[Any] = self._writer.submit("call", None, fn, 1)
        except StorageError:  # the store is closing: the next start recomputes
            return None
        future.add_done_callback(_log_failure)
        return future


_TS = pa.timestamp("us")
#: One lock per store (held weakly), model and part: a store made later never shares them.
_LOCKS: weakref.WeakKeyDictionary[object, dict[tuple[int, str], threading.Lock]] = (
    weakref.WeakKeyDictionary()
)
_LOCKS_GUARD = threading.Lock()


def _lock(store: object, uid: int, part: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(store, {}).setdefault((uid, part), threading.Lock())


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _read(cur: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    try:
        return cur.execute(sql, list(params)).fetchall()
    except duckdb.Error as exc:
        raise StorageError(f"A read failed: {exc}") from exc


def _arrow(cur: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> pa.Table:
    """A query's result as an Arrow table. ``execute`` with parameters, not ``sql``: a relation
    with parameters took 400 ms where this takes 7 (200k rows, DuckDB 1.5)."""
    try:
        res = cur.execute(sql, list(params))
        fetch = getattr(res, "to_arrow_table", None) or res.fetch_arrow_table
        table: pa.Table = fetch()
        return table
    except duckdb.Error as exc:
        raise StorageError(f"A read failed: {exc}") from exc


def _log_failure(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("storing roll-ups failed (the next read recomputes them): %s", exc)
