"""The task of an experiment: where each item's output comes from.

* ``{"kind": "stored"}`` -- the output the item holds (taken from a trace or uploaded);
* ``{"kind": "endpoint", "endpoint": URL, "model": NAME, "prompt": TEMPLATE, "system": TEXT?,
  "api_key_env": VAR?, "timeout_s": 30}`` -- one chat call per item to an OpenAI-compatible
  endpoint, the user message made from ``prompt`` with ``{input}``, ``{context}`` (passages
  joined by blank lines) and ``{expected_output}`` replaced (no other placeholders: braces
  elsewhere are kept as they are, so JSON examples in a prompt need no escaping).

Examples
--------
>>> t = build_task({"kind": "endpoint", "endpoint": "http://127.0.0.1:9/v1", "model": "m",
...                 "prompt": "Answer briefly: {input}"})
>>> render(t.prompt, {"input": "2+2?", "context": None})
'Answer briefly: 2+2?'
>>> build_task({"kind": "endpoint", "endpoint": "http://x/v1", "model": "m", "prompt": "hi"})
Traceback (most recent call last):
...
mlwarden.errors.ValidationError: The 'task.prompt' field must be a template holding {input}, {context} or {expected_output}. Got 'hi' instead.
"""  # noqa: E501

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from mlwarden.errors import ValidationError, expected
from mlwarden.evals.endpoint import Endpoint

__all__ = ["KINDS", "Task", "build_task", "render"]

KINDS = ("stored", "endpoint")
MAX_PROMPT = 20_000
_SLOT = re.compile(r"\{(input|context|expected_output)\}")
_KEYS = {"stored": {"kind"},
         "endpoint": {"kind", "endpoint", "model", "prompt", "system", "api_key_env", "timeout_s"}}  # fmt: skip


@dataclass(frozen=True)
class Task:
    kind: str
    prompt: str | None = None
    system: str | None = None
    endpoint: Endpoint | None = None

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.endpoint is not None:
            ep = asdict(self.endpoint)
            out |= {"endpoint": ep.pop("url"), **ep, "prompt": self.prompt, "system": self.system}
        return out


def render(template: str, item: dict[str, Any]) -> str:
    """``template`` with the item's fields in place of the placeholders."""

    def slot(m: re.Match[str]) -> str:
        v = item.get(m.group(1))
        if isinstance(v, list):
            return "\n\n".join(v)
        return "" if v is None else str(v)

    return _SLOT.sub(slot, template)


def build_task(spec: Any) -> Task:
    """A task from its JSON form; :class:`ValidationError` names the bad field."""
    kind = spec.get("kind", "stored") if isinstance(spec, dict) else None
    if kind not in KINDS:
        raise ValidationError(expected("field", "task.kind", f"be one of {', '.join(KINDS)}", kind))
    unknown = sorted(set(spec) - _KEYS[kind])
    if unknown:
        must = f"be one of {', '.join(sorted(_KEYS[kind]))} for a {kind!r} task"
        raise ValidationError(expected("field name", f"task.{unknown[0]}", must, unknown[0]))
    if kind == "stored":
        return Task("stored")
    prompt, system = spec.get("prompt"), spec.get("system")
    if not isinstance(prompt, str) or len(prompt) > MAX_PROMPT or not _SLOT.search(prompt):
        must = "be a template holding {input}, {context} or {expected_output}"
        raise ValidationError(expected("field", "task.prompt", must, prompt))
    if system is not None and (not isinstance(system, str) or len(system) > MAX_PROMPT):
        raise ValidationError(
            expected(
                "field", "task.system", f"be a string of at most {MAX_PROMPT} characters", system
            )
        )
    ep = Endpoint(spec.get("endpoint"), spec.get("model"), spec.get("api_key_env"),
                  spec.get("timeout_s", 30.0))  # fmt: skip
    ep.check(field="task")
    return Task("endpoint", prompt, system, ep)
