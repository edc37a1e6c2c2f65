"""Refusals: does an LLM app's model decline more requests than it used to?"""

from __future__ import annotations

from typing import ClassVar

from mlwarden.monitors.base import MONITORS, Objective, Severity
from mlwarden.monitors.context import FitContext
from mlwarden.monitors.llm_rates import SpanRate, reference_rate
from mlwarden.stats.llm_checks import detect_refusal

__all__ = ["LlmRefusal"]


@MONITORS.register
class LlmRefusal(SpanRate):
    """Share of responses that refuse ("I can't help with that"; partial refusals do not
    count), against the recent past or the reference: binomial tail at the calibrated alpha
    and a 2-point minimum effect, or a stated ``max_rate``. A rise follows a stricter model
    version, a changed system prompt or a new kind of request.

    Examples
    --------
    >>> LlmRefusal(max_rate=0.1).id
    'llm_refusal'
    """

    kind: ClassVar[str] = "llm_refusal"
    objective: ClassVar[Objective] = Objective.PERFORMANCE
    family: ClassVar[str] = "llm_refusal"
    tab: ClassVar[str] = "llm"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.MEDIUM
    numerator: ClassVar[str] = "refusal"
    denominator: ClassVar[str] = "with_response"
    noun: ClassVar[str] = "responses that refuse"
    of: ClassVar[str] = "responses"

    def __init__(
        self, *, max_rate: float | None = None, min_effect: float = 0.02, history: int = 24
    ) -> None:
        self.max_rate = max_rate
        self.min_effect = min_effect
        self.history = history

    def reference_counts(self, ctx: FitContext) -> list[int] | None:
        return reference_rate(ctx, "response", detect_refusal)
