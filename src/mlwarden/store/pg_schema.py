"""The PostgreSQL engine's tables, its stored layout version, and the SQL dialect glue.

Tables mirror the DuckDB engine's (:mod:`.duckdb_engine`): ``models``, ``versions``, ``refs``
and ``ref_<uid>``, ``events_<uid>`` (primary key ``event_id``: re-sent events are dropped by
``INSERT ... ON CONFLICT DO NOTHING``), ``actuals_<uid>``, ``quarantine``, ``results``,
``monitor_suites``, ``incidents``, ``deliveries``, ``action_runs``, ``alerting``,
``annotations``, the evaluation tables (``eval_*``, :mod:`.pg_evals`), trace spans, GenAI
logs, metric points and scores (``spans``, ``span_logs``, ``llm_metrics``, ``scores``,
:mod:`.pg_spans`), probes and SLOs (``probes``, ``probe_results``, ``slo_specs``,
:mod:`.pg_slo`), and the function ``mlwarden_quantile_cont`` (:mod:`.pg_quantiles`). Times are
``timestamp`` (UTC without a zone), as on DuckDB.

The layout version is ``schema_version`` in ``meta``. Opening takes a transaction-scoped
advisory lock, so several servers starting on one database do not race: a database of a newer
layout is refused untouched; missing tables are created; migrations newer than the stored
version run in order (2: the LLM and SLO tables, which a version-1 database lacks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mlwarden.errors import StorageError, StoreOpenError

__all__ = [
    "CURRENT",
    "DDL",
    "MIGRATIONS",
    "PgMigration",
    "copy_type",
    "open_schema",
    "q",
    "qmark",
    "sql_type",
]

#: An arbitrary constant: the advisory lock held while a database's layout is checked.
_SCHEMA_LOCK = 0x6D6C7764  # "mlwd"


def q(name: str) -> str:
    """A quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def qmark(sql: str) -> str:
    """DuckDB-style ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled), so SQL
    shared with the DuckDB engine's mixins runs here unchanged."""
    return sql.replace("%", "%%").replace("?", "%s")


