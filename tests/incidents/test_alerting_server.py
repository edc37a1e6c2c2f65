"""The alerting config on the real server: channels and actions applied over HTTP, incidents
from the simulated drift delivered to a local webhook receiver and run through an action, a
ping, the logs, bad configs refused, and nothing sent twice after a re-evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from incidents.localservers import Receiver, http_receiver
from mlwarden.cli.demo import feed
from mlwarden.cli.simulator import Scenario, Simulation
from mlwarden.incidents.channels import verify_signature
from serverproc import ServerProcess

MODEL = "loan-default"
SECRET = "hook-secret-for-tests"


def _wait(pred: object, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with http_receiver() as rec:
        yield rec


#: What the operator's command writes: the incident from stdin and the environment it got.
SCRIPT = (
    "import json, os, pathlib, sys; doc = json.load(sys.stdin); "
    "pathlib.Path(sys.argv[1]).write_text(json.dumps({'doc': doc, 'env': dict(os.environ)}))"
)
#: A secret in the server's environment that no alerting config or command may see.
PLANTED = {"MLW_TEST_PLANTED_SECRET": "planted-secret-value"}


#: What the failing receiver answers: never shown in the deliveries log.
BODY = "internal-answer-body-5c1d"


@pytest.fixture(scope="module")
def failing() -> Iterator[Receiver]:
    with http_receiver(default=500, answer=BODY) as rec:
        yield rec


@pytest.fixture(scope="module")
def action_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("action") / "action-stdin.json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, action_out: Path) -> Iterator[ServerProcess]:
    import os

    root = tmp_path_factory.mktemp("alerting")
    actions = root / "actions.yaml"  # the operator's file: the only place for commands
    actions.write_text(
        yaml.safe_dump(
            {
                "projects": {
                    "default": [
                        {
                            "name": "retrain",
                            "on": {"kinds": ["drift", "performance", "quality"]},
                            "command": [sys.executable, "-c", SCRIPT, str(action_out)],
                            "dry_run": False,
                            "max_runs": 1,
                            "per": "1d",
                        }
                    ]
                }
            }
        )
    )
    os.environ["MLWARDEN_TEST_HOOK_SECRET"] = SECRET  # the server reads ${...} when it sends
    os.environ.update(PLANTED)
    srv = ServerProcess(
        root / "data",
        "--evaluate-every",
        "0",
        "--public-url",
        "http://mlwarden.example:8000",
        "--actions-file",
        str(actions),
        "--alerting-allow-host",
        "127.0.0.1",
        "--alerting-env",
        "MLW_TEST_EXTRA",
    ).start()
    try:
        yield srv
    finally:
        srv.stop()
        os.environ.pop("MLWARDEN_TEST_HOOK_SECRET", None)
        for k in PLANTED:
            os.environ.pop(k, None)


def _config(receiver: Receiver, failing: Receiver) -> str:
    return f"""
channels:
  - kind: webhook
    name: ops
    url: {receiver.url("/hooks/mlwarden")}
    secret: ${{MLWARDEN_TEST_HOOK_SECRET}}
    events: [opened, escalated, acknowledged]
  - kind: webhook
    name: failing
    url: {failing.url("/hooks/mlwarden")}
    retries: 0
    events: [opened]
