"""Probes, their results and SLO declarations on PostgreSQL: tables ``probes``,
``probe_results`` and ``slo_specs`` (:class:`~mlwarden.store.protocols.Probes`).

The statements are DuckDB's (:mod:`.duckdb_slo`), which are plain SQL both engines run, but
for two: a batch of results is inserted by ``executemany`` (DuckDB registers an Arrow table),
and a time bucket is ``extract(epoch FROM ts)`` (DuckDB's ``epoch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlwarden.store.duckdb_slo import SloTables
from mlwarden.store.times import utc_naive

__all__ = ["PG_SLO_DDL", "PgSloTables"]

PG_SLO_DDL = [
    """CREATE TABLE IF NOT EXISTS probes (
        project TEXT, model TEXT, name TEXT, spec TEXT, updated_at TIMESTAMP,
        PRIMARY KEY (project, model, name))""",
    """CREATE TABLE IF NOT EXISTS probe_results (
        project TEXT, model TEXT, probe TEXT, ts TIMESTAMP, status_code INTEGER,
        latency_ms DOUBLE PRECISION, ok BOOLEAN, error TEXT)""",
    "CREATE INDEX IF NOT EXISTS probe_results_by_time ON probe_results (project, model, ts)",
    """CREATE TABLE IF NOT EXISTS slo_specs (
        project TEXT, model TEXT, spec TEXT, updated_at TIMESTAMP,
        PRIMARY KEY (project, model))""",
]


class PgSloTables(SloTables):
    """Probe and SLO storage for :class:`~mlwarden.store.pg_engine.PostgresStore` (which
    provides ``_call``, ``_read`` and ``get_model``)."""

    _epoch = "extract(epoch FROM {})"

    def append_probe_results(self, project: str, model: str, rows: Sequence[dict[str, Any]]) -> int:
        """Store probe results (dicts of ``PROBE_RESULT_COLUMNS``, ``at`` aware UTC)."""
        if not rows:
            return 0
        values = [
            (
                project,
                model,
                r["probe"],
                utc_naive(r["at"]),
                r.get("status_code"),
                None if r.get("latency_ms") is None else float(r["latency_ms"]),
                bool(r["ok"]),
                r.get("error") or None,
            )
            for r in rows
        ]

        def fn(con: Any) -> int:
            con.raw.cursor().executemany(
                "INSERT INTO probe_results VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", values
            )
            return len(values)

        stored: int = self._call(fn)
        return stored
