"""Issue 18: a large ingest does not hold the event loop.

While a JSON batch of tens of MB is being inflated, parsed and validated, the server still
answers its health check and a UI page: both complete before the ingest does. (An ordering,
not a time: the ingest of ~40 MB takes seconds on the server, a health check milliseconds.)
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from tests.serverproc import ServerProcess

ROWS = 160_000  # ~40 MB of JSON


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(Path(tmp_path_factory.mktemp("ingest-loop")) / "data").start()
    try:
        yield srv
    finally:
        srv.stop()


def batch() -> bytes:
    rows = [
        {
            "event_id": f"e{i}",
            "timestamp": "2026-11-01T00:00:00Z",
            "prediction": i * 0.5,
            "features": {f"f{j}": i * j * 0.1 for j in range(8)} | {"c": f"v{i % 7}"},
        }
        for i in range(ROWS)
    ]
    return orjson.dumps(rows)


def test_health_and_a_page_answer_while_a_large_batch_is_ingested(server: ServerProcess) -> None:
    raw = batch()
    assert len(raw) > 30_000_000
    body = gzip.compress(raw, compresslevel=1)  # inflating is the server's work too
    with httpx.Client(base_url=server.url, timeout=180) as http:
        assert http.post("/v1/models", json={"name": "m", "task": "regression"}).is_success
        sent = threading.Event()
        finished: list[str] = []
        ingest: list[httpx.Response] = []

        def chunks() -> Iterator[bytes]:
            step = 1 << 20
            for i in range(0, len(body), step):
                yield body[i : i + step]
            sent.set()  # the whole body is on its way: the server is (about to be) at work

        def post() -> None:
            with httpx.Client(base_url=server.url, timeout=180) as other:
                ingest.append(
                    other.post(
                        "/v1/models/m/events",
                        content=chunks(),
                        headers={"content-type": "application/json", "content-encoding": "gzip"},
                    )
                )
            finished.append("ingest")

        t = threading.Thread(target=post)
        t.start()
        try:
            assert sent.wait(timeout=120), "the body was not sent"
            health = http.get("/v1/health")
            finished.append("health")
            page = http.get("/ui/")
            finished.append("page")
        finally:
            t.join(timeout=180)
        assert not t.is_alive()
    assert health.status_code == 200 and page.status_code == 200, page.text[:200]
    assert ingest and ingest[0].status_code == 200, ingest[0].text[:300] if ingest else None
    assert ingest[0].json()["accepted"] == ROWS
    assert finished == ["health", "page", "ingest"]
