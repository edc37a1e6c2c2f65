"""Rate limits per API key (or per client address without one): token buckets by route class.

Each request takes a token from the bucket of (route class, caller). A bucket holds
``rate * burst_s`` tokens and refills at ``rate`` per second; an empty bucket answers 429 in
the server's JSON error shape with ``Retry-After`` (whole seconds until a token is back).
Route classes: ``ingest`` (POST of a model's events and actuals, OTLP traces), ``admin`` (any other change:
POST, PUT, PATCH, DELETE) and ``read`` (everything else). A rate of 0 turns a class's limit
off. The defaults (ServerSettings) are far above what one client of the SDK or the demo
sends.

Examples
--------
>>> b = TokenBucket(rate=2.0, capacity=2.0, tokens=2.0, at=0.0)
>>> b.take(0.0), b.take(0.0), b.take(0.0)
(0.0, 0.0, 0.5)
>>> b.take(0.5)
0.0
>>> route_class("POST", "/v1/models/{model}/events"), route_class("PUT", "/v1/alerting")
('ingest', 'admin')
>>> route_class("POST", "/v1/models/{model}/reference"), route_class("GET", "/ui")
('admin', 'read')
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from fastapi import Request

from mlwarden.errors import RateLimitError
from mlwarden.server.access_log import key_id_of, route_of
from mlwarden.server.services import services

__all__ = ["RateLimiter", "TokenBucket", "rate_limit", "route_class"]

#: Route templates of the ingest class (what the SDK and OpenTelemetry exporters post).
INGEST_ROUTES = frozenset(
    {
        "/v1/models/{model}/events",
        "/v1/models/{model}/actuals",
        "/v1/traces",
        "/v1/logs",
        "/v1/metrics",
    }
)
#: Buckets kept at most (the least recently used go first: a full bucket is the default).
MAX_BUCKETS = 50_000


def route_class(method: str, route: str) -> str:
    """``ingest``, ``admin`` or ``read``, from the method and the route template."""
    if method in ("GET", "HEAD", "OPTIONS"):
        return "read"
    if route in INGEST_ROUTES:
        return "ingest"
    return "admin"


@dataclass
class TokenBucket:
    rate: float
    capacity: float
    tokens: float
    at: float

    def take(self, now: float) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there is."""
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """The buckets of one app, under one lock (read-modify-write of a bucket is atomic)."""

    def __init__(self, rates: dict[str, float], *, burst_s: float) -> None:
        self.rates = rates
        self.burst_s = burst_s
        self._buckets: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, cls: str, caller: str, *, now: float | None = None) -> float:
        """Seconds the caller must wait before a request of ``cls`` (0.0: go ahead)."""
        rate = self.rates.get(cls, 0.0)
        if rate <= 0:
            return 0.0
        t = time.monotonic() if now is None else now
        key = (cls, caller)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                cap = max(1.0, rate * self.burst_s)
                bucket = self._buckets[key] = TokenBucket(rate, cap, cap, t)
                if len(self._buckets) > MAX_BUCKETS:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            return bucket.take(t)


async def rate_limit(request: Request) -> None:
    """App-wide dependency: raise :class:`RateLimitError` (429 with ``Retry-After``) when the
    caller's bucket for the route class is empty. It runs after routing, so the access log
    names the route of a refused request too; ``async`` so it costs no thread hop."""
    limiter: RateLimiter = services(request).security.limiter
    cls = route_class(request.method, route_of(request.scope))
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header[:7].lower() == "bearer " else None
    key_id = key_id_of(key or request.headers.get("x-api-key"))
    host = request.client.host if request.client else "-"
    wait = limiter.wait(cls, f"key:{key_id}" if key_id else f"addr:{host}")
    if wait <= 0:
        return
    retry = max(1, math.ceil(wait))
    who = f"API key {key_id!r}" if key_id else f"client {host}"
    raise RateLimitError(
        f"Too many {cls} requests from {who}: the limit is {limiter.rates[cls]:g} per second. "
        f"Retry after {retry} s.",
        retry_after=retry,
    )
