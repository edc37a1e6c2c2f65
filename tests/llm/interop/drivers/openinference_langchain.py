"""OpenInference's LangChain instrumentation around ``langchain-openai``: the same cases
through ``ChatOpenAI`` / ``OpenAIEmbeddings``, and a LangChain tool run (a TOOL span with a
JSON input and result). Session and user from ``using_attributes``."""

from __future__ import annotations

import json

from _common import OPENAI_URL, SESSION, TOOL_RESULT, USER, WEATHER_TOOL, providers, report
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from openinference.instrumentation import using_attributes
from openinference.instrumentation.langchain import LangChainInstrumentor

tp, tee, _, _ = providers("interop-openinference-langchain")
LangChainInstrumentor().instrument(tracer_provider=tp)


def chat(model: str = "gpt-4o-mini", **kw: object) -> ChatOpenAI:
    return ChatOpenAI(model=model, base_url=OPENAI_URL, api_key="test", max_retries=0, **kw)


def user(case: str, text: str = "Capital of France?") -> list[object]:
    return [SystemMessage("Be brief."), HumanMessage(f"case:{case} {text}")]


@tool
def get_weather(city: str) -> str:
    """The weather in a city"""
    return TOOL_RESULT


seen: dict[str, object] = {}
seen["chat"] = chat().invoke(user("chat")).content
seen["stream-usage"] = "".join(
    str(c.content) for c in chat(stream_usage=True).stream(user("stream-usage"))
)
seen["stream-no-usage"] = "".join(
    str(c.content) for c in chat("gpt-4o-mini-no-usage").stream(user("stream-no-usage"))
)
messages = user("tool", "Weather in Paris?")
ai = chat("gpt-4o-mini-tools").bind_tools([WEATHER_TOOL]).invoke(messages)
call = ai.tool_calls[0]
seen["tool"] = [call["name"], json.dumps(call["args"])]
result = get_weather.invoke(call["args"])  # a TOOL span: JSON in, JSON out
messages = [SystemMessage("Be brief."), HumanMessage("case:tool-result Weather in Paris?"), ai,
            ToolMessage(result, tool_call_id=call["id"])]  # fmt: skip
seen["tool-result"] = chat().invoke(messages).content
with using_attributes(session_id=SESSION, user_id=USER):
    history: list[object] = [SystemMessage("Be brief.")]
    for turn in range(3):
        history.append(HumanMessage(f"case:turn{turn} And then?"))
        history.append(AIMessage(str(chat().invoke(history).content)))
    seen["session"] = len(history)
emb = OpenAIEmbeddings(model="text-embedding-3-small", base_url=OPENAI_URL, api_key="test",
                       check_embedding_ctx_length=False)  # fmt: skip
seen["embed"] = len(emb.embed_documents(["case:embed first"])[0])
try:
    chat("judge-down").invoke(user("error"))
except Exception as exc:  # noqa: BLE001 - openai's APIStatusError, through LangChain
    seen["error"] = type(exc).__name__
tp.shutdown()
report(tee, seen=seen)
