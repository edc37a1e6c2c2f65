"""The PostgreSQL engine's connection glue: DuckDB-style ``?`` statements on psycopg, COPY of
Arrow tables, and small helpers shared by its modules."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

from mlwarden.errors import ConfigError, StorageError
from mlwarden.store import pg_copy
from mlwarden.store.pg_schema import copy_type, q, qmark

__all__ = [
    "QmarkCursor",
    "copy_in",
    "done",
    "failed",
    "psycopg_module",
    "table_columns",
    "utcnow",
    "where",
]

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def done(value: T) -> Future[T]:
    fut: Future[T] = Future()
    fut.set_result(value)
    return fut


def failed(exc: BaseException) -> Future[Any]:
    fut: Future[Any] = Future()
    fut.set_exception(exc)
    return fut


def psycopg_module() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - the extra is not installed
        raise ConfigError(
            "The PostgreSQL engine needs psycopg 3: pip install 'mlwarden[postgres]'."
        ) from exc
    return psycopg


class QmarkCursor:
    """A psycopg connection that takes DuckDB's ``?`` placeholders (the SQL shared with the
    DuckDB engine's mixins); ``raw`` is the connection itself, for ``COPY``."""

    def __init__(self, con: Any) -> None:
        self.raw = con

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> _Result:
        if params is None:
            return _Result(self.raw.execute(sql))
        return _Result(self.raw.execute(qmark(sql), list(params)))

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> int:
        """The one integer a query returns (a count, a sequence's next value)."""
        row = self.execute(sql, params).fetchone()
        if row is None:  # pragma: no cover - aggregates and nextval always return a row
            raise StorageError(f"No row from {sql!r}.")
        return int(row[0])


class _Result:
    """A statement's cursor where, as on DuckDB, fetching from a statement that returns no
    rows gives none (psycopg raises)."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur
        self.rowcount: int = cur.rowcount
        self.description: Any = cur.description

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self.description is None:
            return []
        rows: list[tuple[Any, ...]] = self.cur.fetchall()
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        if self.description is None:
            return None
        row: tuple[Any, ...] | None = self.cur.fetchone()
        return row


def table_columns(con: QmarkCursor, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ?",
        [table],
    ).fetchall()
    return {r[0] for r in rows}


def copy_in(con: Any, table: str, data: pa.Table) -> None:
    """``COPY ... FROM STDIN (FORMAT BINARY)`` of an Arrow table's rows: encoded by column in
    numpy (:mod:`.pg_copy`), or row by row through psycopg for columns it does not encode."""
    if data.num_rows == 0:
        return
    encodable = pg_copy.encodable(data.schema)
    if encodable:  # dense fixed-width columns first: one constant-width block per row
        data = data.select(pg_copy.order(data.schema, data))
    cols = ", ".join(q(c) for c in data.column_names)
    with con.cursor() as cur:
        with cur.copy(f"COPY {q(table)} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            if encodable:
                copy.write(pg_copy.encode(data))
                return
            copy.set_types([copy_type(f.type) for f in data.schema])
            for row in zip(*[_pylist(c) for c in data.columns], strict=True):
                copy.write_row(row)


def _pylist(col: pa.ChunkedArray) -> list[Any]:
    """A column's values for COPY; NaN floats stay NaN (PostgreSQL stores them)."""
    if pa.types.is_floating(col.type) and col.null_count == 0:
        values: list[Any] = col.to_numpy().astype(np.float64).tolist()
        return values
    values = col.to_pylist()
    return values


def where(url: str) -> str:
    """The URL without its password, for messages."""
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, user = head.partition("://")
    return f"{scheme}://{user.split(':')[0]}@{tail}"
