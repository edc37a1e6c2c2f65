"""Failed LLM calls (errors and timeouts): has their share risen?"""

from __future__ import annotations

from typing import Any, ClassVar

from mlwarden.monitors.base import MONITORS, Objective, Severity
from mlwarden.monitors.llm_rates import SpanRate

__all__ = ["LlmErrors"]


@MONITORS.register
class LlmErrors(SpanRate):
    """Share of LLM calls with an error status (timeouts among them: an error whose message or
    exception names a timeout), against the recent past: binomial tail at the calibrated
    alpha and a 1-point minimum effect, or a stated ``max_rate``.

    Examples
    --------
    >>> LlmErrors(max_rate=0.02).id
    'llm_errors'
    """

    kind: ClassVar[str] = "llm_errors"
    objective: ClassVar[Objective] = Objective.RELIABILITY
    family: ClassVar[str] = "llm_errors"
    tab: ClassVar[str] = "llm"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.HIGH
    numerator: ClassVar[str] = "errors"
    denominator: ClassVar[str] = "llm"
    noun: ClassVar[str] = "LLM calls failed"
    of: ClassVar[str] = "LLM calls"

    def __init__(
        self, *, max_rate: float | None = None, min_effect: float = 0.01, history: int = 24
    ) -> None:
        self.max_rate = max_rate
        self.min_effect = min_effect
        self.history = history

    def extra(self, current: dict[str, Any]) -> dict[str, Any]:
        errors = int(current.get("errors", 0))
        timeouts = int(current.get("timeouts", 0))
        return {"timeouts": timeouts, "other_errors": errors - timeouts}
