"""Stalled uploads (headers and part of a body, then nothing) are answered 408 once the body
deadline passes and their connections closed, while the server keeps answering others."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serverproc import ServerProcess
from test_server import register

STALLED = (
    b"POST /v1/models/churn/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    b'[{"event_id": "a", "prediction": '
)


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path / "data", "--body-timeout", "2").start()
    try:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            register(http)
        yield srv
    finally:
        srv.stop()


def _stall(srv: ServerProcess) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
    s.sendall(STALLED)
    return s


def _answer(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the timeout)."""
    got = b""
    while True:
        chunk = s.recv(65536)  # socket.timeout (a failure) if the server never lets go
        if not chunk:
            return got
        got += chunk


def test_a_stalled_upload_gets_408_and_its_connection_closed(slow_server: ServerProcess) -> None:
    with _stall(slow_server) as s:
        answer = _answer(s)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    err = json.loads(body)["error"]
    assert err["type"] == "RequestTimeoutError"
    assert "--body-timeout" in err["message"]


def test_many_stalled_uploads_do_not_take_the_server_down(slow_server: ServerProcess) -> None:
    sockets = [_stall(slow_server) for _ in range(300)]
    try:
        # while they stall, the server answers
        r = httpx.get(f"{slow_server.url}/v1/health", timeout=30)
        assert r.status_code == 200
        answers = [_answer(s) for s in sockets]
    finally:
        for s in sockets:
            s.close()
    assert all(a == b"" or a.startswith(b"HTTP/1.1 408") for a in answers)
    assert sum(a.startswith(b"HTTP/1.1 408") for a in answers) >= 250
    # and afterwards, too: nothing is left holding the server
    deadline = time.monotonic() + 30
    while True:
        try:
            assert httpx.get(f"{slow_server.url}/v1/health", timeout=5).status_code == 200
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
