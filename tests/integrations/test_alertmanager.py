"""The Alertmanager channel against Debian's real ``prometheus-alertmanager``: an incident
opened by the real server appears in Alertmanager with its labels and annotations, reaches
Alertmanager's own webhook receiver as firing, and is resolved there when it is resolved in
mlwarden."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from incidents.localservers import LOCAL, Receiver, http_receiver, note
from integrations.binaries import alertmanager, wait_for
from integrations.seeded import MODEL, seed
from mlwarden.errors import ConfigError
from mlwarden.incidents.channels import AlertmanagerChannel, Channel, DeliveryStatus
from mlwarden.incidents.channels.policy import AlertingPolicy
from mlwarden.incidents.record import IncidentEvent
from serverproc import ServerProcess

PUBLIC = "http://mlwarden.example:8000"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with http_receiver() as rec:
        yield rec


@pytest.fixture(scope="module")
def am(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[str]:
    config = f"""
route:
  receiver: hook
  group_by: [alertname, incident]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {receiver.url("/am")}
        send_resolved: true
"""
    with alertmanager(tmp_path_factory.mktemp("alertmanager"), config) as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("mlwarden") / "data",
        "--evaluate-every",
        "0",
        "--public-url",
        PUBLIC,
        "--alerting-allow-host",
        "127.0.0.1",
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


def _alerts(am: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{am}/api/v2/alerts", params={"filter": f'model="{MODEL}"'}, timeout=5)
    r.raise_for_status()
    out: list[dict[str, Any]] = r.json()
    return out


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _hooks(receiver: Receiver, status: str) -> list[dict[str, Any]]:
    docs = [json.loads(q.body) for q in receiver.requests if q.path == "/am"]
    return [a for d in docs for a in d["alerts"] if a["status"] == status]


def test_an_incident_is_an_alert_until_it_is_resolved(
    server: ServerProcess, am: str, receiver: Receiver
) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as http:
        _incident_round_trip(http, am, receiver)


def _incident_round_trip(http: httpx.Client, am: str, receiver: Receiver) -> None:
    channels = f"""
channels:
  - kind: alertmanager
    name: am
    url: {am}
    labels: {{team: ml}}
