"""ASGI and WSGI middlewares in-process: what each request logs, streaming, errors, metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from flask import Flask, Response, request
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

import mlwarden
from mlwarden.sdk import Monitor

DELAY = 0.03


@pytest.fixture
def memory() -> mlwarden.InMemoryTransport:
    return mlwarden.InMemoryTransport()


@pytest.fixture
def mon(memory: mlwarden.InMemoryTransport) -> Iterator[Monitor]:
    m = mlwarden.init(model="churn", transport=memory)
    yield m
    m.close()


def fastapi_app() -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        rows = body["instances"] if "instances" in body else [body["features"]]
        preds = [int(r["age"] > 40) for r in rows]
        if "instances" in body:
            return {"predictions": preds, "scores": [0.9 if p else 0.1 for p in preds]}
        return {"prediction": preds[0], "score": 0.9 if preds[0] else 0.1}

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/stream")
    def stream() -> StreamingResponse:
        async def chunks() -> Any:
            for i in range(3):
                await asyncio.sleep(DELAY)
                yield f"chunk{i};".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/boom")
    def boom() -> None:
        raise KeyError("no such thing")

    return app


async def calls(app: Any, todo: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return [await client.request(method, url, **kw) for method, url, kw in todo]


def ops(memory: mlwarden.InMemoryTransport) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = memory.events_table("churn.requests").to_pylist()
    return rows


def test_asgi_logs_every_request_with_route_template_status_sizes_and_latency(
    memory: mlwarden.InMemoryTransport, mon: Monitor
) -> None:
    app = fastapi_app()
    app.add_middleware(mlwarden.ASGIMiddleware, monitor=mon)
    replies = asyncio.run(
        calls(
            app,
            [
                ("POST", "/predict", {"json": {"features": {"age": 41}}}),
                ("GET", "/items/7", {}),
                ("GET", "/stream", {}),
                ("GET", "/boom", {}),
                ("GET", "/nope", {}),
                ("GET", "/items/8", {"headers": {"x-mlwarden-event-id": "client-chosen"}}),
            ],
        )
    )
    assert [r.status_code for r in replies] == [200, 200, 200, 500, 404, 200]
    assert replies[2].text == "chunk0;chunk1;chunk2;"
    mon.flush(5)
    rows = ops(memory)
    routes = ["/predict", "/items/{item_id}", "/stream", "/boom", "<unmatched>", "/items/{item_id}"]
    assert [r["route"] for r in rows] == routes
    # every answer that passed through the middleware carries its event id (the 500 of the
    # exception is written by Starlette's outermost error middleware, after ours)
    echoed = [r.headers.get("x-mlwarden-event-id") for r in replies]
    assert [r["event_id"] for r in rows[:3]] == echoed[:3] and echoed[3] is None
    assert echoed[4] == rows[4]["event_id"] and rows[5]["event_id"] == echoed[5] == "client-chosen"
    assert [r["status_code"] for r in rows] == ["200", "200", "200", "500", "404", "200"]
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "error", "ok", "ok"]
    assert rows[3]["error"] == "KeyError"
    assert rows[0]["method"] == "POST" and rows[0]["request_bytes"] == len(
        b'{"features":{"age":41}}'
    )
    assert rows[2]["response_bytes"] == len(b"chunk0;chunk1;chunk2;")
    assert rows[2]["latency_ms"] >= 3 * DELAY * 1000 * 0.9  # measured to the last chunk
    assert memory.events_table("churn").num_rows == 0  # extraction is off


def test_asgi_extracts_predictions_by_field_names_including_batches(
    memory: mlwarden.InMemoryTransport, mon: Monitor
) -> None:
    app = fastapi_app()
    fields = {"features": "features", "prediction": "prediction", "score": "score"}
    app.add_middleware(mlwarden.ASGIMiddleware, monitor=mon, **fields)
    inner = fastapi_app()
    batch = {"features": "instances", "prediction": "predictions", "score": "scores"}
    inner.add_middleware(mlwarden.ASGIMiddleware, monitor=mon, **batch)
    (one,) = asyncio.run(calls(app, [("POST", "/predict", {"json": {"features": {"age": 41}}})]))
    asyncio.run(
        calls(inner, [("POST", "/predict", {"json": {"instances": [{"age": 30}, {"age": 50}]}})])
    )
    asyncio.run(calls(app, [("GET", "/boom", {})]))  # failed requests have no prediction
    mon.flush(5)
    rows = memory.events_table("churn").to_pylist()
    eid = one.headers["x-mlwarden-event-id"]
    assert [(r["age"], r["prediction"], r["score"]) for r in rows] == [
        (41, 1, 0.9),
        (30, 0, 0.1),
        (50, 1, 0.9),
    ]
    assert rows[0]["event_id"] == eid and rows[0]["latency_ms"] > 0  # joins its request
    assert rows[1]["event_id"].endswith("-0") and rows[2]["event_id"].endswith("-1")


def test_asgi_custom_extractor_and_plain_starlette_routes(
    memory: mlwarden.InMemoryTransport, mon: Monitor
) -> None:
    async def score(request: Any) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"label": "hi" if body["x"] > 1 else "lo"})

    def extract(req: Any, resp: Any) -> dict[str, Any]:
        return {"features": {"x": req["x"]}, "prediction": resp["label"], "segments": {"t": "a"}}

    app = Starlette(routes=[Route("/score/{kind}", score, methods=["POST"])])
    wrapped = mlwarden.ASGIMiddleware(app, monitor=mon, extract=extract)
    asyncio.run(calls(wrapped, [("POST", "/score/fast", {"json": {"x": 2}})]))
    mon.flush(5)
    assert ops(memory)[0]["route"] == "/score/{kind}"  # found by endpoint
    (row,) = memory.events_table("churn").to_pylist()
    assert row["event_id"] == ops(memory)[0]["event_id"]
    assert (row["prediction"], row["x"], row["t"], row["status"]) == ("hi", 2, "a", "ok")


def test_asgi_prometheus_metrics(mon: Monitor) -> None:
    app = fastapi_app()
    app.add_middleware(mlwarden.ASGIMiddleware, monitor=mon, metrics_path="/metrics")
    replies = asyncio.run(
        calls(app, [("GET", "/items/1", {}), ("GET", "/boom", {}), ("GET", "/metrics", {})])
    )
    text = replies[2].text
    assert (
        'mlwarden_http_requests_total{method="GET",model="churn",route="/items/{item_id}",status_code="200"} 1.0'
        in text
    )
    assert (
        'mlwarden_http_request_errors_total{error="KeyError",model="churn",route="/boom"} 1.0'
        in text
    )
    assert (
        'mlwarden_http_request_duration_seconds_count{method="GET",model="churn",route="/boom"} 1.0'
        in text
    )
    assert 'mlwarden_sdk_rows_logged_total{model="churn"}' in text


def test_asgi_passes_lifespan_through(mon: Monitor) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    asyncio.run(mlwarden.ASGIMiddleware(app, monitor=mon)({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert seen == ["lifespan"]


def flask_app() -> Flask:
    app = Flask("test")

    @app.post("/predict")
    def predict() -> dict[str, Any]:
        return {"prediction": int(request.get_json()["features"]["age"] > 40)}

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/stream")
    def stream() -> Response:
        def chunks() -> Iterator[bytes]:
            for i in range(3):
                time.sleep(DELAY)
                yield f"chunk{i};".encode()

        return Response(chunks(), mimetype="text/plain")

    @app.get("/boom")
    def boom() -> None:
        raise KeyError("no such thing")

    return app


def test_wsgi_flask_logs_route_templates_streams_errors_and_extracts(
    memory: mlwarden.InMemoryTransport, mon: Monitor
) -> None:
    app = flask_app()
    options = {"features": "features", "prediction": "prediction", "metrics_path": "/metrics"}
    app.wsgi_app = mlwarden.WSGIMiddleware(app.wsgi_app, monitor=mon, **options)  # type: ignore[method-assign]
    client = app.test_client()
    r = client.post("/predict", json={"features": {"age": 41}}, buffered=True)
    assert r.json == {"prediction": 1}
    assert client.get("/items/3", buffered=True).status_code == 200
    assert client.get("/stream", buffered=True).data == b"chunk0;chunk1;chunk2;"
    assert client.get("/boom", buffered=True).status_code == 500
    assert client.get("/nope", buffered=True).status_code == 404
    metrics = client.get("/metrics", buffered=True).text
    mon.flush(5)
    rows = ops(memory)
    assert [x["route"] for x in rows] == [
        "/predict",
        "/items/<int:item_id>",
        "/stream",
        "/boom",
        "<unmatched>",
    ]
    assert [x["status_code"] for x in rows] == ["200", "200", "200", "500", "404"]
    assert rows[3]["status"] == "error" and rows[3]["error"] == "HTTP 500"  # Flask answered it
    assert rows[2]["latency_ms"] >= 3 * DELAY * 1000 * 0.9
    assert rows[2]["response_bytes"] == 21
    assert rows[0]["event_id"] == r.headers["X-Mlwarden-Event-Id"]
    model = memory.events_table("churn").to_pylist()
    assert [(x["event_id"], x["age"], x["prediction"]) for x in model] == [
        (rows[0]["event_id"], 41, 1)
    ]
    assert 'route="/items/<int:item_id>",status_code="200"} 1.0' in metrics


def test_wsgi_exception_escaping_the_app_is_logged() -> None:
    memory = mlwarden.InMemoryTransport()
    m = mlwarden.init(model="churn", transport=memory)

    def app(environ: Any, start_response: Any) -> list[bytes]:
        raise ValueError("bad")

    wrapped = mlwarden.WSGIMiddleware(app, monitor=m)
    with pytest.raises(ValueError):
        wrapped({"REQUEST_METHOD": "GET", "PATH_INFO": "/x"}, lambda *a: None)
    m.close()
    (row,) = ops(memory)
    assert (row["route"], row["status_code"], row["error"]) == ("/x", "500", "ValueError")
    assert isinstance(memory.events_table("churn.requests"), pa.Table)
