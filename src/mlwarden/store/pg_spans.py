"""Trace spans, GenAI log records, metric points and trace scores on PostgreSQL
(:class:`~mlwarden.store.protocols.SpanLog`): tables ``spans``, ``span_logs``, ``llm_metrics``
and ``scores``, laid out as on DuckDB (:mod:`.duckdb_engine`, :mod:`.duckdb_signals`,
:mod:`.duckdb_scores`).

Spans arrive by binary ``COPY`` into a staging table, then ``INSERT ... ON CONFLICT (project,
trace_id, span_id) DO NOTHING``: the primary key makes a re-sent span a no-op whichever server
process stored it first (DuckDB also looks at the time: there an id re-sent with another start
time is a new span). User, session and model of a trace are then filled on its spans that have
none, from its root span first (as on DuckDB), when the trace has spans stored earlier or the
batch holds some with and some without. Scores upsert on (project, id). Logs and metric points
are appended. Reads are ibis tables over the postgres backend, so the LLM pages' and monitors'
aggregates run unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.errors import StorageError
from mlwarden.schema.genai import SPAN_SCHEMA
from mlwarden.schema.otlp_logs import LOG_SCHEMA, TEXT_COLUMNS
from mlwarden.schema.otlp_metrics import METRIC_SCHEMA
from mlwarden.schema.scores import SCORE_SCHEMA
from mlwarden.schema.spec import check_name
from mlwarden.store.base import IngestResult
from mlwarden.store.duckdb_engine import (
    TRACE_COLUMNS,
    TRACE_REACH,
    _first_of_each,
    _naive,
    _split_traces,
)
from mlwarden.store.pg_connection import (
    QmarkCursor,
    copy_in,
    done,
    failed,
    table_columns,
    utcnow,
)
from mlwarden.store.pg_schema import q, sql_type
from mlwarden.store.pg_stats import Staleness

__all__ = ["PG_SPAN_DDL", "PgSpans"]

T = TypeVar("T")


def _ddl(name: str, schema: pa.Schema, extra: str = "") -> str:
    cols = ", ".join(f"{q(f.name)} {sql_type(f.type)}" for f in schema)
    return f"CREATE TABLE IF NOT EXISTS {name} ({cols}, received_at TIMESTAMP{extra})"


PG_SPAN_DDL = [
    _ddl("spans", SPAN_SCHEMA, ", PRIMARY KEY (project, trace_id, span_id)"),
    "CREATE INDEX IF NOT EXISTS spans_by_time ON spans (project, start_time)",
    _ddl("span_logs", LOG_SCHEMA),
    "CREATE INDEX IF NOT EXISTS span_logs_by_trace ON span_logs (project, trace_id)",
    _ddl("llm_metrics", METRIC_SCHEMA),
    "CREATE INDEX IF NOT EXISTS llm_metrics_by_time ON llm_metrics (project, time)",
    _ddl(
        "scores",
        pa.schema([("project", pa.string()), *SCORE_SCHEMA]),
        ", PRIMARY KEY (project, id)",
    ),
]

#: the columns of ``span_logs`` as read back (:meth:`PgSpans.span_logs_of`)
_LOG_READ = pa.schema([*LOG_SCHEMA, ("received_at", pa.timestamp("us"))])


#: the columns queries filter, join and group spans by: the ones ``ANALYZE`` looks at (the
#: texts took most of its time)
_PLANNED = {
    "spans": ("project", "trace_id", "span_id", "parent_span_id", "start_time",
              "service_name", "span_type", "model", "user_id", "session_id"),
}  # fmt: skip

#: the first key of the advisory locks on traces (the second is the trace's hash)
_TRACE_LOCKS = 0x6D6C7774  # "mlwt"


def _stamped(table: pa.Table) -> pa.Table:
    return _naive(table).append_column(
        "received_at", pa.array([utcnow()] * table.num_rows, pa.timestamp("us"))
    )


def _names(table: pa.Table) -> str:
    return ", ".join(q(c) for c in table.column_names)


class PgSpans:
    """:class:`~mlwarden.store.protocols.SpanLog` for
    :class:`~mlwarden.store.pg_engine.PostgresStore` (which provides the transaction, the
    staging tables, reads and the ibis backend)."""

    _call: Callable[[Callable[[Any], Any]], Any]
    _stage: Callable[[QmarkCursor, pa.Schema], str]
    _read: Callable[..., list[tuple[Any, ...]]]
    backend: Callable[[], Any]
    _staleness: Staleness
    _columns: dict[str, set[str]]

    def _submit(
        self, fn: Callable[[QmarkCursor], T], *, table: str | None = None, rows: int = 0
    ) -> Future[T]:
        """Run ``fn`` in one transaction; then, when ``rows`` written to ``table`` make its
        statistics stale (:class:`Staleness`), ``ANALYZE`` it in a transaction of its own."""
        try:
            out = self._call(fn)
            if table is not None and self._staleness.wrote(table, rows):
                cols = ", ".join(_PLANNED.get(table, ()))
                self._call(
                    lambda con: con.execute(
                        f"ANALYZE {table} ({cols})" if cols else f"ANALYZE {table}"
                    )
                )
            return done(out)
        except StorageError as exc:
            return failed(exc)

    def _staged(self, con: QmarkCursor, table: pa.Table) -> str:
        stage = self._stage(con, table.schema)
        copy_in(con.raw, stage, table)
        return stage

    # -- spans ---------------------------------------------------------------------------------
    def append_spans(self, project: str, table: pa.Table) -> Future[IngestResult]:
        check_name(project, "project name")
        col = pa.array([project] * table.num_rows, pa.string())
        i = table.schema.get_field_index("project")
        table = (
            table.set_column(i, "project", col) if i >= 0 else table.append_column("project", col)
        )
        return self._submit(
            lambda con: self._insert_spans(con, table), table="spans", rows=table.num_rows
        )

    def _insert_spans(self, con: QmarkCursor, table: pa.Table) -> IngestResult:
        received = table.num_rows
        if received == 0:
            return IngestResult(0, 0)
        key = pc.binary_join_element_wise(
            table.column("project"), table.column("trace_id"), table.column("span_id"), "/"
        )
        keep = _first_of_each(key)
        if keep is not None:
            table = table.take(keep)
        table = _stamped(table)
        self._evolve_spans(con, table.schema)
        stage = self._staged(con, table)
        # one writer per trace at a time across server processes (in hash order: no cycle),
        # so each sees the other's spans of the trace below: else two servers storing a
        # trace's root and its children at once each missed the other's and neither filled
        # the children's user and session
        con.execute(
            f"SELECT pg_advisory_xact_lock({_TRACE_LOCKS}, h) FROM (SELECT DISTINCT "
            f"hashtext(project || '/' || trace_id) AS h FROM {stage} ORDER BY h) k"
        )
        ts = pc.min_max(table.column("start_time"))
        lo, hi = ts["min"].as_py(), ts["max"].as_py()
        window = [lo - TRACE_REACH, hi + TRACE_REACH] if lo is not None else None
        # user, session and model cross requests only when a trace has stored spans or is
        # split within this batch; else its spans hold them already (as on DuckDB)
        attribute = _split_traces(table) or (
            window is not None
            and con.execute(
                # a lookup per trace on the primary key (a join over the whole table took
                # 160 ms a batch at 10k spans)
                f"SELECT 1 FROM (SELECT DISTINCT project, trace_id FROM {stage}) b, LATERAL "
                "(SELECT 1 FROM spans s WHERE s.project = b.project AND s.trace_id = b.trace_id "
                "AND s.start_time BETWEEN ? AND ? LIMIT 1) x LIMIT 1",
                window,
            ).fetchone()
            is not None
        )
        cols = _names(table)
        n = con.execute(
            # in key order: two servers inserting overlapping batches wait on each other's
            # keys in one order, never in a cycle
            f"INSERT INTO spans ({cols}) SELECT {cols} FROM {stage} "
            "ORDER BY project, trace_id, span_id ON CONFLICT (project, trace_id, span_id) "
            "DO NOTHING"
        ).rowcount
        if attribute and window is not None:
            self._attribute_traces(con, stage, window)
        return IngestResult(received, int(n))

    def _evolve_spans(self, con: QmarkCursor, schema: pa.Schema) -> None:
        """Add the columns of a newer :data:`SPAN_SCHEMA` than the database's table."""
        have = self._columns.get("spans") or table_columns(con, "spans")
        for f in schema:
            if f.name not in have:
                con.execute(
                    f"ALTER TABLE spans ADD COLUMN IF NOT EXISTS {q(f.name)} {sql_type(f.type)}"
                )
        self._columns["spans"] = have | set(schema.names)

    @staticmethod
    def _attribute_traces(con: QmarkCursor, stage: str, window: list[Any]) -> None:
        """Fill user, session and model of the staged spans' traces on every span of those
        traces that has none: the value of the root span first, then of the earliest."""
        first = ", ".join(
            f"(array_agg(s.{c} ORDER BY s.parent_span_id IS NOT NULL, s.start_time) "
            f"FILTER (WHERE s.{c} IS NOT NULL))[1] AS {c}"
            for c in TRACE_COLUMNS
        )
        fill = ", ".join(f"{c} = coalesce(spans.{c}, k.{c})" for c in TRACE_COLUMNS)
        missing = " OR ".join(f"(spans.{c} IS NULL AND k.{c} IS NOT NULL)" for c in TRACE_COLUMNS)
        con.execute(
            f"UPDATE spans SET {fill} FROM (SELECT s.project, s.trace_id, {first} FROM spans s "
            f"WHERE (s.project, s.trace_id) IN (SELECT project, trace_id FROM {stage}) "
            "AND s.start_time BETWEEN ? AND ? GROUP BY s.project, s.trace_id) k "
            "WHERE spans.project = k.project AND spans.trace_id = k.trace_id "
            f"AND spans.start_time BETWEEN ? AND ? AND ({missing})",
            window + window,
        )

    def fill_span_texts(self, project: str, table: pa.Table) -> Future[int]:
        """Set prompt, response, finish reason and check results (:data:`TEXT_COLUMNS`) of the
        stored spans of (``trace_id``, ``span_id``) whose texts did not come with the span;
        returns how many spans changed. Idempotent."""
        sets = ", ".join(
            f"{q(c)} = coalesce(u.{q(c)}, spans.{q(c)})" if c == "finish_reason" else
            f"{q(c)} = u.{q(c)}"
            for c in TEXT_COLUMNS
        )  # fmt: skip

        def fn(con: QmarkCursor) -> int:
            if table.num_rows == 0:
                return 0
            stage = self._staged(con, table)
            return int(
                con.execute(
                    f"UPDATE spans SET {sets} FROM {stage} u WHERE spans.project = ? "
                    "AND spans.trace_id = u.trace_id AND spans.span_id = u.span_id "
                    "AND (spans.content_source = 'logs' OR (spans.content_source IS NULL "
                    "AND spans.prompt IS NULL AND spans.response IS NULL))",
                    [project],
                ).rowcount
            )

        return self._submit(fn)

    def set_span_costs(self, project: str, table: pa.Table) -> Future[int]:
        """Set ``cost``, ``price_version`` and ``cost_source`` of the stored spans of
        (``trace_id``, ``span_id``) rows, except costs the spans reported themselves; returns
        how many spans changed."""

        def fn(con: QmarkCursor) -> int:
            if table.num_rows == 0:
                return 0
            stage = self._staged(con, table)
            return int(
                con.execute(
                    "UPDATE spans SET cost = u.cost, price_version = u.price_version, "
                    f"cost_source = u.cost_source FROM {stage} u WHERE spans.project = ? "
                    "AND spans.trace_id = u.trace_id AND spans.span_id = u.span_id "
                    "AND spans.cost_source IS DISTINCT FROM 'reported' "
                    "AND (spans.cost IS DISTINCT FROM u.cost "
                    "OR spans.price_version IS DISTINCT FROM u.price_version)",
                    [project],
                ).rowcount
            )

        return self._submit(fn)

    @staticmethod
    def _delete_spans(con: QmarkCursor, project: str, service: str) -> dict[str, int]:
        """Delete an LLM app's spans (those of its service) and their traces' scores, in the
        model deletion's transaction; the rows removed per table."""
        where = "project = ? AND service_name = ?"
        scores = con.execute(
            "DELETE FROM scores WHERE project = ? AND trace_id IN "
            f"(SELECT trace_id FROM spans WHERE {where})",
            [project, project, service],
        ).rowcount
        spans = con.execute(f"DELETE FROM spans WHERE {where}", [project, service]).rowcount
        return {"spans": int(spans), "scores": int(scores)}

    # -- logs and metric points ----------------------------------------------------------------
    def append_span_logs(self, project: str, table: pa.Table) -> Future[int]:
        """Store GenAI log records (:data:`LOG_SCHEMA`, ``project`` set by the caller)."""
        return self._submit(
            lambda con: self._append("span_logs", con, table),
            table="span_logs",
            rows=table.num_rows,
        )

    def append_metric_points(self, project: str, table: pa.Table) -> Future[int]:
        """Store metric data points (:data:`METRIC_SCHEMA`, ``project`` set by the caller)."""
        return self._submit(
            lambda con: self._append("llm_metrics", con, table),
            table="llm_metrics",
            rows=table.num_rows,
        )

    @staticmethod
    def _append(name: str, con: QmarkCursor, table: pa.Table) -> int:
        copy_in(con.raw, name, _stamped(table))
        return int(table.num_rows)

    # -- scores --------------------------------------------------------------------------------
    def put_scores(self, project: str, table: pa.Table) -> Future[tuple[int, int]]:
        """Store scores (:data:`SCORE_SCHEMA`, ids unique within ``table``); returns (new,
        replaced)."""
        check_name(project, "project name")
        table = table.select(SCORE_SCHEMA.names).cast(SCORE_SCHEMA)
        n = table.num_rows
        rows = _stamped(table.append_column("project", pa.array([project] * n, pa.string())))

        def fn(con: QmarkCursor) -> tuple[int, int]:
            if n == 0:
                return 0, 0
            stage = self._staged(con, rows)
            cols = _names(rows)
            sets = ", ".join(
                f"{q(c)} = excluded.{q(c)}" for c in rows.column_names if c not in ("project", "id")
            )
            # a row a conflict updated has the inserting transaction's id as xmax
            replaced = con.execute(
                f"INSERT INTO scores ({cols}) SELECT {cols} FROM {stage} ORDER BY project, id "
                f"ON CONFLICT (project, id) DO UPDATE SET {sets} RETURNING xmax::text <> '0'"
            ).fetchall()
            had = sum(1 for (r,) in replaced if r)
            return n - had, had

        return self._submit(fn, table="scores", rows=n)

    # -- reads ---------------------------------------------------------------------------------
    def _of(self, name: str, project: str) -> Any:
        t = self.backend().table(name)
        return t.filter(t.project == project)

    def spans(self, project: str) -> Any:
        """The project's trace spans as an ibis table expression."""
        return self._of("spans", project)

    def span_logs(self, project: str) -> Any:
        """The project's GenAI log records as an ibis table expression."""
        return self._of("span_logs", project)

    def metric_points(self, project: str) -> Any:
        """The project's metric data points as an ibis table expression."""
        return self._of("llm_metrics", project)

    def scores(self, project: str) -> Any:
        """The project's trace scores as an ibis table expression."""
        return self._of("scores", project)

    def span_logs_of(self, project: str, trace_ids: Sequence[str]) -> pa.Table:
        """The project's GenAI log records of the traces ``trace_ids``, in one plain query."""
        cols = ", ".join(q(f.name) for f in _LOG_READ)
        rows = (
            self._read(
                f"SELECT {cols} FROM span_logs WHERE project = ? AND trace_id = ANY(?)",
                [project, list(trace_ids)],
            )
            if trace_ids
            else []
        )
        return pa.Table.from_pylist(
            [dict(zip(_LOG_READ.names, r, strict=True)) for r in rows], schema=_LOG_READ
        )
