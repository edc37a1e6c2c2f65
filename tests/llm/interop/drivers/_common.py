"""What every interop driver shares: the OTLP exporters teed into memory, and the app.

A driver runs in ``.venv-interop`` (the instrumentation libraries live there, not in the
project's venv), so this module imports nothing of mlwarden. It is given the mlwarden server's
URL, its gRPC endpoint and the fake OpenAI server's base URL, sends its spans (and logs) to
mlwarden over the transport it is told, keeps a copy of everything the library exported, and
prints it as one JSON line: what the test compares the stored rows with.

Every call of the app carries a case name (``case:<name>``) in its user message or input, so
the test finds the library's span and mlwarden's row of the same call.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

#: Where the drivers are told to send: ``argv`` of every driver.
MLWARDEN_URL, GRPC_ENDPOINT, OPENAI_URL, TRANSPORT = sys.argv[1:5]
USER, SESSION = "u-interop", "s-interop"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TOOL_RESULT = '{"city": "Paris", "temperature_c": 21}'


class Tee(SpanExporter):
    """Export to mlwarden and keep every span the library handed over."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter
        self.memory = InMemorySpanExporter()
        self.results: list[str] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.memory.export(spans)
        result = self.exporter.export(spans)
        self.results.append(result.name)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class LogTee(LogRecordExporter):
    def __init__(self, exporter: LogRecordExporter) -> None:
        self.exporter = exporter
        self.memory = InMemoryLogRecordExporter()
        self.results: list[str] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.memory.export(batch)
        result = self.exporter.export(batch)
        self.results.append(result.name)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def span_exporter() -> Tee:
    """OTLP over ``TRANSPORT`` (``http`` protobuf or ``grpc``), teed into memory."""
    if TRANSPORT == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return Tee(OTLPSpanExporter(endpoint=GRPC_ENDPOINT, insecure=True, timeout=30))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HTTPSpanExporter,
    )

    return Tee(HTTPSpanExporter(f"{MLWARDEN_URL}/v1/traces", timeout=30))


def log_exporter() -> LogTee:
    if TRANSPORT == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return LogTee(OTLPLogExporter(endpoint=GRPC_ENDPOINT, insecure=True, timeout=30))
    from opentelemetry.exporter.otlp.proto.http._log_exporter import (
        OTLPLogExporter as HTTPLogExporter,
    )

    return LogTee(HTTPLogExporter(f"{MLWARDEN_URL}/v1/logs", timeout=30))


class Metrics:
    """A meter provider exporting OTLP metrics over ``TRANSPORT`` when flushed, and an
    in-memory reader of the same instruments (what the library recorded)."""

    def __init__(self, service: str) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import (
            InMemoryMetricReader,
            PeriodicExportingMetricReader,
        )

        if TRANSPORT == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

            exporter: Any = OTLPMetricExporter(endpoint=GRPC_ENDPOINT, insecure=True, timeout=30)
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter as HTTPMetricExporter,
            )

            exporter = HTTPMetricExporter(f"{MLWARDEN_URL}/v1/metrics", timeout=30)
        self.memory = InMemoryMetricReader()
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        self.provider = MeterProvider(
            metric_readers=[reader, self.memory],
            resource=Resource.create({"service.name": service}),
        )

    def finish(self) -> list[dict[str, Any]]:
        """Export (once, cumulative) and return every histogram / sum data point recorded."""
        assert self.provider.force_flush(30_000)
        data = self.memory.get_metrics_data()
        self.provider.shutdown()
        out = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        out.append({
                            "name": m.name,
                            "attributes": {k: _value(v) for k, v in p.attributes.items()},
                            "count": getattr(p, "count", None),
                            "sum": getattr(p, "sum", getattr(p, "value", None)),
                        })  # fmt: skip
        return out


def providers(service: str, *, logs: bool = False) -> tuple[TracerProvider, Tee, Any, Any]:
    """A tracer provider (and a logger provider when ``logs``) exporting synchronously."""
    resource = Resource.create({"service.name": service})
    tee = span_exporter()
    tp = TracerProvider(resource=resource)
    tp.add_span_processor(SimpleSpanProcessor(tee))
    if not logs:
        return tp, tee, None, None
    log_tee = log_exporter()
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(log_tee))
    return tp, tee, lp, log_tee


