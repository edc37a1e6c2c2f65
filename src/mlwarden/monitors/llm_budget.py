"""Budgets: a stated limit of cost or tokens per model, user or session, per period."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar, Self

from mlwarden.errors import ConfigError, expected
from mlwarden.monitors.base import (
    MONITORS,
    Monitor,
    Objective,
    Result,
    Severity,
    Status,
    ThresholdPlan,
)
from mlwarden.monitors.context import FitContext, WindowData
from mlwarden.monitors.llm_cost import spend_text
from mlwarden.monitors.suite import parse_cadence
from mlwarden.store.aggregates import Request
from mlwarden.store.span_aggregates import SPAN_BY, SPAN_METRICS, SpanSpend

__all__ = ["LlmBudget"]

TOP = 5


@MONITORS.register
class LlmBudget(Monitor):
    """Spend against a stated budget: ``limit`` USD (``metric="cost"``) or tokens
    (``metric="tokens"``) per ``per`` (``1d``, ``1h``, ``1w``...) for each ``by`` (``model``,
    ``user``, ``session``, or ``None``: the app as a whole). "$50/day per model" is
    ``LlmBudget(50, per="1d", by="model")``; "100k tokens/day per user" is
    ``LlmBudget(100_000, metric="tokens", per="1d", by="user")``.

    Each window is judged on the ``per`` period that ends with it (the engine sums the
    windows of that period by group); a period shorter than the window scales the budget up to
    the window. Alerts when any group is over, warns above 80% of the budget; the worst
    offenders are in the details.

    Examples
    --------
    >>> LlmBudget(50, per="1d", by="model").id
    'llm_budget:cost_per_model'
    """

    kind: ClassVar[str] = "llm_budget"
    objective: ClassVar[Objective] = Objective.COST
    family: ClassVar[str] = "cost"
    tab: ClassVar[str] = "llm"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.HIGH
    source: ClassVar[str] = "spans"
    min_rows: ClassVar[int] = 1

    def __init__(
        self,
        limit: float,
        *,
        metric: str = "cost",
        per: str = "1d",
        by: str | None = "model",
    ) -> None:
        self.limit = limit
        self.metric = metric
        self.per = per
        self.by = by

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.metric}_per_{self.by or 'app'}"

    def fit(self, ctx: FitContext) -> Self:
        if (
            isinstance(self.limit, bool)
            or not isinstance(self.limit, int | float)
            or not self.limit > 0
        ):
            raise ConfigError(expected("parameter", "limit", "be a number > 0", self.limit))
        if self.metric not in SPAN_METRICS:
            raise ConfigError(
                expected("parameter", "metric", f"be one of {', '.join(SPAN_METRICS)}", self.metric)
            )
        if self.by is not None and self.by not in SPAN_BY:
            raise ConfigError(
                expected("parameter", "by", f"be one of {', '.join(SPAN_BY)} or null", self.by)
            )
        per = parse_cadence(self.per)
        cadence = ctx.calibration.cadence
        if per >= cadence:
            windows = per / cadence
            if abs(windows - round(windows)) > 1e-9:
                raise ConfigError(
                    expected(
                        "parameter",
                        "per",
                        f"be a multiple of the monitors' cadence ({_text(cadence)})",
                        self.per,
                    )
                )
            self.windows_, self.window_limit_ = int(round(windows)), float(self.limit)
        else:
            self.windows_, self.window_limit_ = 1, float(self.limit) * (cadence / per)
        return self

    def _request(self) -> SpanSpend:
        return SpanSpend(self.metric, self.by, self.windows_, self.window_limit_, TOP)

    def requests(self) -> list[Request]:
        return [self._request()]

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        unit = "USD" if self.metric == "cost" else "tokens"
        who = f" per {self.by}" if self.by else ""
        return ThresholdPlan(
            how=f"The stated budget: alerts when {self.limit:g} {unit} per {self.per}{who} is "
            "spent, warns at 80% of it.",
            threshold=float(self.limit),
            warn=0.8 * float(self.limit),
            false_alerts_per_month=0.0,
        )

    def evaluate(self, data: WindowData) -> Result:
        s: dict[str, Any] = data.get(self._request()) or {}
        calls = int(s.get("calls", 0))
        if not calls:
            return self.result(
                data, Status.NO_DATA, reason=f"No {self.metric} spent in the last {self.per}."
            )
        top = s.get("top") or []
        worst: dict[str, Any] = top[0] if top else {"group": "all", "value": 0.0}
        value, limit = float(worst["value"]), self.window_limit_
        over, groups = int(s.get("over", 0)), int(s.get("groups", 0))
        status = Status.ALERT if over else Status.WARN if value > 0.8 * limit else Status.OK
        whose = f"{self.by} {worst['group']!r}" if self.by else "the app"
        period = self.per if self.windows_ > 1 or self.window_limit_ == self.limit else "window"
        budget = f"{spend_text(self.metric, float(self.limit))}/{self.per}" + (
            f" per {self.by}" if self.by else ""
        )
        more = f"; {over} of {groups} {self.by}s over" if self.by and over else ""
        return self.result(
            data,
            status,
            value=value,
            threshold=limit,
            warn=0.8 * limit,
            n=calls,
            details={
                "over": over,
                "groups": groups,
                "total": float(s.get("total", 0.0)),
                "top": top,
                "budget": budget,
            },
            reason=(
                f"{whose} spent {spend_text(self.metric, value)} in the last {period} "
                f"(budget {budget}){more}"
            ),
        )


def _text(td: timedelta) -> str:
    secs = int(td.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"
