"""Real local receivers for the alerting tests: an HTTP server and an SMTP server, both on
127.0.0.1, started and stopped by the test; plus a realistic notification."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from mlwarden.incidents.channels.policy import AlertingPolicy
from mlwarden.incidents.record import Incident, IncidentEvent, IncidentState, Notification
from serverproc import free_port

T0 = datetime(2026, 3, 1, tzinfo=UTC)
#: The receivers listen on loopback, which alerting refuses unless allowed: tests allow it
#: explicitly, as an operator would (``mlwarden serve --alerting-allow-host 127.0.0.1``).
LOCAL = AlertingPolicy(allow_hosts=("127.0.0.1",))


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers POSTs with the scripted ``(status, headers)`` in order, then ``default``."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    default: int = 200
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def count(self) -> int:
        return len(self.requests)


@contextmanager
def http_receiver(
    *script: tuple[int, dict[str, str]] | int,
    default: int = 200,
    delay_s: float = 0.0,
    answer: str = "answer {status}",
) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1; a non-2xx status comes with the body ``answer``."""
    steps = [(s, {}) if isinstance(s, int) else s for s in script]
    rec = Receiver(script=list(steps), default=default, delay_s=delay_s)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                rec.requests.append(
                    Received(self.path, dict(self.headers.items()), body, time.monotonic())
                )
                status, headers = rec.script.pop(0) if rec.script else (rec.default, {})
            if rec.delay_s:
                time.sleep(rec.delay_s)
            payload = b"{}" if 200 <= status < 300 else answer.format(status=status).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _Collect:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[EmailMessage]]]:
    """A local SMTP server (no TLS, no auth); yields its port and the messages it got."""
    handler = _Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, handler.messages
    finally:
        controller.stop()


def incident(**changes: Any) -> Incident:
    base = Incident(
        id=12,
        project="default",
        model="credit_risk",
        signature="model",
        kind="drift",
        title="Inputs drifted: credit_score",
        severity="high",
        state=IncidentState.OPEN,
        opened_at=T0,
        updated_at=T0,
        first_window=T0,
        last_window=T0,
        members=(
            {"monitor": "feature_drift:credit_score", "kind": "feature_drift"},
            {"monitor": "prediction_drift:score", "kind": "prediction_drift"},
        ),
        causes={
            "features": [
                {"name": "credit_score", "drift": 3.41, "alert": True, "importance": 0.42},
                {"name": "income", "drift": 0.8, "alert": False},
            ],
            "slices": [{"description": "region = north", "share": 0.18}],
            "quality": [{"monitor": "missing_values:income", "reason": "12% nulls (ref 1%)"}],
        },
        recommendations=(
            {
                "action": "Retrain on the last 30 days",
                "why": "credit_score moved and the model leans on it",
                "rule": "drift-important-feature",
            },
        ),
        objectives=({"name": "approval_accuracy", "status": "at_risk"},),
    )
    return base.evolve(**changes)


def note(
    event: IncidentEvent = IncidentEvent.OPENED,
    *,
    url: str = "http://mlwarden.local:8000/ui/incidents/12",
    sequence: int = 0,
    **changes: Any,
) -> Notification:
    """A notification shaped like the server's (``incidents.service.notification``)."""
    inc = incident(**changes)
    return Notification(
        incident_id=inc.id,
        project=inc.project,
        model=inc.model,
        event=event,
        severity=inc.severity,
        title=f"[{event.value}] {inc.model}: {inc.title}",
        text="",
        url=url,
        objectives=tuple(o["name"] for o in inc.objectives),
        payload={**inc.to_dict(), "event": event.value},
        sequence=sequence,
    )