"""


def test_bad_configs_are_refused_with_the_reason(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as http:
        cases = {
            "channels: [\n  - {kind: webhook": "not valid YAML at line",
            "channels:\n  - {kind: sms, name: x}": "must be one of alertmanager, apprise, webhook",
            "channels:\n  - {kind: webhook, name: ops, url: ops.example.com/hook}": "'url'",
            "actions:\n  - {name: a, 'on': {kinds: [drift]}}": "exactly one of 'webhook'",
            "chanels: []": "unknown key 'chanels'",
            "channels:\n  - {kind: webhook, name: a, url: 'http://h.example/x'}\n"
            "  - {kind: webhook, name: a, url: 'http://h.example/y'}": "named 'a'",
        }
        for text, words in cases.items():
            r = http.put("/v1/alerting", content=text, headers={"content-type": "application/yaml"})
            assert r.status_code == 400, (text, r.text)
            assert words in r.json()["error"]["message"], (text, r.json())
        # nothing of the refused configs was applied
        assert http.get("/v1/alerting").json()["channels"] == []


def test_incidents_reach_the_webhook_and_the_operators_action_once(
    server: ServerProcess, receiver: Receiver, failing: Receiver, action_out: Path
) -> None:
    out = action_out
    http = httpx.Client(base_url=server.url, timeout=600)
    try:
        r = http.put(
            "/v1/alerting",
            content=_config(receiver, failing),
            headers={"content-type": "application/yaml"},
        )
        assert r.status_code == 200, r.text
        assert [c["name"] for c in r.json()["channels"]] == ["ops", "failing"]
        # the operator's command action is shown, read-only, beside the project's config
        assert [(a["name"], a["source"]) for a in r.json()["actions"]] == [("retrain", "server")]
        assert "retrain" not in r.json()["spec_yaml"]
        # the stored config keeps the reference to the secret, never its value
        assert "${MLWARDEN_TEST_HOOK_SECRET}" in http.get("/v1/alerting").json()["spec_yaml"]

        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=24)
        sim = Simulation(
            Scenario(
                days=24, events_per_day=800, drift_start_day=14, start=start, reference_rows=4000
            )
        )
        feed(server.url, sim, now=datetime.now(UTC))
        assert (
            http.post(f"/v1/models/{MODEL}/monitors/setup", json={"cadence": "1d"}).status_code
            == 200
        )
        span = {"start": start.isoformat(), "end": today.isoformat()}
        assert http.post(f"/v1/models/{MODEL}/evaluate", json=span).status_code == 200

        incidents = http.get("/v1/incidents", params={"model": MODEL}).json()["items"]
        model_incident = next(i for i in incidents if i["signature"] == "model")
        _wait(
            lambda: any(json.loads(q.body)["id"] == model_incident["id"] for q in receiver.requests)
        )
        _wait(out.exists)

        opened = [q for q in receiver.requests if json.loads(q.body)["id"] == model_incident["id"]]
        req = opened[0]
        assert req.path == "/hooks/mlwarden"
        assert verify_signature(
            SECRET,
            req.body,
            req.headers["X-Mlwarden-Timestamp"],
            req.headers["X-Mlwarden-Signature"],
        )
        body = json.loads(req.body)
        assert body["event"] == "opened"
        assert body["url"] == f"http://mlwarden.example:8000/ui/incidents/{model_incident['id']}"
        assert body["recommendations"], body
        # the action got the same incident on stdin, and a minimal environment: not the server's
        got = json.loads(out.read_text())
        assert got["doc"]["id"] in {i["id"] for i in incidents}
        env = got["env"]
        assert env["MLWARDEN_ACTION"] == "retrain" and env["MLWARDEN_INCIDENT_ID"] == str(
            got["doc"]["id"]
        )
        assert "PATH" in env
        assert not set(PLANTED) & set(env) and "planted-secret-value" not in out.read_text()
        assert not {"PYTHONWARNINGS", "PWD"} & set(env)  # nothing of the server's beyond the list

        def logged() -> list[dict[str, Any]]:
            params = {"incident_id": model_incident["id"]}
            rows: list[dict[str, Any]] = http.get("/v1/alerting/deliveries", params=params).json()
            return rows

        _wait(lambda: {d["channel"] for d in logged()} == {"ops", "failing"})
        log = logged()
        assert {d["status"] for d in log if d["channel"] == "ops"} == {"delivered"}
        # the failing receiver's status is logged, never its answer's body
        failed = [d for d in log if d["channel"] == "failing"]
        assert failed and {(d["status"], d["code"]) for d in failed} == {("failed", 500)}
        assert BODY not in http.get("/v1/alerting/deliveries").text
        # the action wrote its file while running; its run is logged once its process has ended
        _wait(lambda: any(r["status"] == "done" for r in http.get("/v1/alerting/actions").json()))
        runs = http.get("/v1/alerting/actions").json()
        assert [r["status"] for r in runs].count("done") == 1  # max_runs 1 per day
        shown = http.get(f"/v1/incidents/{model_incident['id']}").json()
        assert any(d["status"] == "delivered" for d in shown["deliveries"])

        # re-evaluating the same days changes nothing: nothing is sent twice (a notification of
        # another incident may still be on its way: what must not happen is a key sent again)
        def keys() -> list[str]:
            return [json.loads(q.body)["key"] for q in receiver.requests]

        sent = set(keys())
        assert http.post(f"/v1/models/{MODEL}/evaluate", json=span).status_code == 200
        time.sleep(1.5)
        assert len(keys()) == len(set(keys())) and sent <= set(keys())

        # acknowledging from the API is one more notification
        r = http.post(f"/v1/incidents/{model_incident['id']}/acknowledge", json={"by": "ana"})
        assert r.status_code == 200
        _wait(
            lambda: any(
                q.headers.get("X-Mlwarden-Event") == "acknowledged" for q in receiver.requests
            )
        )
    finally:
        http.close()


def test_ping_and_the_cli(server: ServerProcess, receiver: Receiver, tmp_path: Path) -> None:
    cfg = tmp_path / "alerting.yaml"
    cfg.write_text(
        "channels:\n"
        f"  - {{kind: webhook, name: ops, url: '{receiver.url('/ping')}'}}\n"
        "  - {kind: webhook, name: dead, url: 'http://127.0.0.1:9/x', retries: 0}\n"
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlwarden.cli.main", "alerting", *args, "--url", server.url],
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = cli("apply", str(cfg), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "dry run" in done.stdout
    with httpx.Client(base_url=server.url) as http:
        assert "dead" not in http.get("/v1/alerting").text  # a dry run applies nothing
    done = cli("apply", str(cfg))
    assert done.returncode == 0, done.stderr
    before = receiver.count
    done = cli("ping", "--by", "ana")
    assert done.returncode == 1  # the dead channel failed
    assert "delivered" in done.stdout and "failed" in done.stdout
    assert receiver.count == before + 1
    assert json.loads(receiver.requests[-1].body)["ping"] is True
    done = cli("show", "--yaml")
    assert done.returncode == 0 and "name: dead" in done.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("channels: {kind: webhook}")
    done = cli("apply", str(bad))
    assert done.returncode == 2
    assert "must be a list" in done.stderr
