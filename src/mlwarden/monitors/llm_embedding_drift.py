"""Embedding drift: are an LLM app's prompts (or responses) about other things than before?

Texts are embedded with all-MiniLM-L6-v2 (:mod:`mlwarden.stats.text_embedding`, offline, the
optional ``embeddings`` extra); a bounded sample of each window is compared with a sample of
the reference's texts by the stats core's multivariate methods: a domain classifier
(cross-validated AUC of telling window from reference, against its null band at the
calibrated alpha) or PCA reconstruction error. The details name the window's texts least
like any reference text (personal data masked), which is what a person wants to read first.
"""

from __future__ import annotations

import base64
import re
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa

from mlwarden.errors import ConfigError, MlwardenError, expected
from mlwarden.monitors.base import (
    MONITORS,
    Monitor,
    Objective,
    Result,
    Severity,
    Status,
    ThresholdPlan,
)
from mlwarden.monitors.context import Calibration, FitContext, WindowData
from mlwarden.stats.multivariate import domain_classifier_drift, reconstruction_drift
from mlwarden.stats.text_embedding import DIM, embedding_support, load_minilm
from mlwarden.stats.thresholds import per_window_alpha
from mlwarden.store.aggregates import Request
from mlwarden.store.span_aggregates import SpanTexts

__all__ = ["LlmEmbeddingDrift", "last_user_turn", "masked_preview"]

FIELDS = ("prompt", "response")
METHODS = ("classifier", "reconstruction")
PREVIEW = 100


def masked_preview(text: str, limit: int = PREVIEW) -> str:
    """The start of a text with the personal data the PII check finds masked.

    Examples
    --------
    >>> masked_preview("write to ann@example.org today")
    'write to *************** today'
    """
    # the PII patterns, imported when a preview is made: a tabular model's set-up imports
    # this module (text drift) but not the LLM checks' pattern tables
    from mlwarden.stats.llm_checks import find_pii

    out = list(text[: limit + 40])
    for f in find_pii(text[: limit + 40]).findings:
        for i in range(f.start, min(f.end, len(out))):
            out[i] = "*"
    s = "".join(out)[:limit]
    return s + ("…" if len(text) > limit else "")


_ROLE = re.compile(r"^(system|user|assistant|tool|developer|function): ", re.MULTILINE)


def last_user_turn(prompt: str) -> str:
    r"""What the user asked last, from a stored prompt (``role: text`` lines); a text without
    role prefixes is returned as it is. The system prompt is the same for every call, so it
    would only blur what changed.

    Examples
    --------
    >>> last_user_turn("system: Be brief.\nuser: Hi\nassistant: Hello\nuser: Fees?\nabroad")
    'Fees?\nabroad'
    >>> last_user_turn("What are the fees?")
    'What are the fees?'
    """
    turns = list(_ROLE.finditer(prompt))
    users = [i for i, m in enumerate(turns) if m.group(1) == "user"]
    if not users:
        return prompt
    i = users[-1]
    end = turns[i + 1].start() if i + 1 < len(turns) else len(prompt)
    return prompt[turns[i].end() : end].rstrip("\n")


def _pack(m: np.ndarray[Any, Any]) -> str:
    return base64.b64encode(np.asarray(m, dtype="<f2").tobytes()).decode()


