"""Apprise channel: Slack, e-mail, Teams, PagerDuty, Discord, ntfy, ... through apprise URLs.

One channel can hold several URLs (``slack://...``, ``mailtos://...``); the title is the
alert's title line and the body its markdown rendering (apprise turns markdown into what each
service shows: HTML for e-mail, mrkdwn for Slack, plain text elsewhere), link included.

apprise is used without side effects beyond the targets: no persistent storage (memory
mode, no key generation), no configuration files or templates read, no icon URLs sent (they
would point services at GitHub), no plugin directories scanned, one service after another
in the calling thread. The delivery is ``delivered`` only when every URL accepted the
notification; otherwise ``failed`` with apprise's reasons, naming the failing services (use
one channel per target when each must be retried on its own).

Destinations: before apprise gets a URL, the host it names is checked against the server's
:class:`~mlwarden.incidents.channels.policy.AlertingPolicy` like a webhook's (every address
it resolves to must be public or allowed by the operator). What cannot be checked: apprise
resolves the name again itself (a DNS answer that changes in between is not caught), and
follows what its service plugins do (redirects included). Schemes of hosted services whose
URL holds tokens where a host would be (``slack://``, ``discord://``, ...; see
:data:`SERVICE_SCHEMES`) reach their service's fixed public endpoint and are not resolved;
any other URL must name a host that resolves. Operators who need a strict boundary use
webhook channels or an egress firewall.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

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
from mlwarden.incidents.channels.render import render_markdown, title_line
from mlwarden.incidents.record import IncidentEvent, Notification

if TYPE_CHECKING:
    import apprise

__all__ = ["AppriseChannel"]

log = logging.getLogger("mlwarden.incidents")

#: Bounds apprise puts on its per-service retries and wait.
MAX_RETRIES = 10
MAX_WAIT_S = 20.0
#: apprise schemes whose plugin talks only to its hosted service's fixed public endpoint (the
#: "host" of their URLs is a token): not resolved before sending.
SERVICE_SCHEMES = frozenset(
    {"slack", "discord", "pagerduty", "tgram", "msteams", "pover", "opsgenie", "pushbullet"}
)
#: Characters of apprise's reasons kept in a failed delivery's error.
ERROR_CHARS = 500

# apprise's e-mail plugin imports the stdlib ``imghdr`` (for PGPy), which warns
# DeprecationWarning on Python 3.11 and 3.12 (3.13 removed it; apprise then shims it). The
# first import is the only one that warns: do it here, silencing that one message, so
# loading apprise's plugins never trips ``-W error``.
if sys.version_info < (3, 13) and "imghdr" not in sys.modules:  # pragma: no branch
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="'imghdr' is deprecated", category=DeprecationWarning
        )
        import imghdr  # noqa: F401


def _require_apprise() -> None:
    try:
        import apprise  # noqa: F401
    except ImportError as exc:  # pragma: no cover - apprise is a dependency
        raise ConfigError(
            "The apprise channel needs the 'apprise' package: pip install apprise."
        ) from exc


def _asset(*, timeout_s: float, retries: int, backoff_s: float) -> apprise.AppriseAsset:
    import apprise

    return apprise.AppriseAsset(
        app_id="mlwarden",
        app_desc="mlwarden incident alerts",
        storage_mode="memory",  # no persistent store on disk
        pgp_autogen=False,
        pem_autogen=False,
        allow_templates=False,
        image_url_mask="",  # no icon URLs for services to fetch
        image_url_logo="",
        image_path_mask=False,
        interpret_emojis=False,
        async_mode=False,  # sequential, in our worker thread
        service_timeout=timeout_s,
        default_service_retry=retries,
        default_service_wait=backoff_s,
    )


def _notify_type(note: Notification) -> str:
    if note.event in (IncidentEvent.RESOLVED, IncidentEvent.ACKNOWLEDGED):
        return "success" if note.event is IncidentEvent.RESOLVED else "info"
    return {"critical": "failure", "high": "failure", "medium": "warning"}.get(
        note.severity, "info"
    )


@CHANNELS.register
class AppriseChannel(Channel):
    """Send each notification to one or more apprise URLs.

    Examples
    --------
    >>> ch = AppriseChannel("team", urls=["mailtos://alerts:${SMTP_PASSWORD}@mail.example.com"
    ...                                   "?to=ml-team@example.com"])
    >>> ch.validate()
    >>> AppriseChannel("team", urls=["teams"]).validate()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The 'urls' parameter of apprise channel 'team' must ... Got 'teams' instead.
    """

    kind: ClassVar[str] = "apprise"

    def __init__(
        self,
        name: str,
        *,
        urls: list[str],
        timeout_s: float = 30.0,
        retries: int = 2,
        backoff_s: float = 1.0,
        objectives: list[str] | None = None,
        min_severity: str = "low",
        events: list[str] | None = None,
    ) -> None:
        self.name = name
        self.urls = urls
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.objectives = objectives
        self.min_severity = min_severity
        self.events = events

    def validate(self) -> None:
        super().validate()
        _require_apprise()
        must = "be a list of apprise URLs (scheme://...)"
        if not isinstance(self.urls, list | tuple) or not self.urls:
            self.bad("urls", must, self.urls)
        self.check_number("timeout_s", positive=True)
        self.check_number("retries", integer=True)
        if self.retries > MAX_RETRIES:
            self.bad("retries", f"be at most {MAX_RETRIES} (apprise's limit)", self.retries)
        self.check_number("backoff_s")
        if self.backoff_s > MAX_WAIT_S:
            self.bad("backoff_s", f"be at most {MAX_WAIT_S:g} (apprise's limit)", self.backoff_s)
        for url in self.urls:
            if not isinstance(url, str) or "://" not in url or url.startswith("://"):
                self.bad("urls", must, url)
            if has_env_ref(url):
                continue  # checked once expanded, when sending
            if self._instantiate(url) is None:
                self.bad("urls", "be a list of URLs apprise supports", url)

    def _instantiate(self, url: str) -> Any:
        import apprise

        asset = _asset(timeout_s=self.timeout_s, retries=self.retries, backoff_s=self.backoff_s)
        return apprise.Apprise.instantiate(url, asset=asset)

    def send(self, note: Notification, *, policy: AlertingPolicy = DEFAULT_POLICY) -> Delivery:
        import apprise

        started = now_utc()

        def failed(error: str, attempts: int = 0) -> Delivery:
            return self.delivery(
                note, DeliveryStatus.FAILED, started_at=started, attempts=attempts, error=error
            )

        try:
            urls = [self.expand("urls", u, policy=policy) for u in self.urls]
            for url in urls:
                _check_destination(url, policy)
        except ConfigError as exc:
            return failed(str(exc))
        asset = _asset(timeout_s=self.timeout_s, retries=self.retries, backoff_s=self.backoff_s)
        targets = apprise.Apprise(asset=asset)
        for i, url in enumerate(urls):
            if not targets.add(url):
                scheme = url.split("://", 1)[0]
                return failed(
                    f"URL {i + 1} ({scheme}://...) of {self.where} is not one apprise supports."
                )
        try:
            result = targets.notify(
                body=render_markdown(note),
                title=title_line(note),
                notify_type=_notify_type(note),
                body_format=apprise.NotifyFormat.MARKDOWN,
            )
        except Exception as exc:  # a foreign library: any failure is the delivery's
            return failed(f"apprise failed: {type(exc).__name__}: {exc}")
        with result:
            attempts = max((len(r) for r in result), default=0)
            if result:
                return self.delivery(
                    note, DeliveryStatus.DELIVERED, started_at=started, attempts=attempts
                )
            return failed(_reasons(result), attempts)


def _check_destination(url: str, policy: AlertingPolicy) -> None:
    """Raise :class:`ConfigError` unless the host ``url`` names may be reached (see the module
    docstring for what this cannot check)."""
    scheme = url.split("://", 1)[0].lower()
    if scheme in SERVICE_SCHEMES:
        return
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ConfigError(f"An apprise URL ({scheme}://...) has no host that can be read.") from exc
    if not host:
        raise ConfigError(
            f"Not delivered: the apprise URL ({scheme}://...) names no host the server's "
            "destination policy can check."
        )
    policy.addresses(host, port or 0)


def _reasons(result: apprise.AppriseResult) -> str:
    """Which services failed, in one line. What apprise logged about it goes to the server's
    log only: its plugins may quote the answer of the service, which the caller never sees."""
    failing = [f"{r.name} ({r.url})" for r in result if not r]
    seen: dict[str, None] = {}
    for entry in result.logs():
        if entry.level in ("WARNING", "ERROR", "CRITICAL"):
            seen.setdefault(entry.message.strip(), None)
    if seen:
        log.info("apprise: %s", "; ".join(seen))
    head = f"apprise: {result.status.name.lower()}"
    if failing:
        head += f" for {', '.join(failing)}"
    text = head + " (details in the server log)"
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."
