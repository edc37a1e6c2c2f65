"""Deleting versions and renaming models on PostgreSQL (one transaction each, like DuckDB's
:mod:`.duckdb_removal`, over the tables this engine has)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlwarden.errors import ConflictError, NotFoundError
from mlwarden.schema.spec import ModelSpec, check_name
from mlwarden.store.base import ModelRecord
from mlwarden.store.duckdb_removal import _renamed_suite
from mlwarden.store.pg_schema import q

__all__ = ["PgRemoval"]

#: shared tables that name a model
_BY_NAME = (
    "versions",
    "refs",
    "quarantine",
    "results",
    "monitor_suites",
    "incidents",
    "annotations",
    "probes",
    "probe_results",
    "slo_specs",
)


def _count(con: Any, sql: str, params: list[Any]) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


class PgRemoval:
    """Rename and version deletion for :class:`~mlwarden.store.pg_engine.PostgresStore`."""

    _call: Callable[[Callable[[Any], Any]], Any]
    get_model: Callable[[str, str], ModelRecord]
    _specs: dict[tuple[str, str], Any]

    def rename_model(self, project: str, name: str, new_name: str) -> ModelRecord:
        """Give a model another name; its data, monitors and incidents follow it."""
        check_name(new_name, "model name")
        rec = self.get_model(project, name)
        try:
            self.get_model(project, new_name)
        except NotFoundError:
            pass
        else:
            raise ConflictError(
                f"The model name {new_name!r} is taken in project {project!r}; delete that "
                "model first or choose another name."
            )
        update: dict[str, Any] = {"name": new_name}
        if rec.spec.task.value == "llm" and rec.spec.service is None:
            update["service"] = name
        spec = ModelSpec.model_validate(rec.spec.model_copy(update=update).model_dump())

        def fn(con: Any) -> None:
            con.execute(
                "UPDATE models SET name = ?, spec = ? WHERE project = ? AND uid = ?",
                [new_name, spec.model_dump_json(), project, rec.uid],
            )
            for table in _BY_NAME:
                con.execute(
                    f"UPDATE {table} SET model = ? WHERE project = ? AND model = ?",
                    [new_name, project, name],
                )
            con.execute(  # a write of an incident read before the rename must read it again
                "UPDATE incidents SET version = version + 1 WHERE project = ? AND model = ?",
                [project, new_name],
            )
            row = con.execute(
                "SELECT spec, state FROM monitor_suites WHERE project = ? AND model = ?",
                [project, new_name],
            ).fetchone()
            if row is not None:
                text, state = _renamed_suite(row[0], row[1], name, new_name)
                con.execute(
                    "UPDATE monitor_suites SET spec = ?, state = ? WHERE project = ? AND model = ?",
                    [text, state, project, new_name],
                )

        self._call(fn)
        self._specs.pop((project, name), None)
        return self.get_model(project, new_name)

    def delete_version(self, project: str, model: str, version: str) -> dict[str, int]:
        """Delete a version: its events (and their labels), its references and its record."""
        uid = self.get_model(project, model).uid
        events, actuals = q(f"events_{uid}"), q(f"actuals_{uid}")

        def fn(con: Any) -> dict[str, int]:
            known = _count(
                con,
                "SELECT count(*) FROM versions WHERE project = ? AND model = ? AND version = ?",
                [project, model, version],
            ) + _count(con, f"SELECT count(*) FROM {events} WHERE version = ?", [version])
            if not known:
                raise NotFoundError(
                    f"Model {model!r} in project {project!r} has no version {version!r}."
                )
            out: dict[str, int] = {}
            out["actuals"] = con.execute(
                f"DELETE FROM {actuals} WHERE event_id IN "
                f"(SELECT event_id FROM {events} WHERE version = ?)",
                [version],
            ).rowcount
            out["events"] = con.execute(
                f"DELETE FROM {events} WHERE version = ?", [version]
            ).rowcount
            refs = con.execute(
                "DELETE FROM refs WHERE project = ? AND model = ? AND version = ? RETURNING uid",
                [project, model, version],
            ).fetchall()
            for (ref_uid,) in refs:
                con.execute(f"DROP TABLE IF EXISTS {q(f'ref_{int(ref_uid)}')}")
            con.execute(
                "DELETE FROM versions WHERE project = ? AND model = ? AND version = ?",
                [project, model, version],
            )
            return out

        removed: dict[str, int] = self._call(fn)
        return removed
