"""One traced client call: the seam between the OpenAI wrapper and the operations it records.

An operation (chat completions, embeddings, responses) turns the call's keyword
arguments into a :class:`Call`: the span it opened, the arguments to send (it
may add ``stream_options``), and how to record the answer, whole or streamed.

Examples
--------
>>> field({"a": 1}, "a"), field(None, "a"), field(3, "real")
(1, None, 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mlwarden.sdk.llm import ActiveSpan
from mlwarden.sdk.llm_stream import StreamRecorder

__all__ = ["Begin", "Call", "Options", "field"]


def field(obj: Any, key: str) -> Any:
    """A field of an SDK object or of a dict (None when missing)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


@dataclass(frozen=True)
class Options:
    """How :func:`~mlwarden.sdk.llm.wrap_openai` was asked to record."""

    provider: str = "openai"
    include_usage: bool = True
    capture: bool | None = None


class Call(Protocol):
    """A call in flight."""

    span: ActiveSpan
    #: The keyword arguments to send (the app's, maybe with ``stream_options`` added).
    kwargs: dict[str, Any]
    #: Whether the answer is a stream.
    stream: bool

    def record(self, resp: Any) -> None:
        """Record a whole answer on the span (the caller ends the span)."""

    def recorder(self) -> StreamRecorder:
        """A recorder for a streamed answer; it ends the span."""


class Begin(Protocol):
    def __call__(self, client: Any, kwargs: dict[str, Any], opts: Options) -> Call: ...
