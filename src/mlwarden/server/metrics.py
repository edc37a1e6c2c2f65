"""Prometheus ``/metrics``: monitor values, statuses and thresholds, incidents, ingest.

A custom collector reads the current state on each scrape (nothing is kept in memory between
scrapes apart from the ingest counters): the latest whole-model result of each monitor, open
incidents per model and severity, stored results per status, and rows accepted and rejected
at ingest since start. Labels stay bounded: ``project``, ``model``, ``monitor``, ``kind``,
``severity``, ``status``, ``kind`` of ingest. At most ``MAX_MODELS`` models and
``MAX_MONITORS`` monitors per model are exported per scrape (alerting first).

Segments have series of their own (``mlwarden_segment_monitor_*``, the same labels plus
``segment``, e.g. ``region=north``), so the whole-model series never need a segment filter;
at most ``MAX_SEGMENTS`` segments per model (the most urgent first: a segment with an alerting
monitor before one that is only warned) and ``MAX_SEGMENT_SERIES`` segment series per scrape.
``mlwarden_scrape_truncated`` says when any cap cut something.

The scrape acts for one project, like the API: the API key's project (Prometheus'
``authorization`` setting), or ``default`` on a loopback server without keys.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlwarden._version import __version__
from mlwarden.server.auth import Read
from mlwarden.server.services import Svc
from mlwarden.server.ui import data, incident_source

if TYPE_CHECKING:
    from mlwarden.store.base import Store

__all__ = [
    "MAX_MODELS",
    "MAX_MONITORS",
    "MAX_SEGMENTS",
    "MAX_SEGMENT_SERIES",
    "STATUS_CODES",
    "StateCollector",
    "router",
]

MAX_MODELS = 100
MAX_MONITORS = 300
#: segments per model, and segment series (of each family) per scrape
MAX_SEGMENTS = 20
MAX_SEGMENT_SERIES = 2000
#: ``mlwarden_monitor_status`` values.
STATUS_CODES = {"ok": 0.0, "warn": 1.0, "alert": 2.0, "insufficient_data": -1.0, "no_data": -2.0}
_URGENCY = {"alert": 0, "warn": 1, "ok": 2, "insufficient_data": 3, "no_data": 4}
SEVERITIES = ("low", "medium", "high", "critical")

router = APIRouter(include_in_schema=False)


def _epoch(t: datetime | None) -> float | None:
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


class StateCollector(Collector):
    """Reads the store on ``collect`` (one scrape) for one project."""

    def __init__(self, store: Store, project: str, ingest: Any) -> None:
        self.store = store
        self.project = project
        self.ingest = ingest

    def collect(self) -> Iterator[Metric]:
        yield from self._ingest()
        yield from self._monitors()
        yield from self._incidents()

    def _ingest(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("mlwarden_info", "mlwarden server build.", labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info
        rows = CounterMetricFamily(
            "mlwarden_ingest_rows",
            "Rows received by the ingest API since the server started, by model, kind (events, "
            "actuals, spans) and outcome (accepted, rejected).",
            labels=["project", "model", "kind", "outcome"],
        )
        if self.ingest is not None:
            counted = self.ingest.snapshot(self.project)
            models = sorted({m for m, _, _, _ in counted})[:MAX_MODELS]
            for model, kind, accepted, rejected in counted:
                if model in models:
                    rows.add_metric([self.project, model, kind, "accepted"], float(accepted))
                    rows.add_metric([self.project, model, kind, "rejected"], float(rejected))
        yield rows

    def _monitors(self) -> Iterator[Metric]:
        labels = ["project", "model", "monitor", "kind"]
        value = GaugeMetricFamily(
            "mlwarden_monitor_value", "Latest value of each monitor (whole model).", labels=labels
        )
        threshold = GaugeMetricFamily(
            "mlwarden_monitor_threshold", "Alert threshold of the latest window.", labels=labels
        )
        warn = GaugeMetricFamily(
            "mlwarden_monitor_warn_threshold",
            "Warning threshold of the latest window.",
            labels=labels,
        )
        status = GaugeMetricFamily(
            "mlwarden_monitor_status",
            "Latest status: 2 alert, 1 warn, 0 ok, -1 insufficient data, -2 no data.",
            labels=labels,
        )
        window = GaugeMetricFamily(
            "mlwarden_monitor_window_end_timestamp_seconds",
            "End of the latest evaluated window of each monitor (Unix time).",
            labels=labels,
        )
        counts = GaugeMetricFamily(
            "mlwarden_model_monitors",
            "Monitors of each model by their latest status.",
            labels=["project", "model", "status"],
        )
        stored = GaugeMetricFamily(
            "mlwarden_results_stored",
            "Stored monitor results (evaluations) of each model by status, segments included.",
            labels=["project", "model", "status"],
        )
        truncated = GaugeMetricFamily(
            "mlwarden_scrape_truncated",
            "1 when the label caps left models or monitors out of this scrape.",
        )
        cut = False
        names = sorted(r.name for r in self.store.list_models(self.project))
        if len(names) > MAX_MODELS:
            cut = True
        keep = set(names[:MAX_MODELS])
        latest = [r for r in data.latest_rows(self.store, self.project, None) if r["model"] in keep]
        by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in latest:
            by_model[r["model"]].append(r)
        for model in sorted(by_model):
            rows = sorted(
                by_model[model], key=lambda r: (_URGENCY.get(r["status"], 9), r["monitor"])
            )
            if len(rows) > MAX_MONITORS:
                cut = True
            per_status: dict[str, int] = defaultdict(int)
            for r in rows:
                per_status[r["status"]] += 1
            for s in STATUS_CODES:
                counts.add_metric([self.project, model, s], float(per_status.get(s, 0)))
            for r in rows[:MAX_MONITORS]:
                lv = [self.project, model, r["monitor"], r["kind"]]
                status.add_metric(lv, STATUS_CODES.get(r["status"], -2.0))
                if r["value"] is not None:
                    value.add_metric(lv, float(r["value"]))
                if r["threshold"] is not None:
                    threshold.add_metric(lv, float(r["threshold"]))
                if r["warn"] is not None:
                    warn.add_metric(lv, float(r["warn"]))
                end = _epoch(r["window_end"])
                if end is not None:
                    window.add_metric(lv, end)
        t = self.store.results()
        t = t.filter(t.project == self.project)
        for r in t.group_by("model", "status").aggregate(n=t.count()).to_pyarrow().to_pylist():
            if r["model"] in keep:
                stored.add_metric([self.project, r["model"], r["status"]], float(r["n"]))
        segment_families, segments_cut = self._segments(keep)
        yield from segment_families
        truncated.add_metric([], 1.0 if cut or segments_cut else 0.0)
        yield from (value, threshold, warn, status, window, counts, stored, truncated)

    def _segments(self, models: set[str]) -> tuple[list[Metric], bool]:
        """The latest result of each monitor per segment, within the caps (and whether they cut)."""
        rows = data.latest_rows(self.store, self.project, None, any_segment=True)
        return self.segment_families(models, rows)

    def segment_families(
        self, models: set[str], rows: list[dict[str, Any]]
    ) -> tuple[list[Metric], bool]:
        """The segment families of ``rows`` (latest results), within the caps."""
        labels = ["project", "model", "monitor", "kind", "segment"]
        status = GaugeMetricFamily(
            "mlwarden_segment_monitor_status",
            "Latest status per segment: 2 alert, 1 warn, 0 ok, -1 insufficient data, -2 no data.",
            labels=labels,
        )
        value = GaugeMetricFamily(
            "mlwarden_segment_monitor_value",
            "Latest value of each monitor per segment.",
            labels=labels,
        )
        threshold = GaugeMetricFamily(
            "mlwarden_segment_monitor_threshold",
            "Alert threshold of each monitor's latest window per segment.",
            labels=labels,
        )
        rows = [r for r in rows if r["segment"] is not None and r["model"] in models]
        by_model: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for r in rows:
            by_model[r["model"]][r["segment"]].append(r)
        cut, series = False, 0
        for model in sorted(by_model):
            segments = by_model[model]
            ranked = sorted(
                segments,
                key=lambda seg: (min(_URGENCY.get(r["status"], 9) for r in segments[seg]), seg),
            )
            if len(ranked) > MAX_SEGMENTS:
                cut = True
            for seg in ranked[:MAX_SEGMENTS]:
                for r in sorted(segments[seg], key=lambda r: r["monitor"]):
                    if series >= MAX_SEGMENT_SERIES:
                        return [status, value, threshold], True
                    series += 1
                    lv = [self.project, model, r["monitor"], r["kind"], seg]
                    status.add_metric(lv, STATUS_CODES.get(r["status"], -2.0))
                    if r["value"] is not None:
                        value.add_metric(lv, float(r["value"]))
                    if r["threshold"] is not None:
                        threshold.add_metric(lv, float(r["threshold"]))
        return [status, value, threshold], cut

    def _incidents(self) -> Iterator[Metric]:
        fam = GaugeMetricFamily(
            "mlwarden_incidents_open",
            "Incidents not yet resolved (open or acknowledged), per model and severity.",
            labels=["project", "model", "severity"],
        )
        found = incident_source.open_by_model_severity(self.store, self.project)
        for (model, severity), n in sorted(found.items())[: MAX_MODELS * len(SEVERITIES)]:
            fam.add_metric([self.project, model, severity], float(n))
        yield fam


def exposition(store: Store, project: str, ingest: Any) -> bytes:
    """The Prometheus text exposition of the project's current state."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(store, project, ingest))
    return generate_latest(registry)


@router.get("/metrics")
async def metrics(sv: Svc, project: Read) -> Response:
    """Prometheus text format (see the module docstring)."""
    body = await asyncio.to_thread(exposition, sv.store, project, sv.ingest_counter)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
