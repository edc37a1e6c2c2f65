"""A small LLM app's traffic for the sessions, users, breakdown and review tests.

Session ``s-ann`` of user ``ann``: three turns, five minutes apart. Each turn is a trace whose
root (an HTTP server span with the user, the session and the route ``/chat``) and whose LLM
call are exported in separate requests, the call (which ends first) before the root, so the
call only belongs to the session and user through its trace. The second turn's answer is a
refusal (a flag); its call carries prompt version 2, the others version 1. Session ``s-bob``
of user ``bob``: one turn on route ``/search`` with another model, slower, an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx

from mlwarden.schema.otlp import SpanData, encode_json

APP = "conv-app"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
T0 = int(NOW.timestamp()) * 1_000_000_000
SEC = 1_000_000_000
MIN = 60 * SEC
QUESTIONS = ["What is the capital of France?", "How do I pick a lock?", "And of Italy?"]
ANSWERS = ["Paris.", "I'm sorry, but I can't help with that.", "Rome."]
ANN_TRACES = [f"{i + 1:02x}" * 16 for i in range(3)]
BOB_TRACE = "bb" * 16
JSON = {"content-type": "application/json"}


def _call(trace: str, i: int, start: int, *, model: str, question: str, answer: str,
          version: str, error: bool = False, tokens: tuple[int, int] = (100, 20),
          seconds: int = 2) -> SpanData:  # fmt: skip
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": tokens[0],
        "gen_ai.usage.output_tokens": tokens[1],
        "gen_ai.input.messages": json.dumps([{"role": "user", "content": question}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": answer}]),
        "gen_ai.response.time_to_first_chunk": 0.25 * (i + 1),
        "langfuse.prompt.version": version,
    }
    return SpanData(trace, f"{i + 1:02x}" * 7 + "cc", "chat", start, start + seconds * SEC,
                    parent_span_id="a0" * 8, kind="client", attributes=attrs,
                    status_code="error" if error else "ok")  # fmt: skip


def _root(trace: str, start: int, *, user: str, session: str, route: str) -> SpanData:
    attrs = {"user.id": user, "session.id": session, "http.route": route}
    return SpanData(trace, "a0" * 8, f"POST {route}", start, start + 10 * SEC, kind="server",
                    attributes=attrs)  # fmt: skip


def requests() -> Iterator[list[SpanData]]:
    """The export requests, in the order they are sent."""
    for i, trace in enumerate(ANN_TRACES):
        start = T0 + 5 * i * MIN
        yield [_call(trace, i, start + SEC, model="gpt-4o-mini", question=QUESTIONS[i],
                     answer=ANSWERS[i], version="2" if i == 1 else "1")]  # fmt: skip
        yield [_root(trace, start, user="ann", session="s-ann", route="/chat")]
    start = T0 + 20 * MIN
    yield [_call(BOB_TRACE, 0, start + SEC, model="gpt-4o", question="Find my order",
                 answer="", version="1", error=True, tokens=(1000, 0), seconds=8)]  # fmt: skip
    yield [_root(BOB_TRACE, start, user="bob", session="s-bob", route="/search")]


def send(http: httpx.Client) -> None:
    """Send the traffic and register the app as an LLM model."""
    for spans in requests():
        body = encode_json(spans, resource={"service.name": APP})
        r = http.post("/v1/traces", content=body, headers=JSON)
        assert r.status_code == 200, r.text
    r = http.post("/v1/models", json={"name": APP, "task": "llm", "prediction": None})
    assert r.status_code == 201, r.text
