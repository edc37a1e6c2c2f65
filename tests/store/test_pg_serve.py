"""``mlwarden serve --store postgresql://...`` end to end: register, ingest (a re-send stored
once), a reference from a window, monitors set up, evaluation, results; an LLM app's trace
through OTLP protobuf and the LLM pages' API over it; an SLO over a probe's results; all in
PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from monitors.slo_endpoint import Endpoint
from pgserver import PostgresServer
from serverproc import ServerProcess


@pytest.fixture(scope="module")
def pg_url(pg_server: PostgresServer) -> str:
    return pg_server.create_database("serve_e2e")


@pytest.fixture(scope="module")
def served(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("pg-serve"),
        "--store",
        pg_url,
        "--alerting-allow-host",
        "127.0.0.1",  # the probe's endpoint below runs on this machine
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_register_ingest_evaluate_results(served: ServerProcess, pg_url: str) -> None:
    with httpx.Client(base_url=served.url, timeout=120) as c:
        _journey(c, pg_url)


def _journey(c: httpx.Client, pg_url: str) -> None:
    assert c.get("/v1/health").json()["engine"] == "postgres"
    spec = {"name": "m", "task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
    assert c.post("/v1/models", json=spec).status_code == 201
    rows = [
        {
            "event_id": f"e{i}",
            "timestamp": f"2026-11-{1 + i % 10:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            "features": {"x": (i * 37 % 101) / 101},
            "prediction": (i * 53 % 97) / 97,
        }
        for i in range(6000)
    ]
    first = c.post("/v1/models/m/events", json=rows).json()
    again = c.post("/v1/models/m/events", json=rows[:1000]).json()
    assert (first["received"], first["duplicates"]) == (6000, 0)
    assert (again["received"], again["duplicates"]) == (1000, 1000)
    window = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-04T00:00:00Z"}
    ref = c.post("/v1/models/m/reference/from-window", json=window)
    assert ref.status_code == 201 and ref.json()["events"] == 1800
    assert c.post("/v1/models/m/monitors/setup", json={"cadence": "1d"}).status_code == 200
    span = {"start": "2026-11-04T00:00:00Z", "end": "2026-11-11T00:00:00Z"}
    done = c.post("/v1/models/m/evaluate", json=span)
    assert done.status_code == 200, done.text
    assert done.json()["results"] > 0
    results = c.get("/v1/models/m/results").json()
    volume = [r for r in results if r["monitor"] == "duplicate_ids"]
    assert {r["window_start"][:10] for r in volume} >= {f"2026-11-{d:02d}" for d in range(4, 11)}
    assert all(r["n"] == 600 for r in volume)
    for path in ("/ui/models/m", "/ui"):  # pages: roll-ups and markers from PostgreSQL
        page = c.get(path, follow_redirects=True)
        assert page.status_code == 200, (path, page.text[:300])
    with psycopg.connect(pg_url) as con:  # where it all went
        (events,) = con.execute('SELECT count(*) FROM "events_1"').fetchone() or (0,)
        (stored,) = con.execute("SELECT count(*) FROM results").fetchone() or (0,)
    assert events == 6000 and stored >= len(results)


T0 = time.time_ns() - 3_600_000_000_000  # an hour ago: in the pages' default range
TRACE = "ab" * 16


def _kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    def value(v: Any) -> AnyValue:
        if isinstance(v, int):
            return AnyValue(int_value=v)
        return AnyValue(string_value=str(v))

    return [KeyValue(key=k, value=value(v)) for k, v in attrs.items()]


def _trace() -> bytes:
    """One agent trace: a root span with the user and session, two LLM calls under it."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(_kvs({"service.name": "bot"}))
    ss = rs.scope_spans.add()
    spans = [
        ("01" * 8, None, "agent", {"user.id": "u1", "session.id": "s1"}, 4_000),
        ("02" * 8, "01" * 8, "chat", {"gen_ai.usage.input_tokens": 120}, 1_500),
        ("03" * 8, "01" * 8, "chat", {"gen_ai.usage.input_tokens": 80}, 2_500),
    ]
    for i, (sid, parent, name, attrs, ms) in enumerate(spans):
        s = ss.spans.add()
        s.trace_id, s.span_id = bytes.fromhex(TRACE), bytes.fromhex(sid)
        if parent:
            s.parent_span_id = bytes.fromhex(parent)
        s.name = name
        s.start_time_unix_nano = T0 + i * 1_000_000
        s.end_time_unix_nano = s.start_time_unix_nano + ms * 1_000_000
        if name == "chat":
            attrs = {
                **attrs,
                "gen_ai.system": "openai",
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.response.model": "gpt-4o-mini",
                "gen_ai.usage.output_tokens": 30,
            }
        s.attributes.extend(_kvs(attrs))
    return req.SerializeToString()


