"""Prompt injection and jailbreak attempts: has their share of an LLM app's prompts risen?"""

from __future__ import annotations

from typing import ClassVar

from mlwarden.monitors.base import MONITORS, Objective, Severity
from mlwarden.monitors.context import FitContext
from mlwarden.monitors.llm_rates import SpanRate, reference_rate
from mlwarden.stats.llm_checks import find_injection

__all__ = ["LlmInjection"]


@MONITORS.register
class LlmInjection(SpanRate):
    """Share of prompts flagged as injection or jailbreak attempts (user, system and tool
    messages, the ingest heuristics), against the recent past or the reference: binomial tail
    at the calibrated alpha and a half-point minimum effect, or a stated ``max_rate`` (judged
    from the first window: a one-sided binomial test of the window's count against it).

    Examples
    --------
    >>> LlmInjection().id
    'llm_injection'
    """

    kind: ClassVar[str] = "llm_injection"
    objective: ClassVar[Objective] = Objective.SECURITY
    family: ClassVar[str] = "llm_injection"
    tab: ClassVar[str] = "llm"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.HIGH
    numerator: ClassVar[str] = "injection"
    denominator: ClassVar[str] = "with_prompt"
    noun: ClassVar[str] = "prompts flagged as injection or jailbreak"
    of: ClassVar[str] = "prompts"

    def __init__(
        self, *, max_rate: float | None = None, min_effect: float = 0.005, history: int = 24
    ) -> None:
        self.max_rate = max_rate
        self.min_effect = min_effect
        self.history = history

    def reference_counts(self, ctx: FitContext) -> list[int] | None:
        return reference_rate(ctx, "prompt", find_injection)
