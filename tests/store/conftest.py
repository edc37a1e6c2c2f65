"""One PostgreSQL server for the store's tests, started on first use (``tests/pgserver.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgserver import PostgresServer, running_postgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with running_postgres() as srv:
        yield srv
