"""The embedded default engine: one DuckDB file, one writer thread.

Tables (``<uid>`` is a model's numeric id):

* ``models``, ``versions``, ``refs`` — the catalog; ``ref_<uid>`` holds a reference's rows;
* ``events_<uid>`` — wide: one column per event field, feature and tag; primary key
  ``event_id`` makes re-sent events a no-op;
* ``actuals_<uid>`` — labels keyed by ``event_id``; a newer label replaces an older one;
* ``quarantine`` — rejected rows with their index, field and reason;
* ``annotations`` — deploys, notes and incidents marked on charts (:mod:`.duckdb_annotations`);
* ``scores`` — scores of traces (feedback, ratings; :mod:`.duckdb_scores`);
* ``spans`` — trace spans of every project (one wide append-only table, a ``project``
  column; columns from :data:`mlwarden.schema.genai.SPAN_SCHEMA`);
* ``results``, ``incidents`` — written by the monitors and incidents layers;
* ``rollup_*`` — hourly roll-ups of events for pages (:mod:`.duckdb_rollups`).

Every write goes through :class:`~mlwarden.store.writer.GroupCommitWriter`, so
there is one writing connection; reads use a cursor per thread (DuckDB's MVCC
lets them run beside the writer). Timestamps are stored as UTC without a zone.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwarden._lazy import ibis
from mlwarden.errors import ConflictError, NotFoundError, StorageError, StoreOpenError
from mlwarden.schema.batch import Rejection, canonical_schema
from mlwarden.schema.genai import SPAN_SCHEMA
from mlwarden.schema.spec import RESERVED_FIELDS, Feature, ModelSpec, check_name
from mlwarden.store import arrow_scan, duckdb_migrations, duckdb_open
from mlwarden.store.base import (
    ENGINES,
    IngestResult,
    ModelRecord,
    ReferenceRecord,
    Store,
    SuiteRow,
    VersionRecord,
)
from mlwarden.store.checkpointer import Checkpointer
from mlwarden.store.duckdb_annotations import ANNOTATION_DDL, AnnotationTables
from mlwarden.store.duckdb_evals import EVAL_DDL, EvalTables
from mlwarden.store.duckdb_grouping import grouped_sums_duckdb
from mlwarden.store.duckdb_incidents import INCIDENT_DDL, IncidentTables
from mlwarden.store.duckdb_pairs import PAIR_DDL, PairTables
from mlwarden.store.duckdb_removal import ModelRemoval
from mlwarden.store.duckdb_rollups import ROLLUP_DDL, RollupTables
from mlwarden.store.duckdb_score_cells import SCORE_DDL_CELLS, ScoreCellTables
from mlwarden.store.duckdb_scores import SCORE_DDL, ScoreTables
from mlwarden.store.duckdb_signals import SIGNAL_DDL, SignalTables
from mlwarden.store.duckdb_slo import SLO_DDL, SloTables
from mlwarden.store.grouping_sets import Groups
from mlwarden.store.keyed_locks import KeyedLocks
from mlwarden.store.ledger import CommitLedger, LedgerState
from mlwarden.store.sql_event_times import EventTimes
from mlwarden.store.times import utc_naive
from mlwarden.store.traffic import SHADOW, traffic
from mlwarden.store.writer import GroupCommitWriter, WriteRequest

__all__ = ["DuckDBStore"]

log = logging.getLogger("mlwarden.store")

#: Rows per streamed batch of a scan counted in numpy (40 double columns: ~80 MB).
_SCAN_ROWS = 1 << 18

CATALOG_DDL = [
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    "CREATE SEQUENCE IF NOT EXISTS uid_seq START 1",
    """CREATE TABLE IF NOT EXISTS models (
        project VARCHAR, name VARCHAR, uid BIGINT UNIQUE, spec VARCHAR,
        created_at TIMESTAMP, updated_at TIMESTAMP, PRIMARY KEY (project, name))""",
    """CREATE TABLE IF NOT EXISTS versions (
        project VARCHAR, model VARCHAR, version VARCHAR, created_at TIMESTAMP,
        description VARCHAR, metadata VARCHAR, PRIMARY KEY (project, model, version))""",
    """CREATE TABLE IF NOT EXISTS refs (
        uid BIGINT PRIMARY KEY, project VARCHAR, model VARCHAR, version VARCHAR, name VARCHAR,
        rows BIGINT, columns VARCHAR, created_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        project VARCHAR, model VARCHAR, kind VARCHAR, received_at TIMESTAMP, row_index INTEGER,
        field VARCHAR, reason VARCHAR, payload VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS results (
        project VARCHAR, model VARCHAR, monitor VARCHAR, kind VARCHAR, "column" VARCHAR,
        segment VARCHAR, window_start TIMESTAMP, window_end TIMESTAMP, status VARCHAR,
        value DOUBLE, threshold DOUBLE, warn DOUBLE, n BIGINT, direction VARCHAR, reason VARCHAR,
        details VARCHAR, evaluated_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS monitor_suites (
        project VARCHAR, model VARCHAR, spec VARCHAR, state VARCHAR, updated_at TIMESTAMP,
        evaluated_until TIMESTAMP, labels_seen_until TIMESTAMP,
        events_seen_until TIMESTAMP, PRIMARY KEY (project, model))""",
]


#: Event times outside the accepted range (files written before ingest checked it may hold
#: a year 9999) are left out of the time ranges pages and the scheduler build windows from.


def _sql_type(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_list(t):
        return "FLOAT[]"
    raise StorageError(f"No column type for Arrow type {t}.")  # pragma: no cover


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


CATALOG_DDL.append(
    "CREATE TABLE IF NOT EXISTS spans ("
    + ", ".join(f"{_q(f.name)} {_sql_type(f.type)}" for f in SPAN_SCHEMA)
    + ", received_at TIMESTAMP)"
)


#: How far before and after a batch's spans the other spans of their traces are looked for.
TRACE_REACH = timedelta(days=1)
#: Trace-level columns: a value on one span of a trace (its root first, then the earliest)
#: fills the spans of that trace that have none, whichever export request brought them.
TRACE_COLUMNS = ("user_id", "session_id", "model")


def _attribute_traces(con: duckdb.DuckDBPyConnection, lo: datetime, hi: datetime) -> None:
    """Fill user, session and model of the batch's traces (``sp_batch``) on every span of
    those traces: the spans just inserted take them from stored ones and stored ones from
    the new, so what a user or session spent does not depend on how spans were batched."""
    first = ", ".join(
        f"arg_min(s.{c}, (s.parent_span_id IS NOT NULL, s.start_time)) "
        f"FILTER (WHERE s.{c} IS NOT NULL) AS {c}"
        for c in TRACE_COLUMNS
    )
    fill = ", ".join(f"{c} = coalesce(spans.{c}, k.{c})" for c in TRACE_COLUMNS)
    missing = " OR ".join(f"(spans.{c} IS NULL AND k.{c} IS NOT NULL)" for c in TRACE_COLUMNS)
    window = [lo - TRACE_REACH, hi + TRACE_REACH]
    _all(
        con,
        f"UPDATE spans SET {fill} FROM (SELECT s.project, s.trace_id, {first} FROM spans s "
        "SEMI JOIN (SELECT DISTINCT project, trace_id FROM sp_batch) b "
        "ON s.project = b.project AND s.trace_id = b.trace_id "
        "WHERE s.start_time BETWEEN ? AND ? GROUP BY s.project, s.trace_id) k "
        "WHERE spans.project = k.project AND spans.trace_id = k.trace_id "
        f"AND spans.start_time BETWEEN ? AND ? AND ({missing})",
        window + window,
    )


def _split_traces(table: pa.Table) -> bool:
    """Whether some trace of ``table`` has a :data:`TRACE_COLUMNS` value on one span and
    none on another (its spans came in different requests of a commit group)."""
    aggs: list[Any] = [(c, "count") for c in TRACE_COLUMNS] + [([], "count_all")]
    counts = table.group_by(["project", "trace_id"]).aggregate(aggs)
    rows = counts.column("count_all")
    for c in TRACE_COLUMNS:
        valid = counts.column(f"{c}_count")  # non-null values
        if pc.any(pc.and_(pc.greater(valid, 0), pc.less(valid, rows))).as_py():
            return True
    return False


def _naive(table: pa.Table) -> pa.Table:
    """Store timestamps as UTC without a zone (engines disagree on zoned types)."""
    cols = []
    changed = False
    for f, col in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            cols.append(col.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us")))
            changed = True
        else:
            cols.append(col)
    return pa.Table.from_arrays(cols, names=table.column_names) if changed else table


def _all(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> list[Any]:
    """Run a statement and consume its whole result (DuckDB wants results finished)."""
    rows: list[Any] = (
        con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    )
    return rows


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> Any:
    rows = _all(con, sql, params)
    return rows[0] if rows else None


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@ENGINES.register
class DuckDBStore(
    EventTimes,
    IncidentTables,
    RollupTables,
    PairTables,
    ScoreCellTables,
    SignalTables,
    ScoreTables,
    AnnotationTables,
    EvalTables,
    SloTables,
    ModelRemoval,
    Store,
):
    """A DuckDB database file (or ``":memory:"`` for batch mode and tests).

    Examples
    --------
    >>> from mlwarden.schema import ModelSpec, Feature
    >>> store = DuckDBStore(":memory:")
    >>> rec = store.create_model("default", ModelSpec(name="m", task="regression",
    ...                          features=[Feature(name="x", kind="numeric")]))
    >>> [m.name for m in store.list_models("default")]
    ['m']
    >>> store.close()
    """

    kind: ClassVar[str] = "duckdb"

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        commit_interval: float = 0.05,
        max_group_rows: int = 100_000,
        retention_days: float | None = None,
        dedup_lookback_days: float = 7.0,
        checkpoint_threshold: str = "256MB",
        checkpoint_after_s: float | None = 5.0,
        checkpoint_wal_mb: float = 64.0,
        memory_limit: str | None = None,
    ) -> None:
        self.path = str(path)
        self.commit_interval = commit_interval
        self.max_group_rows = max_group_rows
        self.retention_days = retention_days
        self.dedup_lookback_days = dedup_lookback_days
        self.checkpoint_threshold = checkpoint_threshold
        self.checkpoint_after_s = checkpoint_after_s
        self.checkpoint_wal_mb = checkpoint_wal_mb
        self.memory_limit = memory_limit
        file = None if self.path == ":memory:" else Path(self.path)
        wal_bytes = 0 if file is None else duckdb_open.prepare(file)
        # DuckDB folds the WAL into the database file at commit time when it reaches this
        # size. Its 16MB default made every few group commits pay for a checkpoint (measured:
        # 150k rows/s at 8k-row commits vs 290k at 256MB); the Checkpointer below bounds the
        # WAL by age and a smaller size instead, off the writer thread.
        config: dict[str, Any] = {
            "checkpoint_threshold": checkpoint_threshold,
        }
        if memory_limit:
            config["memory_limit"] = memory_limit
        try:
            self._con = duckdb.connect(self.path, config=config)
        except duckdb.Error as exc:
            if file is None:
                raise StorageError(f"Cannot open an in-memory database: {exc}") from exc
            raise duckdb_open.explain_failure(file, exc) from exc
        self._wcon = self._con.cursor()
        try:
            # the layout version checked (a newer one refused), missing tables created, and
            # the file upgraded to this release's layout (docs/storage.md)
            duckdb_migrations.open_schema(
                self._wcon,
                CATALOG_DDL
                + INCIDENT_DDL
                + ROLLUP_DDL
                + PAIR_DDL
                + SCORE_DDL_CELLS
                + SIGNAL_DDL
                + SCORE_DDL
                + ANNOTATION_DDL
                + EVAL_DDL
                + SLO_DDL,
                where=self.path,
            )
            seq, rows = _commit_counters(self._wcon)
        except StoreOpenError:
            self._con.close()
            raise
        except duckdb.Error as exc:
            self._con.close()
            if file is None:
                raise StorageError(f"Cannot create the in-memory database: {exc}") from exc
            raise duckdb_open.explain_failure(file, exc) from exc
        #: problems found at opening (acknowledged commits missing), for logs and /v1/health
        self.warnings_: tuple[str, ...] = ()
        self._ledger: CommitLedger | None = None
        self._ledger_state = LedgerState(seq, rows)
        self._ledger_failed = False
        self._ledger_lock = threading.Lock()
        self._checkpointer: Checkpointer | None = None
        if file is not None:
            for f in (file, duckdb_open.wal_path(file)):
                duckdb_open.private(f)
            ledger = CommitLedger(file.with_name(file.name + ".ledger"))
            try:
                claimed = ledger.claim()  # False: another store of this process keeps it
            except OSError as exc:
                log.error("cannot open the commit ledger %s: %s", ledger.path, exc)
                claimed = False
            if claimed:
                self._ledger = ledger
                report = duckdb_open.replay_report(
                    file, ledger, wal_bytes=wal_bytes, found_seq=seq, found_rows=rows
                )
                self.warnings_, self._ledger_state = report.warnings, report.state
                self._record_ledger(sync=True)
        self._local = threading.local()
        self._models: dict[tuple[str, str], ModelRecord] = {}
        #: parsed specs by model, with the JSON text they were parsed from (their version): a
        #: listing parses only specs that changed (a 20k-feature spec took seconds to parse)
        self._specs: dict[tuple[str, str], tuple[str, ModelSpec]] = {}
        self._columns: dict[str, set[str]] = {}
        #: batch mode: events held as Arrow tables (use_arrow_events), by model uid
        self._arrow_events: dict[int, pa.Table] = {}
        #: ... of which the event ids are unique by construction (not counted again)
        self._unique_ids: set[int] = set()
        self._lock = threading.Lock()
        self._incident_locks = KeyedLocks()
        self._writer = GroupCommitWriter(
            self._commit, interval=commit_interval, max_rows=max_group_rows
        )
        if file is not None:
            self._checkpoint_cur = self._con.cursor()
            self._checkpointer = Checkpointer(
                self._checkpoint_now,
                wal=duckdb_open.wal_path(file),
                after_s=checkpoint_after_s or None,
                max_wal_bytes=int(checkpoint_wal_mb * 1024 * 1024),
                on_tick=self._sync_ledger,
            )

    # -- connections -------------------------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cur", None)
        if cur is None:
            cur = self._con.cursor()
            _all(cur, "SET enable_progress_bar = false")
            self._local.cur = cur
        return cur

    def backend(self) -> Any:
        """This thread's ibis backend over the database."""
        be = getattr(self._local, "ibis", None)
        if be is None:
            be = ibis.duckdb.from_connection(self._cursor())
            self._local.ibis = be
        return be

    def warm_up(self) -> None:
        self.backend()

    def write_stats(self) -> tuple[int, int]:
        return self._writer.rows_, self._writer.commits_

    def grouped_sums(
        self,
        base: Any,
        keys: Mapping[str, Any],
        sets: Sequence[tuple[str, ...]],
        *,
        limit: int,
    ) -> Groups:
        return grouped_sums_duckdb(self._read, base, keys, sets, limit=limit)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return _all(self._cursor(), sql, list(params))
        except duckdb.Error as exc:
            raise StorageError(f"A read failed: {exc}") from exc

    def _call(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """Run ``fn`` on the writer connection inside a group-committed transaction."""
        return self._writer.write("call", None, fn, 1)

    # -- the writer --------------------------------------------------------------------------
    def _commit(self, group: Sequence[WriteRequest]) -> list[Any]:
        """Apply a group in one transaction; events (and actuals) of one model become one insert."""
        con = self._wcon
        con.begin()
        try:
            results: list[Any] = [None] * len(group)
            batches: dict[tuple[str, int], list[int]] = {}
            quarantine: list[int] = []
            spans: list[int] = []
            for i, req in enumerate(group):
                if req.kind == "call":
                    results[i] = req.payload(con)
                elif req.kind in ("events", "actuals"):
                    batches.setdefault((req.kind, req.payload[0].uid), []).append(i)
                elif req.kind == "quarantine":
                    quarantine.append(i)
                elif req.kind == "spans":
                    spans.append(i)
                else:  # pragma: no cover
                    raise AssertionError(req.kind)
            for (kind, _), idx in batches.items():
                model = group[idx[-1]].payload[0]
                tables = [group[i].payload[1] for i in idx]
                if kind == "events":
                    stamped = any(group[i].payload[2] for i in idx)
                    done = self._insert_events(con, model, tables, stamped)
                else:
                    done = self._insert_actuals(con, model, tables)
                for i, r in zip(idx, done, strict=True):
                    results[i] = r
            if spans:
                done = self._insert_spans(con, [group[i].payload for i in spans])
                for i, r in zip(spans, done, strict=True):
                    results[i] = r
            if quarantine:
                rows = pa.concat_tables([group[i].payload for i in quarantine])
                con.register("q_batch", rows)
                try:
                    _all(con, "INSERT INTO quarantine BY NAME SELECT * FROM q_batch")
                finally:
                    con.unregister("q_batch")
                for i in quarantine:
                    n = group[i].payload.num_rows
                    results[i] = IngestResult(n, n)
            state = self._ledger_state
            seq, n_rows = state.seq + 1, state.rows + sum(req.rows for req in group)
            if self._ledger is not None:  # the commit's number, replayed with its data
                _all(
                    con,
                    "INSERT OR REPLACE INTO meta VALUES ('commit_seq', ?), ('commit_rows', ?)",
                    [str(seq), str(n_rows)],
                )
            con.commit()
        except BaseException:
            try:
                con.rollback()
            except duckdb.Error:
                pass
            self._columns.clear()
            raise
        # committed: record it in the ledger before any request of the group is acknowledged
        if self._ledger is not None:
            with self._ledger_lock:
                self._ledger_state = replace(self._ledger_state, seq=seq, rows=n_rows)
                self._record_ledger()
        if self._checkpointer is not None:
            self._checkpointer.dirty()
        return results

    def _record_ledger(self, *, sync: bool = False) -> None:
        """Write the ledger state (callers hold ``_ledger_lock`` once threads run); the
        Checkpointer flushes it to disk within a tick."""
        if self._ledger is None:
            return
        try:
            self._ledger.record(self._ledger_state, sync=sync)
        except OSError as exc:  # the commit itself is durable: never fail it for the ledger
            if not self._ledger_failed:
                log.error("cannot write the commit ledger %s: %s", self._ledger.path, exc)
            self._ledger_failed = True

    def _sync_ledger(self) -> None:
        if self._ledger is not None:
            try:
                self._ledger.sync()
            except OSError as exc:
                if not self._ledger_failed:
                    log.error("cannot write the commit ledger %s: %s", self._ledger.path, exc)
                self._ledger_failed = True

    def _checkpoint_now(self) -> None:
        """The Checkpointer's job: fold the WAL into the file on a connection of its own."""
        before = self._ledger_state
        _all(self._checkpoint_cur, "CHECKPOINT")
        with self._ledger_lock:
            self._ledger_state = replace(
                self._ledger_state, checkpoint_seq=before.seq, checkpoint_rows=before.rows
            )
            self._record_ledger()
        self._sync_ledger()
        duckdb_open.private(duckdb_open.wal_path(Path(self.path)))

    def warnings(self) -> list[str]:
        """Problems found when the database was opened (acknowledged commits missing)."""
        return list(self.warnings_)

    def _table_columns(self, con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
        cols = self._columns.get(table)
        if cols is None:
            cols = {r[0] for r in _all(con, f"DESCRIBE {_q(table)}")}
            self._columns[table] = cols
        return cols

    def _evolve(self, con: duckdb.DuckDBPyConnection, model: ModelRecord, table: pa.Table) -> None:
        """Add columns (and features to the spec) that this batch brings for the first time."""
        name = f"events_{model.uid}"
        have = self._table_columns(con, name)
        missing = [f for f in table.schema if f.name not in have]
        if not missing:
            return
        for f in missing:
            _all(con, f"ALTER TABLE {_q(name)} ADD COLUMN {_q(f.name)} {_sql_type(f.type)}")
            have.add(f.name)
        current = self._get_model_tx(con, model.project, model.name)
        known = set(current.spec.feature_names) | set(current.spec.tag_columns)
        from mlwarden.schema.batch import kind_from_arrow

        extra = [
            Feature(name=f.name, kind=kind)
            for f in missing
            if f.name not in known
            and f.name not in RESERVED_FIELDS  # an event field (shadow) is no feature
            and not f.name.startswith("score__")
            and (kind := kind_from_arrow(f.type)) is not None
        ]
        if extra:
            spec = current.spec.with_features(extra)
            _all(
                con,
                "UPDATE models SET spec = ?, updated_at = ? WHERE project = ? AND name = ?",
                [spec.model_dump_json(), _utcnow(), model.project, model.name],
            )
            with self._lock:
                self._models.pop((model.project, model.name), None)

    def _insert_events(
        self,
        con: duckdb.DuckDBPyConnection,
        model: ModelRecord,
        tables: list[pa.Table],
        stamped: bool = False,
    ) -> list[IngestResult]:
        """One insert for many requests; each learns how many of its rows were new."""
        received = [t.num_rows for t in tables]
        owner = np.repeat(np.arange(len(tables)), received)
        table = (
            pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
        )
        if table.num_rows == 0:
            return [IngestResult(0, 0) for _ in tables]
        # An event is one version's prediction for one request: shadow logging stores a
        # challenger's prediction under the champion's event id, so the key is (id, version).
        keep = _first_of_each(
            pc.binary_join_element_wise(table.column("event_id"), table.column("version"), "\x1f")
        )
        if keep is not None:
            table, owner = table.take(keep), owner[keep.to_numpy()]
        table = _naive(table).append_column(
            "received_at", pa.array([_utcnow()] * table.num_rows, pa.timestamp("us"))
        )
        self._evolve(con, model, table)
        now = _utcnow()
        for v in pc.unique(table.column("version")).to_pylist():
            _all(
                con,
                "INSERT OR IGNORE INTO versions VALUES (?, ?, ?, ?, '', '{}')",
                [model.project, model.name, v, now],
            )
        # Idempotency without a primary key (DuckDB's ART index on event_id capped ingest near
        # 90k rows/s): look for the batch's ids among stored events of the same time span, which
        # zone maps prune to a few row groups. A resent event carries its original timestamp;
        # events the server stamped on arrival are looked for over `dedup_lookback_days` too.
        ts = pc.min_max(table.column("ts"))
        lo, hi = ts["min"].as_py(), ts["max"].as_py()
        if stamped:
            lo -= timedelta(days=self.dedup_lookback_days)
        sql = (
            f"INSERT INTO {_q(f'events_{model.uid}')} BY NAME SELECT b.* FROM ev_batch b "
            f"ANTI JOIN (SELECT event_id, version FROM {_q(f'events_{model.uid}')} "
            "WHERE ts BETWEEN ? AND ?) e ON b.event_id = e.event_id AND b.version = e.version"
        )
        con.register("ev_batch", table)
        try:
            if len(tables) == 1:  # one request: the inserted count is all it needs to know
                (n_new,) = _one(con, sql, [lo, hi]) or (0,)
                return [IngestResult(received[0], int(n_new))]
            inserted = con.execute(
                sql + " RETURNING event_id || chr(31) || version", [lo, hi]
            ).fetch_arrow_table()
        finally:
            con.unregister("ev_batch")
        if inserted.num_rows == table.num_rows:
            new = np.ones(table.num_rows, dtype=bool)
        else:
            key = pc.binary_join_element_wise(
                table.column("event_id"), table.column("version"), "\x1f"
            )
            new = pc.is_in(key, value_set=inserted.column(0)).to_numpy(zero_copy_only=False)
        per_request = np.bincount(owner[new], minlength=len(tables))
        return [IngestResult(n, int(k)) for n, k in zip(received, per_request, strict=True)]

    def _insert_spans(
        self, con: duckdb.DuckDBPyConnection, tables: list[pa.Table]
    ) -> list[IngestResult]:
        """Like events: one insert for many requests, idempotent on (project, trace_id, span_id):
        spans already stored within the batch's time span are left out."""
        received = [t.num_rows for t in tables]
        owner = np.repeat(np.arange(len(tables)), received)
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        if table.num_rows == 0:
            return [IngestResult(0, 0) for _ in tables]
        key = pc.binary_join_element_wise(
            table.column("project"), table.column("trace_id"), table.column("span_id"), "/"
        )
        keep = _first_of_each(key)
        if keep is not None:
            table, owner, key = table.take(keep), owner[keep.to_numpy()], key.take(keep)
        table = _naive(table).append_column(
            "received_at", pa.array([_utcnow()] * table.num_rows, pa.timestamp("us"))
        )
        have = self._table_columns(con, "spans")
        for f in table.schema:
            if f.name not in have:  # a newer SPAN_SCHEMA than the file's table
                _all(con, f"ALTER TABLE spans ADD COLUMN {_q(f.name)} {_sql_type(f.type)}")
                have.add(f.name)
        ts = pc.min_max(table.column("start_time"))
        lo, hi = ts["min"].as_py(), ts["max"].as_py()
        # the stored duplicates' keys first (key columns only), then a plain insert of the
        # rest: an insert through an anti-join hashes every column of the batch (~4x slower)
        con.register("sp_batch", table.select(["project", "trace_id", "span_id"]))
        try:
            dups = _all(
                con,
                "SELECT b.project || '/' || b.trace_id || '/' || b.span_id FROM sp_batch b "
                "SEMI JOIN (SELECT project, trace_id, span_id FROM spans "
                "WHERE start_time BETWEEN ? AND ?) s "
                "ON b.project = s.project AND b.trace_id = s.trace_id AND b.span_id = s.span_id",
                [lo, hi],
            )
            # user, session and model cross requests only when a trace has stored spans
            # or is split between requests of this group; else its spans hold them already
            attribute = _split_traces(table) or bool(
                _all(
                    con,
                    "SELECT 1 FROM spans s SEMI JOIN sp_batch b "
                    "ON s.project = b.project AND s.trace_id = b.trace_id "
                    "WHERE s.start_time BETWEEN ? AND ? LIMIT 1",
                    [lo - TRACE_REACH, hi + TRACE_REACH],
                )
            )
        finally:
            con.unregister("sp_batch")
        if dups:
            stored = pa.array([r[0] for r in dups], pa.string())
            new = ~pc.is_in(key, value_set=stored).to_numpy(zero_copy_only=False)
            table = table.filter(pa.array(new))
        else:
            new = np.ones(table.num_rows, dtype=bool)
        if table.num_rows:
            con.register("sp_batch", table)
            try:
                _all(con, "INSERT INTO spans BY NAME SELECT * FROM sp_batch")
                if attribute:
                    _attribute_traces(con, lo, hi)
            finally:
                con.unregister("sp_batch")
        per_request = np.bincount(owner[new], minlength=len(tables))
        return [IngestResult(n, int(k)) for n, k in zip(received, per_request, strict=True)]

    def _insert_actuals(
        self, con: duckdb.DuckDBPyConnection, model: ModelRecord, tables: list[pa.Table]
    ) -> list[IngestResult]:
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        if table.num_rows:
            table = _dedupe(table, "event_id", keep="last")
            table = _naive(table).append_column(
                "received_at", pa.array([_utcnow()] * table.num_rows, pa.timestamp("us"))
            )
            con.register("ac_batch", table)
            try:
                _all(
                    con,
                    f"INSERT OR REPLACE INTO {_q(f'actuals_{model.uid}')} BY NAME "
                    "SELECT * FROM ac_batch",
                )
            finally:
                con.unregister("ac_batch")
        return [IngestResult(t.num_rows, t.num_rows) for t in tables]

    # -- catalog -----------------------------------------------------------------------------
    def create_model(self, project: str, spec: ModelSpec, *, replace: bool = False) -> ModelRecord:
        check_name(project, "project name")

        def fn(con: duckdb.DuckDBPyConnection) -> ModelRecord:
            row = _one(
                con,
                "SELECT uid, spec FROM models WHERE project = ? AND name = ?",
                [project, spec.name],
            )
            now = _utcnow()
            if row is not None:
                old = self._parsed_spec(project, spec.name, row[1])
                if old == spec:
                    return self._get_model_tx(con, project, spec.name)
                if not replace:
                    raise ConflictError(
                        f"A model named {spec.name!r} exists already in project {project!r} with a "
                        "different spec; pass replace=True (API: ?replace=true) to update it."
                    )
                self._check_compatible(old, spec)
                uid = int(row[0])
                _all(
                    con,
                    "UPDATE models SET spec = ?, updated_at = ? WHERE project = ? AND name = ?",
                    [spec.model_dump_json(), now, project, spec.name],
                )
            else:
                (uid,) = _one(con, "SELECT nextval('uid_seq')") or (0,)
                _all(
                    con,
                    "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?)",
                    [project, spec.name, uid, spec.model_dump_json(), now, now],
                )
            self._ensure_tables(con, int(uid), spec)
            with self._lock:
                self._models.pop((project, spec.name), None)
            return self._get_model_tx(con, project, spec.name)

        result: ModelRecord = self._call(fn)
        return result

    @staticmethod
    def _check_compatible(old: ModelSpec, new: ModelSpec) -> None:
        if old.task != new.task:
            raise ConflictError(
                f"The task of model {old.name!r} cannot change from {old.task.value!r} to "
                f"{new.task.value!r}; delete the model first (mlwarden models delete "
                f"{old.name}; DELETE /v1/models/{old.name}) or register a new one."
            )
        for f in new.features:
            o = old.feature(f.name)
            if o is not None and o.kind != f.kind:
                raise ConflictError(
                    f"The kind of feature {f.name!r} cannot change from {o.kind.value!r} to "
                    f"{f.kind.value!r} once events are stored."
                )

    def _ensure_tables(self, con: duckdb.DuckDBPyConnection, uid: int, spec: ModelSpec) -> None:
        events = f"events_{uid}"
        schema = canonical_schema(spec)
        exists = _one(
            con, "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [events]
        )
        if not exists or not exists[0]:
            cols = ", ".join(f"{_q(f.name)} {_sql_type(f.type)}" for f in schema)
            _all(con, f"CREATE TABLE {_q(events)} ({cols}, received_at TIMESTAMP)")
            _all(
                con,
                f"CREATE TABLE {_q(f'actuals_{uid}')} (event_id VARCHAR PRIMARY KEY, "
                "actual VARCHAR, actual_value DOUBLE, ts TIMESTAMP, received_at TIMESTAMP)",
            )
            self._columns.pop(events, None)
            return
        have = {r[0] for r in _all(con, f"DESCRIBE {_q(events)}")}
        for f in schema:
            if f.name not in have:
                _all(con, f"ALTER TABLE {_q(events)} ADD COLUMN {_q(f.name)} {_sql_type(f.type)}")
        self._columns.pop(events, None)

    def _forget(self, project: str, name: str, uid: int) -> None:
        """Drop the cached look-ups of a model deleted or renamed."""
        with self._lock:
            self._models.pop((project, name), None)
            self._specs.pop((project, name), None)
            self._columns.pop(f"events_{uid}", None)
            self._columns.pop(f"actuals_{uid}", None)
            self._arrow_events.pop(uid, None)
            self._unique_ids.discard(uid)

    def _get_model_tx(self, con: duckdb.DuckDBPyConnection, project: str, name: str) -> ModelRecord:
        row = _one(
            con,
            "SELECT uid, spec, created_at, updated_at FROM models WHERE project = ? AND name = ?",
            [project, name],
        )
        if row is None:
            raise NotFoundError(f"There is no model named {name!r} in project {project!r}.")
        return ModelRecord(
            project, name, int(row[0]), self._parsed_spec(project, name, row[1]), row[2], row[3]
        )

    def get_model(self, project: str, name: str) -> ModelRecord:
        with self._lock:
            rec = self._models.get((project, name))
        if rec is not None:
            return rec
        rows = self._read(
            "SELECT uid, spec, created_at, updated_at FROM models WHERE project = ? AND name = ?",
            [project, name],
        )
        if not rows:
            raise NotFoundError(f"There is no model named {name!r} in project {project!r}.")
        uid, spec, created, updated = rows[0]
        rec = ModelRecord(
            project, name, int(uid), self._parsed_spec(project, name, spec), created, updated
        )
        with self._lock:
            self._models[(project, name)] = rec
        return rec

    def list_models(self, project: str | None = None) -> list[ModelRecord]:
        sql = "SELECT project, name, uid, spec, created_at, updated_at FROM models"
        params: list[Any] = []
        if project is not None:
            sql += " WHERE project = ?"
            params.append(project)
        rows = self._read(sql + " ORDER BY project, name", params)
        return [
            ModelRecord(p, n, int(u), self._parsed_spec(p, n, s), c, up)
            for p, n, u, s, c, up in rows
        ]

    def _parsed_spec(self, project: str, name: str, text: str) -> ModelSpec:
        """The spec stored as ``text``, parsed once per version of the text."""
        key = (project, name)
        with self._lock:
            hit = self._specs.get(key)
        if hit is not None and hit[0] == text:
            return hit[1]
        spec = ModelSpec.model_validate_json(text)
        with self._lock:
            self._specs[key] = (text, spec)
        return spec

    def create_version(
        self,
        project: str,
        model: str,
        version: str,
        *,
        description: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> VersionRecord:
        self.get_model(project, model)
        check_name(version, "version name")
        meta = json.dumps(metadata or {})

        def fn(con: duckdb.DuckDBPyConnection) -> None:
            _all(
                con,
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                "description = excluded.description, metadata = excluded.metadata",
                [project, model, version, _utcnow(), description, meta],
            )

        self._call(fn)
        return next(v for v in self.list_versions(project, model) if v.version == version)

    def list_versions(self, project: str, model: str) -> list[VersionRecord]:
        self.get_model(project, model)
        rows = self._read(
            "SELECT version, created_at, description, metadata FROM versions "
            "WHERE project = ? AND model = ? ORDER BY created_at, version",
            [project, model],
        )
        return [
            VersionRecord(project, model, v, c, d or "", json.loads(m or "{}"))
            for v, c, d, m in rows
        ]

    def put_reference(
        self,
        project: str,
        model: str,
        data: pa.Table,
        *,
        version: str | None = None,
        name: str = "",
    ) -> ReferenceRecord:
        self.get_model(project, model)
        if version is not None:
            check_name(version, "version name")
        data = _naive(data)

        def fn(con: duckdb.DuckDBPyConnection) -> int:
            (uid,) = _one(con, "SELECT nextval('uid_seq')") or (0,)
            con.register("ref_batch", data)
            try:
                _all(con, f"CREATE TABLE {_q(f'ref_{uid}')} AS SELECT * FROM ref_batch")
            finally:
                con.unregister("ref_batch")
            _all(
                con,
                "INSERT INTO refs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    uid,
                    project,
                    model,
                    version,
                    name,
                    data.num_rows,
                    json.dumps(data.column_names),
                    _utcnow(),
                ],
            )
            return int(uid)

        uid = self._call(fn)
        return next(r for r in self.list_references(project, model) if r.uid == uid)

    def list_references(self, project: str, model: str) -> list[ReferenceRecord]:
        rows = self._read(
            "SELECT uid, version, rows, columns, created_at, name FROM refs "
            "WHERE project = ? AND model = ? ORDER BY uid",
            [project, model],
        )
        return [
            ReferenceRecord(int(u), project, model, v, int(r), tuple(json.loads(c)), ca, n or "")
            for u, v, r, c, ca, n in rows
        ]

    def get_reference(
        self, project: str, model: str, *, version: str | None = None
    ) -> tuple[ReferenceRecord, pa.Table]:
        refs = [
            r
            for r in self.list_references(project, model)
            if version is None or r.version in (version, None)
        ]
        if version is not None and any(r.version == version for r in refs):
            refs = [r for r in refs if r.version == version]
        if not refs:
            raise NotFoundError(
                f"Model {model!r} in project {project!r} has no reference"
                + (f" for version {version!r}." if version else ".")
            )
        ref = refs[-1]
        try:
            table = _arrow(self._cursor(), f"SELECT * FROM {_q(f'ref_{ref.uid}')}")
        except duckdb.Error as exc:
            raise StorageError(f"Reading reference {ref.uid} failed: {exc}") from exc
        return ref, table

    # -- ingest ------------------------------------------------------------------------------
    def append_events(
        self, model: ModelRecord, table: pa.Table, *, stamped: bool = False
    ) -> Future[IngestResult]:
        return self._writer.submit("events", model.uid, (model, table, stamped), table.num_rows)

    def append_actuals(self, model: ModelRecord, table: pa.Table) -> Future[IngestResult]:
        return self._writer.submit("actuals", model.uid, (model, table), table.num_rows)

    def quarantine(
        self, project: str, model: str, kind: str, rejections: list[Rejection]
    ) -> Future[IngestResult]:
        now = _utcnow()
        rows = pa.table(
            {
                "project": [project] * len(rejections),
                "model": [model] * len(rejections),
                "kind": [kind] * len(rejections),
                "received_at": pa.array([now] * len(rejections), pa.timestamp("us")),
                "row_index": pa.array([r.index for r in rejections], pa.int32()),
                "field": [r.field for r in rejections],
                "reason": [r.reason for r in rejections],
                "payload": [_dump(r.row) for r in rejections],
            }
        )
        return self._writer.submit("quarantine", None, rows, len(rejections))

    def append_spans(self, project: str, table: pa.Table) -> Future[IngestResult]:
        check_name(project, "project name")
        col = pa.array([project] * table.num_rows, pa.string())
        i = table.schema.get_field_index("project")
        table = (
            table.set_column(i, "project", col) if i >= 0 else table.append_column("project", col)
        )
        return self._writer.submit("spans", None, table, table.num_rows)

    # -- reads -------------------------------------------------------------------------------
    def spans(self, project: str) -> Any:
        t = self.backend().table("spans")
        return t.filter(t.project == project)

    def events(self, model: ModelRecord, *, shadow: bool = False) -> Any:
        t = self.backend().table(f"events_{model.uid}")
        return t if shadow else traffic(t)

    def actuals(self, model: ModelRecord) -> Any:
        return self.backend().table(f"actuals_{model.uid}")

    def quarantined(self, project: str, model: str | None = None, *, limit: int = 100) -> pa.Table:
        sql = "SELECT * FROM quarantine WHERE project = ?"
        params: list[Any] = [project]
        if model is not None:
            sql += " AND model = ?"
            params.append(model)
        sql += " ORDER BY received_at DESC, row_index LIMIT ?"
        params.append(limit)
        try:
            return _arrow(self._cursor(), sql, params)
        except duckdb.Error as exc:
            raise StorageError(f"A read failed: {exc}") from exc

    def apply_retention(self, *, now: datetime | None = None) -> int:
        if self.retention_days is None:
            return 0
        cutoff = utc_naive(now or datetime.now(UTC)) - timedelta(days=self.retention_days)
        uids = [m.uid for m in self.list_models()]

        def fn(con: duckdb.DuckDBPyConnection) -> int:
            deleted = 0
            for uid in uids:
                (n,) = _one(con, f"DELETE FROM {_q(f'events_{uid}')} WHERE ts < ?", [cutoff]) or (
                    0,
                )
                _all(con, f"DELETE FROM {_q(f'actuals_{uid}')} WHERE ts < ?", [cutoff])
                deleted += int(n)
            _all(con, "DELETE FROM spans WHERE start_time < ?", [cutoff])
            _all(con, "DELETE FROM span_logs WHERE time < ?", [cutoff])
            _all(con, "DELETE FROM llm_metrics WHERE time < ?", [cutoff])
            _all(con, "DELETE FROM scores WHERE ts < ?", [cutoff])
            _all(con, "DELETE FROM probe_results WHERE ts < ?", [cutoff])
            return deleted

        result: int = self._call(fn)
        return result

    def numeric_histograms(
        self, model: ModelRecord, reqs: Sequence[Any], run: Any, segment: dict[str, str] | None
    ) -> dict[Any, dict[int, Any]]:
        """Hot path of :func:`mlwarden.store.aggregates.collect`: every numeric histogram of a
        window run in one scan. DuckDB filters, decompresses and streams the columns; numpy
        counts them into the fixed edges (:mod:`mlwarden.stats.binning`, ~5 ns a value).
        DuckDB's own ``histogram(x, boundaries)`` measured ~70 ns a value: 10M rows x 8
        columns x 257 edges took 6.3 s of CPU, the streamed scan and numpy 1.8 s. Batch
        mode's Arrow events are counted in place (:mod:`mlwarden.store.arrow_scan`). The
        ibis version stays the oracle in tests."""
        columns = list(dict.fromkeys(r.column for r in reqs))
        windows = run.last - run.first + 1
        sel = self._arrow_rows(model, run, segment)
        try:
            batches = (
                arrow_scan.histogram_batches(sel, columns)
                if sel is not None
                else self._scan(model, run, segment, columns)
            )
            hists, seen = arrow_scan.count_histograms(batches, reqs, windows)
        except duckdb.Error as exc:
            raise StorageError(f"Computing histograms failed: {exc}") from exc
        present = [k for k in range(windows) if seen[k]]
        return {
            r: {run.first + k: h.result(k) for k in present}
            for r, h in zip(reqs, hists, strict=True)
        }

    def _scan(
        self, model: ModelRecord, run: Any, segment: dict[str, str] | None, columns: list[str]
    ) -> Iterator[tuple[np.ndarray[Any, Any], dict[str, Any]]]:
        """The rows of a window run as batches of (0-based window, {column: float64 values})."""
        from mlwarden.store.aggregates import _filtered

        ev = _filtered(self.events(model), run, segment)
        inner = str(ibis.to_sql(ev, dialect="duckdb"))
        cast = ", ".join(f"CAST({_q(c)} AS DOUBLE) AS c{i}" for i, c in enumerate(columns))
        sql = f"SELECT _w - {int(run.first)} AS _w, {cast} FROM ({inner})"
        for batch in self._cursor().execute(sql).to_arrow_reader(_SCAN_ROWS):
            w = batch.column(0).to_numpy().astype(np.intp, copy=False)
            yield (
                w,
                {
                    c: batch.column(1 + i).to_numpy(zero_copy_only=False)
                    for i, c in enumerate(columns)
                },
            )

    def category_counts(
        self, model: ModelRecord, reqs: Sequence[Any], run: Any, segment: dict[str, str] | None
    ) -> dict[Any, dict[int, Any]] | None:
        """Hot path of category counts: batch mode's Arrow events counted in place, stored
        events in one grouped scan (None for a single column: the caller runs the ibis query,
        which stays the oracle in tests)."""
        sel = self._arrow_rows(model, run, segment)
        if sel is not None:
            counted = arrow_scan.category_counts(sel, [r.column for r in reqs])
            if counted is not None:
                return {r: counted[r.column] for r in reqs}
        if len(reqs) < 2:
            return None
        return self._grouped_categories(model, reqs, run, segment)

    def _grouped_categories(
        self, model: ModelRecord, reqs: Sequence[Any], run: Any, segment: dict[str, str] | None
    ) -> dict[Any, dict[int, Any]]:
        """Every column's counts by window in one scan (GROUPING SETS, one per column) instead
        of a scan per column: 11 columns of 10M events took 11 scans of the timestamps too.
        The labels are the oracle's own expressions (``aggregates._as_label``)."""
        from mlwarden.store.aggregates import _as_label, _filtered

        ev = _filtered(self.events(model), run, segment)
        labels = ev.select("_w", **{f"l{i}": _as_label(ev[r.column]) for i, r in enumerate(reqs)})
        inner = str(ibis.to_sql(labels, dialect="duckdb"))
        keys = [f"l{i}" for i in range(len(reqs))]
        sets = ", ".join(f"(_w, {k})" for k in keys)
        sql = (
            f"SELECT _w, GROUPING_ID({', '.join(keys)}) AS _g, {', '.join(keys)}, count(*) AS n "
            f"FROM ({inner}) GROUP BY GROUPING SETS ({sets})"
        )
        try:
            rows = self._cursor().execute(sql).fetchall()
        except duckdb.Error as exc:
            raise StorageError(f"Counting categories failed: {exc}") from exc
        # GROUPING_ID has a bit set for each key left out of the row's set, the first key the
        # highest bit: the set of column i leaves out every key but bit len - 1 - i
        full = (1 << len(keys)) - 1
        which = {full ^ (1 << (len(keys) - 1 - i)): i for i in range(len(keys))}
        per: list[dict[int, tuple[dict[str, int], int]]] = [{} for _ in reqs]
        for row in rows:
            w, g, n = int(row[0]), int(row[1]), int(row[-1])
            i = which[g]
            value = row[2 + i]
            counts, missing = per[i].setdefault(w, ({}, 0))
            if value is None:
                per[i][w] = (counts, missing + n)
            else:
                counts[value] = n
        return dict(zip(reqs, per, strict=True))

    def volumes(
        self, model: ModelRecord, run: Any, segment: dict[str, str] | None, *, light: bool
    ) -> dict[int, dict[str, Any]] | None:
        """Hot path of window volumes for batch mode's Arrow events without latencies (None
        otherwise: the caller runs the ibis query, the oracle in tests)."""
        sel = self._arrow_rows(model, run, segment)
        if sel is None:
            return None
        return arrow_scan.volumes(sel, light=light, unique_ids=model.uid in self._unique_ids)

    def sample_rows(
        self, model: ModelRecord, req: Any, run: Any, segment: dict[str, str] | None
    ) -> dict[int, pa.Table] | None:
        """Hot path of the multivariate sample for batch mode's Arrow events: DuckDB hashes the
        ids (its hash picks the rows), numpy ranks them, Arrow takes the picked rows (None
        otherwise: the caller runs the ibis query, the oracle in tests)."""
        from mlwarden.store.aggregates import _SAMPLE_MOD

        sel = self._arrow_rows(model, run, segment)
        if sel is None:
            return None
        name = _q(f"events_{model.uid}")
        try:
            # the hash as the ibis query has it: its bits as a signed 64-bit integer
            hashes = (
                self._cursor()
                .execute(f"SELECT CAST(CAST(hash(event_id) AS BIT) AS BIGINT) AS h FROM {name}")
                .fetchnumpy()
            )
        except duckdb.Error as exc:
            raise StorageError(f"Sampling events failed: {exc}") from exc
        h = np.asarray(hashes["h"], dtype=np.int64)
        if len(h) != sel.table.num_rows:  # pragma: no cover - the registered table is this one
            return None
        return arrow_scan.sample(sel, h, req.columns, req.limit, _SAMPLE_MOD)

    def _arrow_rows(
        self, model: ModelRecord, run: Any, segment: dict[str, str] | None
    ) -> arrow_scan.Rows | None:
        table = self._arrow_events.get(model.uid)
        return None if table is None else arrow_scan.rows(table, run, segment)

    def score_bins(self, src: Any, req: Any) -> dict[int, list[tuple[str, int, int]]]:
        """Hot path of score histograms per class (``histogram`` with the inner edges as
        boundaries); :func:`mlwarden.store.aggregates._score_bins` is the ibis oracle."""
        from mlwarden.store.aggregates import _boundaries

        label = "actual" if req.by == "actual" else "prediction"
        inner = str(ibis.to_sql(src, dialect="duckdb"))
        bounds = _boundaries(req.edges[1:-1])
        score = _q(req.column)
        sql = (
            f"SELECT _w, {label} AS cls, histogram({score}, $b::DOUBLE[]) AS h FROM ({inner}) "
            f"WHERE {score} IS NOT NULL AND {label} IS NOT NULL GROUP BY _w, {label}"
        )
        try:
            rows = (
                self._cursor()
                .execute(sql, {"b": bounds} if bounds else {"b": [math.inf]})
                .fetchall()
            )
        except duckdb.Error as exc:
            raise StorageError(f"Computing score histograms failed: {exc}") from exc
        pos = {u: i for i, u in enumerate(bounds)}
        last = len(req.edges) - 2
        out: dict[int, list[tuple[str, int, int]]] = {}
        for w, cls, h in rows:
            for key, n in (h or {}).items():
                if n:
                    out.setdefault(int(w), []).append((cls, pos.get(key, last), int(n)))
        return out

    # -- monitors and results ------------------------------------------------------------------
    def put_suite(self, project: str, model: str, spec: str, state: str) -> None:
        self.get_model(project, model)

        def fn(con: duckdb.DuckDBPyConnection) -> None:
            _all(
                con,
                "INSERT INTO monitor_suites (project, model, spec, state, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
                "SET spec = excluded.spec, state = excluded.state, updated_at = excluded.updated_at, "
                "evaluated_until = NULL",
                [project, model, spec, state, _utcnow()],
            )

        self._call(fn)

    def get_suite(self, project: str, model: str) -> SuiteRow:
        rows = self._read(
            "SELECT spec, state, evaluated_until, labels_seen_until, events_seen_until "
            "FROM monitor_suites WHERE project = ? AND model = ?",
            [project, model],
        )
        if not rows:
            raise NotFoundError(
                f"Model {model!r} has no monitors yet; set them up with 'mlwarden monitors "
                f"setup {model}' or POST /v1/models/{model}/monitors/setup (registering a "
                "model with its reference sets them up)."
            )
        return SuiteRow(*rows[0])

    def list_suites(self) -> list[tuple[str, str]]:
        return [
            (p, m) for p, m in self._read("SELECT project, model FROM monitor_suites ORDER BY 1, 2")
        ]

    def mark_evaluated(
        self,
        project: str,
        model: str,
        *,
        until: datetime | None = None,
        labels_until: datetime | None = None,
        events_until: datetime | None = None,
        spec: str | None = None,
    ) -> None:
        marks = {
            "evaluated_until": until,
            "labels_seen_until": labels_until,
            "events_seen_until": events_until,
        }
        moved = {col: utc_naive(at) for col, at in marks.items() if at is not None}
        if not moved:
            return
        sets = ", ".join(f"{col} = ?" for col in moved)
        # with spec: not when the monitors were set up again meanwhile (see base.Store)
        same = "" if spec is None else " AND spec = ?"
        keys = [project, model] if spec is None else [project, model, spec]

        def fn(con: duckdb.DuckDBPyConnection) -> None:
            _all(
                con,
                f"UPDATE monitor_suites SET {sets} WHERE project = ? AND model = ?{same}",
                [*moved.values(), *keys],
            )

        self._call(fn)

    def write_results(self, project: str, model: str, rows: pa.Table) -> int:
        """Store results, replacing earlier results of the same monitor, segment and window
        (re-evaluation is idempotent)."""
        if rows.num_rows == 0:
            return 0
        rows = _naive(rows)

        def fn(con: duckdb.DuckDBPyConnection) -> int:
            con.register("res_batch", rows)
            try:
                _all(
                    con,
                    "DELETE FROM results r USING res_batch b WHERE r.project = ? AND r.model = ? "
                    "AND r.monitor = b.monitor AND r.window_start = b.window_start "
                    "AND coalesce(r.segment, '') = coalesce(b.segment, '')",
                    [project, model],
                )
                _all(
                    con,
                    "INSERT INTO results BY NAME SELECT ? AS project, ? AS model, * FROM res_batch",
                    [project, model],
                )
            finally:
                con.unregister("res_batch")
            return int(rows.num_rows)

        n = int(self._call(fn))
        return n

    def results(self) -> Any:
        """All monitor results as an ibis table (filter by project and model). Kept per thread:
        its columns are fixed, and looking them up again cost a page ~10% of its time."""
        be = self.backend()
        cached = getattr(self._local, "results", None)
        if cached is None or cached[0] is not be:
            cached = (be, be.table("results"))
            self._local.results = cached
        return cached[1]

    def quarantine_table(self) -> Any:
        """Rejected rows as an ibis table (for data-quality monitors)."""
        return self.backend().table("quarantine")

    def use_arrow_events(
        self, model: ModelRecord, table: pa.Table, *, unique_ids: bool = False
    ) -> None:
        """Batch mode: answer the model's event queries from an Arrow table, scanned in place
        (no insert, no copy). Only for this thread's connection; the stored table is dropped.
        ``unique_ids``: the caller made the event ids unique (row numbers), so volumes take
        the distinct ids as the row count instead of counting 1M strings again."""
        name = f"events_{model.uid}"
        table = _naive(table)
        if SHADOW in table.column_names and pc.any(table.column(SHADOW)).as_py():
            # a report describes traffic: its in-place hot paths never see shadow rows
            table = table.filter(pc.invert(pc.fill_null(table.column(SHADOW), False)))
        if "received_at" not in table.column_names:
            table = table.append_column("received_at", pa.nulls(table.num_rows, pa.timestamp("us")))
        # DuckDB scans an Arrow table in parallel by record batch: one big chunk (what a
        # validated batch usually is) would be one thread. Zero-copy slices of row-group size
        # halve a 1M-row report on 2 cores.
        table = pa.Table.from_batches(table.to_batches(max_chunksize=122_880), table.schema)
        self._call(lambda con: _all(con, f"DROP TABLE IF EXISTS {_q(name)}"))
        cur = self._cursor()
        cur.register(name, table)
        self._arrow_events[model.uid] = table
        if unique_ids:
            self._unique_ids.add(model.uid)
        else:
            self._unique_ids.discard(model.uid)
        self._local.ibis = None  # the ibis backend re-reads the catalog

    def checkpoint(self) -> None:
        self._call(lambda con: None)
        _all(self._cursor(), "CHECKPOINT")

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._writer.close()
        self._arrow_events.clear()
        self._unique_ids.clear()
        try:
            self._con.close()
        except duckdb.Error:  # pragma: no cover
            pass
        if self._ledger is not None:
            if not duckdb_open.wal_path(Path(self.path)).exists():  # folded in at shutdown
                s = self._ledger_state
                self._ledger_state = replace(s, checkpoint_seq=s.seq, checkpoint_rows=s.rows)
                self._record_ledger()
            self._ledger.close()


def _commit_counters(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """The sequence number and row count of the last group commit the database holds."""
    got = dict(_all(con, "SELECT key, value FROM meta WHERE key IN ('commit_seq', 'commit_rows')"))
    return int(got.get("commit_seq", 0)), int(got.get("commit_rows", 0))


def _first_of_each(col: pa.ChunkedArray) -> pa.Array | None:
    """Indices of the first occurrence of each key, or None when keys are unique already."""
    if pc.count_distinct(col).as_py() == len(col):
        return None
    idx = pa.array(np.arange(len(col)), pa.int64())
    firsts = (
        pa.table({"k": col, "_i": idx}).group_by("k").aggregate([("_i", "min")]).column("_i_min")
    )
    return pc.take(firsts, pc.sort_indices(firsts)).combine_chunks()


def _dedupe(table: pa.Table, key: str, *, keep: str = "first") -> pa.Table:
    """Drop repeated keys inside one batch (first or last occurrence wins)."""
    col = table.column(key)
    if pc.count_distinct(col).as_py() == table.num_rows:
        return table
    idx = pa.array(range(table.num_rows), pa.int64())
    agg = "min" if keep == "first" else "max"
    picked = (
        pa.table({key: col, "_i": idx}).group_by(key).aggregate([("_i", agg)]).column(f"_i_{agg}")
    )
    return table.take(pc.take(picked, pc.sort_indices(picked)))


def _arrow(cur: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> pa.Table:
    """A query's result as an Arrow table (method names differ across DuckDB releases)."""
    rel = cur.sql(sql, params=list(params)) if params else cur.sql(sql)
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    table: pa.Table = fetch()
    return table


def _dump(row: Any) -> str:
    try:
        s = json.dumps(row, default=str)
    except (TypeError, ValueError):
        s = repr(row)
    return s if len(s) <= 10_000 else s[:10_000] + "..."
