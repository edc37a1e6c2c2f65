"""A model's monitors as one readable, versionable spec (YAML), and their automatic set-up.

``auto_setup`` turns a model spec plus its reference into a complete, quiet monitor set:
drift, data quality, performance (with and without labels), operations and fairness, every
threshold calibrated to the false-alarm budget. The YAML holds only what a person edits
(kinds and parameters); what is learned from the reference is re-fitted when the spec is
applied, so the file stays short and diffable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from mlwarden.errors import ConfigError, MlwardenError
from mlwarden.monitors.base import MONITORS, Monitor
from mlwarden.monitors.context import Calibration, FitContext
from mlwarden.monitors.objectives import ObjectiveSpec, default_objectives
from mlwarden.monitors.segments import (
    MAX_SEGMENT_VALUES,
    MIN_COARSE_REFERENCE,
    SegmentPlan,
    plan_segment,
)
from mlwarden.schema.limits import without_huge_rows
from mlwarden.schema.spec import FeatureKind, ModelSpec, Task
from mlwarden.stats.thresholds import DEFAULT_BUDGET, FalseAlarmBudget

__all__ = [
    "MAX_SEGMENT_VALUES",
    "MonitorSuite",
    "Skipped",
    "auto_monitors",
    "parse_cadence",
    "slow_windows",
]

CADENCE_RE = re.compile(r"^(\d+)\s*(m|min|h|d|w)$")
UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_cadence(text: str) -> timedelta:
    """'15m', '1h', '6h', '1d', '1w' to a duration.

    Examples
    --------
    >>> parse_cadence("6h")
    datetime.timedelta(seconds=21600)
    """
    m = CADENCE_RE.match(str(text).strip().lower())
    if not m or int(m[1]) <= 0:
        raise ConfigError(
            f"The 'cadence' must look like '1h', '6h', '1d' or '1w'. Got {text!r} instead."
        )
    return timedelta(seconds=int(m[1]) * UNITS[m[2]])


@dataclass(frozen=True)
class Skipped:
    monitor: str
    reason: str


@dataclass
class MonitorSuite:
    """The monitors of one model, their cadence and false-alarm budget."""

    model: str
    monitors: list[Monitor]
    cadence: str = "1h"
    budget: str = str(DEFAULT_BUDGET)
    segments: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: The monitors fitted on each segment's part of the reference ("region=north" -> monitors).
    segment_monitors: dict[str, list[Monitor]] = field(default_factory=dict)
    #: How each segment value seen in the reference is monitored, and why (see ``segments``).
    segment_plans: list[SegmentPlan] = field(default_factory=list)
    #: Business objectives traced to these monitors (``None``: one per monitored area).
    objectives: list[ObjectiveSpec] | None = None

    @property
    def objective_specs(self) -> list[ObjectiveSpec]:
        """The declared objectives, or the defaults (one per monitored area)."""
        if self.objectives is None:
            return default_objectives(self.monitors)
        return list(self.objectives)

    @property
    def calibration(self) -> Calibration:
        return Calibration(
            budget=self.budget,
            cadence_s=parse_cadence(self.cadence).total_seconds(),
            monitors=max(len(self.monitors), 1),
        )

    def fit(self, spec: ModelSpec, reference: pa.Table) -> MonitorSuite:
        """Fit every monitor on the reference; those that cannot be fitted are listed in
        ``skipped`` with the reason (and left out)."""
        FalseAlarmBudget.parse(self.budget)
        parse_cadence(self.cadence)
        reference, _ = without_huge_rows(reference)  # as events with them are rejected
        ctx = FitContext(spec, reference, self.calibration)
        ctx.prepare(self._numeric_columns(spec), self._categorical_columns(spec))
        kept: list[Monitor] = []
        skipped = list(self.skipped)
        for mon in self.monitors:
            try:
                kept.append(mon.fit(ctx))
            except MlwardenError as exc:
                skipped.append(Skipped(mon.id, str(exc)))
        self.monitors = kept
        self.skipped = skipped
        self.segment_monitors = self._fit_segments(spec, reference)
        return self

    def _numeric_columns(self, spec: ModelSpec) -> list[str]:
        """Numeric features some monitor watches (their baselines are built up front)."""
        watched = {getattr(m, "column", None) for m in self.monitors}
        return [
            f.name for f in spec.features if f.kind is FeatureKind.NUMERIC and f.name in watched
        ]

    def _categorical_columns(self, spec: ModelSpec) -> list[str]:
        """Categorical features some monitor watches (their category counts come up front)."""
        watched = {getattr(m, "column", None) for m in self.monitors}
        return [
            f.name for f in spec.features if f.kind is FeatureKind.CATEGORICAL and f.name in watched
        ]

    def _monitored_values(self, reference: pa.Table) -> int:
        """How many segment values will get monitors of their own (all columns)."""
        n = 0
        for col in self.segments:
            if col in reference.column_names:
                counts = pc.value_counts(reference.column(col).cast(pa.string())).to_pylist()
                top = sorted(
                    (int(v["counts"]) for v in counts if v["values"] is not None), reverse=True
                )
                n += sum(c >= MIN_COARSE_REFERENCE for c in top[:MAX_SEGMENT_VALUES])
        return n

    def _fit_segments(self, spec: ModelSpec, reference: pa.Table) -> dict[str, list[Monitor]]:
        """Monitors fitted on each segment's own reference rows: a region is judged against
        how that region looked in the reference, not against everyone (regions differ). A
        value with little reference is fitted at a coarser resolution, or not at all; each
        value's :class:`SegmentPlan` says which and why."""
        out: dict[str, list[Monitor]] = {}
        self.segment_plans = []
        # the segment values' monitors share one false-alarm budget between them (as the whole
        # model's monitors share one): a column of 10 values must not raise 10 times the alarms
        shared = replace(
            self.calibration,
            monitors=self.calibration.monitors * max(self._monitored_values(reference), 1),
        )
        for col in self.segments:
            if col not in reference.column_names:
                continue
            values = pc.value_counts(reference.column(col).cast(pa.string())).to_pylist()
            values = sorted(
                (v for v in values if v["values"] is not None),
                key=lambda v: (-v["counts"], v["values"]),
            )
            for item in values[:MAX_SEGMENT_VALUES]:
                seg = plan_segment(col, item["values"], int(item["counts"]))
                self.segment_plans.append(seg)
                if seg.resolution == "none":
                    continue
                mask = pc.equal(reference.column(col).cast(pa.string()), item["values"])
                ctx = FitContext(spec, reference.filter(mask), shared, bins=seg.bins)
                ctx.prepare(
                    self._numeric_columns(spec),
                    [c for c in self._categorical_columns(spec) if c != col],
                )
                fitted = []
                for mon in self.monitors:
                    if getattr(mon, "column", None) == col or not mon.per_segment:
                        continue  # constant within the segment, or not about traffic
                    try:
                        fitted.append(mon.clone().fit(ctx))
                    except MlwardenError:
                        continue  # too little of the segment in the reference for this one
                out[seg.label] = fitted
            if len(values) > MAX_SEGMENT_VALUES:
                rest = values[MAX_SEGMENT_VALUES:]
                self.segment_plans.append(
                    plan_segment(
                        col,
                        f"({len(rest)} more values)",
                        sum(int(v["counts"]) for v in rest),
                        rank=MAX_SEGMENT_VALUES,
                    )
                )
        return out

    # -- YAML ---------------------------------------------------------------------------------
    def to_dict(self, *, state: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "cadence": self.cadence,
            "false_alarm_budget": self.budget,
            "segments": list(self.segments),
            "objectives": [o.to_dict() for o in self.objective_specs],
            "monitors": [_compact(m.to_dict(state=state)) for m in self.monitors],
        }
        return out

    def to_yaml(self) -> str:
        header = (
            f"# mlwarden monitors of model {self.model!r}. Edit and re-apply:\n"
            f"#   mlwarden monitors apply {self.model} FILE (or PUT /v1/models/{self.model}/monitors)\n"
            "# Thresholds are calibrated from the reference unless a monitor sets 'threshold'.\n"
        )
        body: str = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)
        return header + body

    @classmethod
    def from_dict(cls, data: Any) -> MonitorSuite:
        if not isinstance(data, dict):
            raise ConfigError(
                f"A monitoring spec must be a mapping. Got {type(data).__name__} instead."
            )
        keys = ("model", "cadence", "false_alarm_budget", "segments", "objectives", "monitors")
        unknown = sorted(set(data) - set(keys))
        if unknown:
            raise ConfigError(
                f"The monitoring spec has an unknown key {unknown[0]!r}; keys are "
                f"{', '.join(keys)}."
            )
        if "model" not in data:
            raise ConfigError("The monitoring spec needs a 'model' key.")
        items = data.get("monitors") or []
        if not isinstance(items, list):
            raise ConfigError("The 'monitors' of a monitoring spec must be a list.")
        monitors = []
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "kind" not in item:
                raise ConfigError(
                    f"Monitor #{i + 1} must be a mapping with a 'kind' (one of "
                    f"{', '.join(MONITORS.keys())})."
                )
            try:
                monitors.append(Monitor.from_dict(item))
            except ConfigError as exc:
                raise ConfigError(f"Monitor #{i + 1}: {exc}") from exc
        suite = cls(
            model=str(data["model"]),
            monitors=monitors,
            cadence=str(data.get("cadence", "1h")),
            budget=str(data.get("false_alarm_budget", str(DEFAULT_BUDGET))),
            segments=list(data.get("segments") or []),
            objectives=_objectives(data.get("objectives")),
        )
        parse_cadence(suite.cadence)
        FalseAlarmBudget.parse(suite.budget)
        ids = [m.id for m in monitors]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ConfigError(f"Monitor ids must be unique; {dupes[0]!r} appears twice.")
        return suite

    @classmethod
    def from_yaml(cls, text: str) -> MonitorSuite:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"The monitoring spec is not valid YAML: {exc}") from exc
        return cls.from_dict(data)

    def state(self) -> dict[str, Any]:
        """Everything, learned state included (stored by the server, not meant for editing)."""
        return self.to_dict(state=True) | {
            "skipped": [s.__dict__ for s in self.skipped],
            "segment_plans": [p.to_dict() for p in self.segment_plans],
            "segment_monitors": {
                label: [_compact(m.to_dict(state=True)) for m in mons]
                for label, mons in self.segment_monitors.items()
            },
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> MonitorSuite:
        suite = cls.from_dict(
            {
                k: v
                for k, v in data.items()
                if k not in ("skipped", "segment_monitors", "segment_plans")
            }
        )
        suite.skipped = [Skipped(**s) for s in data.get("skipped", [])]
        suite.segment_plans = [SegmentPlan.from_dict(p) for p in data.get("segment_plans", [])]
        suite.segment_monitors = {
            label: [Monitor.from_dict(m) for m in mons]
            for label, mons in (data.get("segment_monitors") or {}).items()
        }
        return suite


def _objectives(items: Any) -> list[ObjectiveSpec] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise ConfigError(
            f"The 'objectives' of a monitoring spec must be a list. Got {type(items).__name__} "
            "instead."
        )
    out = [ObjectiveSpec.from_dict(o, where=f"objective #{i + 1}") for i, o in enumerate(items)]
    names = [o.name for o in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"Objective names must be unique; {dupes[0]!r} appears twice.")
    return out


def _compact(d: dict[str, Any]) -> dict[str, Any]:
    """Drop parameters left at None to keep the YAML short."""
    return {k: v for k, v in d.items() if v is not None and not (k == "state" and not v)}


def auto_monitors(
    spec: ModelSpec, *, resources: Sequence[str] = (), spans: bool = False
) -> list[Monitor]:
    """The default monitor set for a model spec (unfitted); ``resources``: the features of
    its ``<model>.resources`` companion so far (GPU columns among them get monitors);
    ``spans``: the model is an LLM app whose trace spans arrive (its LLM monitors are added)."""
    from mlwarden.monitors.duplicate_ids import DuplicateIds
    from mlwarden.monitors.error_rate import ErrorRate
    from mlwarden.monitors.estimated_performance import EstimatedPerformance
    from mlwarden.monitors.fairness import Fairness
    from mlwarden.monitors.feature_drift import FeatureDrift
    from mlwarden.monitors.latency import Latency
    from mlwarden.monitors.missing_values import MissingValues
    from mlwarden.monitors.multivariate_drift import MultivariateDrift
    from mlwarden.monitors.out_of_range import OutOfRange
    from mlwarden.monitors.performance import Performance
    from mlwarden.monitors.prediction_drift import PredictionDrift
    from mlwarden.monitors.probing import Probing
    from mlwarden.monitors.resources import resource_monitors
    from mlwarden.monitors.schema_violations import SchemaViolations
    from mlwarden.monitors.text_drift import TextDrift
    from mlwarden.monitors.unseen_categories import UnseenCategories
    from mlwarden.monitors.volume import TrafficVolume

    out: list[Monitor] = []
    for f in spec.features:
        if f.kind in (FeatureKind.NUMERIC, FeatureKind.CATEGORICAL, FeatureKind.BOOLEAN):
            out.append(FeatureDrift(f.name))
        out.append(MissingValues(f.name))
        if f.kind is FeatureKind.NUMERIC:
            out.append(OutOfRange(f.name))
        if f.kind is FeatureKind.CATEGORICAL:
            out.append(UnseenCategories(f.name))
        if f.kind is FeatureKind.TEXT and spec.task is not Task.LLM:  # LLM apps: on spans
            out.append(TextDrift(f.name))
    if sum(f.kind is FeatureKind.NUMERIC for f in spec.features) >= 2:
        out.append(MultivariateDrift())
    if spec.task is not Task.LLM:
        if spec.score:
            out.append(PredictionDrift("score"))
        out.append(PredictionDrift("prediction"))
    if spec.task is Task.BINARY:
        out += [Performance("accuracy"), Performance("f1")]
        if spec.score:
            out += [
                Performance("roc_auc"),
                EstimatedPerformance("accuracy"),
                EstimatedPerformance("roc_auc"),
            ]
        # selection-rate parity (the four-fifths rule) and error-rate parity (equalised odds:
        # the TPR and FPR gaps, ProPublica's COMPAS finding) per sensitive attribute
        out += [
            Fairness(col, metric=metric)
            for col in spec.sensitive
            for metric in ("disparate_impact", "equalized_odds")
        ]
    elif spec.task in (Task.MULTICLASS, Task.REGRESSION):
        # not judged (no single decision to compare): the plan lists them as skipped, saying why
        out += [Fairness(col) for col in spec.sensitive]
    if spec.task is Task.MULTICLASS:
        out += [Performance("accuracy"), Performance("f1")]
        if spec.scores:
            out += [EstimatedPerformance("accuracy"), EstimatedPerformance("f1")]
    elif spec.task is Task.REGRESSION:
        out += [Performance("mae"), Performance("rmse")]
        out += [EstimatedPerformance("mae"), EstimatedPerformance("rmse")]
    out += [
        TrafficVolume(),
        Latency(quantile=0.99),
        ErrorRate(),
        SchemaViolations(),
        DuplicateIds(),
        *resource_monitors(resources),
    ]
    if spec.task is not Task.LLM and any(f.kind is FeatureKind.NUMERIC for f in spec.features):
        out.append(Probing())
    if spans and spec.task is Task.LLM:
        out += llm_monitors(spec)
    return out


#: Windows auto set-up may give a slow monitor, shortest first.
SLOW_WINDOWS = ("1d", "7d", "14d", "30d")
#: A slow monitor's window is chosen to hold this many times its minimum rows on average.
SLOW_MARGIN = 2.0


def slow_windows(
    monitors: Sequence[Monitor], *, rows_per_day: float | None, cadence: str
) -> list[Monitor]:
    """``monitors`` with a window of their own for those that take one (labelled performance,
    fairness) when the cadence's windows would hold fewer than ``SLOW_MARGIN`` times their
    minimum rows: the shortest of :data:`SLOW_WINDOWS` that would (the longest otherwise).
    ``rows_per_day``: labelled events a day (or events, before labels arrive).

    Examples
    --------
    >>> from mlwarden.monitors.fairness import Fairness
    >>> [m.window for m in slow_windows([Fairness("sex")], rows_per_day=40 / 7, cadence="1w")]
    ['30d']
    >>> [m.window for m in slow_windows([Fairness("sex")], rows_per_day=500, cadence="1d")]
    [None]
    """
    if not rows_per_day:
        return list(monitors)
    step = parse_cadence(cadence)
    out: list[Monitor] = []
    for m in monitors:
        if "window" not in m.param_names() or m.window is not None:
            out.append(m)
            continue
        need = SLOW_MARGIN * m.min_rows
        if rows_per_day * (step / timedelta(days=1)) >= need:
            out.append(m)
            continue
        longer = [w for w in SLOW_WINDOWS if parse_cadence(w) > step]
        if not longer:
            out.append(m)
            continue
        fits = [w for w in longer if rows_per_day * parse_cadence(w) / timedelta(days=1) >= need]
        chosen = fits[0] if fits else longer[-1]
        out.append(type(m)(**{**m.get_params(), "window": chosen}))
    return out


def llm_monitors(spec: ModelSpec) -> list[Monitor]:
    """The LLM app monitors: safety and quality rates, failures, latency, spend per call, and
    embedding drift of the text columns the reference holds. Budgets need a stated limit, so
    they are added by hand (see docs/llm.md)."""
    from mlwarden.monitors.llm_cost import LlmCost
    from mlwarden.monitors.llm_embedding_drift import LlmEmbeddingDrift
    from mlwarden.monitors.llm_errors import LlmErrors
    from mlwarden.monitors.llm_format import LlmFormat
    from mlwarden.monitors.llm_injection import LlmInjection
    from mlwarden.monitors.llm_latency import LlmLatency
    from mlwarden.monitors.llm_pii import LlmPii
    from mlwarden.monitors.llm_refusal import LlmRefusal

    texts = [
        LlmEmbeddingDrift(f.name)
        for f in spec.features
        if f.name in ("prompt", "response") and f.kind is FeatureKind.TEXT
    ]
    return texts + [
        LlmPii("prompt"),
        LlmPii("response"),
        LlmInjection(),
        LlmRefusal(),
        LlmFormat(),
        LlmErrors(),
        LlmLatency(metric="latency", quantile=0.95),
        LlmLatency(metric="ttft", quantile=0.95),
        LlmCost("cost"),
        LlmCost("tokens", by="user"),
    ]
