"""ClickHouse as the event engine: a model's events and labels in tables made for ClickHouse.

Composed under a catalog by :class:`~mlwarden.store.composite.CompositeStore`
(``mlwarden serve --events chdb:///path | clickhouse://host:8123/db``): the catalog, results
and incidents stay in the primary store; events and labels, and every aggregate, roll-up and
volume computed from them, live here.

Tables (per model, by its uid):

* ``events_<uid>``: ``ReplacingMergeTree`` ordered by ``(ts, event_id, version)`` (window and
  segment scans read a time range: the primary index prunes to it), partitioned by day
  (retention drops whole days; a TTL when ``retention_days`` is set), read through the view
  ``events_<uid>_v`` with ``FINAL``, so a row sent twice counts once before any merge.
* ``actuals_<uid>``: ``ReplacingMergeTree(_seq)`` ordered by ``event_id``: the label with the
  highest ``_seq`` (the latest written) wins, read through ``actuals_<uid>_v`` with ``FINAL``.

Ingest tells how many rows were new (:class:`~mlwarden.store.base.IngestResult`): under the
store's write lock (one writer per process), the batch's keys go to a ``Memory`` table, the
keys already stored in the batch's time span (plus the dedup look-back when the server stamped
the times) are looked up by the primary index, and only the new rows are inserted, as one
Arrow block. Another process writing the same rows at the same moment can store one twice:
``FINAL`` keeps the reads exact, and the merge removes it on disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.errors import StorageError, StoreOpenError
from mlwarden.schema.batch import canonical_schema, kind_from_arrow
from mlwarden.schema.spec import RESERVED_FIELDS, Feature
from mlwarden.store import ch_histograms
from mlwarden.store.base import IngestResult, ModelRecord
from mlwarden.store.ch_connection import (
    ClickHouseTarget,
    exact_backend,
    first_line,
    q,
    ts_literal,
)
from mlwarden.store.ch_removal import ChRemoval
from mlwarden.store.ch_times import ChEventTimes
from mlwarden.store.ch_volumes import window_volumes
from mlwarden.store.duckdb_engine import _dedupe, _first_of_each, _naive
from mlwarden.store.pg_connection import done, failed, utcnow
from mlwarden.store.protocols import Catalog
from mlwarden.store.rollups import Rollup, compute_events, compute_labels
from mlwarden.store.times import stamp_received, utc_naive
from mlwarden.store.traffic import traffic

__all__ = ["ClickHouseEvents", "ch_type"]

#: the batch keys looked up at each ingest (see the module's docstring)
_STAGE = "_batch_keys"
#: how long the versions a model is known to have are kept before the catalog is asked again
_VERSIONS_FOR_S = 60.0


def ch_type(t: pa.DataType, *, nullable: bool = True) -> str:
    """The ClickHouse column type of an Arrow type (nullable unless a key column).

    >>> ch_type(pa.float64()), ch_type(pa.string(), nullable=False)
    ('Nullable(Float64)', 'String')
    """
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        base = "String"
    elif pa.types.is_floating(t):
        base = "Float64"
    elif pa.types.is_boolean(t):
        base = "Bool"
    elif pa.types.is_integer(t):
        base = "Int64"
    elif pa.types.is_timestamp(t):
        base = "DateTime64(6)"
    elif pa.types.is_list(t):
        return "Array(Float32)"  # an array cannot be Nullable in ClickHouse
    else:  # pragma: no cover
        raise StorageError(f"No ClickHouse column type for Arrow type {t}.")
    return f"Nullable({base})" if nullable else base


#: the event columns that make its key (not nullable: they are the sorting key)
_KEY = {"event_id", "version", "ts"}


class ClickHouseEvents(ChEventTimes, ChRemoval):
    """Events and labels of the models of ``catalog`` in the ClickHouse database of ``url``.

    ``catalog``: where models are registered (schema evolution adds features to their spec,
    new versions are recorded there). ``retention_days``: a TTL on new tables and what
    :meth:`apply_retention` deletes; ``dedup_lookback_days``: how far back a re-sent event
    whose time the server stamped on arrival is looked for (as the DuckDB engine).
    """

    def __init__(
        self,
        url: str,
        *,
        catalog: Catalog,
        retention_days: float | None = None,
        dedup_lookback_days: float = 7.0,
    ) -> None:
        self.url = url
        self.catalog = catalog
        self.retention_days = retention_days
        self.dedup_lookback_days = dedup_lookback_days
        self.target_ = ClickHouseTarget(url)
        self.database_ = self.target_.database
        admin = self.target_.client()
        try:
            admin.command(f"CREATE DATABASE IF NOT EXISTS {q(self.database_)}")
        except Exception as exc:  # clickhouse-connect's and chdb's errors
            raise StoreOpenError(
                f"Cannot create the database {self.target_.where()}: {first_line(exc)}"
            ) from exc
        finally:
            admin.close()
        self._wcon = self.target_.client(database=self.database_)
        #: the reading threads' clients, closed with the store
        self._readers: list[Any] = []
        self._rlock = threading.Lock()
        self._wlock = threading.Lock()
        self._local = threading.local()
        self._columns: dict[int, set[str]] = {}
        self._seq = 0
        #: per model uid: when its versions were read, and which
        self._versions: dict[int, tuple[float, set[str]]] = {}
        self._command(
            f"CREATE TABLE IF NOT EXISTS {q(_STAGE)} (event_id String, version String) "
            "ENGINE = Memory"
        )

    # -- connections -------------------------------------------------------------------------
    def _client(self) -> Any:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self.target_.client(database=self.database_)
            self._local.ibis = None
            with self._rlock:
                self._readers.append(con)
        return con

    def backend(self) -> Any:
        """This thread's ibis backend over the database (exact quantiles)."""
        self._client()
        be = self._local.ibis
        if be is None:
            be = self._local.ibis = exact_backend(self._local.con, chdb=self.target_.chdb)
        return be

    def _command(self, sql: str) -> Any:
        try:
            return self._wcon.command(sql)
        except Exception as exc:
            raise StorageError(f"A ClickHouse write failed: {first_line(exc)}") from exc

    def read(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a query as dicts (through Arrow: times come back naive UTC)."""
        try:
            table = self._client().query_arrow(sql)
        except Exception as exc:
            raise StorageError(f"A ClickHouse read failed: {first_line(exc)}") from exc
        rows: list[dict[str, Any]] = _naive_times(table).to_pylist()
        return rows

    # -- tables --------------------------------------------------------------------------------
    def ensure_tables(self, model: ModelRecord) -> None:
        """Create the model's tables (or add the columns its spec gained)."""
        with self._wlock:
            self._ensure(model, canonical_schema(model.spec))

    def _have(self, uid: int) -> set[str]:
        cols = self._columns.get(uid)
        if cols is None:
            rows = self._wcon.query(
                "SELECT name FROM system.columns WHERE database = %(db)s AND table = %(t)s",
                parameters={"db": self.database_, "t": f"events_{uid}"},
            ).result_rows
            cols = self._columns[uid] = {r[0] for r in rows}
        return cols

    def _ensure(self, model: ModelRecord, schema: pa.Schema) -> list[pa.Field]:
        """The model's tables hold every column of ``schema``; the columns added."""
        uid = model.uid
        have = self._have(uid)
        if not have:
            cols = ", ".join(
                f"{q(f.name)} {ch_type(f.type, nullable=f.name not in _KEY)}" for f in schema
            )
            ttl = ""
            if self.retention_days is not None:
                ttl = f" TTL toDateTime(ts) + toIntervalSecond({int(self.retention_days * 86400)})"
            self._command(
                f"CREATE TABLE IF NOT EXISTS {q(f'events_{uid}')} ({cols}, "
                "received_at DateTime64(6)) ENGINE = ReplacingMergeTree "
                f"PARTITION BY toDate(ts) ORDER BY (ts, event_id, version){ttl}"
            )
            self._command(
                f"CREATE TABLE IF NOT EXISTS {q(f'actuals_{uid}')} (event_id String, "
                "actual Nullable(String), actual_value Nullable(Float64), "
                "ts Nullable(DateTime64(6)), received_at DateTime64(6), _seq UInt64) "
                "ENGINE = ReplacingMergeTree(_seq) ORDER BY event_id"
            )
            self._command(
                f"CREATE OR REPLACE VIEW {q(f'actuals_{uid}_v')} AS SELECT event_id, actual, "
                f"actual_value, ts, received_at FROM {q(f'actuals_{uid}')} FINAL"
            )
            self._columns[uid] = {f.name for f in schema} | {"received_at"}
            self._view(uid)
            return []
        missing = [f for f in schema if f.name not in have]
        for f in missing:
            self._command(
                f"ALTER TABLE {q(f'events_{uid}')} ADD COLUMN IF NOT EXISTS {q(f.name)} "
                f"{ch_type(f.type)}"
            )
            have.add(f.name)
        if missing:
            self._view(uid)
        return missing

    def _view(self, uid: int) -> None:
        # a view's `*` is expanded when it is made: made again when a column is added
        self._command(
            f"CREATE OR REPLACE VIEW {q(f'events_{uid}_v')} AS "
            f"SELECT * FROM {q(f'events_{uid}')} FINAL"
        )

    # -- ingest --------------------------------------------------------------------------------
    def append_events(
        self, model: ModelRecord, table: pa.Table, *, stamped: bool = False
    ) -> Future[IngestResult]:
        try:
            with self._wlock:
                return done(self._insert_events(model, table, stamped))
        except StorageError as exc:
            return failed(exc)

    def _insert_events(self, model: ModelRecord, table: pa.Table, stamped: bool) -> IngestResult:
        received = table.num_rows
        if received == 0:
            return IngestResult(0, 0)
        key = pc.binary_join_element_wise(table.column("event_id"), table.column("version"), "\x1f")
        keep = _first_of_each(key)
        if keep is not None:
            table = table.take(keep)
        table = stamp_received(_naive(table), utcnow())
        self._evolve(model, table)
        self._record_versions(model, table)
        ts = pc.min_max(table.column("ts"))
        lo, hi = ts["min"].as_py(), ts["max"].as_py()
        if stamped:
            lo -= timedelta(days=self.dedup_lookback_days)
        target = q(f"events_{model.uid}")
        span = f"ts BETWEEN {ts_literal(lo)} AND {ts_literal(hi)}"
        try:
            # new events in a time span nothing is stored in yet (a stream's next batch) need
            # no look-up: one read of the primary index instead of a staged insert and a join
            seen = self._wcon.command(
                f"SELECT count() FROM (SELECT 1 FROM {target} WHERE {span} LIMIT 1)"
            )
            stored = pa.table({"event_id": pa.array([], pa.string())})
            if int(seen):
                stored = self._stored_keys(target, span, table)
            if stored.num_rows:
                have = pc.binary_join_element_wise(
                    stored.column("event_id"), stored.column("version"), "\x1f"
                )
                mine = pc.binary_join_element_wise(
                    table.column("event_id"), table.column("version"), "\x1f"
                )
                table = table.filter(pc.invert(pc.is_in(mine, value_set=have)))
            if table.num_rows:
                self._wcon.insert_arrow(f"events_{model.uid}", table)
        except Exception as exc:
            raise StorageError(f"Storing events in ClickHouse failed: {first_line(exc)}") from exc
        return IngestResult(received, table.num_rows)

    def _stored_keys(self, target: str, span: str, table: pa.Table) -> pa.Table:
        """The (event_id, version) of ``table`` stored already in the time ``span``."""
        self._wcon.command(f"TRUNCATE TABLE {q(_STAGE)}")
        self._wcon.insert_arrow(_STAGE, table.select(["event_id", "version"]))
        found: pa.Table = self._wcon.query_arrow(
            f"SELECT event_id, version FROM {q(_STAGE)} WHERE (event_id, version) IN "
            f"(SELECT event_id, version FROM {target} WHERE {span} "
            f"AND event_id IN (SELECT event_id FROM {q(_STAGE)}))"
        )
        return found

    def _evolve(self, model: ModelRecord, table: pa.Table) -> None:
        """Add the columns (and spec features) this batch brings for the first time."""
        added = self._ensure(model, table.schema)
        if not added:
            return
        current = self.catalog.get_model(model.project, model.name)
        known = set(current.spec.feature_names) | set(current.spec.tag_columns)
        extra = [
            Feature(name=f.name, kind=kind)
            for f in added
            if f.name not in known
            and f.name not in RESERVED_FIELDS  # an event field (shadow) is no feature
            and not f.name.startswith("score__")
            and (kind := kind_from_arrow(f.type)) is not None
        ]
        if extra:
            self.catalog.create_model(
                model.project, current.spec.with_features(extra), replace=True
            )

    def _record_versions(self, model: ModelRecord, table: pa.Table) -> None:
        """Record the batch's versions in the catalog; the versions known are read again after
        a minute (another server may have deleted one)."""
        now = time.monotonic()
        hit = self._versions.get(model.uid)
        if hit is None or now - hit[0] > _VERSIONS_FOR_S:
            names = {v.version for v in self.catalog.list_versions(model.project, model.name)}
            hit = self._versions[model.uid] = (now, names)
        for v in pc.unique(table.column("version")).to_pylist():
            if v not in hit[1]:
                self.catalog.create_version(model.project, model.name, v)
                hit[1].add(v)

    def append_actuals(self, model: ModelRecord, table: pa.Table) -> Future[IngestResult]:
        try:
            with self._wlock:
                if table.num_rows:
                    rows = _naive(_dedupe(table, "event_id", keep="last"))
                    seq = max(self._seq + 1, time.time_ns())
                    self._seq = seq + rows.num_rows
                    rows = stamp_received(rows, utcnow()).append_column(
                        "_seq", pa.array(range(seq, seq + rows.num_rows), pa.uint64())
                    )
                    self._wcon.insert_arrow(f"actuals_{model.uid}", rows)
        except Exception as exc:
            return failed(StorageError(f"Storing labels in ClickHouse failed: {first_line(exc)}"))
        return done(IngestResult(table.num_rows, table.num_rows))

    # -- reads ---------------------------------------------------------------------------------
    def events(self, model: ModelRecord, *, shadow: bool = False) -> Any:
        t = self.backend().table(f"events_{model.uid}_v")
        return t if shadow else traffic(t)

    def actuals(self, model: ModelRecord) -> Any:
        return self.backend().table(f"actuals_{model.uid}_v")

    def numeric_histograms(
        self, model: ModelRecord, reqs: Sequence[Any], run: Any, segment: dict[str, str] | None
    ) -> dict[Any, dict[int, Any]]:
        """Every numeric histogram of a run in one query (:mod:`.ch_histograms`)."""
        from mlwarden.store.aggregates import _filtered

        filtered = _filtered(self.events(model), run, segment)
        return ch_histograms.numeric_histograms(self.backend(), filtered, reqs)

    def score_bins(self, src: Any, req: Any) -> dict[int, list[tuple[str, int, int]]]:
        """Score bins per class in ClickHouse's SQL (:mod:`.ch_histograms`)."""
        return ch_histograms.score_bins(self.backend(), src, req)

    def volumes(
        self, model: ModelRecord, run: Any, segment: dict[str, str] | None, *, light: bool
    ) -> dict[int, dict[str, Any]] | None:
        """Window volumes with DuckDB's latency quantiles, bit for bit (:mod:`.ch_volumes`)."""
        from mlwarden.store.aggregates import _filtered

        be = self.backend()
        return window_volumes(be, _filtered(self.events(model), run, segment), light=light)

    # -- roll-ups: computed when read ----------------------------------------------------------
    def rollup(
        self, model: ModelRecord, *, start: datetime, end: datetime, labels: bool = False
    ) -> Rollup:
        """The hourly roll-ups of ``[start, end)`` from the stored events (ClickHouse scans a
        page's range of the ordered table faster than a refresh could keep tables current)."""
        ev = self.events(model)
        ev = ev.filter(ev.ts >= utc_naive(start), ev.ts < utc_naive(end))
        ops, latency, features = compute_events(ev, model.spec)
        lab, as_of = None, None
        if labels and model.spec.task.is_classification:
            as_of = datetime.now(UTC).replace(tzinfo=None)
            lab = compute_labels(ev, self.actuals(model), model.spec)
        return Rollup(ops, latency, features, lab, as_of)

    def close(self) -> None:
        """Close the store's clients (HTTP connections, or its connections to the process's
        chDB engine, which other stores of the process keep using)."""
        with self._wlock, self._rlock:
            for con in [self._wcon, *self._readers]:
                try:
                    con.close()
                except Exception:  # noqa: BLE001 - closing: nothing left to do with it
                    pass
            self._readers.clear()
        self._local = threading.local()


def _naive_times(table: pa.Table) -> pa.Table:
    """Zoned times (aggregates of a time column come back in the session's zone, UTC) made
    naive UTC, as the other engines hand them out."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is not None:
            naive = pa.timestamp(f.type.unit)
            table = table.set_column(i, f.name, pc.cast(table.column(i), naive))
    return table
