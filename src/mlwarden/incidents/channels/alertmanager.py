"""Alertmanager channel: incidents become alerts in a Prometheus Alertmanager.

Each notification is POSTed to Alertmanager's ``/api/v2/alerts`` (under ``url``, which may
carry a ``--web.route-prefix`` path) as one alert whose labels identify the incident:

* labels: ``alertname`` (the ``alertname`` parameter, ``MlwardenIncident`` by default),
  ``project``, ``model``, ``severity``, ``kind`` (the incident's monitor kind: ``drift``,
  ``quality``, ``performance``, ...), ``incident`` (its id), plus the channel's static
  ``labels`` (``team: ml``) for Alertmanager's routing;
* annotations: ``title``, ``summary`` (the plain-text rendering: causes, recommendation,
  link), ``url`` (the incident in mlwarden's UI, also ``generatorURL``) and ``event``;
* ``startsAt``: when the incident opened. While the incident is open, ``endsAt`` is now plus
  ``expires_after_s`` (30 days by default); every later event (escalated, acknowledged,
  reopened) sends the alert again and pushes it further. mlwarden does not re-send an
  unchanged open incident on a timer, so the explicit ``endsAt`` is what keeps Alertmanager
  from resolving it after its ``resolve_timeout`` (5 minutes by default); if the resolution
  never arrives (the server gone), the alert expires at that time.
* On resolution the same labels are sent with ``endsAt`` set to the resolution time, which
  resolves the alert in Alertmanager (and sends its ``send_resolved`` notifications).

An alert's identity in Alertmanager is its whole label set, and an incident's severity only
rises (an escalation). An incident's severity is always the worst of its members', so every
severity it had is one of its members'. An escalated or resolved incident is therefore sent
together with the variants of its members' lower severities marked resolved: the alert of the
severity it had before does not stay firing (even on a channel that is not sent
``escalated`` events), and an incident that never changed severity sends one alert only.

A ping (the channel check) is an alert ``alertname="MlwardenPing"`` that expires after five
minutes. Delivery is the webhook's: the same retries, the same destination policy (a
loopback or private Alertmanager needs ``mlwarden serve --alerting-allow-host``), no
redirects followed; a ``headers`` mapping carries authentication for a proxy in front.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from mlwarden.errors import ConfigError
from mlwarden.incidents.channels.base import (
    CHANNELS,
    Channel,
    Delivery,
    DeliveryStatus,
    has_env_ref,
    now_utc,
)
from mlwarden.incidents.channels.policy import DEFAULT_POLICY, AlertingPolicy
from mlwarden.incidents.channels.render import render_text, title_line
from mlwarden.incidents.channels.webhook import check_http_url, post_json
from mlwarden.incidents.record import SEVERITIES, IncidentEvent, Notification

__all__ = ["PING_ALERTNAME", "AlertmanagerChannel", "alerts"]

PING_ALERTNAME = "MlwardenPing"
#: How long a ping's alert stays in Alertmanager.
PING_EXPIRES = timedelta(minutes=5)
#: Labels the channel sets itself; the static ``labels`` may not replace them.
OWN_LABELS = ("alertname", "project", "model", "severity", "kind", "incident")
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_API_PATH = "/api/v2/alerts"


def _instant(value: Any, default: datetime) -> datetime:
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, str) and value:
        try:
            found = datetime.fromisoformat(value)
        except ValueError:
            return default
    else:
        return default
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alerts(
    note: Notification,
    *,
    alertname: str = "MlwardenIncident",
    labels: dict[str, str] | None = None,
    expires_after: timedelta = timedelta(days=30),
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The Alertmanager alerts (``/api/v2/alerts`` body) of one notification: its incident's
    alert first, then the lower-severity variants it resolves.

    Examples
    --------
    >>> t = datetime(2026, 5, 1, 12, tzinfo=UTC)
    >>> note = Notification(7, "default", "churn", IncidentEvent.OPENED, "high",
    ...     "[opened] churn: Drift", "Drift in income", "http://mlw:8000/ui/incidents/7",
    ...     payload={"kind": "drift", "opened_at": "2026-05-01T11:00:00+00:00",
    ...              "members": [{"severity": "medium"}, {"severity": "high"}]})
    >>> [a] = alerts(note, labels={"team": "ml"}, now=t)
    >>> a["labels"]["alertname"], a["labels"]["severity"], a["labels"]["team"]
    ('MlwardenIncident', 'high', 'ml')
    >>> a["startsAt"], a["endsAt"]
    ('2026-05-01T11:00:00Z', '2026-05-31T12:00:00Z')
    >>> from dataclasses import replace
    >>> done = alerts(replace(note, event=IncidentEvent.RESOLVED), now=t)
    >>> [(a["labels"]["severity"], a["endsAt"]) for a in done]  # doctest: +NORMALIZE_WHITESPACE
    [('high', '2026-05-01T12:00:00Z'), ('medium', '2026-05-01T12:00:00Z')]
    """
    now = now or now_utc()
    payload = note.payload
    if payload.get("ping"):
        return [
            {
                "labels": {**(labels or {}), "alertname": PING_ALERTNAME, "project": note.project},
                "annotations": {"title": note.title, "summary": note.text},
                "startsAt": _rfc3339(now),
                "endsAt": _rfc3339(now + PING_EXPIRES),
            }
        ]
    starts = _instant(payload.get("opened_at"), now)
    resolved = note.event is IncidentEvent.RESOLVED
    ends = _instant(payload.get("resolved_at"), now) if resolved else now + expires_after
    ends = max(ends, starts)
    own = {
        "alertname": alertname,
        "project": note.project,
        "model": note.model,
        "severity": note.severity,
        "kind": str(payload.get("kind") or "unknown"),
        "incident": str(note.incident_id),
    }
    annotations = {
        "title": title_line(note),
        "summary": note.text or render_text(note),
        "event": note.event.value,
    }
    if note.url:
        annotations["url"] = note.url
    first: dict[str, Any] = {
        "labels": {**(labels or {}), **own},
        "annotations": annotations,
        "startsAt": _rfc3339(starts),
        "endsAt": _rfc3339(ends),
    }
    if note.url:
        first["generatorURL"] = note.url
    out = [first]
    if (resolved or note.event is IncidentEvent.ESCALATED) and note.severity in SEVERITIES:
        done = _rfc3339(max(_instant(payload.get("resolved_at"), now), starts))
        had = {m.get("severity") for m in payload.get("members") or () if isinstance(m, dict)}
        for lower in SEVERITIES[: SEVERITIES.index(note.severity)]:
            if lower not in had:
                continue
            out.append(
                {
                    **first,
                    "labels": {**first["labels"], "severity": lower},
                    "endsAt": done,
                }
            )
    return out


