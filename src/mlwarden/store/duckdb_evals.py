"""Evaluations kept in DuckDB: tables ``eval_datasets``, ``eval_items``, ``eval_runs``,
``eval_outputs`` and ``eval_grades`` (see :mod:`mlwarden.store.eval_storage`).

A mixin of :class:`~mlwarden.store.duckdb_engine.DuckDBStore`. Writes are group-committed by
the store's writer; a dataset's new version is read and written in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from mlwarden.errors import ConflictError, NotFoundError
from mlwarden.store.eval_storage import (
    DATASET_COLUMNS,
    GRADE_COLUMNS,
    ITEM_COLUMNS,
    OUTPUT_COLUMNS,
    RUN_COLUMNS,
    EvalStorage,
)
from mlwarden.store.writer import GroupCommitWriter

__all__ = ["EVAL_DDL", "EvalTables"]

EVAL_DDL = [
    """CREATE TABLE IF NOT EXISTS eval_datasets (
        project VARCHAR, name VARCHAR, description VARCHAR, created_at TIMESTAMP,
        version INTEGER, PRIMARY KEY (project, name))""",
    """CREATE TABLE IF NOT EXISTS eval_items (
        project VARCHAR, dataset VARCHAR, id VARCHAR, version INTEGER, input VARCHAR,
        output VARCHAR, expected_output VARCHAR, context VARCHAR, metadata VARCHAR,
        source_trace_id VARCHAR, source_span_id VARCHAR, added_at TIMESTAMP,
        PRIMARY KEY (project, dataset, id, version))""",
    """CREATE TABLE IF NOT EXISTS eval_runs (
        project VARCHAR, id VARCHAR, name VARCHAR, dataset VARCHAR, version INTEGER,
        task VARCHAR, evaluators VARCHAR, status VARCHAR, done INTEGER, total INTEGER,
        error VARCHAR, created_at TIMESTAMP, started_at TIMESTAMP, finished_at TIMESTAMP,
        tokens BIGINT, cost DOUBLE, PRIMARY KEY (project, id))""",
    """CREATE TABLE IF NOT EXISTS eval_outputs (
        project VARCHAR, run_id VARCHAR, item_id VARCHAR, output VARCHAR, tokens BIGINT,
        cost DOUBLE, latency_ms DOUBLE, error VARCHAR, PRIMARY KEY (project, run_id, item_id))""",
    """CREATE TABLE IF NOT EXISTS eval_grades (
        project VARCHAR, run_id VARCHAR, item_id VARCHAR, evaluator VARCHAR, value DOUBLE,
        passed BOOLEAN, detail VARCHAR, template VARCHAR, tokens BIGINT, cost DOUBLE,
        PRIMARY KEY (project, run_id, item_id, evaluator))""",
]
_UPDATABLE = {"status", "done", "total", "error", "started_at", "finished_at", "tokens", "cost"}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _dicts(cols: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(cols, r, strict=True)) for r in rows]


class EvalTables(EvalStorage):
    """The evaluation tables (mixed into the DuckDB store, which owns ``_writer``)."""

    _writer: GroupCommitWriter
    _read: Callable[..., list[tuple[Any, ...]]]

    def _write(self, fn: Callable[[duckdb.DuckDBPyConnection], Any], rows: int = 1) -> Any:
        return self._writer.write("call", None, fn, rows)

    def create_dataset(self, project: str, name: str, description: str | None) -> dict[str, Any]:
        def fn(con: duckdb.DuckDBPyConnection) -> bool:
            had = con.execute("SELECT 1 FROM eval_datasets WHERE project = ? AND name = ?",
                              [project, name]).fetchall()  # fmt: skip
            if had:
                return False
            con.execute("INSERT INTO eval_datasets VALUES (?, ?, ?, ?, 0)",
                        [project, name, description, _now()]).fetchall()  # fmt: skip
            return True

        if not self._write(fn):
            raise ConflictError(f"A dataset named {name!r} exists already in project {project!r}.")
        return self.get_dataset(project, name)

    _DATASETS = (
        "SELECT d.name, d.description, d.created_at, d.version, "
        "(SELECT count(DISTINCT i.id) FROM eval_items i WHERE i.project = d.project "
        "AND i.dataset = d.name) FROM eval_datasets d WHERE d.project = ?"
    )

    def list_datasets(self, project: str) -> list[dict[str, Any]]:
        return _dicts(DATASET_COLUMNS, self._read(self._DATASETS + " ORDER BY d.name", [project]))

    def get_dataset(self, project: str, name: str) -> dict[str, Any]:
        rows = self._read(self._DATASETS + " AND d.name = ?", [project, name])
        if not rows:
            raise NotFoundError(f"No dataset named {name!r} in project {project!r}.")
        return _dicts(DATASET_COLUMNS, rows)[0]

    def add_items(self, project: str, name: str, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        cols = [c for c in ITEM_COLUMNS if c not in ("version", "added_at")]

        def fn(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
            row = con.execute("SELECT version FROM eval_datasets WHERE project = ? AND name = ?",
                              [project, name]).fetchall()  # fmt: skip
            if not row:
                return None
            version = int(row[0][0]) + 1
            ids = [i["id"] for i in items]
            (had,) = con.execute(
                "SELECT count(DISTINCT id) FROM eval_items WHERE project = ? AND dataset = ? "
                "AND list_contains(?, id)", [project, name, ids]).fetchall()[0]  # fmt: skip
            at = _now()
            con.executemany(
                f"INSERT INTO eval_items (project, dataset, version, added_at, {', '.join(cols)}) "
                f"VALUES (?, ?, ?, ?, {', '.join('?' * len(cols))})",
                [[project, name, version, at, *(i[c] for c in cols)] for i in items],
            )
            con.execute("UPDATE eval_datasets SET version = ? WHERE project = ? AND name = ?",
                        [version, project, name]).fetchall()  # fmt: skip
            return {"version": version, "added": len(items), "replaced": int(had)}

        out: dict[str, Any] | None = self._write(fn, max(1, len(items)))
        if out is None:
            raise NotFoundError(f"No dataset named {name!r} in project {project!r}.")
        return out

    def dataset_items(
        self, project: str, name: str, version: int | None = None
    ) -> list[dict[str, Any]]:
        ds = self.get_dataset(project, name)
        v = ds["version"] if version is None else version
        if not 0 <= v <= ds["version"]:
            raise NotFoundError(
                f"Dataset {name!r} has versions 0 to {ds['version']}; there is no version {v}."
            )
        rows = self._read(
            f"SELECT {', '.join(ITEM_COLUMNS)} FROM eval_items WHERE project = ? AND dataset = ? "
            "AND version <= ? QUALIFY row_number() OVER (PARTITION BY id ORDER BY version DESC) "
            "= 1 ORDER BY added_at, id", [project, name, v])  # fmt: skip
        return _dicts(ITEM_COLUMNS, rows)

    def put_run(self, project: str, run: dict[str, Any]) -> None:
        def fn(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                f"INSERT INTO eval_runs (project, {', '.join(RUN_COLUMNS)}) "
                f"VALUES (?, {', '.join('?' * len(RUN_COLUMNS))})",
                [project, *(run.get(c) for c in RUN_COLUMNS)],
            ).fetchall()

        self._write(fn)

    def update_run(self, project: str, run_id: str, **fields: Any) -> None:
        bad = set(fields) - _UPDATABLE
        if bad:
            raise ValueError(f"not updatable: {sorted(bad)}")
        sets = ", ".join(f"{k} = ?" for k in fields)

        def fn(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(f"UPDATE eval_runs SET {sets} WHERE project = ? AND id = ?",
                        [*fields.values(), project, run_id]).fetchall()  # fmt: skip

        self._write(fn)

    def interrupt_runs(self) -> int:
        def fn(con: duckdb.DuckDBPyConnection) -> int:
            rows = con.execute(
                "UPDATE eval_runs SET status = 'cancelled', finished_at = ?, error = 'the server "
                "stopped before the run finished; start it again' WHERE status IN ('queued', "
                "'running') RETURNING id", [_now()]).fetchall()  # fmt: skip
            return len(rows)

        n: int = self._write(fn)
        return n

    def put_run_rows(
        self,
        project: str,
        run_id: str,
        outputs: Sequence[dict[str, Any]],
        grades: Sequence[dict[str, Any]],
    ) -> None:
        def fn(con: duckdb.DuckDBPyConnection) -> None:
            for table, cols, rows in (("eval_outputs", OUTPUT_COLUMNS, outputs),
                                      ("eval_grades", GRADE_COLUMNS, grades)):  # fmt: skip
                if rows:
                    con.executemany(
                        f"INSERT OR REPLACE INTO {table} (project, run_id, {', '.join(cols)}) "
                        f"VALUES (?, ?, {', '.join('?' * len(cols))})",
                        [[project, run_id, *(r.get(c) for c in cols)] for r in rows],
                    )

        self._write(fn, max(1, len(outputs) + len(grades)))

    def get_run(self, project: str, run_id: str) -> dict[str, Any]:
        rows = self._read(f"SELECT {', '.join(RUN_COLUMNS)} FROM eval_runs "
                          "WHERE project = ? AND id = ?", [project, run_id])  # fmt: skip
        if not rows:
            raise NotFoundError(f"No experiment run {run_id!r} in project {project!r}.")
        return _dicts(RUN_COLUMNS, rows)[0]

    def list_runs(self, project: str, dataset: str | None = None) -> list[dict[str, Any]]:
        where, params = "project = ?", [project]
        if dataset is not None:
            where, params = where + " AND dataset = ?", [project, dataset]
        rows = self._read(f"SELECT {', '.join(RUN_COLUMNS)} FROM eval_runs WHERE {where} "
                          "ORDER BY created_at DESC, id", params)  # fmt: skip
        return _dicts(RUN_COLUMNS, rows)

    def run_outputs(self, project: str, run_id: str) -> list[dict[str, Any]]:
        rows = self._read(f"SELECT {', '.join(OUTPUT_COLUMNS)} FROM eval_outputs "
                          "WHERE project = ? AND run_id = ? ORDER BY item_id", [project, run_id])  # fmt: skip
        return _dicts(OUTPUT_COLUMNS, rows)

    def run_grades(self, project: str, run_id: str) -> list[dict[str, Any]]:
        rows = self._read(f"SELECT {', '.join(GRADE_COLUMNS)} FROM eval_grades WHERE project = ? "
                          "AND run_id = ? ORDER BY item_id, evaluator", [project, run_id])  # fmt: skip
        return _dicts(GRADE_COLUMNS, rows)
