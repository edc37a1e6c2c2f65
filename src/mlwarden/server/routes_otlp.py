"""OTLP/HTTP trace ingest: ``POST /v1/traces``, answering as an OpenTelemetry collector does.

Protobuf (``application/x-protobuf``) or JSON (``application/json``), gzip or
not. Each span is normalised (:mod:`mlwarden.schema.genai`), priced
(:mod:`mlwarden.schema.pricing`), checked for PII, injection, refusal and bad
JSON (:mod:`mlwarden.stats.llm_checks`) and stored; the reply is an
``ExportTraceServiceResponse`` in the request's encoding, with
``partial_success`` counting spans put in quarantine (no ids, no times). A
body that cannot be decoded gets 400 with the reason (a ``google.rpc.Status``),
an oversize one 413, an unknown content type 415.

Prices: the bundled table, plus the file named by the ``MLWARDEN_PRICES``
environment variable when it is set (read when the server starts).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Request
from fastapi.responses import Response

from mlwarden.errors import MlwardenError, PayloadTooLargeError, ValidationError
from mlwarden.schema.batch import Rejection
from mlwarden.schema.genai import SPAN_SCHEMA, normalise, spans_table
from mlwarden.schema.genai_messages import Message, render_prompt, render_response
from mlwarden.schema.otlp import (
    JSON_TYPE,
    PROTOBUF_TYPE,
    decode_json,
    decode_protobuf,
    error_reply,
    export_reply,
)
from mlwarden.schema.otlp_logs import TEXT_COLUMNS, span_texts
from mlwarden.schema.pricing import PRICES_ENV, PriceTable
from mlwarden.server.auth import Ingest
from mlwarden.server.body import media_type, read_body
from mlwarden.server.ingest_pool import IngestPool
from mlwarden.server.services import Services, services
from mlwarden.stats.check_memo import CheckMemo, Segments
from mlwarden.stats.llm_checks import Finding
from mlwarden.stats.pii_redaction import Redactor
from mlwarden.store.base import Store

__all__ = [
    "PRICES_ENV",
    "QUARANTINE_MODEL",
    "apply_logs",
    "enrich",
    "otlp_response",
    "ingest_traces",
    "prices_of",
    "rejection_message",
    "router",
]

router = APIRouter(tags=["llm"])

#: The ``model`` under which rejected spans are quarantined (no model can have this name).
QUARANTINE_MODEL = "(traces)"
#: Longest prompt or response text the checks read (characters); the rest is stored unchecked.
MAX_CHECK_CHARS = 65_536

BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            PROTOBUF_TYPE: {"schema": {"type": "string", "format": "binary"}},
            JSON_TYPE: {"schema": {"type": "object", "description": "OTLP/JSON"}},
        },
    }
}
REPLIES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "ExportTraceServiceResponse (partialSuccess counts quarantined spans).",
        "content": {
            PROTOBUF_TYPE: {},  # binary: OpenAPI 3.1 needs no schema for it
            JSON_TYPE: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "partialSuccess": {
                            "type": "object",
                            "description": "Present when some spans were quarantined.",
                            "properties": {
                                "rejectedSpans": {"type": "integer", "minimum": 1},
                                "errorMessage": {"type": "string"},
                            },
                            "required": ["rejectedSpans", "errorMessage"],
                            "additionalProperties": False,
                        }
                    },
                    "additionalProperties": False,
                }
            },
        },
    },
    400: {"description": "The body is not a decodable ExportTraceServiceRequest."},
    413: {"description": "The body is over the size limit."},
    415: {"description": "Neither application/x-protobuf nor application/json."},
}


def prices_of(sv: Services, project: str | None = None) -> PriceTable:
    """The app's price table (read once, when first needed), with ``project``'s price
    overrides (set through the API) in front when a project is given."""
    return sv.prices.of(project)


def _segments(messages: Sequence[Message]) -> Segments:
    """(role, offset of the text in the rendered prompt, text) of each message."""
    out = []
    pos = 0
    for role, text in messages:
        head = len(role) + 2
        out.append((role, pos + head, text))
        pos += head + len(text) + 1
    return tuple(out)


def enrich(row: dict[str, Any], prices: PriceTable, checks: CheckMemo | None = None) -> None:
    """Add cost (the one the span reports, else the price table's; ``cost_source`` says which),
    price version, check flags and findings to a normalised span row (checks run on LLM
    spans; injection on user, system and tool messages, not the assistant's own turns).
    ``checks``: the batch's memo of check results (texts repeated across its spans are
    checked once); a fresh one when not given."""
    checks = CheckMemo() if checks is None else checks
    reported = row.get("reported_cost")
    if isinstance(reported, int | float | str) and not isinstance(reported, bool):
        try:
            amount = float(reported)
        except ValueError:
            amount = math.nan
        if math.isfinite(amount) and amount >= 0:  # what the library was charged wins
            row["cost"], row["price_version"], row["cost_source"] = amount, "reported", "reported"
    if row.get("cost_source") is None:
        for model in (row["response_model"], row["request_model"]):
            cost = prices.cost(
                model,
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                cache_read_tokens=row["cache_read_tokens"],
                cache_write_tokens=row["cache_write_tokens"],
                reasoning_tokens=row["reasoning_tokens"],
            )
            if cost is not None:
                row["cost"], row["price_version"] = float(cost.amount), cost.version
                row["cost_source"] = "price_table"
                break
    found: list[tuple[str, Finding]] = []
    prompt, response = row["prompt"], row["response"]
    if row["span_type"] not in (None, "llm"):
        # chain, tool and agent spans repeat text their LLM spans carry: check it once there
        prompt = response = None
    if prompt:
        pii = checks.pii(prompt[:MAX_CHECK_CHARS])
        row["pii_in_prompt"] = pii.flagged
        found += [("prompt", f) for f in pii.findings]
        inj = checks.injection(_segments(row["input_messages"]), limit=MAX_CHECK_CHARS)
        row["injection"], row["injection_score"] = inj.flagged, inj.score
        found += [("prompt", f) for f in inj.findings]
    if response:
        text = response[:MAX_CHECK_CHARS]
        pii = checks.pii(text)
        refusal = checks.refusal(text)
        row["pii_in_response"], row["refusal"] = pii.flagged, refusal.flagged
        found += [("response", f) for f in (*pii.findings, *refusal.findings)]
        if row["expects_json"]:
            js = checks.json(text)
            row["json_valid"] = not js.flagged
            found += [("response", f) for f in js.findings]
    if found:
        row["findings"] = orjson.dumps(
            [{"in": where, **f.to_dict()} for where, f in found]
        ).decode()


#: Rows of :meth:`Store.fill_span_texts`.
TEXTS_SCHEMA = pa.schema(
    [("trace_id", pa.string()), ("span_id", pa.string())]
    + [(c, SPAN_SCHEMA.field(c).type) for c in TEXT_COLUMNS]
)
#: Stored span text that can hold personal data (checks and flags run before it is redacted).
REDACTED_FIELDS = ("prompt", "response", "status_message", "attributes", "events", "user_id")


def _ingest(
    body: bytes, protobuf: bool, prices: PriceTable, project: str, redactor: Redactor
) -> tuple[Any, list[Any]]:
    spans, rejected = decode_protobuf(body) if protobuf else decode_json(body)
    rows, bad = normalise(spans)
    checks = CheckMemo()
    for row in rows:
        enrich(row, prices, checks)
        if redactor.active:
            for name in REDACTED_FIELDS:
                row[name] = redactor(row.get(name))
    out = sorted(rejected + bad, key=lambda r: r.index)
    if redactor.active:  # the quarantine keeps what was sent: without its personal data
        out = [
            replace(r, row=redactor.payload(r.row), reason=redactor.reason(r.reason)) for r in out
        ]
    return spans_table(rows, project), out


def _texts_row(
    trace_id: str, span_id: str, logs: list[dict[str, Any]], prices: PriceTable
) -> dict[str, Any] | None:
    """The texts a span's log records hold, checked as a span's are; None when they hold none."""
    ins, outs, finish = span_texts(logs)
    if not ins and not outs:
        return None
    row: dict[str, Any] = {
        "span_type": "llm", "response_model": None, "request_model": None,
        "input_tokens": None, "output_tokens": None, "cache_read_tokens": None,
        "cache_write_tokens": None, "reasoning_tokens": None, "expects_json": False,
        "input_messages": ins, "prompt": render_prompt(ins), "response": render_response(outs),
        "finish_reason": finish, "trace_id": trace_id, "span_id": span_id,
        "content_source": "logs",
    }  # fmt: skip
    enrich(row, prices)
    return row


def fill_from_logs(
    store: Store,
    project: str,
    keys: set[tuple[str, str]],
    prices: PriceTable,
    redactor: Redactor,
) -> Future[int] | None:
    """Texts of the spans ``keys`` from their stored log records, written onto the spans
    that have none (runs in a worker thread; the write is handed to the writer)."""
    if not keys:
        return None
    found = store.span_logs_of(project, sorted({t for t, _ in keys})).to_pylist()
    by_span: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in found:
        if (r["trace_id"], r["span_id"]) in keys:
            by_span.setdefault((r["trace_id"], r["span_id"]), []).append(r)
    rows = [
        row
        for (tid, sid), recs in sorted(by_span.items())
        if (row := _texts_row(tid, sid, recs, prices)) is not None
    ]
    if not rows:
        return None
    for row in rows:
        for name in ("prompt", "response"):
            row[name] = redactor(row.get(name)) if redactor.active else row.get(name)
    table = pa.Table.from_pylist(
        [{c: r.get(c) for c in ("trace_id", "span_id", *TEXT_COLUMNS)} for r in rows],
        schema=TEXTS_SCHEMA,
    )
    return store.fill_span_texts(project, table)


async def apply_logs(request: Request, project: str, keys: set[tuple[str, str]]) -> None:
    """Put the texts of the spans ``keys`` that arrived as OTLP logs onto those spans, after
    both were stored: whichever of span and logs commits last finds the other."""
    state = services(request)
    future = await asyncio.to_thread(
        fill_from_logs, state.store, project, keys, prices_of(state, project), state.redactor
    )
    if future is not None:
        await asyncio.wrap_future(future)


@router.post("/v1/traces", responses=REPLIES, openapi_extra=BODY_DOC, response_class=Response)
async def post_traces(request: Request, project: Ingest) -> Response:
    """OTLP/HTTP trace export (point an OpenTelemetry exporter at ``<server>/v1/traces``).

    Spans are normalised from the OpenTelemetry GenAI conventions (current and deprecated
    attribute names), OpenLLMetry and OpenInference into one span table, priced, and
    checked. Re-sending a span (same trace and span id) is a no-op."""
    ctype = media_type(request)
    protobuf = ctype == PROTOBUF_TYPE
    if not protobuf and ctype != JSON_TYPE:
        msg = (
            f"The 'Content-Type' header must be {PROTOBUF_TYPE} or {JSON_TYPE}. "
            f"Got {ctype!r} instead."
        )
        return _reply(error_reply(3, msg, protobuf=False), 415, protobuf=False)
    store: Store = services(request).store
    try:
        body = await read_body(request, services(request).settings.max_body_bytes)
        prices = prices_of(services(request), project)
        table, rejected = await asyncio.to_thread(
            services(request).ingest_pool.run,
            _ingest, body, protobuf, prices, project, services(request).redactor,
        )  # fmt: skip
    except PayloadTooLargeError as exc:
        return _reply(error_reply(8, str(exc), protobuf=protobuf), 413, protobuf=protobuf)
    except ValidationError as exc:
        return _reply(error_reply(3, str(exc), protobuf=protobuf), 400, protobuf=protobuf)
    futures = []
    if table.num_rows:
        futures.append(store.append_spans(project, table))
    if rejected:
        futures.append(store.quarantine(project, QUARANTINE_MODEL, "spans", rejected))
    try:
        await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
    except MlwardenError as exc:
        return _reply(error_reply(14, str(exc), protobuf=protobuf), 503, protobuf=protobuf)
    services(request).ingest_counter(
        project, QUARANTINE_MODEL, "spans", table.num_rows, len(rejected)
    )
    textless = _textless(table)
    if textless:  # content sent as logs (event mode) may be stored already
        try:
            await apply_logs(request, project, textless)
        except MlwardenError as exc:
            return _reply(error_reply(14, str(exc), protobuf=protobuf), 503, protobuf=protobuf)
    message = ""
    if rejected:
        reasons = "; ".join(f"span {r.index}: {r.reason}" for r in rejected[:5])
        more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
        message = f"{len(rejected)} span(s) quarantined: {reasons}{more}"
    return _reply(export_reply(len(rejected), message, protobuf=protobuf), 200, protobuf=protobuf)


def ingest_traces(state: Any, project: str, body: bytes) -> list[Rejection]:
    """A protobuf ``ExportTraceServiceRequest`` stored as ``POST /v1/traces`` stores it, in the
    calling thread (the gRPC receiver's); returns the rejected spans. Raises
    :class:`ValidationError` for an undecodable body, :class:`MlwardenError` when storing fails."""
    pool: IngestPool = state.ingest_pool
    table, rejected = pool.run(
        _ingest, body, True, prices_of(state, project), project, state.redactor
    )
    futures = []
    if table.num_rows:
        futures.append(state.store.append_spans(project, table))
    if rejected:
        futures.append(state.store.quarantine(project, QUARANTINE_MODEL, "spans", rejected))
    for f in futures:
        f.result()
    state.ingest_counter(project, QUARANTINE_MODEL, "spans", table.num_rows, len(rejected))
    filled = fill_from_logs(state.store, project, _textless(table), prices_of(state, project),
                            state.redactor)  # fmt: skip
    if filled is not None:
        filled.result()
    return rejected


def rejection_message(rejected: Sequence[Rejection], what: str = "span") -> str:
    """The ``partialSuccess.errorMessage`` of a reply: the first five reasons."""
    if not rejected:
        return ""
    reasons = "; ".join(f"{what} {r.index}: {r.reason}" for r in rejected[:5])
    more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
    return f"{len(rejected)} {what}(s) rejected: {reasons}{more}"


def _textless(table: pa.Table) -> set[tuple[str, str]]:
    """(trace id, span id) of LLM spans without prompt and response (their texts may have come
    as log records). A span of no known type has no GenAI operation and no model: no
    instrumentation sends its content as events, and the agent or workflow spans around LLM
    calls would cost a log query on every export."""
    if not table.num_rows:
        return set()
    mask = pc.and_(
        pc.equal(table.column("span_type"), "llm"),
        pc.and_(pc.is_null(table.column("prompt")), pc.is_null(table.column("response"))),
    )
    found = table.select(["trace_id", "span_id"]).filter(pc.fill_null(mask, False))
    return set(zip(found.column(0).to_pylist(), found.column(1).to_pylist(), strict=True))


def otlp_response(content: bytes, status: int, *, protobuf: bool) -> Response:
    """An OTLP reply in the request's encoding."""
    return _reply(content, status, protobuf=protobuf)


def _reply(content: bytes, status: int, *, protobuf: bool) -> Response:
    return Response(
        content, status_code=status, media_type=PROTOBUF_TYPE if protobuf else JSON_TYPE
    )
