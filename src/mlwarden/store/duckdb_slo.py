"""Probes, their results and SLO declarations in DuckDB: tables ``probes``,
``probe_results`` and ``slo_specs``.

A mixin of :class:`~mlwarden.store.duckdb_engine.DuckDBStore`: writes go through the store's
group-commit writer (``_call``), reads through its per-thread cursor (``_read``). A probe and a
model's SLO list are one JSON body each; a probe result is one row (time, probe, HTTP status,
latency, ok, error): the operational events SLOs count, with the events' own ``status`` and
``latency_ms`` for SLOs over requests. Every statement is plain SQL, all of it in this file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from mlwarden.store.times import utc_naive
from mlwarden.store.traffic import SQL_TRAFFIC

__all__ = ["PROBE_RESULT_COLUMNS", "SLO_DDL", "SloTables"]

SLO_DDL = [
    """CREATE TABLE IF NOT EXISTS probes (
        project VARCHAR, model VARCHAR, name VARCHAR, spec VARCHAR, updated_at TIMESTAMP,
        PRIMARY KEY (project, model, name))""",
    """CREATE TABLE IF NOT EXISTS probe_results (
        project VARCHAR, model VARCHAR, probe VARCHAR, ts TIMESTAMP, status_code INTEGER,
        latency_ms DOUBLE, ok BOOLEAN, error VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS slo_specs (
        project VARCHAR, model VARCHAR, spec VARCHAR, updated_at TIMESTAMP,
        PRIMARY KEY (project, model))""",
]
PROBE_RESULT_COLUMNS = ("probe", "at", "status_code", "latency_ms", "ok", "error")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _aware(t: Any) -> Any:
    return t.replace(tzinfo=UTC) if isinstance(t, datetime) else t


class SloTables:
    """Probe and SLO storage for :class:`DuckDBStore` (which provides ``_call``, ``_read``
    and ``get_model``)."""

    #: seconds since the epoch of a timestamp column, in the engine's SQL (time buckets)
    _epoch = "epoch({})"

    _call: Callable[[Callable[[Any], Any]], Any]
    _read: Callable[..., list[tuple[Any, ...]]]
    get_model: Callable[..., Any]

    # -- probes ------------------------------------------------------------------------------
    def put_probe(self, project: str, model: str, name: str, spec: str) -> None:
        """Create or replace a probe (``spec`` its JSON)."""

        def fn(con: Any) -> None:
            con.execute(
                "DELETE FROM probes WHERE project = ? AND model = ? AND name = ?",
                [project, model, name],
            ).fetchall()
            con.execute(
                "INSERT INTO probes VALUES (?, ?, ?, ?, ?)", [project, model, name, spec, _now()]
            ).fetchall()

        self._call(fn)

    def delete_probe(self, project: str, model: str, name: str) -> bool:
        """Remove a probe and its results; whether it existed."""

        def fn(con: Any) -> bool:
            rows = con.execute(
                "DELETE FROM probes WHERE project = ? AND model = ? AND name = ? RETURNING 1",
                [project, model, name],
            ).fetchall()
            con.execute(
                "DELETE FROM probe_results WHERE project = ? AND model = ? AND probe = ?",
                [project, model, name],
            ).fetchall()
            return bool(rows)

        return bool(self._call(fn))

    def list_probes(
        self, project: str | None = None, model: str | None = None
    ) -> list[tuple[str, str, str, str]]:
        """(project, model, name, spec JSON) of the probes, by project, model and name."""
        sql, params = "SELECT project, model, name, spec FROM probes WHERE true", []
        if project is not None:
            sql += " AND project = ?"
            params.append(project)
        if model is not None:
            sql += " AND model = ?"
            params.append(model)
        rows = self._read(sql + " ORDER BY project, model, name", params)
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def append_probe_results(self, project: str, model: str, rows: Sequence[dict[str, Any]]) -> int:
        """Store probe results (dicts of :data:`PROBE_RESULT_COLUMNS`, ``at`` aware UTC)."""
        if not rows:
            return 0
        batch = pa.table(
            {
                "project": pa.array([project] * len(rows), pa.string()),
                "model": pa.array([model] * len(rows), pa.string()),
                "probe": pa.array([r["probe"] for r in rows], pa.string()),
                "ts": pa.array([utc_naive(r["at"]) for r in rows], pa.timestamp("us")),
                "status_code": pa.array([r.get("status_code") for r in rows], pa.int32()),
                "latency_ms": pa.array([r.get("latency_ms") for r in rows], pa.float64()),
                "ok": pa.array([bool(r["ok"]) for r in rows], pa.bool_()),
                "error": pa.array([r.get("error") or None for r in rows], pa.string()),
            }
        )

        def fn(con: Any) -> int:
            con.register("probe_batch", batch)
            try:
                con.execute(
                    "INSERT INTO probe_results BY NAME SELECT * FROM probe_batch"
                ).fetchall()
            finally:
                con.unregister("probe_batch")
            count: int = batch.num_rows
            return count

        stored: int = self._call(fn)
        return stored

    def probe_results(
        self, project: str, model: str, *, probe: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The latest results, newest first."""
        sql = (
            "SELECT probe, ts, status_code, latency_ms, ok, error FROM probe_results "
            "WHERE project = ? AND model = ?"
        )
        params: list[Any] = [project, model]
        if probe is not None:
            sql += " AND probe = ?"
            params.append(probe)
        rows = self._read(sql + " ORDER BY ts DESC LIMIT ?", [*params, limit])
        return [
            dict(zip(PROBE_RESULT_COLUMNS, (*r[:1], _aware(r[1]), *r[2:]), strict=True))
            for r in rows
        ]

    def last_probe_runs(self, project: str, model: str) -> dict[str, datetime]:
        """Each probe's latest result time (aware UTC)."""
        rows = self._read(
            "SELECT probe, max(ts) FROM probe_results WHERE project = ? AND model = ? "
            "GROUP BY probe",
            [project, model],
        )
        return {r[0]: _aware(r[1]) for r in rows}

    # -- SLO declarations --------------------------------------------------------------------
    def put_slos(self, project: str, model: str, spec: str) -> None:
        """Set a model's SLO list (``spec`` its JSON)."""

        def fn(con: Any) -> None:
            con.execute(
                "DELETE FROM slo_specs WHERE project = ? AND model = ?", [project, model]
            ).fetchall()
            con.execute(
                "INSERT INTO slo_specs VALUES (?, ?, ?, ?)", [project, model, spec, _now()]
            ).fetchall()

        self._call(fn)

    def list_slo_specs(self, project: str | None = None) -> list[tuple[str, str, str]]:
        """(project, model, spec JSON) of every model with SLOs declared."""
        sql, params = "SELECT project, model, spec FROM slo_specs", []
        if project is not None:
            sql += " WHERE project = ?"
            params.append(project)
        rows = self._read(sql + " ORDER BY project, model", params)
        return [(r[0], r[1], r[2]) for r in rows]

    # -- what SLOs count ---------------------------------------------------------------------
    def _source(
        self,
        project: str,
        model: str,
        *,
        source: str,
        probe: str | None,
        threshold_ms: float | None,
    ) -> tuple[str, str, str, list[Any], str]:
        """(table, time column, scope condition, its params, bad condition) of an SLO."""
        limit = None if threshold_ms is None else repr(float(threshold_ms))
        if source == "requests":
            table = f"events_{int(self.get_model(project, model).uid)}"
            if limit is None:
                # shadow predictions are not requests (mlwarden.store.traffic)
                return table, "ts", SQL_TRAFFIC, [], "status = 'error'"
            return (
                table,
                "ts",
                f"latency_ms IS NOT NULL AND {SQL_TRAFFIC}",
                [],
                f"latency_ms > {limit}",
            )
        scope = "project = ? AND model = ?"
        params: list[Any] = [project, model]
        if probe is not None:
            scope += " AND probe = ?"
            params.append(probe)
        bad = "NOT ok"
        if limit is not None:
            bad += f" OR latency_ms IS NULL OR latency_ms > {limit}"
        return "probe_results", "ts", scope, params, bad

    def slo_counts(
        self,
        project: str,
        model: str,
        *,
        source: str,
        probe: str | None = None,
        threshold_ms: float | None = None,
        until: datetime,
        windows: Sequence[timedelta],
    ) -> dict[timedelta, tuple[int, int]]:
        """(bad, total) in each window ending at ``until`` (its end included), one scan.

        Over requests, a latency SLO counts only events that carry ``latency_ms``.
        """
        table, t, scope, params, bad = self._source(
            project, model, source=source, probe=probe, threshold_ms=threshold_ms
        )
        end = utc_naive(until)
        cols, args = [], []
        for w in windows:
            cols.append(f"count(*) FILTER (WHERE {t} > ?)")
            cols.append(f"count(*) FILTER (WHERE {t} > ? AND ({bad}))")
            args += [end - w, end - w]
        sql = f"SELECT {', '.join(cols)} FROM {table} WHERE {scope} AND {t} > ? AND {t} <= ?"
        row = self._read(sql, [*args, *params, end - max(windows), end])[0]
        return {w: (int(row[2 * i + 1] or 0), int(row[2 * i] or 0)) for i, w in enumerate(windows)}

    def slo_series(
        self,
        project: str,
        model: str,
        *,
        source: str,
        probe: str | None = None,
        threshold_ms: float | None = None,
        since: datetime,
        until: datetime,
        step: timedelta,
    ) -> list[tuple[datetime, int, int]]:
        """(bucket start, bad, total) per ``step`` from ``since`` to ``until``, empty buckets
        left out."""
        table, t, scope, params, bad = self._source(
            project, model, source=source, probe=probe, threshold_ms=threshold_ms
        )
        secs = int(step.total_seconds())
        sql = (
            f"SELECT floor({self._epoch.format(t)} / {secs}) AS b, "
            f"count(*) FILTER (WHERE {bad}), count(*) "
            f"FROM {table} WHERE {scope} AND {t} > ? AND {t} <= ? GROUP BY b ORDER BY b"
        )
        rows = self._read(sql, [*params, utc_naive(since), utc_naive(until)])
        return [
            (datetime.fromtimestamp(int(r[0]) * secs, UTC), int(r[1] or 0), int(r[2] or 0))
            for r in rows
        ]
