"""The access log: who called which route of the API and UI, how it went, from where, when.

:class:`AccessLogMiddleware` (pure ASGI, the outermost layer) times every HTTP request and
counts its bytes in and out; :class:`AccessLog` buffers the entries in memory and a
background thread writes them in batches (:class:`~mlwarden.store.security_log.JsonLinesLog`,
one file per day, fsynced) every ``FLUSH_S`` or sooner when many wait, so a request pays for
a dict and a deque append. The same thread hands each batch to ``on_flush`` (the security
events of 401 / 403 / 429 replies and the checks of :mod:`mlwarden.server.access_watch`)
and prunes files past the retention.

Who: the key id is the ``<id>`` of a presented key ``mlw_<id>_<secret>`` (read without
validating it: a 401 names the key that was tried); the project is the validated
principal's when the auth layer set ``request.state.principal``, else the project the key
id belongs to in the key store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlwarden.store.keys import key_id_of
from mlwarden.store.security_log import JsonLinesLog

__all__ = ["AccessLog", "AccessLogMiddleware", "key_id_of", "presented_key", "route_of"]

log = logging.getLogger("mlwarden.server.access")

#: Longest time an entry waits in memory before it is written (seconds).
FLUSH_S = 0.5
#: Entries waiting that wake the writer early.
FLUSH_ROWS = 2000
#: Entries kept waiting at most (a stuck disk drops the oldest rather than grow memory).
MAX_PENDING = 200_000
PRUNE_EVERY_S = 3600.0


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The API key of ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, if any."""
    bearer = api_key = None
    for name, value in headers:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                bearer = text[7:].strip()
        elif name == b"x-api-key":
            api_key = value.decode("latin-1").strip()
    return bearer or api_key


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for k, v in headers:
        if k == name:
            return v.decode("latin-1")
    return None


def route_of(scope: Scope) -> str:
    """The route template that served the request (``/v1/models/{model}``), never the raw
    path: the mounted static files as ``/ui/static/{path}``, nothing matched as ``-``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if str(scope.get("path", "")).startswith("/ui/static/"):
        return "/ui/static/{path}"
    return "-"


class AccessLog:
    """Buffered, batched access entries of one app; :meth:`start` / :meth:`close` bracket the
    writer thread (the app's lifespan)."""

    def __init__(
        self,
        log_file: JsonLinesLog,
        *,
        retention_days: float | None = None,
        project_of_key: Callable[[str], str | None] | None = None,
        on_flush: Callable[[list[dict[str, Any]]], None] | None = None,
        also_prune: tuple[JsonLinesLog, ...] = (),
    ) -> None:
        self.file = log_file
        self.also_prune = also_prune
        self.retention_days = retention_days
        self.project_of_key = project_of_key
        self.on_flush = on_flush
        self._pending: deque[dict[str, Any]] = deque(maxlen=MAX_PENDING)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written_ = 0

    # -- the request side: cheap -------------------------------------------------------------
    def record(self, entry: dict[str, Any]) -> None:
        self._pending.append(entry)
        if len(self._pending) >= FLUSH_ROWS:
            self._wake.set()

    # -- the writer thread -------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="mlwarden-access-log", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """Write what waits and stop the writer."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        pruned = 0.0
        while not self._stop.is_set():
            self._wake.wait(FLUSH_S)
            self._wake.clear()
            try:
                self.flush()
                if self.retention_days and time.monotonic() - pruned > PRUNE_EVERY_S:
                    pruned = time.monotonic()
                    for f in (self.file, *self.also_prune):
                        f.prune(keep_days=self.retention_days)
            except Exception:  # noqa: BLE001 - the log must not take the server down
                log.exception("writing the access log failed")

    def flush(self) -> int:
        """Write the waiting entries now; returns how many."""
        batch: list[dict[str, Any]] = []
        while self._pending and len(batch) < 50_000:
            batch.append(self._pending.popleft())
        if not batch:
            if self.on_flush is not None:
                self.on_flush([])  # time passes: windows of the access checks close
            return 0
        if self.project_of_key is not None:
            for e in batch:
                if e.get("project") is None and e.get("key_id"):
                    e["project"] = self.project_of_key(e["key_id"])
        self.file.append(batch)
        self.written_ += len(batch)
        if self.on_flush is not None:
            self.on_flush(batch)
        return len(batch)


class AccessLogMiddleware:
    """Times each HTTP request and records it in the app's :class:`AccessLog`."""

    def __init__(self, app: ASGIApp, *, access: AccessLog) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        at = datetime.now(UTC)
        seen = {"in": 0, "out": 0, "status": 500}

        async def counted_receive() -> Message:
            msg = await receive()
            if msg["type"] == "http.request":
                seen["in"] += len(msg.get("body", b""))
            return msg

        async def counted_send(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                seen["status"] = int(msg["status"])
            elif msg["type"] == "http.response.body":
                seen["out"] += len(msg.get("body", b""))
            await send(msg)

        try:
            await self.app(scope, counted_receive, counted_send)
        finally:
            headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
            principal = scope.get("state", {}).get("principal")
            key_id = getattr(principal, "key_id", None) or key_id_of(presented_key(headers))
            client = scope.get("client")
            self.access.record(
                {
                    "at": at.isoformat(timespec="milliseconds"),
                    "key_id": key_id,
                    "project": getattr(principal, "project", None),
                    "method": scope.get("method", ""),
                    "route": route_of(scope),
                    "status": seen["status"],
                    "request_bytes": seen["in"],
                    "response_bytes": seen["out"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "client": client[0] if client else None,
                    "user_agent": _header(headers, b"user-agent"),
                }
            )
