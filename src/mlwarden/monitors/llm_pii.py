"""Personal data in an LLM app's prompts or responses: has its share risen?"""

from __future__ import annotations

from typing import ClassVar, Self

from mlwarden.errors import ConfigError, expected
from mlwarden.monitors.base import MONITORS, Objective, Severity
from mlwarden.monitors.context import FitContext
from mlwarden.monitors.llm_rates import SpanRate, reference_rate
from mlwarden.stats.llm_checks import find_pii

__all__ = ["LlmPii"]

FIELDS = ("prompt", "response")


@MONITORS.register
class LlmPii(SpanRate):
    """Share of LLM calls whose prompt (or response) holds personal data or secrets (e-mails,
    phone numbers, cards, IBANs, national ids, API keys: the ingest checks), against the
    recent past or the reference: binomial tail at the calibrated alpha and a 1-point minimum
    effect, or a stated ``max_rate``.

    Examples
    --------
    >>> LlmPii("response").id
    'llm_pii:response'
    """

    kind: ClassVar[str] = "llm_pii"
    objective: ClassVar[Objective] = Objective.SECURITY
    family: ClassVar[str] = "llm_pii"
    tab: ClassVar[str] = "llm"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.HIGH

    def __init__(
        self,
        field: str = "prompt",
        *,
        max_rate: float | None = None,
        min_effect: float = 0.01,
        history: int = 24,
    ) -> None:
        self.field = field
        self.max_rate = max_rate
        self.min_effect = min_effect
        self.history = history

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.field}"

    def keys(self) -> tuple[str, str]:
        return f"pii_in_{self.field}", f"with_{self.field}"

    def words(self) -> tuple[str, str]:
        return f"{self.field}s with personal data", f"{self.field}s"

    def fit(self, ctx: FitContext) -> Self:
        if self.field not in FIELDS:
            raise ConfigError(expected("parameter", "field", "be prompt or response", self.field))
        return super().fit(ctx)

    def reference_counts(self, ctx: FitContext) -> list[int] | None:
        return reference_rate(ctx, self.field, find_pii)
