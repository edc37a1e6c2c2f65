"""OTLP/gRPC receiver: traces, logs and metrics on the port SDKs and collectors default to.

Started by ``mlwarden serve --otlp-grpc-port 4317`` (off by default) on the server's bind
address, beside the HTTP server and sharing its store, keys and limits. The services are
``opentelemetry.proto.collector.{trace,logs,metrics}.v1.*Service/Export`` (names taken from
the generated descriptors of ``opentelemetry-proto``); requests are handled as their raw
protobuf bytes by the same ingest code as ``POST /v1/traces``, ``/v1/logs`` and
``/v1/metrics``. The API key goes in the ``authorization: Bearer <key>`` or ``x-api-key``
metadata; it needs the ``ingest`` scope. A body that cannot be decoded is
``INVALID_ARGUMENT``, a missing or bad key ``UNAUTHENTICATED``, a key without the scope
``PERMISSION_DENIED``, a failed write ``UNAVAILABLE`` (which exporters retry), a caller over
the ingest rate limit (``--rate-limit-ingest``, per key or client address, as over HTTP)
``RESOURCE_EXHAUSTED``. Every call is in the access log (method ``GRPC``, the service's route),
so the security monitors (failed authentications, floods) see gRPC callers too.

Needs ``grpcio`` (the ``grpc`` extra: ``pip install 'mlwarden[grpc]'``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from mlwarden.errors import (
    AuthError,
    ConfigError,
    ForbiddenError,
    MlwardenError,
    ValidationError,
)
from mlwarden.schema.batch import Rejection
from mlwarden.schema.otlp import export_reply
from mlwarden.server.access_log import key_id_of
from mlwarden.server.auth import principal_for_key
from mlwarden.server.routes_otlp import ingest_traces, rejection_message
from mlwarden.server.routes_otlp_signals import (
    ingest_logs,
    ingest_metrics,
    log_reply,
    metric_reply,
)
from mlwarden.store.keys import Scope

__all__ = ["OtlpGrpcReceiver"]

log = logging.getLogger(__name__)

Ingest = Callable[[Any, str, bytes], list[Rejection]]
Reply = Callable[..., bytes]


def _service_names() -> dict[str, str]:
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    return {
        "traces": trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
        "logs": logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name,
        "metrics": metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
    }


def _peer_host(peer: str | None) -> str | None:
    """The client's address from gRPC's peer string (``ipv4:127.0.0.1:5432``,
    ``ipv6:[::1]:5432``)."""
    if not peer:
        return None
    _, _, rest = peer.partition(":")
    host = rest.rpartition(":")[0] if rest.count(":") and not rest.startswith("[") else rest
    if rest.startswith("["):
        host = rest[1 : rest.index("]")] if "]" in rest else rest
    return host or None


def _key(metadata: Any) -> str | None:
    for name, value in metadata or ():
        if name == "authorization" and str(value).lower().startswith("bearer "):
            return str(value)[7:].strip() or None
        if name == "x-api-key" and value:
            return str(value)
    return None


class OtlpGrpcReceiver:
    """A gRPC server exporting the three OTLP collector services into the app's store.

    ``state``: the app's state (store, settings, keys, redactor, prices, ingest counter)."""

    def __init__(self, state: Any, *, host: str, port: int, max_message_bytes: int) -> None:
        self.state = state
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self.server_: Any = None

    def _handler(
        self, ingest: Ingest, reply: Reply, what: str, route: str
    ) -> Callable[[bytes, Any], bytes]:
        import grpc

        def handle(body: bytes, context: Any) -> bytes:
            started, at = time.perf_counter(), datetime.now(UTC)
            metadata = dict(context.invocation_metadata() or ())
            key = _key(context.invocation_metadata())
            key_id, host = key_id_of(key), _peer_host(context.peer())
            seen: dict[str, Any] = {"status": 500, "project": None, "out": 0}
            try:
                wait = self.state.security.limiter.wait(
                    "ingest", f"key:{key_id}" if key_id else f"addr:{host}"
                )
                if wait > 0:
                    seen["status"] = 429
                    who = f"API key {key_id!r}" if key_id else f"client {host}"
                    context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        f"Too many ingest requests from {who}: the limit is "
                        f"{self.state.security.limiter.rates['ingest']:g} per second. Retry after "
                        f"{max(1, math.ceil(wait))} s.",
                    )
                try:
                    principal = principal_for_key(self.state, key)
                    principal.check(Scope.INGEST)
                    seen["project"] = principal.project
                    rejected = ingest(self.state, principal.project, body)
                except AuthError as exc:
                    seen["status"] = 401
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
                except ForbiddenError as exc:
                    seen["status"] = 403
                    context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
                except ValidationError as exc:
                    seen["status"] = 400
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
                except MlwardenError as exc:
                    seen["status"] = 503
                    context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
                out: bytes = reply(len(rejected), rejection_message(rejected, what), protobuf=True)
                seen["status"], seen["out"] = 200, len(out)
                return out
            finally:  # in the access log as HTTP requests are (the security monitors read it)
                self.state.security.access.record(
                    {
                        "at": at.isoformat(timespec="milliseconds"),
                        "key_id": key_id,
                        "project": seen["project"],
                        "method": "GRPC",
                        "route": route,
                        "status": seen["status"],
                        "request_bytes": len(body),
                        "response_bytes": seen["out"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                        "client": host,
                        "user_agent": metadata.get("user-agent"),
                    }
                )

        return handle

    def start(self) -> OtlpGrpcReceiver:
        try:
            import grpc
        except ImportError as exc:
            raise ConfigError(
                "The OTLP gRPC receiver needs grpcio: pip install 'mlwarden[grpc]'."
            ) from exc
        names = _service_names()
        handlers = []
        for kind, ingest, reply, what in (
            ("traces", ingest_traces, export_reply, "span"),
            ("logs", ingest_logs, log_reply, "log record"),
            ("metrics", ingest_metrics, metric_reply, "metric"),
        ):
            route = f"/{names[kind]}/Export"
            method = grpc.unary_unary_rpc_method_handler(self._handler(ingest, reply, what, route))
            handlers.append(grpc.method_handlers_generic_handler(names[kind], {"Export": method}))
        options = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
        ]
        server = grpc.server(
            ThreadPoolExecutor(max_workers=8, thread_name_prefix="mlwarden-otlp-grpc"),
            handlers=handlers,
            options=options,
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        try:
            bound = server.add_insecure_port(f"{host}:{self.port}")
        except RuntimeError:
            bound = 0
        if bound == 0:
            raise ConfigError(f"Cannot listen for OTLP/gRPC on {self.host}:{self.port}.")
        server.start()
        self.server_ = server
        log.info("OTLP/gRPC receiver on %s:%s", self.host, self.port)
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting calls; calls in flight get ``grace_s`` to finish."""
        if self.server_ is not None:
            self.server_.stop(grace_s).wait()
            self.server_ = None
