"""The real server over HTTP: access log, rate limits (429 + Retry-After), audit log, security
events as JSON lines and to syslog (a UDP receiver on loopback)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from serverproc import ServerProcess

SPEC = {
    "name": "churn",
    "task": "binary",
    "classes": ["0", "1"],
    "features": [{"name": "x", "kind": "numeric"}],
    "prediction": "prediction",
}
WEBHOOK = "channels:\n  - {kind: webhook, name: ops, url: 'http://127.0.0.1:9/hook'}\n"


@pytest.fixture
def syslog() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    yield sock
    sock.close()


@pytest.fixture
def guarded(tmp_path: Path, syslog: socket.socket) -> Iterator[ServerProcess]:
    """A server whose admin and ingest routes allow two requests each, then one each five
    seconds."""
    port = syslog.getsockname()[1]
    srv = ServerProcess(
        tmp_path / "data",
        "--rate-limit-admin",
        "0.2",
        "--rate-limit-ingest",
        "0.2",
        "--rate-limit-burst-s",
        "10",
        "--syslog-address",
        f"127.0.0.1:{port}",
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_access_audit_rate_limit_and_events(
    guarded: ServerProcess, syslog: socket.socket, tmp_path: Path
) -> None:
    with httpx.Client(base_url=guarded.url, headers={"user-agent": "secmon-test/1"}) as http:
        r = http.post("/v1/models", json=SPEC)
        assert r.status_code == 201, r.text
        r = http.put("/v1/alerting", content=WEBHOOK, headers={"content-type": "application/yaml"})
        assert r.status_code == 200, r.text
        # the admin bucket is empty now: within a few requests one is refused
        for _ in range(10):
            r = http.post("/v1/models", json=SPEC)
            if r.status_code == 429:
                break
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) >= 1
        err = r.json()["error"]
        assert err["type"] == "RateLimitError" and "admin" in err["message"]
        # reads have their own bucket
        assert http.get("/v1/models/churn").status_code == 200
        # and so has ingest (a model's events), which the admin requests did not use up
        codes = [http.post("/v1/models/churn/events", json=[]).status_code for _ in range(2)]
        assert 429 not in codes, codes
        for _ in range(10):
            r = http.post("/v1/models/churn/events", json=[])
            if r.status_code == 429:
                break
        assert r.status_code == 429 and "ingest" in r.json()["error"]["message"], r.text
        # a key nobody has: 401, logged with its id
        bad = http.get("/v1/models", headers={"authorization": "Bearer mlw_deadbeef_nope"})
        assert bad.status_code == 401

        rows = http.get("/v1/security/access", params={"route": "/v1/models/{model}"}).json()
        assert len(rows) == 1
        row = rows[0]
        assert row["method"] == "GET" and row["status"] == 200 and row["client"] == "127.0.0.1"
        assert row["user_agent"] == "secmon-test/1" and row["response_bytes"] > 0
        assert row["duration_ms"] >= 0
        posts = http.get("/v1/security/access", params={"route": "/v1/models"}).json()
        assert {p["status"] for p in posts} >= {201, 429, 401}
        first = [p for p in posts if p["status"] == 201][0]
        assert first["request_bytes"] == len(orjson.dumps(SPEC))
        limited = http.get("/v1/security/access", params={"status": 429}).json()
        assert {x["route"] for x in limited} == {"/v1/models", "/v1/models/{model}/events"}
        (failed,) = http.get("/v1/security/access", params={"key": "deadbeef"}).json()
        assert failed["status"] == 401
        # a time range: up to the failed request's own instant excludes it, from it includes it
        until = {"key": "deadbeef", "until": failed["at"]}
        assert http.get("/v1/security/access", params=until).json() == []
        since = {"key": "deadbeef", "since": failed["at"]}
        assert len(http.get("/v1/security/access", params=since).json()) == 1
        naive = {"key": "deadbeef", "since": failed["at"][:19]}  # no zone: UTC
        assert len(http.get("/v1/security/access", params=naive).json()) == 1

        audit = http.get("/v1/security/audit").json()
        actions = [a["action"] for a in audit]
        assert actions == ["alerting.update", "model.register"], actions
        change = audit[0]
        assert (
            change["before"]["channels"] == [] and change["after"]["channels"][0]["name"] == "ops"
        )
        assert audit[1]["before"] is None and audit[1]["after"]["name"] == "churn"
        assert audit[0]["client"] == "127.0.0.1"

        r = http.get("/v1/security/events.jsonl")
        assert r.headers["content-type"].startswith("application/x-ndjson")
        events = [orjson.loads(line) for line in r.content.splitlines()]
        types = {e["type"] for e in events}
        assert {"auth_failure", "rate_limited", "admin_change"} <= types, types
        assert any(e.get("key_id") == "deadbeef" for e in events if e["type"] == "auth_failure")

        # the UI page lists them too, and its filters narrow the access log
        page = http.get("/ui/security", params={"status": 401})
        assert page.status_code == 200
        assert "deadbeef" in page.text and "alerting.update" in page.text
        assert (
            "/v1/models/{model}"
            not in page.text.split("Administrative changes")[0].split("Access log")[1]
        )

    # the same events reached syslog (order of arrival is not promised)
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    while not {"auth_failure", "admin_change"} <= seen and time.monotonic() < deadline:
        data = syslog.recv(65536).decode().rstrip("\x00")
        assert data.startswith("<") and "mlwarden: " in data
        seen.add(orjson.loads(data[data.index("{") :])["type"])
    assert {"auth_failure", "admin_change"} <= seen

    # durable: after a restart the log is still there
    guarded.stop()
    again = ServerProcess(guarded.data_dir).start()
    try:
        rows = httpx.get(f"{again.url}/v1/security/access", params={"key": "deadbeef"}).json()
        assert [r["status"] for r in rows] == [401]
    finally:
        again.stop()


def test_default_limits_do_not_throttle_a_busy_client(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as http:
        codes = {http.get("/v1/health").status_code for _ in range(300)}
    assert codes == {200}
