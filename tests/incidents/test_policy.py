"""The operator's alerting policy: which addresses and variables alerting may use, and the
webhook connection pinned to the address that was checked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mlwarden.errors import ConfigError
from mlwarden.incidents.actions import Action, ActionRunner, MemoryAuditLog, RunStatus
from mlwarden.incidents.alerting import AlertingConfig
from mlwarden.incidents.channels import DeliveryStatus, WebhookChannel
from mlwarden.incidents.channels.policy import AlertingPolicy

from .localservers import http_receiver, note

STRICT = AlertingPolicy()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "169.254.169.254",  # cloud metadata
        "fe80::1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "fd00::1",  # ULA
        "100.64.0.1",  # shared (carrier-grade NAT)
        "0.0.0.0",
        "::",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:169.254.169.254",
    ],
)
def test_internal_addresses_are_refused_by_default(address: str) -> None:
    with pytest.raises(ConfigError, match="destination policy .* --alerting-allow-host"):
        STRICT.addresses(address, 80)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert [str(a) for a in STRICT.addresses(address, 443)] == [address]


def test_the_operator_allows_networks_and_names() -> None:
    policy = AlertingPolicy(allow_hosts=("10.20.0.0/16", "::1", "localhost"))
    policy.validate()
    assert [str(a) for a in policy.addresses("10.20.3.4", 80)] == ["10.20.3.4"]
    with pytest.raises(ConfigError):
        policy.addresses("10.21.0.1", 80)  # outside the allowed network
    assert [str(a) for a in policy.addresses("::1", 80)] == ["::1"]
    with pytest.raises(ConfigError):
        policy.addresses("127.0.0.1", 80)  # ::1 is allowed, not IPv4 loopback
    assert policy.addresses("localhost", 80)  # the name itself: whatever it resolves to
    assert policy.addresses("LocalHost", 80)


def test_a_name_resolving_to_loopback_is_refused() -> None:
    with pytest.raises(ConfigError, match="'localhost' is refused"):
        STRICT.addresses("localhost", 80)


def test_an_unknown_name_says_no_answer_like_a_closed_port() -> None:
    with pytest.raises(ConfigError) as info:
        STRICT.addresses("no-such-host.invalid", 443)
    assert str(info.value) == (
        "Not delivered: no answer from no-such-host.invalid:443 (no connection, or timed out)."
    )


def test_bad_operator_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="'alerting-allow-host' option .* Got 'a b' instead"):
        AlertingPolicy(allow_hosts=("a b",)).validate()
    with pytest.raises(ConfigError, match="'alerting-env' option .* Got '1X' instead"):
        AlertingPolicy(env=("1X",)).validate()


def test_variables_outside_the_allow_list_are_never_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLW_TEST_OTHER", "do-not-send")
    ch = WebhookChannel("ops", url="https://hooks.example.com/${MLW_TEST_OTHER}")
    with pytest.raises(ConfigError, match="'MLW_TEST_OTHER'.*--alerting-env MLW_TEST_OTHER"):
        ch.check_env(STRICT)
    ch.check_env(AlertingPolicy(env=("MLW_TEST_OTHER",)))
    d = ch.send(note())  # the library default refuses it too, before any connection
    assert d.status is DeliveryStatus.FAILED and d.attempts == 0
    assert "do-not-send" not in d.error and "--alerting-env" in d.error


def test_library_defaults_deny_loopback_for_channels_and_actions() -> None:
    with http_receiver() as rec:
        d = WebhookChannel("ops", url=rec.url()).send(note())
        action = Action("hook", on={"kinds": ["drift"]}, webhook=rec.url(), dry_run=False)
        (run,) = ActionRunner([action], MemoryAuditLog()).run(note())
    assert rec.count == 0
    assert d.status is DeliveryStatus.FAILED and "destination policy" in d.error
    assert run.status is RunStatus.FAILED and "destination policy" in run.detail


def test_command_environment_is_minimal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLW_TEST_PLANTED", "planted")
    monkeypatch.setenv("MLW_TEST_LISTED", "listed")
    monkeypatch.setenv("MLWARDEN_TEST_OWN", "own")
    out = tmp_path / "env.json"
    script = f"import json, os; open({str(out)!r}, 'w').write(json.dumps(dict(os.environ)))"
    action = Action(
        "env", on={"kinds": ["drift"]}, command=[sys.executable, "-c", script], dry_run=False
    )
    policy = AlertingPolicy(env=("MLW_TEST_LISTED",))
    (run,) = ActionRunner([action], MemoryAuditLog(), policy=policy).run(note())
    assert run.status is RunStatus.DONE, run.detail
    env = json.loads(out.read_text())
    assert "MLW_TEST_PLANTED" not in env
    assert env["MLW_TEST_LISTED"] == "listed" and env["MLWARDEN_TEST_OWN"] == "own"
    assert env["MLWARDEN_INCIDENT_ID"] == "12" and env["MLWARDEN_ACTION"] == "env"
    assert set(env) - {"PATH", "HOME", "LANG", "MLW_TEST_LISTED"} <= {
        k for k in env if k.startswith("MLWARDEN_")
    } | {"LC_CTYPE", "__CF_USER_TEXT_ENCODING"}  # what the OS adds to a process


def test_a_stored_command_action_from_an_older_version_never_runs() -> None:
    from mlwarden.incidents.alerting import Alerting
    from mlwarden.store import open_store

    store = open_store(None)
    old = (
        "channels:\n  - {kind: webhook, name: ops, url: 'https://hooks.example.com/x'}\n"
        "actions:\n"
        "  - {name: pwn, 'on': {kinds: [drift]}, command: [/bin/sh, -c, id], dry_run: false}\n"
        "  - {name: ci, 'on': {kinds: [drift]}, webhook: 'https://ci.example.com/x'}\n"
    )
    store.put_alerting("default", old)
    server = Action("page", on={"kinds": ["drift"]}, command=["true"])
    alerting = Alerting(store, server_actions={"default": [server]})
    try:
        config = alerting.config("default")
        assert [c.name for c in config.channels] == ["ops"]
        assert [a.name for a in config.actions] == ["ci"]  # the command is dropped
        shown = alerting.summary("default")["actions"]
        assert [(a["name"], a["source"]) for a in shown] == [("ci", "api"), ("page", "server")]
        # and the API cannot take the operator's action's name
        with pytest.raises(ConfigError, match="actions file"):
            alerting.check(
                "default",
                AlertingConfig.from_yaml(
                    "actions:\n  - {name: page, 'on': {kinds: [drift]}, webhook: 'https://a.example'}"
                ),
            )
    finally:
        alerting.close()
        store.close()
