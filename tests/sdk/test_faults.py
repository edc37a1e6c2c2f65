"""The model app keeps answering whatever the mlwarden server does, and every event it logged
is stored exactly once after recovery (or counted as dropped, for a refusing server).

Each test runs the FastAPI example under uvicorn, pointed at the real server, directly or
through a fault proxy (a fake server that delays, fails or refuses, then forwards).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from serverproc import ServerProcess, free_port

from .conftest import (
    AppProcess,
    FaultProxy,
    event_count,
    new_server,
    predict,
    sdk_env,
    stored_ids,
    uvicorn_app,
    wait_for,
)


def spooled_files(spool: Path) -> list[Path]:
    return sorted(spool.glob("churn/*/*.arrow"))


def start_app(tmp_path: Path, url: str, apps: list[AppProcess], **env: str) -> AppProcess:
    app = uvicorn_app("fastapi_app", sdk_env(url, tmp_path / "spool", **env), tmp_path / "app.log")
    apps.append(app.start())
    return app


def finish(app: AppProcess, server: ServerProcess, ids: list[str]) -> None:
    """All ids arrive; after stopping both, the store holds each exactly once."""
    wait_for(lambda: event_count(server.url, "churn") == len(ids), what="all events stored")
    app.stop()
    server.stop()
    stored = stored_ids(server.data_dir, "churn")
    assert len(stored) == len(set(stored)) == len(ids)
    assert set(stored) == set(ids)


def test_server_down_at_start(tmp_path: Path, apps: list[AppProcess]) -> None:
    port = free_port()
    app = start_app(tmp_path, f"http://127.0.0.1:{port}", apps)
    with httpx.Client(timeout=10) as client:
        ids = predict(app, 80, client)  # nothing listens: the app answers all the same
        wait_for(lambda: bool(spooled_files(tmp_path / "spool")), what="batches in the spool")
        (proc_dir,) = {p.parent for p in spooled_files(tmp_path / "spool")}
        assert proc_dir.name.startswith(f"{app.proc.pid}-")  # type: ignore[union-attr]
        server = new_server(tmp_path / "data", port=port).start()
        try:
            wait_for(lambda: event_count(server.url, "churn") == 80, what="the spool replayed")
            ids += predict(app, 40, client, start=80)
            finish(app, server, ids)
        finally:
            server.stop()
    assert not spooled_files(tmp_path / "spool")


def test_server_killed_mid_stream_and_restarted(
    server: ServerProcess, tmp_path: Path, apps: list[AppProcess]
) -> None:
    app = start_app(tmp_path, server.url, apps)
    ids: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                ids.extend(predict(app, 5, client, start=len(ids)))

    loader = threading.Thread(target=load)
    loader.start()
    restarted = new_server(server.data_dir, port=server.port)
    try:
        wait_for(lambda: event_count(server.url, "churn") >= 60, what="traffic before the kill")
        server.kill()
        killed_at = len(ids)
        wait_for(lambda: len(ids) >= killed_at + 60, what="answers while the server is dead")
        restarted.start()
        wait_for(lambda: event_count(restarted.url, "churn") >= killed_at, what="replay")
        time.sleep(0.3)
        stop.set()
        loader.join()
        finish(app, restarted, ids)
    finally:
        stop.set()
        loader.join()
        restarted.stop()


@dataclass
class Stack:
    """One real server, a fault proxy in front of it, and the FastAPI example app."""

    server: ServerProcess
    proxy: FaultProxy
    app: AppProcess
    client: httpx.Client
    sent: int = 0

    def predict(self, n: int) -> list[str]:
        ids = predict(self.app, n, self.client, start=self.sent)
        self.sent += n
        return ids

    def stored(self) -> int:
        return event_count(self.server.url, "churn")

    def delivered(self, expected: int) -> None:
        """Exactly ``expected`` events are stored, and no more arrive: a re-sent event
        (same id, same timestamp) stored a second time would show as one too many."""
        wait_for(lambda: self.stored() == expected, what=f"{expected} events stored")
        time.sleep(0.3)
        assert self.stored() == expected


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    server = new_server(tmp / "data").start()
    proxy = FaultProxy(server.url).start()
    app = uvicorn_app("fastapi_app", sdk_env(proxy.url, tmp / "spool"), tmp / "app.log")
    client = httpx.Client(timeout=10)
    try:
        app.start()
        st = Stack(server, proxy, app, client)
        st.predict(20)  # registers the model; the tests below start from a healthy state
        st.delivered(20)
        yield st
    finally:
        client.close()
        if app.proc is not None:
            app.stop()
        proxy.stop()
        server.stop()


def test_slow_server_times_out_and_resends_without_duplicates(stack: Stack) -> None:
    before, forwarded = stack.stored(), sum(stack.proxy.forwarded_rows)
    stack.proxy.mode, stack.proxy.delay = "slow", 2.0  # the SDK gives up after 1 s
    try:
        ids = stack.predict(60)
        late = len(stack.proxy.forwarded_rows)
        wait_for(lambda: len(stack.proxy.forwarded_rows) > late, what="a late answer")
        ids += stack.predict(20)
    finally:
        stack.proxy.mode = "pass"
    stack.delivered(before + len(ids))
    # the server got batches twice (late, then re-sent): event ids made that a no-op
    assert sum(stack.proxy.forwarded_rows) - forwarded > len(ids)


def test_server_errors_500_then_recovers(stack: Stack) -> None:
    before, errors = stack.stored(), stack.proxy.answers.get(500, 0)
    stack.proxy.mode = "500"
    try:
        ids = stack.predict(60)
        wait_for(lambda: stack.proxy.answers.get(500, 0) >= errors + 3, what="retries")
        assert stack.stored() == before
    finally:
        stack.proxy.mode = "pass"
    ids += stack.predict(20)
    stack.delivered(before + len(ids))


def test_413_splits_batches_until_they_fit(stack: Stack) -> None:
    before, seen = stack.stored(), len(stack.proxy.forwarded_rows)
    stack.proxy.mode, stack.proxy.max_rows = "413", 2
    try:
        ids = stack.predict(60)
        stack.delivered(before + len(ids))
    finally:
        stack.proxy.mode = "pass"
    assert stack.proxy.answers[413] > 0
    assert max(stack.proxy.forwarded_rows[seen:]) <= 2


def test_401_drops_and_says_so_once_then_later_events_arrive(stack: Stack) -> None:
    before, refused_before = stack.stored(), stack.proxy.answers.get(401, 0)
    stack.proxy.mode = "401"
    try:
        stack.predict(40)
        wait_for(lambda: stack.proxy.answers.get(401, 0) >= refused_before + 2, what="refusals")
        time.sleep(0.3)
    finally:
        stack.proxy.mode = "pass"
    ids = stack.predict(40)
    stack.delivered(before + len(ids))  # the refused events are dropped, not retried forever
    warnings = [line for line in stack.app.output().splitlines() if "HTTP 401" in line]
    assert len(warnings) == 1, warnings
    assert "dropped" in warnings[0] and "AuthError" in warnings[0]
