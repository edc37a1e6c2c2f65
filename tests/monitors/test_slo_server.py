"""SLOs and probes through the real server: declared over the API, refused when the URL is
internal and not allowed, probed by the server's own job against a real endpoint on loopback,
paged through the incident service, listed by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from monitors.slo_endpoint import Endpoint
from serverproc import ServerProcess

MODEL = "svc"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint()
    ep.fail_every = 1  # every request fails: the budget burns at 1000x
    yield ep
    ep.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("slo") / "data",
        "--evaluate-every",
        "1",
        "--alerting-allow-host",
        "127.0.0.1",  # as an operator would, to probe a model served on this machine
    ).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            r = http.post("/v1/models", json={"name": MODEL, "task": "regression"})
            assert r.status_code == 201, r.text
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def _wait(what: str, check: object, *, seconds: float = 60.0) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()  # type: ignore[operator]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_bad_declarations_are_refused_with_the_field(http: httpx.Client) -> None:
    r = http.put(f"/v1/models/{MODEL}/slos", json={"slos": [{"name": "a", "objective": 100}]})
    assert r.status_code == 422 and "'objective'" in r.json()["error"]["message"]
    r = http.put(f"/v1/models/{MODEL}/probes/p", json={"url": "ftp://x.example.com/"})
    assert r.status_code == 422 and "'url'" in r.json()["error"]["message"]
    # an internal address the operator did not allow: refused, like a webhook's
    r = http.put(f"/v1/models/{MODEL}/probes/p", json={"url": "http://10.1.2.3:8080/predict"})
    assert r.status_code == 422, r.text
    assert "--alerting-allow-host" in r.json()["error"]["message"]
    assert http.get(f"/v1/models/{MODEL}/probes").json()["probes"] == []
    assert http.put("/v1/models/nope/slos", json={"slos": []}).status_code == 404


def test_the_server_probes_pages_and_shows_the_burn(
    http: httpx.Client, endpoint: Endpoint, server: ServerProcess
) -> None:
    slos = [
        {"name": "available", "objective": 99.9},
        {"name": "fast", "kind": "latency", "threshold_ms": 300, "objective": 99,
         "source": "requests"},
    ]  # fmt: skip
    r = http.put(f"/v1/models/{MODEL}/slos", json={"slos": slos})
    assert r.status_code == 200, r.text[:500]
    assert [s["slo"]["name"] for s in r.json()["slos"]] == ["available", "fast"]
    probe = {
        "url": f"http://127.0.0.1:{endpoint.port}/predict",
        "method": "POST",
        "headers": {"Authorization": "Bearer s3cret"},
        "body": '{"x": 1}',
        "json_path": "label",
        "json_equals": "ham",
        "interval_s": 1,
        "timeout_s": 1,
    }
    r = http.put(f"/v1/models/{MODEL}/probes/predict", json=probe)
    assert r.status_code == 200, r.text[:500]
    listed = http.get(f"/v1/models/{MODEL}/probes").json()["probes"]
    assert listed[0]["probe"]["headers"] == {"Authorization": "***"}  # never shown back

    def failures() -> list[dict[str, object]]:
        rows = http.get(f"/v1/models/{MODEL}/probes/predict/results").json()["results"]
        return rows if len(rows) >= 2 else []

    rows = _wait("two probe results", failures)
    assert isinstance(rows, list)
    assert all(not x["ok"] and x["status_code"] == 503 for x in rows)
    assert "HTTP 503, expected 200" in str(rows[0]["error"])
    assert endpoint.count >= 2

    def paged() -> list[dict[str, object]]:
        items = http.get("/v1/incidents", params={"model": MODEL}).json()["items"]
        return [i for i in items if i["kind"] == "slo_page"]

    found = _wait("the page", paged)
    assert isinstance(found, list) and found[0]["severity"] == "critical"

    # requests the SDK logged count for the latency SLO: 10 of 100 over 300 ms
    now = datetime.now(UTC)
    events = [
        {"prediction": 1.0, "latency_ms": 500.0 if i < 10 else 50.0,
         "timestamp": (now - timedelta(minutes=1)).isoformat()}
        for i in range(100)
    ]  # fmt: skip
    r = http.post(f"/v1/models/{MODEL}/events", json=events)
    assert r.status_code == 200, r.text[:500]

    def fast_counted() -> dict[str, object] | None:
        out = http.get(f"/v1/models/{MODEL}/slos", params={"series": "true"}).json()
        by = {s["slo"]["name"]: s for s in out["slos"]}
        return out if by["fast"]["total"] == 100 else None

    out = _wait("the events counted", fast_counted, seconds=30)
    assert isinstance(out, dict)
    by = {s["slo"]["name"]: s for s in out["slos"]}
    assert by["fast"]["bad"] == 10 and by["fast"]["level"] == "page"  # 10% bad on a 1% budget
    assert by["available"]["level"] == "page" and by["available"]["budget_left"] < 0
    assert by["available"]["series"] and by["available"]["series"][0]["burn"] == 1000.0
    assert [w["label"] for w in out["windows"]] == ["1h/5m", "6h/30m", "3d/6h"]
    project = http.get("/v1/slos").json()
    assert [m["model"] for m in project["models"]] == [MODEL]

    # the CLI lists them
    env = {**os.environ, "MLWARDEN_URL": server.url}
    for args, expect in ((["slos"], "available"), (["probes", "-m", MODEL], "HTTP 503")):
        done = subprocess.run(
            [sys.executable, "-m", "mlwarden.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        assert expect in done.stdout

    assert http.delete(f"/v1/models/{MODEL}/probes/predict").status_code == 200
    assert http.delete(f"/v1/models/{MODEL}/probes/predict").status_code == 404
    assert http.get(f"/v1/models/{MODEL}/probes/predict/results").json()["results"] == []
