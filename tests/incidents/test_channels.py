"""Channels against real local receivers: webhook (HTTP server), apprise (SMTP server, json://);
routing, configuration, rendering."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlwarden.errors import ConfigError
from mlwarden.incidents.actions import Action
from mlwarden.incidents.alerting import AlertingConfig
from mlwarden.incidents.channels import (
    CHANNELS,
    AppriseChannel,
    Channel,
    DeliveryStatus,
    WebhookChannel,
    render_markdown,
    render_text,
    sign,
    title_line,
    verify_signature,
)
from mlwarden.incidents.channels.policy import AlertingPolicy
from mlwarden.incidents.record import IncidentEvent, Notification
from mlwarden.incidents.server_actions import load_server_actions

from .localservers import LOCAL, http_receiver, note, smtp_server

FAST = {"backoff_s": 0.01, "max_backoff_s": 0.05}


# -- webhook ---------------------------------------------------------------------------------
def test_webhook_posts_signed_json_that_verifies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLWARDEN_TEST_SECRET", "whsec-123")
    n = note()
    with http_receiver() as rec:
        ch = WebhookChannel("ops", url=rec.url(), secret="${MLWARDEN_TEST_SECRET}", **FAST)
        d = ch.send(n, policy=LOCAL)
    assert d.status is DeliveryStatus.DELIVERED, d.error
    assert (d.attempts, d.http_status, d.key, d.channel, d.kind) == (
        1,
        200,
        n.key,
        "ops",
        "webhook",
    )
    assert d.started_at <= d.finished_at and d.finished_at.tzinfo is not None
    (req,) = rec.requests
    h = {k.lower(): v for k, v in req.headers.items()}
    assert h["content-type"] == "application/json"
    assert h["x-mlwarden-event"] == "opened"
    assert h["x-mlwarden-delivery"] == n.key
    assert verify_signature(
        "whsec-123", req.body, h["x-mlwarden-timestamp"], h["x-mlwarden-signature"]
    )
    assert not verify_signature(
        "other", req.body, h["x-mlwarden-timestamp"], h["x-mlwarden-signature"]
    )
    assert not verify_signature(
        "whsec-123", req.body + b" ", h["x-mlwarden-timestamp"], h["x-mlwarden-signature"]
    )
    doc = json.loads(req.body)
    assert doc["event"] == "opened" and doc["severity"] == "high" and doc["url"] == n.url
    assert doc["title"] == "[high] credit_risk: Inputs drifted: credit_score"
    assert doc["id"] == 12 and doc["causes"]["features"][0]["name"] == "credit_score"
    assert "Retrain on the last 30 days" in doc["text"] and n.url in doc["text"]
    assert doc["key"] == n.key
    # the secret stays a reference in the configuration
    assert ch.to_dict()["secret"] == "${MLWARDEN_TEST_SECRET}" and "whsec" not in repr(ch)


def test_webhook_without_secret_sends_no_signature() -> None:
    with http_receiver() as rec:
        d = WebhookChannel("ops", url=rec.url(), **FAST).send(note(), policy=LOCAL)
    assert d.status is DeliveryStatus.DELIVERED
    assert not any(k.lower().startswith("x-mlwarden-sig") for k in rec.requests[0].headers)


def test_verify_signature_refuses_stale_and_garbage() -> None:
    body = b'{"a":1}'
    sig = sign("k", body, 1_000)
    assert verify_signature("k", body, 1_000, sig, now=1_100)
    assert verify_signature("k", body.decode(), "1000", sig, now=1_100)
    assert not verify_signature("k", body, 1_000, sig, now=1_000 + 301)
    assert verify_signature("k", body, 1_000, sig, tolerance_s=0, now=99_999)
    assert not verify_signature("k", body, "not-a-number", sig, now=1_000)
    assert not verify_signature("k", body, 1_000, "sha256=ünïcode", now=1_000)
    assert not verify_signature("k", body, 1_000, "", now=1_000)


def test_webhook_500_twice_then_200_takes_three_attempts() -> None:
    with http_receiver(500, 502) as rec:
        d = WebhookChannel("ops", url=rec.url(), retries=3, **FAST).send(note(), policy=LOCAL)
    assert rec.count == 3
    assert (d.status, d.attempts, d.http_status, d.error) == (DeliveryStatus.DELIVERED, 3, 200, "")
    # every attempt carries the same delivery id, so a receiver can drop duplicates
    assert len({r.headers["X-Mlwarden-Delivery"] for r in rec.requests}) == 1


def test_webhook_404_is_not_retried() -> None:
    with http_receiver(404) as rec:
        d = WebhookChannel("ops", url=rec.url("/wrong"), retries=3, **FAST).send(
            note(), policy=LOCAL
        )
    assert rec.count == 1
    assert (d.status, d.attempts, d.http_status) == (DeliveryStatus.FAILED, 1, 404)
    assert d.error == f"HTTP 404 from http://127.0.0.1:{rec.port}/..."  # never the answer's body


def test_webhook_gives_up_after_retries_on_5xx() -> None:
    with http_receiver(default=503) as rec:
        d = WebhookChannel("ops", url=rec.url(), retries=2, **FAST).send(note(), policy=LOCAL)
    assert rec.count == 3 and d.attempts == 3 and d.status is DeliveryStatus.FAILED
    assert d.error.endswith("(after 3 attempts)") and "HTTP 503" in d.error


def test_webhook_connection_refused_is_retried_then_fails_clearly() -> None:
    with http_receiver() as rec:
        url = rec.url()
    # the receiver is gone: nothing listens on its port any more
    d = WebhookChannel("ops", url=url, retries=2, **FAST).send(note(), policy=LOCAL)
    assert (d.status, d.attempts, d.http_status) == (DeliveryStatus.FAILED, 3, None)
    assert d.error.startswith(f"Not delivered: no answer from 127.0.0.1:{rec.port} ")
    assert d.error.endswith("(after 3 attempts)")


def test_webhook_honours_retry_after() -> None:
    with http_receiver((429, {"Retry-After": "1"})) as rec:
        d = WebhookChannel("ops", url=rec.url(), backoff_s=0.01, max_backoff_s=5).send(
            note(), policy=LOCAL
        )
    assert d.status is DeliveryStatus.DELIVERED and d.attempts == 2
    assert rec.requests[1].at - rec.requests[0].at >= 0.95


def test_webhook_retry_after_is_bounded_by_max_backoff() -> None:
    with http_receiver((503, {"Retry-After": "3600"})) as rec:
        d = WebhookChannel("ops", url=rec.url(), backoff_s=0.01, max_backoff_s=0.2).send(
            note(), policy=LOCAL
        )
    assert d.status is DeliveryStatus.DELIVERED and d.attempts == 2
    assert rec.requests[1].at - rec.requests[0].at < 60  # not the hour it asked for


def test_webhook_missing_env_var_fails_the_delivery_not_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MLWARDEN_TEST_UNSET", raising=False)
    with http_receiver() as rec:
        d = WebhookChannel("ops", url=rec.url(), secret="${MLWARDEN_TEST_UNSET}").send(
            note(), policy=LOCAL
        )
    assert rec.count == 0
    assert (d.status, d.attempts) == (DeliveryStatus.FAILED, 0)
    assert d.error == (
        "The environment variable 'MLWARDEN_TEST_UNSET' used by the 'secret' parameter of "
        "webhook channel 'ops' is not set."
    )


def test_webhook_custom_headers_expand_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLW_TEST_TOKEN", "t0k")
    with http_receiver() as rec:
        ch = WebhookChannel(
            "ops", url=rec.url(), headers={"Authorization": "Bearer ${MLW_TEST_TOKEN}"}
        )
        # a name without the MLWARDEN_ prefix needs the operator's allow (--alerting-env)
        refused = ch.send(note(), policy=LOCAL)
        allowed = replace(LOCAL, env=("MLW_TEST_TOKEN",))
        assert ch.send(note(), policy=allowed).status is DeliveryStatus.DELIVERED
    assert refused.status is DeliveryStatus.FAILED and refused.attempts == 0
    assert "--alerting-env MLW_TEST_TOKEN" in refused.error and "t0k" not in refused.error
    assert rec.count == 1 and rec.requests[0].headers["Authorization"] == "Bearer t0k"


# -- apprise ---------------------------------------------------------------------------------
def test_apprise_email_through_local_smtp() -> None:
    n = note()
    with smtp_server() as (port, messages):
        url = (
            f"mailto://mlwarden@127.0.0.1:{port}?to=ml-team@example.com"
            "&from=mlwarden@example.com&mode=insecure"
        )
        d = AppriseChannel("team", urls=[url], retries=0).send(n, policy=LOCAL)
    assert d.status is DeliveryStatus.DELIVERED, d.error
    (msg,) = messages
    assert msg["Subject"] == title_line(n) == "[high] credit_risk: Inputs drifted: credit_score"
    assert msg["To"] == "ml-team@example.com"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    for part in (text.get_content(), html.get_content()):
        assert "credit_score" in part  # the top cause
        assert "Retrain on the last 30 days" in part  # the recommendation
        assert n.url in part  # the link
    assert f'href="{n.url}"' in html.get_content()


def test_apprise_json_to_local_receiver() -> None:
    n = note(IncidentEvent.RESOLVED)
    with http_receiver() as rec:
        d = AppriseChannel("hook", urls=[f"json://127.0.0.1:{rec.port}/apprise"]).send(
            n, policy=LOCAL
        )
    assert d.status is DeliveryStatus.DELIVERED, d.error
    (req,) = rec.requests
    doc = json.loads(req.body)
    assert req.path == "/apprise"
    assert doc["title"] == "[high] credit_risk: Inputs drifted: credit_score (resolved)"
    assert doc["type"] == "success"
    assert n.url in doc["message"] and "`credit_score`" in doc["message"]


def test_apprise_failure_is_a_failed_delivery_with_the_reason() -> None:
    with http_receiver() as rec:
        url = f"json://127.0.0.1:{rec.port}/gone"
    d = AppriseChannel("hook", urls=[url], retries=1, backoff_s=0.01).send(note(), policy=LOCAL)
    assert d.status is DeliveryStatus.FAILED and d.attempts == 2
    assert d.error.startswith("apprise: failure for JSON (json://127.0.0.1")
    assert "Connection error" not in d.error  # apprise's words go to the server log only


def test_apprise_missing_env_var_is_a_failed_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLWARDEN_TEST_SLACK", raising=False)
    d = AppriseChannel("slack", urls=["slack://${MLWARDEN_TEST_SLACK}"]).send(note(), policy=LOCAL)
    assert d.status is DeliveryStatus.FAILED and "'MLWARDEN_TEST_SLACK'" in d.error


# -- routing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("routing", "changes", "accepted"),
    [
        ({}, {}, True),
        ({"min_severity": "high"}, {"severity": "high"}, True),
        ({"min_severity": "high"}, {"severity": "medium"}, False),
        ({"min_severity": "critical"}, {"severity": "high"}, False),
        ({"min_severity": "critical"}, {"severity": "unheard-of"}, True),
        ({"events": ["opened", "resolved"]}, {"event": IncidentEvent.RESOLVED}, True),
        ({"events": ["opened"]}, {"event": IncidentEvent.ACKNOWLEDGED}, False),
        ({"objectives": ["approval_accuracy", "x"]}, {}, True),
        ({"objectives": ["latency_slo"]}, {}, False),
        ({"objectives": ["latency_slo"]}, {"objectives": ()}, False),
        ({"objectives": [], "events": None}, {}, False),
    ],
)
def test_routing(routing: dict[str, object], changes: dict[str, object], accepted: bool) -> None:
    ch = Channel.from_dict(
        {"kind": "webhook", "name": "r", "url": "https://h.example/x", **routing}
    )
    assert ch.accepts(replace(note(), **changes)) is accepted


# -- configuration ---------------------------------------------------------------------------
def test_registry_lists_every_kind_and_round_trips() -> None:
    assert CHANNELS.keys() == ["alertmanager", "apprise", "webhook"]
    for conf in (
        {
            "kind": "webhook",
            "name": "ops",
            "url": "https://hooks.example.com/mlw",
            "secret": "${MLWARDEN_WEBHOOK_SECRET}",
            "events": ["opened", "escalated"],
        },
        {"kind": "apprise", "name": "team", "urls": ["slack://T1/B2/C3"], "min_severity": "high"},
        {"kind": "alertmanager", "name": "am", "url": "http://am:9093", "labels": {"team": "ml"}},
    ):
        ch = Channel.from_dict(conf)
        out = ch.to_dict()
        assert {k: out[k] for k in conf} == conf
        assert Channel.from_dict(out) == ch


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        (
            {"kind": "webhook", "name": "ops", "url": "https://h.example", "retry": 3},
            "The webhook channel 'ops' has no parameter 'retry'; its parameters are backoff_s, "
            "events, headers, max_backoff_s, min_severity, name, objectives, retries, secret, "
            "timeout_s, url.",
        ),
        (
            {"kind": "webhook", "name": "ops", "url": "hooks.example.com/x"},
            "The 'url' parameter of webhook channel 'ops' must be an http:// or https:// URL "
            "with a host. Got 'hooks.example.com/x' instead.",
        ),
        (
            {
                "kind": "webhook",
                "name": "ops",
                "url": "https://h.example",
                "min_severity": "urgent",
            },
            "The 'min_severity' parameter of webhook channel 'ops' must be one of low, medium, "
            "high, critical. Got 'urgent' instead.",
        ),
        (
            {"kind": "webhook", "name": "ops", "url": "https://h.example", "events": ["closed"]},
            "The 'events' parameter of webhook channel 'ops' must be a list of values among "
            "opened, escalated, acknowledged, resolved, reopened. Got ['closed'] instead.",
        ),
        (
            {"kind": "webhook", "name": "ops", "url": "https://h.example", "retries": True},
            "The 'retries' parameter of webhook channel 'ops' must be an integer >= 0. "
            "Got True instead.",
        ),
        (
            {"kind": "webhook", "name": "ops"},
            "The webhook channel 'ops' needs the 'url' parameter.",
        ),
        (
            {"kind": "sms", "name": "ops"},
            "The 'channel' kind must be one of alertmanager, apprise, webhook. Got 'sms' instead.",
        ),
        (
            {"name": "ops", "url": "https://h.example"},
            "The 'kind' parameter of channel 'ops' must be one of alertmanager, apprise, webhook. "
            "Got None instead.",
        ),
        (
            {"kind": "webhook", "name": "on call", "url": "https://h.example"},
            "The 'name' parameter of webhook channel must be a name of letters, digits, '_', '.' "
            "or '-' (at most 64). Got 'on call' instead.",
        ),
        (
            {"kind": "apprise", "name": "team", "urls": "slack://T1/B2/C3"},
            "The 'urls' parameter of apprise channel 'team' must be a list of apprise URLs "
            "(scheme://...). Got 'slack://T1/B2/C3' instead.",
        ),
        (
            {"kind": "apprise", "name": "team", "urls": ["nosuchservice://x"]},
            "The 'urls' parameter of apprise channel 'team' must be a list of URLs apprise "
            "supports. Got 'nosuchservice://x' instead.",
        ),
    ],
)
def test_bad_configuration_is_refused_clearly(conf: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        Channel.from_dict(conf)
    assert str(err.value) == message


# -- rendering -------------------------------------------------------------------------------
def test_rendering_names_the_top_causes_recommendation_objectives_and_link() -> None:
    n = note()
    text = render_text(n)
    assert text.splitlines()[0] == (
        "Incident #12 of model credit_risk (project default) was opened; severity high."
    )
    assert "1. Feature credit_score: drift 3.41x its threshold, importance 0.42" in text
    assert "2. Slice region = north: 18% of rows" in text
    assert "3. Data quality missing_values:income: 12% nulls (ref 1%)" in text
    assert "income: drift 0.8" not in text  # ranked but not alerting: not a cause
    assert "Recommended: Retrain on the last 30 days\nWhy: credit_score moved" in text
    assert "Objectives at risk: approval_accuracy (at risk)" in text
    assert text.endswith(f"Open: {n.url}")
    md = render_markdown(n)
    assert "1. Feature `credit_score`: drift 3.41x its threshold" in md
    assert "Objectives at risk:** approval\\_accuracy (at risk)" in md
    assert md.endswith(f"Open: <{n.url}>")


def test_rendering_is_robust_to_missing_parts() -> None:
    bare = Notification(3, "", "m", IncidentEvent.ESCALATED, "low", "Something", "", "")
    assert render_text(bare) == "Incident #3 of model m was escalated; severity low."
    assert title_line(bare) == "[low] m: Something (escalated)"
    odd = replace(
        note(),
        url="",
        payload={"causes": {"features": [None, {"name": "x"}], "slices": "?", "quality": [{}]}},
    )
    text = render_text(odd)
    assert "1. Feature x" in text and "Open:" not in text and "Recommended" not in text
    assert render_markdown(replace(odd, payload={"causes": None, "recommendations": [{}]}))


# -- docs/alerts.md --------------------------------------------------------------------------
DOC = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


def doc_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_doc_configuration_is_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    channels_yaml, actions_yaml, server_yaml, pipelines_yaml = doc_blocks("yaml")
    channels = [Channel.from_dict(c) for c in yaml.safe_load(channels_yaml)["channels"]]
    actions = [Action.from_dict(a) for a in yaml.safe_load(actions_yaml)["actions"]]
    assert [c.name for c in channels] == ["ops", "ml-team", "pager"]
    assert [(a.dry_run, a.command) for a in actions] == [(False, None)]  # no command via the API
    # the two blocks together are one alerting config, as `mlwarden alerting apply` takes it
    config = AlertingConfig.from_yaml(channels_yaml + actions_yaml)
    assert (config.channels, config.actions) == (tuple(channels), tuple(actions))
    # the pipeline actions are valid as written, one of each kind
    pipelines = [Action.from_dict(a) for a in yaml.safe_load(pipelines_yaml)["actions"]]
    assert [a.pipeline["kind"] for a in pipelines if a.pipeline] == [
        "airflow",
        "argo",
        "github",
        "kubeflow",
    ]
    # the operator's actions file is one the server starts with
    (tmp_path / "actions.yaml").write_text(server_yaml)
    server = load_server_actions(tmp_path / "actions.yaml")
    assert [(a.name, a.dry_run, bool(a.command)) for a in server["default"]] == [
        ("snapshot-inputs", True, True)
    ]
    # the apprise URLs are ones apprise takes, once their variables are set
    fake = {
        "SLACK_TOKEN_A": "T1234ABCD",
        "SLACK_TOKEN_B": "B1234ABCD",
        "SLACK_TOKEN_C": "abcdefghijklmnopqrstuvwx",
        "SMTP_PASSWORD": "pw",
        "PAGERDUTY_INTEGRATION_KEY": "0123456789abcdef0123456789abcdef",
        "PAGERDUTY_API_KEY": "apikey0123",
    }
    for k, v in fake.items():
        monkeypatch.setenv(k, v)
    # as the docs say: MLWARDEN_* names pass as they are, the others need --alerting-env
    channels[0].check_env(AlertingPolicy())
    actions[0].check_env(AlertingPolicy())
    for ch in channels[1:]:
        with pytest.raises(ConfigError, match="--alerting-env"):
            ch.check_env(AlertingPolicy())
    policy = AlertingPolicy(env=tuple(fake))
    for ch in channels:
        ch.check_env(policy)
        if isinstance(ch, AppriseChannel):
            urls = [ch.expand("urls", u, policy=policy) for u in ch.urls]
            AppriseChannel(ch.name, urls=urls).validate()
    json.loads(doc_blocks("json")[0])


def test_doc_receivers_verify_real_deliveries(monkeypatch: pytest.MonkeyPatch) -> None:
    with_mlwarden, stdlib_only = doc_blocks("python")
    ns1: dict[str, Any] = {}
    ns2: dict[str, Any] = {}
    exec(compile(with_mlwarden, "alerts.md", "exec"), ns1)
    exec(compile(stdlib_only, "alerts.md", "exec"), ns2)
    monkeypatch.setenv("MLWARDEN_WEBHOOK_SECRET", "whsec-doc")
    with http_receiver() as rec:
        ch = WebhookChannel("ops", url=rec.url(), secret="${MLWARDEN_WEBHOOK_SECRET}")
        assert ch.send(note(), policy=LOCAL).status is DeliveryStatus.DELIVERED
    (req,) = rec.requests
    headers, body = req.headers, req.body
    ts, sig = headers["X-Mlwarden-Timestamp"], headers["X-Mlwarden-Signature"]
    assert ns2["verify"]("whsec-doc", body, ts, sig)
    assert not ns2["verify"]("whsec-doc", body + b"x", ts, sig)
    assert not ns2["verify"]("whsec-doc", body, str(int(ts) - 1000), sig)
    assert ns1["handle"](headers, body) == 200
    assert ns1["handle"](headers, body) == 200 and len(ns1["seen"]) == 1  # duplicate dropped
    assert ns1["handle"]({**headers, "X-Mlwarden-Signature": "sha256=00"}, body) == 401
