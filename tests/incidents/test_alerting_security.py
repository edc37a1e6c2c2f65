"""The security review's reproductions against the real server: an API key cannot run
commands, read the server's environment or probe the network through alerting.

Two servers: ``strict`` with the defaults (what an operator gets without flags) and
``allowing`` with loopback and one extra variable allowed (how the operator widens it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from incidents.localservers import Receiver, http_receiver
from serverproc import ServerProcess, free_port

YAML = {"content-type": "application/yaml"}
#: Set in the servers' environment: alerting may expand only the allowed ones.
ENV = {
    "MLWARDEN_TEST_TOKEN": "mlwarden-token-value",
    "MLW_TEST_EXTRA": "extra-path",
    "MLW_TEST_PLANTED": "planted-secret-value",
}
#: The body a failing receiver answers with: it must never come back to the caller.
BODY = "internal-answer-body-7f3a"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with http_receiver() as rec:
        yield rec


def _start(root: Path, *flags: str) -> ServerProcess:
    return ServerProcess(root / "data", "--evaluate-every", "0", *flags).start()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    root = tmp_path_factory.mktemp("security")
    started: dict[str, ServerProcess] = {}
    try:
        started["strict"] = _start(root / "strict")
        started["allowing"] = _start(
            root / "allowing",
            "--alerting-allow-host",
            "127.0.0.1",
            "--alerting-allow-host",
            "localhost",
            "--alerting-env",
            "MLW_TEST_EXTRA",
        )
        yield started
    finally:
        for srv in started.values():
            srv.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _put(srv: ServerProcess, text: str, **params: Any) -> httpx.Response:
    return httpx.put(f"{srv.url}/v1/alerting", content=text, headers=YAML, params=params)


def _ping(srv: ServerProcess) -> httpx.Response:
    return httpx.post(f"{srv.url}/v1/alerting/ping", json={"by": "test"}, timeout=120)


# -- 1. command actions only from the operator's file ---------------------------------------
RCE = """
actions:
  - name: pwn
    "on": {kinds: [drift]}
    command: ["/bin/sh", "-c", "id >&2"]
    dry_run: false
