"""Pure ASGI middleware (FastAPI, Starlette, any ASGI app): every request logged, near-zero cost.

It wraps ``receive`` and ``send`` only to count bytes and see the status and
the last body chunk (latency runs until that chunk is handed to the server,
so streaming responses are measured whole), then queues one operational event
(see :mod:`mlwarden.sdk.requestlog`) *after* the response is sent. No body is
buffered unless extraction is configured. Not ``BaseHTTPMiddleware``: that
one buffers streaming responses and costs a task per request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mlwarden.sdk.monitor import Monitor
from mlwarden.sdk.requestlog import (
    EVENT_ID_HEADER,
    UNMATCHED,
    ExtractFn,
    RequestLog,
)

__all__ = ["ASGIMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADER = EVENT_ID_HEADER.encode()
_perf = time.perf_counter_ns
_now = time.time


class ASGIMiddleware:
    """Log every HTTP request of an ASGI app to ``<model>.requests``; optionally the
    predictions in its JSON bodies to the model, and Prometheus metrics on ``metrics_path``.

    ``features`` names the request-body field holding the features (``"$"``: the whole
    body), ``prediction`` / ``score`` the response-body fields (dotted paths; lists are a
    batch); or ``extract(request_json, response_json)`` returns ``Monitor.log`` arguments.

    Examples
    --------
    >>> import asyncio, httpx, mlwarden
    >>> from fastapi import FastAPI
    >>> memory = mlwarden.InMemoryTransport()
    >>> monitor = mlwarden.init(model="churn", transport=memory)
    >>> app = FastAPI()
    >>> @app.post("/predict")
    ... def predict(body: dict) -> dict:
    ...     return {"prediction": int(body["features"]["age"] > 40)}
    >>> app.add_middleware(mlwarden.ASGIMiddleware, monitor=monitor,
    ...                    features="features", prediction="prediction")
    >>> async def call() -> int:
    ...     async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
    ...                                  base_url="http://test") as client:
    ...         r = await client.post("/predict", json={"features": {"age": 41}})
    ...         return r.json()["prediction"]
    >>> asyncio.run(call())
    1
    >>> monitor.close()
    >>> memory.events_table("churn.requests").column("route").to_pylist()
    ['/predict']
    >>> memory.events_table("churn").column("prediction").to_pylist()
    [1]
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        monitor: Monitor,
        features: str | None = None,
        prediction: str | None = None,
        score: str | None = None,
        extract: ExtractFn | None = None,
        metrics_path: str | None = None,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        self.app = app
        self.monitor = monitor
        self.features = features
        self.prediction = prediction
        self.score = score
        self.extract = extract
        self.metrics_path = metrics_path
        self.max_body_bytes = max_body_bytes
        self._log = RequestLog(
            monitor,
            features=features,
            prediction=prediction,
            score=score,
            extract=extract,
            metrics=metrics_path is not None,
        )
        self._extractor = self._log.extractor
        self._metrics_app: Any = None if self._log.metrics is None else self._log.metrics.asgi_app()
        self._routes: dict[Any, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._metrics_app is not None and scope["path"] == self.metrics_path:
            await self._metrics_app(scope, receive, send)
            return
        x = _Exchange(self, scope, send)
        try:
            await self.app(scope, x.receive_from(receive), x.send)
        except BaseException as exc:
            if not x.done:
                x.finish(type(exc).__name__)
            raise
        if not x.done:  # the app returned without finishing its response
            x.finish("IncompleteResponse" if x.status_code else "NoResponse")

    def route_of(self, scope: Scope, status_code: int) -> str:
        """The route template (FastAPI: ``scope["route"].path``); Starlette routes are found by
        endpoint; a 404 without a route is ``<unmatched>`` (raw paths would explode label sets)."""
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
        endpoint = scope.get("endpoint")
        if endpoint is not None:
            found = self._routes.get(endpoint)
            if found is None:
                found = self._find_route(scope, endpoint)
            if found is not None:
                return found
        if status_code == 404:
            return UNMATCHED
        return str(scope.get("path", ""))

    def _find_route(self, scope: Scope, endpoint: Any) -> str | None:
        for r in getattr(scope.get("app"), "routes", ()):
            if getattr(r, "endpoint", None) is endpoint and isinstance(
                getattr(r, "path", None), str
            ):
                self._routes[endpoint] = r.path
                return str(r.path)
        return None


class _Exchange:
    """One request/response as the middleware sees it."""

    __slots__ = (
        "mw", "scope", "downstream", "t0", "ts", "event_id", "status_code", "req_bytes",
        "resp_bytes", "req_body", "resp_body", "done",
    )  # fmt: skip

    def __init__(self, mw: ASGIMiddleware, scope: Scope, send: Send) -> None:
        self.mw = mw
        self.scope = scope
        self.downstream = send
        self.t0 = _perf()
        self.ts = _now()
        self.event_id = _header(scope) or mw.monitor._new_id()
        self.status_code = 0
        self.req_bytes = 0
        self.resp_bytes = 0
        capture = mw._extractor is not None
        self.req_body: list[bytes] | None = [] if capture else None
        self.resp_body: list[bytes] | None = [] if capture else None
        self.done = False

    def receive_from(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                self.req_bytes += len(body)
                if self.req_body is not None:
                    self._keep(self.req_body, body, self.req_bytes)
            return message

        return wrapped

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status_code = message["status"]
            message = dict(message)
            message["headers"] = [*message.get("headers", ()), (_HEADER, self.event_id.encode())]
        elif kind == "http.response.body":
            body = message.get("body", b"")
            self.resp_bytes += len(body)
            if self.resp_body is not None:
                self._keep(self.resp_body, body, self.resp_bytes)
            if not message.get("more_body", False):
                await self.downstream(message)
                self.finish(None)
                return
        elif kind == "http.response.pathsend":
            await self.downstream(message)
            self.finish(None)
            return
        await self.downstream(message)

    def _keep(self, chunks: list[bytes], body: bytes, total: int) -> None:
        if total <= self.mw.max_body_bytes:
            chunks.append(body)
        else:
            chunks.clear()
            self.req_body = self.resp_body = None  # too large to extract from: skip

    def finish(self, error: str | None) -> None:
        self.done = True
        mw = self.mw
        latency_ms = (_perf() - self.t0) / 1e6
        code = self.status_code or 500
        route = mw.route_of(self.scope, code)
        mw._log.record(
            self.event_id,
            self.ts,
            route=route,
            method=str(self.scope.get("method", "")),
            status_code=code,
            latency_ms=latency_ms,
            request_bytes=self.req_bytes,
            response_bytes=self.resp_bytes,
            error=error,
            req_body=self.req_body,
            resp_body=self.resp_body,
        )


def _header(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            text = bytes(value).decode("latin-1")
            return text if 0 < len(text) <= 128 else None
    return None
