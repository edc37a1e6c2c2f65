"""One PostgreSQL server for the store's tests, started on first use (``tests/pgserver.py``),
and the process's one chDB engine (chDB runs one per process, on one directory): each store
gets a database of its own in it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pgserver import PostgresServer, running_postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with running_postgres() as srv:
        yield srv


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def chdb_url(chdb_dir: Path) -> Callable[[str], str]:
    """A ``chdb://`` URL of a database (of the session's one chDB directory)."""
    return lambda database: f"chdb://{chdb_dir}?database={database}"
