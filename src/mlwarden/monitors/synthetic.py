"""Synthetic probes: the server calls each model endpoint declared as a probe every
``interval_s`` and stores what happened; the same job evaluates the SLOs.

:func:`run_probe` sends one probe: the host is resolved once and every address checked by the
destination policy (the one alerting webhooks and the LLM judge pass: public addresses, or
what the operator allowed); the request goes to a checked address (the URL's host kept in
``Host`` and for TLS), redirects are not followed, at most :data:`MAX_BODY_BYTES` of the answer
are read. A refused destination is a failed probe that made no connection.

:class:`ProbeJob` runs on a daemon thread of its own, never under the scheduler's lock: every
``tick`` it sends the probes that are due (a few at a time, each within its own timeout) and
stores their results; every ``every`` seconds it evaluates each model's SLOs and hands the
results to the incident hook. ``stop`` returns promptly: probes in flight are left behind.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING, Any, Protocol, Self

from mlwarden.errors import MlwardenError, UnsupportedByEngineError
from mlwarden.monitors.scheduler import StoreJobs
from mlwarden.monitors.slo import STEP, evaluate_slos, slo_results
from mlwarden.schema.slo import ProbeSpec

if TYPE_CHECKING:
    import httpx

    from mlwarden.monitors.service import OnResults
    from mlwarden.store.base import Store

__all__ = ["MAX_BODY_BYTES", "Destinations", "ProbeJob", "ProbeOutcome", "check_body", "run_probe"]

log = logging.getLogger("mlwarden.server")
#: The most of an answer a probe reads (the body check sees only this much).
MAX_BODY_BYTES = 1_048_576
#: Probes sent at once.
PARALLEL = 4


class Destinations(Protocol):
    """Where the server may connect (:class:`mlwarden.incidents.channels.policy.AlertingPolicy`
    is one): the checked addresses of a host, or :class:`~mlwarden.errors.ConfigError`."""

    def addresses(self, host: str, port: int) -> list[IPv4Address | IPv6Address]: ...


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe sent at ``at``: the HTTP status (None without an answer), the time to the
    whole answer, whether it passed and why not."""

    probe: str
    at: datetime
    status_code: int | None
    latency_ms: float | None
    ok: bool
    error: str = ""

    def to_row(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "at": self.at,
            "status_code": self.status_code,
            "latency_ms": self.latency_ms,
            "ok": self.ok,
            "error": self.error,
        }


def _at_path(doc: Any, path: str) -> tuple[bool, Any]:
    for part in path.split("."):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif (
            isinstance(doc, list)
            and part.lstrip("-").isdigit()
            and -len(doc) <= int(part) < len(doc)
        ):
            doc = doc[int(part)]
        else:
            return False, None
    return True, doc


def check_body(spec: ProbeSpec, body: bytes) -> str:
    """Why ``body`` fails the probe's body check ("" when it passes or there is none).

    Examples
    --------
    >>> spec = ProbeSpec.from_dict({"name": "p", "url": "http://h/", "json_path": "out.0.label",
    ...                             "json_equals": "spam"})
    >>> check_body(spec, b'{"out": [{"label": "spam"}]}')
    ''
    >>> check_body(spec, b'{"out": [{"label": "ham"}]}')
    "The JSON value at 'out.0.label' is 'ham', not 'spam'."
    """
    if spec.body_contains is not None:
        if spec.body_contains.encode() not in body:
            return f"The answer does not contain {spec.body_contains!r}."
        return ""
    if spec.json_path is None:
        return ""
    try:
        doc = json.loads(body)
    except ValueError:
        return "The answer is not JSON."
    found, value = _at_path(doc, spec.json_path)
    if not found:
        return f"The answer has no JSON value at {spec.json_path!r}."
    if value != spec.json_equals or isinstance(value, bool) != isinstance(spec.json_equals, bool):
        return f"The JSON value at {spec.json_path!r} is {value!r}, not {spec.json_equals!r}."
    return ""


def run_probe(
    spec: ProbeSpec, *, now: datetime, policy: Destinations, client: httpx.Client | None = None
) -> ProbeOutcome:
    """Send ``spec`` once (see the module docstring); the outcome is stamped ``now``.

    ``client``: an open client to send with (one is made and closed otherwise); it must not
    follow redirects."""
    import httpx

    if client is None:
        with httpx.Client(follow_redirects=False) as own:
            return run_probe(spec, now=now, policy=policy, client=own)

    url = httpx.URL(spec.url)
    port = url.port or {"http": 80, "https": 443}[url.scheme]

    def failed(error: str, code: int | None = None, ms: float | None = None) -> ProbeOutcome:
        return ProbeOutcome(spec.name, now, code, ms, False, error)

    try:
        addresses = policy.addresses(url.host, port)
    except MlwardenError as exc:
        return failed(str(exc))
    host = url.host if ":" not in url.host else f"[{url.host}]"
    headers = {**spec.headers, "Host": host if url.port is None else f"{host}:{url.port}"}
    extensions: dict[str, Any] = {"sni_hostname": url.host} if url.scheme == "https" else {}
    started = time.perf_counter()
    for ip in addresses:  # the next address only when this one refused to connect
        pinned = url.copy_with(host=str(ip))
        try:
            with client.stream(
                spec.method,
                pinned,
                content=spec.body.encode() if spec.body is not None else None,
                headers=headers,
                extensions=extensions,
                timeout=spec.timeout_s,
                follow_redirects=False,
            ) as response:
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) >= MAX_BODY_BYTES:
                        break
                code = response.status_code
            break
        except httpx.ConnectError:
            continue
        except httpx.TimeoutException:
            return failed(f"No answer within {spec.timeout_s:g} s.")
        except httpx.TransportError as exc:
            return failed(f"The request failed: {type(exc).__name__}.")
    else:
        return failed(f"No connection to {host}:{port}.")
    ms = (time.perf_counter() - started) * 1000.0
    if code != spec.expect_status:
        return failed(f"HTTP {code}, expected {spec.expect_status}.", code, ms)
    why = check_body(spec, body[:MAX_BODY_BYTES])
    if why:
        return failed(why, code, ms)
    return ProbeOutcome(spec.name, now, code, ms, True)


