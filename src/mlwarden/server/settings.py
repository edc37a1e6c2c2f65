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
    #: Fold the write-ahead log into the database once it has held commits this long
    #: (seconds; 0: only by size). Bounds what a damaged WAL can take with it.
    checkpoint_after_s: float = 5.0
    #: Longest a request body may take to arrive (seconds); a stalled upload gets 408.
    body_timeout_s: float = 60.0

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
        if self.checkpoint_after_s < 0:
            raise ConfigError(
                expected("option", "checkpoint-after", "be >= 0 (s)", self.checkpoint_after_s)
            )
        if self.body_timeout_s <= 0:
            raise ConfigError(expected("option", "body-timeout", "be > 0 (s)", self.body_timeout_s))
        if self.retention_days is not None and self.retention_days <= 0:
            raise ConfigError(expected("option", "retention-days", "be > 0", self.retention_days))
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
