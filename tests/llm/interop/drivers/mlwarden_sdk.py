"""The project's own SDK (``wrap_openai``) with whichever ``openai`` is first on the path (the
project venv's newest, or the oldest supported from ``.venv-openai1``); session and user on
the app's conversation span (``start_span``), inherited by its calls."""

from __future__ import annotations

import json
from typing import Any

import openai
from _common import MLWARDEN_URL, OPENAI_URL, SESSION, USER, blocked, run_openai_app

from mlwarden.schema.otlp import SpanData
from mlwarden.sdk.llm import (
    OTLPExporter,
    SpanExporter,
    configure,
    sdk_errors,
    start_span,
    wrap_openai,
)


class Tee(SpanExporter):
    """To the server through the SDK's own exporter, and a copy kept."""

    def __init__(self, exporter: OTLPExporter) -> None:
        self.exporter = exporter
        self.spans: list[SpanData] = []

    def export(self, span: SpanData) -> None:
        self.spans.append(span)
        self.exporter.export(span)

    def flush(self, timeout: float = 10.0) -> bool:
        return self.exporter.flush(timeout)


def span_json(s: SpanData) -> dict[str, Any]:
    return {
        "name": s.name,
        "trace_id": s.trace_id,
        "span_id": s.span_id,
        "parent_span_id": s.parent_span_id,
        "start_ns": s.start_ns,
        "end_ns": s.end_ns,
        "status": s.status_code.upper(),
        "status_message": s.status_message,
        "attributes": dict(s.attributes),
        "events": [dict(e) for e in s.events],
        "scope": "mlwarden",
    }


service = "interop-mlwarden-openai" + openai.__version__.split(".")[0]
otlp = OTLPExporter(MLWARDEN_URL, service_name=service, interval=0.05)
tee = Tee(otlp)
configure(exporter=tee)
client = wrap_openai(openai.OpenAI(base_url=OPENAI_URL, api_key="test", max_retries=0))
seen = run_openai_app(
    openai,
    client,
    session=lambda: start_span("conversation", attributes={"session.id": SESSION, "user.id": USER}),
)
flushed = tee.flush(60)
print(json.dumps({
    "spans": [span_json(s) for s in tee.spans],
    "exports": ["SUCCESS" if flushed and not otlp.dropped_ else f"DROPPED {otlp.dropped_}"],
    "logs": [],
    "blocked": blocked(),
    "seen": seen,
    "service": service,
    "versions": {"openai": openai.__version__},
    "sdk_errors": sdk_errors(),
}, default=str))  # fmt: skip