def _unpack(s: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.frombuffer(base64.b64decode(s), dtype="<f2").astype(np.float64).reshape(-1, DIM)


@MONITORS.register
class LlmEmbeddingDrift(Monitor):
    """Drift of the meaning of an LLM app's prompts (or responses): up to ``sample`` texts per
    window, embedded with all-MiniLM-L6-v2, against ``reference_rows`` texts of the reference's
    ``field`` column, by a domain classifier (``method="classifier"``) or PCA reconstruction
    error, at the calibrated alpha. Needs the ``embeddings`` extra; without it each window is
    ``insufficient_data`` with the install command as the reason.

    Examples
    --------
    >>> LlmEmbeddingDrift("response").id
    'llm_embedding_drift:response'
    """

    kind: ClassVar[str] = "llm_embedding_drift"
    objective: ClassVar[Objective] = Objective.DATA
    family: ClassVar[str] = "llm_embedding_drift"
    tab: ClassVar[str] = "llm"
    batch: ClassVar[bool] = False
    severity: ClassVar[Severity] = Severity.MEDIUM
    source: ClassVar[str] = "spans"
    min_rows: ClassVar[int] = 50

    def __init__(
        self,
        field: str = "prompt",
        *,
        method: str = "classifier",
        sample: int = 200,
        reference_rows: int = 500,
    ) -> None:
        self.field = field
        self.method = method
        self.sample = sample
        self.reference_rows = reference_rows

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.field}"

    def fit(self, ctx: FitContext) -> Self:
        if self.field not in FIELDS:
            raise ConfigError(expected("parameter", "field", "be prompt or response", self.field))
        self._fit_texts(ctx)
        return self

    def _fit_texts(self, ctx: FitContext) -> None:
        """Validate the parameters, then embed a sample of the reference's texts."""
        if self.method not in METHODS:
            raise ConfigError(
                expected("parameter", "method", f"be one of {', '.join(METHODS)}", self.method)
            )
        for name in ("sample", "reference_rows"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < self.min_rows:
                raise ConfigError(
                    expected("parameter", name, f"be an integer >= {self.min_rows}", v)
                )
        name = self.text_column
        col = ctx.column(name)
        texts = [] if col is None else [v for v in col.to_pylist() if isinstance(v, str) and v]
        if len(texts) < self.min_rows:
            raise ConfigError(
                f"Embedding drift of {name!r} needs at least {self.min_rows} texts in a "
                f"{name!r} column of the reference. Got {len(texts)} instead."
            )
        texts = self._texts(texts)
        if len(texts) > self.reference_rows:
            pick = np.random.default_rng(0).choice(len(texts), self.reference_rows, replace=False)
            texts = [texts[i] for i in sorted(pick)]
        self.calibration_ = ctx.calibration.to_dict()
        self.unavailable_ = embedding_support()
        self.reference_ = None if self.unavailable_ else _pack(load_minilm().encode(texts))

    @property
    def text_column(self) -> str:
        """The column of texts, in the reference and in the window's rows."""
        return self.field

    def _texts(self, texts: list[str]) -> list[str]:
        return [last_user_turn(t) for t in texts] if self.field == "prompt" else texts

    def threshold_plan(self, rows: int) -> ThresholdPlan:
        cal = Calibration(**self.calibration_)
        return ThresholdPlan(
            how=f"A test of the window's sampled texts against {self.reference_rows:,} "
            "reference texts, significant at the monitor's share of the false-alarm budget.",
            false_alerts_per_month=cal.per_month(cal.alpha),
        )

    def requests(self) -> list[Request]:
        return [SpanTexts(self.field, self.sample)]

    def evaluate(self, data: WindowData) -> Result:
        table: pa.Table | None = data.get(self.requests()[0])
        n = 0 if table is None else table.num_rows
        if self.unavailable_ or self.reference_ is None:
            return self.result(
                data,
                Status.INSUFFICIENT_DATA,
                n=n,
                reason=f"{self.unavailable_} Then re-apply the monitors (the reference is "
                "embedded when they are fitted).",
            )
        early = self.gate(data, n, what=f"{self.text_column} texts")
        if early is not None:
            return early
        assert table is not None
        texts = self._texts(
            [t for t in table.column(self.text_column).to_pylist() if isinstance(t, str) and t]
        )
        early = self.gate(data, len(texts), what=f"{self.text_column} texts")
        if early is not None:
            return early
        try:
            # on the reference's float16 grid: the same text must give the same vector on both
            # sides, or a classifier tells them apart by rounding alone
            cur = _unpack(_pack(load_minilm().encode(texts)))
        except MlwardenError as exc:  # the extra was removed since the monitors were fitted
            return self.result(data, Status.INSUFFICIENT_DATA, n=n, reason=str(exc))
        ref = _unpack(self.reference_)
        cal = Calibration(**self.calibration_)
        alpha = per_window_alpha(cal.parsed_budget, window=cal.cadence, monitors=cal.monitors)
        details: dict[str, Any] = {"reference_texts": int(ref.shape[0])}
        if self.method == "classifier":
            c = domain_classifier_drift(
                ref, cur, model="logistic", alpha=alpha, importance_repeats=0
            )
            value, threshold, drifted = c.auc, c.threshold, c.drifted
            details["p_value"] = c.p_value
            what = f"domain classifier AUC {value:.3f} (threshold {threshold:.3f})"
        else:
            r = reconstruction_drift(ref, cur, alpha=alpha)
            value, threshold, drifted = r.current_error, r.upper, r.drifted
            details |= {"p_value": r.p_value, "reference_error": r.reference_error}
            what = f"reconstruction error {value:.4g} (band up to {threshold:.4g})"
        # the window's texts least like any reference text (cosine of unit vectors)
        nearest = (cur @ ref.T).max(axis=1)
        order = np.argsort(nearest, kind="stable")[:3]
        details["novel"] = {masked_preview(texts[i]): round(float(nearest[i]), 3) for i in order}
        details["mean_nearest_similarity"] = float(nearest.mean())
        return self.result(
            data,
            Status.ALERT if drifted else Status.OK,
            value=float(value),
            threshold=float(threshold),
            n=n,
            details=details,
            reason=f"{self.text_column}: {what}; mean similarity to the nearest reference text "
            f"{nearest.mean():.2f}",
        )
