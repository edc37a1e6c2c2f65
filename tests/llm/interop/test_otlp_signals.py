"""OTLP logs and metrics from the real OpenTelemetry SDK exporters into the real server.

Content captured "in event mode" arrives as log records carrying the span's ids, before or
after the span itself; GenAI client metrics arrive as histograms. Also: what the trace API
and the LLM tab say when a stream reported no tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanKind

from mlwarden.schema.otlp import SpanData, encode_json
from serverproc import ServerProcess

APP = "events-app"
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 20,
        "gen_ai.usage.output_tokens": 5}  # fmt: skip
PB = "application/x-protobuf"
USER_TEXT = "Capital of France? Mail jane.doe@example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("signals") / "data").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _providers(server: ServerProcess) -> tuple[TracerProvider, LoggerProvider]:
    resource = Resource.create({"service.name": APP})
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{server.url}/v1/traces")))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(f"{server.url}/v1/logs")))
    return tp, lp


def _emit_messages(lp: LoggerProvider) -> None:
    """What opentelemetry-instrumentation-openai-v2 emits with content capture in event mode."""
    logger = lp.get_logger("opentelemetry.instrumentation.openai_v2")
    logger.emit(event_name="gen_ai.system.message", body={"content": "Be brief."},
                attributes={"gen_ai.system": "openai"})  # fmt: skip
    logger.emit(event_name="gen_ai.user.message", body={"content": USER_TEXT},
                attributes={"gen_ai.system": "openai"})  # fmt: skip
    logger.emit(
        event_name="gen_ai.choice",
        body={"index": 0, "finish_reason": "stop",
              "message": {"role": "assistant", "content": "Paris."}},
        attributes={"gen_ai.system": "openai"},
    )  # fmt: skip


def _span(http: httpx.Client, trace_id: str) -> dict[str, Any]:
    r = http.get("/v1/llm/spans", params={"trace_id": trace_id})
    assert r.status_code == 200, r.text
    (span,) = r.json()["spans"]
    return dict(span)


@pytest.mark.parametrize("logs_first", [False, True], ids=["span-first", "logs-first"])
def test_event_mode_messages_reach_their_span(
    server: ServerProcess, http: httpx.Client, logs_first: bool
) -> None:
    tp, lp = _providers(server)
    with tp.get_tracer("openai").start_as_current_span(
        "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=CHAT
    ) as span:
        ctx = span.get_span_context()
        if logs_first:
            _emit_messages(lp)  # exported (simple processor) before the span ends
    trace_id, span_id = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
    if not logs_first:
        assert _span(http, trace_id)["prompt"] is None  # stored without its texts
        with trace.use_span(NonRecordingSpan(ctx)):
            _emit_messages(lp)
    tp.shutdown()
    lp.shutdown()
    chat = _span(http, trace_id)
    assert chat["span_id"] == span_id
    assert chat["prompt"] == f"system: Be brief.\nuser: {USER_TEXT}"
    assert chat["response"] == "Paris." and chat["finish_reason"] == "stop"
    assert chat["pii_in_prompt"] is True and chat["findings"][0]["type"] == "email"
    assert chat["input_tokens"] == 20  # the span's own columns are kept


def test_operation_details_event_in_otlp_json(http: httpx.Client) -> None:
    """The newer single event holding the GenAI message attributes, sent as OTLP/JSON."""
    tid, sid = "5e" * 16, "6f" * 8
    now = datetime.now(UTC)
    t0 = int(now.timestamp()) * 10**9
    span = SpanData(tid, sid, "chat", t0, t0 + 10**9, attributes=CHAT)
    r = http.post("/v1/traces", content=encode_json([span], resource={"service.name": APP}),
                  headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 200, r.text
    msgs = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Hi there"}]}])
    out = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}],
                       "finish_reason": "length"}])  # fmt: skip
    attrs = [{"key": "gen_ai.input.messages", "value": {"stringValue": msgs}},
             {"key": "gen_ai.output.messages", "value": {"stringValue": out}}]  # fmt: skip
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": str(t0), "eventName": "gen_ai.client.inference.operation.details",
        "traceId": tid, "spanId": sid, "attributes": attrs}]}]}]}  # fmt: skip
    r = http.post("/v1/logs", json=body)
    assert (r.status_code, r.json()) == (200, {})
    got = _span(http, tid)
    assert (got["prompt"], got["response"], got["finish_reason"]) == (
        "user: Hi there",
        "Hello",
        "length",
    )
    bad = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz", "eventName": "x"}]}]}]}
    r = http.post("/v1/logs", json=bad)
    assert r.status_code == 200 and r.json()["partialSuccess"]["rejectedLogRecords"] == 1
    assert http.post("/v1/logs", content=b"{", headers={"content-type": "application/json"}
                     ).status_code == 400  # fmt: skip


def test_genai_client_metrics_from_the_sdk_exporter(
    server: ServerProcess, http: httpx.Client
) -> None:
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(f"{server.url}/v1/metrics"), export_interval_millis=3_600_000
    )
    mp = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": APP}))
    meter = mp.get_meter("opentelemetry.instrumentation.openai_v2")
    tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}")
    ttft = meter.create_histogram("gen_ai.server.time_to_first_token", unit="s")
    model = {"gen_ai.request.model": "gpt-4o-mini", "gen_ai.operation.name": "chat"}
    for n_in, n_out in ((100, 10), (50, 30)):
        tokens.record(n_in, {**model, "gen_ai.token.type": "input"})
        tokens.record(n_out, {**model, "gen_ai.token.type": "output"})
    ttft.record(0.25, model)
    assert mp.force_flush(30_000)
    tokens.record(10, {**model, "gen_ai.token.type": "input"})  # a second cumulative export
    assert mp.force_flush(30_000)
    mp.shutdown()
    rows = http.get("/v1/llm/metrics").json()
    # cumulative: each export repeats the running totals, which count once
    got = {(r["name"], r["token_type"]): (r["count"], r["sum"]) for r in rows}
    assert got[("gen_ai.client.token.usage", "input")] == (3, 160.0)
    assert got[("gen_ai.client.token.usage", "output")] == (2, 40.0)
    assert all(r["points"] >= 2 for r in rows)
    assert got[("gen_ai.server.time_to_first_token", None)][:2] == (1, 0.25)
    assert {r["model"] for r in rows} == {"gpt-4o-mini"}
    r = http.post("/v1/metrics", content=b"\xff\xff", headers={"content-type": PB})
    assert r.status_code == 400


def test_a_trace_without_reported_tokens_says_so(http: httpx.Client) -> None:
    tid = "7a" * 16
    t0 = int((datetime.now(UTC) - timedelta(minutes=5)).timestamp()) * 10**9
    attrs = {**CHAT, "gen_ai.usage.input_tokens": 0, "gen_ai.usage.output_tokens": 0}
    span = SpanData(tid, "8b" * 8, "chat", t0, t0 + 10**9, attributes=attrs)
    r = http.post("/v1/traces", content=encode_json([span], resource={"service.name": "nostream"}),
                  headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 200, r.text
    tree = http.get(f"/v1/llm/traces/{tid}").json()
    assert (tree["input_tokens"], tree["output_tokens"], tree["cost"]) == (None, None, None)
    r = http.post("/v1/models", json={"name": "nostream", "task": "llm", "prediction": None})
    assert r.status_code == 201, r.text
    page = http.get("/ui/models/nostream", params={"tab": "llm", "trace": tid})
    assert page.status_code == 200
    assert "not reported" in page.text and "0 / 0" not in page.text


def test_metrics_in_otlp_json(http: httpx.Client) -> None:
    """LiteLLM-style time-to-first-token as a delta histogram and a sum, sent as OTLP/JSON."""
    t = str(int(datetime.now(UTC).timestamp()) * 10**9)
    model = {"key": "gen_ai.request.model", "value": {"stringValue": "claude-3-5-haiku"}}
    point = {"timeUnixNano": t, "count": "2", "sum": 0.9, "min": 0.4, "max": 0.5,
             "bucketCounts": ["0", "2"], "explicitBounds": [0.1], "attributes": [model]}  # fmt: skip
    body = {"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "litellm.ttft", "unit": "s",
         "histogram": {"aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA",
                       "dataPoints": [point, point]}},
        {"name": "litellm.requests", "sum": {"aggregationTemporality": 1, "isMonotonic": True,
         "dataPoints": [{"timeUnixNano": t, "asInt": "3", "attributes": [model]}]}},
        {"name": "", "gauge": {"dataPoints": []}},
    ]}]}]}  # fmt: skip
    r = http.post("/v1/metrics", json=body)
    assert r.status_code == 200 and r.json()["partialSuccess"]["rejectedDataPoints"] == 1
    rows = {
        m["name"]: m for m in http.get("/v1/llm/metrics", params={"name": "litellm.ttft"}).json()
    }
    ttft = rows["litellm.ttft"]
    assert (ttft["count"], ttft["sum"], ttft["min"], ttft["max"], ttft["points"]) == (
        4,
        1.8,
        0.4,
        0.5,
        2,
    )
    assert ttft["model"] == "claude-3-5-haiku"
    (requests,) = http.get("/v1/llm/metrics", params={"name": "litellm.requests"}).json()
    assert requests["sum"] == 3.0
