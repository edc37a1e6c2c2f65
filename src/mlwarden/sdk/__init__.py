"""The client side: log predictions, labels and operational events from any model server.

``mlwarden.init(...)`` returns a :class:`Monitor`; ``monitor.log(...)`` costs
about a microsecond on the calling thread. Batches travel as gzip Arrow IPC to
the server (or straight into a local store, or into memory for tests), with an
on-disk spool and retries when the server is away. Middlewares for ASGI
(FastAPI, Starlette) and WSGI (Flask) log every request; an optional sampler
logs CPU, memory and GPU use.
"""

from mlwarden.sdk.asgi import ASGIMiddleware
from mlwarden.sdk.config import ENV, init
from mlwarden.sdk.delivery import MonitorStats
from mlwarden.sdk.http import HTTPTransport
from mlwarden.sdk.local import LocalTransport
from mlwarden.sdk.monitor import Monitor
from mlwarden.sdk.transport import InMemoryTransport, Outcome, Result, Transport
from mlwarden.sdk.wsgi import WSGIMiddleware

__all__ = [
    "ENV",
    "ASGIMiddleware",
    "HTTPTransport",
    "InMemoryTransport",
    "LocalTransport",
    "Monitor",
    "MonitorStats",
    "Outcome",
    "Result",
    "Transport",
    "WSGIMiddleware",
    "init",
]
