"""The transport seam: how a batch leaves the process (HTTP, a local store, a list in memory).

A transport sends one Arrow table of events or actuals to one model and says
what happened as an :class:`Outcome`; it never raises for delivery problems.
The delivery thread decides from the outcome whether to count the batch as
sent, keep it in the spool and retry, split it, register the model, or drop it.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from mlwarden.schema.annotation import AnnotationIn
from mlwarden.schema.spec import ModelSpec
from mlwarden.schema.version_links import VersionLink

__all__ = ["InMemoryTransport", "Outcome", "Result", "Transport"]


class Result(StrEnum):
    """What became of one batch."""

    #: The receiver took the batch (``accepted`` rows stored, ``rejected`` rows quarantined).
    OK = "ok"
    #: A transient failure (unreachable, timeout, 5xx, 408, 429): keep the batch, retry later.
    RETRY = "retry"
    #: The batch is too large for the receiver (413): split it and send the halves.
    TOO_LARGE = "too_large"
    #: The model is not registered on the receiver (404).
    MISSING_MODEL = "missing_model"
    #: A permanent failure (401, 403, 422 without per-row reasons, ...): retrying cannot help.
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """The answer of a transport for one batch."""

    result: Result
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    reason: str = ""
    #: Seconds the receiver asked us to wait (``Retry-After``), if it said.
    retry_after: float | None = None


class Transport(ABC):
    """Base class of transports; subclasses implement :meth:`send_events` and
    :meth:`send_actuals` and may implement :meth:`register_model`."""

    @abstractmethod
    def send_events(self, model: str, table: pa.Table) -> Outcome:
        """Deliver events in the flat wire layout (see :func:`mlwarden.schema.validate_table`)."""

    @abstractmethod
    def send_actuals(self, model: str, table: pa.Table) -> Outcome:
        """Deliver actuals (columns ``event_id``, ``actual``, optional ``timestamp``)."""

    def register_model(self, spec: ModelSpec) -> Outcome:
        """Register a model that the receiver does not know yet (an existing one is fine)."""
        return Outcome(Result.FAILED, reason=f"{type(self).__name__} cannot register models")

    def annotate(self, model: str, annotation: AnnotationIn) -> Outcome:
        """Store an annotation (a deploy, a note) of ``model`` on the receiver."""
        return Outcome(Result.FAILED, reason=f"{type(self).__name__} cannot store annotations")

    def link_version(self, model: str, link: VersionLink) -> Outcome:
        """Record a version of ``model`` with its experiment run link and aliases."""
        return Outcome(Result.FAILED, reason=f"{type(self).__name__} cannot record versions")

    def model_names(self) -> list[str] | None:
        """The models the receiver has, to check a name at start-up; None when it cannot say
        (unreachable, not allowed to list, or no registry)."""
        return None

    def after_fork(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Called in a forked child: drop connections and handles shared with the parent."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and files."""

    def describe(self) -> str:
        """Where the data goes, for log messages."""
        return type(self).__name__


class InMemoryTransport(Transport):
    """Keeps every batch in lists: for tests of code that logs predictions.

    Examples
    --------
    >>> import mlwarden
    >>> memory = mlwarden.InMemoryTransport()
    >>> monitor = mlwarden.init(model="churn", transport=memory)
    >>> event_id = monitor.log({"age": 41}, 1, score=0.8)
    >>> monitor.flush(5)
    True
    >>> memory.events_table("churn").column("event_id").to_pylist() == [event_id]
    True
    >>> monitor.close()
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, pa.Table]] = []
        self.actuals: list[tuple[str, pa.Table]] = []
        self.models: dict[str, ModelSpec] = {}
        self.annotations: list[tuple[str, AnnotationIn]] = []
        self.versions: list[tuple[str, VersionLink]] = []
        self._lock = threading.Lock()

    def send_events(self, model: str, table: pa.Table) -> Outcome:
        with self._lock:
            self.events.append((model, table))
        return Outcome(Result.OK, accepted=table.num_rows)

    def send_actuals(self, model: str, table: pa.Table) -> Outcome:
        with self._lock:
            self.actuals.append((model, table))
        return Outcome(Result.OK, accepted=table.num_rows)

    def register_model(self, spec: ModelSpec) -> Outcome:
        with self._lock:
            self.models.setdefault(spec.name, spec)
        return Outcome(Result.OK)

    def annotate(self, model: str, annotation: AnnotationIn) -> Outcome:
        with self._lock:
            self.annotations.append((model, annotation))
        return Outcome(Result.OK, accepted=1)

    def link_version(self, model: str, link: VersionLink) -> Outcome:
        with self._lock:
            self.versions.append((model, link))
        return Outcome(Result.OK, accepted=1)

    def events_table(self, model: str) -> pa.Table:
        """Every event batch sent to ``model``, as one table (columns unified, missing = null)."""
        return _concat([t for m, t in self.events if m == model])

    def actuals_table(self, model: str) -> pa.Table:
        """Every actual sent to ``model``, as one table."""
        return _concat([t for m, t in self.actuals if m == model])


def _concat(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return pa.table({"event_id": pa.array([], pa.string())})
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass  # a column typed differently in two batches (numbers, then text): show it as text
    types: dict[str, set[pa.DataType]] = {}
    for t in tables:
        for f in t.schema:
            types.setdefault(f.name, set()).add(f.type)
    mixed = {name for name, ts in types.items() if len(ts) > 1}

    def unified(t: pa.Table) -> pa.Table:
        fields = [(f.name, pa.string() if f.name in mixed else f.type) for f in t.schema]
        return t.cast(pa.schema(fields))

    return pa.concat_tables([unified(t) for t in tables], promote_options="permissive")
