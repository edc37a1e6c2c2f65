"""The engine layer: catalog, group-committed ingest, and aggregates written in ibis."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from mlwarden.store.base import (
    ENGINES,
    IngestResult,
    ModelRecord,
    ReferenceRecord,
    Store,
    VersionRecord,
)
from mlwarden.store.duckdb_engine import DuckDBStore
from mlwarden.store.keys import ApiKey, KeyStore
from mlwarden.store.pg_engine import PostgresStore

__all__ = [
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
]

DB_FILE = "mlwarden.duckdb"


def is_store_url(where: object) -> bool:
    """Whether ``where`` names a database server rather than a data directory.

    Examples
    --------
    >>> is_store_url("postgresql://mlwarden@db:5432/mlwarden"), is_store_url("/var/lib/mlw")
    (True, False)
    """
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))


def open_store(
    data_dir: str | Path | None = None, *, engine: str = "duckdb", **options: Any
) -> Store:
    """Open the store in ``data_dir`` (``None``: in memory) with the named engine; a
    ``postgresql://`` URL as ``data_dir`` opens that PostgreSQL database instead."""
    if is_store_url(data_dir):
        pg: Store = PostgresStore(str(data_dir), **options)
        return pg
    cls = ENGINES.get(engine)
    path: str | Path = ":memory:" if data_dir is None else Path(data_dir) / DB_FILE
    store: Store = cast(Any, cls)(path, **options)
    return store
