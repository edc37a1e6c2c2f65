"""OTLP trace export requests on the wire: decode protobuf and JSON, encode JSON and replies.

Both encodings of ``ExportTraceServiceRequest`` (OTLP/HTTP, protobuf
``application/x-protobuf`` and JSON ``application/json``) are decoded into the
same plain :class:`RawSpan` records; :mod:`mlwarden.schema.genai` turns those
into span table rows. JSON follows the OTLP/JSON rules: ids are hex (base64 is
accepted too), 64-bit integers may be strings, enums may be numbers or names,
and keys may be lowerCamelCase or snake_case.

A body that is not a request at all raises :class:`~mlwarden.errors.ValidationError`
with the reason (the server answers 400); a single span that cannot be read
becomes a :class:`~mlwarden.schema.batch.Rejection` instead, and the rest of
the request is kept.

Examples
--------
>>> body = encode_json([SpanData("ab" * 16, "cd" * 8, "chat", 1_000, 2_000,
...                              attributes={"gen_ai.request.model": "gpt-4o"})],
...                    resource={"service.name": "bot"})
>>> spans, rejected = decode_json(body)
>>> spans[0].span_id, spans[0].attributes, spans[0].resource["service.name"], rejected
('cdcdcdcdcdcdcdcd', {'gen_ai.request.model': 'gpt-4o'}, 'bot', [])
"""

from __future__ import annotations

import base64
import binascii
import importlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from mlwarden.errors import ValidationError, expected
from mlwarden.schema.batch import Rejection
from mlwarden.schema.limits import MAX_DEPTH, check_depth

__all__ = [
    "JSON_TYPE",
    "PROTOBUF_TYPE",
    "RawSpan",
    "SpanData",
    "decode_json",
    "decode_protobuf",
    "encode_json",
    "error_reply",
    "export_reply",
]

PROTOBUF_TYPE = "application/x-protobuf"
JSON_TYPE = "application/json"
KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS = ("unset", "ok", "error")


@dataclass
class RawSpan:
    """One span as it came in: ids as hex, times in ns since the epoch, attributes as Python
    values (arrays are lists, key-value lists are dicts, bytes are base64 text)."""

    index: int
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status_code: str
    status_message: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""


@dataclass(frozen=True)
class SpanData:
    """A span to encode (what the SDK produces): ids in hex, times in ns since the epoch."""

    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: str | None = None
    kind: str = "internal"
    attributes: Mapping[str, Any] = field(default_factory=dict)
    status_code: str = "unset"
    status_message: str = ""
    events: Sequence[Mapping[str, Any]] = ()


# -- ids -------------------------------------------------------------------------------------
def _hex_id(raw: Any, size: int, what: str) -> str:
    """An id as lowercase hex of ``size`` bytes; '' when absent. Raises ValueError if invalid."""
    if raw is None or raw == "" or raw == b"":
        return ""
    if isinstance(raw, bytes):
        data = raw
    elif isinstance(raw, str):
        try:
            data = (
                bytes.fromhex(raw) if len(raw) == 2 * size else base64.b64decode(raw, validate=True)
            )
        except (ValueError, binascii.Error):
            raise ValueError(expected("field", what, f"be {2 * size} hex digits", raw)) from None
    else:
        raise ValueError(expected("field", what, f"be {2 * size} hex digits", raw))
    if len(data) != size:
        raise ValueError(expected("field", what, f"be {size} bytes ({2 * size} hex digits)", raw))
    return data.hex()


# -- JSON ------------------------------------------------------------------------------------
def _get(d: Mapping[str, Any], camel: str, snake: str | None = None, default: Any = None) -> Any:
    if camel in d:
        return d[camel]
    if snake is not None and snake in d:
        return d[snake]
    return default


def _int(v: Any, what: str) -> int:
    if v is None or v == "":
        return 0
    if isinstance(v, bool) or not isinstance(v, int | str | float):
        raise ValueError(expected("field", what, "be an integer", v))
    try:
        return int(v)
    except ValueError:
        raise ValueError(expected("field", what, "be an integer", v)) from None


