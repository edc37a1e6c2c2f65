"""The monitor handle: log predictions and labels from a model server at microsecond cost.

``log()`` does four cheap things on the calling thread: take a number from a
counter (the event id and the tally), read the clock, copy the features dict,
and append one tuple to a bounded deque. Everything else (Arrow, gzip, HTTP,
the spool) happens on two daemon threads (:mod:`mlwarden.sdk.pipeline`).
``log()`` never raises and never blocks: when the queue is full the oldest
event is dropped and counted.
"""

from __future__ import annotations

import difflib
import logging
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlwarden.errors import ConfigError, ValidationError, expected
from mlwarden.schema.spec import ModelSpec, Task, check_name
from mlwarden.schema.version_links import VersionLink
from mlwarden.sdk import lifecycle
from mlwarden.sdk.annotate import send_annotation
from mlwarden.sdk.columns import PREDICTION, SEGMENTS, EventItem, batch_table
from mlwarden.sdk.delivery import MonitorStats
from mlwarden.sdk.ids import EventIds
from mlwarden.sdk.pipeline import Pipeline
from mlwarden.sdk.spool import Spool
from mlwarden.sdk.transport import Result, Transport

__all__ = ["Monitor", "default_spool_dir"]

_now = time.time


log = logging.getLogger("mlwarden.sdk")


