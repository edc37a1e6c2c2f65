"""Incidents, their notification log, the actions' audit log and the alerting config in DuckDB.

A mixin of :class:`~mlwarden.store.duckdb_engine.DuckDBStore`: writes go through the store's
group-commit writer (``_call``), reads through its per-thread cursor (``_read``). An incident
is one row; what grows with it (members, causes, recommendations, timeline) is one JSON body.
Each row carries a ``version``: a write names the version it read and is refused when the row
moved on since (compare-and-set inside the writer's transaction), so a slow writer (the root
cause analysis) cannot overwrite what a person did meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from mlwarden.errors import NotFoundError
from mlwarden.store.keyed_locks import KeyedLocks
from mlwarden.store.times import utc_naive

__all__ = ["INCIDENT_COLUMNS", "INCIDENT_DDL", "IncidentTables"]

INCIDENT_DDL = [
    "CREATE SEQUENCE IF NOT EXISTS incident_seq START 1",
    """CREATE TABLE IF NOT EXISTS incidents (
        id BIGINT PRIMARY KEY, project VARCHAR, model VARCHAR, signature VARCHAR, kind VARCHAR,
        state VARCHAR, severity VARCHAR, title VARCHAR, opened_at TIMESTAMP, updated_at TIMESTAMP,
        first_window TIMESTAMP, last_window TIMESTAMP, resolved_at TIMESTAMP,
        snoozed_until TIMESTAMP, healthy_windows INTEGER, body VARCHAR,
        version BIGINT DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        project VARCHAR, channel VARCHAR, kind VARCHAR, key VARCHAR, incident_id BIGINT,
        event VARCHAR, status VARCHAR, attempts INTEGER, code INTEGER, error VARCHAR,
        started_at TIMESTAMP, finished_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS action_runs (
        project VARCHAR, action VARCHAR, incident_id BIGINT, event VARCHAR, dry_run BOOLEAN,
        status VARCHAR, detail VARCHAR, run_at TIMESTAMP, key VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS alerting (
        project VARCHAR PRIMARY KEY, spec VARCHAR, updated_at TIMESTAMP)""",
]

#: Columns of an incident row; ``body`` is JSON (members, causes, recommendations, objectives,
#: timeline); ``version`` counts the row's writes (0: never stored). The incidents layer turns
#: rows into :class:`mlwarden.incidents.Incident`.
INCIDENT_COLUMNS = (
    "id",
    "project",
    "model",
    "signature",
    "kind",
    "state",
    "severity",
    "title",
    "opened_at",
    "updated_at",
    "first_window",
    "last_window",
    "resolved_at",
    "snoozed_until",
    "healthy_windows",
    "body",
    "version",
)
_COLUMNS = ", ".join(INCIDENT_COLUMNS)


def _aware(t: Any) -> Any:
    return t.replace(tzinfo=UTC) if isinstance(t, datetime) else t


def _naive_row(row: dict[str, Any]) -> list[Any]:
    """The row's values in column order; ``version`` (last) an int, 0 when absent."""
    values = [
        utc_naive(v) if isinstance(v, datetime) else v
        for v in (row[c] for c in INCIDENT_COLUMNS[:-1])
    ]
    return [*values, int(row.get("version") or 0)]


def _as_dict(row: Sequence[Any]) -> dict[str, Any]:
    return {c: _aware(v) for c, v in zip(INCIDENT_COLUMNS, row, strict=True)}


class IncidentTables:
    """Incident storage for :class:`DuckDBStore` (which provides ``_call`` and ``_read``)."""

    _call: Callable[[Callable[[Any], Any]], Any]
    _read: Callable[..., list[tuple[Any, ...]]]
    #: set by the engine's ``__init__``: a lock per (project, model), for :meth:`incident_guard`
    _incident_locks: KeyedLocks

    # -- incidents ---------------------------------------------------------------------------
    @contextmanager
    def incident_guard(self, project: str, model: str) -> Iterator[None]:
        """One fold of a model's incidents at a time in this process (one process owns a
        DuckDB file)."""
        with self._incident_locks.hold((project, model)):
            yield

    def new_incident_id(self) -> int:
        return int(
            self._call(lambda con: con.execute("SELECT nextval('incident_seq')").fetchone()[0])
        )

    def put_incidents(self, incidents: Sequence[dict[str, Any]]) -> list[int]:
        """Store incident rows in one transaction, all or none: each row's ``version`` must be
        the stored one (0 for an incident not stored yet); each stored row's version becomes one
        more. Returns the ids whose stored version differs (nothing is written then): the
        caller re-reads them and re-applies its change."""
        if not incidents:
            return []
        rows = [_naive_row(i) for i in incidents]
        ids = [int(r[0]) for r in rows]
        expected = {int(r[0]): int(r[-1]) for r in rows}
        marks = ", ".join("?" * len(rows[0]))

        def fn(con: Any) -> list[int]:
            found = con.execute(
                f"SELECT id, version FROM incidents WHERE id IN ({', '.join('?' * len(ids))})",
                ids,
            ).fetchall()
            stored = {int(i): int(v or 0) for i, v in found}
            conflicts = [i for i in ids if stored.get(i, 0) != expected[i]]
            if conflicts:  # a result, not an exception: the group's other writes stay committed
                return conflicts
            for r in rows:
                con.execute("DELETE FROM incidents WHERE id = ?", [r[0]]).fetchall()
                con.execute(
                    f"INSERT INTO incidents ({_COLUMNS}) VALUES ({marks})", [*r[:-1], r[-1] + 1]
                ).fetchall()
            return []

        conflicts: list[int] = self._call(fn)
        return conflicts

    def restore_incidents(self, incidents: Sequence[dict[str, Any]]) -> int:
        """Store incident rows as they are, ids and versions kept (a migration's copy, see
        :mod:`mlwarden.store.transfer`): a stored row of the same id is replaced, and new ids
        start after the largest restored one. Returns the rows written."""
        if not incidents:
            return 0
        rows = [_naive_row(i) for i in incidents]
        marks = ", ".join("?" * len(rows[0]))

        def fn(con: Any) -> int:
            for r in rows:
                con.execute("DELETE FROM incidents WHERE id = ?", [r[0]]).fetchall()
                con.execute(f"INSERT INTO incidents ({_COLUMNS}) VALUES ({marks})", r).fetchall()
            self._advance_incident_seq(con, max(int(r[0]) for r in rows))
            return len(rows)

        written: int = self._call(fn)
        return written

    def _advance_incident_seq(self, con: Any, past: int) -> None:
        """Make ``new_incident_id`` return ids above ``past`` (DuckDB has no ``setval``: draw
        the sequence on, at most ``past`` times)."""
        for _ in range(past):
            (got,) = con.execute("SELECT nextval('incident_seq')").fetchone()
            if int(got) >= past:
                return

    def get_incident(self, project: str, incident_id: int) -> dict[str, Any]:
        rows = self._read(
            f"SELECT {_COLUMNS} FROM incidents WHERE project = ? AND id = ?", [project, incident_id]
        )
        if not rows:
            raise NotFoundError(f"There is no incident {incident_id} in project {project!r}.")
        return _as_dict(rows[0])

    def _where(
        self, project: str, model: str | None, state: Sequence[str] | None, signature: str | None
    ) -> tuple[str, list[Any]]:
        sql, params = "project = ?", [project]
        if model is not None:
            sql += " AND model = ?"
            params.append(model)
        if state:
            sql += f" AND state IN ({', '.join('?' * len(state))})"
            params += list(state)
        if signature is not None:
            sql += " AND signature = ?"
            params.append(signature)
        return sql, params

    def list_incidents(
        self,
        project: str,
        *,
        model: str | None = None,
        state: Sequence[str] | None = None,
        signature: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Newest first (by the latest firing window, then id)."""
        where, params = self._where(project, model, state, signature)
        rows = self._read(
            f"SELECT {_COLUMNS} FROM incidents WHERE {where} "
            "ORDER BY last_window DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [_as_dict(r) for r in rows]

    def find_incidents(self, project: str, text: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """Incidents of ``project`` whose title or model holds ``text`` (any case), or whose id
        it is (``12`` or ``#12``); newest first."""
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"
        digits = text.strip().lstrip("#")
        ident = int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 18 else -1
        rows = self._read(
            f"SELECT {_COLUMNS} FROM incidents WHERE project = ? AND (id = ? OR "
            "title ILIKE ? ESCAPE '\\' OR model ILIKE ? ESCAPE '\\') "
            "ORDER BY id = ? DESC, last_window DESC, id DESC LIMIT ?",
            [project, ident, pattern, pattern, ident, limit],
        )
        return [_as_dict(r) for r in rows]

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
        rows = self._read(sql + " GROUP BY ALL ORDER BY ALL", params)
        return [(r[0], r[1], r[2], r[3], int(r[4])) for r in rows]

    # -- notification log --------------------------------------------------------------------
    def record_delivery(self, project: str, d: dict[str, Any]) -> None:
        row = [
            project,
            d.get("channel"),
            d.get("kind"),
            d.get("key"),
            d.get("incident_id"),
            d.get("event"),
            d.get("status"),
            d.get("attempts"),
            d.get("code"),
            d.get("error"),
            _naive_or_none(d.get("started_at")),
            _naive_or_none(d.get("finished_at")),
        ]
        self._call(
            lambda con: con.execute(
                f"INSERT INTO deliveries VALUES ({', '.join('?' * len(row))})", row
            ).fetchall()
        )

    def delivered(self, project: str, channel: str, key: str) -> bool:
        rows = self._read(
            "SELECT 1 FROM deliveries WHERE project = ? AND channel = ? AND key = ? "
            "AND status = 'delivered' LIMIT 1",
            [project, channel, key],
        )
        return bool(rows)

    def deliveries(
        self, project: str, *, incident_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM deliveries WHERE project = ?"
        params: list[Any] = [project]
        if incident_id is not None:
            sql += " AND incident_id = ?"
            params.append(incident_id)
        return self._dicts(sql + " ORDER BY finished_at DESC LIMIT ?", [*params, limit])

    # -- actions' audit log ------------------------------------------------------------------
    def record_action(self, project: str, r: dict[str, Any]) -> None:
        row = [
            project,
            r.get("action"),
            r.get("incident_id"),
            r.get("event"),
            bool(r.get("dry_run")),
            r.get("status"),
            r.get("detail"),
            _naive_or_none(r.get("at")),
            r.get("key"),
        ]
        self._call(
            lambda con: con.execute(
                f"INSERT INTO action_runs VALUES ({', '.join('?' * len(row))})", row
            ).fetchall()
        )

    def count_actions(self, project: str, action: str, since: datetime) -> int:
        """Runs of an action since a time that ran or would have run: every status but
        ``rate_limited`` (dry runs count, so a dry run shows what the limit would do)."""
        rows = self._read(
            "SELECT count(*) FROM action_runs WHERE project = ? AND action = ? AND run_at >= ? "
            "AND status <> 'rate_limited'",
            [project, action, utc_naive(since)],
        )
        return int(rows[0][0])

    def action_runs(
        self, project: str, *, incident_id: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM action_runs WHERE project = ?"
        params: list[Any] = [project]
        if incident_id is not None:
            sql += " AND incident_id = ?"
            params.append(incident_id)
        return self._dicts(sql + " ORDER BY run_at DESC LIMIT ?", [*params, limit])

    # -- alerting config -----------------------------------------------------------------------
    def put_alerting(self, project: str, spec: str) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        self._call(
            lambda con: con.execute(
                "INSERT INTO alerting VALUES (?, ?, ?) ON CONFLICT DO UPDATE "
                "SET spec = excluded.spec, updated_at = excluded.updated_at",
                [project, spec, now],
            ).fetchall()
        )

    def get_alerting(self, project: str) -> str | None:
        rows = self._read("SELECT spec FROM alerting WHERE project = ?", [project])
        return str(rows[0][0]) if rows else None

    def _dicts(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        cur: Any = self._cursor()  # type: ignore[attr-defined]
        rel = cur.execute(sql, params)
        names = [d[0] for d in rel.description]
        out = []
        for r in rel.fetchall():
            d = dict(zip(names, r, strict=True))
            for k, v in d.items():
                if isinstance(v, datetime):
                    d[k] = v.replace(tzinfo=UTC).isoformat()
            out.append(d)
        return out


def _naive_or_none(t: Any) -> datetime | None:
    if t is None:
        return None
    when = datetime.fromisoformat(t) if isinstance(t, str) else t
    assert isinstance(when, datetime)
    return utc_naive(when)
