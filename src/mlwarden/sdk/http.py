"""Send batches to an mlwarden server: Arrow IPC stream, gzip, one POST per batch."""

from __future__ import annotations

import gzip
import threading
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mlwarden.schema.annotation import AnnotationIn
from mlwarden.schema.spec import ModelSpec
from mlwarden.schema.version_links import VersionLink
from mlwarden.sdk.transport import Outcome, Result, Transport

if TYPE_CHECKING:
    import httpx

__all__ = ["HTTPTransport", "ipc_bytes"]

ARROW = "application/vnd.apache.arrow.stream"
#: Answers that mean "not now": the batch is kept and retried with backoff.
TRANSIENT = frozenset({408, 425, 429})


def ipc_bytes(table: pa.Table) -> bytes:
    """A table as an Arrow IPC stream.

    Examples
    --------
    >>> t = pa.table({"event_id": ["a"]})
    >>> pa.ipc.open_stream(ipc_bytes(t)).read_all().equals(t)
    True
    """
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


class HTTPTransport(Transport):
    """POST batches to ``{url}/v1/models/{model}/events`` (or ``/actuals``).

    ``timeout`` bounds each request (connect, write, read): a slow server turns
    into a retry from the spool, not a stuck model server. The HTTP client is
    created on first use in each process, so a forked worker opens its own
    connections. Delivery problems are outcomes, never exceptions.

    Examples
    --------
    >>> nobody = HTTPTransport("http://127.0.0.1:9", timeout=2)  # nothing listens there
    >>> nobody.send_events("churn", pa.table({"event_id": ["e1"]})).result
    <Result.RETRY: 'retry'>
    >>> nobody.close()
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        compresslevel: int = 1,
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.timeout = timeout
        self.compresslevel = compresslevel
        import httpx  # noqa: F401 - now, not at interpreter exit (when imports may fail)

        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return self.url

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                import httpx

                headers = {"user-agent": "mlwarden-sdk"}
                if self.api_key:
                    headers["authorization"] = f"Bearer {self.api_key}"
                self._client = httpx.Client(
                    base_url=self.url.rstrip("/"), headers=headers, timeout=self.timeout
                )
            return self._client

    def send_events(self, model: str, table: pa.Table) -> Outcome:
        return self._post(f"/v1/models/{model}/events", table)

    def send_actuals(self, model: str, table: pa.Table) -> Outcome:
        return self._post(f"/v1/models/{model}/actuals", table)

    def register_model(self, spec: ModelSpec) -> Outcome:
        import httpx

        try:
            r = self._http().post(
                "/v1/models",
                content=spec.model_dump_json(),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            return Outcome(Result.RETRY, reason=f"{type(exc).__name__} from {self.url}")
        if r.status_code in (200, 201, 409):  # 409: registered meanwhile with another spec
            return Outcome(Result.OK)
        return _outcome(r.status_code, _json(r), r.headers.get("retry-after"), 0)

    def annotate(self, model: str, annotation: AnnotationIn) -> Outcome:
        import httpx

        try:
            r = self._http().post(
                f"/v1/models/{model}/annotations",
                content=annotation.model_dump_json(exclude_none=True),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError as exc:
            return Outcome(Result.RETRY, reason=f"{type(exc).__name__} from {self.url}")
        return _outcome(r.status_code, _json(r), r.headers.get("retry-after"), 1)

    def link_version(self, model: str, link: VersionLink) -> Outcome:
        import httpx

        try:  # needs an admin key: the version's record is the model's registry
            r = self._http().post(f"/v1/models/{model}/versions", json=link.body())
        except httpx.HTTPError as exc:
            return Outcome(Result.RETRY, reason=f"{type(exc).__name__} from {self.url}")
        return _outcome(r.status_code, _json(r), r.headers.get("retry-after"), 1)

    def model_names(self) -> list[str] | None:
        import httpx

        try:  # a short wait: this runs at the app's start-up
            r = self._http().get("/v1/models", timeout=min(self.timeout, 5.0))
        except httpx.HTTPError:
            return None
        body = _json(r) if r.status_code == 200 else None
        if not isinstance(body, list):
            return None  # not allowed to list (an ingest-only key), or not an mlwarden server
        return [str(m["name"]) for m in body if isinstance(m, dict) and "name" in m]

    def _post(self, path: str, table: pa.Table) -> Outcome:
        import httpx

        body = gzip.compress(ipc_bytes(table), compresslevel=self.compresslevel, mtime=0)
        headers = {"content-type": ARROW, "content-encoding": "gzip"}
        try:
            r = self._http().post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:  # unreachable, reset, timeout: all transient
            return Outcome(Result.RETRY, reason=f"{type(exc).__name__} from {self.url}")
        return _outcome(r.status_code, _json(r), r.headers.get("retry-after"), table.num_rows)

    def after_fork(self) -> None:
        # The parent's sockets are left alone (closing them here could disturb the parent);
        # the child opens its own on first use.
        self._client = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


def _outcome(code: int, body: Any, retry_after: str | None, rows: int) -> Outcome:
    """Map an HTTP answer to an outcome (the server's error shape: ``{"error": {"type", ...}}``)."""
    if code in (200, 201, 207) or (code == 422 and isinstance(body, dict) and "rejected" in body):
        b = body if isinstance(body, dict) else {}
        rejected = b.get("rejected")
        return Outcome(
            Result.OK,
            accepted=int(b.get("accepted", rows)),
            rejected=len(rejected) if isinstance(rejected, list) else 0,
            duplicates=int(b.get("duplicates", 0)),
        )
    err = body.get("error") if isinstance(body, dict) else None
    kind = err.get("type", "") if isinstance(err, dict) else ""
    message = err.get("message", "") if isinstance(err, dict) else ""
    reason = f"HTTP {code}" + (f" {kind}: {message}" if kind else "")
    if code >= 500 or code in TRANSIENT:
        return Outcome(Result.RETRY, reason=reason, retry_after=_seconds(retry_after))
    if code == 413:
        return Outcome(Result.TOO_LARGE, reason=reason)
    if code == 404 and kind == "NotFoundError":
        return Outcome(Result.MISSING_MODEL, reason=reason)
    if code == 404:
        reason += " (is the URL an mlwarden server?)"
    return Outcome(Result.FAILED, reason=reason)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
