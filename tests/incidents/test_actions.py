"""Automated actions: real commands (the test's Python) and a real local webhook receiver;
dry runs, rate limits, failures, matching, configuration."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from mlwarden.errors import ConfigError
from mlwarden.incidents.actions import Action, ActionRunner, MemoryAuditLog, RunStatus
from mlwarden.incidents.channels import verify_signature
from mlwarden.incidents.record import IncidentEvent

from .localservers import LOCAL, T0, http_receiver, note

#: Writes the incident it gets on stdin, and its environment, to the file named by argv[1].
RECORDER = (
    "import json, os, sys\n"
    "doc = json.load(sys.stdin)\n"
    "env = {k: v for k, v in os.environ.items() if k.startswith('MLWARDEN_')}\n"
    "with open(sys.argv[1], 'a') as f:\n"
    "    f.write(json.dumps({'doc': doc, 'env': env}) + '\\n')\n"
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def recorder(out: Path, **conf: object) -> Action:
    return Action.from_dict(
        {
            "name": "retrain",
            "on": {"signatures": ["model", "drift:*"]},
            "command": [sys.executable, "-c", RECORDER, str(out)],
            **conf,
        }
    )


def lines(path: Path) -> list[dict[str, dict[str, object]]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_command_gets_the_incident_on_stdin_and_env(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    audit = MemoryAuditLog()
    n = note()
    (run,) = ActionRunner([recorder(out, dry_run=False)], audit, clock=Clock(T0)).run(n)
    assert (run.status, run.detail, run.dry_run) == (RunStatus.DONE, "exit code 0", False)
    assert (run.action, run.incident_id, run.event, run.at, run.key) == (
        "retrain",
        12,
        "opened",
        T0,
        n.key,
    )
    assert audit.runs == [run]
    (got,) = lines(out)
    assert got["doc"]["id"] == 12 and got["doc"]["signature"] == "model"
    assert got["doc"]["event"] == "opened" and got["doc"]["url"] == n.url
    assert {
        k: got["env"][k] for k in ("MLWARDEN_INCIDENT_ID", "MLWARDEN_EVENT", "MLWARDEN_KIND")
    } == {
        "MLWARDEN_INCIDENT_ID": "12",
        "MLWARDEN_EVENT": "opened",
        "MLWARDEN_KIND": "drift",
    }
    assert run.to_dict()["status"] == "done"


def test_dry_run_is_the_default_and_does_nothing(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    audit = MemoryAuditLog()
    (run,) = ActionRunner([recorder(out)], audit).run(note())
    assert run.status is RunStatus.DRY_RUN and run.dry_run
    assert run.detail.startswith("dry run: would run [") and "incident JSON on stdin" in run.detail
    assert not out.exists()
    assert audit.runs == [run]


def test_rate_limit_stops_the_third_run_in_the_period(tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    clock = Clock(T0)
    audit = MemoryAuditLog()
    runner = ActionRunner([recorder(out, dry_run=False, max_runs=2, per="1d")], audit, clock=clock)
    statuses = []
    for i in range(3):
        clock.now = T0 + timedelta(hours=i)
        statuses += [r.status.value for r in runner.run(note(sequence=i, id=12 + i))]
    assert statuses == ["done", "done", "rate_limited"]
    assert audit.runs[-1].detail == "2 runs in the last 1d (max_runs 2)"
    assert len(lines(out)) == 2
    clock.now = T0 + timedelta(days=1, minutes=1)  # the first run left the window
    assert [r.status.value for r in runner.run(note(sequence=9))] == ["done"]
    assert len(lines(out)) == 3


def test_failing_command_is_failed_with_exit_code_and_stderr() -> None:
    action = Action.from_dict(
        {
            "name": "check",
            "on": {"kinds": ["drift"]},
            "command": [
                sys.executable,
                "-c",
                "import sys; sys.stderr.write('no GPU left'); sys.exit(3)",
            ],
            "dry_run": False,
        }
    )
    (run,) = ActionRunner([action], MemoryAuditLog()).run(note())
    assert (run.status, run.detail) == (RunStatus.FAILED, "exit code 3: no GPU left")


def test_command_timeout_and_missing_program_are_failures() -> None:
    slow = Action(
        "slow",
        on={"kinds": ["drift"]},
        command=[sys.executable, "-c", "import time; time.sleep(30)"],
        dry_run=False,
        timeout_s=0.5,
    )
    missing = Action(
        "missing", on={"kinds": ["drift"]}, command=["/nonexistent/retrain.sh"], dry_run=False
    )
    runs = ActionRunner([slow, missing], MemoryAuditLog()).run(note())
    assert [(r.status, r.detail) for r in runs] == [
        (RunStatus.FAILED, "timed out after 0.5s (killed)"),
        (RunStatus.FAILED, "could not start '/nonexistent/retrain.sh': No such file or directory"),
    ]


def test_webhook_action_posts_the_signed_incident(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLWARDEN_TEST_CI_SECRET", "ci-secret")
    n = note()
    with http_receiver(503) as rec:
        action = Action.from_dict(
            {
                "name": "trigger-ci",
                "on": {"kinds": ["drift"], "min_severity": "high"},
                "webhook": rec.url("/retrain"),
                "secret": "${MLWARDEN_TEST_CI_SECRET}",
                "dry_run": False,
                "backoff_s": 0.01,
            }
        )
        (run,) = ActionRunner([action], MemoryAuditLog(), policy=LOCAL).run(n)
    assert (run.status, run.detail) == (RunStatus.DONE, "HTTP 200 (2 attempts)")
    req = rec.requests[-1]
    assert req.path == "/retrain" and req.headers["X-Mlwarden-Action"] == "trigger-ci"
    assert verify_signature(
        "ci-secret",
        req.body,
        req.headers["X-Mlwarden-Timestamp"],
        req.headers["X-Mlwarden-Signature"],
    )
    assert json.loads(req.body)["id"] == 12


def test_webhook_action_failure_and_dry_run() -> None:
    with http_receiver(default=404) as rec:
        live = Action("live", on={"kinds": ["drift"]}, webhook=rec.url(), dry_run=False)
        dry = Action("dry", on={"kinds": ["drift"]}, webhook=rec.url("/secret-token"))
        runs = ActionRunner([live, dry], MemoryAuditLog(), policy=LOCAL).run(note())
        assert rec.count == 1
    assert runs[0].status is RunStatus.FAILED and runs[0].detail.startswith("HTTP 404")
    assert (
        runs[1].detail
        == f"dry run: would POST the incident JSON to http://127.0.0.1:{rec.port}/..."
    )


@pytest.mark.parametrize(
    ("on", "event", "changes", "matched"),
    [
        ({"kinds": ["drift"]}, IncidentEvent.OPENED, {}, True),
        ({"kinds": ["drift"]}, IncidentEvent.ESCALATED, {}, False),  # events default: opened
        ({"kinds": ["drift"], "events": ["escalated"]}, IncidentEvent.ESCALATED, {}, True),
        ({"kinds": ["performance"]}, IncidentEvent.OPENED, {}, False),
        ({"signatures": ["drift:*"]}, IncidentEvent.OPENED, {"signature": "drift:income"}, True),
        ({"signatures": ["drift:*"]}, IncidentEvent.OPENED, {"signature": "quality:income"}, False),
        ({"kinds": ["drift"], "signatures": ["quality:*"]}, IncidentEvent.OPENED, {}, False),
        ({"kinds": ["drift"], "min_severity": "critical"}, IncidentEvent.OPENED, {}, False),
        ({"kinds": ["drift"], "min_severity": "high"}, IncidentEvent.OPENED, {}, True),
    ],
)
def test_matching(
    on: dict[str, object], event: IncidentEvent, changes: dict[str, object], matched: bool
) -> None:
    action = Action.from_dict({"name": "a", "on": on, "command": ["true"]})
    assert action.matches(note(event, **changes)) is matched
    runs = ActionRunner([action], MemoryAuditLog()).run(note(event, **changes))
    assert len(runs) == int(matched)


def test_yaml_on_key_and_round_trip() -> None:
    conf = yaml.safe_load(
        """
        name: retrain
        on:
          kinds: [drift, performance]
          min_severity: high
        webhook: https://ci.example.com/hooks/retrain
        secret: ${CI_WEBHOOK_SECRET}
        max_runs: 2
        per: 1d
        """
    )
    assert True in conf  # YAML 1.1 reads `on` as a boolean
    action = Action.from_dict(conf)
    assert action.on == {"kinds": ["drift", "performance"], "min_severity": "high"}
    assert Action.from_dict(action.to_dict()) == action
    assert action.to_dict()["secret"] == "${CI_WEBHOOK_SECRET}"
    assert "CI_WEBHOOK_SECRET" in repr(action)
    assert "hunter2" not in repr(
        Action("x", on={"kinds": ["drift"]}, webhook="https://h.example", secret="hunter2")
    )


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        (
            {
                "name": "x",
                "on": {"kinds": ["drift"]},
                "webhook": "https://h.example",
                "command": ["true"],
            },
            "The action 'x' must set exactly one of 'webhook', 'command' and 'pipeline'; it sets "
            "'webhook' and 'command'.",
        ),
        (
            {"name": "x", "on": {"kinds": ["drift"]}},
            "The action 'x' must set exactly one of 'webhook', 'command' and 'pipeline'; it sets "
            "none.",
        ),
        (
            {"name": "x", "on": {"kinds": ["drift"]}, "command": ["true"], "shell": True},
            "The action 'x' has no parameter 'shell'; its parameters are backoff_s, command, "
            "dry_run, max_runs, name, on, per, pipeline, retries, secret, timeout_s, webhook.",
        ),
        (
            {"name": "x", "on": {"min_severity": "high"}, "command": ["true"]},
            "The 'on' parameter of action 'x' must name incident 'kinds' and/or 'signatures' to "
            "match. Got {'min_severity': 'high'} instead.",
        ),
        (
            {"name": "x", "on": {"kinds": ["drift"], "event": ["opened"]}, "command": ["true"]},
            "The 'on' parameter of action 'x' must have only the keys kinds, signatures, "
            "min_severity, events. Got 'event' instead.",
        ),
        (
            {"name": "x", "on": {"kinds": ["drift"], "min_severity": "p1"}, "command": ["true"]},
            "The 'on.min_severity' parameter of action 'x' must be one of low, medium, high, "
            "critical. Got 'p1' instead.",
        ),
        (
            {"name": "x", "on": {"kinds": ["drift"]}, "webhook": "ci.example.com/hook"},
            "The 'webhook' parameter of action 'x' must be an http:// or https:// URL with a host. "
            "Got 'ci.example.com/hook' instead.",
        ),
        (
            {"name": "x", "on": {"kinds": ["drift"]}, "command": "retrain.sh --all"},
            "The 'command' parameter of action 'x' must be a non-empty list of strings (argv, no "
            "shell). Got 'retrain.sh --all' instead.",
        ),
        (
            {"name": "x", "on": {"kinds": ["drift"]}, "command": ["true"], "per": "daily"},
            "The 'per' parameter of action 'x' must look like '30m', '6h', '1d' or '1w'. "
            "Got 'daily' instead.",
        ),
        (
            {"name": "x", "on": {"kinds": ["drift"]}, "command": ["true"], "max_runs": 0},
            "The 'max_runs' parameter of action 'x' must be an integer >= 1. Got 0 instead.",
        ),
        (
            {"name": "x", "on": {"kinds": ["drift"]}, "command": ["true"], "secret": "s"},
            "The 'secret' parameter of action 'x' must be set only with 'webhook'. Got '***' instead.",
        ),
        (
            {"name": "x", "on": {"kinds": ["drift"]}, "command": ["true"], "dry_run": "no"},
            "The 'dry_run' parameter of action 'x' must be true or false. Got 'no' instead.",
        ),
        (
            {"on": {"kinds": ["drift"]}, "command": ["true"]},
            "The action needs the 'name' parameter.",
        ),
    ],
)
def test_bad_configuration_is_refused_clearly(conf: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        Action.from_dict(conf)
    assert str(err.value) == message


def test_runner_refuses_duplicate_names() -> None:
    a = Action("a", on={"kinds": ["drift"]}, command=["true"])
    with pytest.raises(ConfigError, match="Two actions are named 'a'"):
        ActionRunner([a, a], MemoryAuditLog())
