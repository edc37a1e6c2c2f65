"""The LLM judge as its own job: a judge endpoint that does not answer stalls neither the
scheduler's evaluation of the other models nor the server's shutdown.

The judge used to make its calls inside ``evaluate``, under the scheduler's one lock: while
it waited (up to its budget plus a call's timeout), no other model was evaluated, and a
shutdown waited for it too.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mlwarden.cli.demo import feed
from mlwarden.cli.llm_simulator import LlmScenario, LlmSimulation
from mlwarden.cli.simulator import Scenario, Simulation
from serverproc import ServerProcess

#: The judge holds each call at most this long (the test releases it sooner).
HOLD_S = 120.0


class HeldJudge(ThreadingHTTPServer):
    """An OpenAI-compatible judge whose calls hang until released."""

    daemon_threads = True
    asked: threading.Event
    release: threading.Event


class _Handler(BaseHTTPRequestHandler):
    server: HeldJudge

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.asked.set()
        self.server.release.wait(HOLD_S)
        body = json.dumps(
            {
                "model": "judge",
                "choices": [{"message": {"content": '{"score": 5, "reason": "fine"}'}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        ).encode()
        try:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the server gave up on the call: nobody listens
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def held_judge() -> Iterator[HeldJudge]:
    srv = HeldJudge(("127.0.0.1", 0), _Handler)
    srv.asked, srv.release = threading.Event(), threading.Event()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.release.set()
        srv.shutdown()
        srv.server_close()


def _wait(what: str, cond: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_a_hanging_judge_stalls_neither_other_models_nor_shutdown(
    tmp_path: Path, held_judge: HeldJudge
) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    app = LlmSimulation(
        LlmScenario(days=1, calls_per_day=40, start=today - timedelta(days=1), seed=3)
    )
    srv = ServerProcess(
        tmp_path / "d", "--evaluate-every", "0.5", "--alerting-allow-host", "127.0.0.1"
    ).start()
    try:
        with httpx.Client(base_url=srv.url, timeout=120) as http:
            # an LLM app whose judge hangs: its calls are made by the judge job
            r = http.post(
                "/v1/traces", content=app.payload(0), headers={"content-type": "application/json"}
            )
            assert r.status_code == 200, r.text
            http.post("/v1/models", json={"name": "support-bot", "task": "llm", "prediction": None})
            r = http.post("/v1/models/support-bot/monitors/setup", json={"cadence": "1d"})
            spec = yaml.safe_load(r.json()["spec_yaml"])
            url = f"http://127.0.0.1:{held_judge.server_address[1]}/v1"
            spec["monitors"].append(
                {
                    "kind": "llm_judge",
                    "endpoint": url,
                    "model": "judge",
                    "sample": 5,
                    "timeout_s": HOLD_S,
                    "budget_s": HOLD_S,
                }  # fmt: skip
            )
            r = http.put(
                "/v1/models/support-bot/monitors",
                content=yaml.safe_dump(spec),
                headers={"content-type": "application/yaml"},
            )
            assert r.status_code == 200, r.text
            _wait("the judge is asked", held_judge.asked.is_set)

            # while the judge hangs, another model's closed windows are evaluated
            sim = Simulation(
                Scenario(
                    days=2,
                    events_per_day=150,
                    drift_start_day=None,
                    start=today - timedelta(days=2),
                    reference_rows=1000,
                )
            )
            feed(srv.url, sim, now=datetime.now(UTC))
            r = http.post("/v1/models/loan-default/monitors/setup", json={"cadence": "1d"})
            assert r.status_code == 200, r.text

            def evaluated() -> bool:
                rows = http.get(
                    "/v1/models/loan-default/results", params={"monitor": "volume"}
                ).json()
                return len(rows) >= 2

            _wait("the other model's windows are evaluated", evaluated, timeout=90)
            assert not held_judge.release.is_set()

        # shutdown does not wait for the hanging calls (stop() kills after 30 s)
        srv.stop()
        assert not held_judge.release.is_set()
        assert srv.proc is not None and srv.proc.returncode in (0, -signal.SIGTERM)
        log = srv.log.read_text()
        assert "Traceback" not in log, log[-3000:]
    finally:
        srv.stop()
