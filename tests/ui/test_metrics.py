"""Prometheus ``/metrics`` of the demo-filled server, read by prometheus-client's own text
parser, and the Grafana dashboard in ``deploy/`` checked against what the server exports."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mlwarden.server.metrics import MAX_SEGMENTS, STATUS_CODES, StateCollector
from ui.conftest import MODEL, Demo

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "mlwarden-dashboard.json"
METRIC = re.compile(r"\bmlwarden_[a-z0-9_]+")
MATCHER = re.compile(r"([a-z_]+)\s*(?:=~|!~|!=|=)\s*\"")


def _scrape(demo: Demo) -> dict[str, list[Any]]:
    r = demo.http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[Any]] = defaultdict(list)
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[s.name].append(s)
    return samples


def test_metrics_say_what_the_api_says(demo: Demo) -> None:
    samples = _scrape(demo)
    status = {
        s.labels["monitor"]: s.value
        for s in samples["mlwarden_monitor_status"]
        if s.labels["model"] == MODEL
    }
    assert status["feature_drift:credit_score"] == 2.0  # the injected drift: alert
    assert set(status.values()) <= {2.0, 1.0, 0.0, -1.0, -2.0}
    # labels stay bounded: never a segment value, always the same four
    for name in ("mlwarden_monitor_status", "mlwarden_monitor_value"):
        for s in samples[name]:
            assert set(s.labels) == {"project", "model", "monitor", "kind"}
    # the value and threshold of a monitor are those of its latest stored result
    latest = demo.http.get(
        f"/v1/models/{MODEL}/results",
        params={"monitor": "feature_drift:credit_score", "whole_model": "true", "limit": 1},
    ).json()
    row = latest[0]
    value = {
        s.labels["monitor"]: s.value
        for s in samples["mlwarden_monitor_value"]
        if s.labels["model"] == MODEL
    }
    threshold = {
        s.labels["monitor"]: s.value
        for s in samples["mlwarden_monitor_threshold"]
        if s.labels["model"] == MODEL
    }
    assert value["feature_drift:credit_score"] == pytest.approx(row["value"])
    assert threshold["feature_drift:credit_score"] == pytest.approx(row["threshold"])
    # per-status counts add up to the monitors exported
    counts = {
        s.labels["status"]: s.value
        for s in samples["mlwarden_model_monitors"]
        if s.labels["model"] == MODEL
    }
    assert sum(counts.values()) == len(status)
    assert counts["alert"] == sum(1 for v in status.values() if v == 2.0)
    # open incidents equal the API's count of unresolved ones
    api = demo.http.get(
        "/v1/incidents", params={"model": MODEL, "state": "open,acknowledged", "limit": 1}
    ).json()
    open_ = sum(s.value for s in samples["mlwarden_incidents_open"] if s.labels["model"] == MODEL)
    assert api["total"] >= 1
    assert open_ == api["total"]
    # every event the demo sent was counted as accepted at ingest
    accepted = {
        (s.labels["model"], s.labels["kind"]): s.value
        for s in samples["mlwarden_ingest_rows_total"]
        if s.labels["outcome"] == "accepted"
    }
    assert accepted[(MODEL, "events")] == demo.events
    assert samples["mlwarden_scrape_truncated"][0].value == 0.0


def test_segments_have_bounded_series_of_their_own(demo: Demo) -> None:
    samples = _scrape(demo)
    status = [s for s in samples["mlwarden_segment_monitor_status"] if s.labels["model"] == MODEL]
    assert status, "the demo's model is segmented by region: its segments must be exported"
    for name in ("mlwarden_segment_monitor_status", "mlwarden_segment_monitor_value"):
        for s in samples[name]:
            assert set(s.labels) == {"project", "model", "monitor", "kind", "segment"}
    segments = {s.labels["segment"] for s in status}
    assert 1 < len(segments) <= MAX_SEGMENTS
    # a segment's value and status are those of its latest stored result
    picked = max(status, key=lambda s: (s.value, s.labels["monitor"], s.labels["segment"]))
    monitor, segment = picked.labels["monitor"], picked.labels["segment"]
    latest = demo.http.get(
        f"/v1/models/{MODEL}/results",
        params={"monitor": monitor, "segment": segment, "limit": 1},
    ).json()[0]
    assert picked.value == STATUS_CODES[latest["status"]]
    value = [
        s.value
        for s in samples["mlwarden_segment_monitor_value"]
        if s.labels["model"] == MODEL
        and s.labels["monitor"] == monitor
        and s.labels["segment"] == segment
    ]
    if latest["value"] is None:
        assert value == []
    else:
        assert value == [pytest.approx(latest["value"])]
    # the whole-model series stay without a segment label (dashboards need no filter)
    assert all("segment" not in s.labels for s in samples["mlwarden_monitor_status"])


def test_segment_caps_keep_the_most_urgent() -> None:
    store_rows = [
        {"model": "m", "monitor": f"mon{i}", "kind": "volume", "segment": f"s={j:03d}",
         "status": "alert" if j == 77 else "ok", "value": float(j), "threshold": 1.0}
        for j in range(MAX_SEGMENTS + 60) for i in range(2)
    ]  # fmt: skip
    collector = StateCollector(None, "p", None)
    families, cut = collector.segment_families({"m"}, store_rows)
    assert cut
    status = families[0].samples
    segments = {s.labels["segment"] for s in status}
    assert len(segments) == MAX_SEGMENTS
    assert "s=077" in segments  # the alerting one, though far down the names


def test_grafana_dashboard_queries_name_exported_metrics(demo: Demo) -> None:
    samples = _scrape(demo)
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["panels"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    exprs = [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]] + [
        (v["name"], v["query"]["query"]) for v in dash["templating"]["list"] if v["type"] == "query"
    ]
    assert len(exprs) >= 15
    for where, expr in exprs:
        names = METRIC.findall(expr)
        assert names, (where, expr)
        for name in names:
            assert name in samples, f"panel {where!r} queries {name}, which /metrics lacks"
            labels = set().union(*(s.labels for s in samples[name])) | {"__name__"}
            for label in MATCHER.findall(expr):
                assert label in labels, f"panel {where!r}: {name} has no label {label!r}"
    # every variable a panel uses is defined
    defined = {v["name"] for v in dash["templating"]["list"]}
    for _, expr in exprs:
        for var in re.findall(r"\$([a-z_]+)", expr):
            assert var in defined or var.startswith("__"), var


def test_provisioning_examples_point_at_the_dashboard() -> None:
    prov = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/mlwarden.yaml").read_text()
    )
    assert prov["providers"][0]["type"] == "file"
    ds = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/mlwarden-prometheus.yaml").read_text()
    )
    assert ds["datasources"][0]["type"] == "prometheus"
    scrape = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["metrics_path"] == "/metrics"
