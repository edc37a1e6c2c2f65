"""OTLP log export requests: GenAI events (prompts and responses sent as logs) into rows.

Instrumentations that capture message content "in event mode" (the official
``opentelemetry-instrumentation-openai-v2`` with content capture on, OpenLLMetry without
legacy attributes) send each message as an OTLP log record: ``gen_ai.system.message``,
``gen_ai.user.message``, ``gen_ai.assistant.message``, ``gen_ai.tool.message``,
``gen_ai.choice``, or one ``gen_ai.client.inference.operation.details`` holding the GenAI
message attributes. Each record carries the trace and span id of its LLM call. Both
encodings of ``ExportLogsServiceRequest`` are decoded into :data:`LOG_SCHEMA` rows (the name
is the record's ``event_name``, else its ``event.name`` attribute); :func:`span_texts` turns
the rows of one span into its prompt and response, read the same way as span events.

Examples
--------
>>> body = orjson.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
...     "timeUnixNano": "1767225600000000000", "eventName": "gen_ai.user.message",
...     "traceId": "ab" * 16, "spanId": "cd" * 8,
...     "body": {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": "hi"}}]}},
... }]}]}]})
>>> rows, rejected = decode_logs(body, protobuf=False)
>>> rows[0]["event_name"], rows[0]["span_id"], rejected
('gen_ai.user.message', 'cdcdcdcdcdcdcdcd', [])
>>> span_texts(rows)
([('user', 'hi')], [], None)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa

from mlwarden.errors import ValidationError
from mlwarden.schema.batch import Rejection
from mlwarden.schema.genai_messages import Message, finish_reasons, prompt_and_response
from mlwarden.schema.otlp import (
    _get,
    _hex_id,
    _int,
    _json_attrs,
    _json_value,
    _pb_attrs,
    _pb_value,
    json_resources,
)

__all__ = [
    "DETAILS_EVENT",
    "LOG_SCHEMA",
    "TEXT_COLUMNS",
    "decode_logs",
    "logs_of_request",
    "logs_table",
    "span_texts",
]

#: The event that holds a whole call's messages as GenAI attributes.
DETAILS_EVENT = "gen_ai.client.inference.operation.details"

#: Span columns set from the texts of its log records (with ``trace_id`` and ``span_id``).
TEXT_COLUMNS = (
    "prompt",
    "response",
    "content_source",
    "finish_reason",
    "pii_in_prompt",
    "pii_in_response",
    "injection",
    "injection_score",
    "refusal",
    "findings",
)
#: One row per log record (stored as the ``span_logs`` table).
LOG_SCHEMA = pa.schema(
    [
        ("project", pa.string()),
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("time", pa.timestamp("us")),
        ("event_name", pa.string()),
        ("severity", pa.string()),
        ("service_name", pa.string()),
        ("attributes", pa.string()),
        ("body", pa.string()),
    ]
)


def _row(
    index: int,
    *,
    trace_id: Any,
    span_id: Any,
    time_ns: int,
    event_name: str,
    severity: str,
    attributes: dict[str, Any],
    body: Any,
    resource: Mapping[str, Any],
) -> dict[str, Any]:
    name = event_name or str(attributes.get("event.name") or "")
    return {
        "index": index,
        "trace_id": _hex_id(trace_id, 16, "traceId") or None,
        "span_id": _hex_id(span_id, 8, "spanId") or None,
        "time_ns": time_ns,
        "event_name": name or None,
        "severity": severity or None,
        "service_name": str(resource["service.name"]) if "service.name" in resource else None,
        "attributes": attributes,
        "body": body,
    }


def _decode_json(body: bytes) -> tuple[list[dict[str, Any]], list[Rejection]]:
    rl_list = json_resources(body, "ExportLogsServiceRequest", "resourceLogs", "resource_logs")
    rows: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    index = 0
    for rl in rl_list:
        try:
            resource = _json_attrs(((rl or {}).get("resource") or {}).get("attributes"))
            scopes = _get(rl, "scopeLogs", "scope_logs", default=[]) or []
        except (ValueError, AttributeError, TypeError) as exc:
            raise ValidationError(f"resourceLogs is malformed: {exc}") from exc
        for sl in scopes if isinstance(scopes, list) else []:
            for r in _get(sl or {}, "logRecords", "log_records", default=[]) or []:
                try:
                    time_ns = _int(_get(r, "timeUnixNano", "time_unix_nano"), "timeUnixNano")
                    observed = _get(r, "observedTimeUnixNano", "observed_time_unix_nano")
                    body_value = _get(r, "body")
                    rows.append(
                        _row(
                            index,
                            trace_id=_get(r, "traceId", "trace_id"),
                            span_id=_get(r, "spanId", "span_id"),
                            time_ns=time_ns or _int(observed, "observedTimeUnixNano"),
                            event_name=str(_get(r, "eventName", "event_name", default="") or ""),
                            severity=str(_get(r, "severityText", "severity_text", default="")),
                            attributes=_json_attrs(r.get("attributes")),
                            body=_json_value(body_value) if body_value else None,
                            resource=resource,
                        )
                    )
                except (ValueError, TypeError, AttributeError) as exc:
                    rejected.append(Rejection(index, "logRecord", str(exc), None))
                index += 1
    return rows, rejected


def _decode_protobuf(body: bytes) -> tuple[list[dict[str, Any]], list[Rejection]]:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    try:
        req = ExportLogsServiceRequest.FromString(body)
    except (DecodeError, ValueError) as exc:
        raise ValidationError(
            f"The body is not a valid protobuf ExportLogsServiceRequest: {exc}"
        ) from exc
    return logs_of_request(req)


def logs_of_request(req: Any) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Rows of a decoded protobuf ``ExportLogsServiceRequest`` (HTTP and gRPC alike)."""
    rows: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    index = 0
    for rl in req.resource_logs:
        resource = _pb_attrs(rl.resource.attributes)
        for sl in rl.scope_logs:
            for r in sl.log_records:
                try:
                    rows.append(
                        _row(
                            index,
                            trace_id=r.trace_id,
                            span_id=r.span_id,
                            time_ns=r.time_unix_nano or r.observed_time_unix_nano,
                            event_name=r.event_name,
                            severity=r.severity_text,
                            attributes=_pb_attrs(r.attributes),
                            body=_pb_value(r.body) if r.HasField("body") else None,
                            resource=resource,
                        )
                    )
                except ValueError as exc:
                    rejected.append(Rejection(index, "logRecord", str(exc), None))
                index += 1
    return rows, rejected