"""


def test_command_actions_are_refused_through_the_api(
    servers: dict[str, ServerProcess], tmp_path: Path
) -> None:
    srv = servers["strict"]
    for params in ({}, {"dry_run": "true"}):
        r = _put(srv, RCE, **params)
        assert r.status_code == 400, r.text
        message = r.json()["error"]["message"]
        assert "command actions belong in the server's own configuration" in message
        assert "--actions-file" in message and "'pwn'" in message
    shown = httpx.get(f"{srv.url}/v1/alerting").json()
    assert shown["actions"] == [] and "pwn" not in shown["spec_yaml"]
    assert httpx.get(f"{srv.url}/v1/alerting/actions").json() == []
    # the CLI that calls it says the same and fails
    cfg = tmp_path / "rce.yaml"
    cfg.write_text(RCE)
    done = subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", "alerting", "apply", str(cfg)]
        + ["--url", srv.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done
    assert "--actions-file" in done.stderr


# -- 2. ${NAME}: MLWARDEN_* and the operator's names only ----------------------------------
@pytest.mark.parametrize(
    ("entry", "name"),
    [
        ("{kind: webhook, name: a, url: 'http://127.0.0.1:9/${HOME}'}", "HOME"),
        (
            "{kind: webhook, name: a, url: 'http://127.0.0.1:9/x', headers: {X-A: '${PATH}'}}",
            "PATH",
        ),
        (
            "{kind: webhook, name: a, url: 'http://h.example/x', secret: '${MLW_TEST_PLANTED}'}",
            "MLW_TEST_PLANTED",
        ),
        ("{kind: apprise, name: a, urls: ['json://127.0.0.1:9/${HOME}']}", "HOME"),
    ],
)
def test_references_to_other_variables_are_refused(
    servers: dict[str, ServerProcess], entry: str, name: str
) -> None:
    for srv in servers.values():
        r = _put(srv, f"channels:\n  - {entry}\n")
        assert r.status_code == 400, r.text
        message = r.json()["error"]["message"]
        assert f"environment variable {name!r}" in message
        assert f"--alerting-env {name}" in message
        assert ENV["MLW_TEST_PLANTED"] not in message and os.environ["HOME"] not in message
    # a webhook action is checked the same way
    action = "actions:\n  - {name: a, 'on': {kinds: [drift]}, webhook: 'https://h.example/${HOME}'}"
    assert _put(servers["strict"], action).status_code == 400


def test_mlwarden_and_allowed_variables_are_expanded(
    servers: dict[str, ServerProcess], receiver: Receiver
) -> None:
    srv = servers["allowing"]
    config = (
        "channels:\n"
        f"  - {{kind: webhook, name: ops, url: 'http://127.0.0.1:{receiver.port}/"
        "${MLW_TEST_EXTRA}', headers: {X-Token: '${MLWARDEN_TEST_TOKEN}'}}\n"
    )
    r = _put(srv, config)
    assert r.status_code == 200, r.text
    before = receiver.count
    got = _ping(srv).json()
    assert got["ok"], got
    assert receiver.count == before + 1
    req = receiver.requests[-1]
    assert req.path == "/extra-path"
    assert req.headers["X-Token"] == "mlwarden-token-value"
    # the stored config keeps the references
    assert "${MLWARDEN_TEST_TOKEN}" in httpx.get(f"{srv.url}/v1/alerting").json()["spec_yaml"]
    # the strict server does not expose MLW_TEST_EXTRA
    assert "--alerting-env MLW_TEST_EXTRA" in _put(servers["strict"], config).text


# -- 3. destinations: public only unless allowed ---------------------------------------------
def test_internal_destinations_are_refused_without_a_connection(
    servers: dict[str, ServerProcess], receiver: Receiver
) -> None:
    srv = servers["strict"]
    urls = {
        "loopback": receiver.url("/x"),
        "metadata": "http://169.254.169.254/latest/meta-data/",
        "private": "http://10.0.0.1/x",
        "localhost": f"http://localhost:{receiver.port}/x",
        "v6-loopback": f"http://[::1]:{receiver.port}/x",
        "mapped": f"http://[::ffff:127.0.0.1]:{receiver.port}/x",
    }
    channels = "".join(
        f"  - {{kind: webhook, name: {n}, url: '{u}', retries: 0}}\n" for n, u in urls.items()
    )
    channels += (
        f"  - {{kind: apprise, name: apprise, urls: ['json://127.0.0.1:{receiver.port}/x']}}\n"
    )
    assert _put(srv, "channels:\n" + channels).status_code == 200
    before = receiver.count
    got = _ping(srv).json()
    assert not got["ok"]
    assert {d["channel"] for d in got["deliveries"]} == {*urls, "apprise"}
    for d in got["deliveries"]:
        assert (d["status"], d["attempts"], d["http_status"]) == ("failed", 0, None), d
        assert "refused by the server's destination policy" in d["error"], d
        assert "--alerting-allow-host" in d["error"], d
    assert receiver.count == before  # nothing reached the receiver


def test_an_allowed_host_is_reached_with_its_host_header(
    servers: dict[str, ServerProcess], receiver: Receiver
) -> None:
    srv = servers["allowing"]
    channels = (
        "channels:\n"
        f"  - {{kind: webhook, name: ip, url: '{receiver.url('/ip')}'}}\n"
        f"  - {{kind: webhook, name: name, url: 'http://localhost:{receiver.port}/name'}}\n"
        f"  - {{kind: apprise, name: app, urls: ['json://127.0.0.1:{receiver.port}/app']}}\n"
    )
    assert _put(srv, channels).status_code == 200
    got = _ping(srv).json()
    assert got["ok"], got
    assert {d["http_status"] for d in got["deliveries"] if d["channel"] != "app"} == {200}
    by_path = {q.path: q for q in receiver.requests}
    # the connection went to the checked address; the request still names the host
    assert by_path["/name"].headers["Host"] == f"localhost:{receiver.port}"
    assert by_path["/ip"].headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert "/app" in by_path


def test_answers_bodies_and_connection_details_are_never_shown(
    servers: dict[str, ServerProcess],
) -> None:
    srv = servers["allowing"]
    closed = free_port()
    with http_receiver(default=500, answer=BODY) as failing:
        channels = (
            "channels:\n"
            f"  - {{kind: webhook, name: five, url: '{failing.url()}', retries: 0}}\n"
            f"  - {{kind: apprise, name: app, urls: ['json://127.0.0.1:{failing.port}/a'], "
            "retries: 0}\n"
            f"  - {{kind: webhook, name: closed, url: 'http://127.0.0.1:{closed}/x', retries: 0}}\n"
        )
        assert _put(srv, channels).status_code == 200
        reply = _ping(srv)
        assert failing.count == 2
    got = {d["channel"]: d for d in reply.json()["deliveries"]}
    assert BODY not in reply.text
    # the status code of a reachable, allowed destination is kept: users need it
    assert (got["five"]["status"], got["five"]["http_status"]) == ("failed", 500)
    assert got["five"]["error"] == f"HTTP 500 from http://127.0.0.1:{failing.port}/..."
    assert got["app"]["status"] == "failed"
    # a closed port says "no answer", not how the connection failed
    assert (
        got["closed"]["error"]
        == f"Not delivered: no answer from 127.0.0.1:{closed} (no connection, or timed out)."
    )
    assert "ConnectError" not in reply.text and "refused" not in reply.text
    # (pings are not logged; test_alerting_server checks the deliveries log of real incidents)


# -- start-up: the operator's configuration is checked ----------------------------------------
def test_bad_operator_configuration_stops_the_server_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "actions.yaml"
    bad.write_text(
        "projects:\n  default:\n    - {name: ok, 'on': {kinds: [drift]}, command: ['true']}\n"
        "    - {name: broken, 'on': {kinds: [drift]}, command: 'rm -rf /'}\n"
    )
    cases = [
        (["--actions-file", str(bad)], [str(bad), "project 'default', entry #2", "'command'"]),
        (["--alerting-allow-host", "not a host!"], ["alerting-allow-host", "'not a host!'"]),
        (["--alerting-env", "A-B"], ["alerting-env", "'A-B'"]),
    ]
    for flags, words in cases:
        done = subprocess.run(
            [sys.executable, "-m", "mlwarden.cli.main", "serve", "--port", str(free_port())]
            + ["--data-dir", str(tmp_path / "data"), *flags],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0, done
        said = " ".join(done.stderr.split())  # the console wraps long lines
        for w in words:
            assert w in said, (w, said)
