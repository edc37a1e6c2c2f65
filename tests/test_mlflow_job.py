"""The MLflow job (``server/mlflow_sync.py``) never raises into its caller: an MLflow tracking
server that is down, or that answers with errors, is logged and the pass goes on; nothing is
recorded as done, so the next pass tries again. (The round trip against a real MLflow is in
tests/integrations/mlflow/.)"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlwarden.schema.spec import Feature, ModelSpec
from mlwarden.schema.version_links import MLFLOW_KEY
from mlwarden.server.mlflow_sync import MlflowSync
from mlwarden.store import Store, open_store
from serverproc import free_port


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = open_store(tmp_path_factory.mktemp("job") / "data")
    spec = ModelSpec(name="churn", task="binary", features=[Feature(name="x", kind="numeric")])
    s.create_model("default", spec)
    s.create_version(
        "default", "churn", "3", metadata={MLFLOW_KEY: {"name": "churn", "version": "3"}}
    )
    s.create_model("default", spec.model_copy(update={"name": "plain"}))  # not from MLflow
    try:
        yield s
    finally:
        s.close()


class _Refusing(BaseHTTPRequestHandler):
    """An MLflow that answers every call with its error shape (HTTP 500)."""

    calls: list[str] = []

    def _answer(self) -> None:
        type(self).calls.append(self.path.split("?")[0])
        body = json.dumps({"error_code": "INTERNAL_ERROR", "message": "database is locked"})
        self.send_response(500)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_an_mlflow_that_is_down_is_logged_not_raised(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    job = MlflowSync(store, tracking_uri=f"http://127.0.0.1:{free_port()}", timeout=2)
    with caplog.at_level(logging.WARNING, logger="mlwarden.server"):
        assert job.run_once() == 0
    assert "Cannot reach the MLflow tracking server" in caplog.text
    assert "default/churn" in caplog.text and "plain" not in caplog.text
    assert job.tags_ == {}  # nothing recorded as done: the next pass tries again


def test_an_mlflow_that_refuses_is_logged_not_raised(
    store: Store, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        job = MlflowSync(store, tracking_uri=f"http://127.0.0.1:{server.server_port}", timeout=5)
        with caplog.at_level(logging.WARNING, logger="mlwarden.server"):
            assert job.run_once() == 0
    finally:
        server.shutdown()
        server.server_close()
    assert "database is locked (HTTP 500)" in caplog.text
    assert _Refusing.calls and job.tags_ == {}


def test_the_job_thread_survives_and_stops(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """Pass after failed pass on its own thread, until stopped."""
    job = MlflowSync(store, tracking_uri=f"http://127.0.0.1:{free_port()}", every=0.05, timeout=1)
    with caplog.at_level(logging.WARNING, logger="mlwarden.server"):
        job.start()
        try:
            deadline = time.monotonic() + 30
            while caplog.text.count("Cannot reach") < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert caplog.text.count("Cannot reach") >= 3
            assert job._thread is not None and job._thread.is_alive()
        finally:
            job.stop(grace=10)
    assert not job._thread.is_alive()
