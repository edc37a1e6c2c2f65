"""OpenTelemetry metrics out: what ``/metrics`` shows, pushed over OTLP/HTTP to a collector.

Prometheus pulls; CloudWatch, Azure Monitor / Application Insights, Datadog, Honeycomb and
every OpenTelemetry Collector take metrics pushed over OTLP. ``mlwarden serve
--otlp-metrics-endpoint URL`` starts a background thread that, every
``--otlp-metrics-interval`` seconds, reads the same state as a ``/metrics`` scrape (monitor
values, thresholds and statuses per model and monitor, open incidents, rows ingested) for every
project and POSTs it as one ``ExportMetricsServiceRequest`` (protobuf) to ``URL/v1/metrics``
(the OTLP/HTTP path; give the collector's base URL).

Names follow the OpenTelemetry conventions: dotted lower case under the ``mlwarden.`` namespace
(``mlwarden_monitor_value`` is ``mlwarden.monitor.value``), attributes namespaced the same way
(``mlwarden.project``, ``mlwarden.model``, ``mlwarden.monitor``, ...); the resource carries
``service.name`` (``mlwarden``), ``service.version`` and ``service.instance.id``. Counters are
monotonic cumulative sums from the server's start; everything else is a gauge. Headers (an API
key: ``DD-API-KEY=...``, ``x-honeycomb-team=...``) come from ``--otlp-metrics-header``.

A failed push is logged and retried at the next tick (a 429 or 5xx answer, or no answer; the
state is re-read each time, so nothing piles up); it never affects the server.

Examples
--------
>>> otel_name("mlwarden_monitor_window_end_timestamp_seconds")
'mlwarden.monitor.window_end_timestamp_seconds'
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from prometheus_client.core import Metric

from mlwarden._version import __version__

if TYPE_CHECKING:
    from mlwarden.server.services import Services

__all__ = ["OtlpMetricsPusher", "metrics_request", "otel_name"]

log = logging.getLogger("mlwarden.server.otlp_push")

_PREFIX = "mlwarden_"
#: Prometheus units written at the end of a name, and their UCUM code.
_UNITS = {"_seconds": "s", "_bytes": "By"}


def otel_name(prometheus_name: str) -> str:
    """``mlwarden_monitor_value`` -> ``mlwarden.monitor.value`` (the namespace and the first
    word become dotted; the rest stays, as OpenTelemetry names do: ``window_end_timestamp``)."""
    rest = prometheus_name.removeprefix(_PREFIX)
    head, _, tail = rest.partition("_")
    return ".".join(p for p in ("mlwarden", head, tail) if p)


def _attributes(labels: dict[str, str]) -> list[KeyValue]:
    return [
        KeyValue(key=f"mlwarden.{k}", value=AnyValue(string_value=v)) for k, v in labels.items()
    ]


def _unit(name: str) -> str:
    for suffix, unit in _UNITS.items():
        if name.endswith(suffix):
            return unit
    return "1"


def metrics_request(
    families: Iterable[Metric], *, instance: str, start_ns: int, now_ns: int
) -> ExportMetricsServiceRequest:
    """Prometheus metric families (one ``collect()`` or several) as one OTLP request."""
    merged: dict[str, metrics_pb2.Metric] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for fam in families:
        name = otel_name(fam.name)
        metric = merged.get(name)
        if metric is None:
            metric = metrics_pb2.Metric(name=name, description=fam.documentation, unit=_unit(name))
            if fam.type == "counter":
                metric.sum.aggregation_temporality = (
                    metrics_pb2.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
                )
                metric.sum.is_monotonic = True
            merged[name] = metric
        for sample in fam.samples:
            if fam.type == "counter" and not sample.name.endswith("_total"):
                continue  # the _created sample of a counter
            key = (name, tuple(sorted(sample.labels.items())))
            if key in seen:  # a project-less series (the build info) read once per project
                continue
            seen.add(key)
            point = metrics_pb2.NumberDataPoint(
                attributes=_attributes(dict(sample.labels)),
                time_unix_nano=now_ns,
                as_double=float(sample.value),
            )
            if fam.type == "counter":
                point.start_time_unix_nano = start_ns
                metric.sum.data_points.append(point)
            else:
                metric.gauge.data_points.append(point)
    resource = Resource(
        attributes=[
            KeyValue(key="service.name", value=AnyValue(string_value="mlwarden")),
            KeyValue(key="service.version", value=AnyValue(string_value=__version__)),
            KeyValue(key="service.instance.id", value=AnyValue(string_value=instance)),
        ]
    )
    scope = InstrumentationScope(name="mlwarden", version=__version__)
    return ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                resource=resource,
                scope_metrics=[
                    metrics_pb2.ScopeMetrics(
                        scope=scope, metrics=[m for m in merged.values() if _has_points(m)]
                    )
                ],
            )
        ]
    )


def _has_points(m: metrics_pb2.Metric) -> bool:
    return bool(m.sum.data_points if m.WhichOneof("data") == "sum" else m.gauge.data_points)


class OtlpMetricsPusher:
    """A background thread pushing the server's state to an OTLP/HTTP metrics endpoint."""

    def __init__(
        self,
        state: Services,
        *,
        endpoint: str,
        interval_s: float,
        headers: dict[str, str],
        timeout_s: float = 10.0,
    ) -> None:
        self.state = state
        self.url = endpoint.rstrip("/") + "/v1/metrics"
        self.interval_s = interval_s
        self.headers = {**headers, "Content-Type": "application/x-protobuf",
                        "User-Agent": f"mlwarden/{__version__}"}  # fmt: skip
        self.timeout_s = timeout_s
        self.instance = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self.start_ns = time.time_ns()
        self.pushed = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> OtlpMetricsPusher:
        self._thread = threading.Thread(target=self._run, name="mlwarden-otlp-metrics", daemon=True)
        self._thread.start()
        log.info("Pushing OTLP metrics to %s every %gs", self.url, self.interval_s)
        return self

    def stop(self) -> None:
        """Stop after one last push (the latest state reaches the collector)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout_s + 30)
            self._thread = None

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            while True:
                stopping = self._stop.wait(self.interval_s)
                self.push(client)
                if stopping:
                    return

    def families(self) -> list[Metric]:
        """Every project's metric families, read as a scrape reads them."""
        from mlwarden.server.metrics import StateCollector

        store = self.state.store
        projects = sorted({m.project for m in store.list_models()}) or ["default"]
        ingest = self.state.ingest_counter
        out: list[Metric] = []
        for project in projects:
            out += StateCollector(store, project, ingest).collect()
        return out

    def push(self, client: httpx.Client) -> bool:
        """Read the state and send it once; whether the collector took it."""
        try:
            body = metrics_request(
                self.families(), instance=self.instance, start_ns=self.start_ns,
                now_ns=time.time_ns(),
            ).SerializeToString()  # fmt: skip
        except Exception:  # the store is closing or failing: try again next tick
            log.exception("Could not read the state to push as OTLP metrics")
            self.failed += 1
            return False
        try:
            r = client.post(self.url, content=body, headers=self.headers)
        except httpx.HTTPError as exc:
            log.warning("OTLP metrics push to %s failed: %s", self.url, exc)
            self.failed += 1
            return False
        if r.status_code >= 300:
            log.warning("OTLP metrics push to %s answered %s", self.url, r.status_code)
            self.failed += 1
            return False
        self.pushed += 1
        return True
