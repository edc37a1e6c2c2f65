"""Deleting and renaming models, versions and references in the DuckDB store.

A model's data lives in its own tables (``events_<uid>``, ``actuals_<uid>``, ``ref_<uid>``
per reference) and in shared tables keyed by project and model name (versions, refs,
quarantine, results, monitor suites, incidents and their deliveries and action runs) or by
the model's uid (the roll-ups). Each operation runs in one write transaction of the group
commit, so a reader sees the model whole or gone, and drops the store's cached look-ups.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import duckdb

from mlwarden.errors import ConflictError, NotFoundError
from mlwarden.schema.spec import ModelSpec, check_name
from mlwarden.store.base import ModelRecord

__all__ = ["ModelRemoval", "Removed"]

#: Shared tables keyed by (project, model name).
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
#: Tables keyed by the model's uid (its hourly roll-ups and their bookkeeping).
_BY_UID = (
    "rollup_state",
    "rollup_ops",
    "rollup_latency",
    "rollup_features",
    "rollup_labels",
    "pair_cells",
    "pair_slices",
    "score_cells",
)

Removed = dict[str, int]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


class ModelRemoval:
    """Delete and rename for :class:`DuckDBStore` (which provides the transaction, the model
    look-up and the caches this clears)."""

    _call: Callable[[Callable[[duckdb.DuckDBPyConnection], Any]], Any]
    get_model: Callable[[str, str], ModelRecord]
    list_models: Callable[..., list[ModelRecord]]
    _forget: Callable[[str, str, int], None]

    def delete_model(self, project: str, name: str) -> Removed:
        """Delete a model and everything stored of it; returns the rows removed per table.

        An LLM app's trace spans (those of its OpenTelemetry service, and their scores) go with
        it, unless another model of the project reads the same service.
        """
        rec = self.get_model(project, name)
        uid = rec.uid
        service = rec.spec.span_service
        shared = any(
            m.spec.span_service == service for m in self.list_models(project) if m.uid != uid
        )

        def fn(con: duckdb.DuckDBPyConnection) -> Removed:
            out: Removed = {}
            if not shared:
                where = "project = ? AND service_name = ?"
                out["spans"] = _count(
                    con, f"SELECT count(*) FROM spans WHERE {where}", [project, service]
                )
                out["scores"] = _count(
                    con,
                    "SELECT count(*) FROM scores WHERE project = ? AND trace_id IN "
                    f"(SELECT trace_id FROM spans WHERE {where})",
                    [project, project, service],
                )
                con.execute(
                    "DELETE FROM scores WHERE project = ? AND trace_id IN "
                    f"(SELECT trace_id FROM spans WHERE {where})",
                    [project, project, service],
                )
                con.execute(f"DELETE FROM spans WHERE {where}", [project, service])
            for table in (f"events_{uid}", f"actuals_{uid}"):
                out[table.split("_")[0]] = _count(con, f"SELECT count(*) FROM {_q(table)}", [])
                con.execute(f"DROP TABLE IF EXISTS {_q(table)}")
            for (ref_uid,) in con.execute(
                "SELECT uid FROM refs WHERE project = ? AND model = ?", [project, name]
            ).fetchall():
                con.execute(f"DROP TABLE IF EXISTS {_q(f'ref_{ref_uid}')}")
            ids = [
                r[0]
                for r in con.execute(
                    "SELECT id FROM incidents WHERE project = ? AND model = ?", [project, name]
                ).fetchall()
            ]
            if ids:
                marks = ", ".join("?" * len(ids))
                for table in ("deliveries", "action_runs"):
                    out[table] = _count(
                        con,
                        f"SELECT count(*) FROM {table} WHERE project = ? AND incident_id IN ({marks})",
                        [project, *ids],
                    )
                    con.execute(
                        f"DELETE FROM {table} WHERE project = ? AND incident_id IN ({marks})",
                        [project, *ids],
                    )
            for table in _BY_NAME:
                out[table] = _count(
                    con,
                    f"SELECT count(*) FROM {table} WHERE project = ? AND model = ?",
                    [project, name],
                )
                con.execute(f"DELETE FROM {table} WHERE project = ? AND model = ?", [project, name])
            for table in _BY_UID:
                out[table] = _count(con, f"SELECT count(*) FROM {table} WHERE uid = ?", [uid])
                con.execute(f"DELETE FROM {table} WHERE uid = ?", [uid])
            con.execute("DELETE FROM models WHERE project = ? AND uid = ?", [project, uid])
            out["models"] = 1
            return out

        removed: Removed = self._call(fn)
        self._forget(project, name, uid)
        return removed

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
        # an LLM app keeps reading the spans its code sends under the old service name
        spans = rec.spec.service is None and bool(
            self._call(
                lambda con: con.execute(
                    "SELECT 1 FROM spans WHERE project = ? AND service_name = ? LIMIT 1",
                    [project, name],
                ).fetchone()
            )
        )
        update: dict[str, Any] = {"name": new_name}
        if spans or (rec.spec.task.value == "llm" and rec.spec.service is None):
            update["service"] = name
        spec = rec.spec.model_copy(update=update)
        spec = ModelSpec.model_validate(spec.model_dump())

        def fn(con: duckdb.DuckDBPyConnection) -> None:
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
                [new_name, project],
            )
            row = con.execute(
                "SELECT spec, state FROM monitor_suites WHERE project = ? AND model = ?",
                [project, new_name],
            ).fetchone()
            if row is not None:  # the monitoring spec names its model
                text, state = _renamed_suite(row[0], row[1], name, new_name)
                con.execute(
                    "UPDATE monitor_suites SET spec = ?, state = ? WHERE project = ? AND model = ?",
                    [text, state, project, new_name],
                )

        self._call(fn)
        self._forget(project, name, rec.uid)
        return self.get_model(project, new_name)

    def delete_version(self, project: str, model: str, version: str) -> Removed:
        """Delete a version: its events (and their labels), its references and its record.
        The roll-ups are rebuilt from what is left on the next read."""
        rec = self.get_model(project, model)
        uid = rec.uid

        def fn(con: duckdb.DuckDBPyConnection) -> Removed:
            known = _count(
                con,
                "SELECT count(*) FROM versions WHERE project = ? AND model = ? AND version = ?",
                [project, model, version],
            ) + _count(
                con, f"SELECT count(*) FROM {_q(f'events_{uid}')} WHERE version = ?", [version]
            )
            if not known:
                raise NotFoundError(
                    f"Model {model!r} in project {project!r} has no version {version!r}."
                )
            out: Removed = {}
            # a label shared with another version's event (shadow logging) stays with it
            only_here = (
                f"WHERE event_id IN (SELECT event_id FROM {_q(f'events_{uid}')} "
                "WHERE version = ?) AND event_id NOT IN "
                f"(SELECT event_id FROM {_q(f'events_{uid}')} WHERE version <> ?)"
            )
            out["actuals"] = _count(
                con, f"SELECT count(*) FROM {_q(f'actuals_{uid}')} {only_here}", [version, version]
            )
            con.execute(f"DELETE FROM {_q(f'actuals_{uid}')} {only_here}", [version, version])
            out["events"] = _count(
                con, f"SELECT count(*) FROM {_q(f'events_{uid}')} WHERE version = ?", [version]
            )
            con.execute(f"DELETE FROM {_q(f'events_{uid}')} WHERE version = ?", [version])
            refs = con.execute(
                "SELECT uid FROM refs WHERE project = ? AND model = ? AND version = ?",
                [project, model, version],
            ).fetchall()
            for (ref_uid,) in refs:
                con.execute(f"DROP TABLE IF EXISTS {_q(f'ref_{ref_uid}')}")
            con.execute(
                "DELETE FROM refs WHERE project = ? AND model = ? AND version = ?",
                [project, model, version],
            )
            out["refs"] = len(refs)
            con.execute(
                "DELETE FROM versions WHERE project = ? AND model = ? AND version = ?",
                [project, model, version],
            )
            for table in _BY_UID:  # rebuilt from the events left
                con.execute(f"DELETE FROM {table} WHERE uid = ?", [uid])
            return out

        removed: Removed = self._call(fn)
        return removed

    def delete_reference(self, project: str, model: str, reference_id: int) -> None:
        """Delete one reference (its rows and its record)."""
        self.get_model(project, model)

        def fn(con: duckdb.DuckDBPyConnection) -> None:
            found = _count(
                con,
                "SELECT count(*) FROM refs WHERE project = ? AND model = ? AND uid = ?",
                [project, model, reference_id],
            )
            if not found:
                raise NotFoundError(
                    f"Model {model!r} in project {project!r} has no reference {reference_id}."
                )
            con.execute(f"DROP TABLE IF EXISTS {_q(f'ref_{reference_id}')}")
            con.execute("DELETE FROM refs WHERE uid = ?", [reference_id])

        self._call(fn)


def _renamed_suite(text: str, state: str, old: str, new: str) -> tuple[str, str]:
    """The stored monitoring spec (YAML) and state (JSON) with the model's new name."""
    import yaml

    data = yaml.safe_load(text)
    if isinstance(data, dict) and data.get("model") == old:
        data["model"] = new
        lines = [
            ln.replace(repr(old), repr(new))
            for ln in text.splitlines(keepends=True)
            if ln.startswith("#")
        ]
        text = "".join(lines) + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    st = json.loads(state)
    if isinstance(st, dict) and st.get("model") == old:
        st["model"] = new
    return text, json.dumps(st)