@CHANNELS.register
class AlertmanagerChannel(Channel):
    """Push each incident to a Prometheus Alertmanager as an alert, resolved with it.

    Examples
    --------
    >>> ch = AlertmanagerChannel("am", url="http://alertmanager:9093", labels={"team": "ml"})
    >>> ch.validate()
    >>> AlertmanagerChannel("am", url="http://am:9093", labels={"severity": "x"}).validate()
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The 'labels' parameter of alertmanager channel 'am' must ...
    """

    kind: ClassVar[str] = "alertmanager"

    def __init__(
        self,
        name: str,
        *,
        url: str,
        alertname: str = "MlwardenIncident",
        labels: dict[str, str] | None = None,
        expires_after_s: float = 30 * 86400.0,
        headers: dict[str, str] | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        objectives: list[str] | None = None,
        min_severity: str = "low",
        events: list[str] | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.alertname = alertname
        self.labels = labels
        self.expires_after_s = expires_after_s
        self.headers = headers
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.objectives = objectives
        self.min_severity = min_severity
        self.events = events

    def validate(self) -> None:
        super().validate()
        must_url = "be the http:// or https:// URL of Alertmanager (http://host:9093)"
        if not isinstance(self.url, str):
            self.bad("url", must_url, self.url)
        if not has_env_ref(self.url) and check_http_url(self.url):
            self.bad("url", must_url, self.url)
        if not isinstance(self.alertname, str) or not self.alertname.strip():
            self.bad("alertname", "be a non-empty string", self.alertname)
        must_labels = (
            "be a mapping of label names ([A-Za-z_][A-Za-z0-9_]*) to strings, other than "
            + ", ".join(OWN_LABELS)
        )
        if self.labels is not None:
            if not isinstance(self.labels, dict):
                self.bad("labels", must_labels, self.labels)
            for k, v in self.labels.items():
                ok = isinstance(k, str) and _LABEL.fullmatch(k) and not k.startswith("__")
                if not ok or k in OWN_LABELS or not isinstance(v, str):
                    self.bad("labels", must_labels, {k: v})
        self.check_headers(self.headers, reserved="Content-Type or Host", mlwarden_headers=False)
        self.check_number("expires_after_s", positive=True)
        self.check_number("timeout_s", positive=True)
        self.check_number("retries", integer=True)
        self.check_number("backoff_s")
        self.check_number("max_backoff_s")

    def send(self, note: Notification, *, policy: AlertingPolicy = DEFAULT_POLICY) -> Delivery:
        started = now_utc()
        try:
            base = self.expand("url", self.url, policy=policy)
            if check_http_url(base):
                raise ConfigError(
                    f"The 'url' of {self.where} must be an http:// or https:// URL once expanded."
                )
            extra = {
                k: self.expand("headers", v, policy=policy) for k, v in (self.headers or {}).items()
            }
        except ConfigError as exc:
            return self.delivery(
                note, DeliveryStatus.FAILED, started_at=started, attempts=0, error=str(exc)
            )
        body = alerts(
            note,
            alertname=self.alertname,
            labels=self.labels,
            expires_after=timedelta(seconds=self.expires_after_s),
            now=started,
        )
        outcome = post_json(
            base.rstrip("/") + _API_PATH,
            json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
            headers={"User-Agent": "mlwarden", **extra, "Content-Type": "application/json"},
            secret=None,
            timeout_s=self.timeout_s,
            retries=self.retries,
            backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s,
            policy=policy,
        )
        return outcome.delivery(self, note, started)
