"""Webhook channel: POST the incident as JSON, signed, with retries.

The body is the notification's payload (the incident as JSON) plus ``event``, ``title``,
``text``, ``url``, ``severity`` and ``key``. Headers: ``Content-Type: application/json``,
``X-Mlwarden-Event``, ``X-Mlwarden-Delivery`` (the notification key, the same on every retry
so a receiver can drop duplicates) and, with a ``secret``, ``X-Mlwarden-Timestamp`` and
``X-Mlwarden-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`` (the scheme of
Stripe and GitHub). A receiver checks it with :func:`verify_signature`.

Connection errors, timeouts, 429 and 5xx are retried with exponential backoff (honouring
``Retry-After``, capped by ``max_backoff_s``); other answers end the delivery: 2xx delivered,
anything else failed. Each attempt is signed afresh, so a late retry is not refused by a
receiver's timestamp tolerance.

Where the POST may go is the server's :class:`~mlwarden.incidents.channels.policy.AlertingPolicy`:
public addresses only unless the operator allows more; the answer's body is never kept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from mlwarden.errors import ConfigError
from mlwarden.incidents.channels.base import (
    CHANNELS,
    Channel,
    Delivery,
    DeliveryStatus,
    has_env_ref,
    now_utc,
)
from mlwarden.incidents.channels.policy import (
    DEFAULT_POLICY,
    AlertingPolicy,
    IPAddress,
    no_answer,
)
from mlwarden.incidents.channels.render import render_text, title_line
from mlwarden.incidents.record import Notification

__all__ = ["PostOutcome", "WebhookChannel", "post_json", "sign", "verify_signature"]

log = logging.getLogger("mlwarden.incidents")


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Mlwarden-Signature`` value: ``sha256=`` and the HMAC of ``"<timestamp>.<body>"``.

    Examples
    --------
    >>> sign("s3cret", b'{"event":"opened"}', 1700000000)
    'sha256=c466f682b3aa3c8c39a1813992fe6bf8a87c8cfe13e36515b0bf2e968b83170f'

    The same with openssl: ``printf '1700000000.{"event":"opened"}' | openssl dgst -sha256
    -hmac s3cret``.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    body: bytes | str,
    timestamp: str | int,
    signature: str,
    *,
    tolerance_s: float = 300,
    now: float | None = None,
) -> bool:
    """Whether a webhook request is authentic: for receivers of mlwarden webhooks.

    ``body`` is the raw request body (not re-serialised JSON), ``timestamp`` and
    ``signature`` the ``X-Mlwarden-Timestamp`` and ``X-Mlwarden-Signature`` headers. A
    timestamp further than ``tolerance_s`` seconds from ``now`` (default: the clock) is
    refused, which stops replays; ``tolerance_s=0`` turns that check off. The comparison
    takes constant time.

    Examples
    --------
    >>> body = b'{"event":"opened"}'
    >>> sig = sign("s3cret", body, 1700000000)
    >>> verify_signature("s3cret", body, "1700000000", sig, now=1700000100)
    True
    >>> verify_signature("wrong", body, "1700000000", sig, now=1700000100)
    False
    >>> verify_signature("s3cret", body, "1700000000", sig, now=1700009999)  # too old
    False
    """
    try:
        ts = int(str(timestamp).strip())
    except ValueError:
        return False
    clock = time.time() if now is None else now
    if tolerance_s and abs(clock - ts) > tolerance_s:
        return False
    raw = body.encode() if isinstance(body, str) else body
    good = sign(secret, raw, ts).encode()
    return hmac.compare_digest(good, signature.strip().encode("utf-8", "replace"))


def _json_default(v: object) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, set | frozenset | tuple):
        return list(v)
    return str(v)


def to_json(doc: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; datetimes as ISO 8601, anything else unknown as its string."""
    return json.dumps(
        doc, default=_json_default, ensure_ascii=False, separators=(",", ":")
    ).encode()


