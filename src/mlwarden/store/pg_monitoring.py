"""Stored monitors, the scheduler's marks and monitor results on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pyarrow as pa

from mlwarden.errors import NotFoundError
from mlwarden.store.base import ModelRecord, SuiteRow
from mlwarden.store.duckdb_engine import _naive
from mlwarden.store.pg_connection import QmarkCursor, copy_in, utcnow
from mlwarden.store.pg_schema import q
from mlwarden.store.times import utc_naive

__all__ = ["PgMonitoring"]


class PgMonitoring:
    """Suites and results for :class:`~mlwarden.store.pg_engine.PostgresStore`."""

    _call: Callable[[Callable[[Any], Any]], Any]
    _read: Callable[..., list[tuple[Any, ...]]]
    _stage: Callable[[QmarkCursor, pa.Schema], str]
    get_model: Callable[[str, str], ModelRecord]
    backend: Callable[[], Any]

    def put_suite(self, project: str, model: str, spec: str, state: str) -> None:
        self.get_model(project, model)
        self._call(
            lambda con: con.execute(
                "INSERT INTO monitor_suites (project, model, spec, state, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (project, model) DO UPDATE "
                "SET spec = excluded.spec, state = excluded.state, "
                "updated_at = excluded.updated_at, evaluated_until = NULL",
                [project, model, spec, state, utcnow()],
            )
        )

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
        self._call(
            lambda con: con.execute(
                f"UPDATE monitor_suites SET {sets} WHERE project = ? AND model = ?{same}",
                [*moved.values(), *keys],
            )
        )

    def write_results(self, project: str, model: str, rows: pa.Table) -> int:
        """Store results, replacing earlier results of the same monitor, segment and window."""
        if rows.num_rows == 0:
            return 0
        rows = _naive(rows)

        def fn(con: QmarkCursor) -> int:
            # one writer of a model's results at a time across servers (the scheduler's holder
            # and an explicit evaluation on another; a holder that lost its lease mid-run):
            # two delete-then-insert transactions at once each kept their rows, a window twice
            con.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [f"results/{project}/{model}"])
            stage = self._stage(con, rows.schema)
            copy_in(con.raw, stage, rows)
            con.execute(
                f"DELETE FROM results r USING {stage} b WHERE r.project = ? AND r.model = ? "
                "AND r.monitor = b.monitor AND r.window_start = b.window_start "
                "AND coalesce(r.segment, '') = coalesce(b.segment, '')",
                [project, model],
            )
            cols = ", ".join(q(c) for c in rows.column_names)
            con.execute(
                f"INSERT INTO results (project, model, {cols}) SELECT ?, ?, {cols} FROM {stage}",
                [project, model],
            )
            return int(rows.num_rows)

        return int(self._call(fn))

    def results(self) -> Any:
        return self.backend().table("results")
