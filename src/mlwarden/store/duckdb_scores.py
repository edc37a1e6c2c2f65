"""Scores of LLM app traces kept in DuckDB: table ``scores`` (human feedback, ratings, evals).

A mixin of :class:`~mlwarden.store.duckdb_engine.DuckDBStore`. One row per (``project``,
``id``), columns of :data:`~mlwarden.schema.scores.SCORE_SCHEMA`; a score sent again with its
id replaces the stored one (``INSERT OR REPLACE``), so re-sent requests are no-ops. Writes are
group-committed by the store's writer; retention drops scores older than the cut-off by
their time, like spans.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from mlwarden.schema.scores import SCORE_SCHEMA
from mlwarden.schema.spec import check_name
from mlwarden.store.writer import GroupCommitWriter

__all__ = ["SCORE_DDL", "ScoreTables"]

SCORE_DDL = [
    """CREATE TABLE IF NOT EXISTS scores (
        project VARCHAR, id VARCHAR, trace_id VARCHAR, span_id VARCHAR, session_id VARCHAR,
        name VARCHAR, data_type VARCHAR, value DOUBLE, label VARCHAR, comment VARCHAR,
        source VARCHAR, ts TIMESTAMP, received_at TIMESTAMP, PRIMARY KEY (project, id))""",
]


class ScoreTables:
    """The scores table (mixed into the DuckDB store, which owns ``_writer``)."""

    _writer: GroupCommitWriter
    backend: Any  # the store's method: this thread's ibis backend

    def put_scores(self, project: str, table: pa.Table) -> Future[tuple[int, int]]:
        """Store scores (:data:`SCORE_SCHEMA`, ids unique within ``table``); returns (new,
        replaced): how many ids were not stored yet, how many replaced a stored score."""
        check_name(project, "project name")
        table = table.select(SCORE_SCHEMA.names).cast(SCORE_SCHEMA)
        n = table.num_rows
        stamped = table.append_column("project", pa.array([project] * n, pa.string()))
        stamped = stamped.append_column(
            "received_at",
            pa.array([datetime.now(UTC).replace(tzinfo=None)] * n, pa.timestamp("us")),
        )

        def fn(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
            con.register("score_batch", stamped)
            try:
                (had,) = con.execute(
                    "SELECT count(*) FROM scores s SEMI JOIN score_batch b "
                    "ON s.project = b.project AND s.id = b.id"
                ).fetchone() or (0,)
                con.execute(
                    "INSERT OR REPLACE INTO scores BY NAME SELECT * FROM score_batch"
                ).fetchall()
            finally:
                con.unregister("score_batch")
            return n - int(had), int(had)

        return self._writer.submit("call", None, fn, n)

    def scores(self, project: str) -> Any:
        """The project's scores as an ibis table expression."""
        t = self.backend().table("scores")
        return t.filter(t.project == project)
