"""Server settings: constructor arguments are the configuration."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlwarden.errors import ConfigError, expected
from mlwarden.incidents.channels.policy import AlertingPolicy
from mlwarden.incidents.server_actions import load_server_actions
from mlwarden.schema.limits import Limits

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
    #: A database server holding the store instead of a DuckDB file in ``data_dir``
    #: (``postgresql://user@host:5432/db``; keys and logs stay in ``data_dir``).
    store_url: str | None = None
    #: A ClickHouse database keeping events and labels (``chdb:///path`` in this process, or
    #: ``clickhouse://host:8123/db``); the store above keeps the rest (docs/storage.md).
    events_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    #: Longest time a request waits for others to share its commit (group commit).
    commit_interval_ms: float = 50.0
    max_body_mb: float = 64.0
    #: Columns a model may have (features, segment columns, class scores); see docs/limits.md.
    max_features: int = Limits.max_features
    #: New feature names one request may add (schema evolution).
    max_new_features: int = Limits.max_new_features
    #: Rows times columns of one request's validated table.
    max_cells: int = Limits.max_cells
    retention_days: float | None = None
    #: Serve on a non-loopback address without API keys (not recommended).
    insecure: bool = False
    #: Require API keys even on loopback.
    require_keys: bool = False
    public_url: str | None = None
    #: Host names this server answers to besides its bind address and the public URL's host.
    allowed_hosts: tuple[str, ...] = ()
    #: How long a UI login lasts (hours) before the key must be entered again.
    session_hours: float = 12.0
    #: Personal data in LLM span text and text features before it is stored: off, mask,
    #: hash (keyed, stable) or drop (the whole text).
    redact_pii: str = "off"
    #: How often the scheduler looks for closed windows and late labels (seconds; 0: never).
    evaluate_every_s: float = 60.0
    #: The operator's actions file (YAML): per-project actions, the only place for commands.
    actions_file: Path | None = None
    #: Environment variables ``${NAME}`` in alerting configs may expand besides MLWARDEN_*.
    alerting_env: tuple[str, ...] = ()
    #: Non-public hosts, addresses or networks (CIDR) alerting may reach (default: none).
    alerting_allow_hosts: tuple[str, ...] = ()
    #: Fold the write-ahead log into the database once it has held commits this long
    #: (seconds; 0: only by size). Bounds what a damaged WAL can take with it.
    checkpoint_after_s: float = 5.0
    #: Longest a request body may take to arrive (seconds); a stalled upload gets 408.
    body_timeout_s: float = 60.0
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
    #: Port of the OTLP/gRPC receiver (traces, logs, metrics) on ``host``; None: off.
    otlp_grpc_port: int | None = None
    #: Worker processes decoding, normalising and checking OTLP trace exports
    #: (:mod:`mlwarden.server.ingest_pool`); 0: the server's own threads do it.
    ingest_workers: int = 0
    #: Push the /metrics state over OTLP/HTTP to this collector base URL; None: off.
    otlp_metrics_endpoint: str | None = None
    #: Seconds between two pushes.
    otlp_metrics_interval_s: float = 60.0
    #: Headers of each push (an API key of the receiving service).
    otlp_metrics_headers: tuple[tuple[str, str], ...] = ()
    #: MLflow tracking server the results of models registered from it flow back to; None: off.
    mlflow_tracking_uri: str | None = None
    #: Its token (``Authorization: Bearer``), if it needs one.
    mlflow_token: str | None = None
    #: Seconds between two passes of the MLflow job.
    mlflow_sync_every_s: float = 60.0

    def validate(self) -> ServerSettings:
        if not 0 < self.port < 65536:
            raise ConfigError(expected("option", "port", "be in 1..65535", self.port))
        if self.otlp_grpc_port is not None and not (
            0 < self.otlp_grpc_port < 65536 and self.otlp_grpc_port != self.port
        ):
            raise ConfigError(
                expected(
                    "option",
                    "otlp-grpc-port",
                    "be in 1..65535 and not --port",
                    self.otlp_grpc_port,
                )
            )
        if not 0 <= self.ingest_workers <= 64:
            raise ConfigError(
                expected("option", "ingest-workers", "be in 0..64", self.ingest_workers)
            )
        if self.otlp_metrics_endpoint is not None and not re.match(
            r"^https?://[^/\s]+", self.otlp_metrics_endpoint
        ):
            raise ConfigError(
                expected(
                    "option",
                    "otlp-metrics-endpoint",
                    "be an http:// or https:// URL (the collector's base URL)",
                    self.otlp_metrics_endpoint,
                )
            )
        if self.mlflow_tracking_uri is not None:
            from mlwarden.integrations.mlflow_rest import check_tracking_uri

            check_tracking_uri(self.mlflow_tracking_uri)
        if not self.mlflow_sync_every_s > 0:
            raise ConfigError(
                expected("option", "mlflow-sync-every", "be > 0 (s)", self.mlflow_sync_every_s)
            )
        if not self.otlp_metrics_interval_s >= 1:
            raise ConfigError(
                expected(
                    "option", "otlp-metrics-interval", "be >= 1 (s)", self.otlp_metrics_interval_s
                )
            )
        if not 0 <= self.commit_interval_ms <= 200:
            raise ConfigError(
                expected(
                    "option", "commit-interval-ms", "be in 0..200 (ms)", self.commit_interval_ms
                )
            )
        if self.max_body_mb <= 0:
            raise ConfigError(expected("option", "max-body-mb", "be > 0", self.max_body_mb))
        self.limits.validate()
        if self.checkpoint_after_s < 0:
            raise ConfigError(
                expected("option", "checkpoint-after", "be >= 0 (s)", self.checkpoint_after_s)
            )
        if self.body_timeout_s <= 0:
            raise ConfigError(expected("option", "body-timeout", "be > 0 (s)", self.body_timeout_s))
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
        for h in self.allowed_hosts:
            if not h or any(c in h for c in "/@ \t") or not h.isascii():
                raise ConfigError(expected("option", "allowed-host", "be a host name", h))
        modes = ("off", "mask", "hash", "drop")
        if self.redact_pii not in modes:
            raise ConfigError(
                expected("option", "redact-pii", f"be one of {', '.join(modes)}", self.redact_pii)
            )
        if not 0 < self.session_hours <= 24 * 30:
            raise ConfigError(
                expected("option", "session-hours", "be in (0, 720]", self.session_hours)
            )
        self.alerting_policy.validate()
        if self.actions_file is not None:  # refuse a bad file at start-up, naming the entry
            load_server_actions(self.actions_file, policy=self.alerting_policy)
        return self

    @property
    def keys_required(self) -> bool:
        """Keys are required on any bind other machines can reach (unless ``insecure``), or
        when told to; this holds whatever happens to the key file (fail closed)."""
        return self.require_keys or not (is_loopback(self.host) or self.insecure)

    @property
    def limits(self) -> Limits:
        return Limits(
            max_features=self.max_features,
            max_new_features=self.max_new_features,
            max_cells=self.max_cells,
        )

    @property
    def alerting_policy(self) -> AlertingPolicy:
        return AlertingPolicy(env=self.alerting_env, allow_hosts=self.alerting_allow_hosts)

    def alerting_options(self) -> dict[str, Any]:
        """The keyword arguments of :class:`~mlwarden.incidents.alerting.Alerting` (the
        actions file is read now)."""
        policy = self.alerting_policy
        actions = (
            load_server_actions(self.actions_file, policy=policy)
            if self.actions_file is not None
            else {}
        )
        return {"env": policy.env, "allow_hosts": policy.allow_hosts, "server_actions": actions}

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def redaction_key_path(self) -> Path | None:
        return None if self.data_dir is None else self.data_dir / "redaction.key"

    @property
    def keys_path(self) -> Path | None:
        return None if self.data_dir is None else self.data_dir / "keys.json"
