"""LiteLLM's ``otel`` callback around ``litellm.completion`` / ``litellm.embedding``.

LiteLLM is no OpenAI client: the app's calls are made through its functions with the same
cases. Its model cost map is the local copy the package ships (no download)."""

from __future__ import annotations

import os
import time
from importlib.metadata import version

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import litellm  # noqa: E402
from _common import (  # noqa: E402
    OPENAI_URL,
    SESSION,
    TOOL_RESULT,
    USER,
    WEATHER_TOOL,
    Metrics,
    report,
    span_exporter,
)
from litellm.integrations.opentelemetry import OpenTelemetry, OpenTelemetryConfig  # noqa: E402

tee = span_exporter()
metrics = Metrics("interop-litellm")
config = OpenTelemetryConfig(
    exporter=tee, service_name="interop-litellm", skip_set_global=True, enable_metrics=True
)
otel = OpenTelemetry(config=config, meter_provider=metrics.provider)
litellm.callbacks = [otel]
KW = {"api_base": OPENAI_URL, "api_key": "test", "max_retries": 0}


def user(case: str, text: str = "Capital of France?") -> list[dict[str, object]]:
    return [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"case:{case} {text}"}]  # fmt: skip


seen: dict[str, object] = {}
r = litellm.completion(model="openai/gpt-4o-mini", messages=user("chat"), **KW)
seen["chat"] = r.choices[0].message.content
stream = litellm.completion(model="openai/gpt-4o-mini", messages=user("stream-usage"),
                            stream=True, stream_options={"include_usage": True}, **KW)  # fmt: skip
seen["stream-usage"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
stream = litellm.completion(model="openai/gpt-4o-mini-no-usage",
                            messages=user("stream-no-usage"), stream=True, **KW)  # fmt: skip
seen["stream-no-usage"] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
messages = user("tool", "Weather in Paris?")
r = litellm.completion(model="openai/gpt-4o-mini-tools", messages=messages, tools=[WEATHER_TOOL],
                       **KW)  # fmt: skip
call = r.choices[0].message.tool_calls[0]
seen["tool"] = [call.function.name, call.function.arguments]
messages = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "case:tool-result Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": call.id, "type": "function",
         "function": {"name": call.function.name, "arguments": call.function.arguments}}]},
    {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
]  # fmt: skip
r = litellm.completion(model="openai/gpt-4o-mini", messages=messages, **KW)
seen["tool-result"] = r.choices[0].message.content
history: list[dict[str, object]] = [{"role": "system", "content": "Be brief."}]
for turn in range(3):
    history.append({"role": "user", "content": f"case:turn{turn} And then?"})
    r = litellm.completion(model="openai/gpt-4o-mini", messages=history, user=USER,
                           metadata={"session_id": SESSION}, **KW)  # fmt: skip
    history.append({"role": "assistant", "content": r.choices[0].message.content})
seen["session"] = len(history)
e = litellm.embedding(model="openai/text-embedding-3-small", input=["case:embed first"], **KW)
seen["embed"] = len(e.data[0]["embedding"])
try:
    litellm.completion(model="openai/judge-down", messages=user("error"), **KW)
except Exception as exc:  # noqa: BLE001 - LiteLLM maps the 503 to its own exception classes
    seen["error"] = type(exc).__name__
# LiteLLM logs its callbacks on a worker thread: wait (bounded) until every call's span (its
# raw_gen_ai_request child ends before it) was exported
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    if sum(s.name == "litellm_request" for s in tee.memory.get_finished_spans()) >= len(seen):
        break
    time.sleep(0.05)
report(tee, seen=seen, metrics=metrics.finish(), versions={"litellm": version("litellm")})
