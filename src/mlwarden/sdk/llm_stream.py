"""Streams that record as the app reads them: the app's stream, with a recorder listening.

The wrapper hands every chunk to a :class:`StreamRecorder` and ends it once, when
the stream is exhausted, fails, or is closed (or garbage-collected). The
recorder runs under :func:`~mlwarden.sdk.llm_guard.guard`: if it fails, the
chunk still reaches the app and the stream goes on.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

from mlwarden.sdk.llm_guard import guard

__all__ = ["AsyncTracedStream", "StreamRecorder", "TracedStream", "traced_stream"]


class StreamRecorder(Protocol):
    """Listens to one stream."""

    def chunk(self, c: Any) -> bool:
        """Record a chunk; False hides it from the app (a chunk the wrapper asked for)."""

    def end(self, exc: BaseException | None = None) -> None:
        """The stream is over (``exc``: how it failed); called once."""


def _chunk(rec: StreamRecorder, c: Any) -> bool:
    show = True
    with guard("stream recording"):
        show = rec.chunk(c)
    return show


class _Ending:
    def __init__(self, rec: StreamRecorder) -> None:
        self._rec, self._ended = rec, False

    def __call__(self, exc: BaseException | None = None) -> None:
        if not self._ended:
            self._ended = True
            with guard("stream recording"):
                self._rec.end(exc)


class _Proxy:
    """What both streams share: the wrapped stream's other attributes, and the recording
    ended when a stream is dropped unread to its end."""

    _stream: Any

    def __del__(self) -> None:
        end = self.__dict__.get("_end")
        if end is not None:
            end()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._stream, name)


class TracedStream(_Proxy):
    """A sync stream that records as it is read (iterate it, or use it as a context manager)."""

    def __init__(self, stream: Any, rec: StreamRecorder) -> None:
        self._it = iter(stream)
        self._stream, self._rec, self._end = stream, rec, _Ending(rec)

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                c = next(self._it)
            except StopIteration:
                self._end()
                raise
            except Exception as exc:
                self._end(exc)
                raise
            if _chunk(self._rec, c):
                return c

    def __enter__(self) -> TracedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._end()
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class AsyncTracedStream(_Proxy):
    """An async stream that records as it is read."""

    def __init__(self, stream: Any, rec: StreamRecorder) -> None:
        self._it = stream.__aiter__()
        self._stream, self._rec, self._end = stream, rec, _Ending(rec)

    def __aiter__(self) -> AsyncTracedStream:
        return self

    async def __anext__(self) -> Any:
        while True:
            try:
                c = await self._it.__anext__()
            except StopAsyncIteration:
                self._end()
                raise
            except Exception as exc:
                self._end(exc)
                raise
            if _chunk(self._rec, c):
                return c

    async def __aenter__(self) -> AsyncTracedStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._end()
        close = getattr(self._stream, "close", None)
        if close is not None:
            out = close()
            if inspect.isawaitable(out):
                await out


def traced_stream(stream: Any, rec: StreamRecorder) -> TracedStream | AsyncTracedStream:
    """The app's stream (sync or async), recorded by ``rec``."""
    return (
        AsyncTracedStream(stream, rec)
        if hasattr(stream, "__aiter__")
        else TracedStream(stream, rec)
    )
