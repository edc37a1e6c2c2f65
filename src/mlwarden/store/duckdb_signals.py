"""OTLP logs and metrics of LLM apps kept in DuckDB: tables ``span_logs`` and ``llm_metrics``.

A mixin of :class:`~mlwarden.store.duckdb_engine.DuckDBStore`. ``span_logs`` holds GenAI
log records (prompts and responses sent as events, :data:`~mlwarden.schema.otlp_logs.
LOG_SCHEMA`), ``llm_metrics`` metric data points (:data:`~mlwarden.schema.otlp_metrics.
METRIC_SCHEMA`); both append-only, every write group-committed by the store's writer.
:meth:`fill_span_texts` writes the texts recovered from logs onto their spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import duckdb
import pyarrow as pa

from mlwarden.errors import StorageError
from mlwarden.schema.otlp_logs import LOG_SCHEMA, TEXT_COLUMNS
from mlwarden.schema.otlp_metrics import METRIC_SCHEMA
from mlwarden.store.writer import GroupCommitWriter

__all__ = ["SIGNAL_DDL", "SignalTables"]

_TYPES = {pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.int64(): "BIGINT",
          pa.bool_(): "BOOLEAN", pa.timestamp("us"): "TIMESTAMP"}  # fmt: skip


def _ddl(name: str, schema: pa.Schema) -> str:
    cols = ", ".join(f'"{f.name}" {_TYPES[f.type]}' for f in schema)
    return f"CREATE TABLE IF NOT EXISTS {name} ({cols}, received_at TIMESTAMP)"


SIGNAL_DDL = [_ddl("span_logs", LOG_SCHEMA), _ddl("llm_metrics", METRIC_SCHEMA)]


def _insert(name: str, table: pa.Table) -> Any:
    def fn(con: duckdb.DuckDBPyConnection) -> int:
        stamped = table.append_column(
            "received_at", pa.array([_now()] * table.num_rows, pa.timestamp("us"))
        )
        con.register("sig_batch", stamped)
        try:
            con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM sig_batch").fetchall()
        finally:
            con.unregister("sig_batch")
        n: int = table.num_rows
        return n

    return fn


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(tzinfo=None)


class SignalTables:
    """Logs and metrics tables (mixed into the DuckDB store, which owns ``_writer``)."""

    _writer: GroupCommitWriter
    backend: Any  # the store's method: this thread's ibis backend
    _cursor: Any  # the store's method: this thread's DuckDB cursor

    def append_span_logs(self, project: str, table: pa.Table) -> Future[int]:
        """Store GenAI log records (:data:`LOG_SCHEMA`, ``project`` set by the caller)."""
        return self._writer.submit("call", None, _insert("span_logs", table), table.num_rows)

    def append_metric_points(self, project: str, table: pa.Table) -> Future[int]:
        """Store metric data points (:data:`METRIC_SCHEMA`, ``project`` set by the caller)."""
        return self._writer.submit("call", None, _insert("llm_metrics", table), table.num_rows)

    def fill_span_texts(self, project: str, table: pa.Table) -> Future[int]:
        """Set prompt, response, finish reason and check results (:data:`TEXT_COLUMNS`) of the
        stored spans of (``trace_id``, ``span_id``) whose texts did not come with the span
        (none yet, or earlier log records'); returns how many spans changed. Idempotent."""
        sets = ", ".join(
            f'"{c}" = coalesce(u."{c}", spans."{c}")'
            if c == "finish_reason"
            else f'"{c}" = u."{c}"'
            for c in TEXT_COLUMNS
        )

        def fn(con: duckdb.DuckDBPyConnection) -> int:
            con.register("txt_batch", table)
            try:
                rows = con.execute(
                    f"UPDATE spans SET {sets} FROM txt_batch u WHERE spans.project = ? "
                    "AND spans.trace_id = u.trace_id AND spans.span_id = u.span_id "
                    "AND (spans.content_source = 'logs' OR (spans.content_source IS NULL "
                    "AND spans.prompt IS NULL AND spans.response IS NULL)) RETURNING 1",
                    [project],
                ).fetchall()
            finally:
                con.unregister("txt_batch")
            return len(rows)

        return self._writer.submit("call", None, fn, table.num_rows)

    def set_span_costs(self, project: str, table: pa.Table) -> Future[int]:
        """Set ``cost``, ``price_version`` and ``cost_source`` of the stored spans of
        (``trace_id``, ``span_id``) rows, except costs the spans reported themselves; returns
        how many spans changed."""

        def fn(con: duckdb.DuckDBPyConnection) -> int:
            con.register("cost_batch", table)
            try:
                rows = con.execute(
                    "UPDATE spans SET cost = u.cost, price_version = u.price_version, "
                    "cost_source = u.cost_source FROM cost_batch u WHERE spans.project = ? "
                    "AND spans.trace_id = u.trace_id AND spans.span_id = u.span_id "
                    "AND spans.cost_source IS DISTINCT FROM 'reported' "
                    "AND (spans.cost IS DISTINCT FROM u.cost "
                    "OR spans.price_version IS DISTINCT FROM u.price_version) RETURNING 1",
                    [project],
                ).fetchall()
            finally:
                con.unregister("cost_batch")
            return len(rows)

        return self._writer.submit("call", None, fn, table.num_rows)

    def span_logs(self, project: str) -> Any:
        """The project's GenAI log records as an ibis table expression."""
        t = self.backend().table("span_logs")
        return t.filter(t.project == project)

    def span_logs_of(self, project: str, trace_ids: Sequence[str]) -> pa.Table:
        """The project's GenAI log records of the traces ``trace_ids``, in one query."""
        if not trace_ids:
            return self.span_logs(project).limit(0).to_pyarrow()
        cur = self._cursor()
        ids = pa.table({"trace_id": pa.array(list(trace_ids), pa.string())})
        cur.register("log_traces", ids)
        try:
            rel = cur.sql(
                "SELECT l.* FROM span_logs l SEMI JOIN log_traces t ON l.trace_id = t.trace_id "
                "WHERE l.project = ?",
                params=[project],
            )
            fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
            found: pa.Table = fetch()
        except duckdb.Error as exc:
            raise StorageError(f"A read failed: {exc}") from exc
        finally:
            cur.unregister("log_traces")
        return found

    def metric_points(self, project: str) -> Any:
        """The project's metric data points as an ibis table expression."""
        t = self.backend().table("llm_metrics")
        return t.filter(t.project == project)