def sql_type(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "TEXT"
    if pa.types.is_floating(t):
        return "DOUBLE PRECISION"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_list(t):
        return "REAL[]"
    raise StorageError(f"No PostgreSQL column type for Arrow type {t}.")  # pragma: no cover


def copy_type(t: pa.DataType) -> str:
    """The type name binary ``COPY`` is told for a column of Arrow type ``t``."""
    return {
        "TEXT": "text",
        "DOUBLE PRECISION": "float8",
        "BOOLEAN": "bool",
        "BIGINT": "int8",
        "TIMESTAMP": "timestamp",
        "REAL[]": "float4[]",
    }[sql_type(t)]


DDL = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    "CREATE SEQUENCE IF NOT EXISTS uid_seq START 1",
    "CREATE SEQUENCE IF NOT EXISTS incident_seq START 1",
    """CREATE TABLE IF NOT EXISTS models (
        project TEXT, name TEXT, uid BIGINT UNIQUE, spec TEXT,
        created_at TIMESTAMP, updated_at TIMESTAMP, PRIMARY KEY (project, name))""",
    """CREATE TABLE IF NOT EXISTS versions (
        project TEXT, model TEXT, version TEXT, created_at TIMESTAMP,
        description TEXT, metadata TEXT, PRIMARY KEY (project, model, version))""",
    """CREATE TABLE IF NOT EXISTS refs (
        uid BIGINT PRIMARY KEY, project TEXT, model TEXT, version TEXT, name TEXT,
        rows BIGINT, columns TEXT, created_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        project TEXT, model TEXT, kind TEXT, received_at TIMESTAMP, row_index INTEGER,
        field TEXT, reason TEXT, payload TEXT)""",
    """CREATE TABLE IF NOT EXISTS results (
        project TEXT, model TEXT, monitor TEXT, kind TEXT, "column" TEXT,
        segment TEXT, window_start TIMESTAMP, window_end TIMESTAMP, status TEXT,
        value DOUBLE PRECISION, threshold DOUBLE PRECISION, warn DOUBLE PRECISION, n BIGINT,
        direction TEXT, reason TEXT, details TEXT, evaluated_at TIMESTAMP)""",
    "CREATE INDEX IF NOT EXISTS results_by_model ON results (project, model, window_start)",
    """CREATE TABLE IF NOT EXISTS monitor_suites (
        project TEXT, model TEXT, spec TEXT, state TEXT, updated_at TIMESTAMP,
        evaluated_until TIMESTAMP, labels_seen_until TIMESTAMP,
        events_seen_until TIMESTAMP, PRIMARY KEY (project, model))""",
    """CREATE TABLE IF NOT EXISTS incidents (
        id BIGINT PRIMARY KEY, project TEXT, model TEXT, signature TEXT, kind TEXT,
        state TEXT, severity TEXT, title TEXT, opened_at TIMESTAMP, updated_at TIMESTAMP,
        first_window TIMESTAMP, last_window TIMESTAMP, resolved_at TIMESTAMP,
        snoozed_until TIMESTAMP, healthy_windows INTEGER, body TEXT,
        version BIGINT DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        project TEXT, channel TEXT, kind TEXT, key TEXT, incident_id BIGINT,
        event TEXT, status TEXT, attempts INTEGER, code INTEGER, error TEXT,
        started_at TIMESTAMP, finished_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS action_runs (
        project TEXT, action TEXT, incident_id BIGINT, event TEXT, dry_run BOOLEAN,
        status TEXT, detail TEXT, run_at TIMESTAMP, key TEXT)""",
    """CREATE TABLE IF NOT EXISTS alerting (
        project TEXT PRIMARY KEY, spec TEXT, updated_at TIMESTAMP)""",
    "CREATE SEQUENCE IF NOT EXISTS annotation_seq START 1",
    """CREATE TABLE IF NOT EXISTS annotations (
        id BIGINT PRIMARY KEY, project TEXT, model TEXT, ts TIMESTAMP, end_ts TIMESTAMP,
        text TEXT, kind TEXT, author TEXT, created_at TIMESTAMP)""",
]


def _module_ddl() -> list[str]:
    from mlwarden.store.pg_evals import PG_EVAL_DDL
    from mlwarden.store.pg_quantiles import FUNCTION_DDL
    from mlwarden.store.pg_slo import PG_SLO_DDL
    from mlwarden.store.pg_spans import PG_SPAN_DDL

    return [*PG_EVAL_DDL, *PG_SPAN_DDL, *PG_SLO_DDL, *FUNCTION_DDL]


@dataclass(frozen=True)
class PgMigration:
    """Brings a database from ``version - 1`` to ``version``."""

    version: int
    what: str
    apply: Callable[[Any], None]


def _nothing(con: Any) -> None:
    """A migration whose tables the ``CREATE ... IF NOT EXISTS`` statements make."""


#: Upgrades of databases made by earlier releases, oldest first (the first layout needs none).
MIGRATIONS: Sequence[PgMigration] = (
    PgMigration(
        2,
        "spans, span_logs, llm_metrics, scores, probes, probe_results, slo_specs and the "
        "function mlwarden_quantile_cont (created by the DDL above)",
        _nothing,
    ),
)
CURRENT = 1 if not MIGRATIONS else MIGRATIONS[-1].version


def open_schema(con: Any, *, where: str) -> int:
    """Check, create and upgrade the layout of the database on ``con`` (a psycopg connection
    not in a transaction); returns the version it is at. ``where`` names it in messages."""
    with con.transaction():
        con.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
        con.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        stored = int(row[0]) if row else None
        if stored is not None and stored > CURRENT:
            raise StoreOpenError(
                f"The database {where} has layout version {stored}, newer than this mlwarden "
                f"knows ({CURRENT}); upgrade mlwarden to open it. Nothing in it was changed."
            )
        for stmt in [*DDL, *_module_ddl()]:
            con.execute(stmt)
        for m in MIGRATIONS:
            if stored is not None and m.version > stored:
                m.apply(con)
        con.execute(
            "INSERT INTO meta VALUES ('schema_version', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [str(CURRENT)],
        )
    return CURRENT
