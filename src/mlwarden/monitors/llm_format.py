"""Format validity: how many responses asked to be JSON are not valid JSON?"""

from __future__ import annotations

from typing import ClassVar

from mlwarden.monitors.base import MONITORS, Objective, Severity
from mlwarden.monitors.llm_rates import SpanRate

__all__ = ["LlmFormat"]


@MONITORS.register
class LlmFormat(SpanRate):
    """Share of responses that were asked to be JSON (``gen_ai.output.type = json``, an
    OpenAI ``response_format``) and are not valid JSON, against the recent past: binomial
    tail at the calibrated alpha and a 2-point minimum effect, or a stated ``max_rate``.

    Examples
    --------
    >>> LlmFormat().id
    'llm_format'
    """

    kind: ClassVar[str] = "llm_format"
    objective: ClassVar[Objective] = Objective.PERFORMANCE
    family: ClassVar[str] = "llm_format"
    tab: ClassVar[str] = "llm"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.MEDIUM
    numerator: ClassVar[str] = "json_invalid"
    denominator: ClassVar[str] = "json_checked"
    noun: ClassVar[str] = "responses that are not valid JSON"
    of: ClassVar[str] = "responses asked to be JSON"

    def __init__(
        self, *, max_rate: float | None = None, min_effect: float = 0.02, history: int = 24
    ) -> None:
        self.max_rate = max_rate
        self.min_effect = min_effect
        self.history = history