def webhook_document(note: Notification) -> dict[str, Any]:
    """What a webhook receives: the incident payload plus what a channel would show."""
    return {
        **note.payload,
        "event": note.event.value,
        "title": title_line(note),
        "text": note.text or render_text(note),
        "url": note.url,
        "severity": note.severity,
        "key": note.key,
    }


def redact_url(url: str) -> str:
    """Scheme, host and port only: paths and queries of webhook URLs often hold tokens.

    Examples
    --------
    >>> redact_url("https://user:pw@hooks.example.com:8443/services/T0/B0/XYZ?token=1")
    'https://hooks.example.com:8443/...'
    """
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an invalid URL)"
    tail = "/..." if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{tail}"


def check_http_url(url: str) -> str | None:
    """None when ``url`` is an absolute http(s) URL with a host, else what is wrong."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "be an http:// or https:// URL with a host"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "be an http:// or https:// URL with a host"
    return None


@dataclass(frozen=True)
class PostOutcome:
    """What became of a POST with retries (the receiver's answer body is never kept)."""

    ok: bool
    attempts: int
    status_code: int | None
    error: str

    def delivery(self, channel: Channel, note: Notification, started: datetime) -> Delivery:
        """``channel``'s delivery record of ``note``, posted from ``started``."""
        return channel.delivery(
            note,
            DeliveryStatus.DELIVERED if self.ok else DeliveryStatus.FAILED,
            started_at=started,
            attempts=self.attempts,
            http_status=self.status_code,
            error=self.error,
        )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _pinned(url: httpx.URL, ip: IPAddress) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request to ``url`` sent to the checked address ``ip``: the URL with the address as
    its host, the original ``Host`` header, and the host name for TLS (SNI and the
    certificate check)."""
    host = url.host
    default = {"http": 80, "https": 443}[url.scheme]
    netloc = host if ":" not in host else f"[{host}]"
    headers = {"Host": netloc if url.port in (None, default) else f"{netloc}:{url.port}"}
    extensions: dict[str, Any] = {}
    if url.scheme == "https":
        extensions["sni_hostname"] = host
    return url.copy_with(host=str(ip)), headers, extensions


def post_json(
    url: str,
    body: bytes,
    *,
    headers: dict[str, str],
    secret: str | None,
    timeout_s: float,
    retries: int,
    backoff_s: float,
    max_backoff_s: float,
    policy: AlertingPolicy = DEFAULT_POLICY,
) -> PostOutcome:
    """POST ``body`` to ``url`` with the retry policy of the module docstring.

    Waits between half and all of ``backoff_s * 2**i`` after attempt ``i + 1`` (or what
    ``Retry-After`` asks), never more than ``max_backoff_s``. Signs each attempt when
    ``secret`` is given.

    The host is resolved once and every address checked against ``policy``; the requests go
    to those checked addresses (the URL's host name kept in ``Host`` and for TLS), so DNS
    cannot send them elsewhere, and redirects are not followed. A refused destination makes
    no connection at all. The receiver's answer body is neither kept nor shown; a destination
    that does not answer (closed port, unknown name, timeout) is reported in one wording.
    """
    where = redact_url(url)
    target = httpx.URL(url)
    port = target.port or {"http": 80, "https": 443}[target.scheme]
    try:
        addresses = policy.addresses(target.host, port)
    except ConfigError as exc:
        return PostOutcome(False, 0, None, str(exc))
    attempts = 0
    code: int | None = None
    error = ""
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        while True:
            attempts += 1
            sent = dict(headers)
            if secret is not None:
                ts = int(time.time())
                sent["X-Mlwarden-Timestamp"] = str(ts)
                sent["X-Mlwarden-Signature"] = sign(secret, body, ts)
            wait: float | None = None
            response: httpx.Response | None = None
            for ip in addresses:  # the next address only when this one refused to connect
                pinned, host_header, extensions = _pinned(target, ip)
                try:
                    response = client.post(
                        pinned,
                        content=body,
                        headers={**sent, **host_header},
                        extensions=extensions,
                    )
                    break
                except httpx.ConnectError as exc:
                    log.info("webhook: %s (%s) refused to connect: %s", where, ip, exc)
                except httpx.TransportError as exc:  # timeouts, protocol errors
                    log.info("webhook: %s (%s) failed: %s: %s", where, ip, type(exc).__name__, exc)
                    break
            if response is None:
                code = None
                error = no_answer(target.host, port)
                retry = True
            else:
                code = response.status_code
                response.close()
                if 200 <= code < 300:
                    return PostOutcome(True, attempts, code, "")
                retry = code == 429 or code >= 500
                error = f"HTTP {code} from {where}"
                if 300 <= code < 400:
                    error += " (redirects are not followed; use the final URL)"
                wait = _retry_after(response.headers.get("Retry-After")) if retry else None
            if not retry or attempts > retries:
                tries = f" (after {attempts} attempts)" if attempts > 1 else ""
                return PostOutcome(False, attempts, code, error + tries)
            if wait is None:  # jitter: the delay is drawn from the upper half of its doubling
                wait = backoff_s * 2 ** (attempts - 1) * random.uniform(0.5, 1.0)
            time.sleep(min(wait, max_backoff_s))


@CHANNELS.register
class WebhookChannel(Channel):
    """POST each notification as signed JSON to ``url``.

    Examples
    --------
    >>> ch = WebhookChannel("ops", url="https://hooks.example.com/mlwarden",
    ...                     secret="${MLWARDEN_WEBHOOK_SECRET}", retries=5)
    >>> ch.validate()
    >>> ch.to_dict()["secret"]
    '${MLWARDEN_WEBHOOK_SECRET}'
    >>> WebhookChannel("ops", url="ftp://files.example.com").validate()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The 'url' parameter of webhook channel 'ops' must be an http://... URL ...
    """

    kind: ClassVar[str] = "webhook"

    def __init__(
        self,
        name: str,
        *,
        url: str,
        secret: str | None = None,
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
        self.secret = secret
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
        if not isinstance(self.url, str):
            self.bad("url", "be an http:// or https:// URL with a host", self.url)
        if not has_env_ref(self.url) and (problem := check_http_url(self.url)):
            self.bad("url", problem, self.url)
        if self.secret is not None and (not isinstance(self.secret, str) or not self.secret):
            self.bad("secret", "be a non-empty string (or ${ENV_VAR})", "***")
        self.check_headers(
            self.headers,
            reserved="Content-Type, Host or X-Mlwarden-* headers",
            mlwarden_headers=True,
        )
        self.check_number("timeout_s", positive=True)
        self.check_number("retries", integer=True)
        self.check_number("backoff_s")
        self.check_number("max_backoff_s")

    def send(self, note: Notification, *, policy: AlertingPolicy = DEFAULT_POLICY) -> Delivery:
        started = now_utc()
        try:
            url = self.expand("url", self.url, policy=policy)
            if problem := check_http_url(url):
                raise ConfigError(f"The 'url' of {self.where} must {problem} once expanded.")
            secret = (
                self.expand("secret", self.secret, policy=policy)
                if self.secret is not None
                else None
            )
            extra = {
                k: self.expand("headers", v, policy=policy) for k, v in (self.headers or {}).items()
            }
        except ConfigError as exc:
            return self.delivery(
                note, DeliveryStatus.FAILED, started_at=started, attempts=0, error=str(exc)
            )
        headers = {
            "User-Agent": "mlwarden",
            **extra,
            "Content-Type": "application/json",
            "X-Mlwarden-Event": note.event.value,
            "X-Mlwarden-Delivery": note.key,
        }
        outcome = post_json(
            url,
            to_json(webhook_document(note)),
            headers=headers,
            secret=secret,
            timeout_s=self.timeout_s,
            retries=self.retries,
            backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s,
            policy=policy,
        )
        return outcome.delivery(self, note, started)
