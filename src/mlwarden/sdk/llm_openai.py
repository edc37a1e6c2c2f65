"""The OpenAI-compatible client wrapper behind :func:`mlwarden.sdk.llm.wrap_openai`.

It replaces, on that one client object, ``chat.completions.create``,
``embeddings.create`` and ``responses.create`` (where the client has them) with
functions that record a GenAI span around the call, and ``with_options`` /
``copy`` with functions that wrap the client they return. Sync and async
clients alike: an awaitable result is recorded when it is awaited; a stream is
recorded as it is read (:mod:`mlwarden.sdk.llm_stream`).

The app's call is sacred: everything the wrapper does of its own runs under
:func:`~mlwarden.sdk.llm_guard.guard`, so a failure of ours is logged and
counted and the app gets exactly what the client returned or raised.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from mlwarden.sdk.llm_call import Begin, Call, Options
from mlwarden.sdk.llm_guard import guard
from mlwarden.sdk.llm_openai_chat import begin_chat
from mlwarden.sdk.llm_openai_embeddings import begin_embeddings
from mlwarden.sdk.llm_openai_responses import begin_responses
from mlwarden.sdk.llm_stream import traced_stream

__all__ = ["OPERATIONS", "instrument"]

_MARK = "__mlwarden_wrapped__"

#: What is traced: the path from the client to the resource with ``create``, and the operation.
OPERATIONS: tuple[tuple[tuple[str, ...], str, Begin], ...] = (
    (("chat", "completions"), "chat.completions.create", begin_chat),
    (("embeddings",), "embeddings.create", begin_embeddings),
    (("responses",), "responses.create", begin_responses),
)
_COPIES = ("with_options", "copy")


def _finish(resp: Any, call: Call, place: str) -> Any:
    if call.stream:
        out = resp
        with guard(place):
            out = traced_stream(resp, call.recorder())
        if out is resp:  # could not follow the stream: the span ends now, the app reads on
            call.span.end()
        return out
    with guard(place):
        call.record(resp)
    call.span.end()
    return resp


def _failed(call: Call, exc: BaseException) -> None:
    call.span.record_exception(exc)
    call.span.end()


async def _finish_async(pending: Any, call: Call, place: str) -> Any:
    try:
        resp = await pending
    except BaseException as exc:
        _failed(call, exc)
        raise
    return _finish(resp, call, place)


def _traced(
    client: Any, original: Callable[..., Any], begin: Begin, opts: Options, place: str
) -> Callable[..., Any]:
    def create(*args: Any, **kwargs: Any) -> Any:
        call: Call | None = None
        with guard(place):
            call = begin(client, kwargs, opts)
        if call is None:  # not traced; the app's call goes out as the app wrote it
            return original(*args, **kwargs)
        try:
            resp = original(*args, **call.kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        if inspect.isawaitable(resp):
            return _finish_async(resp, call, place)
        return _finish(resp, call, place)

    setattr(create, _MARK, True)
    return create


def _copier(original: Callable[..., Any], opts: Options) -> Callable[..., Any]:
    def copy(*args: Any, **kwargs: Any) -> Any:
        new = original(*args, **kwargs)
        with guard("with_options"):
            instrument(new, opts)
        return new

    setattr(copy, _MARK, True)
    return copy


def instrument(client: Any, opts: Options) -> None:
    """Wrap the client's operations in place (a second call is a no-op)."""
    for path, place, begin in OPERATIONS:
        with guard("wrap_openai"):
            resource = client
            for name in path:
                resource = getattr(resource, name, None)
            original = getattr(resource, "create", None)
            if original is not None and not getattr(original, _MARK, False):
                resource.create = _traced(client, original, begin, opts, place)
    for name in _COPIES:
        original = getattr(client, name, None)
        if callable(original) and not getattr(original, _MARK, False):
            setattr(client, name, _copier(original, opts))
