"""Annotations kept in DuckDB: table ``annotations`` (deploys, notes, incidents on charts).

A mixin of :class:`~mlwarden.store.duckdb_engine.DuckDBStore`. One row per annotation, keyed
by a sequence id; ``model`` is NULL for an annotation of the whole project. Writes go through
the store's group-commit writer; deleting or renaming a model deletes or renames its
annotations (:mod:`.duckdb_removal`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import duckdb

from mlwarden.errors import NotFoundError
from mlwarden.schema.annotation import Annotation, AnnotationIn, AnnotationKind
from mlwarden.store.base import ModelRecord
from mlwarden.store.times import utc_aware, utc_naive

__all__ = ["ANNOTATION_DDL", "AnnotationTables"]

ANNOTATION_DDL = [
    "CREATE SEQUENCE IF NOT EXISTS annotation_seq START 1",
    """CREATE TABLE IF NOT EXISTS annotations (
        id BIGINT PRIMARY KEY, project VARCHAR, model VARCHAR, ts TIMESTAMP, end_ts TIMESTAMP,
        text VARCHAR, kind VARCHAR, author VARCHAR, created_at TIMESTAMP)""",
]
_COLUMNS = "id, project, model, ts, end_ts, text, kind, author, created_at"


def _record(row: tuple[Any, ...]) -> Annotation:
    i, project, model, ts, end, text, kind, author, created = row
    return Annotation(
        id=int(i),
        project=project,
        model=model,
        time=utc_aware(ts),
        end=utc_aware(end),
        text=text,
        kind=AnnotationKind(kind),
        author=author or "",
        created_at=utc_aware(created),
    )


class AnnotationTables:
    """The annotations table (mixed into the DuckDB store, which provides the transaction,
    reads and the model look-up)."""

    _call: Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any]
    _read: Callable[..., list[tuple[Any, ...]]]
    get_model: Callable[[str, str], ModelRecord]

    def put_annotation(self, project: str, model: str | None, ann: AnnotationIn) -> Annotation:
        """Store ``ann`` for ``model`` (None: the whole project); its ``time`` defaults to now.
        An unknown model raises :class:`NotFoundError`."""
        if model is not None:
            self.get_model(project, model)
        now = datetime.now(UTC)
        at = ann.time or now

        def fn(con: duckdb.DuckDBPyConnection) -> Annotation:
            row = con.execute(
                f"INSERT INTO annotations VALUES (nextval('annotation_seq'), ?, ?, ?, ?, ?, ?, ?, "
                f"?) RETURNING {_COLUMNS}",
                [
                    project,
                    model,
                    utc_naive(at),
                    None if ann.end is None else utc_naive(ann.end),
                    ann.text,
                    ann.kind.value,
                    ann.author,
                    utc_naive(now),
                ],
            ).fetchone()
            assert row is not None  # RETURNING of one inserted row
            return _record(row)

        out: Annotation = self._call(fn)
        return out

    def annotations(
        self,
        project: str,
        model: str | None,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Annotation]:
        """Annotations of ``model`` and of the whole project (only those when ``model`` is
        None) that overlap ``[start, end)``, oldest first, at most ``limit``."""
        sql = f"SELECT {_COLUMNS} FROM annotations WHERE project = ? AND (model IS NULL"
        params: list[Any] = [project]
        if model is not None:
            self.get_model(project, model)
            sql += " OR model = ?"
            params.append(model)
        sql += ")"
        if start is not None:  # still running at start (a span) or at or after it
            sql += " AND coalesce(end_ts, ts) >= ?"
            params.append(utc_naive(start))
        if end is not None:
            sql += " AND ts < ?"
            params.append(utc_naive(end))
        sql += " ORDER BY ts, id LIMIT ?"
        params.append(limit)
        return [_record(r) for r in self._read(sql, params)]

    def delete_annotation(self, project: str, model: str | None, annotation_id: int) -> Annotation:
        """Delete one annotation of ``model`` (None: of the whole project); returns it."""
        if model is not None:
            self.get_model(project, model)

        def fn(con: duckdb.DuckDBPyConnection) -> Annotation:
            row = con.execute(
                f"DELETE FROM annotations WHERE project = ? AND id = ? AND model IS NOT DISTINCT "
                f"FROM ? RETURNING {_COLUMNS}",
                [project, annotation_id, model],
            ).fetchone()
            if row is None:
                where = f"model {model!r}" if model is not None else "the project"
                raise NotFoundError(
                    f"There is no annotation {annotation_id} of {where} in project {project!r}."
                )
            return _record(row)

        out: Annotation = self._call(fn)
        return out
