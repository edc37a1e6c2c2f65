"""Fixtures of the SDK tests: the real server, example apps as subprocesses, a fault proxy."""

from __future__ import annotations

import contextlib
import gzip
import http.server
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from serverproc import ServerProcess, free_port  # noqa: E402

ROOT = TESTS.parent
EXAMPLES = ROOT / "examples"


def wait_for(check: Callable[[], bool], timeout: float = 180.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def sdk_env(url: str, spool: Path, **extra: str) -> dict[str, str]:
    """Environment of a model app: fast batching and retries so tests stay short."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "PYTHONWARNINGS": "ignore",
        "MLWARDEN_URL": url,
        "MLWARDEN_SPOOL_DIR": str(spool),
        "MLWARDEN_FLUSH_INTERVAL": "0.1",
        "MLWARDEN_MAX_BACKOFF": "0.5",
        "MLWARDEN_TIMEOUT": "1",
    }
    env.pop("MLWARDEN_PATH", None)
    env.update(extra)
    return env


class AppProcess:
    """An example model server (uvicorn or gunicorn) on a free loopback port."""

    def __init__(self, cmd: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.cmd, self.env, self.port, self.log = cmd, env, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> AppProcess:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(  # its own process group: workers can be cleaned up
                self.cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=ROOT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"app did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> int:
        """SIGTERM (graceful: the SDK flushes at exit) and wait."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text()


def uvicorn_app(module: str, env: dict[str, str], log: Path) -> AppProcess:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", f"{module}:app", "--app-dir", str(EXAMPLES)]
    cmd += ["--port", str(port), "--log-level", "warning"]
    return AppProcess(cmd, env, port, log)


def gunicorn_app(module: str, env: dict[str, str], log: Path, workers: int = 2) -> AppProcess:
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "-w", str(workers), "--preload"]
    cmd += ["-b", f"127.0.0.1:{port}", "--chdir", str(EXAMPLES), f"{module}:app"]
    return AppProcess(cmd, env, port, log)


def predict(app: AppProcess, n: int, client: httpx.Client, start: int = 0) -> list[str]:
    """Send ``n`` predictions; every one must be answered; return their event ids."""
    ids = []
    for i in range(start, start + n):
        r = client.post(
            f"{app.url}/predict",
            json={"features": {"age": 20 + i % 60, "plan": ["free", "pro"][i % 2]}},
        )
        assert r.status_code == 200, r.text
        assert r.json()["prediction"] in (0, 1)
        ids.append(r.headers["x-mlwarden-event-id"])
    return ids


def stored_ids(data: Path, model: str) -> list[str]:
    """Event ids in a stopped server's data dir (duplicates would show as repeats)."""
    from mlwarden.store import open_store

    store = open_store(data)
    try:
        m = store.get_model("default", model)
        ids: list[str] = store.events(m).event_id.to_pyarrow().to_pylist()
    finally:
        store.close()
    return ids


def event_count(url: str, model: str) -> int:
    try:
        r = httpx.get(f"{url}/v1/models/{model}/counts", params={"window": "all"}, timeout=5)
    except httpx.HTTPError:
        return -1
    if r.status_code != 200:
        return -1
    return int(sum(c["events"] for c in r.json()))


def rows_of(body: bytes, encoding: str | None) -> int:
    raw = gzip.decompress(body) if encoding == "gzip" else body
    with pa.ipc.open_stream(io.BytesIO(raw)) as reader:
        return int(reader.read_all().num_rows)


class FaultProxy:
    """A fake server in front of the real one. ``mode``: ``pass`` (forward), ``slow`` (wait
    ``delay`` seconds, then forward: the client has given up, the server still stores it),
    ``500`` / ``401``, ``413`` (bodies over ``max_rows`` rows; smaller ones forwarded)."""

    def __init__(self, upstream: str, port: int | None = None) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.delay = 2.0
        self.max_rows = 20
        self.forwarded_rows: list[int] = []
        self.answers: dict[int, int] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle(b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                self._handle(self.rfile.read(length))

            def _handle(self, body: bytes) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                code, payload = proxy._answer(self.command, self.path, headers, body)
                with proxy._lock:
                    proxy.answers[code] = proxy.answers.get(code, 0) + 1
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (the slow mode) is expected

        self.server = Server(("127.0.0.1", port or 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        mode = self.mode
        events = path.endswith("/events")
        if mode == "500":
            return 500, b'{"error": {"type": "HTTPError", "message": "boom"}}'
        if mode == "401":
            return 401, b'{"error": {"type": "AuthError", "message": "The API key is unknown."}}'
        if (
            mode == "413"
            and events
            and rows_of(body, headers.get("content-encoding")) > self.max_rows
        ):
            return 413, b'{"error": {"type": "PayloadTooLargeError", "message": "too large"}}'
        if mode == "slow":
            time.sleep(self.delay)
        keep = {
            k: v for k, v in headers.items() if k.lower() in ("content-type", "content-encoding")
        }
        r = httpx.request(method, self.upstream + path, content=body, headers=keep, timeout=30)
        if events and r.status_code == 200:
            with self._lock:
                self.forwarded_rows.append(rows_of(body, headers.get("content-encoding")))
        return r.status_code, r.content


#: Commit every 5 ms instead of 50: a test waits on many sequential small batches.
SERVER_ARGS = ("--commit-interval-ms", "5")


def new_server(data: Path, port: int | None = None) -> ServerProcess:
    return ServerProcess(data, *SERVER_ARGS, port=port)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = new_server(tmp_path / "data").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def apps() -> Iterator[list[AppProcess]]:
    """Apps started by a test; stopped (and reported) at the end even if the test fails."""
    started: list[AppProcess] = []
    try:
        yield started
    finally:
        for app in started:
            if app.proc is not None:
                with contextlib.suppress(ProcessLookupError):  # the app and any workers it forked
                    os.killpg(app.proc.pid, signal.SIGKILL)
                app.proc.wait(10)
