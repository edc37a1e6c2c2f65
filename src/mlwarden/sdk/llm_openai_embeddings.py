"""``embeddings.create`` as a GenAI ``embeddings {model}`` span: model, input count, tokens."""

from __future__ import annotations

from typing import Any

from mlwarden.sdk.llm import ActiveSpan, _new_span
from mlwarden.sdk.llm_call import Options, field
from mlwarden.sdk.llm_openai_chat import server_address
from mlwarden.sdk.llm_stream import StreamRecorder

__all__ = ["EmbeddingsCall", "begin_embeddings"]


class EmbeddingsCall:
    """One embeddings request in flight (see :class:`mlwarden.sdk.llm_call.Call`)."""

    stream = False

    def __init__(self, span: ActiveSpan, kwargs: dict[str, Any]) -> None:
        self.span, self.kwargs = span, kwargs

    def record(self, resp: Any) -> None:
        self.span.set("gen_ai.response.model", field(resp, "model"))
        data = field(resp, "data")
        if isinstance(data, list) and data:
            vector = field(data[0], "embedding")
            if isinstance(vector, list):
                self.span.set("gen_ai.embeddings.dimension.count", len(vector))
        usage = field(resp, "usage")
        if usage is None:
            self.span.set("mlwarden.usage_missing", True)
        else:
            self.span.set("gen_ai.usage.input_tokens", field(usage, "prompt_tokens"))

    def recorder(self) -> StreamRecorder:
        raise TypeError("an embeddings call does not stream")


def begin_embeddings(client: Any, kwargs: dict[str, Any], opts: Options) -> EmbeddingsCall:
    """Open the span of an ``embeddings.create`` call."""
    inputs = kwargs.get("input")
    count = 1 if isinstance(inputs, str) else len(inputs) if isinstance(inputs, list) else None
    fmt = kwargs.get("encoding_format")
    attrs = {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": opts.provider,
        "gen_ai.request.model": kwargs.get("model"),
        "gen_ai.request.encoding_formats": [fmt] if isinstance(fmt, str) else None,
        "gen_ai.embeddings.dimension.count": kwargs.get("dimensions"),
        "mlwarden.embeddings.input_count": count,
        "server.address": server_address(client),
        "user.id": kwargs.get("user") if isinstance(kwargs.get("user"), str) else None,
    }
    span = _new_span(f"embeddings {kwargs.get('model', '')}".strip(), "llm", attrs)
    return EmbeddingsCall(span, dict(kwargs))
