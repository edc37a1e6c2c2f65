"""WSGI middleware (Flask, any WSGI app): every request logged, near-zero cost.

The response iterable is wrapped to count bytes; the event is queued when the
server closes it, i.e. after the last chunk was written (streaming responses
are measured whole). For Flask the route template comes from
``request.url_rule``, recorded by a ``before_request`` hook the middleware
adds when it wraps a Flask app's ``wsgi_app``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mlwarden.sdk.monitor import Monitor
from mlwarden.sdk.requestlog import (
    UNMATCHED,
    ExtractFn,
    RequestLog,
)

__all__ = ["WSGIMiddleware"]

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

ROUTE_KEY = "mlwarden.route"
_perf = time.perf_counter_ns
_now = time.time


def _remember_flask_route() -> None:
    from flask import request

    rule = request.url_rule
    request.environ[ROUTE_KEY] = rule.rule if rule is not None else None


class WSGIMiddleware:
    """Log every HTTP request of a WSGI app to ``<model>.requests``; optionally the predictions
    in its JSON bodies to the model, and Prometheus metrics on ``metrics_path``.

    Arguments as for :class:`ASGIMiddleware` (a request body is seen as far as the app reads
    it). For Flask wrap ``app.wsgi_app`` (so the route
    template is known): ``app.wsgi_app = WSGIMiddleware(app.wsgi_app, monitor=monitor)``.

    Examples
    --------
    >>> import mlwarden
    >>> from flask import Flask, request
    >>> memory = mlwarden.InMemoryTransport()
    >>> monitor = mlwarden.init(model="churn", transport=memory)
    >>> app = Flask("demo")
    >>> @app.post("/predict/<int:shop>")
    ... def predict(shop: int) -> dict:
    ...     return {"prediction": int(request.get_json()["age"] > 40)}
    >>> app.wsgi_app = mlwarden.WSGIMiddleware(app.wsgi_app, monitor=monitor,
    ...                                        features="$", prediction="prediction")
    >>> app.test_client().post("/predict/7", json={"age": 41}, buffered=True).json
    {'prediction': 1}
    >>> monitor.close()
    >>> memory.events_table("churn.requests").column("route").to_pylist()
    ['/predict/<int:shop>']
    >>> memory.events_table("churn").column("age").to_pylist()
    [41]
    """

    def __init__(
        self,
        app: WSGIApp,
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
        self._metrics_app: Any = None if self._log.metrics is None else self._log.metrics.wsgi_app()
        owner: Any = getattr(app, "__self__", app)  # Flask: app.wsgi_app is a bound method
        funcs = getattr(owner, "before_request_funcs", None)
        if isinstance(funcs, dict) and hasattr(owner, "url_map"):
            funcs.setdefault(None, []).insert(0, _remember_flask_route)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._metrics_app is not None and environ.get("PATH_INFO") == self.metrics_path:
            result: Iterable[bytes] = self._metrics_app(environ, start_response)
            return result
        x = _Exchange(self, environ)
        if x.req_body is not None and "wsgi.input" in environ:
            environ["wsgi.input"] = _TeeInput(environ["wsgi.input"], x)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            x.status_code = int(status[:3])
            return start_response(status, [*headers, ("X-Mlwarden-Event-Id", x.event_id)], exc_info)

        try:
            body = self.app(environ, start)
        except BaseException as exc:
            x.finish(type(exc).__name__)
            raise
        return _Body(body, x)


class _Exchange:
    __slots__ = (
        "mw", "environ", "t0", "ts", "event_id", "status_code", "resp_bytes", "req_read",
        "req_body", "resp_body", "done",
    )  # fmt: skip

    def __init__(self, mw: WSGIMiddleware, environ: Environ) -> None:
        self.mw = mw
        self.environ = environ
        self.t0 = _perf()
        self.ts = _now()
        chosen = environ.get("HTTP_X_MLWARDEN_EVENT_ID")
        ok = isinstance(chosen, str) and 0 < len(chosen) <= 128
        self.event_id: str = str(chosen) if ok else mw.monitor._new_id()
        self.status_code = 0
        self.resp_bytes = 0
        self.req_read = 0
        capture = mw._extractor is not None
        self.req_body: list[bytes] | None = [] if capture else None
        self.resp_body: list[bytes] | None = [] if capture else None
        self.done = False

    def keep(self, chunks: list[bytes] | None, data: bytes, total: int) -> None:
        if chunks is None:
            return
        if total <= self.mw.max_body_bytes:
            chunks.append(data)
        else:
            self.req_body = self.resp_body = None

    def finish(self, error: str | None) -> None:
        if self.done:
            return
        self.done = True
        mw = self.mw
        env = self.environ
        latency_ms = (_perf() - self.t0) / 1e6
        code = self.status_code or 500
        route = env.get(ROUTE_KEY)
        if not isinstance(route, str):
            route = UNMATCHED if code == 404 else str(env.get("PATH_INFO", ""))
        method = str(env.get("REQUEST_METHOD", ""))
        length = env.get("CONTENT_LENGTH")
        req_bytes = int(length) if isinstance(length, str) and length.isdigit() else self.req_read
        mw._log.record(
            self.event_id,
            self.ts,
            route=route,
            method=method,
            status_code=code,
            latency_ms=latency_ms,
            request_bytes=req_bytes,
            response_bytes=self.resp_bytes,
            error=error,
            req_body=self.req_body,
            resp_body=self.resp_body,
        )


class _Body:
    """The response iterable: counts bytes; the request ends when the server closes it."""

    def __init__(self, inner: Iterable[bytes], x: _Exchange) -> None:
        self.inner = inner
        self.x = x

    def __iter__(self) -> Iterator[bytes]:
        x = self.x
        try:
            for chunk in self.inner:
                x.resp_bytes += len(chunk)
                if x.resp_body is not None:
                    x.keep(x.resp_body, chunk, x.resp_bytes)
                yield chunk
        except BaseException as exc:
            x.finish(type(exc).__name__)
            raise

    def close(self) -> None:
        try:
            close = getattr(self.inner, "close", None)
            if close is not None:
                close()
        finally:
            self.x.finish(None)


class _TeeInput:
    """``wsgi.input`` that keeps a copy of what the app reads (only with extraction on)."""

    def __init__(self, inner: Any, x: _Exchange) -> None:
        self.inner = inner
        self.x = x

    def _seen(self, data: bytes) -> bytes:
        self.x.req_read += len(data)
        self.x.keep(self.x.req_body, data, self.x.req_read)
        return data

    def read(self, *args: Any) -> bytes:
        return self._seen(self.inner.read(*args))

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self._seen(data)
        return len(data)

    def readline(self, *args: Any) -> bytes:
        return self._seen(self.inner.readline(*args))

    def readlines(self, *args: Any) -> list[bytes]:
        return [self._seen(line) for line in self.inner.readlines(*args)]

    def __iter__(self) -> Iterator[bytes]:
        for line in self.inner:
            yield self._seen(line)
