"""The layout version of a database file, and the upgrades applied when it is opened.

A file records its layout as ``schema_version`` in its ``meta`` table. At opening, a file of a
newer layout than this mlwarden knows is refused (nothing in it is touched); the tables of the
current layout that the file lacks are created (``CREATE ... IF NOT EXISTS``, so new tables
need no migration); then each migration newer than the file's version runs, in order, each in
one transaction with the version it brings the file to. A migration is a small function of the
connection that changes tables that exist already (a column added, a table of an old layout
replaced). Migrations are idempotent: files written before versions were kept (all stamped 1)
may hold some of their changes already.

Examples
--------
>>> CURRENT == MIGRATIONS[-1].version and [m.version for m in MIGRATIONS] == sorted(
...     m.version for m in MIGRATIONS)
True
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb

from mlwarden.errors import StoreOpenError

__all__ = ["CURRENT", "FIRST", "MIGRATIONS", "Migration", "open_schema", "stored_version"]

log = logging.getLogger("mlwarden.store")

#: The version of a file made before migrations existed (every release up to 0.1.0).
FIRST = 1


@dataclass(frozen=True)
class Migration:
    """Brings a file from ``version - 1`` to ``version``."""

    version: int
    what: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]
    ).fetchall()
    return {r[0] for r in rows}


def _events_seen_until(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE monitor_suites ADD COLUMN IF NOT EXISTS events_seen_until TIMESTAMP")


def _real_incidents(con: duckdb.DuckDBPyConnection) -> None:
    from mlwarden.store.duckdb_incidents import INCIDENT_DDL

    cols = _columns(con, "incidents")
    if cols and "signature" not in cols:  # an empty placeholder of another layout
        if con.execute("SELECT count(*) FROM incidents").fetchall()[0][0]:
            raise StoreOpenError(
                "The database's incidents table has an unknown layout and holds rows; "
                "this mlwarden cannot upgrade it. Restore a backup made by mlwarden."
            )
        con.execute("DROP TABLE incidents")
        for ddl in INCIDENT_DDL:
            con.execute(ddl)


def _incident_versions(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("ALTER TABLE incidents ADD COLUMN IF NOT EXISTS version BIGINT DEFAULT 0")


def _slo_tables(con: duckdb.DuckDBPyConnection) -> None:
    from mlwarden.store.duckdb_slo import SLO_DDL

    for ddl in SLO_DDL:
        con.execute(ddl)


def _shadow_column(con: duckdb.DuckDBPyConnection) -> None:
    """Every model's events get the ``shadow`` mark (false: no stored row was marked)."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE regexp_full_match(table_name, 'events_[0-9]+')"
    ).fetchall()
    for (table,) in rows:
        con.execute(f'ALTER TABLE "{table}" ADD COLUMN IF NOT EXISTS shadow BOOLEAN DEFAULT false')


MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "late events: monitor_suites.events_seen_until", _events_seen_until),
    Migration(3, "incidents of files made before incidents existed", _real_incidents),
    Migration(4, "incident versions for compare-and-set: incidents.version", _incident_versions),
    Migration(
        5, "synthetic probes, their results and SLOs: probes, probe_results, slo_specs", _slo_tables
    ),
    Migration(6, "shadow predictions marked: events_<uid>.shadow", _shadow_column),
)
#: The layout this mlwarden writes.
CURRENT = MIGRATIONS[-1].version


def stored_version(con: duckdb.DuckDBPyConnection, *, where: str) -> int | None:
    """The file's layout version; None for a new file (no ``meta`` table yet)."""
    if not _columns(con, "meta"):
        return None
    rows = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    if not rows:
        return None
    value = rows[0][0]
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StoreOpenError(
            f"The database {where!r} records the layout version {value!r}, which is not a "
            "whole number: it was not written by mlwarden, or was edited. Restore a backup."
        ) from None


def open_schema(con: duckdb.DuckDBPyConnection, ddl: Sequence[str], *, where: str) -> int:
    """Check the file's layout version, create what it lacks and upgrade it to
    :data:`CURRENT`; returns the version it had (:data:`CURRENT` for a new file)."""
    found = stored_version(con, where=where)
    if found is not None and found > CURRENT:
        from mlwarden._version import __version__

        raise StoreOpenError(
            f"The database {where!r} has the layout of a newer mlwarden (schema version "
            f"{found}); mlwarden {__version__} reads schema versions up to {CURRENT}. Upgrade "
            "mlwarden, or restore a backup made by this version."
        )
    for stmt in ddl:
        con.execute(stmt)
    if found is None:
        con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [str(FIRST)])
    at = FIRST if found is None else found
    for m in MIGRATIONS:
        if m.version <= at:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            m.apply(con)
            con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(m.version)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if found is not None:
            log.info("database %s upgraded to schema version %d: %s", where, m.version, m.what)
    return CURRENT if found is None else found