class ProbeJob:
    """Probes and SLO evaluation on a daemon thread (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        jobs: StoreJobs,
        policy: Destinations,
        every: float,
        tick: float = 1.0,
        on_results: OnResults | None = None,
        leading: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.policy = policy
        self.every = every
        self.tick = tick
        self.on_results = on_results
        #: asked before each round: several servers on one database, only the leader probes
        self.leading = leading
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._client: httpx.Client | None = None
        self.last_run_: dict[tuple[str, str, str], datetime] = {}
        self.evaluated_at_: datetime | None = None

    def start(self) -> Self:
        if self.every > 0:
            self._pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="mlwarden-probe")
            self._thread = threading.Thread(target=self._loop, name="mlwarden-probes", daemon=True)
            self._thread.start()
        return self

    def stop(self, *, grace: float = 5.0) -> None:
        """No new probes; waits at most ``grace`` seconds for the job to notice."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(grace)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None and (self._thread is None or not self._thread.is_alive()):
            self._client.close()

    def _http(self) -> httpx.Client:
        """The job's client (connections kept between rounds), made on first use."""
        if self._client is None:
            import httpx

            self._client = httpx.Client(follow_redirects=False)
        return self._client

    def _stopped(self) -> bool:
        return self._stopping.is_set() or self.jobs.stopping.is_set()

    def _loop(self) -> None:
        while not self._stopping.wait(self.tick):
            now = datetime.now(UTC)
            try:
                if self.leading is not None and not self.leading():
                    continue
                self.run_due(now=now)
                if (
                    self.evaluated_at_ is None
                    or (now - self.evaluated_at_).total_seconds() >= self.every
                ):
                    self.evaluate(now=now)
                    self.evaluated_at_ = now
            except UnsupportedByEngineError as exc:  # the engine has no probe tables: stop
                log.warning("probes and SLOs are off: %s", exc)
                return
            except Exception:  # noqa: BLE001 - keep serving; the next round retries
                log.exception("the probe job failed")

    def due(self, *, now: datetime) -> list[tuple[str, str, ProbeSpec]]:
        """(project, model, probe) of every probe whose interval has passed."""
        out = []
        for project, model, name, text in self.store.list_probes():
            spec = ProbeSpec.from_dict(json.loads(text))
            last = self.last_run_.get((project, model, name))
            if last is None or now - last >= timedelta(seconds=spec.interval_s):
                out.append((project, model, spec))
        return out

    def run_due(self, *, now: datetime) -> int:
        """Send the due probes, stamped ``now``; returns how many results were stored."""
        due = self.due(now=now)
        if not due or self._stopped():
            return 0
        for project, model, spec in due:
            self.last_run_[(project, model, spec.name)] = now

        client = self._http()

        def one(item: tuple[str, str, ProbeSpec]) -> ProbeOutcome:
            return run_probe(item[2], now=now, policy=self.policy, client=client)

        if self._pool is not None:
            outcomes: Sequence[ProbeOutcome] = list(self._pool.map(one, due))
        else:
            outcomes = [one(d) for d in due]
        stored = 0
        by_model: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for (project, model, _), outcome in zip(due, outcomes, strict=True):
            by_model.setdefault((project, model), []).append(outcome.to_row())
        for (project, model), rows in by_model.items():
            if self._stopped():
                break

            def store_them(p: str = project, m: str = model, r: list[dict[str, Any]] = rows) -> int:
                n: int = self.store.append_probe_results(p, m, r)
                return n

            stored += self.jobs.call(store_them) or 0
        return stored

    def evaluate(self, *, now: datetime) -> int:
        """Evaluate every model's SLOs at ``now`` and hand the results to the incident hook;
        returns how many SLOs were evaluated."""
        n = 0
        for project, model, _ in self.store.list_slo_specs():
            if self._stopped():
                break
            statuses = evaluate_slos(self.store, project, model, now=now)
            n += len(statuses)
            if statuses and self.on_results is not None:
                hook: Callable[..., None] = self.on_results
                hook(project, model, [r for s in statuses for r in slo_results(s)], STEP)
        return n
