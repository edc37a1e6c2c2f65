"""The engine layer: catalog, group-committed ingest, and aggregates written in ibis.

Engines are declared in :data:`ENGINES` by name and module and imported when first opened:
the monitors read their request types from this package, and a set-up from a file
(``mlwarden init``) should not import DuckDB for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mlwarden.store.base import (
    ENGINES,
    IngestResult,
    ModelRecord,
    ReferenceRecord,
    Store,
    VersionRecord,
)
from mlwarden.store.keys import ApiKey, KeyStore

if TYPE_CHECKING:
    from mlwarden.store.duckdb_engine import DuckDBStore
    from mlwarden.store.pg_engine import PostgresStore

ENGINES.declare("duckdb", "mlwarden.store.duckdb_engine")
ENGINES.declare("postgres", "mlwarden.store.pg_engine")
CLICKHOUSE = "clickhouse"
ENGINES.declare(CLICKHOUSE, "mlwarden.store.composite")

__all__ = [
    "DB_FILE",
    "ENGINES",
    "ApiKey",
    "DuckDBStore",
    "IngestResult",
    "KeyStore",
    "ModelRecord",
    "PostgresStore",
    "ReferenceRecord",
    "Store",
    "VersionRecord",
    "is_store_url",
    "open_store",
    "open_store_file",
]

DB_FILE = "mlwarden.duckdb"


def __getattr__(name: str) -> Any:
    if name == "DuckDBStore":  # imported on first use, with DuckDB
        from mlwarden.store.duckdb_engine import DuckDBStore

        return DuckDBStore
    if name == "PostgresStore":  # imported on first use, with psycopg
        from mlwarden.store.pg_engine import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_store_url(where: object) -> bool:
    """Whether ``where`` names a database server rather than a data directory.

    Examples
    --------
    >>> is_store_url("postgresql://mlwarden@db:5432/mlwarden"), is_store_url("/var/lib/mlw")
    (True, False)
    """
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))


def open_store(
    data_dir: str | Path | None = None,
    *,
    engine: str = "duckdb",
    events: str | None = None,
    **options: Any,
) -> Store:
    """Open the store in ``data_dir`` (``None``: in memory) with the named engine; a
    ``postgresql://`` URL as ``data_dir`` opens that PostgreSQL database instead. ``events``:
    a ClickHouse URL (``chdb:///path``, ``clickhouse://host:8123/db``) that keeps events and
    labels while the store opened here keeps the rest (:mod:`mlwarden.store.composite`)."""
    if events is not None:
        from mlwarden.store.ch_events import ClickHouseEvents
        from mlwarden.store.composite import CompositeStore

        primary = open_store(data_dir, engine=engine, **options)
        try:
            log = ClickHouseEvents(
                events, catalog=primary, retention_days=options.get("retention_days")
            )
        except BaseException:
            primary.close()
            raise
        return CompositeStore(primary, log)
    if engine == CLICKHOUSE:
        from mlwarden.errors import ConfigError

        raise ConfigError(
            "The clickhouse engine keeps events only: open the store with events=URL "
            "(mlwarden serve --events chdb:///path or clickhouse://host:8123/db)."
        )
    if is_store_url(data_dir):
        from mlwarden.store.pg_engine import PostgresStore

        pg: Store = PostgresStore(str(data_dir), **options)
        return pg
    cls = ENGINES.get(engine)
    path: str | Path = ":memory:" if data_dir is None else Path(data_dir) / DB_FILE
    store: Store = cast(Any, cls)(path, **options)
    return store


def open_store_file(path: str | Path, **options: Any) -> Store:
    """Open the database file ``path`` itself (a ``.duckdb`` file: the duckdb engine), not a
    data directory."""
    store: Store = cast(Any, ENGINES.get("duckdb"))(Path(path), **options)
    return store