"""
    r = http.put("/v1/alerting", content=channels, headers={"content-type": "application/yaml"})
    assert r.status_code == 200, r.text
    incident = seed(http)
    assert incident["kind"] == "errors" and incident["severity"] == "high"

    [alert] = wait_for("the incident in Alertmanager", lambda: _alerts(am))
    assert alert["labels"] == {
        "alertname": "MlwardenIncident",
        "project": "default",
        "model": MODEL,
        "severity": "high",
        "kind": "errors",
        "incident": str(incident["id"]),
        "team": "ml",
    }
    assert alert["status"]["state"] == "active"
    url = f"{PUBLIC}/ui/incidents/{incident['id']}"
    assert alert["annotations"]["url"] == url
    assert alert["generatorURL"] == url
    assert incident["title"] in alert["annotations"]["title"]
    assert "100 errors in 200 events" in alert["annotations"]["summary"]
    # startsAt is when the incident opened; endsAt is far ahead (no resolve_timeout expiry)
    assert alert["startsAt"][:19] == incident["opened_at"][:19]
    held = _at(alert["endsAt"]) - _at(alert["startsAt"])
    assert timedelta(days=29) < held < timedelta(days=31)
    # Alertmanager routed it to its receiver as firing
    [fired] = wait_for("the firing notification", lambda: _hooks(receiver, "firing"))
    assert fired["labels"]["incident"] == str(incident["id"])

    r = http.post(f"/v1/incidents/{incident['id']}/resolve", json={"note": "fixed"})
    assert r.status_code == 200, r.text
    wait_for("the alert to leave Alertmanager", lambda: _alerts(am) == [])
    [done] = wait_for("the resolved notification", lambda: _hooks(receiver, "resolved"))
    assert done["labels"] == alert["labels"]
    assert done["endsAt"] < alert["endsAt"]
    deliveries = http.get("/v1/alerting/deliveries").json()
    assert {(d["event"], d["status"], d["code"]) for d in deliveries} == {
        ("opened", "delivered", 200),
        ("resolved", "delivered", 200),
    }


def test_a_ping_reaches_alertmanager_and_expires_on_its_own(server: ServerProcess, am: str) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        r = http.post("/v1/alerting/ping", json={})
    assert r.status_code == 200 and r.json()["ok"], r.text
    found = wait_for(
        "the ping alert",
        lambda: httpx.get(
            f"{am}/api/v2/alerts", params={"filter": 'alertname="MlwardenPing"'}
        ).json(),
    )
    assert found[0]["labels"]["project"] == "default"
    assert found[0]["endsAt"] > found[0]["startsAt"]


def test_an_escalation_leaves_no_alert_of_the_old_severity(am: str) -> None:
    ch = AlertmanagerChannel("am", url=am, retries=0)
    # the channel sent directly, as the notifier does; the incident's model is another one
    first = {"monitor": "missing_values:x", "kind": "missing_values", "severity": "medium"}
    joined = {"monitor": "error_rate", "kind": "error_rate", "severity": "high"}
    opened = note(
        IncidentEvent.OPENED, severity="medium", model="escalating", id=41, members=(first,)
    )
    assert ch.send(opened, policy=LOCAL).status is DeliveryStatus.DELIVERED

    def severities() -> list[str]:
        got = httpx.get(f"{am}/api/v2/alerts", params={"filter": 'model="escalating"'}).json()
        return sorted(a["labels"]["severity"] for a in got)

    wait_for("the medium alert", lambda: severities() == ["medium"])
    escalated = note(
        IncidentEvent.ESCALATED,
        severity="high",
        model="escalating",
        id=41,
        members=(first, joined),
    )
    assert ch.send(escalated, policy=LOCAL).status is DeliveryStatus.DELIVERED
    wait_for("only the high alert", lambda: severities() == ["high"])


def test_a_private_alertmanager_needs_the_operators_allowance(am: str) -> None:
    ch = AlertmanagerChannel("am", url=am, retries=0)
    refused = ch.send(note(), policy=AlertingPolicy())
    assert refused.status is DeliveryStatus.FAILED and refused.attempts == 0
    assert "--alerting-allow-host" in refused.error


@pytest.mark.parametrize(
    ("conf", "words"),
    [
        ({"url": "alertmanager:9093"}, "'url' parameter of alertmanager channel 'am' must be"),
        ({"url": "http://am:9093", "labels": {"severity": "x"}}, "other than alertname"),
        ({"url": "http://am:9093", "labels": {"bad-name": "x"}}, "Got {'bad-name': 'x'}"),
        ({"url": "http://am:9093", "labels": {"team": 1}}, "'labels' parameter"),
        ({"url": "http://am:9093", "expires_after_s": 0}, "'expires_after_s' parameter"),
        ({"url": "http://am:9093", "headers": {"Host": "x"}}, "not set Content-Type or Host"),
        ({"url": "http://am:9093", "alertname": " "}, "'alertname' parameter"),
    ],
)
def test_bad_alertmanager_channels_are_refused_naming_the_parameter(
    conf: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Channel.from_dict({"kind": "alertmanager", "name": "am", **conf})
    assert words in str(info.value)


def test_the_url_may_come_from_the_environment(am: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLWARDEN_TEST_AM_URL", am)
    ch = AlertmanagerChannel("am", url="${MLWARDEN_TEST_AM_URL}", retries=0)
    ch.validate()
    delivered = ch.send(note(model="from-env", id=77), policy=LOCAL)
    assert delivered.status is DeliveryStatus.DELIVERED, delivered.error
    assert ch.to_dict()["url"] == "${MLWARDEN_TEST_AM_URL}"
