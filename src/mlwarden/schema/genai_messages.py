"""Where the text of an LLM call is, in each dialect: input and output messages as (role, text).

Read in this order (first found wins): the GenAI ``gen_ai.system_instructions`` +
``gen_ai.input.messages`` / ``gen_ai.output.messages`` (JSON text or structured values);
OpenLLMetry's ``gen_ai.prompt.{i}.*`` / ``gen_ai.completion.{i}.*``; OpenInference's
``llm.input_messages.{i}.message.*`` / ``llm.output_messages.{i}.message.*``; the deprecated
``gen_ai.prompt`` / ``gen_ai.completion`` attributes; span events (``gen_ai.content.prompt``,
``gen_ai.content.completion``, ``gen_ai.{role}.message``, ``gen_ai.choice``); OpenInference
embedding texts (``embedding.embeddings.{i}.embedding.text``); and last ``input.value`` /
``output.value`` (an OpenAI request or response body is unpacked; any other JSON, such as a
chain's or tool's, is kept as its text).

Examples
--------
>>> ins, outs = prompt_and_response({"gen_ai.prompt.0.role": "user",
...                                  "gen_ai.prompt.0.content": "hi",
...                                  "output.value": "hello"}, [])
>>> render_prompt(ins), render_response(outs)
('user: hi', 'hello')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

__all__ = [
    "Message",
    "finish_reasons",
    "maybe_json",
    "prompt_and_response",
    "render_prompt",
    "render_response",
]

#: (role, text)
Message = tuple[str, str]
_INDEXED = re.compile(
    r"^(gen_ai\.prompt|gen_ai\.completion|llm\.input_messages|llm\.output_messages)"
    r"\.(\d+)\.(.+)$"
)
_ROLE_EVENTS = re.compile(r"^gen_ai\.(system|user|assistant|tool)\.message$")
#: Key prefixes of the messages of the dialects read after the current GenAI attributes.
_OTHER_DIALECTS = (
    "gen_ai.prompt",
    "gen_ai.completion",
    "llm.input_messages",
    "llm.output_messages",
    "embedding.embeddings",
    "input.value",
    "output.value",
)
_EMBEDDING_TEXT = re.compile(r"^embedding\.embeddings\.(\d+)\.embedding\.text$")


def maybe_json(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in ("[", "{"):
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return v
    return v


def _text(content: Any) -> str:
    """Text of a message content: a string, a list of parts, or a part."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(t for t in (_text(p) for p in content) if t)
    # ``dict`` first: decoded JSON and protobuf key-value lists are dicts, and an ABC check
    # costs ten times a type check on the ingest path (a few per message)
    if isinstance(content, dict) or isinstance(content, Mapping):
        kind = content.get("type")
        if kind in ("tool_call", "function_call") or "function" in content:
            fn = content.get("function") or content
            args = fn.get("arguments")
            args = args if isinstance(args, str) else orjson.dumps(args).decode() if args else ""
            return f"[tool_call {fn.get('name', '')}({args})]"
        if kind == "tool_call_response":
            return _text(content.get("response") or content.get("result"))
        for key in ("content", "text", "message_content"):
            if key in content:
                return _text(content[key])
        return ""
    return str(content)


def _message(m: Any, default_role: str) -> Message | None:
    if isinstance(m, str):
        return (default_role, m)
    if not (isinstance(m, dict) or isinstance(m, Mapping)):
        return None
    role = str(m.get("role") or default_role)
    text = _text(m["parts"]) if "parts" in m else _text(m.get("content"))
    calls = m.get("tool_calls")  # OpenAI messages; LiteLLM puts them beside GenAI ``parts``
    if calls:
        text = "\n".join(t for t in [text, _text(calls)] if t)
    return (role, text)


def _messages(value: Any, default_role: str) -> list[Message]:
    value = maybe_json(value)
    if value is None:
        return []
    if isinstance(value, list):
        msgs = [_message(m, default_role) for m in value]
        return [m for m in msgs if m is not None]
    if isinstance(value, Mapping) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, Mapping) and isinstance(value.get("choices"), list):
        value = [c.get("message") or {"content": c.get("text")} for c in value["choices"]]
    if isinstance(value, list):
        msgs = [_message(m, default_role) for m in value]
        return [m for m in msgs if m is not None]
    if isinstance(value, str | Mapping):
        m = _message(value, default_role)
        return [m] if m else []
    return []


def _value(value: Any, default_role: str) -> list[Message]:
    """OpenInference ``input.value`` / ``output.value``: messages when it holds an OpenAI
    request or response (or plain text); else (a chain's or tool's JSON object) the value
    itself as one message's text."""
    msgs = _messages(value, default_role)
    if any(text for _, text in msgs) or value is None or value == "":
        return msgs
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return [(default_role, text)]


def _embedding_texts(attrs: Mapping[str, Any]) -> list[Message]:
    """OpenInference ``embedding.embeddings.{i}.embedding.text``, in order."""
    texts = {}
    for k, v in attrs.items():
        m = _EMBEDDING_TEXT.match(k)
        if m and isinstance(v, str):
            texts[int(m.group(1))] = v
    return [("user", texts[i]) for i in sorted(texts)]


def finish_reasons(attrs: Mapping[str, Any]) -> list[str]:
    """Finish reasons of ``gen_ai.output.messages[].finish_reason``.

    Examples
    --------
    >>> finish_reasons({"gen_ai.output.messages": '[{"role": "assistant", "finish_reason": "length"}]'})
    ['length']
    """
    value = maybe_json(attrs.get("gen_ai.output.messages"))
    if not isinstance(value, list):
        return []
    return [str(m["finish_reason"]) for m in value
            if isinstance(m, Mapping) and m.get("finish_reason")]  # fmt: skip


