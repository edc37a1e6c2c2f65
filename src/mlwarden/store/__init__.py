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

__all__ = [
    "ENGINES",
    "ApiKey",
    "DuckDBStore",
    "IngestResult",
    "KeyStore",
    "ModelRecord",
    "ReferenceRecord",
    "Store",
    "VersionRecord",
    "open_store",
]

DB_FILE = "mlwarden.duckdb"


def open_store(
    data_dir: str | Path | None = None, *, engine: str = "duckdb", **options: Any
) -> Store:
    """Open the store in ``data_dir`` (``None``: in memory) with the named engine."""
    cls = ENGINES.get(engine)
    path: str | Path = ":memory:" if data_dir is None else Path(data_dir) / DB_FILE
    store: Store = cast(Any, cls)(path, **options)
    return store
