"""Read request bodies with a size limit, gzip, and the formats ingest accepts."""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

import orjson
import pyarrow as pa
from fastapi import Request

from mlwarden.errors import PayloadTooLargeError, RequestTimeoutError, ValidationError
from mlwarden.schema.batch import check_unique_columns
from mlwarden.schema.limits import check_depth
from mlwarden.server.services import services

__all__ = [
    "ARROW_TYPES",
    "CSV_TYPES",
    "PARQUET_TYPES",
    "inflate",
    "parse_arrow",
    "parse_json",
    "read_body",
]

ARROW_TYPES = ("application/vnd.apache.arrow.stream", "application/x-arrow", "application/arrow")
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")
CSV_TYPES = ("text/csv", "application/csv")


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body is larger than the limit of {limit / 1048576:g} MiB; send smaller "
        "batches (the SDK does) or raise the server's --max-body-mb."
    )


async def read_body(request: Request, limit: int, *, decompress: bool = True) -> bytes:
    """The body, decompressed if gzip, refusing anything over ``limit`` bytes (before or after).

    ``decompress=False``: the body as sent; the caller passes it to :func:`inflate` (CPU work:
    on a worker thread, not the event loop)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    # a stalled or trickling upload holds a connection: bound the whole body, not each chunk
    deadline = float(services(request).settings.body_timeout_s)
    try:
        async with asyncio.timeout(deadline):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeoutError(
            f"The request body did not arrive within {deadline:g} s ({size} bytes came); "
            "send it again, or raise the server's --body-timeout for slow links."
        ) from None
    body = b"".join(chunks)
    if not decompress:
        return body
    return inflate(body, request.headers.get("content-encoding", ""), limit)


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """``body`` decompressed per its ``Content-Encoding`` (gzip, deflate or identity),
    refusing more than ``limit`` bytes after."""
    encoding = encoding.lower()
    if encoding in ("gzip", "deflate"):
        d = zlib.decompressobj(wbits=47)  # gzip or zlib header
        try:
            body = d.decompress(body, limit + 1)
        except zlib.error as exc:
            raise ValidationError(f"The body is not valid {encoding} data: {exc}") from exc
        if len(body) > limit or d.unconsumed_tail:
            raise _too_large(limit)
    elif encoding not in ("", "identity"):
        raise ValidationError(
            f"The 'Content-Encoding' header must be gzip, deflate or identity. Got {encoding!r} instead."
        )
    return body


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "application/json").split(";")[0].strip().lower()


def parse_json(body: bytes, *, what: str) -> list[Any]:
    if not body.strip():
        raise ValidationError(f"The body is empty; expected a JSON array of {what}.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        data = _loads_wide(body, exc)
    check_depth(data)  # before anything walks it recursively (repr, json.dumps, pydantic)
    if isinstance(data, dict):
        if what in data and isinstance(data[what], list):
            return list(data[what])
        return [data]
    if not isinstance(data, list):
        raise ValidationError(
            f"The body must be a JSON array of {what} (or one object). Got {type(data).__name__} instead."
        )
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads_wide(body: bytes, error: orjson.JSONDecodeError) -> Any:
    """Valid JSON orjson refuses: a number beyond float64 (``1e400``) is valid JSON but
    orjson fails the whole body on it. The standard library reads it as inf, so the row
    that holds it is rejected alone (its value out of range) and its neighbours are kept.
    ``NaN`` / ``Infinity`` literals stay refused: they are not JSON."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant, parse_int=_int)
        orjson.dumps(data)  # what orjson refuses beside numbers (a lone surrogate) stays refused
    except (ValueError, RecursionError, orjson.JSONEncodeError):  # UnicodeError: a ValueError
        raise ValidationError(f"The body is not valid JSON: {error}") from error
    return data


def _int(text: str) -> int | float:
    """An integer as orjson reads it: beyond 64 bits, a float (so ``inf`` past float64)."""
    if len(text) > 21:  # no int() on thousands of digits (Python refuses past 4,300)
        return float(text)
    value = int(text)
    return value if -(2**63) <= value < 2**64 else float(text)


def parse_arrow(body: bytes, *, max_cells: int | None = None) -> pa.Table:
    """An Arrow IPC stream as a table; its column names must be unique, and (``max_cells``)
    it may hold at most that many rows x columns, checked batch by batch as it is read (a
    column of nulls costs no bytes in the stream, so the body size does not bound it)."""
    try:
        with pa.ipc.open_stream(pa.py_buffer(body)) as reader:
            names = reader.schema.names
            check_unique_columns(names)
            batches: list[pa.RecordBatch] = []
            rows = 0
            for batch in reader:
                rows += batch.num_rows
                if max_cells is not None and rows * len(names) > max_cells:
                    raise ValidationError(
                        f"The Arrow stream has over {rows} rows of {len(names)} columns; the "
                        f"limit is {max_cells} cells per request (server setting --max-cells). "
                        "Send smaller batches."
                    )
                batches.append(batch)
            return pa.Table.from_batches(batches, schema=reader.schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise ValidationError(f"The body is not a valid Arrow IPC stream: {exc}") from exc
