"""What the middlewares log for each HTTP request.

Every request becomes one *operational event* of the companion model
``<model>.requests`` (registered by the SDK on first use):

=================  ==================================================================
field              value
=================  ==================================================================
``event_id``       the request's id, also sent back as ``X-Mlwarden-Event-Id`` (a
                   client may choose it by sending that header)
``timestamp``      when the request arrived
``latency_ms``     arrival to the last byte of the response body handed to the server
``status``         ``error`` for a 5xx answer or an exception, else ``ok``
``error``          the exception type, or ``HTTP 503``-style for a 5xx without one
``route``          segment: the route template (``/items/{id}``), ``<unmatched>`` for a 404
``method``         segment: GET, POST, ...
``status_code``    segment: "200", "404", ...
``request_bytes``  feature: body bytes received
``response_bytes`` feature: body bytes sent
=================  ==================================================================

Its task is ``llm`` only because that is the one task whose events need no
prediction; these events carry none. When extraction is configured, a
successful request *also* becomes an event of the model itself (features,
prediction, score, latency, status) with the **same event id**, so the two
join and labels sent later with ``log_actual(event_id, ...)`` find it.
Extraction (JSON parsing and any user function) runs on the SDK's batching
thread, never on the request path; only the raw bodies are kept (up to a
limit) until then.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from mlwarden.schema.spec import Feature, FeatureKind, ModelSpec, Task
from mlwarden.sdk.columns import EventItem

__all__ = ["UNMATCHED", "Extractor", "RequestLog", "requests_spec"]

UNMATCHED = "<unmatched>"
EVENT_ID_HEADER = "x-mlwarden-event-id"

#: ``extract(request_json, response_json)`` returns the arguments of ``Monitor.log`` (features,
#: prediction, score, scores, segments) for one event, a list of them for a batch, or None.
ExtractFn = Callable[[Any, Any], Mapping[str, Any] | Sequence[Mapping[str, Any]] | None]


def requests_spec(model: str) -> ModelSpec:
    """The spec of ``<model>.requests``.

    Examples
    --------
    >>> requests_spec("churn").name, requests_spec("churn").segments
    ('churn.requests', ('route', 'method', 'status_code'))
    """
    return ModelSpec(
        name=f"{model}.requests",
        task=Task.LLM,
        prediction=None,
        features=(
            Feature(name="request_bytes", kind=FeatureKind.NUMERIC),
            Feature(name="response_bytes", kind=FeatureKind.NUMERIC),
        ),
        segments=("route", "method", "status_code"),
        description=f"HTTP requests served by model {model!r} (logged by the mlwarden middleware).",
    )


def operational_item(
    dest: str,
    event_id: str,
    ts: float,
    *,
    route: str,
    method: str,
    status_code: int,
    latency_ms: float,
    request_bytes: int,
    response_bytes: int,
    error: str | None,
    job: Callable[[], list[EventItem]] | None,
) -> EventItem:
    failed = error is not None or status_code >= 500
    if failed and error is None:
        error = f"HTTP {status_code}"
    return (
        dest,
        event_id,
        ts,
        {"request_bytes": request_bytes, "response_bytes": response_bytes},
        None,
        None,
        None,
        {"route": route, "method": method, "status_code": str(status_code)},
        latency_ms,
        "error" if failed else "ok",
        error,
        None,
        job,
    )


class RequestLog:
    """What the ASGI and WSGI middlewares share: where request events go, the optional
    extractor of model events, the optional Prometheus metrics, and the recording of one
    finished request."""

    def __init__(
        self,
        monitor: Any,
        *,
        features: str | None,
        prediction: str | None,
        score: str | None,
        extract: ExtractFn | None,
        metrics: bool,
    ) -> None:
        self.monitor = monitor
        self.dest = monitor._companion(requests_spec(monitor.model))
        self.extractor = (
            Extractor(features=features, prediction=prediction, score=score, extract=extract)
            if extract is not None or prediction is not None
            else None
        )
        self.metrics: Any = None
        if metrics:
            from mlwarden.sdk.prometheus import HttpMetrics

            self.metrics = HttpMetrics(monitor)

    def record(
        self,
        event_id: str,
        ts: float,
        *,
        route: str,
        method: str,
        status_code: int,
        latency_ms: float,
        request_bytes: int,
        response_bytes: int,
        error: str | None,
        req_body: list[bytes] | None,
        resp_body: list[bytes] | None,
    ) -> None:
        """Log one finished request (and, when it succeeded, the extraction job for its model
        event) and count it in the metrics."""
        job = None
        if (
            self.extractor is not None
            and error is None
            and status_code < 400
            and req_body is not None
            and resp_body is not None
        ):
            job = self.extractor.job(
                b"".join(req_body), b"".join(resp_body), event_id, ts, latency_ms
            )
        self.monitor._log_item(
            operational_item(
                self.dest,
                event_id,
                ts,
                route=route,
                method=method,
                status_code=status_code,
                latency_ms=latency_ms,
                request_bytes=request_bytes,
                response_bytes=response_bytes,
                error=error,
                job=job,
            )
        )
        if self.metrics is not None:
            self.metrics.observe(route, method, status_code, latency_ms / 1000.0, error)


def _path(doc: Any, path: str) -> Any:
    """``a.b`` inside a JSON document; ``$`` is the whole document."""
    if path == "$":
        return doc
    for part in path.split("."):
        if not isinstance(doc, dict):
            return None
        doc = doc.get(part)
    return doc


class Extractor:
    """Find features and prediction in JSON bodies, by field names or a user function.

    Examples
    --------
    >>> ex = Extractor(features="features", prediction="prediction", score="score")
    >>> [item[3:6] for item in ex.events(b'{"features": {"x": 1}}',
    ...                                  b'{"prediction": 1, "score": 0.9}', "e1", 0.0, 2.0)]
    [({'x': 1}, 1, 0.9)]
    """

    def __init__(
        self,
        *,
        features: str | None = None,
        prediction: str | None = None,
        score: str | None = None,
        extract: ExtractFn | None = None,
    ) -> None:
        self.features = features
        self.prediction = prediction
        self.score = score
        self.extract = extract

    def job(
        self, request: bytes, response: bytes, event_id: str, ts: float, latency_ms: float
    ) -> Callable[[], list[EventItem]]:
        return functools.partial(self.events, request, response, event_id, ts, latency_ms)

    def events(
        self, request: bytes, response: bytes, event_id: str, ts: float, latency_ms: float
    ) -> list[EventItem]:
        req = _json(request)
        resp = _json(response)
        found: list[Mapping[str, Any]]
        if self.extract is not None:
            got = self.extract(req, resp)
            if got is None:
                return []
            found = [got] if isinstance(got, Mapping) else list(got)
        else:
            found = self._by_names(req, resp)
        one = len(found) == 1
        return [
            (
                None,
                event_id if one else f"{event_id}-{i:x}",
                ts,
                _mapping(kw.get("features")),
                kw.get("prediction"),
                kw.get("score"),
                _mapping(kw.get("scores")),
                _mapping(kw.get("segments")),
                latency_ms,
                "ok",
                None,
                None,
                None,
            )
            for i, kw in enumerate(found)
            if kw.get("prediction") is not None or kw.get("features") is not None
        ]

    def _by_names(self, req: Any, resp: Any) -> list[Mapping[str, Any]]:
        feats = _path(req, self.features) if self.features else None
        pred = _path(resp, self.prediction) if self.prediction else None
        score = _path(resp, self.score) if self.score else None
        if pred is None:
            return []
        if isinstance(pred, list):  # a batch request: one event per row
            n = len(pred)
            rows = feats if isinstance(feats, list) and len(feats) == n else [None] * n
            scores = score if isinstance(score, list) and len(score) == n else [None] * n
            return [
                {"features": f, "prediction": p, "score": s}
                for f, p, s in zip(rows, pred, scores, strict=True)
            ]
        return [{"features": feats, "prediction": pred, "score": score}]


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _mapping(value: Any) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, Mapping) else None
