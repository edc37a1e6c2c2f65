"""Incidents, deliveries, actions and alerting config on PostgreSQL.

The DuckDB engine's :class:`~mlwarden.store.duckdb_incidents.IncidentTables` runs here through
the PostgreSQL store's ``?``-placeholder connection; what differs is overridden: the
compare-and-set of :meth:`PgIncidentTables.put_incidents` locks the rows it checks
(``SELECT ... FOR UPDATE``), so two server processes writing one incident cannot both win, and
an incident created by two at once is a conflict for the second, not a duplicate key error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from mlwarden.store.duckdb_incidents import INCIDENT_COLUMNS, IncidentTables, _naive_row
from mlwarden.store.pg_connection import psycopg_module

__all__ = ["PgIncidentTables"]

_COLUMNS = ", ".join(INCIDENT_COLUMNS)


class PgIncidentTables(IncidentTables):
    """Incident storage for :class:`~mlwarden.store.pg_engine.PostgresStore`."""

    url: str

    @contextmanager
    def incident_guard(self, project: str, model: str) -> Iterator[None]:
        """One fold of a model's incidents at a time across every server on the database: a
        session advisory lock on a connection of its own (closing it frees the lock, also when
        this process dies), taken after this process's own lock for the model."""
        with self._incident_locks.hold((project, model)):
            con = psycopg_module().connect(self.url, autocommit=True)
            try:
                con.execute(
                    "SELECT pg_advisory_lock(hashtext('mlwarden.incidents'), hashtext(%s))",
                    [f"{project}\x1f{model}"],
                )
                yield
            finally:
                con.close()

    def _advance_incident_seq(self, con: Any, past: int) -> None:
        con.execute(
            "SELECT setval('incident_seq', GREATEST(?, (SELECT last_value FROM incident_seq)))",
            [past],
        ).fetchall()

    def put_incidents(self, incidents: Sequence[dict[str, Any]]) -> list[int]:
        """All rows or none, each at the version it was read at (0: new); see
        :meth:`mlwarden.store.base.IncidentStorage.put_incidents`."""
        if not incidents:
            return []
        rows = [_naive_row(i) for i in incidents]
        ids = [int(r[0]) for r in rows]
        expected = {int(r[0]): int(r[-1]) for r in rows}
        marks = ", ".join("?" * len(rows[0]))
        sets = ", ".join(f"{c} = excluded.{c}" for c in INCIDENT_COLUMNS[1:])

        def fn(con: Any) -> list[int]:
            found = con.execute(
                f"SELECT id, version FROM incidents WHERE id IN ({', '.join('?' * len(ids))}) "
                "ORDER BY id FOR UPDATE",
                ids,
            ).fetchall()
            stored = {int(i): int(v or 0) for i, v in found}
            conflicts = [i for i in ids if stored.get(i, 0) != expected[i]]
            if conflicts:
                return conflicts
            for r in rows:
                if r[0] in stored:
                    con.execute(
                        f"INSERT INTO incidents ({_COLUMNS}) VALUES ({marks}) "
                        f"ON CONFLICT (id) DO UPDATE SET {sets}",
                        [*r[:-1], r[-1] + 1],
                    )
                    continue
                # new: another process may be inserting the same id right now
                cur = con.execute(
                    f"INSERT INTO incidents ({_COLUMNS}) VALUES ({marks}) "
                    "ON CONFLICT (id) DO NOTHING",
                    [*r[:-1], 1],
                )
                if cur.rowcount == 0:
                    raise _Lost(int(r[0]))
            return []

        try:
            conflicts: list[int] = self._call(fn)
        except _Lost as lost:  # rolled back: nothing of this call was written
            return [lost.incident_id]
        return conflicts

    def count_incidents(
        self,
        project: str | None = None,
        *,
        model: str | None = None,
        state: Sequence[str] | None = None,
    ) -> list[tuple[str, str, str, str, int]]:
        """(project, model, state, severity, count) rows, for summaries and /metrics."""
        sql, params = "SELECT project, model, state, severity, count(*) FROM incidents", []
        conds: list[str] = []
        if project is not None:
            conds.append("project = ?")
            params.append(project)
        if model is not None:
            conds.append("model = ?")
            params.append(model)
        if state:
            conds.append(f"state IN ({', '.join('?' * len(state))})")
            params += list(state)
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        rows = self._read(sql + " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4", params)
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    def put_alerting(self, project: str, spec: str) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        self._call(
            lambda con: con.execute(
                "INSERT INTO alerting VALUES (?, ?, ?) ON CONFLICT (project) DO UPDATE "
                "SET spec = excluded.spec, updated_at = excluded.updated_at",
                [project, spec, now],
            )
        )


class _Lost(Exception):
    """Internal: a new incident's id was stored by another writer first (rolls back)."""

    def __init__(self, incident_id: int) -> None:
        super().__init__(incident_id)
        self.incident_id = incident_id
