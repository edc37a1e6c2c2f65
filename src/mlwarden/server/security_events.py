"""Security events for a SIEM: failed authentication, throttled callers, administrative
changes and security incidents, as JSON lines (``GET /v1/security/events.jsonl``) and, when
an operator names a syslog address, as syslog messages (RFC 3164 via the standard library's
``SysLogHandler``; the message is the event's JSON).

Each event: ``at``, ``type`` (``auth_failure``, ``forbidden``, ``rate_limited``,
``admin_change``, ``security_incident``), ``severity`` (``low`` / ``medium`` / ``high``),
``message``, and what it is about: ``key_id``, ``project``, ``client``, ``route``, ...
"""

from __future__ import annotations

import logging
import logging.handlers
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from mlwarden.errors import ConfigError, expected
from mlwarden.store.security_log import JsonLinesLog

__all__ = ["SecurityEvents", "from_access", "syslog_handler"]

#: Access-log statuses that are security events, with their type and severity.
STATUS_EVENTS = {
    401: ("auth_failure", "medium"),
    403: ("forbidden", "medium"),
    429: ("rate_limited", "low"),
}
_LEVELS = {"low": logging.INFO, "medium": logging.WARNING, "high": logging.ERROR}


def syslog_handler(address: str) -> logging.Handler:
    """A handler sending to ``host:port`` (UDP) or a local socket path such as ``/dev/log``.

    Examples
    --------
    >>> syslog_handler("not an address")
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The 'syslog-address' option must be host:port or an absolute socket path. Got 'not an address' instead.
    """  # noqa: E501
    target: str | tuple[str, int]
    if address.startswith("/"):
        target = address
    else:
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or " " in host:
            raise ConfigError(
                expected(
                    "option",
                    "syslog-address",
                    "be host:port or an absolute socket path",
                    address,
                )
            )
        target = (host, int(port))
    try:
        handler = logging.handlers.SysLogHandler(
            address=target,
            facility=logging.handlers.SysLogHandler.LOG_AUTH,
            socktype=socket.SOCK_DGRAM if isinstance(target, tuple) else None,
        )
    except OSError as exc:
        raise ConfigError(f"The syslog address {address!r} cannot be used: {exc}") from exc
    handler.ident = "mlwarden: "
    return handler


def from_access(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The security event of an access-log entry, if it is one."""
    kind = STATUS_EVENTS.get(int(entry.get("status", 0)))
    if kind is None:
        return None
    who = f"key {entry['key_id']!r}" if entry.get("key_id") else "a caller without a key"
    what = {
        "auth_failure": "failed authentication",
        "forbidden": "was refused",
        "rate_limited": "was rate-limited",
    }[kind[0]]
    return {
        "at": entry["at"],
        "type": kind[0],
        "severity": kind[1],
        "message": f"{who} from {entry.get('client')} {what} on "
        f"{entry.get('method')} {entry.get('route')}",
        **{k: entry.get(k) for k in ("key_id", "project", "client", "route", "status")},
    }


class SecurityEvents:
    """The security events of one server: appended to their log and sent to syslog."""

    def __init__(self, log_file: JsonLinesLog, *, handler: logging.Handler | None = None) -> None:
        self.file = log_file
        self.handler = handler

    def emit(self, events: Iterable[dict[str, Any]]) -> None:
        rows = list(events)
        if not rows:
            return
        self.file.append(rows)
        if self.handler is not None:
            for e in rows:
                record = logging.makeLogRecord(
                    {
                        "name": "mlwarden.security",
                        "levelno": _LEVELS.get(str(e.get("severity")), logging.WARNING),
                        "levelname": logging.getLevelName(
                            _LEVELS.get(str(e.get("severity")), logging.WARNING)
                        ),
                        "msg": orjson.dumps(e).decode(),
                    }
                )
                self.handler.handle(record)

    def event(self, type_: str, severity: str, message: str, **about: Any) -> dict[str, Any]:
        """An event of now (not yet emitted)."""
        return {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "type": type_,
            "severity": severity,
            "message": message,
            **about,
        }

    def close(self) -> None:
        if self.handler is not None:
            self.handler.close()
