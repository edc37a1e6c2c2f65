"""Debian's ``prometheus`` and ``prometheus-alertmanager`` as child processes of a test: their
own temp config and data dir, a free loopback port, stopped by the test."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from serverproc import free_port

#: How the suite installs them on a fresh machine (``make promtools``, run by ``make unit``).
INSTALL = "apt-get install -y prometheus prometheus-alertmanager (or: make promtools)"


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"The integration tests need Debian's {name!r}: {INSTALL}.")
    return found


def wait_for(what: str, pred: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``pred`` until it returns something truthy (bounded); that value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except httpx.HTTPError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


@contextmanager
def running(cmd: list[str], *, log: Path, ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"{cmd[0]} exited: {log.read_text()[-2000:]}")
            return httpx.get(ready_url, timeout=1).status_code == 200

        wait_for(f"{cmd[0]} to be ready", ready)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextmanager
def prometheus(root: Path, config: str) -> Iterator[str]:
    """Prometheus with ``config`` (YAML) on a free loopback port; its base URL."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "prometheus.yml").write_text(config)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        binary("prometheus"),
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={root / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with running(cmd, log=root / "prometheus.log", ready_url=f"{url}/-/ready"):
        yield url


@contextmanager
def alertmanager(root: Path, config: str) -> Iterator[str]:
    """Alertmanager with ``config`` (YAML) on a free loopback port, no clustering; its URL."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "alertmanager.yml").write_text(config)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        binary("prometheus-alertmanager"),
        f"--config.file={root / 'alertmanager.yml'}",
        f"--storage.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    with running(cmd, log=root / "alertmanager.log", ready_url=f"{url}/-/ready"):
        yield url
