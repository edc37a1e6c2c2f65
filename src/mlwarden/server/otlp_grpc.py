"""OTLP/gRPC receiver: traces, logs and metrics on the port SDKs and collectors default to.

Started by ``mlwarden serve --otlp-grpc-port 4317`` (off by default) on the server's bind
address, beside the HTTP server and sharing its store, keys and limits. The services are
``opentelemetry.proto.collector.{trace,logs,metrics}.v1.*Service/Export`` (names taken from
the generated descriptors of ``opentelemetry-proto``); requests are handled as their raw
protobuf bytes by the same ingest code as ``POST /v1/traces``, ``/v1/logs`` and
``/v1/metrics``. The API key goes in the ``authorization: Bearer <key>`` or ``x-api-key``
metadata; it needs the ``ingest`` scope. A body that cannot be decoded is
``INVALID_ARGUMENT``, a missing or bad key ``UNAUTHENTICATED``, a key without the scope
``PERMISSION_DENIED``, a failed write ``UNAVAILABLE`` (which exporters retry).

Needs ``grpcio`` (the ``grpc`` extra: ``pip install 'mlwarden[grpc]'``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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

    def _handler(self, ingest: Ingest, reply: Reply, what: str) -> Callable[[bytes, Any], bytes]:
        import grpc

        def handle(body: bytes, context: Any) -> bytes:
            try:
                principal = principal_for_key(self.state, _key(context.invocation_metadata()))
                principal.check(Scope.INGEST)
                rejected = ingest(self.state, principal.project, body)
            except AuthError as exc:
                context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            except ForbiddenError as exc:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
            except ValidationError as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except MlwardenError as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
            return reply(len(rejected), rejection_message(rejected, what), protobuf=True)

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
            method = grpc.unary_unary_rpc_method_handler(self._handler(ingest, reply, what))
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
