"""Text drift: are a model's text inputs (a ticket's description, a review) about other things
than the reference's?

The same method as the LLM apps' embedding drift (:mod:`.llm_embedding_drift`), on a text
feature of the model's events: a bounded sample of each window (the rows the multivariate
monitor's reproducible pick chooses), embedded with all-MiniLM-L6-v2 offline, against a sample
of the reference's texts, by a domain classifier or PCA reconstruction error at the calibrated
alpha. The details name the window's texts least like any reference text, personal data
masked. Needs the optional ``embeddings`` extra; without it each window says what to install.
"""

from __future__ import annotations

from typing import ClassVar, Self

from mlwarden.errors import ConfigError
from mlwarden.monitors.base import MONITORS, Objective, Severity
from mlwarden.monitors.context import FitContext
from mlwarden.monitors.llm_embedding_drift import LlmEmbeddingDrift
from mlwarden.schema.spec import FeatureKind
from mlwarden.store.aggregates import Request, Sample

__all__ = ["TextDrift"]


@MONITORS.register
class TextDrift(LlmEmbeddingDrift):
    """Drift of the meaning of a text feature, from sentence embeddings of each window's texts.

    Up to ``sample`` texts per window against ``reference_rows`` texts of the reference (see
    :class:`LlmEmbeddingDrift`). Evaluated for
    the whole model only: embedding every segment value's texts each window costs more than
    what a segment's sample of a few dozen texts could tell.

    Examples
    --------
    >>> TextDrift("description").id
    'text_drift:description'
    """

    kind: ClassVar[str] = "text_drift"
    objective: ClassVar[Objective] = Objective.DATA
    family: ClassVar[str] = "drift"
    tab: ClassVar[str] = "drift"
    batch: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.MEDIUM
    source: ClassVar[str] = "events"

    def __init__(
        self,
        column: str,
        *,
        method: str = "classifier",
        sample: int = 200,
        reference_rows: int = 500,
    ) -> None:
        self.column = column
        self.method = method
        self.sample = sample
        self.reference_rows = reference_rows

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.column}"

    @property
    def text_column(self) -> str:
        return self.column

    @property
    def per_segment(self) -> bool:
        return False

    def fit(self, ctx: FitContext) -> Self:
        feature = next((f for f in ctx.spec.features if f.name == self.column), None)
        if feature is None or feature.kind is not FeatureKind.TEXT:
            kind = "not a feature" if feature is None else f"a {feature.kind.value} feature"
            raise ConfigError(
                f"Text drift needs a text feature; {self.column!r} is {kind} of {ctx.spec.name!r}."
            )
        self._fit_texts(ctx)
        return self

    def _texts(self, texts: list[str]) -> list[str]:
        return texts

    def requests(self) -> list[Request]:
        return [Sample((self.column,), self.sample)]
