"""Evaluation datasets, runs, outputs and grades on PostgreSQL.

The DuckDB engine's :class:`~mlwarden.store.duckdb_evals.EvalTables` runs here through the
``?`` adapter; the three statements written in DuckDB's dialect (``list_contains``,
``QUALIFY``, ``INSERT OR REPLACE``) are restated in PostgreSQL's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mlwarden.errors import NotFoundError
from mlwarden.store.duckdb_evals import EVAL_DDL, EvalTables, _dicts, _now
from mlwarden.store.eval_storage import GRADE_COLUMNS, ITEM_COLUMNS, OUTPUT_COLUMNS

__all__ = ["PG_EVAL_DDL", "PgEvalTables"]

#: the DuckDB tables' definitions in PostgreSQL's types
PG_EVAL_DDL = [
    stmt.replace(" DOUBLE,", " DOUBLE PRECISION,").replace(" DOUBLE)", " DOUBLE PRECISION)")
    for stmt in EVAL_DDL
]

_KEYS = {
    "eval_outputs": "project, run_id, item_id",
    "eval_grades": "project, run_id, item_id, evaluator",
}


class PgEvalTables(EvalTables):
    """Evaluation storage for :class:`~mlwarden.store.pg_engine.PostgresStore`."""

    _call: Callable[[Callable[[Any], Any]], Any]

    def _write(self, fn: Callable[[Any], Any], rows: int = 1) -> Any:
        return self._call(fn)

    def add_items(self, project: str, name: str, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        cols = [c for c in ITEM_COLUMNS if c not in ("version", "added_at")]

        def fn(con: Any) -> dict[str, Any] | None:
            row = con.execute(
                "SELECT version FROM eval_datasets WHERE project = ? AND name = ? FOR UPDATE",
                [project, name],
            ).fetchone()
            if row is None:
                return None
            version = int(row[0]) + 1
            had = con.scalar(
                "SELECT count(DISTINCT id) FROM eval_items WHERE project = ? AND dataset = ? "
                "AND id = ANY(?)",
                [project, name, [i["id"] for i in items]],
            )
            at = _now()
            marks = ", ".join(["%s"] * (4 + len(cols)))
            con.raw.cursor().executemany(
                f"INSERT INTO eval_items (project, dataset, version, added_at, {', '.join(cols)}) "
                f"VALUES ({marks})",
                [[project, name, version, at, *(i[c] for c in cols)] for i in items],
            )
            con.execute(
                "UPDATE eval_datasets SET version = ? WHERE project = ? AND name = ?",
                [version, project, name],
            )
            return {"version": version, "added": len(items), "replaced": int(had)}

        out: dict[str, Any] | None = self._call(fn)
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
        cols = ", ".join(ITEM_COLUMNS)
        rows = self._read(
            f"SELECT {cols} FROM (SELECT {cols}, row_number() OVER (PARTITION BY id ORDER BY "
            "version DESC) AS _r FROM eval_items WHERE project = ? AND dataset = ? "
            "AND version <= ?) i WHERE _r = 1 ORDER BY added_at, id",
            [project, name, v],
        )
        return _dicts(ITEM_COLUMNS, rows)

    def put_run_rows(
        self,
        project: str,
        run_id: str,
        outputs: Sequence[dict[str, Any]],
        grades: Sequence[dict[str, Any]],
    ) -> None:
        def fn(con: Any) -> None:
            for table, cols, rows in (
                ("eval_outputs", OUTPUT_COLUMNS, outputs),
                ("eval_grades", GRADE_COLUMNS, grades),
            ):
                if not rows:
                    continue
                keys = _KEYS[table]
                sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in keys)
                marks = ", ".join(["%s"] * (2 + len(cols)))
                con.raw.cursor().executemany(
                    f"INSERT INTO {table} (project, run_id, {', '.join(cols)}) VALUES ({marks}) "
                    f"ON CONFLICT ({keys}) DO UPDATE SET {sets}",
                    [[project, run_id, *(r.get(c) for c in cols)] for r in rows],
                )

        self._call(fn)
