"""The real server as a child process on a loopback port (what users run)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

#: Ports handed out below Linux's ephemeral range (32768-60999), a block per pytest-xdist
#: worker: a port one worker probed free and released is never handed to another worker, whose
#: server would otherwise answer the first one's health check.
_PORT_BASE, _PORT_BLOCK = 20_000, 1_500
_next_port: list[int] = []


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = _PORT_BASE + _PORT_BLOCK * (int(worker) if worker.isdigit() else 0)
    if not _next_port:
        _next_port.append(first + os.getpid() % 100)  # a re-run does not reuse a TIME_WAIT port
    for _ in range(_PORT_BLOCK):
        port = _next_port[0]
        _next_port[0] = first + (port + 1 - first) % _PORT_BLOCK
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{first + _PORT_BLOCK - 1}")


class _PortTaken(Exception):
    """The server could not bind its port: another process holds it."""


class ServerProcess:
    def __init__(self, data_dir: Path, *args: str, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> ServerProcess:
        """Start the server and wait for its health check. A port taken by another process
        between :func:`free_port` and the server's bind (another test session on the machine)
        is retried on a new port, also when that other process answered the health check
        (our child then exited: the answer was not ours)."""
        for attempt in range(3):
            try:
                return self._start(timeout)
            except _PortTaken:
                if attempt == 2:
                    raise RuntimeError(f"no port to bind: {self.log.read_text()[-2000:]}") from None
                self.port = free_port()
                self.log = self.data_dir / f"server-{self.port}.log"
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "mlwarden.cli.main",
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--log-level",
            "warning",
            *self.args,
        ]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._exited()
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    time.sleep(0.2)  # a server that lost the bind exits right after start-up
                    if self.proc.poll() is not None:
                        self._exited()
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def _exited(self) -> None:
        assert self.proc is not None
        text = self.log.read_text()
        if "address already in use" in text.lower():
            raise _PortTaken
        raise RuntimeError(f"server exited with {self.proc.returncode}: {text[-2000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextmanager
def http_client(data_dir: Path, *args: str, timeout: float = 300) -> Iterator[httpx.Client]:
    """A server on ``data_dir`` (``args``: its options) and an HTTP client of it, for a module's
    tests; the server stops when the block ends."""
    srv = ServerProcess(data_dir, *args).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=timeout) as client:
            yield client
    finally:
        srv.stop()
