"""Server settings: constructor arguments are the configuration."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlwarden.errors import ConfigError, expected

__all__ = ["ServerSettings", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path | None = Path("mlwarden-data")
    host: str = "127.0.0.1"
    port: int = 8000
    #: Longest time a request waits for others to share its commit (group commit).
    commit_interval_ms: float = 50.0
    max_body_mb: float = 64.0
    retention_days: float | None = None
    #: Serve on a non-loopback address without API keys (not recommended).
    insecure: bool = False
    #: Require API keys even on loopback.
    require_keys: bool = False
    public_url: str | None = None
    #: How often the scheduler looks for closed windows and late labels (seconds; 0: never).
    evaluate_every_s: float = 60.0
    #: Requests per second per API key (or client address without one), by route class; a
    #: bucket holds ``rate * rate_limit_burst_s`` requests. 0 turns a class's limit off.
    rate_limit_ingest_per_s: float = 1000.0
    rate_limit_read_per_s: float = 500.0
    rate_limit_admin_per_s: float = 100.0
    rate_limit_burst_s: float = 10.0
    #: Days of access log kept (files of older days are deleted); None: kept forever.
    access_log_retention_days: float | None = 30.0
    #: Where security events also go as syslog messages: ``host:port`` (UDP) or a socket path.
    syslog_address: str | None = None

    def validate(self) -> ServerSettings:
        if not 0 < self.port < 65536:
            raise ConfigError(expected("option", "port", "be in 1..65535", self.port))
        if not 0 <= self.commit_interval_ms <= 200:
            raise ConfigError(
                expected(
                    "option", "commit-interval-ms", "be in 0..200 (ms)", self.commit_interval_ms
                )
            )
        if self.max_body_mb <= 0:
            raise ConfigError(expected("option", "max-body-mb", "be > 0", self.max_body_mb))
        if self.retention_days is not None and self.retention_days <= 0:
            raise ConfigError(expected("option", "retention-days", "be > 0", self.retention_days))
        for name in ("ingest", "read", "admin"):
            rate = getattr(self, f"rate_limit_{name}_per_s")
            if rate < 0:
                raise ConfigError(expected("option", f"rate-limit-{name}", "be >= 0", rate))
        if self.rate_limit_burst_s <= 0:
            raise ConfigError(
                expected("option", "rate-limit-burst-s", "be > 0", self.rate_limit_burst_s)
            )
        if self.access_log_retention_days is not None and self.access_log_retention_days <= 0:
            raise ConfigError(
                expected(
                    "option", "access-log-retention-days", "be > 0", self.access_log_retention_days
                )
            )
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(
                    expected(
                        "option", "public-url", "be an http:// or https:// URL", self.public_url
                    )
                )
        return self

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def keys_path(self) -> Path | None:
        return None if self.data_dir is None else self.data_dir / "keys.json"