def _value(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def span_json(s: ReadableSpan) -> dict[str, Any]:
    ctx = s.get_span_context()
    assert ctx is not None
    return {
        "name": s.name,
        "trace_id": format(ctx.trace_id, "032x"),
        "span_id": format(ctx.span_id, "016x"),
        "parent_span_id": format(s.parent.span_id, "016x") if s.parent else None,
        "start_ns": s.start_time,
        "end_ns": s.end_time,
        "status": s.status.status_code.name,
        "status_message": s.status.description,
        "attributes": {k: _value(v) for k, v in (s.attributes or {}).items()},
        "events": [
            {
                "name": e.name,
                "time_ns": e.timestamp,
                "attributes": {k: _value(v) for k, v in (e.attributes or {}).items()},
            }
            for e in s.events
        ],  # fmt: skip
        "scope": s.instrumentation_scope.name if s.instrumentation_scope else None,
    }


def log_json(r: ReadableLogRecord) -> dict[str, Any]:
    rec = r.log_record
    return {
        "event_name": getattr(rec, "event_name", None),
        "trace_id": format(rec.trace_id or 0, "032x"),
        "span_id": format(rec.span_id or 0, "016x"),
        "body": rec.body,
        "attributes": {k: _value(v) for k, v in (rec.attributes or {}).items()},
    }


def blocked() -> list[str] | None:
    """What the network guard (``_run.py``) refused, or None when run without it."""
    guard = sys.modules.get("_netguard")
    return list(guard.BLOCKED) if guard is not None else None


def report(tee: Tee, log_tee: LogTee | None = None, **extra: Any) -> None:
    """Print what the library exported (and how the exports went) as the last line."""
    out: dict[str, Any] = {
        "spans": [span_json(s) for s in tee.memory.get_finished_spans()],
        "exports": tee.results,
        "logs": [],
        "blocked": blocked(),
        **extra,
    }
    if log_tee is not None:
        out["logs"] = [log_json(r) for r in log_tee.memory.get_finished_logs()]
        out["log_exports"] = log_tee.results
    print(json.dumps(out, default=str))


def run_openai_app(
    openai: Any,
    client: Any,
    *,
    session: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """The app every OpenAI instrumentation is driven with: a chat call, a stream with and one
    without usage, a tool call and its result, a 3-turn session of one user, an embedding and an
    error. ``session`` gives the context (manager) under which the session's turns run."""
    from contextlib import nullcontext

    def user(case: str, text: str = "Capital of France?") -> list[dict[str, Any]]:
        return [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"case:{case} {text}"}]  # fmt: skip

    seen: dict[str, Any] = {}
    r = client.chat.completions.create(model="gpt-4o-mini", messages=user("chat"))
    seen["chat"] = r.choices[0].message.content
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=user("stream-usage"), stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    seen["stream-usage"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    stream = client.chat.completions.create(
        model="gpt-4o-mini-no-usage", messages=user("stream-no-usage"), stream=True
    )
    seen["stream-no-usage"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    messages = user("tool", "Weather in Paris?")
    r = client.chat.completions.create(
        model="gpt-4o-mini-tools", messages=messages, tools=[WEATHER_TOOL]
    )
    call = r.choices[0].message.tool_calls[0]
    seen["tool"] = [call.function.name, call.function.arguments]
    messages = [
        *messages,
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call.id, "type": "function",
             "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
    ]  # fmt: skip
    messages[1] = {"role": "user", "content": "case:tool-result Weather in Paris?"}
    r = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    seen["tool-result"] = r.choices[0].message.content
    with session() if session else nullcontext():
        history: list[dict[str, Any]] = [{"role": "system", "content": "Be brief."}]
        for turn in range(3):
            history.append({"role": "user", "content": f"case:turn{turn} And then?"})
            r = client.chat.completions.create(model="gpt-4o-mini", messages=history, user=USER)
            history.append({"role": "assistant", "content": r.choices[0].message.content})
        seen["session"] = len(history)
    e = client.embeddings.create(model="text-embedding-3-small", input=["case:embed first"])
    seen["embed"] = len(e.data[0].embedding)
    try:
        client.chat.completions.create(model="judge-down", messages=user("error"))
    except openai.APIStatusError as exc:
        seen["error"] = exc.status_code
    return seen