def decode_logs(body: bytes, *, protobuf: bool) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Rows (working dicts: ids as hex or None, ``time_ns``, attributes and body as values) of
    an ``ExportLogsServiceRequest``; records with malformed ids are rejected with the reason."""
    if not body.strip():
        raise ValidationError("The body is empty; expected an ExportLogsServiceRequest.")
    return _decode_protobuf(body) if protobuf else _decode_json(body)


def logs_table(rows: Sequence[Mapping[str, Any]], project: str) -> pa.Table:
    """Rows of :func:`decode_logs` as an Arrow table of :data:`LOG_SCHEMA`."""

    def dump(v: Any) -> str | None:
        return None if v is None else orjson.dumps(v, default=str).decode()

    return pa.table(
        {
            "project": pa.array([project] * len(rows), pa.string()),
            "trace_id": pa.array([r["trace_id"] for r in rows], pa.string()),
            "span_id": pa.array([r["span_id"] for r in rows], pa.string()),
            "time": pa.array([r["time_ns"] // 1000 for r in rows], pa.timestamp("us")),
            "event_name": pa.array([r["event_name"] for r in rows], pa.string()),
            "severity": pa.array([r["severity"] for r in rows], pa.string()),
            "service_name": pa.array([r["service_name"] for r in rows], pa.string()),
            "attributes": pa.array([dump(r["attributes"]) for r in rows], pa.string()),
            "body": pa.array([dump(r["body"]) for r in rows], pa.string()),
        },
        schema=LOG_SCHEMA,
    )


def _loaded(v: Any) -> Any:
    return orjson.loads(v) if isinstance(v, str) else v


def span_texts(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[list[Message], list[Message], str | None]:
    """(input messages, output messages, finish reason) of one span from its log records (working rows or
    stored ones, whose attributes and body are JSON text), in time order."""
    attrs: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    for r in sorted(rows, key=lambda r: r.get("time_ns") or r.get("time") or 0):
        a = _loaded(r.get("attributes")) or {}
        body = _loaded(r.get("body"))
        if r.get("event_name") == DETAILS_EVENT:
            attrs.update(a)
            if isinstance(body, Mapping):
                attrs.update(body)
            continue
        fields = dict(body) if isinstance(body, Mapping) else {"content": body}
        events.append({"name": r.get("event_name") or "", "attributes": {**a, **fields}})
    ins, outs = prompt_and_response(attrs, events)
    reasons = finish_reasons(attrs) or [
        str(e["attributes"]["finish_reason"])
        for e in events
        if e["name"] == "gen_ai.choice" and e["attributes"].get("finish_reason")
    ]
    return ins, outs, ",".join(reasons) or None
