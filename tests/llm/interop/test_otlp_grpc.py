"""The OTLP/gRPC receiver fed by the real OpenTelemetry gRPC exporters, with API keys."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind

from mlwarden.store.keys import KeyStore
from serverproc import ServerProcess, free_port

APP = "grpc-app"
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 3}  # fmt: skip


@pytest.fixture(scope="module")
def grpc_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, str, dict[str, str]]]:
    data = tmp_path_factory.mktemp("grpc") / "data"
    ks = KeyStore(data / "keys.json")
    keys = {"ingest": ks.create("p"), "read": ks.create("p", scopes=["read"])}
    port = free_port()
    srv = ServerProcess(data, "--otlp-grpc-port", str(port)).start()
    try:
        yield srv, f"127.0.0.1:{port}", keys
    finally:
        srv.stop()


def _spans(srv: ServerProcess, key: str) -> list[dict[str, object]]:
    r = httpx.get(f"{srv.url}/v1/llm/spans", headers={"authorization": f"Bearer {key}"},
                  params={"service": APP}, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    spans: list[dict[str, object]] = r.json()["spans"]
    return spans


def test_traces_logs_and_metrics_over_grpc(
    grpc_server: tuple[ServerProcess, str, dict[str, str]],
) -> None:
    srv, endpoint, keys = grpc_server
    headers = {"authorization": f"Bearer {keys['ingest']}"}
    resource = Resource.create({"service.name": APP})
    tp = TracerProvider(resource=resource)
    span_exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=headers)
    tp.add_span_processor(SimpleSpanProcessor(span_exporter))
    lp = LoggerProvider(resource=resource)
    log_exporter = OTLPLogExporter(endpoint=endpoint, insecure=True, headers=headers)
    lp.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    with tp.get_tracer("openai").start_as_current_span(
        "chat", kind=SpanKind.CLIENT, attributes=CHAT
    ) as span:
        lp.get_logger("openai").emit(event_name="gen_ai.user.message", body={"content": "Hi!"})
        trace_id = format(span.get_span_context().trace_id, "032x")
    tp.shutdown()
    lp.shutdown()
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, insecure=True, headers=headers),
        export_interval_millis=3_600_000,
    )
    mp = MeterProvider(metric_readers=[reader], resource=resource)
    usage = mp.get_meter("openai").create_histogram("gen_ai.client.token.usage")
    usage.record(7, {"gen_ai.request.model": "gpt-4o-mini", "gen_ai.token.type": "input"})
    assert mp.force_flush(30_000)
    mp.shutdown()

    (got,) = _spans(srv, keys["read"])
    assert (got["trace_id"], got["input_tokens"], got["prompt"]) == (trace_id, 7, "user: Hi!")
    r = httpx.get(f"{srv.url}/v1/llm/metrics", timeout=30,
                  headers={"authorization": f"Bearer {keys['read']}"})  # fmt: skip
    assert [(m["name"], m["sum"]) for m in r.json()] == [("gen_ai.client.token.usage", 7.0)]


@pytest.mark.parametrize(
    "headers", [{}, {"authorization": "Bearer mlw_wrong"}, "read"], ids=["none", "bad", "read"]
)
def test_grpc_needs_an_ingest_key(
    grpc_server: tuple[ServerProcess, str, dict[str, str]], headers: dict[str, str] | str
) -> None:
    srv, endpoint, keys = grpc_server
    if headers == "read":
        headers = {"x-api-key": keys["read"]}
    assert isinstance(headers, dict)
    tp = TracerProvider(resource=Resource.create({"service.name": "refused"}))
    exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True, headers=headers, timeout=5)
    with tp.get_tracer("t").start_as_current_span("chat", attributes=CHAT) as span:
        pass
    assert exporter.export([span]) == SpanExportResult.FAILURE  # type: ignore[list-item]
    r = httpx.get(f"{srv.url}/v1/llm/spans", params={"service": "refused"}, timeout=30,
                  headers={"authorization": f"Bearer {keys['read']}"})  # fmt: skip
    assert r.json()["spans"] == []