def default_spool_dir() -> Path:
    """``<temp dir>/mlwarden-spool-<uid>``: private to the user, survives a process restart."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"mlwarden-spool-{uid}"


class Monitor:
    """Logs one model's predictions, labels and operational events to a transport.

    Create it with :func:`mlwarden.init`. The constructor arguments are the
    configuration; the monitor starts its threads at once (it is a live
    handle, not a spec) and stops them in :meth:`close`, at exit, or on SIGTERM.

    Examples
    --------
    >>> import mlwarden
    >>> memory = mlwarden.InMemoryTransport()
    >>> monitor = mlwarden.init(model="churn", version="v2", transport=memory)
    >>> event_id = monitor.log({"age": 41, "plan": "pro"}, 1, score=0.83,
    ...                        segments={"region": "eu"}, latency_ms=3.2)
    >>> monitor.log_actual(event_id, 0)
    >>> monitor.flush(5)
    True
    >>> s = monitor.stats(); (s.logged, s.sent, s.queued, s.dropped)
    (2, 2, 0, 0)
    >>> monitor.close()
    """

    def __init__(
        self,
        model: str,
        *,
        transport: Transport,
        version: str | None = None,
        task: Task | str | None = None,
        create: bool = False,
        batch_size: int = 1000,
        flush_interval: float = 1.0,
        max_queue: int = 20_000,
        spool_dir: str | Path | None = None,
        spool_max_bytes: int = 256 * 1024 * 1024,
        max_backoff: float = 30.0,
        exit_timeout: float = 5.0,
        resource_interval: float | None = None,
    ) -> None:
        self.model = model
        self.transport = transport
        self.version = version
        self.task = task
        self.create = create
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.spool_dir = spool_dir
        self.spool_max_bytes = spool_max_bytes
        self.max_backoff = max_backoff
        self.exit_timeout = exit_timeout
        self.resource_interval = resource_interval
        self._check()
        self._check_exists()
        self._companions: dict[str, ModelSpec] = {}
        self._segments: set[str] = set()
        self._sampler: Any = None
        self._closed = False
        self._start()
        lifecycle.register(self)

    def _check(self) -> None:
        try:
            check_name(self.model, "model name")
            if self.version is not None:
                check_name(self.version, "model version")
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if self.task is not None and self.task not in {t.value for t in Task}:
            must = f"be one of {', '.join(t.value for t in Task)}"
            raise ConfigError(expected("argument", "task", must, self.task))
        if self.create and self.task is None:
            must = "be given with create=True (the task of the model to register)"
            raise ConfigError(expected("argument", "task", must, self.task))
        for name in ("batch_size", "max_queue", "spool_max_bytes"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(expected("argument", name, "be >= 1", getattr(self, name)))
        for name in ("flush_interval", "max_backoff", "exit_timeout"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(expected("argument", name, "be > 0", getattr(self, name)))

    def _check_exists(self) -> None:
        """Refuse a model the receiver does not have, unless asked to create it: a typo in the
        name must not start a new model. When the receiver cannot say (down, an ingest-only
        key, a transport without a registry) the name is checked at delivery instead, and
        still never created without ``create=True``."""
        if self.create:
            return
        names = self.transport.model_names()
        if names is None or self.model in names:
            return
        near = difflib.get_close_matches(self.model, names, n=1)
        have = ", ".join(repr(n) for n in sorted(names)[:20]) or "none"
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise ConfigError(
            f"Model {self.model!r} does not exist at {self.transport.describe()} (it has: "
            f"{have}).{hint} To register it, pass create=True with task=... to mlwarden.init, "
            "or run `mlwarden models register`."
        )

    def __repr__(self) -> str:
        return f"Monitor(model={self.model!r}, transport={self.transport.describe()!r})"

    # -- process-local runtime (rebuilt in a forked child) -------------------------------------
    def _start(self) -> None:
        self._ids = EventIds()
        self._counter = self._ids.counter
        self._prefix = self._ids.prefix
        self._actual_ids = EventIds()
        self._op_ids = EventIds()
        self._events: deque[EventItem] = deque(maxlen=self.max_queue)
        self._actuals: deque[tuple[Any, ...]] = deque(maxlen=self.max_queue)
        self._tables: deque[tuple[str, str, pa.Table]] = deque()
        self._table_rows_in = 0
        self._table_rows_out = 0
        self._table_lock = threading.RLock()  # re-entrant: SIGTERM may arrive inside log_batch
        self._wake = threading.Event()
        self._woken = False
        root = self.spool_dir if self.spool_dir is not None else default_spool_dir()
        self.spool_ = Spool(root, self.model, max_bytes=int(self.spool_max_bytes))
        self._pipeline = Pipeline(self)
        self._pipeline.start()
        if self.resource_interval is not None:
            from mlwarden.sdk.resources import ResourceSampler

            self._sampler = ResourceSampler(self, interval=self.resource_interval).start()

    def _after_fork(self) -> None:
        """In a forked child: everything new; the parent's queue stays with the parent."""
        if self._closed:
            return
        self.transport.after_fork()
        self.spool_.forget_after_fork()
        self._start()

    # -- the hot path --------------------------------------------------------------------------
    def log(
        self,
        features: Mapping[str, Any] | None,
        prediction: Any,
        *,
        score: float | None = None,
        scores: Mapping[str, float] | None = None,
        event_id: str | None = None,
        segments: Mapping[str, Any] | None = None,
        timestamp: Any = None,
        latency_ms: float | None = None,
        status: str | None = None,
        error: str | None = None,
        client_id: str | None = None,
        shadow: Mapping[str, Any] | None = None,
    ) -> str:
        """Queue one prediction and return its event id (made here unless given).

        ``features`` is copied; ``timestamp`` defaults to now (epoch seconds, a
        datetime or an ISO string); ``segments`` are tags such as region or
        tenant; ``scores`` maps class to probability for multiclass models.
        ``shadow`` maps other versions that scored the same request (challengers run in
        shadow) to their prediction, or to a ``(prediction, score)`` pair: each is logged as
        an event of that version with the same event id, features, segments and time, so the
        versions are compared on paired requests and one label (``log_actual``) serves all.
        Never raises: a call that cannot be queued is counted as dropped.

        Examples
        --------
        >>> import mlwarden
        >>> memory = mlwarden.InMemoryTransport()
        >>> monitor = mlwarden.init(model="churn", version="v1", transport=memory)
        >>> monitor.log({"age": 41}, 1, score=0.8, event_id="req-1", shadow={"v2": (0, 0.3)})
        'req-1'
        >>> monitor.close()
        >>> t = memory.events_table("churn").sort_by("version")
        >>> t.column("event_id").to_pylist(), t.column("version").to_pylist()
        (['req-1', 'req-1'], ['v1', 'v2'])
        """
        try:
            n = next(self._counter)
            if event_id is None:
                event_id = self._prefix + format(n, "x")
            if self._closed:
                self._discard()
                return event_id
            item = (
                None,
                event_id,
                _now() if timestamp is None else timestamp,
                None if features is None else dict(features),
                prediction,
                score,
                None if scores is None else dict(scores),
                None if segments is None else dict(segments),
                latency_ms,
                status,
                error,
                client_id,
                None,
            )
            shadows = self._shadow_items(item, shadow) if shadow else ()
            self._events.append(item)
            for extra in shadows:  # counted like log() calls: one event each
                next(self._counter)
                self._events.append(extra)
            if not self._woken and len(self._events) >= self.batch_size:
                self._woken = True
                self._wake.set()
            return event_id
        except Exception as exc:  # noqa: BLE001 - never break the model server
            self._pipeline.counters.discard(f"bad call to log(): {type(exc).__name__}: {exc}")
            return event_id or ""

    def _shadow_items(self, item: EventItem, shadow: Mapping[str, Any]) -> list[EventItem]:
        """The shadow versions' predictions of the request ``item`` logs, checked before
        anything is queued (a bad version drops the whole call)."""
        out = []
        for version, pred_score in shadow.items():
            check_name(version, "shadow version")
            if version == (self.version or "default"):
                raise ConfigError(
                    expected("key", "shadow", "name a version other than the monitor's", version)
                )
            pred, score = pred_score if isinstance(pred_score, tuple) else (pred_score, None)
            # the shadow's own latency is unknown: not the champion's
            out.append(
                item[:PREDICTION]
                + (pred, score, None, item[SEGMENTS], None)
                + item[SEGMENTS + 2 :]
                + (version,)
            )
        return out

    def _log_item(self, item: EventItem) -> None:
        """Queue a prepared item (the middleware, the resource sampler); counted like ``log``."""
        next(self._counter)
        if self._closed:
            self._discard()
            return
        self._events.append(item)
        if not self._woken and len(self._events) >= self.batch_size:
            self._woken = True
            self._wake.set()

    def _discard(self) -> None:
        self._pipeline.counters.discard("logged after close()")

    def _new_id(self) -> str:
        """An id for an item queued with :meth:`_log_item` (its own counter: ``_counter``
        counts queued events, one per ``log`` or ``_log_item`` call)."""
        return self._op_ids.next()

    def log_actual(self, event_id: str, actual: Any, *, timestamp: Any = None) -> None:
        """Queue the ground truth of a logged event (joined on the server by ``event_id``).

        Examples
        --------
        >>> import mlwarden
        >>> memory = mlwarden.InMemoryTransport()
        >>> monitor = mlwarden.init(model="churn", transport=memory)
        >>> monitor.log_actual("req-1", 1)
        >>> monitor.close()
        >>> memory.actuals_table("churn").column("actual").to_pylist()
        [1]
        """
        next(self._actual_ids.counter)
        if self._closed:
            self._pipeline.counters.discard("logged after close()", actual=True)
            return
        self._actuals.append((None, event_id, actual, _now() if timestamp is None else timestamp))

    def log_batch(
        self,
        data: Any,
        *,
        prediction: str | None = "prediction",
        score: str | None = None,
        event_id: str | None = None,
        timestamp: str | None = None,
        features: Sequence[str] | None = None,
        segments: Sequence[str] = (),
        actual: str | None = None,
    ) -> list[str]:
        """Queue a whole batch: a pandas or polars DataFrame or a pyarrow Table, one row per
        prediction. Arguments name the columns that hold each role; ``features`` defaults to
        every other column. Returns the event ids (made here unless ``event_id`` names a column).

        Examples
        --------
        >>> import mlwarden, pandas as pd
        >>> memory = mlwarden.InMemoryTransport()
        >>> monitor = mlwarden.init(model="churn", transport=memory)
        >>> df = pd.DataFrame({"age": [41, 29], "prediction": [1, 0], "label": [1, 1]})
        >>> ids = monitor.log_batch(df, actual="label")
        >>> monitor.close()
        >>> memory.events_table("churn").column_names
        ['event_id', 'timestamp', 'prediction', 'age']
        >>> memory.actuals_table("churn").column("event_id").to_pylist() == ids
        True
        """
        try:
            events, actuals = batch_table(
                data,
                ids=self._ids.batch,
                prediction=prediction,
                score=score,
                event_id=event_id,
                timestamp=timestamp,
                features=features,
                segments=segments,
                actual=actual,
                version=self.version,
                now=_now(),
            )
        except KeyError as exc:
            raise ValidationError(str(exc.args[0])) from exc
        self._segments.update(segments)
        with self._table_lock:
            self._tables.append(("events", self.model, events))
            self._table_rows_in += events.num_rows
            if actuals is not None and actuals.num_rows:
                self._tables.append(("actuals", self.model, actuals))
                self._table_rows_in += actuals.num_rows
        self._wake.set()
        ids: list[str] = events.column("event_id").to_pylist()
        return ids

    def annotate(
        self,
        text: str,
        *,
        kind: str = "note",
        at: datetime | None = None,
        end: datetime | None = None,
        author: str = "",
    ) -> bool:
        """Mark ``text`` at ``at`` (default now) on the model's charts: ``kind`` is deploy,
        note, incident, config or data. Sent at once; never raises: False when it was not
        stored (the reason is logged). See :func:`mlwarden.sdk.annotate.send_annotation`."""
        return send_annotation(
            self.transport, self.model, text, kind=kind, at=at, end=end, author=author
        )

    def link_version(
        self,
        version: str | None = None,
        *,
        run_url: str | None = None,
        aliases: Sequence[str] = (),
        description: str = "",
    ) -> bool:
        """Record ``version`` (default: this monitor's) with the experiment run it came from
        (an MLflow or W&B run URL) and its aliases; the incident and compare pages link to the
        run. Sent at once (an ``admin`` key); never raises: False when it was not stored (the
        reason is logged).

        Examples
        --------
        >>> import mlwarden
        >>> memory = mlwarden.InMemoryTransport()
        >>> monitor = mlwarden.init(model="churn", version="v2", transport=memory)
        >>> monitor.link_version(run_url="https://wandb.ai/acme/churn/runs/1x2y")
        True
        >>> monitor.link_version(run_url="not a url")  # logged, not raised
        False
        >>> [(m, v.version, v.run_url) for m, v in memory.versions]
        [('churn', 'v2', 'https://wandb.ai/acme/churn/runs/1x2y')]
        >>> monitor.close()
        """
        name = version or self.version
        try:
            if name is None:
                raise ValueError("The 'version' argument must be given (the monitor has none).")
            link = VersionLink(
                name, run_url=run_url, aliases=tuple(aliases), description=description
            )
        except ValueError as exc:
            log.warning("mlwarden: version of %r not recorded: %s", self.model, exc)
            return False
        try:
            outcome = self.transport.link_version(self.model, link)
        except Exception:  # noqa: BLE001 - the SDK never raises into the application
            log.exception("mlwarden: recording version %r of %r failed", name, self.model)
            return False
        if outcome.result is not Result.OK:
            log.warning(
                "mlwarden: version %r of %r not recorded by %s: %s",
                name,
                self.model,
                self.transport.describe(),
                outcome.reason or outcome.result.value,
            )
            return False
        return True

    # -- control -------------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Send what is queued, and try the spool once, waiting at most ``timeout`` seconds.

        True when nothing is left in memory or on disk (everything was sent, or dropped for a
        reason :meth:`stats` reports).

        Examples
        --------
        >>> import mlwarden
        >>> monitor = mlwarden.init(model="churn", transport=mlwarden.InMemoryTransport())
        >>> _ = monitor.log({"age": 41}, 1)
        >>> monitor.flush(timeout=5), monitor.stats().sent
        (True, 1)
        >>> monitor.close()
        """
        if self._closed:
            return self.spool_.rows() == 0
        done = self._pipeline.flush(timeout)
        return done and self.spool_.rows() == 0 and self._queued() == 0

    def close(self, timeout: float | None = None) -> None:
        """Flush (at most ``timeout``, default ``exit_timeout`` seconds), spool what is left,
        stop the threads. Idempotent; called at exit and on SIGTERM."""
        if self._closed:
            return
        self._closed = True
        if self._sampler is not None:
            self._sampler.stop()
        self._pipeline.stop(self.exit_timeout if timeout is None else timeout)
        self.spool_.close()
        self.transport.close()
        lifecycle.unregister(self)

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _queued(self) -> int:
        with self._table_lock:
            tables = self._table_rows_in - self._table_rows_out
        return len(self._events) + len(self._actuals) + tables + self._pipeline.pending_rows()

    def stats(self) -> MonitorStats:
        """Rows logged, queued, sent, rejected by the receiver, spooled, and dropped (by reason).

        At rest ``logged == queued + sent + rejected + spooled + dropped``.
        """
        p = self._pipeline
        c = p.counters
        drops = dict(c.drops)
        overflow = p.overflow()
        if overflow:
            drops["queue full"] = overflow
        with self._table_lock:
            table_rows = self._table_rows_in
        logged = self._ids.issued() + self._actual_ids.issued() + c.extra_logged + table_rows
        return MonitorStats(
            logged=logged,
            queued=self._queued(),
            sent=c.sent,
            rejected=c.rejected,
            spooled=self.spool_.rows(),
            dropped=sum(drops.values()),
            drop_reasons=drops,
        )

    # -- companion models ----------------------------------------------------------------------
    def _companion(self, spec: ModelSpec) -> str:
        """Declare a model the SDK registers on first use (``<model>.requests``, ...)."""
        self._companions[spec.name] = spec
        return spec.name

    def _spec_for(self, dest: str, table: pa.Table) -> ModelSpec | None:
        if dest in self._companions:
            return self._companions[dest]
        if dest == self.model and self.task is not None and self.create:
            return ModelSpec(name=self.model, task=Task(self.task), segments=sorted(self._segments))
        return None
