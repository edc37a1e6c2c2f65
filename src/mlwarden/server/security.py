"""The security services of one app, built once at the composition root (``create_app``):
the access log, the audit log, the security events and the rate limiter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from mlwarden.monitors.base import Result
from mlwarden.monitors.taxonomy import kinds_in_family
from mlwarden.server.access_log import AccessLog
from mlwarden.server.access_watch import AccessWatch
from mlwarden.server.ratelimit import RateLimiter
from mlwarden.server.security_events import SecurityEvents, from_access, syslog_handler
from mlwarden.server.settings import ServerSettings
from mlwarden.store.keys import KeyStore
from mlwarden.store.security_log import JsonLinesLog, security_root

__all__ = ["SECURITY_KINDS", "Security"]

#: Monitor kinds whose alerts are security events (the kinds of the "security" family).
SECURITY_KINDS = kinds_in_family("security")

OnResults = Callable[[str, str, list[Result], timedelta], None]


class Security:
    """Access log, audit log, security events and rate limits of one server."""

    def __init__(self, settings: ServerSettings, *, keys: KeyStore | None) -> None:
        root = security_root(settings.data_dir)
        handler = syslog_handler(settings.syslog_address) if settings.syslog_address else None
        self.events = SecurityEvents(JsonLinesLog(root, "events"), handler=handler)
        self.audit = JsonLinesLog(root, "audit")
        self.keys = keys
        self.watch = AccessWatch()
        self.access = AccessLog(
            JsonLinesLog(root, "access"),
            retention_days=settings.access_log_retention_days,
            project_of_key=self._project_of_key,
            on_flush=self._access_events,
            also_prune=(self.events.file,),  # the audit log is kept: it is the record
        )
        self.limiter = RateLimiter(
            {
                "ingest": settings.rate_limit_ingest_per_s,
                "read": settings.rate_limit_read_per_s,
                "admin": settings.rate_limit_admin_per_s,
            },
            burst_s=settings.rate_limit_burst_s,
        )

    def _project_of_key(self, key_id: str) -> str | None:
        if self.keys is None:
            return None
        for k in self.keys.list():
            if k.key_id == key_id:
                return k.project
        return None

    def _access_events(self, batch: list[dict[str, Any]]) -> None:
        events = [e for e in map(from_access, batch) if e is not None]
        for f in self.watch.observe(batch, now=datetime.now(UTC)):
            events.append(
                self.events.event(
                    f["type"],
                    "medium",
                    f["message"],
                    key_id=f["key_id"],
                    client=f["client"],
                    window_start=f["window_start"],
                    count=f["count"],
                    usual=f["usual"],
                )
            )
        self.events.emit(events)

    def watch_results(self, on_results: OnResults) -> OnResults:
        """``on_results`` that also emits a ``security_incident`` event per alert of a
        security monitor kind (they name the client and the pattern)."""

        def watched(project: str, model: str, results: list[Result], cadence: timedelta) -> None:
            on_results(project, model, results, cadence)
            self.events.emit(
                self.events.event(
                    "security_incident",
                    "high",
                    r.reason,
                    project=project,
                    model=model,
                    monitor=r.monitor,
                    window_start=r.window_start.isoformat(),
                    client=r.details.get("client"),
                    patterns=r.details.get("patterns"),
                )
                for r in results
                if r.kind in SECURITY_KINDS and r.status.firing
            )

        return watched

    def start(self) -> None:
        self.access.start()

    def close(self) -> None:
        self.access.close()
        self.events.close()
