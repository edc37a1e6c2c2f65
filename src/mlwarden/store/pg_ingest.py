"""Ingest on PostgreSQL: events and labels by binary ``COPY`` into a staging table, then one
``INSERT ... ON CONFLICT`` into the model's table, in one transaction per request. A re-sent
event is dropped by the primary key on ``(event_id, version)`` (shadow logging stores other
versions' predictions under one event id) whichever server process stored it first;
a newer label replaces the older one."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlwarden.errors import StorageError
from mlwarden.schema.batch import Rejection, kind_from_arrow
from mlwarden.schema.spec import RESERVED_FIELDS, Feature
from mlwarden.store.base import IngestResult, ModelRecord
from mlwarden.store.duckdb_engine import _dedupe, _dump, _first_of_each, _naive
from mlwarden.store.pg_connection import (
    QmarkCursor,
    copy_in,
    done,
    failed,
    table_columns,
    utcnow,
)
from mlwarden.store.pg_schema import q, sql_type
from mlwarden.store.times import stamp_received, utc_naive

__all__ = ["PgIngest"]

#: project-wide tables retention trims, with their time column
_DATED = (
    ("spans", "start_time"),
    ("span_logs", "time"),
    ("llm_metrics", "time"),
    ("scores", "ts"),
    ("probe_results", "ts"),
)


class PgIngest:
    """Events, labels, rejected rows and retention for
    :class:`~mlwarden.store.pg_engine.PostgresStore` (which provides the transaction, the
    staging tables and the model look-ups)."""

    retention_days: float | None
    _columns: dict[str, set[str]]
    _call: Callable[[Callable[[Any], Any]], Any]
    _stage: Callable[[QmarkCursor, pa.Schema], str]
    _get_model_tx: Callable[[QmarkCursor, str, str], ModelRecord]
    list_models: Callable[..., list[ModelRecord]]

    # -- ingest --------------------------------------------------------------------------------
    def append_events(
        self, model: ModelRecord, table: pa.Table, *, stamped: bool = False
    ) -> Future[IngestResult]:
        try:
            return done(self._call(lambda con: self._insert_events(con, model, table)))
        except StorageError as exc:
            return failed(exc)

    def _evolve(self, con: QmarkCursor, model: ModelRecord, table: pa.Table) -> None:
        """Add the columns (and spec features) this batch brings for the first time."""
        name = f"events_{model.uid}"
        have = self._columns.get(name) or table_columns(con, name)
        missing = [f for f in table.schema if f.name not in have]
        if missing:
            for f in missing:
                con.execute(
                    f"ALTER TABLE {q(name)} ADD COLUMN IF NOT EXISTS {q(f.name)} {sql_type(f.type)}"
                )
            have = have | {f.name for f in missing}
            current = self._get_model_tx(con, model.project, model.name)
            known = set(current.spec.feature_names) | set(current.spec.tag_columns)
            extra = [
                Feature(name=f.name, kind=kind)
                for f in missing
                if f.name not in known
                and f.name not in RESERVED_FIELDS  # an event field (shadow) is no feature
                and not f.name.startswith("score__")
                and (kind := kind_from_arrow(f.type)) is not None
            ]
            if extra:
                con.execute(
                    "UPDATE models SET spec = ?, updated_at = ? WHERE project = ? AND name = ?",
                    [
                        current.spec.with_features(extra).model_dump_json(),
                        utcnow(),
                        model.project,
                        model.name,
                    ],
                )
        self._columns[name] = have

    def _insert_events(self, con: QmarkCursor, model: ModelRecord, table: pa.Table) -> IngestResult:
        received = table.num_rows
        if received == 0:
            return IngestResult(0, 0)
        keep = _first_of_each(
            pc.binary_join_element_wise(table.column("event_id"), table.column("version"), "\x1f")
        )
        if keep is not None:
            table = table.take(keep)
        table = stamp_received(_naive(table), utcnow())
        self._evolve(con, model, table)
        now = utcnow()
        for v in pc.unique(table.column("version")).to_pylist():
            con.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, '', '{}') ON CONFLICT DO NOTHING",
                [model.project, model.name, v, now],
            )
        target = q(f"events_{model.uid}")
        stage = self._stage(con, table.schema)
        copy_in(con.raw, stage, table)
        cols = ", ".join(q(c) for c in table.column_names)
        n = con.execute(
            # in event id order: two servers inserting overlapping batches wait on each other's
            # keys in one order, never in a cycle (a deadlock aborted one of them)
            f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage} ORDER BY event_id, version "
            "ON CONFLICT (event_id, version) DO NOTHING"
        ).rowcount
        return IngestResult(received, int(n))

    def append_actuals(self, model: ModelRecord, table: pa.Table) -> Future[IngestResult]:
        def fn(con: QmarkCursor) -> IngestResult:
            rows = table
            if rows.num_rows:
                rows = _dedupe(rows, "event_id", keep="last")
                rows = stamp_received(_naive(rows), utcnow())
                target = q(f"actuals_{model.uid}")
                stage = self._stage(con, rows.schema)
                copy_in(con.raw, stage, rows)
                cols = [c for c in rows.column_names]
                names = ", ".join(q(c) for c in cols)
                sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in cols if c != "event_id")
                con.execute(
                    f"INSERT INTO {target} ({names}) SELECT {names} FROM {stage} "
                    f"ORDER BY event_id ON CONFLICT (event_id) DO UPDATE SET {sets}"
                )
            return IngestResult(table.num_rows, table.num_rows)

        try:
            return done(self._call(fn))
        except StorageError as exc:
            return failed(exc)

    def quarantine(
        self, project: str, model: str, kind: str, rejections: list[Rejection]
    ) -> Future[IngestResult]:
        now = utcnow()
        rows = [
            (project, model, kind, now, r.index, r.field, r.reason, _dump(r.row))
            for r in rejections
        ]

        def fn(con: QmarkCursor) -> IngestResult:
            if rows:
                con.raw.cursor().executemany(
                    "INSERT INTO quarantine VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", rows
                )
            return IngestResult(len(rows), len(rows))

        try:
            return done(self._call(fn))
        except StorageError as exc:
            return failed(exc)

    def apply_retention(self, *, now: datetime | None = None) -> int:
        if self.retention_days is None:
            return 0
        cutoff = utc_naive(now or datetime.now(UTC)) - timedelta(days=self.retention_days)
        uids = [m.uid for m in self.list_models()]

        def fn(con: QmarkCursor) -> int:
            deleted = 0
            for uid in uids:
                deleted += con.execute(
                    f"DELETE FROM {q(f'events_{uid}')} WHERE ts < ?", [cutoff]
                ).rowcount
                con.execute(f"DELETE FROM {q(f'actuals_{uid}')} WHERE ts < ?", [cutoff])
            for table, t in _DATED:  # as on DuckDB: LLM signals and probe results age out too
                con.execute(f"DELETE FROM {table} WHERE {t} < ?", [cutoff])
            return deleted

        return int(self._call(fn))
