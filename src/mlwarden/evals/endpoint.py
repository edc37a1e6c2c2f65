"""One chat call to an OpenAI-compatible endpoint: the answer, its tokens and its cost.

Used by experiment tasks (a prompt template per item) and by the judges. Like the
``llm_judge`` monitor: the key, when the endpoint needs one, is read from the environment
variable named by ``api_key_env`` (never stored); the cost comes from the price table; a
failure is a status with a reason (``error``), never an exception into the run, and
``reached`` says whether the endpoint answered at all (a run stops calling a dead one).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlwarden.errors import ValidationError, expected
from mlwarden.schema.pricing import PRICES_ENV, load_prices

if TYPE_CHECKING:
    import httpx

__all__ = ["ChatReply", "Endpoint", "chat"]


@dataclass(frozen=True)
class Endpoint:
    """Where to send chat calls: ``url`` (the API base, ending in ``/v1`` usually), the
    ``model``, the environment variable holding the key, a timeout per call."""

    url: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = 30.0

    def check(self, *, field: str) -> None:
        """Raise :class:`ValidationError` naming ``field`` for a bad endpoint."""
        if not isinstance(self.url, str) or not re.match(r"^https?://[^/\s]+", self.url):
            raise ValidationError(
                expected(
                    "field",
                    f"{field}.endpoint",
                    "be an http(s) URL of an OpenAI-compatible API",
                    self.url,
                )
            )
        if not isinstance(self.model, str) or not 0 < len(self.model) <= 200:
            raise ValidationError(
                expected("field", f"{field}.model", "be a model name", self.model)
            )
        if self.api_key_env is not None and not os.environ.get(str(self.api_key_env)):
            raise ValidationError(
                f"The environment variable {self.api_key_env!r} named by '{field}.api_key_env' is "
                "not set on the server."
            )
        ok = isinstance(self.timeout_s, int | float) and not isinstance(self.timeout_s, bool)
        if not ok or not 0 < self.timeout_s <= 600:
            raise ValidationError(
                expected("field", f"{field}.timeout_s", "be in (0, 600]", self.timeout_s)
            )


@dataclass(frozen=True)
class ChatReply:
    content: str | None
    model: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    latency_ms: float
    error: str | None = None
    reached: bool = True

    @property
    def tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


def chat(http: httpx.Client, ep: Endpoint, messages: list[dict[str, str]]) -> ChatReply:
    """Send ``messages``; never raises for a failed call (see :class:`ChatReply`)."""
    import httpx

    headers = {"content-type": "application/json"}
    if ep.api_key_env:
        headers["authorization"] = f"Bearer {os.environ.get(ep.api_key_env, '')}"
    body = {"model": ep.model, "messages": messages, "temperature": 0}
    start = time.perf_counter()
    usage: dict[str, Any] = {}
    content = model = error = None
    reached = True
    try:
        resp = http.post(ep.url.rstrip("/") + "/chat/completions", json=body, headers=headers,
                         timeout=ep.timeout_s)  # fmt: skip
        if resp.status_code >= 400:
            error = f"the endpoint answered HTTP {resp.status_code}"
        else:
            reply = resp.json()
            content = str(reply["choices"][0]["message"].get("content") or "")
            usage = reply.get("usage") or {}
            model = reply.get("model")
    except httpx.HTTPError as exc:
        error, reached = f"the endpoint could not be reached: {type(exc).__name__}", False
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        error = f"the endpoint's reply is not a chat completion: {type(exc).__name__}"
    latency = (time.perf_counter() - start) * 1000
    inp, out = usage.get("prompt_tokens"), usage.get("completion_tokens")
    inp = inp if isinstance(inp, int) else None
    out = out if isinstance(out, int) else None
    prices = load_prices(os.environ.get(PRICES_ENV) or None)
    cost = None
    for m in (model, ep.model):
        price = prices.cost(m, input_tokens=inp, output_tokens=out) if m else None
        if price is not None:
            cost = float(price.amount)
            break
    return ChatReply(content, model, inp, out, cost, latency, error, reached)
