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

__all__ = ["HEADER", "TRAILER", "encodable", "encode", "order"]

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


def order(schema: pa.Schema, table: pa.Table | None = None) -> list[str]:
    """Column order for :func:`encode`: fixed-width columns without NULLs first (one
    constant-width block per row), then the others."""

    def dense(name: str, t: pa.DataType) -> bool:
        return _fixed(t) is not None and (table is None or table.column(name).null_count == 0)

    names = [f.name for f in schema]
    first = [f.name for f in schema if dense(f.name, f.type)]
    return first + [n for n in names if n not in first]


def _fixed_bytes(col: pa.Array, t: pa.DataType, n: int) -> np.ndarray:
    """A fixed-width column's values as an (n, width) big-endian byte matrix (NULLs as 0)."""
    width, dtype = _fixed(t) or (0, "")
    native = {8: {"f": "<f8", "i": "<i8"}}.get(width, {})
    kind = "f" if pa.types.is_float64(t) else "i" if pa.types.is_int64(t) else ""
    if pa.types.is_timestamp(t) and t.unit == "us":
        kind = "t"
    if col.null_count == 0 and (kind in native or kind == "t"):
        # straight from the Arrow buffer: no compute kernels (~50 us each) on the hot path
        values = np.frombuffer(col.buffers()[1], dtype=native.get(kind, "<i8"))
        values = values[col.offset : col.offset + n]
        if kind == "t":
            values = values - _PG_EPOCH_US
        return values.astype(dtype).view(np.uint8).reshape(n, width)
    if pa.types.is_boolean(t):
        raw = np.asarray(col.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.uint8)
    elif pa.types.is_timestamp(t):
        us = col.cast(pa.timestamp("us", tz=t.tz)).cast(pa.int64()).fill_null(0)
        raw = (us.to_numpy(zero_copy_only=False) - _PG_EPOCH_US).astype(dtype)
    elif pa.types.is_floating(t):
        raw = col.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False).astype(dtype)
    else:
        raw = col.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).astype(dtype)
    return raw.view(np.uint8).reshape(n, width)


def encode(table: pa.Table) -> bytes:
    """The rows of ``table`` (columns :func:`encodable`, in the order :func:`order` gives)
    in binary COPY format, with header and trailer.

    Examples
    --------
    >>> t = pa.table({"a": pa.array([1, None], pa.int64()), "s": ["x", ""]})
    >>> body = encode(t)
    >>> body[:11] == HEADER[:11] and body.endswith(TRAILER)
    True
    >>> len(body) == len(HEADER) + 2 * (2 + 4 + 4) + 8 + 1 + 2
    True
    """
    n, ncols = table.num_rows, table.num_columns
    # the constant-width head of every row: field count, then the dense fixed columns
    head: list[np.ndarray] = [
        np.broadcast_to(np.frombuffer(ncols.to_bytes(2, "big"), np.uint8), (n, 2))
    ]
    tail: list[tuple[np.ndarray, Any, np.ndarray]] = []  # (lengths, payload, validity)
    for f, chunked in zip(table.schema, table.columns, strict=True):
        col = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
        fixed = _fixed(f.type)
        if fixed is not None and col.null_count == 0 and not tail:
            length = np.frombuffer(fixed[0].to_bytes(4, "big"), np.uint8)
            head += [np.broadcast_to(length, (n, 4)), _fixed_bytes(col, f.type, n)]
            continue
        valid = (
            np.ones(n, dtype=bool)
            if col.null_count == 0
            else np.asarray(col.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        )
        if fixed is not None:
            lens = np.where(valid, fixed[0], 0).astype(np.int64)
            tail.append((lens, _fixed_bytes(col, f.type, n), valid))
            continue
        col = col.cast(pa.large_string())
        offsets = np.frombuffer(col.buffers()[1], dtype=np.int64)[col.offset : col.offset + n + 1]
        data = col.buffers()[2]
        data_np = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
        lens = np.where(valid, np.diff(offsets), 0).astype(np.int64)
        tail.append((lens, (offsets, data_np), valid))
    block = np.ascontiguousarray(np.hstack(head)) if n else np.empty((0, 2), np.uint8)
    width = block.shape[1]
    sizes = np.full(n, width, dtype=np.int64)
    for lens, _, _ in tail:
        sizes += 4 + lens
    ends = np.cumsum(sizes)
    starts = ends - sizes
    buf = np.empty(int(ends[-1]) if n else 0, dtype=np.uint8)
    buf[(starts[:, None] + np.arange(width)).ravel()] = block.ravel()
    pos = starts + width
    for lens, payload, valid in tail:
        length = np.where(valid, lens, -1).astype(">i4").view(np.uint8).reshape(n, 4)
        buf[(pos[:, None] + np.arange(4)).ravel()] = length.ravel()
        body = pos + 4
        if isinstance(payload, np.ndarray):  # fixed width with NULLs
            rows = np.nonzero(valid)[0]
            w = payload.shape[1]
            buf[(body[rows, None] + np.arange(w)).ravel()] = payload[rows].ravel()
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
