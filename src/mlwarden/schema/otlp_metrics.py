"""OTLP metric export requests: GenAI client and server metrics into data point rows.

The GenAI conventions define ``gen_ai.client.token.usage`` (histogram of tokens, by
``gen_ai.token.type``), ``gen_ai.client.operation.duration`` (s),
``gen_ai.server.time_to_first_token`` (s) and ``gen_ai.server.request.duration``; LiteLLM
and others send their own (e.g. a time-to-first-token histogram). Every metric of a request
is kept, one row per data point (:data:`METRIC_SCHEMA`): sums and gauges as ``value``,
histograms as ``count``, ``sum``, ``min``, ``max`` and their buckets. ``temporality`` says
whether a point covers the interval since the previous one (``delta``) or since
``start_time`` (``cumulative``: the newest point of a series is its total).

Examples
--------
>>> body = orjson.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{
...     "name": "gen_ai.client.token.usage", "unit": "{token}",
...     "histogram": {"aggregationTemporality": 2, "dataPoints": [{
...         "timeUnixNano": "1767225600000000000", "count": "2", "sum": 30,
...         "attributes": [{"key": "gen_ai.token.type", "value": {"stringValue": "input"}},
...                        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}}],
...     }]}}]}]}]})
>>> (p,), rejected = decode_metrics(body, protobuf=False)
>>> p["name"], p["kind"], p["temporality"], p["count"], p["sum"], p["model"], p["token_type"]
('gen_ai.client.token.usage', 'histogram', 'cumulative', 2, 30.0, 'gpt-4o', 'input')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa

from mlwarden.errors import ValidationError, expected
from mlwarden.schema.batch import Rejection
from mlwarden.schema.otlp import _get, _int, _json_attrs, _pb_attrs, json_resources

__all__ = ["METRIC_SCHEMA", "decode_metrics", "metrics_of_request", "metrics_table"]

#: One row per data point (stored as the ``llm_metrics`` table).
METRIC_SCHEMA = pa.schema(
    [
        ("project", pa.string()),
        ("service_name", pa.string()),
        ("name", pa.string()),
        ("unit", pa.string()),
        ("kind", pa.string()),
        ("temporality", pa.string()),
        ("start_time", pa.timestamp("us")),
        ("time", pa.timestamp("us")),
        ("model", pa.string()),
        ("operation", pa.string()),
        ("token_type", pa.string()),
        ("value", pa.float64()),
        ("count", pa.int64()),
        ("sum", pa.float64()),
        ("min", pa.float64()),
        ("max", pa.float64()),
        ("bounds", pa.string()),
        ("bucket_counts", pa.string()),
        ("attributes", pa.string()),
    ]
)
TEMPORALITY = ("unspecified", "delta", "cumulative")
_MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "model")


def _point(
    *,
    resource: Mapping[str, Any],
    name: str,
    unit: str,
    kind: str,
    temporality: str,
    attrs: dict[str, Any],
    start_ns: int,
    time_ns: int,
    **values: Any,
) -> dict[str, Any]:
    model = next((attrs[k] for k in _MODEL if attrs.get(k)), None)
    return {
        "service_name": str(resource["service.name"]) if "service.name" in resource else None,
        "name": name,
        "unit": unit or None,
        "kind": kind,
        "temporality": temporality,
        "start_ns": start_ns or None,
        "time_ns": time_ns,
        "model": None if model is None else str(model),
        "operation": _str(attrs.get("gen_ai.operation.name")),
        "token_type": _str(attrs.get("gen_ai.token.type")),
        "attributes": attrs,
        **{k: values.get(k) for k in ("value", "count", "sum", "min", "max")},
        "bounds": values.get("bounds"),
        "bucket_counts": values.get("bucket_counts"),
    }


def _str(v: Any) -> str | None:
    return None if v is None or v == "" else str(v)


def _temporality(v: Any) -> str:
    if isinstance(v, int) and 0 <= v < len(TEMPORALITY):
        return TEMPORALITY[v]
    name = str(v or "").upper().removeprefix("AGGREGATION_TEMPORALITY_").lower()
    if name in TEMPORALITY:
        return name
    raise ValueError(expected("field", "aggregationTemporality", "be DELTA or CUMULATIVE", v))


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _json_metric(m: Mapping[str, Any], resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    name, unit = str(m.get("name", "")), str(m.get("unit", "") or "")
    if not name:
        raise ValueError(expected("field", "name", "be set", m.get("name")))
    out = []
    for kind in ("gauge", "sum", "histogram"):
        data = m.get(kind)
        if data is None:
            continue
        temporality = (
            "delta" if kind == "gauge" else _temporality(_get(data, "aggregationTemporality",
                                                              "aggregation_temporality"))
        )  # fmt: skip
        for p in _get(data, "dataPoints", "data_points", default=[]) or []:
            common: dict[str, Any] = {
                "resource": resource,
                "name": name,
                "unit": unit,
                "kind": kind,
                "temporality": temporality,
                "attrs": _json_attrs(p.get("attributes")),
                "start_ns": _int(_get(p, "startTimeUnixNano", "start_time_unix_nano"), "start"),
                "time_ns": _int(_get(p, "timeUnixNano", "time_unix_nano"), "timeUnixNano"),
            }
            if kind == "histogram":
                bounds = _get(p, "explicitBounds", "explicit_bounds", default=[]) or []
                buckets = _get(p, "bucketCounts", "bucket_counts", default=[]) or []
                out.append(
                    _point(
                        **common,
                        count=_int(p.get("count"), "count"),
                        sum=_num(p.get("sum")),
                        min=_num(p.get("min")),
                        max=_num(p.get("max")),
                        bounds=[float(b) for b in bounds],
                        bucket_counts=[_int(c, "bucketCounts") for c in buckets],
                    )
                )
            else:
                v = _get(p, "asDouble", "as_double")
                if v is None:
                    v = _int(_get(p, "asInt", "as_int"), "asInt")
                out.append(_point(**common, value=float(v)))
    return out


def _decode_json(body: bytes) -> tuple[list[dict[str, Any]], list[Rejection]]:
    rm_list = json_resources(
        body, "ExportMetricsServiceRequest", "resourceMetrics", "resource_metrics"
    )
    points: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    index = 0
    for rm in rm_list:
        try:
            resource = _json_attrs(((rm or {}).get("resource") or {}).get("attributes"))
            scopes = _get(rm, "scopeMetrics", "scope_metrics", default=[]) or []
        except (ValueError, AttributeError, TypeError) as exc:
            raise ValidationError(f"resourceMetrics is malformed: {exc}") from exc
        for sm in scopes if isinstance(scopes, list) else []:
            for m in _get(sm or {}, "metrics", default=[]) or []:
                try:
                    points += _json_metric(m, resource)
                except (ValueError, TypeError, AttributeError) as exc:
                    rejected.append(Rejection(index, "metric", str(exc), None))
                index += 1
    return points, rejected


def metrics_of_request(req: Any) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Data points of a decoded protobuf ``ExportMetricsServiceRequest`` (HTTP and gRPC)."""
    points: list[dict[str, Any]] = []
    for rm in req.resource_metrics:
        resource = _pb_attrs(rm.resource.attributes)
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind not in ("gauge", "sum", "histogram"):
                    continue  # exponential histograms and summaries are not GenAI's
                data = getattr(m, kind)
                temporality = (
                    "delta" if kind == "gauge" else TEMPORALITY[data.aggregation_temporality % 3]
                )
                for p in data.data_points:
                    common: dict[str, Any] = {
                        "resource": resource,
                        "name": m.name,
                        "unit": m.unit,
                        "kind": kind,
                        "temporality": temporality,
                        "attrs": _pb_attrs(p.attributes),
                        "start_ns": p.start_time_unix_nano,
                        "time_ns": p.time_unix_nano,
                    }
                    if kind == "histogram":
                        points.append(
                            _point(
                                **common,
                                count=p.count,
                                sum=p.sum if p.HasField("sum") else None,
                                min=p.min if p.HasField("min") else None,
                                max=p.max if p.HasField("max") else None,
                                bounds=list(p.explicit_bounds),
                                bucket_counts=list(p.bucket_counts),
                            )
                        )
                    else:
                        which = p.WhichOneof("value")
                        value = float(getattr(p, which)) if which else None
                        points.append(_point(**common, value=value))
    return points, []