def test_an_llm_trace_over_otlp_and_the_llm_api(served: ServerProcess, pg_url: str) -> None:
    proto = {"content-type": "application/x-protobuf"}
    with httpx.Client(base_url=served.url, timeout=120) as c:
        for _ in range(2):  # re-sent: stored once
            r = c.post("/v1/traces", content=_trace(), headers=proto)
            assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf"
        spans = c.get("/v1/llm/spans", params={"service": "bot"}).json()["spans"]
        assert len(spans) == 3
        assert {(s["user_id"], s["session_id"]) for s in spans} == {("u1", "s1")}
        rows = c.get("/v1/llm/breakdown", params={"by": "model"}).json()
        assert [(r["key"], r["calls"], r["input_tokens"], r["output_tokens"]) for r in rows] == [
            ("gpt-4o-mini", 2, 200, 60)
        ]
        assert rows[0]["latency_p50"] == 2000.0
        assert rows[0]["latency_p95"] == pytest.approx(2450.0, rel=1e-12)
        sessions = c.get("/v1/llm/sessions").json()
        assert sessions["total"] == 1 and sessions["sessions"][0]["calls"] == 2
        usage = c.get("/v1/llm/usage", params={"window": "day"}).json()
        assert sum(u["llm_spans"] for u in usage) == 2
        r = c.post("/v1/models", json={"name": "bot", "task": "llm"})
        assert r.status_code == 201, r.text[:300]
        for path in ("", "/sessions", "/sessions/s1", "/users", "/users/u1"):  # the LLM pages
            page = c.get(f"/ui/models/bot{path}", follow_redirects=True)
            assert page.status_code == 200, (path, page.text[:300])
        assert "gpt-4o-mini" in c.get("/ui/models/bot", follow_redirects=True).text
    with psycopg.connect(pg_url) as con:
        (n,) = con.execute("SELECT count(*) FROM spans").fetchone() or (0,)
    assert n == 3


def _wait(what: str, check: Callable[[], Any], *, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_slo_over_probe_results(served: ServerProcess, pg_url: str) -> None:
    endpoint = Endpoint()
    endpoint.fail_every = 2  # every other request fails
    try:
        with httpx.Client(base_url=served.url, timeout=60) as c:
            assert (
                c.post("/v1/models", json={"name": "svc", "task": "regression"}).status_code == 201
            )
            slos = {"slos": [{"name": "available", "objective": 99.0}]}
            assert c.put("/v1/models/svc/slos", json=slos).status_code == 200
            probe = {"url": f"http://127.0.0.1:{endpoint.port}/predict", "method": "POST",
                     "body": "{}", "interval_s": 1, "timeout_s": 1}  # fmt: skip
            r = c.put("/v1/models/svc/probes/ping", json=probe)
            assert r.status_code == 200, r.text[:300]

            def counted() -> Any:
                out = c.get("/v1/models/svc/slos").json()["slos"][0]
                return out if out["total"] >= 3 else None

            slo = _wait("three probe results counted", counted)
            # the first request failed, then every other: bad is half the total, rounded up
            assert slo["bad"] == (slo["total"] + 1) // 2
            assert slo["budget_left"] < 0 and slo["level"] == "page"
            results = c.get("/v1/models/svc/probes/ping/results").json()["results"]
            assert [x["ok"] for x in results[-2:]] == [True, False]  # oldest (failed) last
            page = c.get("/ui/models/svc/slos", follow_redirects=True)
            assert page.status_code == 200 and "available" in page.text
    finally:
        endpoint.close()
    with psycopg.connect(pg_url) as con:
        (n,) = con.execute("SELECT count(*) FROM probe_results").fetchone() or (0,)
    assert n >= 3
