"""From an alert to the data: a uniform random sample of a window's events as a download.

``GET /v1/models/{model}/events/sample?start=&end=`` answers CSV, Parquet or JSON, with
``Content-Disposition: attachment`` and a file name that says model, window and segment. The
sample is drawn in the engine (:mod:`mlwarden.store.event_sample`); ``seed`` makes it
reproducible (a fresh one is drawn when absent, and sent back in ``X-Mlwarden-Sample-Seed``).
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Literal

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator

from mlwarden.errors import ValidationError, expected
from mlwarden.schema.spec import Task
from mlwarden.server.auth import Read
from mlwarden.server.params import (
    RangeQ,
    SegmentQ,
    clamp_instant,
    range_filter,
    segment_filter,
)
from mlwarden.server.services import Svc
from mlwarden.store.base import ModelRecord, Store
from mlwarden.store.event_sample import MAX_SAMPLE, sample_events
from mlwarden.store.protocols import AggregateSource

__all__ = ["router", "sample_download", "sample_filename"]

router = APIRouter(prefix="/v1", tags=["query"])

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
}
WindowTime = Annotated[
    datetime,
    BeforeValidator(clamp_instant),
    Query(description="ISO 8601 date or time (UTC unless it says otherwise)."),
]
#: A JSON row: these columns and the model's own (features, tags).
SAMPLE_ROW = {
    "type": "object",
    "properties": {
        "event_id": {"type": "string"},
        "ts": {"type": "string", "format": "date-time", "description": "Event time (UTC)."},
        "version": {"type": "string"},
        "prediction": {"description": "The model's prediction."},
        "score": {"type": ["number", "null"]},
        "actual": {"description": "The label (a number for regression); null without one."},
        "actual_ts": {"type": ["string", "null"], "format": "date-time"},
    },
    "additionalProperties": True,
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _stamp(t: datetime) -> str:
    return t.strftime("%Y%m%d") if t.time() == datetime.min.time() else t.strftime("%Y%m%dT%H%M")


def sample_filename(
    model: str, start: datetime, end: datetime, segment: dict[str, str] | None, fmt: str
) -> str:
    """A download's name: model, window, segment; letters, digits, ``.``, ``_``, ``-`` only.

    Examples
    --------
    >>> from datetime import datetime
    >>> sample_filename("churn v2", datetime(2026, 1, 3), datetime(2026, 1, 4, 6),
    ...                 {"region": "eu/west"}, "csv")
    'churn-v2-sample-20260103-20260104T0600-region-eu-west.csv'
    """
    parts = [model, "sample", _stamp(start), _stamp(end)]
    parts += [f"{k}-{v}" for k, v in sorted((segment or {}).items())]
    name = "-".join(_UNSAFE.sub("-", p).strip("-") or "_" for p in parts)
    return f"{name[:180]}.{fmt}"


def _drain(sink: io.BytesIO) -> bytes:
    out = sink.getvalue()
    sink.seek(0)
    sink.truncate()
    return out


def _csv(table: pa.Table) -> Iterator[bytes]:
    sink = io.BytesIO()
    with pacsv.CSVWriter(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=5000):
            writer.write_batch(batch)
            yield _drain(sink)
    yield _drain(sink)  # the header alone, for an empty sample


def _json(table: pa.Table) -> Iterator[bytes]:
    yield b"["
    first = True
    for batch in table.to_batches(max_chunksize=5000):
        for row in batch.to_pylist():
            yield (b"" if first else b",") + orjson.dumps(row, option=orjson.OPT_NAIVE_UTC)
            first = False
    yield b"]"


def _parquet(table: pa.Table) -> Iterator[bytes]:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    yield sink.getvalue()


@router.get(
    "/models/{model}/events/sample",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The sample, oldest event first: the stored event columns (id, "
            "time, version, features, prediction, score, status, latency), 'actual' (null "
            "without a label) and 'actual_ts'. Headers: X-Mlwarden-Window-Events (events in "
            "the window and segment), X-Mlwarden-Sample-Seed.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {
                    "schema": {"type": "string", "format": "binary"}
                },
                "application/json": {"schema": {"type": "array", "items": SAMPLE_ROW}},
            },
        }
    },
)
def events_sample(
    model: str,
    sv: Svc,
    project: Read,
    start: WindowTime,
    end: WindowTime,
    segment: SegmentQ = None,
    range: RangeQ = None,  # noqa: A002 - the name users type in the URL
    limit: Annotated[int, Query(ge=1, le=MAX_SAMPLE, description="Most events returned.")] = 1000,
    format: Annotated[  # noqa: A002 - the name users type in the URL
        Literal["csv", "parquet", "json"], Query(description="File format of the download.")
    ] = "csv",
    seed: Annotated[
        int | None,
        Query(ge=0, le=2**31 - 1, description="The same seed draws the same sample."),
    ] = None,
) -> StreamingResponse:
    """A uniform random sample of the events in ``[start, end)`` (and the segment's), with
    their actuals, as a CSV, Parquet or JSON download."""
    store: Store = sv.store
    return sample_download(
        store,
        store.get_model(project, model),
        start=start,
        end=end,
        segment=segment_filter(segment),
        ranges=range_filter(range),
        limit=limit,
        fmt=format,
        seed=seed,
    )


def sample_download(
    store: AggregateSource,
    rec: ModelRecord,
    *,
    start: datetime,
    end: datetime,
    segment: dict[str, str] | None,
    limit: int,
    fmt: str,
    seed: int | None,
    ranges: dict[str, tuple[float | None, float | None]] | None = None,
) -> StreamingResponse:
    """The download of a sample (the API's and the UI's)."""
    if end <= start:
        raise ValidationError(
            f"The 'end' parameter must be after the 'start' ({start.isoformat()}). "
            f"Got {end.isoformat()!r} instead."
        )
    if fmt not in MEDIA:
        raise ValidationError(expected("parameter", "format", f"be one of {', '.join(MEDIA)}", fmt))
    seed = secrets.randbelow(2**31) if seed is None else seed
    table, total = sample_events(
        store.events(rec),
        store.actuals(rec),
        n=limit,
        seed=seed,
        regression=rec.spec.task is Task.REGRESSION,
        start=start,
        end=end,
        segment=segment,
        ranges=ranges,
    )
    write = {"csv": _csv, "parquet": _parquet, "json": _json}[fmt]
    name = sample_filename(rec.name, start, end, segment, fmt)
    return StreamingResponse(
        write(table),
        media_type=MEDIA[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Mlwarden-Window-Events": str(total),
            "X-Mlwarden-Sample-Seed": str(seed),
        },
    )
