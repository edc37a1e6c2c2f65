"""Debian's real ``prometheus`` scraping the real server's ``/metrics`` with the shipped
``deploy/prometheus/prometheus.yml``: the series come back through Prometheus' query API with
the values the API shows, and every PromQL query of the Grafana dashboard in ``deploy/`` runs
in Prometheus and returns series."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from integrations.binaries import prometheus, wait_for
from integrations.seeded import ERRORS, EVENTS, MODEL, seed
from mlwarden.incidents.alerting_config import AlertingConfig
from sdk.conftest import AppProcess, predict, uvicorn_app
from serverproc import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "mlwarden-dashboard.json"
GUIDE = ROOT / "docs" / "integrations" / "prometheus.md"
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
METRIC = re.compile(r"\bmlwarden_[a-z0-9_]+")
#: What Grafana puts for the dashboard's variables: every value.
PREDICTIONS = 5
VARIABLES = {"$project": ".*", "$model": ".*", "$monitor": ".*"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("mlwarden") / "data", "--evaluate-every", "0"
    ).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as http:
            seed(http)
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, server: ServerProcess) -> Iterator[AppProcess]:
    """``examples/fastapi_app.py`` (its own ``/metrics``) logging to the test's server."""
    env = {**os.environ, "MLWARDEN_URL": server.url, "PYTHONWARNINGS": "ignore"}
    proc = uvicorn_app("fastapi_app", env, tmp_path_factory.mktemp("app") / "app.log").start()
    try:
        with httpx.Client() as http:
            predict(proc, PREDICTIONS, http)
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def prom(
    tmp_path_factory: pytest.TempPathFactory, server: ServerProcess, app: AppProcess
) -> Iterator[str]:
    """Prometheus with the shipped scrape config, pointed at the test's server, every second,
    and a job for the example model server."""
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    config["global"]["scrape_interval"] = "1s"
    job = config["scrape_configs"][0]
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{server.port}"]
    config["scrape_configs"].append(
        {"job_name": "churn-app", "static_configs": [{"targets": [f"127.0.0.1:{app.port}"]}]}
    )
    with prometheus(tmp_path_factory.mktemp("prometheus"), yaml.safe_dump(config)) as url:

        def up() -> bool:
            targets = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]
            return sum(t["health"] == "up" for t in targets["activeTargets"]) == 2

        wait_for("a successful scrape of both targets", up)
        # three scrapes, so rate() and increase() over the dashboard's ranges have two points
        wait_for(
            "three scrapes",
            lambda: query(url, 'count_over_time(up{job="mlwarden"}[1m]) >= 3'),
        )
        yield url


def query(prom: str, promql: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{prom}/api/v1/query", params={"query": promql}, timeout=10)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "success", (promql, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def one(prom: str, promql: str) -> float:
    [sample] = query(prom, promql)
    return float(sample["value"][1])


def test_the_servers_series_come_back_through_prometheus(prom: str, server: ServerProcess) -> None:
    sel = f'project="default", model="{MODEL}", monitor="error_rate"'
    assert one(prom, f"mlwarden_monitor_value{{{sel}}}") == pytest.approx(ERRORS / EVENTS)
    assert one(prom, f"mlwarden_monitor_threshold{{{sel}}}") == pytest.approx(0.05)
    assert one(prom, f"mlwarden_monitor_status{{{sel}}}") == 2.0  # alert
    [status] = query(prom, f"mlwarden_monitor_status{{{sel}}}")
    assert status["metric"]["kind"] == "error_rate"
    assert status["metric"]["job"] == "mlwarden"
    accepted = f'mlwarden_ingest_rows_total{{model="{MODEL}", kind="events", outcome="accepted"}}'
    assert one(prom, accepted) == EVENTS
    assert one(prom, f'sum(mlwarden_incidents_open{{model="{MODEL}"}})') == 1.0
    assert one(prom, f'mlwarden_model_monitors{{model="{MODEL}", status="alert"}}') == 1.0
    # what the API says is what Prometheus holds
    with httpx.Client(base_url=server.url) as http:
        latest = http.get(
            f"/v1/models/{MODEL}/results",
            params={"monitor": "error_rate", "whole_model": "true", "limit": 1},
        ).json()[0]
    assert one(prom, f"mlwarden_monitor_value{{{sel}}}") == pytest.approx(latest["value"])


def _dashboard_queries() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p.get("targets", [])] + [
        (v["name"], v["query"]["query"]) for v in dash["templating"]["list"] if v["type"] == "query"
    ]


def _promql(expr: str) -> str:
    """A dashboard query as Grafana sends it; ``label_values(SELECTOR, label)`` (a Grafana
    function) becomes the selector itself."""
    for var, value in VARIABLES.items():
        expr = expr.replace(var, value)
    m = re.fullmatch(r"label_values\((.+),\s*([a-z_]+)\)", expr.strip())
    return m[1] if m else expr


def test_every_dashboard_query_names_real_series_and_returns_data(prom: str) -> None:
    queries = _dashboard_queries()
    assert len(queries) >= 15
    known = set(httpx.get(f"{prom}/api/v1/label/__name__/values", timeout=10).json()["data"])
    for where, expr in queries:
        names = METRIC.findall(expr)
        assert names, (where, expr)
        for name in names:
            assert name in known, f"panel {where!r} queries {name}, which Prometheus lacks"
        result = query(prom, _promql(expr))
        assert result, f"panel {where!r}: {expr!r} returns nothing after a scrape"


def test_the_example_model_servers_own_metrics_come_back_through_prometheus(prom: str) -> None:
    job = 'job="churn-app", route="/predict", method="POST", status_code="200"'
    assert one(prom, f"mlwarden_http_requests_total{{{job}}}") == PREDICTIONS
    count = 'sum(mlwarden_http_request_duration_seconds_count{job="churn-app"})'
    assert one(prom, count) >= PREDICTIONS
    # the SDK's delivery counters: every prediction was handed to the SDK
    [logged] = query(prom, 'mlwarden_sdk_rows_logged_total{job="churn-app", model="churn"}')
    assert float(logged["value"][1]) >= PREDICTIONS


def test_the_guides_snippets_are_the_shipped_config_and_valid_channels() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(), flags=re.S)
    assert yaml.safe_load(blocks[0]) == yaml.safe_load(SCRAPE_CONFIG.read_text())
    channels = [b for b in blocks if "kind: alertmanager" in b]
    assert channels
    for block in channels:
        config = AlertingConfig.from_yaml(block)
        assert [c.kind for c in config.channels] == ["alertmanager"]
