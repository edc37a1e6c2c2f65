"""Arrow tables into PostgreSQL by binary ``COPY``, encoded column by column in numpy.

PostgreSQL's binary copy format is, per row, a 16-bit field count, then each field as a 32-bit
length (-1: NULL) and its bytes, big-endian. Handing psycopg one Python tuple per row cost
~12 us a 25-column row (the values made Python objects first, then encoded); here each column is
converted once as an array and scattered into one buffer at its rows' offsets, so a 1k-row
batch is a few vectorised numpy operations per column. Types: text, float8, int8, bool and
timestamp (microseconds since 2000-01-01); a table with other columns (embeddings' ``real[]``)
goes row by row through psycopg.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["HEADER", "TRAILER", "encode", "encodable"]

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
#: microseconds from the Unix epoch to PostgreSQL's (2000-01-01)
_PG_EPOCH_US = 946_684_800_000_000


def _fixed(t: pa.DataType) -> tuple[int, str] | None:
    """Width and big-endian numpy type of a fixed-width column."""
    if pa.types.is_floating(t):
        return 8, ">f8"
    if pa.types.is_integer(t) or pa.types.is_timestamp(t):
        return 8, ">i8"
    if pa.types.is_boolean(t):
        return 1, "u1"
    return None


def encodable(schema: pa.Schema) -> bool:
    """Whether every column of ``schema`` is one :func:`encode` handles."""
    return all(
        _fixed(f.type) is not None or pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        for f in schema
    )


def encode(table: pa.Table) -> bytes:
    """The rows of ``table`` (columns :func:`encodable`) in binary COPY format, with header
    and trailer.

    Examples
    --------
    >>> t = pa.table({"a": pa.array([1, None], pa.int64()), "s": ["x", ""]})
    >>> body = encode(t)
    >>> body[:11] == HEADER[:11] and body.endswith(TRAILER)
    True
    >>> len(body) == len(HEADER) + 2 * (2 + 4 + 4) + 8 + 1 + 2
    True
    """
    n = table.num_rows
    ncols = table.num_columns
    cols: list[Any] = []
    sizes = np.full(n, 2, dtype=np.int64)  # the field count
    for f, chunked in zip(table.schema, table.columns, strict=True):
        col = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
        valid = (
            np.ones(n, dtype=bool)
            if col.null_count == 0
            else np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        )
        fixed = _fixed(f.type)
        if fixed is not None:
            width, dtype = fixed
            if pa.types.is_boolean(f.type):
                raw = np.asarray(
                    col.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.uint8
                )
            elif pa.types.is_timestamp(f.type):
                us = col.cast(pa.timestamp("us", tz=f.type.tz)).cast(pa.int64()).fill_null(0)
                raw = (us.to_numpy(zero_copy_only=False) - _PG_EPOCH_US).astype(dtype)
            elif pa.types.is_floating(f.type):
                raw = col.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
                raw = raw.astype(dtype)
            else:
                raw = col.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
                raw = raw.astype(dtype)
            payload = raw.view(np.uint8).reshape(n, width)
            lens = np.where(valid, width, 0).astype(np.int64)
            cols.append(("fixed", payload, lens, valid, width))
        else:
            col = col.cast(pa.large_string())
            offsets = np.frombuffer(col.buffers()[1], dtype=np.int64)[
                col.offset : col.offset + n + 1
            ]
            data = col.buffers()[2]
            data_np = (
                np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
            )
            lens = np.where(valid, np.diff(offsets), 0).astype(np.int64)
            cols.append(("text", (offsets, data_np), lens, valid, 0))
        sizes += 4 + lens
    ends = np.cumsum(sizes)
    starts = ends - sizes
    buf = np.zeros(int(ends[-1]) if n else 0, dtype=np.uint8)
    count = np.frombuffer(ncols.to_bytes(2, "big"), dtype=np.uint8)
    buf[starts[:, None] + np.arange(2)] = count
    pos = starts + 2
    for kind, payload, lens, valid, width in cols:
        length = np.where(valid, lens, -1).astype(">i4").view(np.uint8).reshape(n, 4)
        buf[pos[:, None] + np.arange(4)] = length
        body = pos + 4
        if kind == "fixed":
            rows = np.nonzero(valid)[0]
            buf[body[rows, None] + np.arange(width)] = payload[rows]
        else:
            offsets, data = payload
            total = int(lens.sum())
            if total:
                src_start = offsets[:-1]
                src = _ranges(src_start, lens, total)
                buf[np.repeat(body - src_start, lens) + src] = data[src]
        pos = body + lens
    return HEADER + buf.tobytes() + TRAILER


def _ranges(starts: np.ndarray, lens: np.ndarray, total: int) -> np.ndarray:
    """The concatenation of ``range(s, s + l)`` for each start and length, vectorised.

    Examples
    --------
    >>> _ranges(np.array([5, 0, 9]), np.array([2, 0, 3]), 5).tolist()
    [5, 6, 9, 10, 11]
    """
    nz = lens > 0
    s, ln = starts[nz].astype(np.int64), lens[nz].astype(np.int64)
    steps = np.ones(total, dtype=np.int64)
    steps[0] = s[0]
    heads = np.cumsum(ln)[:-1]
    steps[heads] = s[1:] - (s[:-1] + ln[:-1] - 1)
    return np.cumsum(steps)