def _indexed(attrs: Mapping[str, Any], prefix: str) -> list[Message]:
    """``prefix.{i}.role`` / ``.content`` (OpenLLMetry) or ``prefix.{i}.message.*``
    (OpenInference) into ordered messages."""
    by_index: dict[int, dict[str, Any]] = {}
    for k, v in attrs.items():
        m = _INDEXED.match(k)
        if m and m.group(1) == prefix:
            by_index.setdefault(int(m.group(2)), {})[m.group(3).removeprefix("message.")] = v
    out = []
    default = "assistant" if "completion" in prefix or "output" in prefix else "user"
    for i in sorted(by_index):
        d = by_index[i]
        parts = [d[k] for k in sorted(d) if k.startswith("contents.") and k.endswith(".text")]
        calls = [  # OpenInference ``tool_calls.{j}.tool_call.function.*``; LiteLLM 1.110's
            # ``function_call.*`` (its tool call, the GenAI message's ``parts`` left empty)
            f"[tool_call {d[k]}({d.get(k.replace('.name', '.arguments'), '')})]"
            for k in sorted(d)
            if (k.startswith("tool_calls.") and k.endswith("function.name"))
            or k == "function_call.name"
        ]
        text = _text(d.get("content")) if "content" in d else "\n".join(str(p) for p in parts)
        text = "\n".join(t for t in [text, *calls] if t)
        out.append((str(d.get("role") or default), text))
    return out


def _role_event(role: str, attrs: Mapping[str, Any]) -> list[Message]:
    """A ``gen_ai.{role}.message`` event: its ``content`` text as it is (a tool's JSON result
    stays text) and an assistant's ``tool_calls`` beside it (OpenLLMetry sends both)."""
    content = attrs.get("content")
    calls = maybe_json(attrs.get("tool_calls"))
    if isinstance(content, str) or calls:
        return [m] if (m := _message({"content": content, "tool_calls": calls}, role)) else []
    return _messages(content or attrs.get("gen_ai.event.content"), role)


def _from_events(events: Sequence[Mapping[str, Any]]) -> tuple[list[Message], list[Message]]:
    ins: list[Message] = []
    outs: list[Message] = []
    for e in events:
        name, attrs = e.get("name", ""), e.get("attributes") or {}
        if name == "gen_ai.content.prompt":
            ins += _messages(attrs.get("gen_ai.prompt"), "user")
        elif name == "gen_ai.content.completion":
            outs += _messages(attrs.get("gen_ai.completion"), "assistant")
        elif m := _ROLE_EVENTS.match(name):
            ins += _role_event(m.group(1), attrs)
        elif name == "gen_ai.choice":
            msg = maybe_json(attrs.get("message"))
            calls = maybe_json(attrs.get("tool_calls"))  # OpenLLMetry: beside the message
            if calls and (msg is None or isinstance(msg, Mapping)):
                msg = {"role": "assistant", **(msg or {})}
                msg["tool_calls"] = msg.get("tool_calls") or calls
            outs += _messages(msg if msg is not None else attrs.get("content"), "assistant")
    return ins, outs


def prompt_and_response(
    attrs: Mapping[str, Any], events: Sequence[Mapping[str, Any]]
) -> tuple[list[Message], list[Message]]:
    """Input and output messages of a span, from whichever dialect carries them."""
    ins: list[Message] = []
    if "gen_ai.system_instructions" in attrs:
        ins += [("system", m[1]) for m in _messages(attrs["gen_ai.system_instructions"], "system")]
    ins += _messages(attrs.get("gen_ai.input.messages"), "user")
    outs = _messages(attrs.get("gen_ai.output.messages"), "assistant")
    if (ins and _has_text(outs)) or not (
        events or any(k.startswith(_OTHER_DIALECTS) for k in attrs)
    ):
        return ins, outs  # nothing else to look at
    ev_in, ev_out = _from_events(events) if events else ([], [])
    # the other dialects, first found wins; each read only when the earlier ones found nothing
    reads_in: list[Callable[[], list[Message]]] = [
        lambda: _indexed(attrs, "gen_ai.prompt"),
        lambda: _indexed(attrs, "llm.input_messages"),
        lambda: _messages(attrs.get("gen_ai.prompt"), "user"),
        lambda: ev_in,
        lambda: _embedding_texts(attrs),
        lambda: _value(attrs.get("input.value"), "user"),
    ]
    reads_out: list[Callable[[], list[Message]]] = [
        lambda: _indexed(attrs, "gen_ai.completion"),
        lambda: _indexed(attrs, "llm.output_messages"),
        lambda: _messages(attrs.get("gen_ai.completion"), "assistant"),
        lambda: ev_out,
        lambda: _value(attrs.get("output.value"), "assistant"),
    ]
    for reads, target in ((reads_in, ins), (reads_out, outs)):
        if not target:
            target += next((found for read in reads if (found := read())), [])
        elif not _has_text(target):  # messages without text (LiteLLM's empty ``parts`` beside
            # its tool call in ``gen_ai.completion.0.function_call.*``): a dialect with text wins
            target[:] = next((found for read in reads if _has_text(found := read())), target)
    return ins, outs


def _has_text(messages: Sequence[Message]) -> bool:
    return any(text for _, text in messages)


def render_prompt(messages: Sequence[Message]) -> str | None:
    """Messages as ``role: text`` lines (None when there are none)."""
    return "\n".join(f"{r}: {t}" for r, t in messages) if messages else None


def render_response(messages: Sequence[Message]) -> str | None:
    """The output text; None when no message has any (a failed call's empty assistant message,
    as OpenInference's LangChain instrumentation sends it)."""
    return "\n".join(t for _, t in messages if t) or None
