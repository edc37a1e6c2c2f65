"""What a monitor is: configuration in, a result per window out.

A monitor kind is one class in one file, registered in :data:`MONITORS` by its
``kind``. Constructor arguments are the configuration (stored verbatim, no
logic in ``__init__``); what it learns from the reference lives in attributes
ending in ``_`` and is serialised with it, so a monitor round-trips through
JSON and YAML. Each kind declares the aggregates it needs from the store
(:mod:`mlwarden.monitors.aggregates`), the statistic it computes, its default
threshold policy, its severity and the objective it traces to.

Failure is a status, never a NaN: an empty window is ``no_data``, one too
small for a verdict is ``insufficient_data``, each with a reason.
"""

from __future__ import annotations

import inspect
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Self

from mlwarden._registry import Registry
from mlwarden.errors import ConfigError

if TYPE_CHECKING:
    from mlwarden.monitors.context import Calibration, FitContext, WindowData
    from mlwarden.schema.spec import ModelSpec
    from mlwarden.store.aggregates import Request

__all__ = [
    "MONITORS",
    "Monitor",
    "Objective",
    "Result",
    "Severity",
    "Status",
    "ThresholdPlan",
    "plain_text",
]


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    ALERT = "alert"
    NO_DATA = "no_data"
    INSUFFICIENT_DATA = "insufficient_data"

    @property
    def firing(self) -> bool:
        return self is Status.ALERT


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Objective(StrEnum):
    """The eight things practitioners monitor (survey Table II)."""

    PERFORMANCE = "model_performance"
    DATA = "data_quality_and_drift"
    LATENCY = "response_time"
    RESOURCES = "resource_utilisation"
    RELIABILITY = "system_reliability"
    SECURITY = "security_and_privacy"
    FAIRNESS = "fairness_and_bias"
    COST = "cost"


@dataclass(frozen=True)
class Result:
    """One monitor on one window (and segment)."""

    monitor: str
    kind: str
    window_start: datetime
    window_end: datetime
    status: Status
    value: float | None = None
    threshold: float | None = None
    warn: float | None = None
    n: int = 0
    column: str | None = None
    segment: str | None = None
    reason: str = ""
    #: direction of the alert: "above" (value > threshold) or "below"
    direction: str = "above"
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "kind": self.kind,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "status": self.status.value,
            "value": self.value,
            "threshold": self.threshold,
            "warn": self.warn,
            "n": self.n,
            "column": self.column,
            "segment": self.segment,
            "reason": self.reason,
            "direction": self.direction,
            "details": self.details,
        }


