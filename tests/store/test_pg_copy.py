"""Binary COPY encoded in numpy (:mod:`mlwarden.store.pg_copy`) stores exactly what psycopg's
row-by-row COPY stores: every type, NULLs, empty and non-ASCII strings, NaN and infinities,
times before 2000 and sliced (offset) Arrow arrays."""

from __future__ import annotations

import math
from datetime import datetime

import psycopg
import pyarrow as pa

from mlwarden.store import pg_copy
from pgserver import PostgresServer

TABLE = pa.table(
    {
        "s": pa.array(["a", None, "", "héllo wörld ✓", "x" * 300, "q\"'\\\n\t"]),
        "f": pa.array([1.5, None, math.nan, math.inf, -math.inf, -0.0]),
        "i": pa.array([1, None, -(2**63), 2**63 - 1, 0, 7], pa.int64()),
        "b": pa.array([True, None, False, True, False, True]),
        "t": pa.array(
            [
                datetime(2026, 3, 1, 12, 0, 0, 123456),
                None,
                datetime(1970, 1, 1),
                datetime(1999, 12, 31, 23, 59, 59),
                datetime(2000, 1, 1),
                datetime(9999, 1, 1),
            ],
            pa.timestamp("us"),
        ),  # fmt: skip
    }
)
DDL = "CREATE TABLE {} (s TEXT, f DOUBLE PRECISION, i BIGINT, b BOOLEAN, t TIMESTAMP)"


def _rows(con: psycopg.Connection, table: str) -> list[tuple[object, ...]]:
    return con.execute(f"SELECT s, f::text, i, b, t FROM {table} ORDER BY i NULLS FIRST").fetchall()


def test_numpy_encoding_matches_psycopg_rows(pg_server: PostgresServer) -> None:
    url = pg_server.create_database("copy_check")
    sliced = pa.concat_tables([TABLE.slice(0, 2), TABLE.slice(2)])  # two chunks
    with psycopg.connect(url, autocommit=True) as con:
        for name in ("ours", "rows", "sliced"):
            con.execute(DDL.format(name))
        with con.cursor().copy("COPY ours FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(pg_copy.encode(TABLE))
        with con.cursor().copy("COPY sliced FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(pg_copy.encode(sliced.slice(1)))
        with con.cursor().copy("COPY rows FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "float8", "int8", "bool", "timestamp"])
            for row in zip(*[c.to_pylist() for c in TABLE.columns], strict=True):
                copy.write_row(row)
        want = _rows(con, "rows")
        assert len(want) == 6
        assert _rows(con, "ours") == want
        assert _rows(con, "sliced") == [r for r in want if r[0] != "a"]
