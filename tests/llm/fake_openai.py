"""A local server speaking the OpenAI chat-completions protocol (JSON and SSE streaming).

Model names steer it: ``*-no-usage`` never sends usage (not even when asked), ``*-echo``
answers with the last message's text (evaluation experiments), ``judge*``
answers as an LLM judge (see ``_judge``), ``*-tools`` answers with a tool call (streamed as
argument fragments), anything else answers with usage (cached and reasoning token details
included) and, on a stream, a final usage-only chunk when ``stream_options.include_usage`` is
set. ``/v1/embeddings`` answers with 4-dimensional vectors (base64 when asked) and
``/v1/responses`` speaks the Responses API (JSON, or SSE events ending in
``response.completed``). Every request body (and its headers) is kept in
``requests`` (``headers``) so tests can see what the client sent.
"""

from __future__ import annotations

import base64
import http.server
import json
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ANSWER = ["The capital", " of France", " is Paris."]
USAGE = {
    "prompt_tokens": 120,
    "completion_tokens": 8,
    "total_tokens": 128,
    "prompt_tokens_details": {"cached_tokens": 64},
    "completion_tokens_details": {"reasoning_tokens": 0},
}


class FakeOpenAI(http.server.ThreadingHTTPServer):
    requests: list[dict[str, Any]]
    headers: list[dict[str, str]]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.server.requests.append(body)
        self.server.headers.append({k.lower(): v for k, v in self.headers.items()})
        if self.path == "/v1/embeddings":
            self._embeddings(body)
            return
        if self.path == "/v1/responses":
            self._responses(body)
            return
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": "not found"}})
            return
        model = body["model"]
        if model.startswith("judge"):
            self._judge(body)
            return
        if model.endswith("-tools"):
            self._tools(body)
            return
        if model.endswith("-echo") and not body.get("stream"):
            choice = {"index": 0, "finish_reason": "stop",
                      "message": {"role": "assistant", "content": body["messages"][-1]["content"]}}  # fmt: skip
            reply = {"id": "chatcmpl-echo", "object": "chat.completion", "created": 1_700_000_000,
                     "model": "gpt-4o-mini-2024-07-18", "choices": [choice], "usage": USAGE}  # fmt: skip
            self._json(200, reply)
            return
        usage = None if model.endswith("-no-usage") else USAGE
        base = {"id": "chatcmpl-1", "created": 1_700_000_000, "model": model + "-2024-07-18"}
        if not body.get("stream"):
            reply = {
                **base,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(ANSWER)},
                        "finish_reason": "stop",
                    }
                ],
            }
            if usage:
                reply["usage"] = usage
            self._json(200, reply)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [
            {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        ]
        for piece in ANSWER:
            events.append({**chunk, "choices": [{"index": 0, "delta": {"content": piece}}]})
        events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if usage and (body.get("stream_options") or {}).get("include_usage"):
            events.append({**chunk, "choices": [], "usage": usage})
        for e in events:
            self._chunk(f"data: {json.dumps(e)}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _tools(self, body: dict[str, Any]) -> None:
        """Call ``get_weather`` with ``{"city": "Paris"}`` (streamed in three fragments)."""
        base = {"id": "chatcmpl-2", "created": 1_700_000_000, "model": body["model"]}
        call = {"id": "call_1", "type": "function"}
        args = ['{"ci', 'ty": "Pa', 'ris"}']
        if not body.get("stream"):
            fn = {"name": "get_weather", "arguments": "".join(args)}
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{**call, "function": fn}],
            }
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            reply = {**base, "object": "chat.completion", "choices": [choice], "usage": USAGE}
            self._json(200, reply)
            return
        chunk = {**base, "object": "chat.completion.chunk"}
        deltas: list[dict[str, Any]] = [
            {"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, **call, "function": {"name": "get_weather", "arguments": ""}}
            ]}
        ]  # fmt: skip
        deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": a}}]} for a in args]
        events = [{**chunk, "choices": [{"index": 0, "delta": d}]} for d in deltas]
        events.append(
            {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append({**chunk, "choices": [], "usage": USAGE})
        self._sse([(None, e) for e in events], done=True)

    def _embeddings(self, body: dict[str, Any]) -> None:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vector = [0.5, -0.25, 0.125, 1.0]
        data = []
        for i, _ in enumerate(inputs):
            emb: Any = vector
            if body.get("encoding_format") == "base64":
                emb = base64.b64encode(struct.pack("<4f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        usage = {"prompt_tokens": 5 * len(inputs), "total_tokens": 5 * len(inputs)}
        reply = {"object": "list", "data": data, "model": body["model"], "usage": usage}
        self._json(200, reply)

    def _responses(self, body: dict[str, Any]) -> None:
        text = "".join(ANSWER)
        message = {
            "type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }  # fmt: skip
        usage = {
            "input_tokens": 120, "input_tokens_details": {"cached_tokens": 64},
            "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 128,
        }  # fmt: skip
        resp = {
            "id": "resp_1", "object": "response", "created_at": 1_700_000_000,
            "model": body["model"] + "-2024-07-18", "status": "completed", "output": [message],
            "usage": usage, "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        }  # fmt: skip
        if not body.get("stream"):
            self._json(200, resp)
            return
        started = {**resp, "status": "in_progress", "output": [], "usage": None}
        events: list[tuple[str | None, Any]] = [
            ("response.created", {"type": "response.created", "response": started})
        ]
        for n, piece in enumerate(ANSWER):
            delta = {
                "type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                "content_index": 0, "delta": piece, "sequence_number": n + 1,
            }  # fmt: skip
            events.append(("response.output_text.delta", delta))
        events.append(("response.completed", {"type": "response.completed", "response": resp}))
        self._sse(events, done=False)

    def _sse(self, events: list[tuple[str | None, Any]], *, done: bool) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for name, e in events:
            head = f"event: {name}\n" if name else ""
            self._chunk(f"{head}data: {json.dumps(e)}\n\n".encode())
        if done:
            self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _judge(self, body: dict[str, Any]) -> None:
        """A judge: score 1 for an answer that apologises, 5 otherwise, as JSON
        (``judge-broken`` answers prose instead, ``judge-down`` fails with 503, ``judge-slow``
        takes 1.5 s to answer)."""
        model = body["model"]
        if model == "judge-slow":
            time.sleep(1.5)
        if model == "judge-down":
            self._json(503, {"error": {"message": "overloaded"}})
            return
        text = body["messages"][-1]["content"]
        answer = text.split("ANSWER:", 1)[-1].lower()
        score = 1 if "sorry" in answer else 5
        content = json.dumps({"score": score, "reason": "apologises" if score == 1 else "fine"})
        if model == "judge-broken":
            content = "I would rate this highly."
        self._json(
            200,
            {
                "id": "chatcmpl-judge",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 200, "completion_tokens": 20, "total_tokens": 220},
            },
        )

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _json(self, code: int, data: Any) -> None:
        raw = json.dumps(data).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@contextmanager
def fake_openai() -> Iterator[FakeOpenAI]:
    srv = FakeOpenAI(("127.0.0.1", 0), _Handler)
    srv.requests = []
    srv.headers = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
