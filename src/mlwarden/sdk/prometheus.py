"""Prometheus metrics of the model server itself, served on its own ``/metrics``.

The middlewares record, per route, method and status code, the request
count and a latency histogram, and errors by type; the SDK's own delivery
counters (queued, sent, spooled, dropped) are exported beside them. All live
in a dedicated ``CollectorRegistry`` so they never mix with (or break) metrics
the application registers itself. In a pre-fork server each worker has its
own registry: a scrape sees the worker that answered it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, make_asgi_app, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from mlwarden.sdk.monitor import Monitor

__all__ = ["HttpMetrics"]

#: Latency buckets (seconds): model servers answer in milliseconds to seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _DeliveryCollector(Collector):
    """The SDK's delivery counters, read from ``Monitor.stats()`` at scrape time."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        s = self.monitor.stats()
        labels = ["model"]
        value = [self.monitor.model]
        for name, doc, v in (
            ("logged", "Rows handed to the mlwarden SDK.", s.logged),
            ("sent", "Rows the mlwarden server took.", s.sent),
            ("rejected", "Rows the mlwarden server quarantined.", s.rejected),
            ("dropped", "Rows the mlwarden SDK dropped (queue or spool full, refused).", s.dropped),
        ):
            c = CounterMetricFamily(f"mlwarden_sdk_rows_{name}", doc, labels=labels)
            c.add_metric(value, v)
            yield c
        for name, doc, v in (
            ("queued", "Rows waiting in memory.", s.queued),
            ("spooled", "Rows waiting on disk for the server.", s.spooled),
        ):
            g = GaugeMetricFamily(f"mlwarden_sdk_rows_{name}", doc, labels=labels)
            g.add_metric(value, v)
            yield g


class HttpMetrics:
    """Request metrics for one model server (used by the middlewares' ``metrics_path``).

    Examples
    --------
    >>> import mlwarden
    >>> monitor = mlwarden.init(model="churn", transport=mlwarden.InMemoryTransport())
    >>> metrics = HttpMetrics(monitor)
    >>> metrics.observe("/predict", "POST", 200, 0.004, None)
    >>> from prometheus_client import generate_latest
    >>> b'mlwarden_http_requests_total{method="POST",model="churn",route="/predict",status_code="200"} 1.0' in generate_latest(metrics.registry)
    True
    >>> monitor.close()
    """  # noqa: E501

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "mlwarden_http_requests",
            "HTTP requests served, by route, method and status code.",
            ["model", "route", "method", "status_code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "mlwarden_http_request_duration_seconds",
            "Time from request to the last byte of the response.",
            ["model", "route", "method"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "mlwarden_http_request_errors",
            "Requests that failed (5xx or an exception), by route and error type.",
            ["model", "route", "error"],
            registry=self.registry,
        )
        self.registry.register(_DeliveryCollector(monitor))
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(
        self, route: str, method: str, status_code: int, seconds: float, error: str | None
    ) -> None:
        key = (route, method, status_code)
        child = self._children.get(key)
        if child is None:
            model = self.monitor.model
            child = (
                self.requests.labels(model, route, method, str(status_code)),
                self.latency.labels(model, route, method),
            )
            self._children[key] = child
        child[0].inc()
        child[1].observe(seconds)
        if error is not None or status_code >= 500:
            self.errors.labels(self.monitor.model, route, error or f"HTTP {status_code}").inc()

    def asgi_app(self) -> Callable[..., Any]:
        app: Callable[..., Any] = make_asgi_app(self.registry)
        return app

    def wsgi_app(self) -> Callable[..., Any]:
        app: Callable[..., Any] = make_wsgi_app(self.registry)
        return app
