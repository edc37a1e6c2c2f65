"""Where the spans of :mod:`mlwarden.sdk.llm` go: a list in memory, or an OTLP/HTTP receiver.

:class:`OTLPExporter` batches spans on one background thread and POSTs them as
gzip OTLP/JSON to ``<url>/v1/traces`` (an mlwarden server, or any OTLP
receiver), retrying a few times with backoff and then dropping (and counting)
a batch, so a missing server never slows or breaks the app.

Examples
--------
>>> from mlwarden.schema.otlp import SpanData
>>> ex = InMemoryExporter()
>>> ex.export(SpanData("ab" * 16, "cd" * 8, "step", 1, 2))
>>> [s.name for s in ex.spans], ex.flush()
(['step'], True)
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import queue
import threading
import time
from typing import Any

# Imported here, on the thread that imports the SDK, never first on the exporter thread: an
# import running on a background thread is visible half-done in ``sys.modules``, and a library
# probing ``sys.modules["httpx"]`` at that moment (openai 3.x does) breaks the app's call.
import httpx

from mlwarden.schema.otlp import SpanData, encode_json
from mlwarden.sdk.llm_guard import FAULTS

__all__ = ["InMemoryExporter", "OTLPExporter", "SpanExporter"]

log = logging.getLogger("mlwarden.sdk.llm")


class SpanExporter:
    """Where finished spans go."""

    def export(self, span: SpanData) -> None:
        raise NotImplementedError

    def export_score(self, score: dict[str, Any]) -> None:
        """Send a trace score (an item of ``POST /v1/llm/scores``); by default dropped."""

    def flush(self, timeout: float = 10.0) -> bool:
        return True

    def shutdown(self) -> None:
        self.flush()


class InMemoryExporter(SpanExporter):
    """Keeps spans in :attr:`spans` (tests, notebooks)."""

    def __init__(self) -> None:
        self.spans: list[SpanData] = []
        self.scores: list[dict[str, Any]] = []

    def export(self, span: SpanData) -> None:
        self.spans.append(span)

    def export_score(self, score: dict[str, Any]) -> None:
        self.scores.append(score)


class OTLPExporter(SpanExporter):
    """Batches spans on a background thread and POSTs them as gzip OTLP/JSON.

    ``url``: the mlwarden server (or any OTLP/HTTP receiver), ``/v1/traces`` is appended;
    default ``MLWARDEN_URL`` or http://127.0.0.1:8000. ``api_key``: default
    ``MLWARDEN_API_KEY``. A batch goes out at ``max_batch`` spans or every ``interval``
    seconds; a failed POST is retried ``retries`` times with backoff, then dropped and counted
    in :attr:`dropped_`. Trace scores (:meth:`export_score`) share the queue and the thread and
    go to ``<url>/v1/llm/scores`` as JSON (counted in the same :attr:`sent_` / :attr:`dropped_`).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        service_name: str | None = None,
        max_batch: int = 512,
        interval: float = 1.0,
        max_queue: int = 10_000,
        timeout: float = 10.0,
        retries: int = 3,
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.service_name = service_name
        self.max_batch = max_batch
        self.interval = interval
        self.max_queue = max_queue
        self.timeout = timeout
        self.retries = retries
        self.sent_ = 0
        self.dropped_ = 0
        self._lock = threading.Lock()
        self._pid = -1
        self._q: queue.Queue[SpanData | dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    @property
    def base_url(self) -> str:
        base = self.url or os.environ.get("MLWARDEN_URL") or "http://127.0.0.1:8000"
        return base.rstrip("/")

    @property
    def endpoint(self) -> str:
        return self.base_url + "/v1/traces"

    def _start(self) -> None:
        if self._pid == os.getpid() and self._thread is not None:
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None:
                return
            self._pid, self._pending = os.getpid(), 0
            self._q = queue.Queue(maxsize=self.max_queue)
            # built here, on the app's thread, so the exporter thread imports nothing
            self._client = httpx.Client(timeout=self.timeout)
            self._thread = threading.Thread(target=self._run, name="mlwarden-spans", daemon=True)
            self._thread.start()

    def export(self, span: SpanData) -> None:
        self._enqueue(span)

    def export_score(self, score: dict[str, Any]) -> None:
        self._enqueue(score)

    def _enqueue(self, item: SpanData | dict[str, Any]) -> None:
        self._start()
        with self._lock:
            try:
                self._q.put_nowait(item)
            except queue.Full:
                self.dropped_ += 1
                return
            self._pending += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued span was sent (or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))
        return True

    def shutdown(self) -> None:
        self.flush()
        if self._thread is not None and self._pid == os.getpid():
            self._q.put(None)
            self._thread.join(5.0)
            self._thread = None

    def _run(self) -> None:
        client = self._client
        assert client is not None
        headers = {"content-type": "application/json", "content-encoding": "gzip"}
        key = self.api_key or os.environ.get("MLWARDEN_API_KEY")
        if key:
            headers["authorization"] = f"Bearer {key}"
        resource = {
            "service.name": self.service_name or os.environ.get("OTEL_SERVICE_NAME") or "llm-app"
        }
        with client:
            while True:
                first = self._q.get()
                if first is None:
                    return
                batch = [first]
                deadline = time.monotonic() + self.interval
                while len(batch) < self.max_batch:
                    try:
                        item = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if item is None:
                        self._send_all(client, batch, headers, resource)
                        return
                    batch.append(item)
                self._send_all(client, batch, headers, resource)

    def _send_all(
        self,
        client: httpx.Client,
        batch: list[SpanData | dict[str, Any]],
        headers: dict[str, str],
        resource: dict[str, Any],
    ) -> None:
        spans = [x for x in batch if isinstance(x, SpanData)]
        scores = [x for x in batch if not isinstance(x, SpanData)]
        if spans:
            self._send(client, spans, headers, resource)
        if scores:
            try:
                body = json.dumps(scores).encode()
            except Exception as exc:  # noqa: BLE001 - a score we cannot encode is dropped
                FAULTS.record("score encoding", exc)
                body = b""
            plain = {k: v for k, v in headers.items() if k != "content-encoding"}
            self._post(client, self.base_url + "/v1/llm/scores", body, plain, len(scores))

    def _send(
        self,
        client: httpx.Client,
        batch: list[SpanData],
        headers: dict[str, str],
        resource: dict[str, Any],
    ) -> None:
        try:
            body = gzip.compress(encode_json(batch, resource=resource, scope="mlwarden.sdk.llm"), 1)
        except Exception as exc:  # noqa: BLE001 - a span we cannot encode is dropped, not fatal
            FAULTS.record("span encoding", exc)
            body = b""
        self._post(client, self.endpoint, body, headers, len(batch))

    def _post(
        self, client: httpx.Client, url: str, body: bytes, headers: dict[str, str], n: int
    ) -> None:
        """POST ``body`` (``n`` spans or scores; empty: drop them) with retries, and count."""
        ok = False
        for attempt in range(self.retries + 1 if body else 0):
            try:
                r = client.post(url, content=body, headers=headers)
            except Exception as exc:  # noqa: BLE001 - any transport failure is retried
                log.debug("span export failed: %s", exc)
            else:
                if r.status_code < 300:
                    ok = True
                    break
                if r.status_code not in (408, 429) and r.status_code < 500:
                    log.warning("span export refused (%d): %s", r.status_code, r.text[:200])
                    break
            if attempt < self.retries:
                time.sleep(min(0.25 * 2**attempt, 5.0))
        with self._idle:
            if ok:
                self.sent_ += n
            else:
                self.dropped_ += n
            self._pending -= n
            self._idle.notify_all()