def decode_metrics(body: bytes, *, protobuf: bool) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Data points of an ``ExportMetricsServiceRequest``; unreadable metrics are rejected."""
    if not body.strip():
        raise ValidationError("The body is empty; expected an ExportMetricsServiceRequest.")
    if not protobuf:
        return _decode_json(body)
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    try:
        req = ExportMetricsServiceRequest.FromString(body)
    except (DecodeError, ValueError) as exc:
        raise ValidationError(
            f"The body is not a valid protobuf ExportMetricsServiceRequest: {exc}"
        ) from exc
    return metrics_of_request(req)


def metrics_table(points: Sequence[Mapping[str, Any]], project: str) -> pa.Table:
    """Points of :func:`decode_metrics` as an Arrow table of :data:`METRIC_SCHEMA`."""

    def dump(v: Any) -> str | None:
        return None if v is None else orjson.dumps(v, default=str).decode()

    cols: dict[str, list[Any]] = {f.name: [] for f in METRIC_SCHEMA}
    for p in points:
        for name, values in cols.items():
            if name == "project":
                values.append(project)
            elif name == "start_time":
                values.append(p["start_ns"] // 1000 if p["start_ns"] else None)
            elif name == "time":
                values.append(p["time_ns"] // 1000)
            elif name in ("bounds", "bucket_counts", "attributes"):
                values.append(dump(p[name]))
            else:
                values.append(p[name])
    return pa.table(
        {f.name: pa.array(cols[f.name], f.type) for f in METRIC_SCHEMA}, schema=METRIC_SCHEMA
    )
