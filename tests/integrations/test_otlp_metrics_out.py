"""OpenTelemetry metrics out: the real server pushes its state over OTLP/HTTP to a local
receiver that decodes each request with the OpenTelemetry protobuf definitions, as a collector
(or CloudWatch, Azure Monitor, Datadog behind one) would."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from serverproc import ServerProcess

START = datetime(2026, 9, 7, tzinfo=UTC)


class Collector:
    """Decodes every ExportMetricsServiceRequest POSTed to /v1/metrics."""

    def __init__(self) -> None:
        self.requests: list[ExportMetricsServiceRequest] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def latest(self) -> ExportMetricsServiceRequest | None:
        with self.lock:
            return self.requests[-1] if self.requests else None


@pytest.fixture
def collector() -> Iterator[tuple[Collector, str]]:
    col = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ok = self.path == "/v1/metrics" and (
                self.headers.get("Content-Type") == "application/x-protobuf"
            )
            if ok:
                req = ExportMetricsServiceRequest()
                req.ParseFromString(body)
                with col.lock:
                    col.requests.append(req)
                    col.headers.append(dict(self.headers.items()))
            self.send_response(200 if ok else 415)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield col, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _points(req: ExportMetricsServiceRequest) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                data = m.sum if m.WhichOneof("data") == "sum" else m.gauge
                out[m.name] = [
                    ({a.key: a.value.string_value for a in p.attributes}, p.as_double)
                    for p in data.data_points
                ]
    return out


def _wait(col: Collector, ready: Any, timeout_s: float = 180) -> ExportMetricsServiceRequest:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        req = col.latest()
        if req is not None and ready(_points(req)):
            return req
        time.sleep(0.2)
    raise AssertionError(f"no push with the expected series: {col.latest()}")


def test_monitor_results_and_ingest_reach_the_collector(
    collector: tuple[Collector, str], tmp_path: Path
) -> None:
    col, url = collector
    srv = ServerProcess(
        tmp_path / "data", "--evaluate-every", "0", "--otlp-metrics-endpoint", url,
        "--otlp-metrics-interval", "1", "--otlp-metrics-header", "x-team-key=s3cret",
    ).start()  # fmt: skip
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as http:
            rng = np.random.default_rng(0)
            spec = {"name": "churn", "task": "regression", "prediction": "prediction",
                    "features": [{"name": "x", "kind": "numeric"}]}  # fmt: skip
            assert http.post("/v1/models", json=spec).status_code == 201
            xs = rng.normal(size=500)
            ref = "x,prediction\n" + "".join(f"{v},{v}\n" for v in xs)
            r = http.post("/v1/models/churn/reference", content=ref.encode(),
                          headers={"content-type": "text/csv"})  # fmt: skip
            assert r.status_code == 201, r.text
            assert (
                http.post("/v1/models/churn/monitors/setup", json={"cadence": "1d"}).status_code
                == 200
            )
            events = [
                {"event_id": f"e{i}", "timestamp": (START + timedelta(minutes=i)).isoformat(),
                 "features": {"x": float(v) + 3}, "prediction": float(v)}
                for i, v in enumerate(rng.normal(size=400))
            ]  # fmt: skip
            assert http.post("/v1/models/churn/events", json=events).status_code == 200
            body = {"start": START.isoformat(), "end": (START + timedelta(days=1)).isoformat()}
            assert http.post("/v1/models/churn/evaluate", json=body).status_code == 200

            def ready(points: dict[str, list[tuple[dict[str, str], float]]]) -> bool:
                return any(
                    a.get("mlwarden.monitor") == "feature_drift:x"
                    for a, _ in points.get("mlwarden.monitor.status", [])
                )

            req = _wait(col, ready)
    finally:
        srv.stop()
    points = _points(req)
    resource = {a.key: a.value.string_value for a in req.resource_metrics[0].resource.attributes}
    assert resource["service.name"] == "mlwarden" and resource["service.instance.id"]
    status = {a["mlwarden.monitor"]: v for a, v in points["mlwarden.monitor.status"]}
    assert status["feature_drift:x"] == 2.0  # the planted shift alerts
    value = {a["mlwarden.monitor"]: v for a, v in points["mlwarden.monitor.value"]}
    threshold = {a["mlwarden.monitor"]: v for a, v in points["mlwarden.monitor.threshold"]}
    assert value["feature_drift:x"] > threshold["feature_drift:x"]
    rows = {(a["mlwarden.kind"], a["mlwarden.outcome"]): v for a, v in points["mlwarden.ingest.rows"]
            if a["mlwarden.model"] == "churn"}  # fmt: skip
    assert rows[("events", "accepted")] == 400.0
    ingest = next(
        m
        for m in req.resource_metrics[0].scope_metrics[0].metrics
        if m.name == "mlwarden.ingest.rows"
    )
    assert ingest.sum.is_monotonic and ingest.sum.data_points[0].start_time_unix_nano > 0
    assert all(h.get("x-team-key") == "s3cret" for h in col.headers)
    assert len({(a["mlwarden.version"],) for a, _ in points["mlwarden.info"]}) == 1


def test_a_bad_header_option_is_refused_by_name(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-c", "from mlwarden.cli.main import main; raise SystemExit(main())",
         "serve", "--data-dir", str(tmp_path), "--otlp-metrics-endpoint", "http://127.0.0.1:9",
         "--otlp-metrics-header", "no-equals-sign"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert r.returncode == 2 and "--otlp-metrics-header" in r.stderr and "NAME=VALUE" in r.stderr