def _json_value(v: Any) -> Any:
    if not isinstance(v, Mapping):
        raise ValueError(expected("field", "value", "be an AnyValue object", v))
    for key, conv in (
        ("stringValue", str),
        ("string_value", str),
        ("boolValue", bool),
        ("bool_value", bool),
    ):
        if key in v:
            return conv(v[key])
    for key in ("intValue", "int_value"):
        if key in v:
            return _int(v[key], "intValue")
    for key in ("doubleValue", "double_value"):
        if key in v:
            return float(v[key])
    arr = _get(v, "arrayValue", "array_value")
    if arr is not None:
        return [_json_value(x) for x in (arr.get("values") or [])]
    kv = _get(v, "kvlistValue", "kvlist_value")
    if kv is not None:
        return _json_attrs(kv.get("values") or [])
    b = _get(v, "bytesValue", "bytes_value")
    if b is not None:
        return str(b)
    return None


def _json_attrs(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise ValueError(expected("field", "attributes", "be a list of key-value pairs", items))
    out: dict[str, Any] = {}
    for kv in items:
        if not isinstance(kv, Mapping) or not isinstance(kv.get("key"), str):
            raise ValueError(expected("field", "attributes", "hold {key, value} objects", kv))
        out[kv["key"]] = _json_value(kv.get("value") or {})
    return out


def _enum(v: Any, names: tuple[str, ...], prefix: str, what: str) -> str:
    if v is None or v == "":
        return names[0]
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(names):
        return names[v]
    if isinstance(v, str):
        name = v.upper().removeprefix(prefix).lower()
        if name in names:
            return name
        if v.isdigit() and int(v) < len(names):
            return names[int(v)]
    raise ValueError(expected("field", what, f"be one of {', '.join(names)}", v))


def _json_span(s: Any, index: int, resource: dict[str, Any], scope: str) -> RawSpan:
    if not isinstance(s, Mapping):
        raise ValueError(expected("field", "span", "be an object", s))
    status = _get(s, "status", default={}) or {}
    events = []
    for e in _get(s, "events", default=[]) or []:
        events.append(
            {
                "name": str(e.get("name", "")),
                "time_ns": _int(_get(e, "timeUnixNano", "time_unix_nano"), "timeUnixNano"),
                "attributes": _json_attrs(e.get("attributes")),
            }
        )
    parent = _hex_id(_get(s, "parentSpanId", "parent_span_id"), 8, "parentSpanId")
    return RawSpan(
        index=index,
        trace_id=_hex_id(_get(s, "traceId", "trace_id"), 16, "traceId"),
        span_id=_hex_id(_get(s, "spanId", "span_id"), 8, "spanId"),
        parent_span_id=parent or None,
        name=str(s.get("name", "")),
        kind=_enum(s.get("kind"), KINDS, "SPAN_KIND_", "kind"),
        start_ns=_int(_get(s, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano"),
        end_ns=_int(_get(s, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano"),
        status_code=_enum(status.get("code"), STATUS, "STATUS_CODE_", "status.code"),
        status_message=str(status.get("message", "") or ""),
        attributes=_json_attrs(s.get("attributes")),
        events=events,
        resource=resource,
        scope=scope,
    )


def _summary(s: Any) -> Any:
    if isinstance(s, Mapping):
        return {k: s.get(k) for k in ("traceId", "spanId", "name", "trace_id", "span_id") if k in s}
    return s


def json_resources(body: bytes, request: str, field: str, snake: str) -> list[Any]:
    """The resource list (``field``, or its ``snake`` spelling) of an OTLP/JSON export
    ``request`` body: valid JSON, within the nesting limit, an object, a list there."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"The body is not valid JSON: {exc}") from exc
    # a span is 8 levels deep and each nested AnyValue array 3 more: room for ~15 nestings
    check_depth(data, limit=2 * MAX_DEPTH)
    if not isinstance(data, dict):
        raise ValidationError(
            expected("body", "body", f"be an {request} object", type(data).__name__)
        )
    found = _get(data, field, snake, default=[])
    if not isinstance(found, list):
        raise ValidationError(expected("field", field, "be a list", found))
    return found


def decode_json(body: bytes) -> tuple[list[RawSpan], list[Rejection]]:
    """Spans of an OTLP/JSON ``ExportTraceServiceRequest``; spans that cannot be read are
    returned as rejections (index = position among the request's spans)."""
    if not body.strip():
        raise ValidationError("The body is empty; expected an OTLP/JSON ExportTraceServiceRequest.")
    rs_list = json_resources(body, "ExportTraceServiceRequest", "resourceSpans", "resource_spans")
    spans: list[RawSpan] = []
    rejected: list[Rejection] = []
    index = 0
    for i, rs in enumerate(rs_list):
        try:
            resource = _json_attrs(((rs or {}).get("resource") or {}).get("attributes"))
            scope_spans = _get(rs, "scopeSpans", "scope_spans", default=[]) or []
            if not isinstance(scope_spans, list):
                raise ValueError(expected("field", "scopeSpans", "be a list", scope_spans))
        except (ValueError, AttributeError, TypeError) as exc:
            raise ValidationError(f"resourceSpans[{i}] is malformed: {exc}") from exc
        for ss in scope_spans:
            scope = str(((ss or {}).get("scope") or {}).get("name", ""))
            for s in (ss or {}).get("spans") or []:
                try:
                    spans.append(_json_span(s, index, resource, scope))
                except (ValueError, TypeError, AttributeError) as exc:
                    rejected.append(Rejection(index, "span", str(exc), _summary(s)))
                index += 1
    return spans, rejected


# -- protobuf --------------------------------------------------------------------------------
def _pb_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which == "string_value":  # most attributes: one branch, before the rarer kinds
        return v.string_value
    if which is None:
        return None
    if which == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, which)


def _pb_attrs(items: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in items}


def _pb_id(raw: bytes, size: int, what: str) -> str:
    """A protobuf id field (bytes) as hex: :func:`_hex_id` without its checks when the size
    is right."""
    return raw.hex() if len(raw) == size else _hex_id(raw, size, what)


def decode_protobuf(body: bytes) -> tuple[list[RawSpan], list[Rejection]]:
    """Spans of a protobuf ``ExportTraceServiceRequest``."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    try:
        req = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, ValueError) as exc:
        raise ValidationError(
            f"The body is not a valid protobuf ExportTraceServiceRequest: {exc}"
        ) from exc
    spans: list[RawSpan] = []
    rejected: list[Rejection] = []
    index = 0
    for rs in req.resource_spans:
        resource = _pb_attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                try:
                    spans.append(
                        RawSpan(
                            index=index,
                            trace_id=_pb_id(s.trace_id, 16, "traceId"),
                            span_id=_pb_id(s.span_id, 8, "spanId"),
                            parent_span_id=_pb_id(s.parent_span_id, 8, "parentSpanId") or None,
                            name=s.name,
                            kind=KINDS[s.kind] if 0 <= s.kind < len(KINDS) else "unspecified",
                            start_ns=s.start_time_unix_nano,
                            end_ns=s.end_time_unix_nano,
                            status_code=STATUS[s.status.code] if s.status.code < 3 else "unset",
                            status_message=s.status.message,
                            attributes=_pb_attrs(s.attributes),
                            events=[
                                {
                                    "name": e.name,
                                    "time_ns": e.time_unix_nano,
                                    "attributes": _pb_attrs(e.attributes),
                                }
                                for e in s.events
                            ],
                            resource=resource,
                            scope=ss.scope.name,
                        )
                    )
                except ValueError as exc:
                    summary = {
                        "traceId": s.trace_id.hex(),
                        "spanId": s.span_id.hex(),
                        "name": s.name,
                    }
                    rejected.append(Rejection(index, "span", str(exc), summary))
                index += 1
    return spans, rejected


# -- replies ---------------------------------------------------------------------------------
def partial_reply(
    response: str, field: str, rejected: int, message: str, *, protobuf: bool
) -> bytes:
    """An OTLP ``Export*ServiceResponse`` (``response``: its generated class, by dotted path,
    imported only for a protobuf reply), with ``partial_success`` when ``rejected`` items (its
    ``field``, e.g. ``rejected_spans``) were refused.

    Examples
    --------
    >>> partial_reply("x.Unused", "rejected_data_points", 3, "bad", protobuf=False)
    b'{"partialSuccess":{"rejectedDataPoints":3,"errorMessage":"bad"}}'
    """
    if protobuf:
        module, _, name = response.rpartition(".")
        resp = getattr(importlib.import_module(module), name)()
        if rejected:
            setattr(resp.partial_success, field, rejected)
            resp.partial_success.error_message = message
        return bytes(resp.SerializeToString())
    if not rejected:
        return b"{}"
    head, *rest = field.split("_")
    camel = head + "".join(w.capitalize() for w in rest)
    return orjson.dumps({"partialSuccess": {camel: rejected, "errorMessage": message}})


def export_reply(rejected: int, message: str, *, protobuf: bool) -> bytes:
    """An ``ExportTraceServiceResponse``; ``partial_success`` when spans were rejected.

    Examples
    --------
    >>> export_reply(0, "", protobuf=False)
    b'{}'
    >>> export_reply(2, "2 spans have no spanId", protobuf=False)
    b'{"partialSuccess":{"rejectedSpans":2,"errorMessage":"2 spans have no spanId"}}'
    """
    return partial_reply(
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2.ExportTraceServiceResponse",
        "rejected_spans",
        rejected,
        message,
        protobuf=protobuf,
    )


def error_reply(code: int, message: str, *, protobuf: bool) -> bytes:
    """A ``google.rpc.Status`` for a failed export (protobuf: fields 1 ``code``, 2 ``message``,
    encoded by hand to need no extra package); JSON adds mlwarden's ``error`` object.

    Examples
    --------
    >>> error_reply(3, "bad", protobuf=True)
    b'\\x08\\x03\\x12\\x03bad'
    """
    if protobuf:
        msg = message.encode()
        return b"\x08" + _varint(code) + b"\x12" + _varint(len(msg)) + msg
    return orjson.dumps(
        {"code": code, "message": message, "error": {"type": "ValidationError", "message": message}}
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


# -- encoding (SDK side) ---------------------------------------------------------------------
def _any(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, list | tuple):
        return {"arrayValue": {"values": [_any(x) for x in v]}}
    if isinstance(v, Mapping):
        return {"kvlistValue": {"values": _kvs(v)}}
    return {"stringValue": str(v)}


def _kvs(attrs: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": str(k), "value": _any(v)} for k, v in attrs.items() if v is not None]


def encode_json(
    spans: Iterable[SpanData], *, resource: Mapping[str, Any] | None = None, scope: str = "mlwarden"
) -> bytes:
    """An OTLP/JSON ``ExportTraceServiceRequest`` holding ``spans`` under one resource."""
    out = []
    for s in spans:
        span: dict[str, Any] = {
            "traceId": s.trace_id,
            "spanId": s.span_id,
            "name": s.name,
            "kind": KINDS.index(s.kind) if s.kind in KINDS else 1,
            "startTimeUnixNano": str(s.start_ns),
            "endTimeUnixNano": str(s.end_ns),
            "attributes": _kvs(s.attributes),
            "status": {"code": STATUS.index(s.status_code), "message": s.status_message},
        }
        if s.parent_span_id:
            span["parentSpanId"] = s.parent_span_id
        if s.events:
            span["events"] = [
                {
                    "name": e.get("name", ""),
                    "timeUnixNano": str(e.get("time_ns", s.start_ns)),
                    "attributes": _kvs(e.get("attributes") or {}),
                }
                for e in s.events
            ]
        out.append(span)
    req = {
        "resourceSpans": [
            {
                "resource": {"attributes": _kvs(resource or {})},
                "scopeSpans": [{"scope": {"name": scope}, "spans": out}],
            }
        ]
    }
    return orjson.dumps(req)
