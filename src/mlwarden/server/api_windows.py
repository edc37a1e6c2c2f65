"""Request and reply bodies of the window routes: two windows compared, a window as reference."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from mlwarden.analysis.window_compare import (
    ColumnComparison,
    ColumnSide,
    WindowComparison,
    WindowSide,
)
from mlwarden.monitors.window_reference import MAX_ROWS, MIN_ROWS, WindowReference
from mlwarden.server.api_models import ReferenceOut, UTCDateTime
from mlwarden.server.params import parse_instant

__all__ = ["ColumnOut", "CompareOut", "FromWindowIn", "FromWindowOut", "SideOut", "WindowOut"]

#: An ISO 8601 date or time within the accepted range (naive means UTC).
Instant = Annotated[
    datetime,
    BeforeValidator(parse_instant),
    Field(description="ISO 8601 date or time (UTC unless it says otherwise)."),
]


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


class SideOut(BaseModel):
    """One column in one window."""

    n: int = Field(description="Values compared (non-missing).")
    missing: int
    mean: float | None = None
    quantiles: dict[str, float] = Field(default_factory=dict, description="Numeric: p05 .. p95.")
    shares: dict[str, float] = Field(
        default_factory=dict, description="Categories: shares of the most frequent categories."
    )

    @classmethod
    def of(cls, s: ColumnSide) -> SideOut:
        return cls(
            n=s.n,
            missing=s.missing,
            mean=_finite(s.mean),
            quantiles={k: v for k, v in s.quantiles.items() if math.isfinite(v)},
            shares=s.shares,
        )


class ColumnOut(BaseModel):
    column: str
    kind: str = Field(description="numeric or categorical (booleans compare as categories).")
    statistic: str = Field(description="ks (numeric) or jensen_shannon (categorical).")
    value: float | None = Field(description="The statistic of window B against window A.")
    p_value: float | None = Field(
        description="Test p-value: KS two-sample (numeric), Pearson chi-square (categorical)."
    )
    statistics: dict[str, float] = Field(description="Every drift statistic of the column.")
    a: SideOut
    b: SideOut
    note: str = ""

    @classmethod
    def of(cls, c: ColumnComparison) -> ColumnOut:
        return cls(
            column=c.column,
            kind=c.kind,
            statistic=c.statistic,
            value=_finite(c.value),
            p_value=_finite(c.p_value),
            statistics={k: v for k, v in c.statistics.items() if math.isfinite(v)},
            a=SideOut.of(c.a),
            b=SideOut.of(c.b),
            note=c.note,
        )


class WindowOut(BaseModel):
    start: UTCDateTime
    end: UTCDateTime
    events: int = Field(description="Events in the window (all of them).")
    rows: int = Field(description="Rows whose values were compared.")
    sampled: bool = Field(description="Whether the values come from a sample of the window.")
    labelled: int
    performance: dict[str, float] = Field(
        description="Over every labelled event: accuracy (precision, recall, f1 for a binary "
        "model) or mae, rmse, r2."
    )

    @classmethod
    def of(cls, w: WindowSide) -> WindowOut:
        return cls(
            start=w.start,
            end=w.end,
            events=w.events,
            rows=w.rows,
            sampled=w.sampled,
            labelled=w.labelled,
            performance={k: v for k, v in w.performance.items() if math.isfinite(v)},
        )


class CompareOut(BaseModel):
    model: str
    segment: dict[str, str] | None
    a: WindowOut
    b: WindowOut
    columns: list[ColumnOut] = Field(description="Largest effect first.")
    notes: list[str]

    @classmethod
    def of(cls, c: WindowComparison) -> CompareOut:
        return cls(
            model=c.model,
            segment=c.segment,
            a=WindowOut.of(c.a),
            b=WindowOut.of(c.b),
            columns=[ColumnOut.of(x) for x in c.columns],
            notes=list(c.notes),
        )


class FromWindowIn(BaseModel):
    """The window whose events become the model's reference."""

    model_config = ConfigDict(extra="forbid")

    start: Instant
    end: Instant
    segment: dict[str, str] | None = Field(
        default=None,
        max_length=8,
        description="Only the events of this segment: {column: value}.",
    )
    name: str = Field(default="", max_length=200, description="The reference's name.")
    max_rows: int = Field(
        default=MAX_ROWS,
        ge=MIN_ROWS,
        le=MAX_ROWS,
        description="Rows kept at most (a reproducible sample of a larger window).",
    )


class FromWindowOut(BaseModel):
    reference: ReferenceOut
    events: int = Field(description="Events in the window.")
    rows: int = Field(description="Rows the reference holds.")
    sampled: bool
    labelled: int = Field(description="Rows with a label (the reference's target).")
    monitors: int | None = Field(description="Monitors fitted on it (none: not fitted).")
    notes: list[str]

    @classmethod
    def of(cls, r: WindowReference) -> FromWindowOut:
        return cls(
            reference=ReferenceOut.of(r.reference),
            events=r.events,
            rows=r.rows,
            sampled=r.sampled,
            labelled=r.labelled,
            monitors=r.monitors,
            notes=list(r.notes),
        )