@dataclass(frozen=True)
class ThresholdPlan:
    """How a monitor decides, as the set-up plan shows it.

    ``threshold`` / ``warn`` are the levels at the plan's window size (None when each window's
    data sets them: then ``how`` says how); ``reference`` is the reference value they derive
    from, if any; ``false_alerts_per_month`` the alerts expected in 30 days when nothing has
    changed (0 for a fixed limit a healthy model never reaches).
    """

    how: str
    threshold: float | None = None
    warn: float | None = None
    direction: str = "above"
    reference: float | None = None
    false_alerts_per_month: float | None = None
    #: The statistic compared and how its null law was found, for calibrated drift kinds.
    statistic: str = ""
    method: str = ""


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_EMPHASIS = re.compile(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")


def plain_text(doc: str, *, limit: int = 320) -> str:
    r"""The first paragraph of a docstring as plain text in whole sentences: reStructuredText
    markup taken out, lines joined, cut after the last sentence that fits in ``limit``.

    Examples
    --------
    >>> plain_text("Above ``max_ms`` *and* slow (see :class:`Latency`).\n  Second line.\n\nMore.")
    'Above max_ms and slow (see Latency). Second line.'
    """
    para = doc.strip().split("\n\n")[0]
    text = " ".join(para.split())
    text = _ROLE.sub(lambda m: m[1].rsplit(".", 1)[-1], text).replace("``", "")
    text = _EMPHASIS.sub(r"\1", text)
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        if kept and len(kept) + 1 + len(sentence) > limit:
            break
        kept = f"{kept} {sentence}".strip()
    return kept


class Monitor(ABC):
    """Base of every monitor kind.

    Subclasses set ``kind``, ``objective``, ``family``, ``tab``, ``batch``, ``severity`` and
    ``statistic`` and implement :meth:`requests` (the aggregates needed), :meth:`fit` (learn
    from the reference) and :meth:`evaluate` (one window's data to a result).
    """

    kind: ClassVar[str]
    objective: ClassVar[Objective]
    #: The problem a firing of it describes (see :mod:`mlwarden.monitors.taxonomy`): "drift",
    #: "quality", "performance", "latency", "errors", "traffic", "resources", "fairness",
    #: "security", "cost", or the kind itself for a kind in a family of its own. Incidents are
    #: named after it and grouped by it; root cause reads the "quality" family as causes.
    family: ClassVar[str]
    #: The model page's tab that shows its results (a key of the UI's tab names).
    tab: ClassVar[str]
    #: Judged by a batch report (a file of rows has no traffic, latency, errors, hosts or
    #: clients, and its ids are row numbers; an LLM app's spans are not rows of a file).
    batch: ClassVar[bool]
    severity: ClassVar[Severity] = Severity.MEDIUM
    statistic: ClassVar[str] = ""
    #: Fewest rows for a verdict; fewer gives ``insufficient_data``.
    min_rows: ClassVar[int] = 30
    #: What the monitor reads: the model's ``events``, or the trace ``spans`` of an LLM app
    #: (those have no event segments: they are judged for the whole model only).
    source: ClassVar[str] = "events"
    #: Its own evaluation window ('30d'), longer than the suite's cadence, for kinds that take
    #: a ``window`` parameter (slow ones: labelled performance, fairness); None: the cadence.
    window: str | None = None
    #: It calls out to the network for its verdicts (an LLM judge): the scheduler evaluates it
    #: on what was fetched already, and the judge job (:mod:`mlwarden.monitors.judging`) makes
    #: the calls on a thread of its own, so no evaluation waits on a slow endpoint.
    calls_out: ClassVar[bool] = False

    # -- configuration ----------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self.param_names()}

    @property
    def id(self) -> str:
        """Stable identity within a model: kind plus its target column, if any."""
        column = getattr(self, "column", None)
        return f"{self.kind}:{column}" if column else self.kind

    @property
    def per_segment(self) -> bool:
        """Fitted and evaluated for each segment value too (not what belongs to the serving
        hosts, nor what costs too much to fit per segment, nor an LLM app's spans)."""
        return self.source == "events"

    def learned(self) -> dict[str, Any]:
        """What :meth:`fit` learned, JSON-ready (attributes ending in ``_``)."""
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def to_dict(self, *, state: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, **self.get_params()}
        if state:
            out["state"] = self.state_to_dict()
        return out

    def state_to_dict(self) -> dict[str, Any]:
        """Serialised learned state; kinds with rich state override this and :meth:`load_state`."""
        return dict(self.learned())

    def load_state(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Monitor:
        data = dict(data)
        kind = data.pop("kind", None)
        state = data.pop("state", None)
        klass = MONITORS.get(str(kind))
        allowed = set(klass.param_names())
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(
                f"The monitor of kind {kind!r} has no parameter {unknown[0]!r}; its parameters are "
                f"{', '.join(sorted(allowed)) or '(none)'}."
            )
        try:
            mon = klass(**data)
        except TypeError as exc:
            raise ConfigError(f"The monitor of kind {kind!r} is not valid: {exc}") from exc
        if state:
            mon.load_state(state)
        return mon

    def clone(self) -> Self:
        """A fresh, unfitted monitor with the same configuration."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Monitor)
            and type(other) is type(self)
            and other.to_dict() == self.to_dict()
        )

    def __hash__(self) -> int:
        return hash(self.id)

    # -- behaviour ---------------------------------------------------------------------------
    def check(self, spec: ModelSpec, *, where: str) -> None:
        """Refuse a configuration that can never fit this model (a KPI's expression naming a
        column the model lacks), raised when a spec is applied with its path ``where``
        (``monitors[2]``) instead of the monitor being skipped at fit. Most kinds have
        nothing to check before they see the reference."""
        del spec, where

    @abstractmethod
    def requests(self) -> list[Request]:
        """Aggregates this monitor reads from a window."""

    @abstractmethod
    def fit(self, ctx: FitContext) -> Self:
        """Learn baselines and thresholds from the reference."""

    @abstractmethod
    def evaluate(self, data: WindowData) -> Result:
        """Turn one window's aggregates into a result."""

    def explain(self) -> str:
        """What is watched and why, in whole sentences of plain text (for the set-up plan)."""
        doc = type(self).__doc__ or ""
        return plain_text(doc) if doc.strip() else self.kind

    def window_length(self) -> timedelta | None:
        """The monitor's own evaluation window, when it has one (see :attr:`window`)."""
        if self.window is None:
            return None
        from mlwarden.monitors.suite import parse_cadence  # the suite imports this module

        return parse_cadence(self.window)

    def calibration_of(self, ctx: FitContext) -> Calibration:
        """The fit context's calibration, for windows of the monitor's own length if it has
        one (fewer windows a month: each may spend more of the false-alarm budget)."""
        length = self.window_length()
        cal = ctx.calibration
        return cal if length is None else replace(cal, cadence_s=length.total_seconds())

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        """How the fitted monitor decides at windows of ``rows`` rows (the set-up plan).

        Kinds override this; the default says the monitor's own rule decides."""
        del rows
        return ThresholdPlan(how=f"Decided by the {self.kind} rule described on the left.")

    def false_alerts_per_month(self, rows: int) -> float | None:
        """The false alerts expected in 30 days at windows of ``rows`` rows: that of
        :meth:`threshold_plan`. Kinds whose rate is known without computing the threshold
        (a resampled null) override this, so a plan that only sums the rates stays quick."""
        return self.threshold_plan(rows).false_alerts_per_month

    # -- helpers for kinds -------------------------------------------------------------------
    def gate(
        self, data: WindowData, n: int, *, what: str = "events", value: float | None = None
    ) -> Result | None:
        """The ``no_data`` / ``insufficient_data`` result a window of ``n`` rows gets, or None
        when there is enough to judge."""
        if n == 0:
            return self.result(data, Status.NO_DATA, reason=f"No {what} in this window.")
        if n < self.min_rows:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                value=value,
                n=n,
                reason=f"{n} {what}; at least {self.min_rows} are needed.",
            )
        return None

    def result(self, data: WindowData, status: Status, **kw: Any) -> Result:
        return Result(
            monitor=self.id,
            kind=self.kind,
            window_start=data.window.start,
            window_end=data.window.end,
            status=status,
            column=getattr(self, "column", None),
            segment=data.segment_label,
            **kw,
        )


MONITORS: Registry[type[Monitor]] = Registry("monitor")


def window_hours(td: timedelta) -> float:
    return td / timedelta(hours=1)
